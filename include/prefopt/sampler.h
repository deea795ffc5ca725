/*
 * sampler.h: next-token sampling from logits, and the generation loop built on the KV
 * cache (model.h) that `generate` and PPO/GRPO rollouts use.
 *
 * Randomness is counter-based (rng.h): the draw for one token is ONE Philox uniform keyed
 * by (seed, step, prompt index, sample index, position), never by a rank's or a batch's
 * stream. Together with the cache's contract (a sequence's logits do not depend on the
 * rest of its batch), this makes generation a pure function of
 *   (weights, prompt tokens, seed, step, prompt index, sample index, sampling settings,
 *    stop ids, max_new_tokens)   for a given binary and BLAS thread count:
 * the same text whatever the rank count, batch size, batch order or other prompts.
 *
 * Sampling: temperature T > 0 samples from softmax(logits / T) restricted to the nucleus
 * (top_p): the smallest set of highest-probability tokens whose mass is >= top_p, ties in
 * probability ordered by token id, lowest first. T == 0 is greedy: the argmax, lowest id
 * on ties. The reported log-prob and entropy are those of the temperature-scaled FULL
 * distribution (not renormalised to the nucleus), as PPO needs them; for T == 0 they are
 * those of the unscaled distribution (T = 1).
 */
#ifndef PREFOPT_SAMPLER_H
#define PREFOPT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "prefopt/model.h"

/* The Philox coordinates of one draw: pf_rng_uniform(seed, stream, index). */
typedef struct {
    uint64_t seed, stream, index;
} pf_sample_rng;

/* Limits of the key encoding: stream = "SAMP" tag << 32 | step, index = prompt_index << 32
 * | sample_index << 16 | position. */
enum { PF_SAMPLE_MAX_SAMPLE_INDEX = 0xFFFF, PF_SAMPLE_MAX_POSITION = 0xFFFF };
#define PF_SAMPLE_MAX_STEP         0xFFFFFFFFull
#define PF_SAMPLE_MAX_PROMPT_INDEX 0xFFFFFFFFull

/* The key of the token at `position` (0 = the first generated token) of sample
 * `sample_index` of prompt `prompt_index` (its index in the dataset, not in a batch) at
 * training step `step`. Distinct tuples give distinct keys, disjoint from the other
 * streams of the library. Returns PF_OK, or PF_ERR_USAGE when a field exceeds its limit. */
int pf_sample_key(uint64_t seed, uint64_t step, uint64_t prompt_index, uint32_t sample_index,
                  uint32_t position, pf_sample_rng *out);

/* The uniform in (0, 1) of a key. */
double pf_sample_uniform(const pf_sample_rng *key);

typedef struct {
    float temperature; /* >= 0; 0: greedy */
    float top_p;       /* (0, 1]; 1: no truncation */
} pf_sampling;

/* Checks the ranges above; names the offending setting. */
int pf_sampling_check(const pf_sampling *cfg);

typedef struct {
    int32_t token;
    double logprob; /* log p(token) under the temperature-scaled full distribution */
    double entropy; /* of that distribution, in nats */
} pf_sample;

/* Scratch for sampling over a vocabulary (sorting the nucleus); create once, reuse. */
typedef struct pf_sampler pf_sampler;

int pf_sampler_create(int vocab_size, pf_sampler **out);
void pf_sampler_free(pf_sampler *s);

/* Draws one token from logits [vocab_size] with uniform u in (0, 1) (pf_sample_uniform).
 * Logits may hold -inf (excluded tokens) but not NaN or +inf, and at least one must be
 * finite: otherwise PF_ERR_RUNTIME naming the problem. Does not allocate. */
int pf_sample_token(pf_sampler *s, const float *logits, const pf_sampling *cfg, double u,
                    pf_sample *out);

/* --- generation loop --------------------------------------------------------------- */

typedef struct {
    int max_new_tokens;      /* >= 1 */
    const int32_t *stop_ids; /* generation of a sequence ends after one of these */
    int n_stop;              /* >= 0 */
    pf_sampling sampling;
    uint64_t seed, step;
    int32_t pad_id; /* written to the unused tail of out->tokens */
} pf_generate_config;

/* Per-sequence outputs of pf_generate, row b for prompt b; arrays of max_new_tokens per
 * sequence are row-major [B, max_new_tokens]. */
typedef struct {
    int32_t *tokens;   /* generated ids; a stop id, when hit, is included; then pad_id */
    int32_t *lengths;  /* [B] generated tokens (stop id included) */
    uint8_t *finished; /* [B] 1: ended with a stop id; 0: reached max_new_tokens */
    float *logprobs;   /* optional (NULL): each token's pf_sample.logprob; 0 past the end */
    float *entropies;  /* optional (NULL): each position's pf_sample.entropy; 0 past the end */
} pf_generate_out;

/* Generates up to max_new_tokens tokens for each of the B prompts (right-padded batch):
 * prefill, then one decode step per token, each sequence stopping at its first stop id
 * or at max_new_tokens. Token j of sequence b is drawn with
 * pf_sample_key(seed, step, prompt_index[b], sample_index[b], j); sample_index may be
 * NULL (all 0). Several samples of one prompt are rows with the same prompt and
 * prompt_index and distinct sample_index. The cache needs max_batch >= B and max_seq >=
 * lengths[b] + max_new_tokens - 1. Allocates only its logits and sampler scratch, once. */
int pf_generate(pf_model *m, pf_kv_cache *cache, const pf_batch *prompts,
                const uint64_t *prompt_index, const uint32_t *sample_index,
                const pf_generate_config *cfg, pf_generate_out *out);

/* The loop's scratch (logits [max_batch, V], the sampler, per-sequence flags), for callers
 * that generate repeatedly (PPO / GRPO rollouts): create once, reuse, free. */
typedef struct pf_generate_scratch pf_generate_scratch;
int pf_generate_scratch_create(int max_batch, int vocab_size, pf_generate_scratch **out);
void pf_generate_scratch_free(pf_generate_scratch *scratch);

/* pf_generate with caller-owned scratch (B <= its max_batch, the model's vocabulary
 * size): the same results, and no allocation at all. */
int pf_generate_with(pf_model *m, pf_kv_cache *cache, const pf_batch *prompts,
                     const uint64_t *prompt_index, const uint32_t *sample_index,
                     const pf_generate_config *cfg, pf_generate_scratch *scratch,
                     pf_generate_out *out);

#endif
