/*
 * test_rl_math.c: the PPO / GRPO arithmetic of rl_math.h against hand-computed values
 * (GAE, per-token rewards, whitening, group advantages, the KL controller), invariants
 * (k3 >= 0, whitened mean 0 and variance 1) and central differences of every gradient
 * away from the clip kinks, plus the clip counters and the name parsers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/rl_math.h"
#include "testutil.h"

#define GARBAGE 42.0f

/* GAE by hand: gamma 0.9, lam 0.8 (gamma * lam = 0.72), R = 4, lens 3, 2, 0; padding
 * holds garbage on input and must come out as 0. */
static void test_gae_by_hand(void)
{
    const int32_t len[3] = {3, 2, 0};
    const pf_rl_shape s = {3, 4, len};
    const float rew[12] = {1.0f, 0.5f, 2.0f, 7.0f, -1.0f, 3.0f, 7.0f, 7.0f, 5.0f, 5.0f, 5.0f, 5.0f};
    const float val[12] = {0.5f, 1.0f, 1.5f, 9.0f, 2.0f, -0.5f, 9.0f, 9.0f, 9.0f, 9.0f, 9.0f, 9.0f};
    float adv[12], ret[12];
    for (int k = 0; k < 12; k++)
        adv[k] = ret[k] = GARBAGE;
    pf_gae(&s, rew, val, 0.9, 0.8, adv, ret);
    /* sequence 0 (len 3, V(3) = 0):
     *   t=2: delta = 2 + 0.9*0 - 1.5 = 0.5;        A = 0.5                 ret = 2.0
     *   t=1: delta = 0.5 + 0.9*1.5 - 1 = 0.85;     A = 0.85 + 0.72*0.5 = 1.21   ret = 2.21
     *   t=0: delta = 1 + 0.9*1 - 0.5 = 1.4;        A = 1.4 + 0.72*1.21 = 2.2712 ret = 2.7712
     * sequence 1 (len 2, V(2) = 0, the garbage value 9 at t=2 is not used):
     *   t=1: delta = 3 + 0 - (-0.5) = 3.5;         A = 3.5                 ret = 3.0
     *   t=0: delta = -1 + 0.9*(-0.5) - 2 = -3.45;  A = -3.45 + 0.72*3.5 = -0.93  ret = 1.07
     * sequence 2 (len 0): all zeros. */
    const double want_a[12] = {2.2712, 1.21, 0.5, 0, -0.93, 3.5, 0, 0, 0, 0, 0, 0};
    const double want_r[12] = {2.7712, 2.21, 2.0, 0, 1.07, 3.0, 0, 0, 0, 0, 0, 0};
    for (int k = 0; k < 12; k++) {
        CU_ASSERT_DOUBLE_EQUAL(adv[k], want_a[k], 2e-6);
        CU_ASSERT_DOUBLE_EQUAL(ret[k], want_r[k], 2e-6);
    }
    /* gamma = lam = 1 with zero values: A_t = sum of rewards from t on */
    const float zero[12] = {0};
    pf_gae(&s, rew, zero, 1.0, 1.0, adv, ret);
    CU_ASSERT_DOUBLE_EQUAL(adv[0], 3.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(adv[4], 2.0, 1e-6);
    CU_ASSERT(adv[3] == 0.0f && ret[7] == 0.0f);
}

/* Rewards: -kl_coef * kl on valid tokens, the score on the last one, 0 elsewhere. */
static void test_ppo_rewards_by_hand(void)
{
    const int32_t len[3] = {2, 3, 0};
    const pf_rl_shape s = {3, 3, len};
    const float kl[9] = {0.1f, -0.2f, 5.0f, 0.3f, 0.0f, 0.4f, 1.0f, 1.0f, 1.0f};
    const double scores[3] = {1.5, -2.0, 10.0};
    float r[9];
    for (int k = 0; k < 9; k++)
        r[k] = GARBAGE;
    pf_ppo_rewards(&s, kl, scores, 0.5, r);
    /* seq 0: [-0.5*0.1, -0.5*(-0.2) + 1.5, pad]; seq 1: [-0.15, 0, -0.2 - 2];
     * seq 2 (len 0): its score goes nowhere. */
    const double want[9] = {-0.05, 1.6, 0, -0.15, 0, -2.2, 0, 0, 0};
    for (int k = 0; k < 9; k++)
        CU_ASSERT_DOUBLE_EQUAL(r[k], want[k], 1e-6);
}

/* Mean and unbiased variance of the valid tokens, in double. */
static void valid_moments(const pf_rl_shape *s, const float *x, double *mean, double *var)
{
    double sum = 0.0, sq = 0.0;
    long n = 0;
    for (int i = 0; i < s->N; i++)
        for (int t = 0; t < s->len[i]; t++, n++)
            sum += x[i * s->R + t];
    *mean = sum / (double)n;
    for (int i = 0; i < s->N; i++)
        for (int t = 0; t < s->len[i]; t++)
            sq += (x[i * s->R + t] - *mean) * (x[i * s->R + t] - *mean);
    *var = sq / (double)(n - 1);
}

static void test_whiten(void)
{
    /* by hand: x = {1, 2, 3 | 4}, lens 3 and 1: m = 2.5, sum of squares 5, v = 5/3 */
    const int32_t len2[2] = {3, 1};
    const pf_rl_shape h = {2, 4, len2};
    float x[8] = {1, 2, 3, GARBAGE, 4, GARBAGE, GARBAGE, GARBAGE};
    CU_ASSERT(pf_masked_whiten(&h, x, 1) == 4);
    const double sd = sqrt(5.0 / 3.0 + 1e-8);
    CU_ASSERT_DOUBLE_EQUAL(x[0], -1.5 / sd, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(x[4], 1.5 / sd, 1e-6);
    CU_ASSERT(x[3] == 0.0f && x[5] == 0.0f && x[6] == 0.0f && x[7] == 0.0f);

    /* random batch with lens 0 and R among them */
    const int32_t len[5] = {7, 0, 3, 1, 5};
    const pf_rl_shape s = {5, 7, len};
    float a[35], b[35];
    tu_fill_normal(a, 35, 3.0f, 11, 1);
    for (int k = 0; k < 35; k++)
        a[k] += 2.0f;
    memcpy(b, a, sizeof a);
    double m0, v0, m, v;
    valid_moments(&s, a, &m0, &v0);
    CU_ASSERT(pf_masked_whiten(&s, a, 1) == 16);
    valid_moments(&s, a, &m, &v);
    CU_ASSERT(fabs(m) < 1e-6);
    CU_ASSERT(fabs(v - 1.0) < 1e-5);
    CU_ASSERT(pf_masked_whiten(&s, b, 0) == 16);
    valid_moments(&s, b, &m, &v);
    CU_ASSERT(fabs(m - m0) < 1e-5); /* shift_mean 0: the mean is kept */
    CU_ASSERT(fabs(v - 1.0) < 1e-5);
    int pad_zero = 1;
    for (int i = 0; i < 5; i++)
        for (int t = len[i]; t < 7; t++)
            pad_zero &= a[i * 7 + t] == 0.0f && b[i * 7 + t] == 0.0f;
    CU_ASSERT(pad_zero);

    /* n = 1: v = 0, the one token becomes 0 (or keeps its value with shift_mean 0) */
    const int32_t len1[2] = {0, 1};
    const pf_rl_shape one = {2, 2, len1};
    float y[4] = {GARBAGE, GARBAGE, 3.5f, GARBAGE};
    CU_ASSERT(pf_masked_whiten(&one, y, 1) == 1);
    CU_ASSERT(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 0.0f);
    y[2] = 3.5f;
    CU_ASSERT(pf_masked_whiten(&one, y, 0) == 1);
    CU_ASSERT_DOUBLE_EQUAL(y[2], 3.5, 1e-6);
    /* n = 0: nothing valid, padding zeroed */
    const int32_t len0[1] = {0};
    const pf_rl_shape none = {1, 2, len0};
    float z[2] = {GARBAGE, GARBAGE};
    CU_ASSERT(pf_masked_whiten(&none, z, 1) == 0);
    CU_ASSERT(z[0] == 0.0f && z[1] == 0.0f);
}

static void test_kl_estimators(void)
{
    /* logp = -1, ref = -1.5: k1 = 0.5; k3 = e^-0.5 - 1 + 0.5 = 0.10653065971263342 */
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_token(PF_KL_K1, -1.0, -1.5), 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_token(PF_KL_K3, -1.0, -1.5), 0.10653065971263342, 1e-15);
    /* logp = -2, ref = -1: k1 = -1; k3 = e - 2 */
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_token(PF_KL_K1, -2.0, -1.0), -1.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_token(PF_KL_K3, -2.0, -1.0), exp(1.0) - 2.0, 1e-14);
    int nonneg = 1, exact_zero = 1;
    for (double lp = -6.0; lp <= 0.0; lp += 0.37) {
        for (double rp = -6.0; rp <= 0.0; rp += 0.41)
            nonneg &= pf_kl_token(PF_KL_K3, lp, rp) >= 0.0;
        exact_zero &= pf_kl_token(PF_KL_K1, lp, lp) == 0.0 && pf_kl_token(PF_KL_K3, lp, lp) == 0.0;
    }
    CU_ASSERT(nonneg);
    CU_ASSERT(exact_zero);
    /* tiny differences keep their digits: k3 ~ d^2 / 2 */
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_token(PF_KL_K3, -1.0, -1.0 + 1e-6) / 5e-13, 1.0, 1e-5);
}

/* Central difference in logp_new of the PPO policy loss. */
static double pg_fd(double adv, double lp, double lo, double clip)
{
    const double h = 1e-6;
    double d;
    pf_pg_stats st = {0};
    return (pf_ppo_pg_token(adv, lp + h, lo, clip, &d, &st) -
            pf_ppo_pg_token(adv, lp - h, lo, clip, &d, &st)) /
           (2 * h);
}

static void test_ppo_policy_token(void)
{
    pf_pg_stats st = {0};
    double d;
    /* ratio exactly 1: loss = -adv, dlogp = -adv, nothing clipped */
    CU_ASSERT_DOUBLE_EQUAL(pf_ppo_pg_token(0.7, -1.3, -1.3, 0.2, &d, &st), -0.7, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, -0.7, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_ppo_pg_token(-0.4, -2.0, -2.0, 0.2, &d, &st), 0.4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.4, 1e-15);
    CU_ASSERT(st.n == 2.0 && st.clipped == 0.0 && st.approxkl == 0.0);
    CU_ASSERT(st.ratio == 2.0 && st.ratio_sq == 2.0);
    CU_ASSERT_DOUBLE_EQUAL(st.loss, -0.3, 1e-15);

    /* cliprange 0.2: ratios 0.5, 0.9, 1.1, 1.5 for adv of both signs. Clipped (gradient
     * 0, clipped term strictly larger): adv > 0 with r = 1.5 (loss -1.2 adv) and adv < 0
     * with r = 0.5 (loss -0.8 adv); otherwise loss = -adv r and dlogp = -adv r. */
    const double ratios[4] = {0.5, 0.9, 1.1, 1.5}, advs[2] = {1.3, -0.6};
    memset(&st, 0, sizeof st);
    for (int a = 0; a < 2; a++)
        for (int k = 0; k < 4; k++) {
            const double adv = advs[a], r = ratios[k], lo = -1.0, lp = lo + log(r);
            const int clipped = (adv > 0 && r > 1.2) || (adv < 0 && r < 0.8);
            const double loss = pf_ppo_pg_token(adv, lp, lo, 0.2, &d, &st);
            const double want = clipped ? -adv * (r > 1 ? 1.2 : 0.8) : -adv * r;
            CU_ASSERT_DOUBLE_EQUAL(loss, want, 1e-12);
            CU_ASSERT_DOUBLE_EQUAL(d, clipped ? 0.0 : -adv * r, 1e-12);
            CU_ASSERT_DOUBLE_EQUAL(d, pg_fd(adv, lp, lo, 0.2), 1e-8);
        }
    CU_ASSERT(st.clipped == 2.0 && st.n == 8.0);
    /* approxkl = 0.5 * sum log(r)^2 over the 8 tokens, ratio sums */
    double kl = 0.0, rs = 0.0, rsq = 0.0;
    for (int k = 0; k < 4; k++) {
        kl += log(ratios[k]) * log(ratios[k]);
        rs += ratios[k];
        rsq += ratios[k] * ratios[k];
    }
    CU_ASSERT_DOUBLE_EQUAL(st.approxkl, kl, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(st.ratio, 2 * rs, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(st.ratio_sq, 2 * rsq, 1e-12);
    /* adv = 0: a tie outside the range, zero loss and gradient */
    CU_ASSERT_DOUBLE_EQUAL(pf_ppo_pg_token(0.0, log(1.5), 0.0, 0.2, &d, &st), 0.0, 0.0);
    CU_ASSERT(d == 0.0);
}

/* Central difference in v_new of the PPO value loss. */
static double vf_fd(double v, double vo, double ret, double clip)
{
    const double h = 1e-6;
    double d;
    pf_vf_stats st = {0};
    return (pf_ppo_vf_token(v + h, vo, ret, clip, &d, &st) -
            pf_ppo_vf_token(v - h, vo, ret, clip, &d, &st)) /
           (2 * h);
}

static void test_ppo_value_token(void)
{
    /* v_old = 1, clip 0.2 (vclip in [0.8, 1.2]); {v_new, ret, expected loss, dv, clipped}:
     *   1.1, 2.0: inside, l1 = l2 = 0.81                  -> 0.405, dv = -0.9
     *   1.5, 2.0: vclip 1.2, l1 = 0.25 < l2 = 0.64        -> 0.32, dv = 0 (clipped)
     *   0.5, 2.0: vclip 0.8, l1 = 2.25 > l2 = 1.44        -> 1.125, dv = -1.5
     *   1.5, 0.0: vclip 1.2, l1 = 2.25 > l2 = 1.44        -> 1.125, dv = 1.5
     *   1.5, 0.9: vclip 1.2, l1 = 0.36 > l2 = 0.09        -> 0.18, dv = 0.6
     *   0.7, 0.5: vclip 0.8, l1 = 0.04 < l2 = 0.09        -> 0.045, dv = 0 (clipped) */
    const double c[6][5] = {{1.1, 2.0, 0.405, -0.9, 0}, {1.5, 2.0, 0.32, 0.0, 1},
                            {0.5, 2.0, 1.125, -1.5, 0}, {1.5, 0.0, 1.125, 1.5, 0},
                            {1.5, 0.9, 0.18, 0.6, 0},   {0.7, 0.5, 0.045, 0.0, 1}};
    pf_vf_stats st = {0};
    double sum = 0.0;
    for (int k = 0; k < 6; k++) {
        double dv, before = st.clipped;
        double loss = pf_ppo_vf_token(c[k][0], 1.0, c[k][1], 0.2, &dv, &st);
        sum += c[k][2];
        CU_ASSERT_DOUBLE_EQUAL(loss, c[k][2], 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(dv, c[k][3], 1e-12);
        CU_ASSERT(st.clipped - before == c[k][4]);
        if (k > 0) /* k = 0 is inside the range: smooth too, but checked by hand above */
            CU_ASSERT_DOUBLE_EQUAL(dv, vf_fd(c[k][0], 1.0, c[k][1], 0.2), 1e-8);
    }
    CU_ASSERT_DOUBLE_EQUAL(vf_fd(1.1, 1.0, 2.0, 0.2), -0.9, 1e-8);
    CU_ASSERT(st.n == 6.0 && st.clipped == 2.0);
    CU_ASSERT_DOUBLE_EQUAL(st.loss, sum, 1e-12);
    /* torch's ties (checked against torch 1.13 autograd), in dyadic numbers so that they
     * are exact: v_old 1, clip 0.25, ret 1.625. v_new = 2 lies outside (vclip 1.25) and
     * l1 = l2 = 0.375^2: max splits the gradient, 0.5 * 0.375 + 0.5 * 0 = 0.1875.
     * v_new = 1.25 sits on the bound: clamp passes the gradient, dv = -0.375. */
    double dv;
    memset(&st, 0, sizeof st);
    CU_ASSERT_DOUBLE_EQUAL(pf_ppo_vf_token(2.0, 1.0, 1.625, 0.25, &dv, &st), 0.0703125, 0);
    CU_ASSERT_DOUBLE_EQUAL(dv, 0.1875, 0);
    CU_ASSERT_DOUBLE_EQUAL(pf_ppo_vf_token(1.25, 1.0, 1.625, 0.25, &dv, &st), 0.0703125, 0);
    CU_ASSERT_DOUBLE_EQUAL(dv, -0.375, 0);
    CU_ASSERT(st.clipped == 0.0); /* ties are not clipped */
}

/* Compares adv[0..n) with want[0..n) within tol. */
static void assert_vec(const double *adv, const double *want, int n, double tol)
{
    for (int k = 0; k < n; k++)
        CU_ASSERT_DOUBLE_EQUAL(adv[k], want[k], tol);
}

static void test_grpo_advantages(void)
{
    /* G = 3: groups {1, 2, 3} (mean 2, std sqrt((1 + 0 + 1) / 2) = 1) and {0.5, 0.5, 0.5}
     * (std 0). Batch: mean 7.5 / 6 = 1.25, squares 0.0625 + 0.5625 + 3.0625 + 3 * 0.5625
     * = 5.375, unbiased variance 5.375 / 5 = 1.075. */
    const double r3[6] = {1, 2, 3, 0.5, 0.5, 0.5};
    double adv[6];
    pf_grpo_group_stats st;
    pf_grpo_advantages(r3, 6, 3, PF_SCALE_GROUP, adv, &st);
    const double g = 1.0 / 1.0001, b = 1.0 / (sqrt(1.075) + 1e-4);
    assert_vec(adv, (const double[6]){-g, 0, g, 0, 0, 0}, 6, 1e-15);
    CU_ASSERT(adv[3] == 0.0 && adv[4] == 0.0 && adv[5] == 0.0); /* zero-std group: exactly 0 */
    CU_ASSERT_DOUBLE_EQUAL(st.reward_mean, 1.25, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(st.reward_std, 0.5, 1e-15); /* (1 + 0) / 2 */
    CU_ASSERT_DOUBLE_EQUAL(st.frac_zero_std, 0.5, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(st.batch_std, sqrt(1.075), 1e-15);
    pf_grpo_advantages(r3, 6, 3, PF_SCALE_BATCH, adv, NULL);
    assert_vec(adv, (const double[6]){-b, 0, b, 0, 0, 0}, 6, 1e-15);
    pf_grpo_advantages(r3, 6, 3, PF_SCALE_NONE, adv, &st);
    assert_vec(adv, (const double[6]){-1, 0, 1, 0, 0, 0}, 6, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(st.frac_zero_std, 0.5, 0.0);

    /* G = 2: {1, 3} mean 2 std sqrt(2); {2, 2} std 0; {0, 1} mean 0.5 std sqrt(0.5).
     * Note 0.1-type rewards: {0.1, 0.1} must still give std exactly 0. */
    const double r2[8] = {1, 3, 2, 2, 0, 1, 0.1, 0.1};
    const double s2 = 1.0 / (sqrt(2.0) + 1e-4), sh = 0.5 / (sqrt(0.5) + 1e-4);
    double a8[8];
    pf_grpo_advantages(r2, 8, 2, PF_SCALE_GROUP, a8, &st);
    assert_vec(a8, (const double[8]){-s2, s2, 0, 0, -sh, sh, 0, 0}, 8, 1e-15);
    CU_ASSERT(a8[6] == 0.0 && a8[7] == 0.0);
    CU_ASSERT_DOUBLE_EQUAL(st.frac_zero_std, 0.5, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(st.reward_std, (sqrt(2.0) + sqrt(0.5)) / 4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(st.reward_mean, 9.2 / 8, 1e-15);
    pf_grpo_advantages(r2, 6, 2, PF_SCALE_NONE, a8, &st); /* the first three groups */
    assert_vec(a8, (const double[6]){-1, 1, 0, 0, -0.5, 0.5}, 6, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(st.frac_zero_std, 1.0 / 3, 1e-15);
}

/* Central difference in logp_new of the GRPO token loss. */
static double grpo_fd(double adv, double lp, double lo, double ref, double beta)
{
    const double h = 1e-6;
    double d;
    pf_grpo_stats st = {0};
    return (pf_grpo_token(adv, lp + h, lo, ref, 0.2, 0.28, beta, &d, &st) -
            pf_grpo_token(adv, lp - h, lo, ref, 0.2, 0.28, beta, &d, &st)) /
           (2 * h);
}

static void test_grpo_token(void)
{
    pf_grpo_stats st = {0};
    double d;
    /* r = 1, ref = logp - 0.5 (d = -0.5): loss = -adv + beta (e^-0.5 - 1 + 0.5),
     * dlogp = -adv + beta (1 - e^-0.5) */
    double loss = pf_grpo_token(0.8, -1.0, -1.0, -1.5, 0.2, 0.28, 0.1, &d, &st);
    CU_ASSERT_DOUBLE_EQUAL(loss, -0.8 + 0.1 * 0.10653065971263342, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, -0.8 + 0.1 * (1 - exp(-0.5)), 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(st.kl, 0.10653065971263342, 1e-15);
    /* beta = 0: no KL in the loss, but the kl sum still grows */
    loss = pf_grpo_token(0.8, -1.0, -1.0, -1.5, 0.2, 0.28, 0.0, &d, &st);
    CU_ASSERT_DOUBLE_EQUAL(loss, -0.8, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, -0.8, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(st.kl, 2 * 0.10653065971263342, 1e-15);
    CU_ASSERT(st.clip_low == 0.0 && st.clip_high == 0.0 && st.n == 2.0);

    /* eps_low 0.2, eps_high 0.28: ratios 0.5, 0.9, 1.1, 1.5 for both adv signs and both
     * betas. Low clip: r = 0.5, adv < 0; high clip: r = 1.5, adv > 0 (gradient of the
     * surrogate 0 there); elsewhere the surrogate's gradient is -adv r. */
    const double ratios[4] = {0.5, 0.9, 1.1, 1.5}, advs[2] = {1.3, -0.6}, betas[2] = {0.0, 0.04};
    memset(&st, 0, sizeof st);
    for (int bi = 0; bi < 2; bi++)
        for (int a = 0; a < 2; a++)
            for (int k = 0; k < 4; k++) {
                const double adv = advs[a], r = ratios[k], lo = -1.2, lp = lo + log(r);
                const double ref = lp + 0.3 * (k - 1.5), beta = betas[bi];
                const int clipped = (adv > 0 && r > 1.28) || (adv < 0 && r < 0.8);
                loss = pf_grpo_token(adv, lp, lo, ref, 0.2, 0.28, beta, &d, &st);
                const double k3 = exp(ref - lp) - (ref - lp) - 1;
                const double surr = clipped ? -adv * (r > 1 ? 1.28 : 0.8) : -adv * r;
                CU_ASSERT_DOUBLE_EQUAL(loss, surr + beta * k3, 1e-12);
                const double dk3 = beta * (1 - exp(ref - lp));
                CU_ASSERT_DOUBLE_EQUAL(d, (clipped ? 0.0 : -adv * r) + dk3, 1e-12);
                CU_ASSERT_DOUBLE_EQUAL(d, grpo_fd(adv, lp, lo, ref, beta), 1e-8);
            }
    CU_ASSERT(st.clip_low == 2.0 && st.clip_high == 2.0 && st.n == 16.0);
    /* r = 1.25 lies above 1 + eps_low but below 1 + eps_high: not clipped, either way */
    memset(&st, 0, sizeof st);
    loss = pf_grpo_token(1.0, log(1.25), 0.0, 0.0, 0.2, 0.28, 0.0, &d, &st);
    CU_ASSERT_DOUBLE_EQUAL(loss, -1.25, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(d, -1.25, 1e-12);
    CU_ASSERT(st.clip_high == 0.0 && st.clip_low == 0.0);
    pf_grpo_token(-1.0, log(0.75), 0.0, 0.0, 0.2, 0.28, 0.0, &d, &st);
    CU_ASSERT(st.clip_low == 1.0); /* r = 0.75 < 1 - eps_low with adv < 0 */
    CU_ASSERT_DOUBLE_EQUAL(d, 0.0, 0);
    /* r = 0.5 with adv > 0 and r = 1.5 with adv < 0 are not clipped (the min keeps the
     * unclipped term): counted above as neither low nor high. */
}

static void test_grpo_token_weights(void)
{
    CU_ASSERT_DOUBLE_EQUAL(pf_grpo_token_weight(PF_GRPO_LOSS_GRPO, 4, 2, 16, 10), 0.125, 0);
    CU_ASSERT_DOUBLE_EQUAL(pf_grpo_token_weight(PF_GRPO_LOSS_GRPO, 0, 2, 16, 10), 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(pf_grpo_token_weight(PF_GRPO_LOSS_DR_GRPO, 4, 2, 16, 10), 1.0 / 32, 0);
    CU_ASSERT_DOUBLE_EQUAL(pf_grpo_token_weight(PF_GRPO_LOSS_DAPO, 4, 2, 16, 10), 0.1, 0);
    /* lens 3, 5, 2 in one mini-batch of 3 sequences (10 tokens, limit 8): the weights of
     * every token sum to 1 for grpo and dapo, and to 10 / 24 for dr_grpo */
    const int lens[3] = {3, 5, 2};
    double sum[PF_GRPO_LOSS_COUNT] = {0};
    for (int t = 0; t < PF_GRPO_LOSS_COUNT; t++)
        for (int i = 0; i < 3; i++)
            sum[t] += lens[i] * pf_grpo_token_weight((pf_grpo_loss_type)t, lens[i], 3, 8, 10);
    CU_ASSERT_DOUBLE_EQUAL(sum[PF_GRPO_LOSS_GRPO], 1.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(sum[PF_GRPO_LOSS_DR_GRPO], 10.0 / 24, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(sum[PF_GRPO_LOSS_DAPO], 1.0, 1e-15);
}

static void test_kl_controller(void)
{
    /* coef 0.1, target 6, horizon 10000, 64 rollouts: n / horizon = 0.0064
     *   kl 6.6: e = 0.1              -> 0.1 * (1 + 0.1 * 0.0064) = 0.100064
     *   kl 12:  e = 1 -> clamp 0.2   -> 0.1 * 1.00128 = 0.100128
     *   kl 0:   e = -1 -> clamp -0.2 -> 0.1 * 0.99872 = 0.099872
     *   kl 6:   e = 0                -> 0.1 */
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_adaptive_update(0.1, 6.6, 6.0, 10000, 64), 0.100064, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_adaptive_update(0.1, 12.0, 6.0, 10000, 64), 0.100128, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_adaptive_update(0.1, 0.0, 6.0, 10000, 64), 0.099872, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_adaptive_update(0.1, 6.0, 6.0, 10000, 64), 0.1, 0);
    CU_ASSERT_DOUBLE_EQUAL(pf_kl_adaptive_update(0.1, 5.4, 6.0, 100, 50), 0.1 * 0.95, 1e-15);
}

static void test_parse(void)
{
    pf_kl_estimator k = PF_KL_K1;
    pf_grpo_scale s = PF_SCALE_GROUP;
    pf_grpo_loss_type l = PF_GRPO_LOSS_GRPO;
    CU_ASSERT(pf_kl_estimator_parse("k3", &k) == 0 && k == PF_KL_K3);
    CU_ASSERT(pf_kl_estimator_parse("k1", &k) == 0 && k == PF_KL_K1);
    CU_ASSERT(pf_kl_estimator_parse("k2", &k) == -1 && k == PF_KL_K1);
    CU_ASSERT(pf_kl_estimator_parse("K1", &k) == -1);
    CU_ASSERT(pf_grpo_scale_parse("batch", &s) == 0 && s == PF_SCALE_BATCH);
    CU_ASSERT(pf_grpo_scale_parse("none", &s) == 0 && s == PF_SCALE_NONE);
    CU_ASSERT(pf_grpo_scale_parse("group", &s) == 0 && s == PF_SCALE_GROUP);
    CU_ASSERT(pf_grpo_scale_parse("", &s) == -1 && s == PF_SCALE_GROUP);
    CU_ASSERT(pf_grpo_loss_type_parse("dr_grpo", &l) == 0 && l == PF_GRPO_LOSS_DR_GRPO);
    CU_ASSERT(pf_grpo_loss_type_parse("dapo", &l) == 0 && l == PF_GRPO_LOSS_DAPO);
    CU_ASSERT(pf_grpo_loss_type_parse("grpo", &l) == 0 && l == PF_GRPO_LOSS_GRPO);
    CU_ASSERT(pf_grpo_loss_type_parse("bnpo", &l) == -1 && l == PF_GRPO_LOSS_GRPO);
    CU_ASSERT(pf_grpo_loss_type_parse(NULL, &l) == -1);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"GAE by hand (V(len) = 0, zeros past the end)", test_gae_by_hand},
        {"PPO per-token rewards by hand", test_ppo_rewards_by_hand},
        {"masked whitening", test_whiten},
        {"KL estimators k1 / k3", test_kl_estimators},
        {"PPO policy token: values, gradients, clipping", test_ppo_policy_token},
        {"PPO value token: values, gradients, clipping", test_ppo_value_token},
        {"GRPO advantages by hand", test_grpo_advantages},
        {"GRPO token: values, gradients, clip counters", test_grpo_token},
        {"GRPO token weights", test_grpo_token_weights},
        {"adaptive KL controller", test_kl_controller},
        {"name parsers", test_parse},
        {NULL, NULL},
    };
    return pf_cunit_run("rl_math", cases);
}
