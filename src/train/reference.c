/*
 * reference.c: work over a whole dataset in fixed chunks: reference log-prob
 * precomputation and held-out evaluation.
 *
 * Chunk c holds examples [c*M, (c+1)*M) in dataset order (M = train.micro_batch) and
 * is computed by rank c % world; its shape depends only on the data, and its results
 * travel through an exact slot gather, so the outcome is the same on every rank count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "trainer_internal.h"

/* The examples of chunk c as pointers (into ptrs), returning the count. */
static int chunk_examples(pf_dataset *ds, int c, int M, pf_example **ptrs)
{
    int n = 0;
    for (int i = c * M; i < ds->n && i < (c + 1) * M; i++)
        ptrs[n++] = &ds->ex[i];
    return n;
}

/* Reference forward of one chunk: sums and means into table [n_examples][4]. */
static int reference_chunk(pf_trainer *tr, pf_example **ex, int n, double *table, int first)
{
    const int n_seq = tr->algo->n_seq;
    int T = pf_pack_batch(ex, n, n_seq, tr->tokens, tr->lengths);
    pf_batch b = {.tokens = tr->tokens, .lengths = tr->lengths, .B = n * n_seq, .T = T};
    pf_forward_out out = {.logprobs = tr->logprobs, .temperature = 1.0f};
    int rc = pf_model_forward(tr->reference, tr->ws, &b, &out);
    for (int i = 0; i < n && !rc; i++)
        for (int s = 0; s < n_seq; s++) {
            double count, sum;
            sum = pf_seq_weighted_logp(&ex[i]->seq[s], tr->logprobs + (size_t)(i * n_seq + s) * T,
                                       &count);
            table[(size_t)(first + i) * 4 + s] = sum;
            table[(size_t)(first + i) * 4 + 2 + s] = count > 0 ? sum / count : 0.0;
        }
    return rc;
}

int pf_reference_logps(pf_trainer *tr, pf_dataset *ds)
{
    const int M = (int)tr->cfg->micro_batch, chunks = (ds->n + M - 1) / M;
    if (ds->n == 0 || tr->algo->n_seq != 2)
        return PF_OK;
    double *table = calloc((size_t)ds->n * 4, sizeof(double));
    pf_example **ptrs = malloc(sizeof(pf_example *) * (size_t)M);
    int rc = table && ptrs ? PF_OK : pf_fail(PF_ERR_RUNTIME, "reference log-probs: out of memory");
    for (int c = tr->rank; c < chunks && !rc; c += tr->world) {
        int n = chunk_examples(ds, c, M, ptrs);
        rc = reference_chunk(tr, ptrs, n, table, c * M);
    }
    rc = pf_dist_agree(rc);
    if (!rc)
        rc = pf_dist_gather_slots(table, (size_t)ds->n * 4);
    for (int i = 0; i < ds->n && !rc; i++)
        for (int s = 0; s < 2; s++) {
            ds->ex[i].ref_logp[s] = table[(size_t)i * 4 + s];
            ds->ex[i].ref_logp_mean[s] = table[(size_t)i * 4 + 2 + s];
        }
    free(table);
    free(ptrs);
    return rc;
}

/* Policy forward of one chunk; the algorithm's sums go to sums[S]. */
static int evaluate_chunk(pf_trainer *tr, pf_example **ex, int n, double *sums)
{
    const int n_seq = tr->algo->n_seq;
    int T = pf_pack_batch(ex, n, n_seq, tr->tokens, tr->lengths);
    pf_batch b = {.tokens = tr->tokens, .lengths = tr->lengths, .B = n * n_seq, .T = T};
    pf_forward_out out = {.logprobs = tr->logprobs, .temperature = 1.0f};
    int rc = pf_model_forward(tr->policy, tr->ws, &b, &out);
    if (!rc)
        tr->algo->micro_batch(&tr->ast, ex, n, tr->logprobs, T, tr->dlogprobs, sums);
    return rc;
}

int pf_evaluate(pf_trainer *tr, double *metrics, int *n_metrics, const char **names)
{
    pf_dataset *ds = &tr->eval;
    const int M = (int)tr->cfg->micro_batch, chunks = (ds->n + M - 1) / M;
    const int S = tr->algo->n_sums;
    pf_algo_state st = tr->ast;
    pf_example **all = malloc(sizeof(pf_example *) * (size_t)(ds->n ? ds->n : 1));
    double *table = calloc((size_t)chunks * S + 1, sizeof(double));
    int rc = all && table ? PF_OK : pf_fail(PF_ERR_RUNTIME, "evaluation: out of memory");
    for (int i = 0; i < ds->n && !rc; i++)
        all[i] = &ds->ex[i];
    if (!rc)
        tr->algo->begin_step(&st, all, ds->n);
    pf_algo_state saved = tr->ast;
    tr->ast = st;
    for (int c = tr->rank; c < chunks && !rc; c += tr->world)
        rc = evaluate_chunk(tr, all + (size_t)c * M, ds->n - c * M < M ? ds->n - c * M : M,
                            table + (size_t)c * S);
    tr->ast = saved;
    rc = pf_dist_agree(rc);
    if (!rc)
        rc = pf_dist_gather_slots(table, (size_t)chunks * S);
    double sums[PF_ALGO_MAX_SUMS] = {0};
    for (int c = 0; c < chunks && !rc; c++)
        for (int s = 0; s < S; s++)
            sums[s] += table[(size_t)c * S + s];
    if (!rc) {
        tr->algo->finalize(&st, sums, metrics);
        *n_metrics = tr->algo->n_metrics;
        for (int i = 0; i < *n_metrics; i++)
            names[i] = tr->algo->metric_names[i];
    }
    free(all);
    free(table);
    return rc;
}
