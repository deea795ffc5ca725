/*
 * examples.c: storage for tokenized examples (see examples.h). Pools grow by doubling
 * while a dataset is built; examples keep offsets until the dataset is complete, then
 * pointers are fixed up, so growth never leaves dangling pointers.
 */
#include "prefopt/examples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"

void pf_dataset_free(pf_dataset *ds)
{
    free(ds->ex);
    free(ds->id_pool);
    free(ds->weight_pool);
    memset(ds, 0, sizeof *ds);
}

/* Grows the pools to hold extra more tokens, re-pointing existing examples. */
static int reserve_pool(pf_dataset *ds, size_t extra)
{
    if (ds->pool_used + extra <= ds->pool_cap)
        return PF_OK;
    size_t cap = ds->pool_cap ? ds->pool_cap : 4096;
    while (cap < ds->pool_used + extra)
        cap *= 2;
    int32_t *ids = realloc(ds->id_pool, sizeof(int32_t) * cap);
    if (ids)
        ds->id_pool = ids;
    float *w = ids ? realloc(ds->weight_pool, sizeof(float) * cap) : NULL;
    if (!ids || !w)
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory for token pools", ds->source);
    ds->weight_pool = w;
    ds->pool_cap = cap;
    size_t off = 0; /* examples are stored back to back in pool order */
    for (int i = 0; i < ds->n; i++)
        for (int s = 0; s < ds->ex[i].n_seq; s++) {
            ds->ex[i].seq[s].ids = ds->id_pool + off;
            ds->ex[i].seq[s].weight = ds->weight_pool + off;
            off += (size_t)ds->ex[i].seq[s].len;
        }
    return PF_OK;
}

int pf_dataset_add(pf_dataset *ds, const pf_seq *seqs, int n_seq, const char *reason, int64_t line)
{
    size_t need = 0;
    for (int s = 0; s < n_seq; s++)
        need += (size_t)seqs[s].len;
    if (reserve_pool(ds, need))
        return PF_ERR_RUNTIME;
    if (ds->n % 256 == 0) {
        pf_example *grown = realloc(ds->ex, sizeof(pf_example) * (size_t)(ds->n + 256));
        if (!grown)
            return pf_fail(PF_ERR_RUNTIME, "%s: out of memory for examples", ds->source);
        ds->ex = grown;
    }
    pf_example *e = &ds->ex[ds->n];
    memset(e, 0, sizeof *e);
    e->n_seq = n_seq;
    e->line = line;
    snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
    for (int s = 0; s < n_seq; s++) {
        int32_t *ids = ds->id_pool + ds->pool_used;
        float *w = ds->weight_pool + ds->pool_used;
        memcpy(ids, seqs[s].ids, sizeof(int32_t) * (size_t)seqs[s].len);
        memcpy(w, seqs[s].weight, sizeof(float) * (size_t)seqs[s].len);
        w[0] = 0.0f;
        e->seq[s] =
            (pf_seq){.ids = ids, .weight = w, .len = seqs[s].len, .prompt_len = seqs[s].prompt_len};
        ds->pool_used += (size_t)seqs[s].len;
    }
    ds->n_seq = n_seq;
    ds->n++;
    return PF_OK;
}

double pf_seq_weighted_logp(const pf_seq *s, const float *logprobs, double *count)
{
    double sum = 0.0, c = 0.0;
    for (int t = 1; t < s->len; t++) {
        if (s->weight[t] == 0.0f)
            continue;
        sum += (double)s->weight[t] * logprobs[t - 1];
        c += s->weight[t];
    }
    *count = c;
    return sum;
}

int pf_examples_pack(pf_example *const *ex, int n, int n_seq, int32_t *tokens, int32_t *lengths,
                     uint8_t *need)
{
    int T = 2;
    for (int i = 0; i < n; i++)
        for (int s = 0; s < n_seq; s++)
            T = ex[i]->seq[s].len > T ? ex[i]->seq[s].len : T;
    for (int i = 0; i < n; i++)
        for (int s = 0; s < n_seq; s++) {
            const pf_seq *q = &ex[i]->seq[s];
            size_t row = (size_t)(i * n_seq + s) * T;
            memcpy(tokens + row, q->ids, sizeof(int32_t) * (size_t)q->len);
            memset(tokens + row + q->len, 0, sizeof(int32_t) * (size_t)(T - q->len));
            for (int t = 0; t < T; t++)
                need[row + t] = t + 1 < q->len && q->weight[t + 1] != 0.0f;
            lengths[i * n_seq + s] = q->len;
        }
    return T;
}
