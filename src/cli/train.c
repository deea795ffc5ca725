/*
 * train.c: `prefopt-mpi train CONFIG.json [--set dotted.key=value]...
 * [--resume]`.
 *
 * Runs under mpirun / srun (or alone, as one rank). Every rank parses the same
 * command line and config; errors are agreed across ranks and printed once, by
 * rank 0 (other ranks exit with the same code without printing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/config.h"
#include "prefopt/dist.h"
#include "prefopt/error.h"
#include "prefopt/trainer.h"

enum { MAX_SETS = 64 };

static const char USAGE[] =
    "usage: prefopt-mpi train CONFIG.json [--set dotted.key=value]... "
    "[--resume]\n\n"
    "Trains with the algorithm the config names (sft, dpo, rm, ppo, grpo) on every rank of "
    "the MPI job\n"
    "(mpirun -n N prefopt-mpi train ...). Parameters are bit-identical for any "
    "world size\n"
    "that divides train.global_batch / train.micro_batch.\n\n"
    "  --set KEY=VALUE  override a config key (VALUE parsed as JSON, else a "
    "string)\n"
    "  --resume         continue from RUN_DIR's newest valid checkpoint; may "
    "extend\n"
    "                   train.steps / train.epochs and run on another world "
    "size\n"
    "Writes RUN_DIR/config.json, RUN_DIR/metrics.h5, "
    "RUN_DIR/checkpoints/step-N.h5.\n"
    "See docs/config.md for every key.\n";

/* Parses the command line into config path, overrides and the resume flag. */
static int parse_args(int argc, char **argv, const char **config, const char **sets, int *n_sets,
                      int *resume, int *help)
{
    *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            *help = 1;
        else if (strcmp(a, "--resume") == 0)
            *resume = 1;
        else if (strcmp(a, "--set") == 0 || strncmp(a, "--set=", 6) == 0) {
            const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v)
                return pf_cli_usage_error("train", "--set needs KEY=VALUE");
            if (*n_sets == MAX_SETS)
                return pf_cli_usage_error("train", "too many --set options");
            sets[(*n_sets)++] = v;
        } else if (a[0] == '-' && a[1] == '-')
            return pf_fail(PF_ERR_USAGE, "train: unknown option %s (see prefopt-mpi train --help)",
                           a);
        else if (*config)
            return pf_cli_usage_error("train", "only one CONFIG.json");
        else
            *config = a;
    }
    if (!*help && !*config)
        return pf_cli_usage_error("train", "missing CONFIG.json");
    return PF_OK;
}

int pf_cmd_train(int argc, char **argv)
{
    const char *config = NULL, *sets[MAX_SETS];
    int n_sets = 0, resume = 0, help = 0;
    int rc = parse_args(argc, argv, &config, sets, &n_sets, &resume, &help);
    if (rc || help) {
        if (help)
            fputs(USAGE, stdout);
        return rc;
    }
    rc = pf_dist_init(&argc, &argv);
    if (rc)
        return rc;
    pf_config cfg;
    int preempted = 0;
    pf_dist_watch_signals();
    rc = pf_dist_agree(pf_config_from_file(config, sets, n_sets, &cfg));
    if (!rc)
        rc = pf_train(&cfg, resume, &preempted);
    pf_config_free(&cfg);
    rc = pf_cli_mpi_finish(rc);
    if (!rc && preempted)
        exit(PF_EXIT_PREEMPTED);
    return rc;
}
