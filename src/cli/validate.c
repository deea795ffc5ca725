/*
 * validate.c: `prefopt-mpi validate --format dpo|sft|prompts|trl FILE...`.
 *
 * Streams each file through pf_data_validate_file (the same checks training applies)
 * and prints one line per problem on stderr, "FILE:LINE: error: <rule>: <detail>" or
 * "... warning: ...", then one summary line: on stdout when every file is valid (exit
 * 0), otherwise on stderr (exit 3). --max-errors counts across all files. A file that
 * cannot be opened is a usage error (exit 2); a read failure exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/data.h"
#include "prefopt/error.h"

static const char VALIDATE_HELP[] =
    "usage: prefopt-mpi validate --format dpo|sft|prompts|trl [OPTIONS] FILE...\n"
    "\n"
    "Check JSONL training data against the format's rules (docs/formats.md) without\n"
    "loading it: constant memory, any file size. Problems are printed on stderr as\n"
    "FILE:LINE: error: <rule>: <detail> (warnings likewise), then a summary line.\n"
    "FILE may be - for standard input.\n"
    "\n"
    "  --format F          dpo, sft, prompts or trl (required)\n"
    "  --min-examples N    fewer examples in a file is an error (default 10; 0: off)\n"
    "  --max-errors N      stop after N errors over all files (default 50; 0: no limit)\n"
    "  --max-warnings N    print at most N warnings per file (default 50; 0: no limit)\n"
    "  --list-rules        print the rule table and exit\n"
    "  --help              show this help\n"
    "\n"
    "Exit codes: 0 valid (warnings allowed), 2 usage error or unreadable file,\n"
    "3 invalid data, 1 read failure.\n";

/* The files named on the command line. */
typedef struct {
    const char **v;
    int n;
} file_list;

/* Prints one problem on stderr. */
static void print_diag(const pf_data_diag *d, void *user)
{
    char line[1200];
    (void)user;
    fprintf(stderr, "%s\n", pf_data_diag_format(d, line, sizeof line));
}

/* Prints the rule table. */
static void list_rules(void)
{
    for (int i = 0; i < pf_data_rule_count(); i++)
        printf("%-22s %-8s %s\n", pf_data_rule_name(i),
               pf_data_rule_severity(i) == PF_DIAG_ERROR ? "error" : "warning",
               pf_data_rule_summary(i));
}

/* Parses a non-negative count given as option name. */
static int parse_count(const char *name, const char *text, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0) {
        char what[128];
        snprintf(what, sizeof what, "--%s: '%.40s' is not a non-negative integer", name, text);
        return pf_cli_usage_error("validate", what);
    }
    *out = v;
    return PF_OK;
}

/* Whether word is an option taking a value as the next word (no '=' given). */
static int takes_next(const pf_cli_opt *opts, const char *word)
{
    if (strncmp(word, "--", 2) != 0 || strchr(word, '='))
        return 0;
    for (const pf_cli_opt *o = opts; o->name; o++)
        if (strcmp(word + 2, o->name) == 0)
            return o->value != NULL;
    return 0;
}

/* Splits argv into option words (kept in opt_argv for pf_cli_parse) and files, since
 * FILE... may exceed pf_cli_parse's positional limit. */
static void split_args(int argc, char **argv, const pf_cli_opt *opts, char **opt_argv,
                       int *opt_argc, file_list *files)
{
    int only_files = 0;
    *opt_argc = 0;
    opt_argv[(*opt_argc)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        if (!only_files && strcmp(w, "--") == 0)
            only_files = 1;
        else if (only_files || w[0] != '-' || w[1] == '\0')
            files->v[files->n++] = w;
        else {
            opt_argv[(*opt_argc)++] = argv[i];
            if (takes_next(opts, w) && i + 1 < argc)
                opt_argv[(*opt_argc)++] = argv[++i];
        }
    }
}

/* Validates every file; fills the totals. Returns PF_OK, PF_ERR_DATA, or the first
 * usage/runtime failure. */
static int validate_all(const file_list *files, pf_data_format format, pf_data_options opt,
                        pf_data_summary *total)
{
    long max_errors = opt.max_errors;
    int rc = PF_OK;
    memset(total, 0, sizeof *total);
    for (int i = 0; i < files->n && !total->stopped; i++) {
        pf_data_summary s;
        opt.max_errors = max_errors ? max_errors - total->errors : 0;
        int frc = pf_data_validate_file(files->v[i], format, &opt, &s);
        total->examples += s.examples;
        total->errors += s.errors;
        total->warnings += s.warnings;
        total->stopped |= s.stopped;
        if (frc != PF_OK && frc != PF_ERR_DATA)
            return frc;
        if (frc == PF_ERR_DATA)
            rc = PF_ERR_DATA;
    }
    return rc;
}

/* Prints (valid) or records as the error (invalid) the summary line. */
static int summarize(int rc, int nfiles, const pf_data_summary *t)
{
    char line[256];
    snprintf(line, sizeof line, "validate: %d file%s, %ld example%s: %ld error%s, %ld warning%s%s",
             nfiles, nfiles == 1 ? "" : "s", t->examples, t->examples == 1 ? "" : "s", t->errors,
             t->errors == 1 ? "" : "s", t->warnings, t->warnings == 1 ? "" : "s",
             t->stopped ? " (stopped at --max-errors)" : "");
    if (rc == PF_OK) {
        printf("%s: valid\n", line);
        return PF_OK;
    }
    return pf_fail(PF_ERR_DATA, "%s: invalid", line);
}

/* Reads the options into opt/format; returns PF_OK, or a usage error. */
static int read_options(const char *fmt, const char *min_ex, const char *max_err,
                        const char *max_warn, pf_data_format *format, pf_data_options *opt)
{
    if (!fmt)
        return pf_cli_usage_error("validate", "--format is required");
    int rc = pf_data_format_parse(fmt, format);
    if (rc != PF_OK)
        return pf_fail_prefix(rc, "validate: --format");
    pf_data_options_init(opt);
    opt->report = print_diag;
    if (min_ex && (rc = parse_count("min-examples", min_ex, &opt->min_examples)) != PF_OK)
        return rc;
    if (max_err && (rc = parse_count("max-errors", max_err, &opt->max_errors)) != PF_OK)
        return rc;
    if (max_warn && (rc = parse_count("max-warnings", max_warn, &opt->max_warnings)) != PF_OK)
        return rc;
    return PF_OK;
}

int pf_cmd_validate(int argc, char **argv)
{
    const char *fmt = NULL, *min_ex = NULL, *max_err = NULL, *max_warn = NULL;
    int rules = 0;
    const pf_cli_opt opts[] = {{"format", &fmt, NULL},         {"min-examples", &min_ex, NULL},
                               {"max-errors", &max_err, NULL}, {"max-warnings", &max_warn, NULL},
                               {"list-rules", NULL, &rules},   {NULL, NULL, NULL}};
    char **opt_argv = calloc((size_t)argc + 1, sizeof *opt_argv);
    file_list files = {calloc((size_t)argc + 1, sizeof *files.v), 0};
    pf_cli_args args;
    pf_data_format format = PF_DATA_DPO;
    pf_data_options opt;
    pf_data_summary total;
    int opt_argc = 0, rc;
    if (!opt_argv || !files.v) {
        rc = pf_fail(PF_ERR_RUNTIME, "validate: out of memory");
        goto done;
    }
    split_args(argc, argv, opts, opt_argv, &opt_argc, &files);
    rc = pf_cli_parse("validate", opt_argc, opt_argv, opts, 0, &args);
    if (rc != PF_OK || args.help || rules) {
        if (rc == PF_OK)
            args.help ? (void)fputs(VALIDATE_HELP, stdout) : list_rules();
        goto done;
    }
    if ((rc = read_options(fmt, min_ex, max_err, max_warn, &format, &opt)) != PF_OK)
        goto done;
    if (files.n == 0) {
        rc = pf_cli_usage_error("validate", "no FILE given");
        goto done;
    }
    rc = validate_all(&files, format, opt, &total);
    if (rc == PF_OK || rc == PF_ERR_DATA)
        rc = summarize(rc, files.n, &total);
done:
    free(opt_argv);
    free(files.v);
    return rc;
}
