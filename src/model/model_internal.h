/*
 * model_internal.h: what the model modules share and the rest of the library does not
 * see: the model struct, the workspace header and the per-architecture operations.
 *
 * An architecture provides a tensor table, an initialiser, workspace / forward /
 * backward functions and KV-cache / prefill / decode-step functions; model.c dispatches
 * through pf_arch_ops and owns everything that is architecture-independent (buffers,
 * table lookups, gradients).
 */
#ifndef PREFOPT_MODEL_INTERNAL_H
#define PREFOPT_MODEL_INTERNAL_H

#include <stddef.h>

#include "prefopt/model.h"

typedef struct pf_arch_ops {
    const char *name;
    /* Fills table (capacity cap) for cfg; returns the number of tensors. */
    int (*build_tensors)(const pf_model_config *cfg, pf_tensor *table, int cap);
    /* The standard random initialisation of the architecture. */
    void (*init_random)(pf_model *m, uint64_t seed);
    int (*workspace_create)(const pf_model *m, int max_batch, int max_seq, int with_backward,
                            void **impl, size_t *bytes);
    void (*workspace_free)(void *impl);
    int (*forward)(pf_model *m, void *impl, const pf_batch *batch, const pf_forward_out *out);
    int (*backward)(pf_model *m, void *impl, const float *dlogprobs, const float *dvalues);
    /* Decoding (see model.h): a KV cache and the prefill / decode-step passes over it. */
    int (*kv_cache_create)(const pf_model *m, int max_batch, int max_seq, void **impl,
                           size_t *bytes);
    void (*kv_cache_free)(void *impl);
    int (*kv_cache_length)(const void *impl, int b);
    int (*prefill)(pf_model *m, void *impl, const pf_batch *batch, float *logits);
    int (*decode_step)(pf_model *m, void *impl, const int32_t *tokens, const uint8_t *active,
                       float *logits);
} pf_arch_ops;

struct pf_model {
    pf_model_config cfg;
    const pf_arch_ops *ops;
    size_t n_params;
    float *params;
    float *grads; /* NULL without gradients */
    int n_tensors;
    pf_tensor *tensors;
};

struct pf_workspace {
    const pf_arch_ops *ops;
    const pf_model *model; /* the model whose shapes it was sized for */
    size_t bytes;
    void *impl;
};

struct pf_kv_cache {
    const pf_arch_ops *ops;
    int max_batch, max_seq;
    size_t bytes;
    void *impl;
};

extern const pf_arch_ops pf_gpt2_ops;

/* GPT-2 decoding (gpt2_decode.c), entries of pf_gpt2_ops. */
int pf_gpt2_kv_cache_create(const pf_model *m, int max_batch, int max_seq, void **impl,
                            size_t *bytes);
void pf_gpt2_kv_cache_free(void *impl);
int pf_gpt2_kv_cache_length(const void *impl, int b);
int pf_gpt2_prefill(pf_model *m, void *impl, const pf_batch *batch, float *logits);
int pf_gpt2_decode_step(pf_model *m, void *impl, const int32_t *tokens, const uint8_t *active,
                        float *logits);

/* Upper bound on the tensor count of any architecture for cfg. */
int pf_max_tensors(const pf_model_config *cfg);

#endif
