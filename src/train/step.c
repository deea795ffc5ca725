/*
 * step.c: one optimizer step of the trainer.
 *
 * 1. The step's global batch: global_batch examples at data positions
 *    [step * G, (step + 1) * G) of the (seed, epoch)-shuffled order; the algorithm sees
 *    all of them (normalisers are global counts, known before any forward).
 * 2. This rank's micro-batches: forward (reference too when not precomputed), the
 *    algorithm's loss gradient, backward; each micro-batch gradient is added to the
 *    exact accumulator (deterministic) or a float sum (train.deterministic = false).
 * 3. One all-reduce of the gradient; an overflowing fixed-point scale repeats the step.
 * 4. Per-micro-batch sums gathered exactly and added in micro-batch order (min / max
 *    where the algorithm says so) -> metrics.
 * 5. l2 pull toward the reference, NaN check, global-norm clipping, AdamW.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "prefopt/error.h"
#include "trainer_internal.h"

double pf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Fills tr->step_examples with the step's global batch, starts the algorithm and
 * returns the batch's token count. */
static int64_t select_batch(pf_trainer *tr)
{
    const int64_t G = tr->cfg->global_batch;
    int64_t tokens = 0;
    for (int64_t j = 0; j < G; j++) {
        pf_example *e = &tr->train.ex[pf_data_order_at(&tr->order, tr->step * G + j)];
        tr->step_examples[j] = e;
        for (int s = 0; s < e->n_seq; s++)
            tokens += e->seq[s].len;
    }
    tr->algo->begin_step(&tr->ast, tr->step_examples, (int)G);
    return tokens;
}

/* Reference sums of a micro-batch's sequences, from a reference forward. */
static int reference_micro_batch(pf_trainer *tr, pf_example *const *ex, int n, const pf_batch *b)
{
    pf_forward_out out = {.logprobs = tr->logprobs, .temperature = 1.0f, .need = tr->need};
    int rc = pf_model_forward(tr->reference, tr->ws, b, &out);
    for (int i = 0; i < n && !rc; i++)
        for (int s = 0; s < tr->algo->n_seq; s++) {
            double count;
            const float *lp = tr->logprobs + (size_t)(i * tr->algo->n_seq + s) * b->T;
            ex[i]->ref_logp[s] = pf_seq_weighted_logp(&ex[i]->seq[s], lp, &count);
            ex[i]->ref_logp_mean[s] = count > 0 ? ex[i]->ref_logp[s] / count : 0.0;
        }
    return rc;
}

/* Forward, loss gradient and backward of micro-batch k; adds its gradient. */
static int run_micro_batch(pf_trainer *tr, int k, float *float_sum)
{
    const int M = (int)tr->cfg->micro_batch, n_seq = tr->algo->n_seq;
    pf_example *const *ex = tr->step_examples + (size_t)k * M;
    int T = pf_examples_pack(ex, M, n_seq, tr->tokens, tr->lengths, tr->need);
    pf_batch b = {.tokens = tr->tokens, .lengths = tr->lengths, .B = M * n_seq, .T = T};
    int rc = tr->reference ? reference_micro_batch(tr, ex, M, &b) : PF_OK;
    /* an algorithm on the value head (rm) gets values in the log-prob buffers */
    const int values = tr->algo->uses_values;
    pf_forward_out out = {.logprobs = values ? NULL : tr->logprobs,
                          .values = values ? tr->logprobs : NULL,
                          .temperature = 1.0f,
                          .need = tr->need};
    if (!rc)
        rc = pf_model_forward(tr->policy, tr->ws, &b, &out);
    if (rc)
        return rc;
    tr->algo->micro_batch(&tr->ast, ex, M, tr->logprobs, T, tr->dlogprobs,
                          tr->slots + (size_t)k * tr->algo->n_sums);
    pf_model_zero_grads(tr->policy);
    rc = pf_model_backward(tr->policy, tr->ws, values ? NULL : tr->dlogprobs,
                           values ? tr->dlogprobs : NULL);
    if (rc)
        return rc;
    const float *g = pf_model_grads(tr->policy);
    if (tr->acc)
        pf_exact_accum_add(tr->acc, g);
    else
        for (size_t i = 0; i < pf_model_num_params(tr->policy); i++)
            float_sum[i] += g[i];
    return PF_OK;
}

/* This rank's micro-batches and the gradient all-reduce; *retry when a scale overflowed. */
static int compute_gradient(pf_trainer *tr, int *retry)
{
    const int K = tr->micro_per_step, per_rank = K / tr->world;
    const size_t n = pf_model_num_params(tr->policy);
    memset(tr->slots, 0, sizeof(double) * (size_t)K * tr->algo->n_sums);
    if (tr->acc)
        pf_exact_accum_reset(tr->acc);
    else
        memset(tr->grad_sum, 0, sizeof(float) * n);
    int rc = PF_OK;
    for (int k = tr->rank * per_rank; k < (tr->rank + 1) * per_rank && !rc; k++)
        rc = run_micro_batch(tr, k, tr->grad_sum);
    rc = pf_dist_agree(rc);
    if (rc)
        return rc;
    *retry = 0;
    if (tr->acc)
        return pf_exact_accum_allreduce(tr->acc, tr->grad_sum, retry);
    return pf_dist_allreduce_float(tr->grad_sum, n);
}

/* Sums the gathered per-micro-batch slots in micro-batch order into metrics. */
static int step_metrics(pf_trainer *tr, double *loss)
{
    const int K = tr->micro_per_step, S = tr->algo->n_sums;
    int rc = pf_dist_gather_slots(tr->slots, (size_t)K * S);
    if (rc)
        return rc;
    double sums[PF_ALGO_MAX_SUMS] = {0};
    pf_algo_combine_slots(tr->algo, tr->slots, K, sums);
    tr->algo->finalize(&tr->ast, sums, tr->metric_values);
    tr->n_metrics = tr->algo->n_metrics;
    for (int i = 0; i < tr->n_metrics; i++)
        tr->metric_names[i] = tr->algo->metric_names[i];
    *loss = tr->metric_values[0];
    return PF_OK;
}

/* Adds lambda * ||theta - theta_ref||^2 to the loss and its gradient to grad_sum. */
static double add_l2_pull(pf_trainer *tr)
{
    const double lambda = tr->cfg->dpo_l2_multiplier;
    if (lambda <= 0.0 || !tr->ref_params)
        return 0.0;
    const float *p = pf_model_params(tr->policy);
    const size_t n = pf_model_num_params(tr->policy);
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)p[i] - tr->ref_params[i];
        sq += d * d;
        tr->grad_sum[i] += (float)(2.0 * lambda * d);
    }
    return lambda * sq;
}

/* Appends a metric (name must outlive the trainer). */
static void push_metric(pf_trainer *tr, const char *name, double value)
{
    if (tr->n_metrics < PF_MAX_METRICS) {
        tr->metric_names[tr->n_metrics] = name;
        tr->metric_values[tr->n_metrics++] = value;
    }
}

int pf_train_step(pf_trainer *tr)
{
    const double t0 = pf_now();
    int retry = 0, rc;
    const int64_t step_tokens = select_batch(tr);
    int retries = -1;
    do {
        rc = compute_gradient(tr, &retry);
        retries++;
    } while (!rc && retry);
    double loss = 0.0;
    if (!rc)
        rc = step_metrics(tr, &loss);
    if (rc)
        return pf_fail_prefix(rc, "step %lld (stopping without a checkpoint)",
                              (long long)tr->step + 1);
    loss += add_l2_pull(tr);
    tr->metric_values[0] = loss;
    if (!isfinite(loss))
        return pf_fail(PF_ERR_RUNTIME, "step %lld: loss is %g; stopping without a checkpoint",
                       (long long)tr->step + 1, loss);
    const size_t n = pf_model_num_params(tr->policy);
    double norm = pf_grad_global_norm(tr->grad_sum, n);
    if (!isfinite(norm))
        return pf_fail(PF_ERR_RUNTIME,
                       "step %lld: gradient norm is %g; stopping without a "
                       "checkpoint",
                       (long long)tr->step + 1, norm);
    pf_grad_clip(tr->grad_sum, n, norm, tr->cfg->grad_clip);
    double lr = pf_lr_at(tr->cfg, tr->step, tr->total_steps);
    memcpy(pf_model_grads(tr->policy), tr->grad_sum, sizeof(float) * n);
    pf_adamw_step(tr->opt, tr->policy, (float)lr);
    tr->step++;
    tr->tokens_seen += step_tokens;
    double dt = pf_now() - t0;
    push_metric(tr, "grad_norm", norm);
    push_metric(tr, "lr", lr);
    push_metric(tr, "step_time", dt);
    push_metric(tr, "sum_retries", retries);
    push_metric(tr, "tokens_per_s", (double)step_tokens / dt);
    return PF_OK;
}
