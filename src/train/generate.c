/*
 * generate.c: the generation loop over the KV cache: prefill the prompts, then alternate
 * sampling one token per unfinished sequence and one decode step, until every sequence
 * has hit a stop id or max_new_tokens (see sampler.h for the contract).
 *
 * Invariant: token j of sequence b is drawn from that sequence's own logits with the key
 * (seed, step, prompt_index[b], sample_index[b], j); since the cache's logits for b do not
 * depend on the other sequences, neither do b's tokens. Scratch (logits [B, V], the
 * sampler, the step's tokens and active flags) is a pf_generate_scratch: created once by
 * callers that generate repeatedly (PPO / GRPO rollouts), once per call by pf_generate;
 * never per token.
 */
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/sampler.h"

/* Scratch of the generation loop, for up to max_batch sequences over V tokens. */
struct pf_generate_scratch {
    int max_batch, V;
    float *logits;   /* [B, V] */
    int32_t *next;   /* [B] the token each active sequence feeds next */
    uint8_t *active; /* [B] */
    pf_sampler *sampler;
};
typedef struct pf_generate_scratch gen_scratch;

int pf_generate_scratch_create(int max_batch, int vocab_size, pf_generate_scratch **out)
{
    *out = NULL;
    gen_scratch *g = pf_calloc(sizeof *g, "generate scratch");
    if (!g)
        return PF_ERR_RUNTIME;
    g->max_batch = max_batch, g->V = vocab_size;
    g->logits =
        pf_calloc(sizeof(float) * (size_t)max_batch * (size_t)vocab_size, "generate logits");
    g->next = pf_calloc(sizeof(int32_t) * (size_t)max_batch, "generate tokens");
    g->active = pf_calloc((size_t)max_batch, "generate flags");
    int rc = g->logits && g->next && g->active ? pf_sampler_create(vocab_size, &g->sampler)
                                               : PF_ERR_RUNTIME;
    if (rc) {
        pf_generate_scratch_free(g);
        return rc;
    }
    *out = g;
    return PF_OK;
}

void pf_generate_scratch_free(pf_generate_scratch *g)
{
    if (!g)
        return;
    pf_free(g->logits);
    pf_free(g->next);
    pf_free(g->active);
    pf_sampler_free(g->sampler);
    pf_free(g);
}

/* Checks settings, key ranges and cache room before any work. */
static int check_request(const pf_kv_cache *cache, const pf_batch *prompts,
                         const uint64_t *prompt_index, const uint32_t *sample_index,
                         const pf_generate_config *cfg)
{
    int rc = pf_sampling_check(&cfg->sampling);
    if (rc)
        return rc;
    if (cfg->max_new_tokens < 1 || cfg->max_new_tokens - 1 > PF_SAMPLE_MAX_POSITION ||
        cfg->n_stop < 0)
        return pf_fail(PF_ERR_USAGE, "generate: max_new_tokens %d must lie in [1, %d]",
                       cfg->max_new_tokens, PF_SAMPLE_MAX_POSITION + 1);
    if (prompts->B < 1 || prompts->B > pf_kv_cache_max_batch(cache))
        return pf_fail(PF_ERR_USAGE, "generate: %d prompts for a kv cache of %d sequences",
                       prompts->B, pf_kv_cache_max_batch(cache));
    pf_sample_rng key;
    for (int b = 0; b < prompts->B; b++) {
        if (prompts->lengths[b] + cfg->max_new_tokens - 1 > pf_kv_cache_max_seq(cache))
            return pf_fail(PF_ERR_USAGE,
                           "generate: prompt %d of %d tokens + %d new tokens exceeds the kv "
                           "cache's %d positions",
                           b, prompts->lengths[b], cfg->max_new_tokens, pf_kv_cache_max_seq(cache));
        if ((rc = pf_sample_key(cfg->seed, cfg->step, prompt_index[b],
                                sample_index ? sample_index[b] : 0, 0, &key)))
            return pf_fail_prefix(rc, "generate: prompt %d", b);
    }
    return PF_OK;
}

/* Pads every output row and clears the per-sequence results. */
static void init_outputs(const pf_generate_config *cfg, int B, pf_generate_out *out)
{
    const size_t n = (size_t)B * (size_t)cfg->max_new_tokens;
    for (size_t i = 0; i < n; i++)
        out->tokens[i] = cfg->pad_id;
    if (out->logprobs)
        memset(out->logprobs, 0, sizeof(float) * n);
    if (out->entropies)
        memset(out->entropies, 0, sizeof(float) * n);
    memset(out->lengths, 0, sizeof(int32_t) * (size_t)B);
    memset(out->finished, 0, (size_t)B);
}

/* 1 when tok is one of the stop ids. */
static int is_stop(const pf_generate_config *cfg, int32_t tok)
{
    for (int i = 0; i < cfg->n_stop; i++)
        if (cfg->stop_ids[i] == tok)
            return 1;
    return 0;
}

/* Samples token j of every active sequence from its logits row, records it, and retires
 * sequences that hit a stop id. Returns PF_OK or the sampler's error. */
static int sample_position(gen_scratch *g, int V, const uint64_t *prompt_index,
                           const uint32_t *sample_index, const pf_generate_config *cfg, int B,
                           int j, pf_generate_out *out)
{
    for (int b = 0; b < B; b++) {
        if (!g->active[b])
            continue;
        pf_sample_rng key;
        pf_sample s;
        pf_sample_key(cfg->seed, cfg->step, prompt_index[b], sample_index ? sample_index[b] : 0,
                      (uint32_t)j, &key);
        int rc = pf_sample_token(g->sampler, g->logits + (size_t)b * V, &cfg->sampling,
                                 pf_sample_uniform(&key), &s);
        if (rc)
            return pf_fail_prefix(rc, "generate: sequence %d position %d", b, j);
        const size_t at = (size_t)b * (size_t)cfg->max_new_tokens + (size_t)j;
        out->tokens[at] = s.token;
        if (out->logprobs)
            out->logprobs[at] = (float)s.logprob;
        if (out->entropies)
            out->entropies[at] = (float)s.entropy;
        out->lengths[b] = j + 1;
        g->next[b] = s.token;
        if (is_stop(cfg, s.token)) {
            out->finished[b] = 1;
            g->active[b] = 0;
        }
    }
    return PF_OK;
}

/* Prefill, then sample / decode until no sequence is active or max_new_tokens. */
static int run_loop(pf_model *m, pf_kv_cache *cache, gen_scratch *g, const pf_batch *prompts,
                    const uint64_t *prompt_index, const uint32_t *sample_index,
                    const pf_generate_config *cfg, pf_generate_out *out)
{
    const int B = prompts->B, V = pf_model_get_config(m)->vocab_size;
    int rc = pf_model_prefill(m, cache, prompts, g->logits);
    if (rc)
        return rc;
    memset(g->active, 1, (size_t)B);
    for (int j = 0; j < cfg->max_new_tokens; j++) {
        if ((rc = sample_position(g, V, prompt_index, sample_index, cfg, B, j, out)))
            return rc;
        int any = 0;
        for (int b = 0; b < B; b++)
            any |= g->active[b];
        if (!any || j == cfg->max_new_tokens - 1)
            break;
        if ((rc = pf_model_decode_step(m, cache, g->next, g->active, g->logits)))
            return rc;
    }
    return PF_OK;
}

int pf_generate_with(pf_model *m, pf_kv_cache *cache, const pf_batch *prompts,
                     const uint64_t *prompt_index, const uint32_t *sample_index,
                     const pf_generate_config *cfg, pf_generate_scratch *g, pf_generate_out *out)
{
    int rc = check_request(cache, prompts, prompt_index, sample_index, cfg);
    if (rc)
        return rc;
    if (prompts->B > g->max_batch || g->V != pf_model_get_config(m)->vocab_size)
        return pf_fail(PF_ERR_USAGE,
                       "generate: scratch for %d sequences of %d tokens, asked for %d of %d",
                       g->max_batch, g->V, prompts->B, pf_model_get_config(m)->vocab_size);
    init_outputs(cfg, prompts->B, out);
    return run_loop(m, cache, g, prompts, prompt_index, sample_index, cfg, out);
}

int pf_generate(pf_model *m, pf_kv_cache *cache, const pf_batch *prompts,
                const uint64_t *prompt_index, const uint32_t *sample_index,
                const pf_generate_config *cfg, pf_generate_out *out)
{
    pf_generate_scratch *g = NULL;
    int rc = check_request(cache, prompts, prompt_index, sample_index, cfg);
    if (!rc)
        rc = pf_generate_scratch_create(prompts->B, pf_model_get_config(m)->vocab_size, &g);
    if (!rc)
        rc = pf_generate_with(m, cache, prompts, prompt_index, sample_index, cfg, g, out);
    pf_generate_scratch_free(g);
    return rc;
}
