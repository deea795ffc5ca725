/*
 * rl_math.c: the arithmetic of PPO and GRPO (see rl_math.h for the contract). All
 * arithmetic is in double; per-token arrays are float and rounded once on store.
 * Gradients follow torch autograd: max/min split the gradient evenly on ties and clamp
 * passes it on its closed range [lo, hi].
 */
#include "prefopt/rl_math.h"

#include <math.h>
#include <string.h>

static const char *const KL_NAMES[] = {"k1", "k3"};
static const char *const SCALE_NAMES[] = {"group", "batch", "none"};
static const char *const LOSS_NAMES[] = {"grpo", "dr_grpo", "dapo"};
_Static_assert(sizeof KL_NAMES / sizeof KL_NAMES[0] == PF_KL_COUNT, "KL_NAMES");
_Static_assert(sizeof SCALE_NAMES / sizeof SCALE_NAMES[0] == PF_SCALE_COUNT, "SCALE_NAMES");
_Static_assert(sizeof LOSS_NAMES / sizeof LOSS_NAMES[0] == PF_GRPO_LOSS_COUNT, "LOSS_NAMES");

/* Index of name in names[count], or -1 (also for NULL). */
static int name_index(const char *name, const char *const *names, int count)
{
    for (int i = 0; name && i < count; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* "k1" / "k3". */
int pf_kl_estimator_parse(const char *name, pf_kl_estimator *out)
{
    int i = name_index(name, KL_NAMES, PF_KL_COUNT);
    if (i >= 0)
        *out = (pf_kl_estimator)i;
    return i >= 0 ? 0 : -1;
}

/* "group" / "batch" / "none". */
int pf_grpo_scale_parse(const char *name, pf_grpo_scale *out)
{
    int i = name_index(name, SCALE_NAMES, PF_SCALE_COUNT);
    if (i >= 0)
        *out = (pf_grpo_scale)i;
    return i >= 0 ? 0 : -1;
}

/* "grpo" / "dr_grpo" / "dapo". */
int pf_grpo_loss_type_parse(const char *name, pf_grpo_loss_type *out)
{
    int i = name_index(name, LOSS_NAMES, PF_GRPO_LOSS_COUNT);
    if (i >= 0)
        *out = (pf_grpo_loss_type)i;
    return i >= 0 ? 0 : -1;
}

/* k3 of d = ref_logp - logp: e^d - 1 - d, with expm1 so that small d keeps its digits. */
static double k3_of(double d) { return expm1(d) - d; }

/* k1 = logp - ref_logp, or k3 of ref_logp - logp. */
double pf_kl_token(pf_kl_estimator est, double logp, double ref_logp)
{
    return est == PF_KL_K3 ? k3_of(ref_logp - logp) : logp - ref_logp;
}

/* -kl_coef * kl on valid tokens, the score added on the last one, 0 past the end. */
void pf_ppo_rewards(const pf_rl_shape *s, const float *kl, const double *scores, double kl_coef,
                    float *rewards)
{
    for (int i = 0; i < s->N; i++) {
        const int len = s->len[i];
        const float *k = kl + (size_t)i * s->R;
        float *r = rewards + (size_t)i * s->R;
        for (int t = 0; t < s->R; t++) {
            double v = t < len ? -kl_coef * k[t] : 0.0;
            r[t] = (float)(t == len - 1 ? v + scores[i] : v);
        }
    }
}

/* Sets cells t >= len[i] of x to 0. */
static void zero_padding(const pf_rl_shape *s, float *x)
{
    for (int i = 0; i < s->N; i++)
        for (int t = s->len[i]; t < s->R; t++)
            x[(size_t)i * s->R + t] = 0.0f;
}

/* Mean m and unbiased variance v (0 when n < 2) of the valid tokens; returns n. */
static int64_t valid_moments(const pf_rl_shape *s, const float *x, double *m, double *v)
{
    double sum = 0.0, sq = 0.0;
    int64_t n = 0;
    for (int i = 0; i < s->N; i++)
        for (int t = 0; t < s->len[i]; t++, n++)
            sum += x[(size_t)i * s->R + t];
    *m = n > 0 ? sum / (double)n : 0.0;
    for (int i = 0; i < s->N; i++)
        for (int t = 0; t < s->len[i]; t++) {
            double d = x[(size_t)i * s->R + t] - *m;
            sq += d * d;
        }
    *v = n >= 2 ? sq / (double)(n - 1) : 0.0;
    return n;
}

/* TRL's masked_whiten over the valid tokens; padding set to 0. */
int64_t pf_masked_whiten(const pf_rl_shape *s, float *x, int shift_mean)
{
    double m, v;
    const int64_t n = valid_moments(s, x, &m, &v);
    const double inv = 1.0 / sqrt(v + 1e-8), add = shift_mean ? 0.0 : m;
    for (int i = 0; i < s->N; i++)
        for (int t = 0; t < s->len[i]; t++) {
            float *p = x + (size_t)i * s->R + t;
            *p = (float)((*p - m) * inv + add);
        }
    zero_padding(s, x);
    return n;
}

/* GAE backwards over each sequence's valid tokens from A_len = 0, V(len) = 0. */
void pf_gae(const pf_rl_shape *s, const float *rewards, const float *values, double gamma,
            double lam, float *advantages, float *returns)
{
    for (int i = 0; i < s->N; i++) {
        const size_t row = (size_t)i * s->R;
        double next_a = 0.0, next_v = 0.0; /* A_{len} = 0, V(len) = 0 */
        for (int t = s->len[i] - 1; t >= 0; t--) {
            const double v = values[row + t];
            const double delta = rewards[row + t] + gamma * next_v - v;
            next_a = delta + gamma * lam * next_a;
            next_v = v;
            advantages[row + t] = (float)next_a;
            returns[row + t] = (float)(next_a + v);
        }
    }
    zero_padding(s, advantages);
    zero_padding(s, returns);
}

/* The gradient torch gives to max(a, b) (or min, with select_a meaning a is the smaller)
 * where da, db are the derivatives of a and b: the selected one, half each on a tie. */
static double split_grad(double a, double b, int select_a, double da, double db)
{
    if (a == b)
        return 0.5 * (da + db);
    return select_a ? da : db;
}

/* clamp(x, lo, hi) and, in *inside, whether torch's clamp passes the gradient. */
static double clamp_in(double x, double lo, double hi, int *inside)
{
    *inside = x >= lo && x <= hi;
    return x < lo ? lo : x > hi ? hi : x;
}

/* max(-adv r, -adv clamp(r)), its torch gradient in logp_new and the running sums. */
double pf_ppo_pg_token(double adv, double logp_new, double logp_old, double cliprange,
                       double *dlogp, pf_pg_stats *st)
{
    const double diff = logp_new - logp_old, r = exp(diff);
    int inside;
    const double rc = clamp_in(r, 1.0 - cliprange, 1.0 + cliprange, &inside);
    const double l1 = -adv * r, l2 = -adv * rc;
    *dlogp = split_grad(l1, l2, l1 > l2, -adv * r, inside ? -adv * r : 0.0);
    const double loss = l1 > l2 ? l1 : l2;
    st->loss += loss;
    st->clipped += l2 > l1;
    st->approxkl += 0.5 * diff * diff;
    st->ratio += r;
    st->ratio_sq += r * r;
    st->n += 1.0;
    return loss;
}

/* 0.5 max((v - ret)^2, (vclip - ret)^2), its torch gradient in v_new and the sums. */
double pf_ppo_vf_token(double v_new, double v_old, double ret, double cliprange_value, double *dv,
                       pf_vf_stats *st)
{
    int inside;
    const double vc = clamp_in(v_new, v_old - cliprange_value, v_old + cliprange_value, &inside);
    const double l1 = (v_new - ret) * (v_new - ret), l2 = (vc - ret) * (vc - ret);
    /* d(0.5 * l1) = v_new - ret; d(0.5 * l2) = vc - ret where clamp passes the gradient */
    *dv = split_grad(l1, l2, l1 > l2, v_new - ret, inside ? vc - ret : 0.0);
    const double loss = 0.5 * (l1 > l2 ? l1 : l2);
    st->loss += loss;
    st->clipped += l2 > l1;
    st->n += 1.0;
    return loss;
}

/* Mean and unbiased std of x[0..n) (std 0 when n < 2), summed in index order around
 * x[0], so that identical values give their exact mean and a std of exactly 0 (their
 * advantages are then exactly 0; TRL counts zero-std groups with isclose(std, 0), which
 * agrees except for rewards differing by less than 1e-8). */
static void mean_std(const double *x, int n, double *mean, double *std)
{
    double s = 0.0, sq = 0.0;
    for (int i = 0; i < n; i++)
        s += x[i] - x[0];
    const double m = n > 0 ? x[0] + s / n : 0.0;
    for (int i = 0; i < n; i++)
        sq += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = n >= 2 ? sqrt(sq / (n - 1)) : 0.0;
}

/* Rewards centred on their group mean, scaled by a group / batch std or not at all. */
void pf_grpo_advantages(const double *rewards, int N, int G, pf_grpo_scale scale, double *adv,
                        pf_grpo_group_stats *stats)
{
    double bmean, bstd, std_sum = 0.0, zero = 0.0;
    mean_std(rewards, N, &bmean, &bstd);
    const int groups = G > 0 ? N / G : 0;
    for (int g = 0; g < groups; g++) {
        double m, sd;
        mean_std(rewards + (size_t)g * G, G, &m, &sd);
        std_sum += sd;
        zero += sd == 0.0;
        const double div = scale == PF_SCALE_GROUP   ? sd + 1e-4
                           : scale == PF_SCALE_BATCH ? bstd + 1e-4
                                                     : 1.0;
        for (int k = 0; k < G; k++)
            adv[g * G + k] = (rewards[g * G + k] - m) / div;
    }
    if (stats) {
        stats->reward_mean = bmean;
        stats->reward_std = groups > 0 ? std_sum / groups : 0.0;
        stats->frac_zero_std = groups > 0 ? zero / groups : 0.0;
        stats->batch_std = bstd;
    }
}

/* -min(r adv, clamp(r) adv) (+ beta k3), its torch gradient in logp_new and the sums. */
double pf_grpo_token(double adv, double logp_new, double logp_old, double ref_logp, double eps_low,
                     double eps_high, double beta, double *dlogp, pf_grpo_stats *st)
{
    const double r = exp(logp_new - logp_old), d = ref_logp - logp_new, k3 = k3_of(d);
    int inside;
    const double rc = clamp_in(r, 1.0 - eps_low, 1.0 + eps_high, &inside);
    const double a1 = r * adv, a2 = rc * adv;
    /* loss = -min(a1, a2): d(-a1) = -adv r, d(-a2) = -adv r inside the clamp, else 0 */
    double g = split_grad(a1, a2, a1 < a2, -adv * r, inside ? -adv * r : 0.0);
    double loss = -(a1 < a2 ? a1 : a2);
    if (beta > 0.0) {
        loss += beta * k3;
        g += beta * (1.0 - exp(d)); /* d k3 / d logp_new = 1 - e^d */
    }
    *dlogp = g;
    st->loss += loss;
    st->kl += k3;
    st->clip_low += r < 1.0 - eps_low && adv < 0.0;
    st->clip_high += r > 1.0 + eps_high && adv > 0.0;
    st->n += 1.0;
    return loss;
}

/* The weight of a token in the mini-batch loss of each loss type. */
double pf_grpo_token_weight(pf_grpo_loss_type type, int len, int n_seq, int max_len,
                            double total_tokens)
{
    switch (type) {
    case PF_GRPO_LOSS_GRPO:
        return 1.0 / ((double)n_seq * (len > 1 ? len : 1));
    case PF_GRPO_LOSS_DR_GRPO:
        return 1.0 / ((double)n_seq * max_len);
    case PF_GRPO_LOSS_DAPO: /* an empty mini-batch has no token to weight */
        return total_tokens > 0.0 ? 1.0 / total_tokens : 0.0;
    default:
        return 0.0;
    }
}

/* coef * (1 + clamp(kl / target - 1, +-0.2) * n_steps / horizon). */
double pf_kl_adaptive_update(double coef, double current_kl, double target, double horizon,
                             int64_t n_steps)
{
    double e = current_kl / target - 1.0;
    e = e < -0.2 ? -0.2 : e > 0.2 ? 0.2 : e;
    return coef * (1.0 + e * (double)n_steps / horizon);
}
