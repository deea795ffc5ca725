/*
 * main.c: the prefopt-mpi command-line entry point.
 *
 * A thin dispatcher over the library: it looks the command up in one table, runs
 * it, and reports a failure exactly once on stderr with the exit code equal to the
 * pf status (0 ok, 1 runtime, 2 usage/config/checkpoint, 3 invalid data). See
 * docs/cli.md for every command.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/error.h"

/* The command table: adding a command is adding a row (and its src/cli file). */
static const pf_cli_command COMMANDS[] = {
    {"init", "write a randomly initialised checkpoint from a config", pf_cmd_init},
    {"inspect", "describe a checkpoint or a run's newest checkpoint", pf_cmd_inspect},
    {"logprobs", "per-token log-probabilities of token id sequences", pf_cmd_logprobs},
    {"train", "train with SFT or DPO on every rank of the MPI job", pf_cmd_train},
    {"eval", "held-out pairwise win rate, margins and DPO loss of a checkpoint", pf_cmd_eval},
    {"generate", "sample completions for prompts with a KV cache", pf_cmd_generate},
    {"metrics", "print a run's metric table (metrics.h5) as text or CSV", pf_cmd_metrics},
    {"validate", "check JSONL training data (dpo, sft, prompts, trl)", pf_cmd_validate},
    {"tokenize", "encode text with a GPT-2 byte-level BPE tokenizer", pf_cmd_tokenize},
    {"train-tokenizer", "learn a byte-level BPE tokenizer from JSONL files",
     pf_cmd_train_tokenizer},
};
enum { COMMAND_COUNT = sizeof COMMANDS / sizeof COMMANDS[0] };

/* Prints the top-level help to fp. */
static void print_usage(FILE *fp)
{
    fprintf(fp, "usage: prefopt-mpi COMMAND [OPTIONS]\n"
                "       prefopt-mpi --help | --version\n\n"
                "Data-parallel DPO/PPO trainer for CPU clusters.\n\ncommands:\n");
    for (int i = 0; i < COMMAND_COUNT; i++)
        fprintf(fp, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(fp, "\nEvery command has --help. Exit codes: 0 ok, 1 runtime failure,\n"
                "2 usage, config or checkpoint error, 3 invalid data.\n");
}

/* The command called name, or NULL. */
static const pf_cli_command *find_command(const char *name)
{
    for (int i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

/* Dispatches argv[1] to its command; exit code = the command's pf status. */
int main(int argc, char **argv)
{
    /* Exceeding a file-size limit then fails the write (EFBIG, reported as an error)
     * instead of killing the process and leaving a stray tmp file. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        print_usage(stderr);
        return PF_ERR_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("prefopt-mpi %s\n", PREFOPT_VERSION);
        return 0;
    }
    const pf_cli_command *cmd = find_command(name);
    if (!cmd)
        return pf_error_report(
            pf_fail(PF_ERR_USAGE, "%s: unknown command (see prefopt-mpi --help)", name));
    return pf_error_report(cmd->run(argc - 1, argv + 1));
}
