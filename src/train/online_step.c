/*
 * online_step.c: one ppo / grpo iteration after the rollouts: advantages on the
 * replicated batch, then epochs x mini-batches of clipped updates of the policy (and,
 * for ppo, of the critic), then the iteration's metrics (TRL names).
 *
 * Every rank holds the whole rollout batch (rollout.c), so advantages, whitening and
 * group statistics are computed identically everywhere; mini-batch normalisers (token
 * counts) are known before any forward; gradients are summed exactly (dist.h).
 */
#include <math.h>
#include <string.h>

#include "online_internal.h"
#include "prefopt/error.h"

/* Per-micro-batch sums of one mini-batch update. */
enum {
    S_LOSS,      /* weighted loss (policy, or vf_coef * value) */
    S_PG_LOSS,   /* token losses, unweighted */
    S_CLIPPED,   /* ppo: clipped tokens */
    S_APPROXKL,  /* sum 0.5 (dlogp)^2 */
    S_RATIO,     /* sum of ratios */
    S_RATIO_SQ,  /* sum of squared ratios */
    S_RATIO_DEV, /* sum |ratio - 1| */
    S_TOKENS,
    S_KL,      /* grpo: k3 */
    S_CLIP_LO, /* grpo */
    S_CLIP_HI, /* grpo */
    S_VF_LOSS,
    S_VF_CLIP,
    S_COUNT
};
_Static_assert((int)S_COUNT <= (int)PF_ONLINE_SLOTS, "online_internal.h: raise PF_ONLINE_SLOTS");

/* A model trained by update passes, with its optimizer and exact accumulator. */
typedef struct {
    pf_model *model;
    pf_adamw *opt;
    pf_exact_accum *acc;
    float *grad; /* reduced gradient */
} trained_model;

/* One micro-batch's forward, loss gradient and backward; adds its sums into slot. */
typedef int (*micro_fn)(pf_trainer *tr, const int32_t *seqs, int n, double ntok, double *slot);

/* Rollout-time arrays -> kl, rewards, advantages and returns (ppo) or sequence
 * advantages (grpo); kl is filled for both. */
static void compute_advantages(pf_trainer *tr, pf_grpo_group_stats *gs)
{
    pf_online *on = tr->online;
    pf_rollout *r = &on->roll;
    const pf_config *c = tr->cfg;
    pf_rl_shape s = {on->N, on->R, r->len};
    for (int j = 0; j < on->N; j++)
        for (int t = 0; t < on->R; t++) {
            size_t i = (size_t)j * on->R + t;
            r->kl[i] =
                t < r->len[j] ? (float)pf_kl_token(on->kl_est, r->logp[i], r->ref_logp[i]) : 0.0f;
        }
    if (!on->is_ppo) {
        pf_grpo_advantages(r->score, on->N, on->G, on->scale, r->seq_adv, gs);
        return;
    }
    pf_ppo_rewards(&s, r->kl, r->score, on->kl_coef, r->rewards);
    if (c->ppo_whiten_rewards)
        pf_masked_whiten(&s, r->rewards, 0);
    pf_gae(&s, r->rewards, r->values, c->ppo_gamma, c->ppo_lam, r->adv, r->ret);
    pf_masked_whiten(&s, r->adv, 1);
}

/* Prompt length of rollout sequence j. */
static int prompt_len(const pf_online *on, int j)
{
    return (int)on->train.ids[on->roll.prompt[j]].len;
}

/* The policy loss of one token; writes d(loss)/d(logp) into *d. */
static double policy_token(pf_trainer *tr, int j, int t, double lp, double *d, double *slot)
{
    pf_online *on = tr->online;
    const pf_config *c = tr->cfg;
    const size_t i = (size_t)j * on->R + t;
    const double old = on->roll.logp[i], diff = lp - old, ratio = exp(diff);
    slot[S_APPROXKL] += 0.5 * diff * diff;
    slot[S_RATIO] += ratio, slot[S_RATIO_SQ] += ratio * ratio;
    slot[S_RATIO_DEV] += fabs(ratio - 1.0);
    slot[S_TOKENS] += 1.0;
    if (on->is_ppo) {
        pf_pg_stats st = {0};
        double loss = pf_ppo_pg_token(on->roll.adv[i], lp, old, c->ppo_cliprange, d, &st);
        slot[S_CLIPPED] += st.clipped;
        return loss;
    }
    pf_grpo_stats st = {0};
    const double hi = c->grpo_epsilon_high > 0 ? c->grpo_epsilon_high : c->grpo_epsilon;
    double loss = pf_grpo_token(on->roll.seq_adv[j], lp, old, on->roll.ref_logp[i], c->grpo_epsilon,
                                hi, c->grpo_beta, d, &st);
    slot[S_KL] += st.kl, slot[S_CLIP_LO] += st.clip_low, slot[S_CLIP_HI] += st.clip_high;
    return loss;
}

/* The weight of sequence j's tokens in the mini-batch loss. */
static double token_weight(const pf_trainer *tr, int j, double ntok)
{
    const pf_online *on = tr->online;
    if (on->is_ppo)
        return 1.0 / ntok;
    const int mb_seqs = on->N / on->mini_batches;
    return pf_grpo_token_weight(on->loss_type, on->roll.len[j], mb_seqs, on->R, ntok);
}

/* Policy micro-batch: forward at the sampling temperature, clipped surrogate, backward. */
static int policy_micro(pf_trainer *tr, const int32_t *seqs, int n, double ntok, double *slot)
{
    pf_online *on = tr->online;
    pf_micro_scratch *mb = &on->mb;
    const int T = pf_rollout_pack(tr, &on->train, seqs, n);
    pf_batch b = {.tokens = mb->tokens, .lengths = mb->lengths, .B = n, .T = T};
    pf_forward_out out = {
        .logprobs = mb->logp, .temperature = on->sampling.temperature, .need = mb->need};
    int rc = pf_model_forward(tr->policy, tr->ws, &b, &out);
    if (rc)
        return rc;
    memset(mb->dlogp, 0, sizeof(float) * (size_t)n * T);
    for (int i = 0; i < n; i++) {
        const int j = seqs[i], base = i * T + prompt_len(on, j) - 1;
        const double w = token_weight(tr, j, ntok);
        for (int t = 0; t < on->roll.len[j]; t++) {
            double d = 0.0, loss = policy_token(tr, j, t, mb->logp[base + t], &d, slot);
            slot[S_PG_LOSS] += loss;
            slot[S_LOSS] += w * loss;
            mb->dlogp[base + t] = (float)(w * d);
        }
    }
    pf_model_zero_grads(tr->policy);
    return pf_model_backward(tr->policy, tr->ws, mb->dlogp, NULL);
}

/* Critic micro-batch: values, clipped value loss (times vf_coef), backward. */
static int critic_micro(pf_trainer *tr, const int32_t *seqs, int n, double ntok, double *slot)
{
    pf_online *on = tr->online;
    pf_micro_scratch *mb = &on->mb;
    const double vf_coef = tr->cfg->ppo_vf_coef, clip = tr->cfg->ppo_cliprange_value;
    const int T = pf_rollout_pack(tr, &on->train, seqs, n);
    pf_batch b = {.tokens = mb->tokens, .lengths = mb->lengths, .B = n, .T = T};
    pf_forward_out out = {.values = mb->values, .temperature = 1.0f};
    int rc = pf_model_forward(on->critic, on->critic_ws, &b, &out);
    if (rc)
        return rc;
    memset(mb->dvalues, 0, sizeof(float) * (size_t)n * T);
    for (int i = 0; i < n; i++) {
        const int j = seqs[i], base = i * T + prompt_len(on, j) - 1;
        for (int t = 0; t < on->roll.len[j]; t++) {
            const size_t k = (size_t)j * on->R + t;
            pf_vf_stats st = {0};
            double dv = 0.0;
            double loss = pf_ppo_vf_token(mb->values[base + t], on->roll.values[k], on->roll.ret[k],
                                          clip, &dv, &st);
            slot[S_VF_LOSS] += loss, slot[S_VF_CLIP] += st.clipped;
            slot[S_LOSS] += vf_coef * loss / ntok;
            mb->dvalues[base + t] = (float)(vf_coef * dv / ntok);
        }
    }
    pf_model_zero_grads(on->critic);
    return pf_model_backward(on->critic, on->critic_ws, NULL, mb->dvalues);
}

/* This rank's micro-batches of one mini-batch and the exact gradient sum. */
static int pass_gradient(pf_trainer *tr, trained_model *tm, micro_fn fn, const int32_t *seqs,
                         int n_micro, double ntok, int *retry)
{
    pf_online *on = tr->online;
    const int per_rank = n_micro / tr->world;
    const size_t np = pf_model_num_params(tm->model);
    memset(on->slots, 0, sizeof(double) * (size_t)n_micro * S_COUNT);
    if (tm->acc)
        pf_exact_accum_reset(tm->acc);
    else
        memset(tm->grad, 0, sizeof(float) * np);
    int rc = PF_OK;
    for (int k = tr->rank * per_rank; k < (tr->rank + 1) * per_rank && !rc; k++) {
        rc = fn(tr, seqs + (size_t)k * on->M, on->M, ntok, on->slots + (size_t)k * S_COUNT);
        const float *g = pf_model_grads(tm->model);
        if (!rc && tm->acc)
            pf_exact_accum_add(tm->acc, g);
        else if (!rc)
            for (size_t i = 0; i < np; i++)
                tm->grad[i] += g[i];
    }
    rc = pf_dist_agree(rc);
    if (rc)
        return rc;
    *retry = 0;
    return tm->acc ? pf_exact_accum_allreduce(tm->acc, tm->grad, retry)
                   : pf_dist_allreduce_float(tm->grad, np);
}

/* One optimizer update of tm over a mini-batch; sums[S_COUNT] receives the mini-batch's
 * sums (micro-batch order) and *norm the gradient norm before clipping. */
static int update_pass(pf_trainer *tr, trained_model *tm, micro_fn fn, const int32_t *seqs,
                       int n_seqs, double lr, double *sums, double *norm, int *retries)
{
    pf_online *on = tr->online;
    const int n_micro = n_seqs / on->M;
    double ntok = 0.0;
    for (int i = 0; i < n_seqs; i++)
        ntok += on->roll.len[seqs[i]];
    int retry = 0, rc;
    do {
        rc = pass_gradient(tr, tm, fn, seqs, n_micro, ntok, &retry);
        *retries += retry;
    } while (!rc && retry);
    if (!rc)
        rc = pf_dist_gather_slots(on->slots, (size_t)n_micro * S_COUNT);
    if (rc)
        return rc;
    memset(sums, 0, sizeof(double) * S_COUNT);
    for (int k = 0; k < n_micro; k++)
        for (int s = 0; s < S_COUNT; s++)
            sums[s] += on->slots[(size_t)k * S_COUNT + s];
    const size_t np = pf_model_num_params(tm->model);
    *norm = pf_grad_global_norm(tm->grad, np);
    if (!isfinite(*norm) || !isfinite(sums[S_LOSS]))
        return pf_fail(PF_ERR_RUNTIME, "step %lld: %s is not finite (loss %g, gradient norm %g)",
                       (long long)tr->step + 1, tm->model == tr->policy ? "policy" : "critic",
                       sums[S_LOSS], *norm);
    pf_grad_clip(tm->grad, np, *norm, tr->cfg->grad_clip);
    memcpy(pf_model_grads(tm->model), tm->grad, sizeof(float) * np);
    pf_adamw_step(tm->opt, tm->model, (float)lr);
    return PF_OK;
}

/* Metric accumulators of the updates of one iteration. */
typedef struct {
    double loss, pg_loss, vf_loss, approxkl, clipfrac, vf_clipfrac, ratio, ratio_sq, kl;
    double clip_lo, clip_hi, grad_norm, critic_grad_norm, first_dev, first_approxkl;
    int updates, retries;
} update_stats;

/* Adds one mini-batch's sums to the iteration's update statistics. */
static void add_update(update_stats *u, const double *p, const double *v, double norm)
{
    const double n = p[S_TOKENS] > 0 ? p[S_TOKENS] : 1.0;
    if (u->updates == 0) {
        u->first_dev = p[S_RATIO_DEV];
        u->first_approxkl = p[S_APPROXKL] / n;
    }
    u->loss += p[S_LOSS] + (v ? v[S_LOSS] : 0.0);
    u->pg_loss += p[S_PG_LOSS] / n;
    u->approxkl += p[S_APPROXKL] / n;
    u->clipfrac += p[S_CLIPPED] / n;
    u->ratio += p[S_RATIO] / n;
    u->ratio_sq += p[S_RATIO_SQ] / n - (p[S_RATIO] / n) * (p[S_RATIO] / n);
    u->kl += p[S_KL] / n;
    u->clip_lo += p[S_CLIP_LO] / n, u->clip_hi += p[S_CLIP_HI] / n;
    if (v) {
        u->vf_loss += v[S_VF_LOSS] / n;
        u->vf_clipfrac += v[S_VF_CLIP] / n;
    }
    u->grad_norm += norm;
    u->updates++;
}

/* The sequence order of epoch e: the rollout order first, then keyed permutations. */
static void epoch_order(pf_trainer *tr, int e)
{
    pf_online *on = tr->online;
    for (int i = 0; i < on->N; i++)
        on->order[i] = e == 0 ? i
                              : pf_data_order_at(&on->shuffle,
                                                 (tr->step * on->epochs + e) * (int64_t)on->N + i);
}

/* All epochs x mini-batches of the iteration. */
static int run_updates(pf_trainer *tr, double lr, update_stats *u)
{
    pf_online *on = tr->online;
    const int mb = on->N / on->mini_batches;
    trained_model pol = {tr->policy, tr->opt, tr->acc, tr->grad_sum};
    trained_model cri = {on->critic, on->critic_opt, on->critic_acc, on->critic_grad};
    double psums[S_COUNT], vsums[S_COUNT], norm = 0.0, vnorm = 0.0;
    int rc = PF_OK;
    for (int e = 0; e < on->epochs && !rc; e++) {
        epoch_order(tr, e);
        for (int b = 0; b < on->mini_batches && !rc; b++) {
            const int32_t *seqs = on->order + (size_t)b * mb;
            rc = update_pass(tr, &pol, policy_micro, seqs, mb, lr, psums, &norm, &u->retries);
            if (!rc && on->critic)
                rc = update_pass(tr, &cri, critic_micro, seqs, mb, lr, vsums, &vnorm, &u->retries);
            if (!rc)
                add_update(u, psums, on->critic ? vsums : NULL, norm);
            u->critic_grad_norm += vnorm;
        }
    }
    return rc;
}

/* Appends a metric (name must outlive the trainer). */
static void put(pf_trainer *tr, const char *name, double value)
{
    if (tr->n_metrics < PF_MAX_METRICS) {
        tr->metric_names[tr->n_metrics] = name;
        tr->metric_values[tr->n_metrics++] = value;
    }
}

/* Batch means over sequences of the rollout: score, kl, entropy, length, finished. */
typedef struct {
    double score, kl, entropy, length, eos, rm, grader;
} batch_means;

static batch_means rollout_means(const pf_online *on)
{
    batch_means m = {0};
    for (int j = 0; j < on->N; j++) {
        m.score += on->roll.score[j], m.rm += on->roll.rm_score[j];
        m.grader += on->roll.grader_score[j];
        m.entropy += on->roll.entropy[j], m.length += on->roll.len[j];
        m.eos += on->roll.finished[j];
        for (int t = 0; t < on->roll.len[j]; t++)
            m.kl += on->roll.kl[(size_t)j * on->R + t];
    }
    const double n = on->N;
    m.score /= n, m.rm /= n, m.grader /= n, m.entropy /= n, m.length /= n, m.kl /= n;
    return m;
}

/* The iteration's metrics, TRL names first; returns the mean sequence KL. */
static double report(pf_trainer *tr, const update_stats *u, const pf_grpo_group_stats *gs,
                     double kl_coef)
{
    pf_online *on = tr->online;
    const batch_means m = rollout_means(on);
    const double k = u->updates;
    tr->n_metrics = 0;
    put(tr, on->is_ppo ? "loss/total" : "loss", u->loss / k);
    put(tr, "objective/scores", m.score);
    put(tr, "objective/kl", m.kl);
    put(tr, "objective/entropy", m.entropy);
    if (on->is_ppo) {
        put(tr, "objective/non_score_reward", -kl_coef * m.kl);
        put(tr, "objective/rlhf_reward", m.score - kl_coef * m.kl);
        put(tr, "policy/approxkl_avg", u->approxkl / k);
        put(tr, "policy/clipfrac_avg", u->clipfrac / k);
        put(tr, "loss/policy_avg", u->pg_loss / k);
        put(tr, "loss/value_avg", u->vf_loss / k);
        put(tr, "val/clipfrac_avg", u->vf_clipfrac / k);
        put(tr, "val/ratio", u->ratio / k);
        put(tr, "val/ratio_var", u->ratio_sq / k);
        put(tr, "val/num_eos_tokens", m.eos);
        put(tr, "kl_coef", kl_coef);
    } else {
        put(tr, "reward", gs->reward_mean);
        put(tr, "reward_std", on->scale == PF_SCALE_BATCH ? gs->batch_std : gs->reward_std);
        put(tr, "frac_reward_zero_std", gs->frac_zero_std);
        put(tr, "kl", u->kl / k);
        put(tr, "entropy", m.length > 0 ? m.entropy / m.length : 0.0);
        put(tr, "clip_ratio", (u->clip_lo + u->clip_hi) / k);
        put(tr, "clip_ratio_low", u->clip_lo / k);
        put(tr, "clip_ratio_high", u->clip_hi / k);
        put(tr, "policy/approxkl_avg", u->approxkl / k);
    }
    put(tr, "completions/mean_length", m.length);
    put(tr, "completions/eos_fraction", m.eos / on->N);
    if (on->rm)
        put(tr, "objective/rm_score", m.rm);
    if (on->graders.n)
        put(tr, "objective/grader_score", m.grader);
    put(tr, "policy/first_ratio_dev", u->first_dev);
    put(tr, "policy/first_approxkl", u->first_approxkl);
    put(tr, "grad_norm", u->grad_norm / k);
    if (on->critic)
        put(tr, "val/grad_norm", u->critic_grad_norm / k);
    put(tr, "sum_retries", u->retries);
    return m.kl;
}

int pf_online_step(pf_trainer *tr)
{
    pf_online *on = tr->online;
    const double t0 = pf_now();
    int rc = pf_rollout_step(tr);
    if (rc)
        return pf_fail_prefix(rc, "step %lld rollouts (stopping without a checkpoint)",
                              (long long)tr->step + 1);
    pf_grpo_group_stats gs = {0};
    compute_advantages(tr, &gs);
    const double lr = pf_lr_at(tr->cfg, tr->step, tr->total_steps), kl_coef = on->kl_coef;
    update_stats u = {0};
    rc = run_updates(tr, lr, &u);
    if (rc)
        return pf_fail_prefix(rc, "step %lld (stopping without a checkpoint)",
                              (long long)tr->step + 1);
    const double seq_kl = report(tr, &u, &gs, kl_coef);
    if (on->is_ppo && tr->cfg->ppo_adaptive_kl)
        on->kl_coef = pf_kl_adaptive_update(on->kl_coef, seq_kl, tr->cfg->ppo_kl_target,
                                            tr->cfg->ppo_kl_horizon, on->N);
    int64_t tokens = on->generated_tokens;
    for (int j = 0; j < on->N; j++)
        tokens += prompt_len(on, j);
    tr->step++;
    tr->tokens_seen += tokens;
    const double dt = pf_now() - t0;
    put(tr, "lr", lr);
    put(tr, "step_time", dt);
    put(tr, "rollout_time", on->rollout_seconds);
    put(tr, "rollout_tokens_per_s", (double)on->generated_tokens / on->rollout_seconds);
    put(tr, "tokens_per_s", (double)tokens / dt);
    return PF_OK;
}
