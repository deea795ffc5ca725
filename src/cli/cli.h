/*
 * cli.h: declarations shared by main.c and the command files in src/cli/.
 *
 * Each command is one function taking (argc, argv) with argv[0] the command name; it
 * returns a pf status that main() turns into the exit code (0 ok, 1 runtime, 2 usage /
 * config / checkpoint, 3 invalid data) and reports once on stderr: PF_ERR_DATA
 * messages are complete "FILE:LINE: error: <rule>: <detail>" lines printed as they
 * are; every other message is printed as "prefopt-mpi: error: <message>".
 * Commands print their --help text to stdout and return PF_OK.
 */
#ifndef PREFOPT_CLI_H
#define PREFOPT_CLI_H

#include <stdint.h>

/* One entry of the command table in main.c. */
typedef struct {
    const char *name;
    const char *summary; /* one line for prefopt-mpi --help */
    int (*run)(int argc, char **argv);
} pf_cli_command;

/* The end of an MPI command, on every rank: rank 0 prints the agreed error (before
 * MPI_Finalize, see error.h), MPI is finalised, other ranks exit with rc at once (rank 0
 * alone returns to main). Returns rc. */
int pf_cli_mpi_finish(int rc);

int pf_cmd_init(int argc, char **argv);
int pf_cmd_inspect(int argc, char **argv);
int pf_cmd_logprobs(int argc, char **argv);
int pf_cmd_metrics(int argc, char **argv);
int pf_cmd_train(int argc, char **argv);
int pf_cmd_eval(int argc, char **argv);
/* eval --generations mode (eval_style.c). */
int pf_eval_style(const char *generations, const char *checks, const char *checkpoint,
                  const char *out);
int pf_cmd_generate(int argc, char **argv);
int pf_cmd_validate(int argc, char **argv);
int pf_cmd_tokenize(int argc, char **argv);
int pf_cmd_train_tokenizer(int argc, char **argv);

/* A long option: "--name VALUE" / "--name=VALUE" (value != NULL) or "--name" (flag). */
typedef struct {
    const char *name;
    const char **value; /* receives the value; NULL for a flag */
    int *flag;          /* set to 1 when a flag is given */
} pf_cli_opt;

/* What pf_cli_parse collects besides the options. */
typedef struct {
    const char *pos[8]; /* positional arguments, in order */
    int npos;
    int help; /* --help or -h was given: the rest of the line was not checked */
} pf_cli_args;

/* Parses argv[1..argc-1] of command cmd against the NULL-name-terminated opts.
 * Accepts at most max_pos positionals; "--" ends the options. Errors (unknown or
 * repeated option, missing value, too many positionals) are PF_ERR_USAGE. */
int pf_cli_parse(const char *cmd, int argc, char **argv, const pf_cli_opt *opts, int max_pos,
                 pf_cli_args *args);

/* Records the usage error "<cmd>: <what> (see prefopt-mpi <cmd> --help)". */
int pf_cli_usage_error(const char *cmd, const char *what);

/* Parses a decimal seed in [0, 2^53] given as option name; PF_ERR_USAGE otherwise. */
int pf_cli_parse_seed(const char *cmd, const char *name, const char *text, uint64_t *seed);

#endif
