/*
 * metrics_writer.c: writes known metrics.h5 tables for tests/e2e/metrics_e2e.sh,
 * through the library's own writer (pf_metrics_prepare / pf_metrics_append).
 *
 *   metrics_writer PATH small   4 metrics, 3 rows (the CLI output test's table)
 *   metrics_writer PATH dpo     a DPO run's names: rewards/..., logps/..., eval/...
 *   metrics_writer PATH sft     an SFT run's names: loss, lr, grad_norm, tokens_per_s
 *   metrics_writer PATH append STEP   appends {loss: 0.5} at STEP to an existing file
 *
 * The tables' values are repeated literally in metrics_e2e.sh, which checks them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/metrics.h"

/* One row of a table: step and up to 16 (name, value) pairs. */
typedef struct {
    long long step;
    int n;
    const char *names[16];
    double values[16];
} row;

static const row SMALL[] = {
    {1, 2, {"loss", "rewards/chosen"}, {0.5, 0.25}},
    {2, 2, {"loss", "eval/loss"}, {0.125, 1e-7}},
    {3, 1, {"lr"}, {3e-5}},
};

static const row DPO[] = {
    {10,
     10,
     {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
      "logps/chosen", "logps/rejected", "grad_norm", "lr", "tokens_per_s"},
     {0.6931, 0.01, -0.02, 0.5, 0.03, -120.5, -130.25, 1.5, 1e-4, 2048}},
    {20,
     13,
     {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
      "logps/chosen", "logps/rejected", "grad_norm", "lr", "tokens_per_s", "eval/loss",
      "eval/rewards/accuracies", "eval/rewards/margins"},
     {0.65, 0.05, -0.06, 0.625, 0.11, -118.0, -133.0, 1.25, 9e-5, 2100, 0.66, 0.6, 0.09}},
    {30, 2, {"loss", "lr"}, {0.6, 8e-5}},
};

static const row SFT[] = {
    {1, 4, {"loss", "lr", "grad_norm", "tokens_per_s"}, {3.5, 1e-5, 2.0, 1000}},
    {2, 4, {"loss", "lr", "grad_norm", "tokens_per_s"}, {3.25, 2e-5, 1.75, 1100}},
    {3, 5, {"loss", "lr", "grad_norm", "tokens_per_s", "eval/loss"}, {3.0, 3e-5, 1.5, 1050, 3.1}},
};

/* Writes a fresh file holding the n rows. */
static int write_table(const char *path, const row *rows, int n)
{
    int rc = pf_metrics_prepare(path, 1, 0);
    for (int i = 0; i < n && rc == PF_OK; i++)
        rc = pf_metrics_append(path, rows[i].step, rows[i].n, rows[i].names, rows[i].values);
    return rc;
}

/* Runs the mode named by argv[2]; see the file comment. */
int main(int argc, char **argv)
{
    int rc = PF_ERR_USAGE;
    if (argc == 3 && strcmp(argv[2], "small") == 0)
        rc = write_table(argv[1], SMALL, 3);
    else if (argc == 3 && strcmp(argv[2], "dpo") == 0)
        rc = write_table(argv[1], DPO, 3);
    else if (argc == 3 && strcmp(argv[2], "sft") == 0)
        rc = write_table(argv[1], SFT, 3);
    else if (argc == 4 && strcmp(argv[2], "append") == 0) {
        const char *name[] = {"loss"};
        const double value[] = {0.5};
        rc = pf_metrics_append(argv[1], strtoll(argv[3], NULL, 10), 1, name, value);
    } else {
        fprintf(stderr, "usage: metrics_writer PATH small|dpo|sft|append STEP\n");
        return 2;
    }
    if (rc != PF_OK)
        fprintf(stderr, "metrics_writer: error: %s\n", pf_error_message());
    return rc;
}
