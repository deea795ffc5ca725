/*
 * generate_ref.c: the --reference scoring of `generate` (see generate_ref.h).
 */
#include "cli/generate_ref.h"

#include <stdlib.h>
#include <string.h>

#include "prefopt/checkpoint.h"
#include "prefopt/error.h"
#include "prefopt/rl_math.h"

struct pf_gen_scorer {
    pf_model *ref;
    pf_workspace *ws_policy, *ws_ref;
    int32_t *tokens, *lengths; /* [max_batch, max_seq], [max_batch] */
    uint8_t *need;             /* [max_batch, max_seq] */
    float *logp, *ref_logp;    /* [max_batch, max_seq] */
    int max_batch, max_seq;
    float temperature;
};

/* Checks that the reference can score what the policy generates. */
static int check_reference(const char *path, const pf_model *policy, const pf_model *ref,
                           int max_seq)
{
    const pf_model_config *p = pf_model_get_config(policy), *r = pf_model_get_config(ref);
    if (r->vocab_size != p->vocab_size)
        return pf_fail(PF_ERR_USAGE,
                       "generate: --reference %s: vocab_size %d differs from the checkpoint's %d",
                       path, r->vocab_size, p->vocab_size);
    if (r->max_seq_len < max_seq)
        return pf_fail(PF_ERR_USAGE,
                       "generate: --reference %s: max_seq_len %d is below the %d tokens of the "
                       "longest prompt + --max-new-tokens",
                       path, r->max_seq_len, max_seq);
    return PF_OK;
}

/* Allocates the chunk scratch. */
static int alloc_scratch(pf_gen_scorer *s)
{
    const size_t cells = (size_t)s->max_batch * (size_t)s->max_seq;
    s->tokens = malloc(sizeof(int32_t) * cells);
    s->lengths = malloc(sizeof(int32_t) * (size_t)s->max_batch);
    s->need = malloc(cells);
    s->logp = malloc(sizeof(float) * cells);
    s->ref_logp = malloc(sizeof(float) * cells);
    if (!s->tokens || !s->lengths || !s->need || !s->logp || !s->ref_logp)
        return pf_fail(PF_ERR_RUNTIME, "generate: --reference: out of memory");
    return PF_OK;
}

int pf_gen_scorer_create(const char *path, const pf_model *policy, int max_batch, int max_seq,
                         float temperature, pf_gen_scorer **out)
{
    *out = NULL;
    pf_gen_scorer *s = calloc(1, sizeof *s);
    if (!s)
        return pf_fail(PF_ERR_RUNTIME, "generate: --reference: out of memory");
    s->max_batch = max_batch;
    s->max_seq = max_seq;
    s->temperature = temperature > 0.0f ? temperature : 1.0f; /* greedy: unscaled */
    int rc = pf_checkpoint_read_model_at(path, 0, &s->ref, NULL, NULL);
    if (rc)
        rc = pf_fail_prefix(rc, "generate: --reference");
    if (!rc)
        rc = check_reference(path, policy, s->ref, max_seq);
    if (!rc)
        rc = alloc_scratch(s);
    if (!rc)
        rc = pf_workspace_create(policy, max_batch, max_seq, 0, &s->ws_policy);
    if (!rc)
        rc = pf_workspace_create(s->ref, max_batch, max_seq, 0, &s->ws_ref);
    if (rc) {
        pf_gen_scorer_free(s);
        return rc;
    }
    *out = s;
    return PF_OK;
}

void pf_gen_scorer_free(pf_gen_scorer *s)
{
    if (!s)
        return;
    pf_workspace_free(s->ws_policy);
    pf_workspace_free(s->ws_ref);
    pf_model_free(s->ref);
    free(s->tokens), free(s->lengths), free(s->need), free(s->logp), free(s->ref_logp);
    free(s);
}

/* Packs prompt + completion rows (right-padded to T) and the completion mask, as
 * pf_rollout_pack does; returns T. */
static int pack(pf_gen_scorer *s, const pf_token_ids *prompts, const int32_t *completions,
                int stride, const int32_t *lengths, int n)
{
    int T = 2;
    for (int i = 0; i < n; i++) {
        const int L = (int)prompts[i].len + lengths[i];
        T = L > T ? L : T;
    }
    memset(s->need, 0, (size_t)n * T);
    for (int i = 0; i < n; i++) {
        const int P = (int)prompts[i].len, L = lengths[i];
        int32_t *row = s->tokens + (size_t)i * T;
        memcpy(row, prompts[i].ids, sizeof(int32_t) * P);
        memcpy(row + P, completions + (size_t)i * stride, sizeof(int32_t) * L);
        memset(row + P + L, 0, sizeof(int32_t) * (T - P - L));
        s->lengths[i] = P + L;
        memset(s->need + (size_t)i * T + P - 1, 1, (size_t)L);
    }
    return T;
}

int pf_gen_scorer_run(pf_gen_scorer *s, pf_model *policy, const pf_token_ids *prompts,
                      const int32_t *completions, int stride, const int32_t *lengths, int n,
                      pf_gen_scores *out)
{
    const int T = pack(s, prompts, completions, stride, lengths, n);
    pf_batch b = {.tokens = s->tokens, .lengths = s->lengths, .B = n, .T = T};
    pf_forward_out fp = {.logprobs = s->logp, .temperature = s->temperature, .need = s->need};
    pf_forward_out fr = {.logprobs = s->ref_logp, .temperature = s->temperature, .need = s->need};
    int rc = pf_model_forward(policy, s->ws_policy, &b, &fp);
    if (!rc)
        rc = pf_model_forward(s->ref, s->ws_ref, &b, &fr);
    for (int i = 0; i < n && !rc; i++) {
        const size_t first = (size_t)i * T + prompts[i].len - 1;
        double lp = 0.0, ref = 0.0, kl = 0.0;
        for (int t = 0; t < lengths[i]; t++) {
            lp += s->logp[first + t];
            ref += s->ref_logp[first + t];
            kl += pf_kl_token(PF_KL_K1, s->logp[first + t], s->ref_logp[first + t]);
        }
        out->logprob[i] = lp, out->ref_logprob[i] = ref, out->kl[i] = kl;
    }
    return rc;
}
