/*
 * args.c: the small long-option parser every command uses.
 *
 * Conventions: options are "--name VALUE", "--name=VALUE" or "--name" (flags); each
 * may be given once; "--help"/"-h" anywhere asks for help and stops checking; "--"
 * makes every later word positional; a lone "-" is a positional word.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/dist.h"
#include "prefopt/error.h"

int pf_cli_usage_error(const char *cmd, const char *what)
{
    return pf_fail(PF_ERR_USAGE, "%s: %s (see prefopt-mpi %s --help)", cmd, what, cmd);
}

/* The option named by word ("--name" or "--name=..."), or NULL. */
static const pf_cli_opt *find_opt(const pf_cli_opt *opts, const char *word)
{
    const char *name = word + 2;
    size_t len = strcspn(name, "=");
    for (const pf_cli_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

/* Stores the value of option o found at argv[*i] (inline after '=' or the next word). */
static int take_value(const char *cmd, const pf_cli_opt *o, int argc, char **argv, int *i)
{
    char what[128];
    const char *eq = strchr(argv[*i], '=');
    if (!o->value) {
        snprintf(what, sizeof what, "--%s takes no value", o->name);
        return eq ? pf_cli_usage_error(cmd, what) : (*o->flag = 1, PF_OK);
    }
    if (*o->value) {
        snprintf(what, sizeof what, "--%s given twice", o->name);
        return pf_cli_usage_error(cmd, what);
    }
    if (!eq && *i + 1 >= argc) {
        snprintf(what, sizeof what, "--%s needs a value", o->name);
        return pf_cli_usage_error(cmd, what);
    }
    *o->value = eq ? eq + 1 : argv[++*i];
    return PF_OK;
}

/* Whether argv holds --help or -h before any "--". */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int pf_cli_parse(const char *cmd, int argc, char **argv, const pf_cli_opt *opts, int max_pos,
                 pf_cli_args *args)
{
    char what[256];
    int only_pos = 0;
    memset(args, 0, sizeof *args);
    if ((args->help = wants_help(argc, argv)))
        return PF_OK;
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        if (!only_pos && strcmp(w, "--") == 0) {
            only_pos = 1;
        } else if (!only_pos && w[0] == '-' && w[1] != '\0') {
            const pf_cli_opt *o = w[1] == '-' ? find_opt(opts, w) : NULL;
            if (!o) {
                snprintf(what, sizeof what, "%.*s: unknown option", 100, w);
                return pf_cli_usage_error(cmd, what);
            }
            int rc = take_value(cmd, o, argc, argv, &i);
            if (rc != PF_OK)
                return rc;
        } else {
            if (args->npos >= max_pos || args->npos >= 8) {
                snprintf(what, sizeof what, "unexpected argument '%.100s'", w);
                return pf_cli_usage_error(cmd, what);
            }
            args->pos[args->npos++] = w;
        }
    }
    return PF_OK;
}

int pf_cli_parse_seed(const char *cmd, const char *name, const char *text, uint64_t *seed)
{
    char what[256];
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v > (1ULL << 53)) {
        snprintf(what, sizeof what, "--%s: '%.60s' is not an integer in [0, 2^53]", name, text);
        return pf_cli_usage_error(cmd, what);
    }
    *seed = (uint64_t)v;
    return PF_OK;
}

int pf_cli_mpi_finish(int rc)
{
    const int rank = pf_dist_rank();
    if (rc && rank == 0)
        pf_error_report(rc);
    pf_dist_finalize();
    if (rc && rank != 0)
        exit(rc);
    return rc;
}
