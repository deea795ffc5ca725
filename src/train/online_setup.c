/*
 * online_setup.c: setup and teardown of the online algorithms (ppo, grpo): prompts,
 * the reward (graders and/or a reward model), the critic (ppo), buffers sized once, and
 * the checkpoint state beyond the policy (KL coefficient, critic and its optimizer).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "online_internal.h"
#include "prefopt/checkpoint.h"
#include "prefopt/data_prep.h"
#include "prefopt/error.h"
#include "prefopt/rng.h"

/* Purpose tag of the mini-batch shuffles ("MINI"). */
enum { STREAM_MINIBATCH = 0x4D494E49 };

/* Reads, validates and tokenizes a prompts file; prompts keep their last max_prompt
 * tokens (TRL truncates prompts on the left). */
static int load_prompts(const pf_trainer *tr, const char *path, pf_prompt_set *ps)
{
    const int max_prompt = (int)tr->cfg->max_prompt_length;
    int rc = pf_prep_records(path, PF_DATA_PROMPTS, &ps->records);
    const int n = rc ? 0 : (int)ps->records.n;
    if (!rc && n == 0)
        rc = pf_fail(PF_ERR_DATA, "%s: no prompts", path);
    if (!rc) {
        ps->ids = pf_calloc(sizeof(pf_token_ids) * (size_t)n, "prompts");
        ps->items = pf_calloc(sizeof(cJSON *) * (size_t)n, "prompt items");
        rc = ps->ids && ps->items ? PF_OK : PF_ERR_RUNTIME;
    }
    ps->n = rc ? 0 : n;
    for (int i = 0; i < ps->n && !rc; i++) {
        const pf_record *rec = &ps->records.items[i];
        rc = pf_prep_prompt_ids(tr->tokenizer, rec, &ps->ids[i]);
        if (rc)
            return pf_fail_prefix(rc, "%s:%ld", path, (long)rec->line);
        pf_token_ids *p = &ps->ids[i];
        if ((int)p->len > max_prompt) {
            memmove(p->ids, p->ids + p->len - max_prompt, sizeof(int32_t) * (size_t)max_prompt);
            p->len = (size_t)max_prompt;
            ps->truncated++;
        }
        ps->items[i] = rec->item ? cJSON_Parse(rec->item) : NULL;
    }
    return rc;
}

static void free_prompts(pf_prompt_set *ps)
{
    for (int i = 0; i < ps->n; i++) {
        pf_token_ids_free(&ps->ids[i]);
        cJSON_Delete(ps->items[i]);
    }
    pf_free(ps->ids), pf_free(ps->items);
    pf_record_set_free(&ps->records);
    memset(ps, 0, sizeof *ps);
}

/* The graders file and the grader of reward.grader (or its only grader). */
static int load_graders(pf_trainer *tr)
{
    pf_online *on = tr->online;
    const pf_config *c = tr->cfg;
    int rc = pf_grader_load_file(c->reward_graders, &on->graders);
    if (rc)
        return pf_fail_prefix(rc, "reward.graders");
    if (!c->reward_grader[0] && on->graders.n != 1)
        return pf_fail(PF_ERR_USAGE,
                       "reward.grader: %s holds %zu graders; name the one that scores "
                       "(a multi grader combines several)",
                       c->reward_graders, on->graders.n);
    on->grader = c->reward_grader[0] ? pf_grader_set_find(&on->graders, c->reward_grader) : 0;
    if (on->grader < 0)
        return pf_fail(PF_ERR_USAGE, "reward.grader: no grader named \"%s\" in %s",
                       c->reward_grader, c->reward_graders);
    return PF_OK;
}

/* The reward model of reward.model, checked against the policy's vocabulary. */
static int load_reward_model(pf_trainer *tr)
{
    pf_online *on = tr->online;
    int rc = pf_reward_model_load(tr->cfg->reward_model, on->M, on->Tmax, &on->rm);
    if (rc)
        return pf_fail_prefix(rc, "reward.model");
    const pf_model_config *rc_cfg = pf_model_get_config(pf_reward_model_network(on->rm));
    const pf_model_config *pc = pf_model_get_config(tr->policy);
    if (rc_cfg->vocab_size != pc->vocab_size || rc_cfg->max_seq_len < on->Tmax)
        return pf_fail(PF_ERR_USAGE,
                       "reward.model: %s has vocab_size %d and max_seq_len %d; the policy "
                       "needs vocab_size %d and at least %d positions",
                       tr->cfg->reward_model, rc_cfg->vocab_size, rc_cfg->max_seq_len,
                       pc->vocab_size, on->Tmax);
    return PF_OK;
}

/* Copies every tensor of src into the tensor of dst with the same name. A dst tensor
 * missing from src is an error naming where (the source), except the value head when
 * new_head is set (it keeps its values: a new head on a language model). */
static int copy_tensors(pf_model *dst, const pf_model *src, const char *where, int new_head)
{
    for (int i = 0; i < pf_model_num_tensors(dst); i++) {
        const pf_tensor *t = pf_model_tensor(dst, i), *s = pf_model_find_tensor(src, t->name);
        if (!s && new_head && strncmp(t->name, "v_head.", 7) == 0)
            continue;
        if (!s)
            return pf_fail(PF_ERR_USAGE,
                           "%s: has no tensor %s (another model shape than the "
                           "policy)",
                           where, t->name);
        if (s->numel != t->numel)
            return pf_fail(PF_ERR_USAGE, "%s: tensor %s has %zu values, the policy's %zu", where,
                           t->name, s->numel, t->numel);
        memcpy(pf_model_params(dst) + t->offset, pf_model_params_const(src) + s->offset,
               sizeof(float) * t->numel);
    }
    return PF_OK;
}

/* Whether src has the critic's shape (architecture, sizes; value head aside); an
 * error naming where otherwise. */
static int check_same_shape(const pf_model *critic, const pf_model *src, const char *where)
{
    pf_model_config a = *pf_model_get_config(critic), b = *pf_model_get_config(src);
    a.value_head = b.value_head = 0;
    if (memcmp(&a, &b, sizeof a) == 0)
        return PF_OK;
    return pf_fail(PF_ERR_USAGE,
                   "%s: another model shape than the policy (n_layer %d, n_head %d, d_model "
                   "%d, vocab_size %d, max_seq_len %d vs %d, %d, %d, %d, %d)",
                   where, b.n_layer, b.n_head, b.d_model, b.vocab_size, b.max_seq_len, a.n_layer,
                   a.n_head, a.d_model, a.vocab_size, a.max_seq_len);
}

/* The critic: the policy's shape with a value head, initialised per ppo.critic_init
 * (not read when resuming: the checkpoint's /critic replaces the weights). */
static int create_critic(pf_trainer *tr, int resuming)
{
    pf_online *on = tr->online;
    const char *init = tr->cfg->ppo_critic_init;
    pf_model_config mc = *pf_model_get_config(tr->policy);
    mc.value_head = 1;
    pf_model *loaded = NULL;
    int rc = pf_model_create(&mc, 1, &on->critic);
    if (!rc && resuming) {
        /* weights from /critic in resume_from */
    } else if (!rc && strcmp(init, "policy") == 0) {
        rc = copy_tensors(on->critic, tr->policy, "ppo.critic_init", 1);
        const char *head[2] = {"v_head.weight", "v_head.bias"}; /* a zero value head */
        for (int i = 0; i < 2; i++) {
            const pf_tensor *t = pf_model_find_tensor(on->critic, head[i]);
            memset(pf_model_params(on->critic) + t->offset, 0, sizeof(float) * t->numel);
        }
    } else if (!rc && strcmp(init, "reward_model") == 0) {
        rc = on->rm ? check_same_shape(on->critic, pf_reward_model_network(on->rm), "reward.model")
                    : pf_fail(PF_ERR_USAGE, "ppo.critic_init: reward_model needs reward.model");
        if (!rc)
            rc = copy_tensors(on->critic, pf_reward_model_network(on->rm), "reward.model", 0);
    } else if (!rc) {
        rc = pf_checkpoint_read_model_at(init, 0, &loaded, NULL, NULL);
        if (!rc && !pf_model_get_config(loaded)->value_head)
            rc = pf_fail(PF_ERR_USAGE, "ppo.critic_init: %s has no value head", init);
        if (!rc)
            rc = check_same_shape(on->critic, loaded, init);
        if (!rc)
            rc = copy_tensors(on->critic, loaded, init, 0);
        pf_model_free(loaded);
    }
    const pf_config *c = tr->cfg;
    pf_adamw_config ac = {(float)c->betas[0], (float)c->betas[1], (float)c->eps,
                          (float)c->weight_decay};
    if (!rc)
        rc = pf_workspace_create(on->critic, on->M, on->Tmax, 1, &on->critic_ws);
    if (!rc)
        rc = pf_adamw_create(on->critic, &ac, &on->critic_opt);
    if (!rc && c->deterministic)
        rc = pf_exact_accum_create(on->critic, on->K / on->mini_batches, &on->critic_acc);
    if (!rc && !(on->critic_grad =
                     pf_calloc(sizeof(float) * pf_model_num_params(on->critic), "critic gradient")))
        rc = PF_ERR_RUNTIME;
    return rc;
}

/* Allocates n elements of size bytes into *p; returns 0 or -1. */
static int alloc(void *p, size_t n, size_t size)
{
    void *q = pf_calloc(n * size, "rollout buffers");
    memcpy(p, &q, sizeof q);
    return q ? 0 : -1;
}

/* Rollout batch, gather table, slots and micro-batch scratch. */
static int allocate(pf_online *on)
{
    const size_t cap = (size_t)(on->N > on->eval.n ? on->N : on->eval.n), R = (size_t)on->R;
    const size_t M = (size_t)on->M, cells = M * (size_t)on->Tmax;
    pf_rollout *r = &on->roll;
    pf_micro_scratch *mb = &on->mb;
    on->W = pf_online_table_width(on->R);
    int bad = alloc(&r->prompt, cap, 4) | alloc(&r->sample, cap, 4) |
              alloc(&r->tokens, cap * R, 4) | alloc(&r->len, cap, 4) | alloc(&r->finished, cap, 1) |
              alloc(&r->score, cap, 8) | alloc(&r->rm_score, cap, 8) |
              alloc(&r->grader_score, cap, 8) | alloc(&r->entropy, cap, 8) |
              alloc(&r->seq_adv, cap, 8);
    float **f[] = {&r->logp, &r->ref_logp, &r->values, &r->kl, &r->rewards, &r->adv, &r->ret};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        bad |= alloc(f[i], cap * R, sizeof(float));
    bad |= alloc(&on->table, cap * (size_t)on->W, 8) |
           alloc(&on->slots, (size_t)on->K * PF_ONLINE_SLOTS, 8) |
           alloc(&on->order, (size_t)on->N, 4);
    bad |= alloc(&mb->prompt_tokens, M * (size_t)on->Tp, 4) | alloc(&mb->prompt_len, M, 4) |
           alloc(&mb->prompt_index, M, 8) | alloc(&mb->sample_index, M, 4) |
           alloc(&mb->gen_tokens, M * R, 4) | alloc(&mb->gen_len, M, 4) |
           alloc(&mb->gen_finished, M, 1) | alloc(&mb->gen_entropy, M * R, 4) |
           alloc(&mb->tokens, cells, 4) | alloc(&mb->lengths, M, 4) | alloc(&mb->need, cells, 1) |
           alloc(&mb->logp, cells, 4) | alloc(&mb->dlogp, cells, 4) | alloc(&mb->values, cells, 4) |
           alloc(&mb->dvalues, cells, 4) | alloc(&mb->scores, M, 8) | alloc(&mb->seqs, M, 4);
    return bad ? PF_ERR_RUNTIME : PF_OK;
}

/* Shapes and settings from the config. */
static int configure(pf_trainer *tr)
{
    pf_online *on = tr->online;
    const pf_config *c = tr->cfg;
    on->is_ppo = strcmp(c->algorithm, "ppo") == 0;
    on->G = on->is_ppo ? 1 : (int)c->grpo_num_generations;
    on->N = (int)c->global_batch, on->P = on->N / on->G, on->M = (int)c->micro_batch;
    on->K = on->N / on->M;
    on->R = (int)(on->is_ppo ? c->ppo_response_length : c->grpo_max_completion);
    on->Tp = (int)c->max_prompt_length, on->Tmax = on->Tp + on->R;
    on->mini_batches = (int)(on->is_ppo ? c->ppo_mini_batches : c->grpo_mini_batches);
    on->epochs = (int)(on->is_ppo ? c->ppo_epochs : c->grpo_iterations);
    on->sampling.temperature = (float)(on->is_ppo ? c->ppo_temperature : c->grpo_temperature);
    on->sampling.top_p = (float)(on->is_ppo ? c->ppo_top_p : c->grpo_top_p);
    on->kl_coef = c->ppo_kl_coef;
    on->kl_est = PF_KL_K3;
    if (on->is_ppo && pf_kl_estimator_parse(c->ppo_kl_estimator, &on->kl_est) != 0)
        return pf_fail(PF_ERR_USAGE, "ppo.kl_estimator: unknown %s", c->ppo_kl_estimator);
    if (pf_grpo_scale_parse(c->grpo_scale_rewards, &on->scale) != 0 ||
        pf_grpo_loss_type_parse(c->grpo_loss_type, &on->loss_type) != 0)
        return pf_fail(PF_ERR_USAGE, "grpo: unknown scale_rewards or loss_type");
    on->n_stop = pf_tokenizer_stop_ids(tr->tokenizer, on->stop_ids);
    return PF_OK;
}

int pf_online_check_model(const pf_trainer *tr)
{
    const pf_config *c = tr->cfg;
    const int ppo = strcmp(c->algorithm, "ppo") == 0;
    const int64_t R = ppo ? c->ppo_response_length : c->grpo_max_completion;
    const int max_seq = pf_model_get_config(tr->policy)->max_seq_len;
    if (c->max_prompt_length + R > max_seq)
        return pf_fail(PF_ERR_USAGE,
                       "data.max_prompt_length: %lld + %s %lld exceeds the model's max_seq_len %d",
                       (long long)c->max_prompt_length,
                       ppo ? "ppo.response_length" : "grpo.max_completion_length", (long long)R,
                       max_seq);
    return PF_OK;
}

int pf_online_check_world(const pf_config *c, int world)
{
    const int64_t minis =
        strcmp(c->algorithm, "ppo") == 0 ? c->ppo_mini_batches : c->grpo_mini_batches;
    const int64_t micro = c->global_batch / minis / c->micro_batch;
    if (micro % world != 0)
        return pf_fail(PF_ERR_USAGE,
                       "train.micro_batch: %d ranks do not divide the %lld micro-batches of a "
                       "mini-batch (global_batch %lld / num_mini_batches %lld / micro_batch "
                       "%lld); use a world size that divides %lld",
                       world, (long long)micro, (long long)c->global_batch, (long long)minis,
                       (long long)c->micro_batch, (long long)micro);
    return PF_OK;
}

int pf_online_load_data(pf_trainer *tr)
{
    pf_online *on = pf_calloc(sizeof *on, "online state");
    if (!on)
        return PF_ERR_RUNTIME;
    tr->online = on;
    int rc = load_prompts(tr, tr->cfg->data_train, &on->train);
    if (!rc && tr->cfg->data_eval[0])
        rc = load_prompts(tr, tr->cfg->data_eval, &on->eval);
    if (!rc)
        rc = pf_data_order_init(&tr->order, (uint64_t)tr->cfg->seed, on->train.n);
    return rc;
}

int pf_online_create(pf_trainer *tr, int resuming)
{
    pf_online *on = tr->online;
    const pf_config *c = tr->cfg;
    uint32_t w[4];
    pf_rng_words((uint64_t)c->seed, STREAM_MINIBATCH, 0, w);
    int rc = configure(tr);
    if (!rc && c->reward_graders[0])
        rc = load_graders(tr);
    if (!rc && c->reward_model[0])
        rc = load_reward_model(tr);
    if (!rc && on->is_ppo)
        rc = create_critic(tr, resuming);
    if (!rc)
        rc = allocate(on);
    if (!rc)
        rc = pf_data_order_init(&on->shuffle, (uint64_t)w[0] << 32 | w[1], on->N);
    if (!rc)
        rc = pf_kv_cache_create(tr->policy, on->M, on->Tmax, &on->cache);
    if (!rc)
        rc = pf_generate_scratch_create(on->M, pf_model_get_config(tr->policy)->vocab_size,
                                        &on->gen_scratch);
    if (!rc && (on->train.truncated || on->eval.truncated) && tr->rank == 0)
        printf("note: %d train / %d eval prompts longer than data.max_prompt_length = %d tokens "
               "kept their end\n",
               on->train.truncated, on->eval.truncated, on->Tp);
    return rc;
}

int64_t pf_online_total_steps(const pf_trainer *tr)
{
    const pf_config *c = tr->cfg;
    if (c->steps > 0)
        return c->steps;
    int64_t s = c->epochs * (int64_t)tr->online->train.n / tr->online->P;
    return s > 0 ? s : 1;
}

void pf_online_fill_state(pf_trainer *tr, pf_train_state *st)
{
    pf_online *on = tr->online;
    st->has_kl_coef = 1;
    st->kl_coef = on->kl_coef;
    st->data_position = tr->step * on->P;
    if (!on->critic)
        return;
    st->critic = on->critic;
    st->critic_opt = on->critic_opt;
    int n = 0;
    st->critic_scales = on->critic_acc ? pf_exact_accum_exponents(on->critic_acc, &n) : NULL;
    st->n_critic_scales = n;
}

int pf_online_resume(pf_trainer *tr, const char *file, const pf_train_state *st)
{
    pf_online *on = tr->online;
    if (on->is_ppo && !st->has_kl_coef)
        return pf_fail(PF_ERR_USAGE, "%s: /train has no kl_coef (not a PPO checkpoint)", file);
    on->kl_coef = st->kl_coef;
    if (!on->critic)
        return PF_OK;
    int n = 0;
    int32_t *scales = on->critic_acc ? pf_exact_accum_exponents(on->critic_acc, &n) : NULL;
    int32_t none = 0;
    return pf_checkpoint_read_critic(file, on->critic, on->critic_opt, scales ? scales : &none, n);
}

void pf_online_free(pf_trainer *tr)
{
    pf_online *on = tr->online;
    if (!on)
        return;
    free_prompts(&on->train), free_prompts(&on->eval);
    pf_grader_set_free(&on->graders);
    pf_grade_completion_free(&on->completion);
    pf_reward_model_free(on->rm);
    pf_workspace_free(on->critic_ws);
    pf_adamw_free(on->critic_opt);
    pf_exact_accum_free(on->critic_acc);
    pf_model_free(on->critic);
    pf_kv_cache_free(on->cache);
    pf_generate_scratch_free(on->gen_scratch);
    pf_data_order_free(&on->shuffle);
    pf_rollout *r = &on->roll;
    void *bufs[] = {r->prompt,   r->sample,       r->tokens,      r->len,  r->finished, r->score,
                    r->rm_score, r->grader_score, r->entropy,     r->logp, r->ref_logp, r->values,
                    r->kl,       r->rewards,      r->adv,         r->ret,  r->seq_adv,  on->table,
                    on->slots,   on->order,       on->critic_grad};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        pf_free(bufs[i]);
    pf_micro_scratch *mb = &on->mb;
    void *scratch[] = {mb->prompt_tokens, mb->prompt_len, mb->prompt_index, mb->sample_index,
                       mb->gen_tokens,    mb->gen_len,    mb->gen_finished, mb->gen_entropy,
                       mb->tokens,        mb->lengths,    mb->need,         mb->logp,
                       mb->dlogp,         mb->values,     mb->dvalues,      mb->scores,
                       mb->seqs};
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
        pf_free(scratch[i]);
    pf_free(on);
    tr->online = NULL;
}
