/*
 * rl_math.h: the arithmetic of PPO and GRPO on a rollout batch, free of models, ranks
 * and files: KL estimators, per-token rewards, masked whitening, GAE, the clipped
 * policy and value losses with their gradients, GRPO's group advantages and token
 * weights, and the adaptive KL controller (docs/algorithms.md has the formulas).
 *
 * Rollout layout: N sequences, per-token arrays [N, R] row-major (R = the longest
 * response allowed); sequence i has len[i] valid tokens (0 <= len[i] <= R) and the
 * cells t >= len[i] are padding, ignored on input and written as 0 on output.
 * Whole-batch statistics (whitening means and variances) are accumulated in double in
 * index order i = 0..N-1, t = 0..len[i]-1, so every rank holding the same batch
 * computes the same bits.
 */
#ifndef PREFOPT_RL_MATH_H
#define PREFOPT_RL_MATH_H

#include <stdint.h>

typedef enum { PF_KL_K1 = 0, PF_KL_K3, PF_KL_COUNT } pf_kl_estimator;

/* Parses "k1" / "k3"; returns 0, or -1 for another name. */
int pf_kl_estimator_parse(const char *name, pf_kl_estimator *out);

/* One token's KL estimate from the policy and reference log-probs of the sampled token:
 * k1 = logp - ref_logp; k3 = exp(ref_logp - logp) - 1 - (ref_logp - logp) (>= 0). */
double pf_kl_token(pf_kl_estimator est, double logp, double ref_logp);

/* The batch shape shared by the functions below. */
typedef struct {
    int N, R;
    const int32_t *len; /* [N] */
} pf_rl_shape;

/* PPO per-token rewards: rewards[i,t] = -kl_coef * kl[i,t] for t < len[i], plus
 * scores[i] at t = len[i] - 1 (a sequence with len 0 gets nothing); 0 past the end. */
void pf_ppo_rewards(const pf_rl_shape *s, const float *kl, const double *scores, double kl_coef,
                    float *rewards);

/* Whitens x over every valid token of the batch in place: mean m, unbiased variance
 * v = sum((x - m)^2) / (n - 1) (v = 0 when n < 2), x <- (x - m) / sqrt(v + 1e-8), then
 * + m again when shift_mean is 0 (TRL's masked_whiten). Padding is set to 0. Returns the
 * number n of valid tokens. */
int64_t pf_masked_whiten(const pf_rl_shape *s, float *x, int shift_mean);

/* Generalised advantage estimation per sequence, backwards over its valid tokens with
 * V(t) = values[i,t] and V(len[i]) = 0:
 *   delta_t = rewards_t + gamma * V(t+1) - V(t);  A_t = delta_t + gamma * lam * A_{t+1}
 * (A_{len} = 0); returns_t = A_t + V(t). Both outputs are 0 past the end. */
void pf_gae(const pf_rl_shape *s, const float *rewards, const float *values, double gamma,
            double lam, float *advantages, float *returns);

/* Running sums of the PPO policy loss over tokens (divide by n for the means). */
typedef struct {
    double loss;     /* sum of max(-A r, -A clip(r)) */
    double clipped;  /* tokens where the clipped term is the larger (strictly) */
    double approxkl; /* sum of 0.5 * (logp_new - logp_old)^2 */
    double ratio;    /* sum of r */
    double ratio_sq; /* sum of r^2 (for the ratio variance) */
    double n;        /* tokens */
} pf_pg_stats;

/* One token of PPO's clipped surrogate, r = exp(logp_new - logp_old):
 *   loss = max(-adv * r, -adv * clamp(r, 1 - cliprange, 1 + cliprange)).
 * Returns loss and writes *dlogp = d loss / d logp_new as torch autograd computes it
 * (torch.max splits the gradient evenly on ties, clamp passes it on [lo, hi] inclusive),
 * which is -adv * r when the unclipped term is selected or r lies inside the range, and
 * 0 when the clipped term is strictly larger and r lies outside it. Adds to *st. */
double pf_ppo_pg_token(double adv, double logp_new, double logp_old, double cliprange,
                       double *dlogp, pf_pg_stats *st);

/* Running sums of the PPO value loss over tokens. */
typedef struct {
    double loss;    /* sum of 0.5 * max((v - R)^2, (vclip - R)^2) */
    double clipped; /* tokens where the clipped term is strictly larger */
    double n;
} pf_vf_stats;

/* One token of PPO's clipped value loss with vclip = clamp(v_new, v_old - clip,
 * v_old + clip): loss = 0.5 * max((v_new - ret)^2, (vclip - ret)^2). Returns it, writes
 * *dv = d loss / d v_new (torch semantics as above) and adds to *st. */
double pf_ppo_vf_token(double v_new, double v_old, double ret, double cliprange_value, double *dv,
                       pf_vf_stats *st);

typedef enum { PF_SCALE_GROUP = 0, PF_SCALE_BATCH, PF_SCALE_NONE, PF_SCALE_COUNT } pf_grpo_scale;
typedef enum {
    PF_GRPO_LOSS_GRPO = 0,
    PF_GRPO_LOSS_DR_GRPO,
    PF_GRPO_LOSS_DAPO,
    PF_GRPO_LOSS_COUNT
} pf_grpo_loss_type;

/* Parse "group|batch|none" and "grpo|dr_grpo|dapo"; 0 or -1. */
int pf_grpo_scale_parse(const char *name, pf_grpo_scale *out);
int pf_grpo_loss_type_parse(const char *name, pf_grpo_loss_type *out);

/* Group statistics of a GRPO batch. */
typedef struct {
    double reward_mean;   /* mean reward over the batch */
    double reward_std;    /* mean over groups of the group's unbiased std */
    double frac_zero_std; /* share of groups whose std is 0 */
    double batch_std;     /* unbiased std over the whole batch */
} pf_grpo_group_stats;

/* GRPO advantages: rewards [N] in N / G consecutive groups of G samples of one prompt.
 * adv[i] = rewards[i] - mean(group), divided by (std(group) + 1e-4) for PF_SCALE_GROUP
 * or (std(batch) + 1e-4) for PF_SCALE_BATCH (stds unbiased, as torch.std), not divided
 * for PF_SCALE_NONE. Sums in double in index order. stats may be NULL. */
void pf_grpo_advantages(const double *rewards, int N, int G, pf_grpo_scale scale, double *adv,
                        pf_grpo_group_stats *stats);

/* Running sums of the GRPO loss over tokens. */
typedef struct {
    double loss;      /* sum of per-token losses (unweighted) */
    double kl;        /* sum of k3 KL */
    double clip_low;  /* tokens with r < 1 - eps_low and adv < 0 (TRL's low clip) */
    double clip_high; /* tokens with r > 1 + eps_high and adv > 0 */
    double n;
} pf_grpo_stats;

/* One GRPO token, r = exp(logp_new - logp_old):
 *   loss = -min(r * adv, clamp(r, 1 - eps_low, 1 + eps_high) * adv) + beta * k3
 * with k3 = exp(ref_logp - logp_new) - (ref_logp - logp_new) - 1 (only when beta > 0;
 * the kl sum is accumulated whatever beta). Returns the loss, writes *dlogp = d loss /
 * d logp_new (torch semantics: min splits ties evenly) and adds to *st. */
double pf_grpo_token(double adv, double logp_new, double logp_old, double ref_logp, double eps_low,
                     double eps_high, double beta, double *dlogp, pf_grpo_stats *st);

/* The weight of one token of a sequence holding len tokens in a mini-batch loss (the
 * mini-batch loss is the sum over its tokens of weight * token loss):
 *   grpo:    1 / (n_seq * max(len, 1))        (mean over sequences of token means)
 *   dr_grpo: 1 / (n_seq * max_len)            (max_len = the completion length limit)
 *   dapo:    1 / total_tokens                 (tokens of the whole mini-batch)     */
double pf_grpo_token_weight(pf_grpo_loss_type type, int len, int n_seq, int max_len,
                            double total_tokens);

/* Adaptive KL controller (Ziegler et al. 2019, TRL's AdaptiveKLController): with
 * e = clamp(current_kl / target - 1, -0.2, 0.2), returns coef * (1 + e * n_steps /
 * horizon). */
double pf_kl_adaptive_update(double coef, double current_kl, double target, double horizon,
                             int64_t n_steps);

#endif
