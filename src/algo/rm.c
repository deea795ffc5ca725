/*
 * rm.c: reward-model training (Bradley-Terry) as a pf_algo_ops over the value head.
 *
 * The reward of a sequence (prompt + completion) is the value head at its last token,
 * r = values[len - 1]. Per pair, with d = r+ - r- - m (m: the record's "margin" when
 * rm.use_margin, else 0), the step loss is TRL RewardTrainer's
 *   loss = mean_i -log sigmoid(d_i) + c * mean_i (r+_i + r-_i)^2
 * over the pairs of the global batch (c = rm.center_rewards_coefficient). Metrics:
 * loss, accuracy (share of pairs with r+ > r-, ties count half), margin (mean r+ - r-)
 * and reward/mean, reward/min, reward/max over both sides of every pair.
 */
#include <math.h>
#include <string.h>

#include "prefopt/algo.h"
#include "prefopt/losses.h"
#include "prefopt/score.h"

enum { S_LOSS, S_CENTER, S_ACC, S_MARGIN, S_RSUM, S_PAIRS, S_RMIN, S_RMAX, S_COUNT };
static const unsigned char SUM_OPS[S_COUNT] = {[S_RMIN] = PF_SUM_MIN, [S_RMAX] = PF_SUM_MAX};
static const char *const METRICS[] = {"loss",        "accuracy",   "margin",
                                      "reward/mean", "reward/min", "reward/max"};
enum { M_COUNT = sizeof METRICS / sizeof METRICS[0] };

/* Counts the pairs of the global batch (the loss normaliser). */
static void rm_begin_step(pf_algo_state *st, pf_example *const *batch, int n)
{
    (void)batch;
    st->n_examples = n > 0 ? n : 1;
    st->weight_total = 0.0;
}

/* Adds one pair's terms (rewards r_c, r_r) to sums; returns the pair's gradients. */
static void rm_terms(const pf_algo_state *st, const pf_example *e, double r_c, double r_r,
                     double *sums, double *g_c, double *g_r)
{
    const double m = st->rm_use_margin ? e->margin : 0.0;
    sums[S_LOSS] += pf_rm_pair_loss(r_c, r_r, m, st->rm_center_coef, st->n_examples, g_c, g_r);
    sums[S_CENTER] += (r_c + r_r) * (r_c + r_r);
    sums[S_ACC] += r_c > r_r ? 1.0 : r_c == r_r ? 0.5 : 0.0;
    sums[S_MARGIN] += r_c - r_r;
    sums[S_RSUM] += r_c + r_r;
    const double lo = r_c < r_r ? r_c : r_r, hi = r_c > r_r ? r_c : r_r;
    if (sums[S_PAIRS] == 0.0) {
        sums[S_RMIN] = lo;
        sums[S_RMAX] = hi;
    } else {
        sums[S_RMIN] = lo < sums[S_RMIN] ? lo : sums[S_RMIN];
        sums[S_RMAX] = hi > sums[S_RMAX] ? hi : sums[S_RMAX];
    }
    sums[S_PAIRS] += 1.0;
}

/* values [2n, T]: rows 2i (chosen) and 2i+1 (rejected) of pair i; the reward is the
 * value at the row's last token. dvalues receives the gradient there, 0 elsewhere. */
static void rm_micro_batch(pf_algo_state *st, pf_example *const *ex, int n, const float *values,
                           int T, float *dvalues, double *sums)
{
    memset(dvalues, 0, sizeof(float) * (size_t)(2 * n) * (size_t)T);
    for (int i = 0; i < n; i++) {
        const size_t at_c = (size_t)(2 * i) * T + (size_t)(ex[i]->seq[0].len - 1);
        const size_t at_r = (size_t)(2 * i + 1) * T + (size_t)(ex[i]->seq[1].len - 1);
        double g_c, g_r;
        rm_terms(st, ex[i], values[at_c], values[at_r], sums, &g_c, &g_r);
        dvalues[at_c] = (float)g_c;
        dvalues[at_r] = (float)g_r;
    }
}

/* Evaluation from pf_score_dataset_values: PF_SCORE_SUM holds each side's reward. */
static void rm_score_example(pf_algo_state *st, const pf_example *e, const double *scores,
                             double *sums)
{
    double g_c, g_r;
    rm_terms(st, e, scores[PF_SCORE_SUM], scores[PF_SCORE_FIELDS + PF_SCORE_SUM], sums, &g_c, &g_r);
}

/* Metrics from the global sums: means over pairs (reward/mean over both sides). */
static void rm_finalize(const pf_algo_state *st, const double *s, double *m)
{
    const double n = s[S_PAIRS] > 0 ? s[S_PAIRS] : 1.0;
    m[0] = s[S_LOSS] / n + st->rm_center_coef * s[S_CENTER] / n;
    m[1] = s[S_ACC] / n;
    m[2] = s[S_MARGIN] / n;
    m[3] = s[S_RSUM] / (2.0 * n);
    m[4] = s[S_RMIN];
    m[5] = s[S_RMAX];
}

const pf_algo_ops pf_algo_rm = {
    .name = "rm",
    .n_seq = 2,
    .n_sums = S_COUNT,
    .n_metrics = M_COUNT,
    .metric_names = METRICS,
    .begin_step = rm_begin_step,
    .micro_batch = rm_micro_batch,
    .finalize = rm_finalize,
    .score_example = rm_score_example,
    .uses_values = 1,
    .sum_ops = SUM_OPS,
};
