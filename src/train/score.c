/*
 * score.c: per-example log-prob sums over a dataset, chunked and distributed (see
 * score.h). Buffers are sized once per call for the largest chunk.
 */
#include "prefopt/score.h"

#include <stdlib.h>
#include <string.h>

#include "prefopt/dist.h"
#include "prefopt/error.h"

/* The longest sequence of the dataset. */
static int longest(const pf_dataset *ds)
{
    int T = 2;
    for (int i = 0; i < ds->n; i++)
        for (int s = 0; s < ds->ex[i].n_seq; s++)
            T = ds->ex[i].seq[s].len > T ? ds->ex[i].seq[s].len : T;
    return T;
}

/* Buffers of one scoring call, sized once for the largest chunk. */
typedef struct {
    pf_example **ptrs;
    int32_t *tokens, *lengths;
    uint8_t *need;
    float *lp;
} score_buffers;

/* Forward of examples [first, first + n) into out; values: the value head at each
 * sequence's last token instead of log-prob sums. */
static int score_chunk(pf_model *m, pf_workspace *ws, const pf_dataset *ds, int first, int n,
                       int values, score_buffers *b, double *out)
{
    const int n_seq = ds->n_seq;
    for (int i = 0; i < n; i++)
        b->ptrs[i] = &ds->ex[first + i];
    int T = pf_examples_pack(b->ptrs, n, n_seq, b->tokens, b->lengths, b->need);
    pf_batch batch = {.tokens = b->tokens, .lengths = b->lengths, .B = n * n_seq, .T = T};
    pf_forward_out fo = {.logprobs = values ? NULL : b->lp,
                         .values = values ? b->lp : NULL,
                         .temperature = 1.0f,
                         .need = b->need};
    int rc = pf_model_forward(m, ws, &batch, &fo);
    for (int i = 0; i < n && !rc && values; i++)
        for (int s = 0; s < n_seq; s++) {
            const int len = ds->ex[first + i].seq[s].len;
            double *o = out + ((size_t)(first + i) * n_seq + s) * PF_SCORE_FIELDS;
            o[PF_SCORE_SUM] = o[PF_SCORE_MEAN] = b->lp[(size_t)(i * n_seq + s) * T + len - 1];
            o[PF_SCORE_COUNT] = 1.0;
        }
    for (int i = 0; i < n && !rc && !values; i++)
        for (int s = 0; s < n_seq; s++) {
            double count, sum;
            sum = pf_seq_weighted_logp(&ds->ex[first + i].seq[s],
                                       b->lp + (size_t)(i * n_seq + s) * T, &count);
            double *o = out + ((size_t)(first + i) * n_seq + s) * PF_SCORE_FIELDS;
            o[PF_SCORE_SUM] = sum;
            o[PF_SCORE_MEAN] = count > 0 ? sum / count : 0.0;
            o[PF_SCORE_COUNT] = count;
        }
    return rc;
}

/* pf_score_dataset or, with values, pf_score_dataset_values. */
static int score_all(pf_model *m, pf_workspace *ws, const pf_dataset *ds, int chunk, int values,
                     double *out)
{
    const int n_seq = ds->n_seq, chunks = (ds->n + chunk - 1) / chunk, T = longest(ds);
    const size_t fields = (size_t)ds->n * n_seq * PF_SCORE_FIELDS;
    const size_t cells = (size_t)chunk * n_seq * T;
    pf_workspace *own = NULL;
    score_buffers b = {.ptrs = malloc(sizeof(pf_example *) * (size_t)chunk),
                       .tokens = malloc(sizeof(int32_t) * cells),
                       .lengths = malloc(sizeof(int32_t) * (size_t)chunk * 2),
                       .need = malloc(cells),
                       .lp = malloc(sizeof(float) * cells)};
    int rc = b.ptrs && b.tokens && b.lengths && b.need && b.lp
                 ? PF_OK
                 : pf_fail(PF_ERR_RUNTIME, "scoring: out of memory");
    if (!rc && !ws && ds->n > 0)
        rc = pf_workspace_create(m, chunk * n_seq, T, 0, &own);
    memset(out, 0, sizeof(double) * fields);
    for (int c = pf_dist_rank(); c < chunks && !rc; c += pf_dist_size()) {
        int first = c * chunk, n = ds->n - first < chunk ? ds->n - first : chunk;
        rc = score_chunk(m, ws ? ws : own, ds, first, n, values, &b, out);
    }
    rc = pf_dist_agree(rc);
    if (!rc)
        rc = pf_dist_gather_slots(out, fields);
    pf_workspace_free(own);
    free(b.ptrs), free(b.tokens), free(b.lengths), free(b.need), free(b.lp);
    return rc;
}

int pf_score_dataset(pf_model *m, pf_workspace *ws, const pf_dataset *ds, int chunk, double *out)
{
    return score_all(m, ws, ds, chunk, 0, out);
}

int pf_score_dataset_values(pf_model *m, pf_workspace *ws, const pf_dataset *ds, int chunk,
                            double *out)
{
    if (!pf_model_get_config(m)->value_head)
        return pf_dist_agree(pf_fail(PF_ERR_USAGE, "scoring rewards: the model has no value head "
                                                   "(v_head.weight); it is not a reward model"));
    return score_all(m, ws, ds, chunk, 1, out);
}
