/*
 * model.c: architecture-independent model plumbing: the architecture registry, config
 * checks, the flat parameter / gradient buffers and their tensor table, and dispatch of
 * workspace / forward / backward and KV-cache / prefill / decode to the architecture.
 *
 * Invariant: tensors are laid out back to back in table order, so the flat buffer IS
 * the canonical order used by checkpoints and params_sha256, and one all-reduce of the
 * gradient buffer serves every tensor.
 */
#include <stdio.h>
#include <string.h>

#include "model_internal.h"
#include "prefopt/error.h"

static const pf_arch_ops *const ARCH_OPS[] = {&pf_gpt2_ops};
static const char *const ARCH_NAMES[] = {"gpt2"};
_Static_assert(sizeof ARCH_OPS / sizeof ARCH_OPS[0] == PF_ARCH_COUNT, "ARCH_OPS vs PF_ARCH_COUNT");
_Static_assert(sizeof ARCH_NAMES / sizeof ARCH_NAMES[0] == PF_ARCH_COUNT,
               "ARCH_NAMES vs PF_ARCH_COUNT");

const char *pf_arch_name(pf_arch arch)
{
    return (unsigned)arch < PF_ARCH_COUNT ? ARCH_NAMES[arch] : NULL;
}

int pf_arch_from_name(const char *name, pf_arch *out)
{
    for (int a = 0; a < PF_ARCH_COUNT; a++)
        if (strcmp(name, ARCH_NAMES[a]) == 0) {
            *out = (pf_arch)a;
            return PF_OK;
        }
    return pf_fail(PF_ERR_USAGE, "model.arch: unknown architecture \"%s\" (known: gpt2)", name);
}

/* Checks that value lies in [lo, hi], naming key otherwise. */
static int check_range(const char *key, long value, long lo, long hi)
{
    if (value < lo || value > hi)
        return pf_fail(PF_ERR_USAGE, "model.%s: %ld is out of range [%ld, %ld]", key, value, lo,
                       hi);
    return PF_OK;
}

int pf_model_config_check(const pf_model_config *cfg)
{
    int rc;
    if ((unsigned)cfg->arch >= PF_ARCH_COUNT)
        return pf_fail(PF_ERR_USAGE, "model.arch: unknown architecture id %d", (int)cfg->arch);
    if ((rc = check_range("n_layer", cfg->n_layer, 1, 256)) ||
        (rc = check_range("n_head", cfg->n_head, 1, 256)) ||
        (rc = check_range("d_model", cfg->d_model, 1, 16384)) ||
        (rc = check_range("vocab_size", cfg->vocab_size, 2, 1 << 24)) ||
        (rc = check_range("max_seq_len", cfg->max_seq_len, 2, 1 << 16)) ||
        (rc = check_range("value_head", cfg->value_head, 0, 1)))
        return rc;
    if (cfg->d_model % cfg->n_head != 0)
        return pf_fail(PF_ERR_USAGE, "model.n_head: d_model %d is not divisible by n_head %d",
                       cfg->d_model, cfg->n_head);
    return PF_OK;
}

int pf_max_tensors(const pf_model_config *cfg) { return 16 * cfg->n_layer + 16; }

int pf_model_create(const pf_model_config *cfg, int with_grads, pf_model **out)
{
    int rc = pf_model_config_check(cfg);
    if (rc)
        return rc;
    pf_model *m = pf_calloc(sizeof *m, "model");
    if (!m)
        return PF_ERR_RUNTIME;
    m->cfg = *cfg;
    m->ops = ARCH_OPS[cfg->arch];
    int cap = pf_max_tensors(cfg);
    m->tensors = pf_calloc(sizeof(pf_tensor) * (size_t)cap, "model tensor table");
    if (!m->tensors)
        goto fail;
    m->n_tensors = m->ops->build_tensors(cfg, m->tensors, cap);
    for (int i = 0; i < m->n_tensors; i++) {
        m->tensors[i].offset = m->n_params;
        m->n_params += m->tensors[i].numel;
    }
    m->params = pf_calloc(sizeof(float) * m->n_params, "model parameters");
    if (!m->params)
        goto fail;
    if (with_grads && !(m->grads = pf_calloc(sizeof(float) * m->n_params, "model gradients")))
        goto fail;
    *out = m;
    return PF_OK;
fail:
    pf_model_free(m);
    return PF_ERR_RUNTIME;
}

void pf_model_free(pf_model *m)
{
    if (!m)
        return;
    pf_free(m->grads);
    pf_free(m->params);
    pf_free(m->tensors);
    pf_free(m);
}

const pf_model_config *pf_model_get_config(const pf_model *m) { return &m->cfg; }
size_t pf_model_num_params(const pf_model *m) { return m->n_params; }
float *pf_model_params(pf_model *m) { return m->params; }
const float *pf_model_params_const(const pf_model *m) { return m->params; }
float *pf_model_grads(pf_model *m) { return m->grads; }
int pf_model_num_tensors(const pf_model *m) { return m->n_tensors; }

const pf_tensor *pf_model_tensor(const pf_model *m, int index)
{
    return index >= 0 && index < m->n_tensors ? &m->tensors[index] : NULL;
}

const pf_tensor *pf_model_find_tensor(const pf_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

void pf_model_zero_grads(pf_model *m)
{
    if (m->grads)
        memset(m->grads, 0, sizeof(float) * m->n_params);
}

void pf_model_init_random(pf_model *m, uint64_t seed) { m->ops->init_random(m, seed); }

int pf_workspace_create(const pf_model *m, int max_batch, int max_seq, int with_backward,
                        pf_workspace **out)
{
    if (max_batch < 1 || max_seq < 1 || max_seq > m->cfg.max_seq_len)
        return pf_fail(PF_ERR_USAGE,
                       "workspace: batch %d x sequence %d is not within 1.. x 1..max_seq_len %d",
                       max_batch, max_seq, m->cfg.max_seq_len);
    pf_workspace *ws = pf_calloc(sizeof *ws, "workspace");
    if (!ws)
        return PF_ERR_RUNTIME;
    ws->ops = m->ops;
    ws->model = m;
    int rc = m->ops->workspace_create(m, max_batch, max_seq, with_backward, &ws->impl, &ws->bytes);
    if (rc) {
        pf_free(ws);
        return rc;
    }
    *out = ws;
    return PF_OK;
}

void pf_workspace_free(pf_workspace *ws)
{
    if (!ws)
        return;
    ws->ops->workspace_free(ws->impl);
    pf_free(ws);
}

size_t pf_workspace_bytes(const pf_workspace *ws) { return ws->bytes; }

int pf_model_forward(pf_model *m, pf_workspace *ws, const pf_batch *batch,
                     const pf_forward_out *out)
{
    if (ws->ops != m->ops)
        return pf_fail(PF_ERR_RUNTIME, "forward: workspace belongs to another architecture");
    return m->ops->forward(m, ws->impl, batch, out);
}

int pf_model_backward(pf_model *m, pf_workspace *ws, const float *dlogprobs, const float *dvalues)
{
    if (!m->grads)
        return pf_fail(PF_ERR_RUNTIME, "backward: model was created without gradients");
    return m->ops->backward(m, ws->impl, dlogprobs, dvalues);
}

int pf_kv_cache_create(const pf_model *m, int max_batch, int max_seq, pf_kv_cache **out)
{
    if (max_batch < 1 || max_seq < 1 || max_seq > m->cfg.max_seq_len)
        return pf_fail(PF_ERR_USAGE,
                       "kv cache: batch %d x sequence %d is not within 1.. x 1..max_seq_len %d",
                       max_batch, max_seq, m->cfg.max_seq_len);
    pf_kv_cache *c = pf_calloc(sizeof *c, "kv cache");
    if (!c)
        return PF_ERR_RUNTIME;
    c->ops = m->ops;
    c->max_batch = max_batch;
    c->max_seq = max_seq;
    int rc = m->ops->kv_cache_create(m, max_batch, max_seq, &c->impl, &c->bytes);
    if (rc) {
        pf_free(c);
        return rc;
    }
    *out = c;
    return PF_OK;
}

void pf_kv_cache_free(pf_kv_cache *cache)
{
    if (!cache)
        return;
    cache->ops->kv_cache_free(cache->impl);
    pf_free(cache);
}

size_t pf_kv_cache_bytes(const pf_kv_cache *cache) { return cache->bytes; }
int pf_kv_cache_max_batch(const pf_kv_cache *cache) { return cache->max_batch; }
int pf_kv_cache_max_seq(const pf_kv_cache *cache) { return cache->max_seq; }

int pf_kv_cache_length(const pf_kv_cache *cache, int b)
{
    return cache->ops->kv_cache_length(cache->impl, b);
}

int pf_model_prefill(pf_model *m, pf_kv_cache *cache, const pf_batch *batch, float *logits)
{
    if (cache->ops != m->ops)
        return pf_fail(PF_ERR_RUNTIME, "prefill: kv cache belongs to another architecture");
    return m->ops->prefill(m, cache->impl, batch, logits);
}

int pf_model_decode_step(pf_model *m, pf_kv_cache *cache, const int32_t *tokens,
                         const uint8_t *active, float *logits)
{
    if (cache->ops != m->ops)
        return pf_fail(PF_ERR_RUNTIME, "decode: kv cache belongs to another architecture");
    return m->ops->decode_step(m, cache->impl, tokens, active, logits);
}
