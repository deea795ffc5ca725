/*
 * generate_ref.h: `generate --reference`: scores sampled completions under the generating
 * policy and a reference checkpoint, as PPO's rollouts do (rollout.c): one full
 * pf_model_forward of prompt + completion per chunk, logits divided by the sampling
 * temperature (1 when greedy), log-probs kept on the completion positions only (every
 * generated token, the stop token included). Per sequence: logprob = sum of log pi,
 * ref_logprob = sum of log pi_ref, kl = sum of the per-token k1 estimates
 * (pf_kl_token), each summed in double in token order. A chunk's numbers depend only on
 * the chunk, so they are the same whichever rank computes it.
 */
#ifndef PREFOPT_CLI_GENERATE_REF_H
#define PREFOPT_CLI_GENERATE_REF_H

#include <stdint.h>

#include "prefopt/model.h"
#include "prefopt/tokenizer.h"

/* The reference model and the scratch of one chunk (sized once). */
typedef struct pf_gen_scorer pf_gen_scorer;

/* Loads the reference (file or run folder) for the policy and sizes the scratch for
 * chunks of up to max_batch sequences of up to max_seq tokens. Errors name --reference
 * and the path (exit 2 for a missing / unreadable checkpoint, another vocabulary size or
 * a max_seq_len below max_seq). */
int pf_gen_scorer_create(const char *path, const pf_model *policy, int max_batch, int max_seq,
                         float temperature, pf_gen_scorer **out);
void pf_gen_scorer_free(pf_gen_scorer *s);

/* Per-sequence sums of one chunk. */
typedef struct {
    double *logprob, *ref_logprob, *kl; /* [n] */
} pf_gen_scores;

/* Scores the n sequences prompts[i] + completions[i * stride .. + lengths[i]) (n at most
 * max_batch, each lengths[i] >= 1) under the policy and the reference. Does not
 * allocate. */
int pf_gen_scorer_run(pf_gen_scorer *s, pf_model *policy, const pf_token_ids *prompts,
                      const int32_t *completions, int stride, const int32_t *lengths, int n,
                      pf_gen_scores *out);

#endif
