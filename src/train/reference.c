/*
 * reference.c: whole-dataset passes of the trainer: reference log-prob
 * precomputation and held-out evaluation, both on pf_score_dataset's fixed chunks (so
 * their results are the same on every rank count).
 */
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/score.h"
#include "trainer_internal.h"

int pf_reference_logps(pf_trainer *tr, pf_dataset *ds)
{
    if (ds->n == 0 || tr->algo->n_seq != 2)
        return PF_OK;
    double *table = malloc(sizeof(double) * (size_t)ds->n * 2 * PF_SCORE_FIELDS);
    int rc = pf_dist_agree(table ? PF_OK
                                 : pf_fail(PF_ERR_RUNTIME, "reference log-probs: out of memory"));
    if (!rc)
        rc = pf_score_dataset(tr->reference, NULL, ds, (int)tr->cfg->micro_batch, table);
    for (int i = 0; i < ds->n && !rc; i++)
        for (int s = 0; s < 2; s++) {
            const double *o = table + ((size_t)i * 2 + s) * PF_SCORE_FIELDS;
            ds->ex[i].ref_logp[s] = o[PF_SCORE_SUM];
            ds->ex[i].ref_logp_mean[s] = o[PF_SCORE_MEAN];
        }
    free(table);
    return rc;
}

int pf_evaluate(pf_trainer *tr, double *metrics, int *n_metrics, const char **names)
{
    pf_dataset *ds = &tr->eval;
    const int n_seq = tr->algo->n_seq;
    double *table = malloc(sizeof(double) * (size_t)(ds->n ? ds->n : 1) * n_seq * PF_SCORE_FIELDS);
    pf_example **all = malloc(sizeof(pf_example *) * (size_t)(ds->n ? ds->n : 1));
    int rc =
        pf_dist_agree(table && all ? PF_OK : pf_fail(PF_ERR_RUNTIME, "evaluation: out of memory"));
    if (rc) {
        free(table), free(all);
        return rc;
    }
    rc = tr->algo->uses_values
             ? pf_score_dataset_values(tr->policy, tr->ws, ds, (int)tr->cfg->micro_batch, table)
             : pf_score_dataset(tr->policy, tr->ws, ds, (int)tr->cfg->micro_batch, table);
    double sums[PF_ALGO_MAX_SUMS] = {0};
    pf_algo_state st = tr->ast;
    for (int i = 0; i < ds->n; i++)
        all[i] = &ds->ex[i];
    tr->algo->begin_step(&st, all, ds->n);
    for (int i = 0; i < ds->n && !rc; i++)
        tr->algo->score_example(&st, &ds->ex[i], table + (size_t)i * n_seq * PF_SCORE_FIELDS, sums);
    if (!rc) {
        tr->algo->finalize(&st, sums, metrics);
        *n_metrics = tr->algo->n_metrics;
        for (int i = 0; i < *n_metrics; i++)
            names[i] = tr->algo->metric_names[i];
    }
    free(table);
    free(all);
    return rc;
}
