/*
 * trainer.c: setup, the training loop and teardown of `prefopt-mpi train` (see
 * trainer.h). The per-step work is in step.c; whole-dataset passes in
 * reference.c.
 *
 * Agreement points: every fallible setup stage ends in pf_dist_agree, so a
 * failure on any rank (bad data, missing file, unwritable run dir) stops all
 * ranks with that rank's message; rank 0 alone touches the run directory.
 */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "online_internal.h"
#include "prefopt/checkpoint.h"
#include "prefopt/data_prep.h"
#include "prefopt/error.h"
#include "prefopt/fsutil.h"
#include "prefopt/metrics.h"
#include "prefopt/trainer.h"
#include "trainer_internal.h"

/* Rank 0: creates RUN_DIR and RUN_DIR/checkpoints and writes config.json
 * atomically. */
static int prepare_run_dir(const pf_trainer *tr)
{
    char path[PF_PATH_MAX + 32];
    const char *dir = tr->cfg->run_dir;
    if (tr->rank != 0)
        return PF_OK;
    snprintf(path, sizeof path, "%s/checkpoints", dir);
    int rc = pf_mkdir_p(path);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return pf_write_file_atomic(path, tr->cfg->resolved_json, strlen(tr->cfg->resolved_json));
}

/* The policy's initial weights: random from the seed, or a checkpoint / run
 * dir. */
static int load_policy(pf_trainer *tr, int vocab_size)
{
    const pf_config *c = tr->cfg;
    if (strcmp(c->model_init, "random") != 0)
        return pf_checkpoint_read_model_at(c->model_init, 1, &tr->policy, NULL, NULL);
    pf_model_config mc = c->model;
    if (mc.vocab_size == 0)
        mc.vocab_size = vocab_size;
    if (mc.vocab_size < vocab_size)
        return pf_fail(PF_ERR_USAGE, "model.vocab_size: %d is smaller than the tokenizer's %d",
                       mc.vocab_size, vocab_size);
    int rc = pf_model_create(&mc, 1, &tr->policy);
    if (!rc)
        pf_model_init_random(tr->policy, (uint64_t)c->seed);
    return rc;
}

/* The reference: a copy of the initial policy ("init") or a checkpoint; its
 * identity (params_sha256) goes into every checkpoint. */
static int load_reference(pf_trainer *tr)
{
    const pf_config *c = tr->cfg;
    if ((tr->algo->n_seq != 2 && !tr->algo->online) || tr->algo == &pf_algo_rm)
        return PF_OK;
    int rc;
    if (tr->algo->online || strcmp(c->dpo_reference, "init") == 0) {
        rc = pf_model_create(pf_model_get_config(tr->policy), 0, &tr->reference);
        if (!rc)
            memcpy(pf_model_params(tr->reference), pf_model_params(tr->policy),
                   sizeof(float) * pf_model_num_params(tr->policy));
    } else {
        rc = pf_checkpoint_read_model_at(c->dpo_reference, 0, &tr->reference, NULL, NULL);
    }
    if (rc)
        return rc;
    if (memcmp(pf_model_get_config(tr->reference), pf_model_get_config(tr->policy),
               sizeof(pf_model_config)) != 0)
        return pf_fail(PF_ERR_USAGE, "dpo.reference: %s has another model shape than the policy",
                       c->dpo_reference);
    pf_model_params_sha256(tr->reference, tr->reference_sha256);
    return PF_OK;
}

/* Buffers sized once for the largest micro-batch. */
static int allocate_buffers(pf_trainer *tr)
{
    const pf_config *c = tr->cfg;
    const int rows = (int)c->micro_batch * tr->algo->n_seq;
    const int64_t R =
        strcmp(c->algorithm, "ppo") == 0 ? c->ppo_response_length : c->grpo_max_completion;
    const int T = (int)(tr->algo->online ? c->max_prompt_length + R : c->max_length);
    const size_t cells = (size_t)rows * (size_t)T;
    pf_adamw_config ac = {(float)c->betas[0], (float)c->betas[1], (float)c->eps,
                          (float)c->weight_decay};
    int rc = pf_workspace_create(tr->policy, rows, T, 1, &tr->ws);
    if (!rc)
        rc = pf_adamw_create(tr->policy, &ac, &tr->opt);
    if (!rc && c->deterministic)
        rc = pf_exact_accum_create(tr->policy, tr->micro_per_step, &tr->acc);
    if (rc)
        return rc;
    tr->grad_sum = pf_calloc(sizeof(float) * pf_model_num_params(tr->policy), "gradient sum");
    tr->step_examples = pf_calloc(sizeof(pf_example *) * (size_t)c->global_batch, "batch");
    tr->tokens = pf_calloc(sizeof(int32_t) * cells, "batch tokens");
    tr->lengths = pf_calloc(sizeof(int32_t) * (size_t)rows, "batch lengths");
    tr->need = pf_calloc(cells, "batch need mask");
    tr->logprobs = pf_calloc(sizeof(float) * cells, "log-probs");
    tr->dlogprobs = pf_calloc(sizeof(float) * cells, "log-prob gradients");
    tr->slots =
        pf_calloc(sizeof(double) * (size_t)tr->micro_per_step * PF_ALGO_MAX_SUMS, "metric slots");
    if (!tr->grad_sum || !tr->step_examples || !tr->tokens || !tr->lengths || !tr->logprobs ||
        !tr->dlogprobs || !tr->slots || !tr->need)
        return PF_ERR_RUNTIME;
    return PF_OK;
}

/* Loads the tokenizer and the train/eval examples (every rank,
 * deterministically). */
static int load_data(pf_trainer *tr, pf_tokenizer **tok)
{
    const pf_config *c = tr->cfg;
    int rc = pf_prep_tokenizer(c, tok);
    tr->tokenizer = *tok;
    if (!rc && tr->algo->online)
        return pf_online_load_data(tr);
    if (!rc)
        rc = pf_prep_examples(c, *tok, c->data_train, tr->algo->n_seq, &tr->train);
    if (!rc && c->data_eval[0])
        rc = pf_prep_examples(c, *tok, c->data_eval, tr->algo->n_seq, &tr->eval);
    if (!rc && tr->train.n == 0)
        rc = pf_fail(PF_ERR_DATA, "%s: no usable examples", c->data_train);
    if (!rc)
        rc = pf_data_order_init(&tr->order, (uint64_t)c->seed, tr->train.n);
    return rc;
}

/* The path of the newest checkpoint of RUN_DIR that reads back, for --resume.
 */
static int resume_from(pf_trainer *tr)
{
    char *file = NULL;
    pf_checkpoint_meta meta = {0};
    pf_train_state st = {0};
    pf_model *saved = NULL;
    pf_config old;
    memset(&old, 0, sizeof old);
    int rc = pf_checkpoint_read_model_at(tr->cfg->run_dir, 0, &saved, &meta, &file);
    if (!rc && !meta.config_json)
        rc = pf_fail(PF_ERR_USAGE, "%s: not a training checkpoint (no config)", file);
    if (!rc)
        rc = pf_config_from_text(meta.config_json, file, NULL, 0, &old);
    if (!rc)
        rc = pf_config_check_resume(&old, tr->cfg);
    if (!rc)
        rc = pf_checkpoint_read_train(file, &st);
    if (!rc && strcmp(st.reference_sha256, tr->reference_sha256) != 0)
        rc = pf_fail(PF_ERR_USAGE,
                     "%s: the reference model differs from the one the run "
                     "started with (params_sha256 %.12s... vs %.12s...)",
                     file, st.reference_sha256, tr->reference_sha256);
    if (!rc)
        rc = pf_checkpoint_read_optimizer(file, tr->policy, tr->opt);
    if (!rc && tr->online)
        rc = pf_online_resume(tr, file, &st);
    if (!rc && tr->acc) {
        int n = 0;
        int32_t *scales = pf_exact_accum_exponents(tr->acc, &n);
        if (st.n_scales != n)
            rc = pf_fail(PF_ERR_USAGE, "%s: /train holds %d scales, the model has %d tensors", file,
                         st.n_scales, n);
        else
            memcpy(scales, st.scales, sizeof(int32_t) * (size_t)n);
    }
    if (!rc) {
        memcpy(pf_model_params(tr->policy), pf_model_params(saved),
               sizeof(float) * pf_model_num_params(tr->policy));
        tr->step = meta.step;
        tr->tokens_seen = st.tokens_seen;
        if (tr->rank == 0)
            printf("resuming from %s (step %lld, written by %lld ranks)\n", file,
                   (long long)meta.step, (long long)meta.world_size);
    }
    pf_model_free(saved);
    pf_train_state_clear(&st);
    pf_checkpoint_meta_clear(&meta);
    pf_config_free(&old);
    free(file);
    return rc;
}

/* Rank 0: writes RUN_DIR/checkpoints/step-N.h5 and prunes old ones. An RM checkpoint
 * carries the reward normalisation of its own weights (measured on every rank first). */
static int save_checkpoint(pf_trainer *tr)
{
    pf_reward_norm norm;
    const int rm = tr->algo == &pf_algo_rm;
    int rc = rm ? pf_rm_norm_stats(tr, &norm) : PF_OK;
    if (rc || tr->rank != 0)
        return rc;
    char path[PF_PATH_MAX + 64];
    rc = pf_checkpoint_step_path(tr->cfg->run_dir, tr->step, path, sizeof path);
    pf_checkpoint_meta meta = {
        .step = tr->step, .world_size = tr->world, .config_json = tr->cfg->resolved_json};
    snprintf(meta.algorithm, sizeof meta.algorithm, "%s", tr->algo->name);
    pf_train_state st = {.data_position = tr->step * tr->cfg->global_batch,
                         .tokens_seen = tr->tokens_seen,
                         .lr = pf_lr_at(tr->cfg, tr->step > 0 ? tr->step - 1 : 0, tr->total_steps)};
    snprintf(st.reference_sha256, sizeof st.reference_sha256, "%s", tr->reference_sha256);
    if (tr->acc)
        st.scales = pf_exact_accum_exponents(tr->acc, &st.n_scales);
    st.tokenizer = tr->tokenizer;
    st.reward_norm = rm ? &norm : NULL;
    if (tr->online)
        pf_online_fill_state(tr, &st);
    if (!rc)
        rc = pf_checkpoint_write_train(path, tr->policy, tr->opt, &meta, &st);
    if (!rc)
        rc = pf_checkpoint_prune(tr->cfg->run_dir, (int)tr->cfg->keep_checkpoints);
    return rc;
}

/* Running sums of the metrics between two log lines. */
typedef struct {
    int n, steps;
    const char *names[PF_MAX_METRICS];
    double sums[PF_MAX_METRICS];
    double last[PF_MAX_METRICS];
} interval_stats;

static void stats_add(interval_stats *s, const pf_trainer *tr)
{
    s->n = tr->n_metrics;
    for (int i = 0; i < tr->n_metrics; i++) {
        s->names[i] = tr->metric_names[i];
        s->sums[i] += tr->metric_values[i];
        s->last[i] = tr->metric_values[i];
    }
    s->steps++;
}

/* Interval means (the learning rate: its last value), then resets the sums. */
static void stats_take(interval_stats *s, double *out)
{
    for (int i = 0; i < s->n; i++) {
        out[i] = strcmp(s->names[i], "lr") == 0 ? s->last[i] : s->sums[i] / s->steps;
        s->sums[i] = 0.0;
    }
    s->steps = 0;
}

/* The value of metric name among n, or NaN. */
static double find_metric(const char *const *names, const double *values, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return values[i];
    return 0.0 / 0.0;
}

/* Prints "h:mm:ss" or "m:ss" for seconds into buf. */
static void format_duration(double seconds, char *buf, size_t n)
{
    long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
}

/* Rank 0's progress line for the interval that ended at tr->step. */
static void print_progress(const pf_trainer *tr, const char *const *names, const double *v, int n)
{
    double elapsed = pf_now() - tr->started;
    double eta =
        tr->step > 0 ? elapsed / (double)tr->step * (double)(tr->total_steps - tr->step) : 0.0;
    char el[32], et[32];
    format_duration(elapsed, el, sizeof el);
    format_duration(eta, et, sizeof et);
    double epoch = tr->online ? (double)(tr->step * tr->online->P) / tr->online->train.n
                              : (double)(tr->step * tr->cfg->global_batch) / tr->train.n;
    printf("step %lld/%lld | epoch %.2f | loss %.4f", (long long)tr->step,
           (long long)tr->total_steps, epoch, v[0]);
    double acc = find_metric(names, v, n, "rewards/accuracies");
    double rm_acc = find_metric(names, v, n, "accuracy"); /* rm */
    if (acc == acc)
        printf(" | acc %.3f | margin %.3f", acc, find_metric(names, v, n, "rewards/margins"));
    else if (rm_acc == rm_acc)
        printf(" | acc %.3f | margin %.3f", rm_acc, find_metric(names, v, n, "margin"));
    double score = find_metric(names, v, n, "objective/scores");
    if (score == score)
        printf(" | score %.3f | kl %.3f", score, find_metric(names, v, n, "objective/kl"));
    printf(" | %.0f tok/s | elapsed %s | ETA %s\n", find_metric(names, v, n, "tokens_per_s"), el,
           et);
    fflush(stdout);
}

/* Evaluates on data.eval and fills "eval/<name>" entries after n existing ones.
 */
static int run_eval(pf_trainer *tr, const char **names, double *values, int *n)
{
    static char eval_names[PF_ALGO_MAX_METRICS][64];
    const char *raw[PF_ALGO_MAX_METRICS];
    double m[PF_ALGO_MAX_METRICS];
    int k = 0;
    int rc = tr->online ? pf_online_evaluate(tr, m, &k, raw) : pf_evaluate(tr, m, &k, raw);
    for (int i = 0; i < k && !rc && *n < PF_MAX_METRICS; i++) {
        snprintf(eval_names[i], sizeof eval_names[i], "eval/%s", raw[i]);
        names[*n] = eval_names[i];
        values[(*n)++] = m[i];
    }
    return rc;
}

/* After step: progress line + metrics row (log interval) and eval (eval
 * interval). */
static int log_and_eval(pf_trainer *tr, interval_stats *stats)
{
    const pf_config *c = tr->cfg;
    const int last = tr->step == tr->total_steps;
    const int do_log = tr->step % c->log_every == 0 || last;
    const int n_eval = tr->online ? tr->online->eval.n : tr->eval.n;
    const int do_eval =
        n_eval > 0 && ((c->eval_every > 0 && tr->step % c->eval_every == 0) || last);
    const char *names[PF_MAX_METRICS];
    double values[PF_MAX_METRICS];
    int n = 0, rc = PF_OK;
    if (do_log) {
        n = stats->n;
        memcpy(names, stats->names, sizeof(char *) * (size_t)n);
        stats_take(stats, values);
    }
    if (do_eval)
        rc = run_eval(tr, names, values, &n);
    if (rc || n == 0 || tr->rank != 0)
        return rc;
    if (do_log)
        print_progress(tr, names, values, stats->n);
    char path[PF_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/metrics.h5", c->run_dir);
    return pf_metrics_append(path, tr->step, n, names, values);
}

/* Checks that the world size divides the micro-batches of a step. */
static int check_world(const pf_trainer *tr)
{
    if (tr->algo->online)
        return pf_online_check_world(tr->cfg, tr->world);
    if (tr->micro_per_step % tr->world != 0)
        return pf_fail(PF_ERR_USAGE,
                       "train.micro_batch: %d ranks do not divide the %d "
                       "micro-batches per step "
                       "(global_batch %lld / micro_batch %lld); use a world size "
                       "that divides %d",
                       tr->world, tr->micro_per_step, (long long)tr->cfg->global_batch,
                       (long long)tr->cfg->micro_batch, tr->micro_per_step);
    return PF_OK;
}

/* Everything before the first step; each stage ends at an agreement point. */
static int setup(pf_trainer *tr, int resume, pf_tokenizer **tok)
{
    const pf_config *c = tr->cfg;
    openblas_set_num_threads((int)c->threads);
    int rc = check_world(tr);
    rc = pf_dist_agree(rc ? rc : prepare_run_dir(tr));
    if (!rc)
        rc = pf_dist_agree(load_data(tr, tok));
    if (!rc)
        rc = pf_dist_agree(load_policy(tr, pf_tokenizer_vocab_size(*tok)));
    if (!rc && tr->algo == &pf_algo_rm)
        rc = pf_dist_agree(pf_rm_prepare_policy(tr));
    if (!rc && tr->online)
        rc = pf_dist_agree(pf_online_check_model(tr));
    if (!rc)
        rc = pf_dist_agree(load_reference(tr));
    if (!rc)
        rc = pf_dist_agree(allocate_buffers(tr));
    if (!rc && tr->online)
        rc = pf_dist_agree(pf_online_create(tr, resume));
    if (!rc && resume)
        rc = pf_dist_agree(resume_from(tr));
    if (rc)
        return rc;
    tr->total_steps = tr->online ? pf_online_total_steps(tr) : pf_total_steps(c, tr->train.n);
    if (tr->online) {
        /* the reference scores every rollout: it stays */
    } else if (tr->reference && c->dpo_precompute_reference) {
        rc = pf_reference_logps(tr, &tr->train);
        if (!rc)
            rc = pf_reference_logps(tr, &tr->eval);
    } else if (tr->reference) {
        rc = pf_reference_logps(tr, &tr->eval);
    }
    if (!rc && !tr->online && tr->reference && c->dpo_l2_multiplier > 0.0) {
        size_t bytes = sizeof(float) * pf_model_num_params(tr->reference);
        tr->ref_params = pf_calloc(bytes, "reference weights");
        rc = tr->ref_params ? PF_OK : PF_ERR_RUNTIME;
        if (!rc)
            memcpy(tr->ref_params, pf_model_params(tr->reference), bytes);
    }
    if (!rc && !tr->online && tr->reference && c->dpo_precompute_reference) {
        pf_model_free(tr->reference); /* steady-state steps skip the reference forward */
        tr->reference = NULL;
    }
    if (!rc && tr->rank == 0 && !resume) {
        char path[PF_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/metrics.h5", c->run_dir);
        rc = pf_metrics_prepare(path, 1, 0);
    } else if (!rc && tr->rank == 0) {
        char path[PF_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/metrics.h5", c->run_dir);
        rc = pf_metrics_prepare(path, 0, tr->step);
    }
    return pf_dist_agree(rc);
}

/* Prints the run's header on rank 0. */
static void print_header(const pf_trainer *tr)
{
    if (tr->rank != 0)
        return;
    printf("prefopt-mpi train: %s on %d rank(s), %lld steps, %d train / %d eval "
           "examples "
           "(%d dropped by truncation), %zu parameters\nconfig: %s\n",
           tr->algo->name, tr->world, (long long)tr->total_steps,
           tr->online ? tr->online->train.n : tr->train.n,
           tr->online ? tr->online->eval.n : tr->eval.n, tr->train.dropped + tr->eval.dropped,
           pf_model_num_params(tr->policy), tr->cfg->resolved_json);
    fflush(stdout);
}

/* Online algorithms: a step-0 evaluation row (the initial policy's held-out score), the
 * baseline their curves start from. */
static int baseline_eval(pf_trainer *tr)
{
    const char *names[PF_MAX_METRICS];
    double values[PF_MAX_METRICS];
    int n = 0;
    if (!tr->online || tr->step != 0 || tr->online->eval.n == 0 || tr->cfg->eval_every == 0)
        return PF_OK;
    int rc = run_eval(tr, names, values, &n);
    if (rc || tr->rank != 0)
        return rc;
    char path[PF_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/metrics.h5", tr->cfg->run_dir);
    return pf_metrics_append(path, 0, n, names, values);
}

/* The training loop proper, from tr->step to total_steps. */
static int loop(pf_trainer *tr)
{
    interval_stats stats;
    memset(&stats, 0, sizeof stats);
    int64_t last_saved = tr->step;
    int rc = pf_dist_agree(baseline_eval(tr));
    tr->started = pf_now();
    const int64_t stop = tr->cfg->stop_after > 0 && tr->cfg->stop_after < tr->total_steps
                             ? tr->cfg->stop_after
                             : tr->total_steps;
    while (!rc && tr->step < stop) {
        rc = tr->online ? pf_online_step(tr) : pf_train_step(tr);
        if (rc)
            break;
        stats_add(&stats, tr);
        rc = pf_dist_agree(log_and_eval(tr, &stats));
        if (!rc && tr->cfg->checkpoint_every > 0 && tr->step % tr->cfg->checkpoint_every == 0) {
            rc = pf_dist_agree(save_checkpoint(tr));
            last_saved = tr->step;
        }
        if (!rc && tr->step < stop && pf_dist_stop_requested()) {
            tr->preempted = 1; /* the checkpoint below makes the run resumable */
            break;
        }
    }
    if (!rc && last_saved != tr->step)
        rc = pf_dist_agree(save_checkpoint(tr));
    else if (!rc && tr->step == 0)
        rc = pf_dist_agree(save_checkpoint(tr));
    return rc;
}

/* Frees everything the trainer owns. */
static void teardown(pf_trainer *tr)
{
    pf_free(tr->grad_sum), pf_free(tr->step_examples), pf_free(tr->tokens);
    pf_free(tr->lengths), pf_free(tr->need), pf_free(tr->logprobs), pf_free(tr->dlogprobs),
        pf_free(tr->slots);
    pf_free(tr->ref_params);
    pf_exact_accum_free(tr->acc);
    pf_online_free(tr);
    pf_adamw_free(tr->opt);
    pf_workspace_free(tr->ws);
    pf_model_free(tr->reference);
    pf_model_free(tr->policy);
    pf_dataset_free(&tr->train);
    pf_dataset_free(&tr->eval);
    pf_data_order_free(&tr->order);
}

int pf_train(const pf_config *cfg, int resume, int *preempted)
{
    pf_trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.cfg = cfg;
    tr.rank = pf_dist_rank();
    tr.world = pf_dist_size();
    tr.micro_per_step = (int)(cfg->global_batch / cfg->micro_batch);
    pf_tokenizer *tok = NULL;
    tr.algo = pf_algo_select(cfg, &tr.ast);
    int rc = pf_dist_agree(tr.algo ? PF_OK : PF_ERR_USAGE);
    if (!rc)
        rc = setup(&tr, resume, &tok);
    if (!rc) {
        print_header(&tr);
        rc = loop(&tr);
    }
    *preempted = tr.preempted;
    if (!rc && tr.preempted && tr.rank == 0)
        printf("stopped by a signal at step %lld of %lld; checkpoint written; continue with "
               "--resume\n",
               (long long)tr.step, (long long)tr.total_steps);
    else if (!rc && tr.rank == 0) {
        char sha[65];
        pf_model_params_sha256(tr.policy, sha);
        printf("done: step %lld, params_sha256 %s\n", (long long)tr.step, sha);
    }
    pf_tokenizer_free(tok);
    teardown(&tr);
    return rc;
}
