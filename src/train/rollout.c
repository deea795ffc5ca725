/*
 * rollout.c: the rollout phase of ppo and grpo (see online_internal.h): sampling,
 * scoring and the rollout-time forwards of policy, reference and critic, per
 * micro-batch, then the exact gather that gives every rank the whole batch.
 *
 * Invariants: a micro-batch's contents and shapes depend only on the step and the data,
 * never on the world size; a sequence's sample depends only on (seed, step, prompt index,
 * sample index) (sampler.h), so any rank produces the same rollout for it.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "online_internal.h"
#include "prefopt/error.h"

/* Columns of a gather-table row: R tokens, R log-probs, R reference log-probs, R values,
 * then these scalars. */
enum { COL_LEN, COL_FINISHED, COL_SCORE, COL_RM, COL_GRADER, COL_ENTROPY, COL_COUNT };

int pf_online_table_width(int R) { return 4 * R + COL_COUNT; }

/* Samples the responses of sequences seqs[0..n) (rollout indices) in one batch. */
static int generate_micro(pf_trainer *tr, const pf_prompt_set *ps, const int32_t *seqs, int n,
                          uint64_t seed, uint64_t step)
{
    pf_online *on = tr->online;
    pf_micro_scratch *mb = &on->mb;
    int Tp = 1;
    for (int i = 0; i < n; i++) {
        int len = (int)ps->ids[on->roll.prompt[seqs[i]]].len;
        Tp = len > Tp ? len : Tp;
    }
    for (int i = 0; i < n; i++) {
        const pf_token_ids *p = &ps->ids[on->roll.prompt[seqs[i]]];
        memcpy(mb->prompt_tokens + (size_t)i * Tp, p->ids, sizeof(int32_t) * p->len);
        memset(mb->prompt_tokens + (size_t)i * Tp + p->len, 0, sizeof(int32_t) * (Tp - p->len));
        mb->prompt_len[i] = (int32_t)p->len;
        mb->prompt_index[i] = (uint64_t)on->roll.prompt[seqs[i]];
        mb->sample_index[i] = (uint32_t)on->roll.sample[seqs[i]];
    }
    pf_generate_config gc = {.max_new_tokens = on->R,
                             .stop_ids = on->stop_ids,
                             .n_stop = on->n_stop,
                             .sampling = on->sampling,
                             .seed = seed,
                             .step = step,
                             .pad_id = 0};
    pf_batch b = {.tokens = mb->prompt_tokens, .lengths = mb->prompt_len, .B = n, .T = Tp};
    pf_generate_out out = {.tokens = mb->gen_tokens,
                           .lengths = mb->gen_len,
                           .finished = mb->gen_finished,
                           .entropies = mb->gen_entropy};
    return pf_generate_with(tr->policy, on->cache, &b, mb->prompt_index, mb->sample_index, &gc,
                            on->gen_scratch, &out);
}

int pf_rollout_pack(pf_trainer *tr, const pf_prompt_set *ps, const int32_t *seqs, int n)
{
    pf_online *on = tr->online;
    pf_micro_scratch *mb = &on->mb;
    int T = 2;
    for (int i = 0; i < n; i++) {
        int L = (int)ps->ids[on->roll.prompt[seqs[i]]].len + on->roll.len[seqs[i]];
        T = L > T ? L : T;
    }
    memset(mb->need, 0, (size_t)n * T);
    for (int i = 0; i < n; i++) {
        const int j = seqs[i];
        const pf_token_ids *p = &ps->ids[on->roll.prompt[j]];
        const int P = (int)p->len, L = on->roll.len[j];
        int32_t *row = mb->tokens + (size_t)i * T;
        memcpy(row, p->ids, sizeof(int32_t) * P);
        memcpy(row + P, on->roll.tokens + (size_t)j * on->R, sizeof(int32_t) * L);
        memset(row + P + L, 0, sizeof(int32_t) * (T - P - L));
        mb->lengths[i] = P + L;
        memset(mb->need + (size_t)i * T + P - 1, 1, (size_t)L);
    }
    return T;
}

/* Copies the generated responses of the micro-batch into the rollout batch. */
static void keep_generations(pf_online *on, const int32_t *seqs, int n)
{
    pf_micro_scratch *mb = &on->mb;
    for (int i = 0; i < n; i++) {
        const int j = seqs[i], L = mb->gen_len[i];
        memcpy(on->roll.tokens + (size_t)j * on->R, mb->gen_tokens + (size_t)i * on->R,
               sizeof(int32_t) * L);
        memset(on->roll.tokens + (size_t)j * on->R + L, 0, sizeof(int32_t) * (on->R - L));
        on->roll.len[j] = L;
        on->roll.finished[j] = mb->gen_finished[i];
        double h = 0.0;
        for (int t = 0; t < L; t++)
            h += mb->gen_entropy[(size_t)i * on->R + t];
        on->roll.entropy[j] = h;
    }
}

/* Reads the response-position values of buf [n, T] into dst [N, R] rows seqs. */
static void take_response(const pf_online *on, const pf_prompt_set *ps, const int32_t *seqs, int n,
                          int T, const float *buf, float *dst)
{
    for (int i = 0; i < n; i++) {
        const int j = seqs[i], P = (int)ps->ids[on->roll.prompt[j]].len;
        float *row = dst + (size_t)j * on->R;
        memset(row, 0, sizeof(float) * on->R);
        memcpy(row, buf + (size_t)i * T + P - 1, sizeof(float) * on->roll.len[j]);
    }
}

/* The configured grader's score of sequence j's response (0 when not applicable). */
static int grade(pf_trainer *tr, const pf_prompt_set *ps, int j, double *score)
{
    pf_online *on = tr->online;
    int L = on->roll.len[j] - (on->roll.finished[j] ? 1 : 0), applicable = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = pf_tokenizer_decode_lossy(tr->tokenizer, on->roll.tokens + (size_t)j * on->R,
                                       (size_t)L, &text, &len);
    if (!rc)
        rc = pf_grade_completion_split(&on->completion, text, len);
    on->completion.sample.count_tokens = pf_tokenizer_count_tokens;
    on->completion.sample.count_tokens_ctx = (void *)tr->tokenizer;
    if (!rc)
        rc = pf_grader_score_item(on->graders.items[on->grader], &on->completion.sample,
                                  ps->items[on->roll.prompt[j]], score, &applicable);
    free(text);
    if (!rc && !applicable)
        *score = 0.0;
    return rc ? pf_fail_prefix(rc, "reward.grader %s, prompt %d",
                               pf_grader_name(on->graders.items[on->grader]), on->roll.prompt[j])
              : PF_OK;
}

/* The scores of sequences seqs[0..n) packed in the scratch (T columns). */
static int score_micro(pf_trainer *tr, const pf_prompt_set *ps, const int32_t *seqs, int n, int T)
{
    pf_online *on = tr->online;
    const pf_config *c = tr->cfg;
    pf_batch b = {.tokens = on->mb.tokens, .lengths = on->mb.lengths, .B = n, .T = T};
    int rc = on->rm ? pf_reward_model_score(on->rm, &b, on->mb.scores) : PF_OK;
    for (int i = 0; i < n && !rc; i++) {
        const int j = seqs[i];
        double g = 0.0;
        on->roll.rm_score[j] = on->rm ? on->mb.scores[i] : 0.0;
        if (on->graders.n)
            rc = grade(tr, ps, j, &g);
        on->roll.grader_score[j] = g;
        double s = (on->rm ? c->reward_model_weight * on->roll.rm_score[j] : 0.0) +
                   (on->graders.n ? c->reward_grader_weight * g : 0.0);
        if (on->is_ppo && !on->roll.finished[j])
            s -= c->ppo_missing_eos_penalty;
        on->roll.score[j] = s;
    }
    return rc;
}

/* Policy, reference and critic forwards of the packed micro-batch. */
static int forward_micro(pf_trainer *tr, const pf_prompt_set *ps, const int32_t *seqs, int n, int T)
{
    pf_online *on = tr->online;
    pf_micro_scratch *mb = &on->mb;
    pf_batch b = {.tokens = mb->tokens, .lengths = mb->lengths, .B = n, .T = T};
    pf_forward_out out = {
        .logprobs = mb->logp, .temperature = on->sampling.temperature, .need = mb->need};
    int rc = pf_model_forward(tr->policy, tr->ws, &b, &out);
    if (!rc)
        take_response(on, ps, seqs, n, T, mb->logp, on->roll.logp);
    if (!rc)
        rc = pf_model_forward(tr->reference, tr->ws, &b, &out);
    if (!rc)
        take_response(on, ps, seqs, n, T, mb->logp, on->roll.ref_logp);
    if (!rc && on->critic) {
        pf_forward_out vout = {.values = mb->values, .temperature = 1.0f};
        rc = pf_model_forward(on->critic, on->critic_ws, &b, &vout);
        if (!rc)
            take_response(on, ps, seqs, n, T, mb->values, on->roll.values);
    }
    return rc;
}

/* Writes sequence j's rollout into its row of the gather table. */
static void write_row(pf_online *on, int j)
{
    const int R = on->R;
    double *row = on->table + (size_t)j * on->W;
    for (int t = 0; t < R; t++) {
        row[t] = on->roll.tokens[(size_t)j * R + t];
        row[R + t] = on->roll.logp[(size_t)j * R + t];
        row[2 * R + t] = on->roll.ref_logp[(size_t)j * R + t];
        row[3 * R + t] = on->roll.values[(size_t)j * R + t];
    }
    double *s = row + 4 * R;
    s[COL_LEN] = on->roll.len[j];
    s[COL_FINISHED] = on->roll.finished[j];
    s[COL_SCORE] = on->roll.score[j];
    s[COL_RM] = on->roll.rm_score[j];
    s[COL_GRADER] = on->roll.grader_score[j];
    s[COL_ENTROPY] = on->roll.entropy[j];
}

/* Reads every row of the gathered table back into the rollout batch. */
static void read_rows(pf_online *on, int n)
{
    const int R = on->R;
    for (int j = 0; j < n; j++) {
        const double *row = on->table + (size_t)j * on->W, *s = row + 4 * R;
        for (int t = 0; t < R; t++) {
            on->roll.tokens[(size_t)j * R + t] = (int32_t)row[t];
            on->roll.logp[(size_t)j * R + t] = (float)row[R + t];
            on->roll.ref_logp[(size_t)j * R + t] = (float)row[2 * R + t];
            on->roll.values[(size_t)j * R + t] = (float)row[3 * R + t];
        }
        on->roll.len[j] = (int32_t)s[COL_LEN];
        on->roll.finished[j] = s[COL_FINISHED] != 0.0;
        on->roll.score[j] = s[COL_SCORE];
        on->roll.rm_score[j] = s[COL_RM];
        on->roll.grader_score[j] = s[COL_GRADER];
        on->roll.entropy[j] = s[COL_ENTROPY];
    }
}

/* Rolls out sequences [0, n) of the rollout batch (roll.prompt / roll.sample set) in
 * chunks of micro_batch; chunk c runs on rank c mod world; then gathers. */
static int rollout_all(pf_trainer *tr, const pf_prompt_set *ps, int n, uint64_t seed, uint64_t step)
{
    pf_online *on = tr->online;
    const int chunks = (n + on->M - 1) / on->M;
    int32_t *seqs = on->mb.seqs;
    int rc = PF_OK;
    const double t0 = pf_now();
    memset(on->table, 0, sizeof(double) * (size_t)n * on->W);
    for (int c = tr->rank; c < chunks && !rc; c += tr->world) {
        const int m = n - c * on->M < on->M ? n - c * on->M : on->M;
        for (int i = 0; i < m; i++)
            seqs[i] = c * on->M + i;
        rc = generate_micro(tr, ps, seqs, m, seed, step);
        if (rc)
            break;
        keep_generations(on, seqs, m);
        const int T = pf_rollout_pack(tr, ps, seqs, m);
        rc = forward_micro(tr, ps, seqs, m, T);
        if (!rc)
            rc = score_micro(tr, ps, seqs, m, T);
        for (int i = 0; i < m && !rc; i++)
            write_row(on, seqs[i]);
    }
    rc = pf_dist_agree(rc);
    if (!rc)
        rc = pf_dist_gather_slots(on->table, (size_t)n * on->W);
    if (!rc)
        read_rows(on, n);
    on->rollout_seconds = pf_now() - t0;
    return rc;
}

int pf_rollout_step(pf_trainer *tr)
{
    pf_online *on = tr->online;
    for (int j = 0; j < on->N; j++) {
        int64_t pos = tr->step * on->P + j / on->G;
        on->roll.prompt[j] = pf_data_order_at(&tr->order, pos);
        on->roll.sample[j] = j % on->G;
    }
    int rc = rollout_all(tr, &on->train, on->N, (uint64_t)tr->cfg->seed, (uint64_t)tr->step);
    on->generated_tokens = 0;
    for (int j = 0; j < on->N && !rc; j++)
        on->generated_tokens += on->roll.len[j];
    return rc;
}

int pf_online_evaluate(pf_trainer *tr, double *metrics, int *n_metrics, const char **names)
{
    static const char *const NAMES[] = {"objective/scores", "objective/kl",
                                        "completions/mean_length"};
    pf_online *on = tr->online;
    const int n = on->eval.n;
    for (int j = 0; j < n; j++)
        on->roll.prompt[j] = j, on->roll.sample[j] = 0;
    /* fixed keys: every evaluation samples with the same randomness */
    int rc = rollout_all(tr, &on->eval, n, (uint64_t)tr->cfg->seed, PF_SAMPLE_MAX_STEP);
    double score = 0.0, kl = 0.0, len = 0.0;
    for (int j = 0; j < n && !rc; j++) {
        score += on->roll.score[j];
        len += on->roll.len[j];
        for (int t = 0; t < on->roll.len[j]; t++)
            kl += pf_kl_token(on->kl_est, on->roll.logp[(size_t)j * on->R + t],
                              on->roll.ref_logp[(size_t)j * on->R + t]);
    }
    metrics[0] = score / n, metrics[1] = kl / n, metrics[2] = len / n;
    for (int i = 0; i < 3; i++)
        names[i] = NAMES[i];
    *n_metrics = 3;
    return rc;
}
