/*
 * model.h: the policy / reference / critic network.
 *
 * A model is an architecture (a registry entry, see pf_arch) plus one contiguous
 * float32 parameter buffer and, when trained, a gradient buffer of the same layout.
 * Tensors are named and shaped as Hugging Face GPT-2 (weights [in, out] row-major,
 * the HF Conv1D layout) and laid out in one canonical order: the order of the
 * tensor table, which is also the order of checkpoints and of params_sha256.
 *
 * Activations live in a workspace sized once for a (max_batch, max_seq) shape and
 * reused for every smaller batch. Forward maps token ids to next-token
 * log-probabilities (and optionally scalar values); backward maps their gradients
 * to parameter gradients, which it ADDS to the gradient buffer (callers zero it).
 *
 * Sequences are right-padded: sequence b holds lengths[b] real tokens followed by
 * padding. Positions at or past a sequence's end produce log-prob 0 and receive no
 * gradient; padding never changes the results for real tokens (attention is causal).
 */
#ifndef PREFOPT_MODEL_H
#define PREFOPT_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* Architecture registry. A second family (RMSNorm, RoPE, SwiGLU, GQA, untied head)
 * is added as a new entry with its own tensor table, forward and backward. */
typedef enum { PF_ARCH_GPT2 = 0, PF_ARCH_COUNT } pf_arch;

/* The architecture's name ("gpt2"), or NULL for an out-of-range value. */
const char *pf_arch_name(pf_arch arch);
/* Looks an architecture up by name; returns PF_OK or PF_ERR_USAGE naming it. */
int pf_arch_from_name(const char *name, pf_arch *out);

typedef struct {
    pf_arch arch;
    int n_layer;
    int n_head;
    int d_model;
    int vocab_size;
    int max_seq_len;
    int value_head; /* 1: a scalar head v_head.weight [D], v_head.bias [1] */
} pf_model_config;

/* Checks ranges and divisibility; on error names the offending key (model.n_head...). */
int pf_model_config_check(const pf_model_config *cfg);

enum { PF_TENSOR_NAME_MAX = 64 };

typedef struct {
    char name[PF_TENSOR_NAME_MAX]; /* e.g. "h.3.attn.c_attn.weight" */
    int ndim;                      /* 1 or 2 */
    int64_t shape[2];
    size_t offset; /* in floats, into params/grads */
    size_t numel;
    int decay; /* 1: weight decay applies (matrices and embeddings) */
} pf_tensor;

typedef struct pf_model pf_model;

/* Creates a model with zeroed parameters; with_grads allocates the gradient mirror.
 * Returns PF_OK or an error (bad config, out of memory). */
int pf_model_create(const pf_model_config *cfg, int with_grads, pf_model **out);
void pf_model_free(pf_model *m);

const pf_model_config *pf_model_get_config(const pf_model *m);
size_t pf_model_num_params(const pf_model *m);
float *pf_model_params(pf_model *m);
const float *pf_model_params_const(const pf_model *m);
/* The gradient buffer, or NULL when created without gradients. */
float *pf_model_grads(pf_model *m);
int pf_model_num_tensors(const pf_model *m);
const pf_tensor *pf_model_tensor(const pf_model *m, int index);
/* The tensor of that name, or NULL. */
const pf_tensor *pf_model_find_tensor(const pf_model *m, const char *name);
void pf_model_zero_grads(pf_model *m);

/* GPT-2 initialisation from a seed: N(0, 0.02) weights and embeddings, residual
 * projections scaled by 1/sqrt(2 n_layer), zero biases, unit LayerNorm gains, zero
 * value head. Counter-based: element i of tensor k depends only on (seed, k, i). */
void pf_model_init_random(pf_model *m, uint64_t seed);

/* Activation memory for batches up to max_batch x max_seq. */
typedef struct pf_workspace pf_workspace;

/* Sizes a workspace for m's shapes; with_backward keeps what backward needs. */
int pf_workspace_create(const pf_model *m, int max_batch, int max_seq, int with_backward,
                        pf_workspace **out);
void pf_workspace_free(pf_workspace *ws);
/* Bytes of activation memory the workspace holds. */
size_t pf_workspace_bytes(const pf_workspace *ws);

/* One micro-batch: tokens [B, T] row-major, right-padded; lengths [B] in 1..T. */
typedef struct {
    const int32_t *tokens;
    const int32_t *lengths;
    int B;
    int T;
} pf_batch;

/* What forward should produce. logprobs [B, T]: logprobs[b*T + t] =
 * log p(tokens[b, t+1] | tokens[b, 0..t]) for t < lengths[b] - 1, else 0;
 * NULL skips the LM head. values [B, T]: the value head at each position (0 past the
 * end); NULL skips it. temperature > 0 divides the logits before the softmax. */
typedef struct {
    float *logprobs;
    float *values;
    float temperature;
    /* [B, T] or NULL: the positions whose log-prob the caller needs; the others get 0
     * and cost no LM-head work (e.g. a preference pair's prompt tokens). Backward is
     * cheaper still: only positions with a non-zero d(log-prob) reach the LM head. */
    const uint8_t *need;
} pf_forward_out;

/* Runs the model on a batch. Token ids must lie in [0, vocab_size) and T must not
 * exceed the workspace's max_seq nor the model's max_seq_len. */
int pf_model_forward(pf_model *m, pf_workspace *ws, const pf_batch *batch,
                     const pf_forward_out *out);

/* Back-propagates d(loss)/d(logprobs) [B, T] and d(loss)/d(values) [B, T] (either may
 * be NULL when the forward skipped that output) through the last forward run on ws,
 * adding the parameter gradients to the gradient buffer. */
int pf_model_backward(pf_model *m, pf_workspace *ws, const float *dlogprobs, const float *dvalues);

/* --- autoregressive decoding ----------------------------------------------------------
 * A KV cache holds, per layer, the keys and values of up to max_batch sequences of up to
 * max_seq positions each, plus the scratch of one step; it is sized once and reused.
 * Prefill loads a batch of prompts (each sequence keeps its own length); each decode step
 * appends one token to every active sequence. Both return raw next-token logits (no
 * temperature): log_softmax of them agrees with pf_model_forward's log-probs of the
 * same prefix to a few float32 ulps (within 1e-5 in the tests).
 *
 * Determinism contract: a sequence's logits depend only on the model, its own tokens
 * (and where its prompt ends: prefilled and decoded positions take different kernels) and
 * the binary (and BLAS thread count): not on which other sequences share the cache,
 * their number, order or lengths, nor on which are active, nor on max_batch / max_seq.
 * Prefill runs each prompt on its own (matrix shapes depend only on its length) and
 * decode uses row-stable kernels (each row computed by the same operations whatever the
 * batch size), so a rank generating any subset of the prompts reproduces their logits
 * bit for bit. Prefill and decode logits are not bitwise equal to pf_model_forward's.
 * A cache is used with the model (shapes) it was created for; the weights may change
 * between prefills (a cache from before an update must be prefilled again). */
typedef struct pf_kv_cache pf_kv_cache;

/* Sizes a cache for m's shapes; max_seq may not exceed the model's max_seq_len. */
int pf_kv_cache_create(const pf_model *m, int max_batch, int max_seq, pf_kv_cache **out);
void pf_kv_cache_free(pf_kv_cache *cache);
/* Bytes of memory the cache holds (keys, values and scratch). */
size_t pf_kv_cache_bytes(const pf_kv_cache *cache);
/* The sizes the cache was created with. */
int pf_kv_cache_max_batch(const pf_kv_cache *cache);
int pf_kv_cache_max_seq(const pf_kv_cache *cache);
/* Positions cached for sequence b (its current length), 0 when b is not loaded. */
int pf_kv_cache_length(const pf_kv_cache *cache, int b);

/* Replaces the cache's contents with the batch's B prompts (right-padded; padding is
 * never read) and writes logits [B, V]: the next-token logits at each sequence's last
 * real position. Lengths must lie in [1, max_seq] and B in [1, max_batch]. */
int pf_model_prefill(pf_model *m, pf_kv_cache *cache, const pf_batch *batch, float *logits);

/* Appends tokens[b] to every active sequence b < B (B of the last prefill; active NULL:
 * all) and writes its next-token logits to logits[b*V .. b*V+V); inactive sequences are
 * skipped: their token is not read, their logits row and length are left unchanged.
 * Fails when an active sequence already holds max_seq positions. */
int pf_model_decode_step(pf_model *m, pf_kv_cache *cache, const int32_t *tokens,
                         const uint8_t *active, float *logits);

#endif
