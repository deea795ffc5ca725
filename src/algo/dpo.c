/*
 * dpo.c: DPO and its variants (sigmoid / cDPO, robust, hinge, ipo) with the optional
 * RPO term, as a pf_algo_ops (see algo.h and losses.h).
 *
 * Per pair: a = pi(y+) - ref(y+), b = pi(y-) - ref(y-) with sequence log-probs summed
 * over completion tokens (ipo: per-token means). The step loss is the mean pair loss
 * over the global batch plus rpo_alpha times the mean NLL per chosen token of the
 * global batch; both normalisers are global counts known before the step.
 */
#include <math.h>

#include "prefopt/algo.h"
#include "prefopt/score.h"

enum {
    S_LOSS,
    S_REW_C,
    S_REW_R,
    S_ACC,
    S_MARGIN,
    S_LOGP_C,
    S_LOGP_R,
    S_PAIRS,
    S_NLL,
    S_NLL_N,
    S_COUNT
};
static const char *const METRICS[] = {
    "loss",         "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
    "logps/chosen", "logps/rejected", "nll_loss"};
enum { M_COUNT = sizeof METRICS / sizeof METRICS[0] };

/* Counts the pairs and the chosen completion tokens of the global batch. */
static void dpo_begin_step(pf_algo_state *st, pf_example *const *batch, int n)
{
    double tokens = 0.0;
    for (int i = 0; i < n; i++) {
        const pf_seq *c = &batch[i]->seq[0];
        for (int t = 1; t < c->len; t++)
            tokens += c->weight[t];
    }
    st->n_examples = n;
    st->weight_total = tokens;
}

/* Writes coef * weight[t] into dlogprobs for the sequence's counted tokens. */
static void spread(float *dlp, const pf_seq *s, double coef)
{
    for (int t = 1; t < s->len; t++)
        dlp[t - 1] += (float)(coef * s->weight[t]);
}

/* The loss terms of one pair from its policy sums (pi) and counted weights (n), into
 * sums; *g_c and *g_r receive d(loss)/d(log-prob) per counted chosen / rejected token. */
static void dpo_terms(const pf_algo_state *st, const pf_example *e, double pi_c, double n_c,
                      double pi_r, double n_r, double *sums, double *g_c, double *g_r)
{
    const int ipo = st->dpo.type == PF_DPO_IPO;
    double a = ipo ? pi_c / n_c - e->ref_logp_mean[0] : pi_c - e->ref_logp[0];
    double b = ipo ? pi_r / n_r - e->ref_logp_mean[1] : pi_r - e->ref_logp[1];
    double dldelta;
    double loss = pf_dpo_pair_loss(&st->dpo, a - b, &dldelta);
    double g = dldelta / st->n_examples;
    *g_c = ipo ? g / n_c : g;
    *g_r = ipo ? -g / n_r : -g;
    if (st->rpo_alpha > 0.0)
        *g_c -= st->rpo_alpha / st->weight_total;
    const double beta = st->dpo.beta;
    sums[S_LOSS] += loss;
    sums[S_REW_C] += beta * a;
    sums[S_REW_R] += beta * b;
    sums[S_ACC] += a > b ? 1.0 : 0.0;
    sums[S_MARGIN] += beta * (a - b);
    sums[S_LOGP_C] += pi_c;
    sums[S_LOGP_R] += pi_r;
    sums[S_PAIRS] += 1.0;
    sums[S_NLL] += -pi_c;
    sums[S_NLL_N] += n_c;
}

/* One pair of a micro-batch: terms into sums, gradients into its two dlogprobs rows. */
static void dpo_pair(const pf_algo_state *st, const pf_example *e, const float *lp_c,
                     const float *lp_r, float *dlp_c, float *dlp_r, double *sums)
{
    double n_c, n_r, g_c, g_r;
    double pi_c = pf_seq_weighted_logp(&e->seq[0], lp_c, &n_c);
    double pi_r = pf_seq_weighted_logp(&e->seq[1], lp_r, &n_r);
    dpo_terms(st, e, pi_c, n_c, pi_r, n_r, sums, &g_c, &g_r);
    spread(dlp_c, &e->seq[0], g_c);
    spread(dlp_r, &e->seq[1], g_r);
}

/* Evaluation from precomputed scores (score.h layout). */
static void dpo_score_example(pf_algo_state *st, const pf_example *e, const double *scores,
                              double *sums)
{
    double g_c, g_r;
    const double *c = scores, *r = scores + PF_SCORE_FIELDS;
    dpo_terms(st, e, c[PF_SCORE_SUM], c[PF_SCORE_COUNT], r[PF_SCORE_SUM], r[PF_SCORE_COUNT], sums,
              &g_c, &g_r);
}

static void dpo_micro_batch(pf_algo_state *st, pf_example *const *ex, int n, const float *logprobs,
                            int T, float *dlogprobs, double *sums)
{
    for (int i = 0; i < 2 * n * T; i++)
        dlogprobs[i] = 0.0f;
    for (int i = 0; i < n; i++)
        dpo_pair(st, ex[i], logprobs + (size_t)(2 * i) * T, logprobs + (size_t)(2 * i + 1) * T,
                 dlogprobs + (size_t)(2 * i) * T, dlogprobs + (size_t)(2 * i + 1) * T, sums);
}

static void dpo_finalize(const pf_algo_state *st, const double *s, double *m)
{
    double n = s[S_PAIRS] > 0 ? s[S_PAIRS] : 1.0;
    double nll = s[S_NLL_N] > 0 ? s[S_NLL] / s[S_NLL_N] : 0.0;
    m[0] = s[S_LOSS] / n + st->rpo_alpha * nll;
    m[1] = s[S_REW_C] / n;
    m[2] = s[S_REW_R] / n;
    m[3] = s[S_ACC] / n;
    m[4] = s[S_MARGIN] / n;
    m[5] = s[S_LOGP_C] / n;
    m[6] = s[S_LOGP_R] / n;
    m[7] = nll;
}

const pf_algo_ops pf_algo_dpo = {
    .name = "dpo",
    .n_seq = 2,
    .n_sums = S_COUNT,
    .n_metrics = M_COUNT,
    .metric_names = METRICS,
    .begin_step = dpo_begin_step,
    .micro_batch = dpo_micro_batch,
    .finalize = dpo_finalize,
    .score_example = dpo_score_example,
};
