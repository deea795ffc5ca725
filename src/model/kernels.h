/*
 * kernels.h: the transformer's operators as forward/backward pairs.
 *
 * Dimension legend used in every shape comment:
 *   B batch, T sequence length, N = B*T tokens, C input channels, OC output channels,
 *   D model width, H heads, hd = D/H head width, V vocabulary.
 * Conventions: outputs first, then inputs, then sizes. Backward kernels ADD into
 * parameter gradients (dweight, dbias) and into dinp where documented ("+="), and
 * overwrite it where documented ("="). Nothing here allocates.
 */
#ifndef PREFOPT_KERNELS_H
#define PREFOPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* out[N,D] = wte[tokens[n]] + wpe[n % T] */
void encoder_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe, int B,
                     int T, int D);
/* dwte[tokens[n]] += dout[n]; dwpe[n % T] += dout[n] (in token order: deterministic) */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens, int B,
                      int T, int D);

/* out[N,D] = (inp - mean) * rstd * weight + bias; saves mean[N], rstd[N]. eps 1e-5 */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int D);
/* dinp[N,D] += ..., dweight[D] += ..., dbias[D] += ... */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean, const float *rstd,
                        int N, int D);

/* out[N,OC] = beta_out * out + inp[N,C] @ weight[C,OC] + bias[OC] (bias may be NULL).
 * accumulate = 0 overwrites out, 1 adds to it (used to fuse residual additions). */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, int accumulate);
/* dinp[N,C] = dout @ weight^T (overwrite; skipped when dinp is NULL);
 * dweight[C,OC] += inp^T @ dout; dbias[OC] += column sums of dout (when non-NULL). */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC);

/* Causal multi-head self-attention.
 * qkv[N,3D] holds q | k | v per token; out[N,D]; probs[B,H,T,T] saves the softmax
 * (zero above the diagonal). Scale 1/sqrt(hd). */
void attention_forward(float *out, float *probs, const float *qkv, int B, int T, int D, int H);
/* dqkv[N,3D] = ... (overwrite); dscratch[T,T] is scratch. */
void attention_backward(float *dqkv, float *dscratch, const float *dout, const float *qkv,
                        const float *probs, int B, int T, int D, int H);

/* attention_forward for a single sequence (B = 1) that keeps one block of probabilities
 * at a time in scratch [attention_lowmem_scratch(T) floats] instead of probs [H,T,T];
 * gives the same bits as attention_forward. Used by prefill. */
size_t attention_lowmem_scratch(int T);
void attention_forward_lowmem(float *out, float *scratch, const float *qkv, int T, int D, int H);

/* out[n] = gelu_tanh(inp[n]) for n < count */
void gelu_forward(float *out, const float *inp, long count);
/* dinout[n] *= gelu_tanh'(inp[n]) (in place: the gradient flows through) */
void gelu_backward(float *dinout, const float *inp, long count);

/* Next-token log-probabilities over the LM head's logits.
 * logits[N,V] is overwritten with exp(logit - max); inv_sum[N] = 1 / sum_j exp(..).
 * logprobs[N] = log softmax(logits)[targets[n]] where valid[n] (valid NULL: every row),
 * else 0.
 * (Temperature is applied by the caller when producing logits.) */
void logsoftmax_gather_forward(float *logprobs, float *logits, float *inv_sum,
                               const int32_t *targets, const uint8_t *valid, int N, int V);
/* dlogits[N,V] (in place of logits) = dlogprobs[n] * (onehot(target) - softmax)
 * where valid[n], else 0. */
void logsoftmax_gather_backward(float *logits, const float *inv_sum, const float *dlogprobs,
                                const int32_t *targets, const uint8_t *valid, int N, int V);

/* logits[N,V] = alpha * inp[N,D] @ wte[V,D]^T (the tied LM head; alpha = 1/temperature) */
void lm_head_forward(float *logits, const float *inp, const float *wte, int N, int D, int V,
                     float alpha);
/* dinp[N,D] = alpha * dlogits @ wte (overwrite); dwte[V,D] += alpha * dlogits^T @ inp */
void lm_head_backward(float *dinp, float *dwte, const float *dlogits, const float *inp,
                      const float *wte, int N, int D, int V, float alpha);

/* Row-stable kernels for decoding. Each output element is computed by one fixed sequence
 * of operations whatever M is, so a row's result never depends on the other rows of the
 * call (OpenBLAS's sgemm does not promise this: a row's bits change with M). */
/* out[M,OC] (=|+=) inp[M,C] @ weight[C,OC] + bias[OC] (bias may be NULL); per element:
 * (out or 0) + bias, then + inp[k] * weight[k] for k = 0..C-1 in order. */
void rowstable_matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                              int M, int C, int OC, int accumulate);
/* logits[M,V] = inp[M,D] @ wte[V,D]^T, each element a fixed-lane dot product */
void rowstable_lm_head_forward(float *logits, const float *inp, const float *wte, int M, int D,
                               int V);
/* One query against n cached positions of one head: out[hd] = softmax(q k^T / sqrt(hd)) v,
 * k and v [n, hd] row-major; scores[n] is scratch. */
void attention_decode(float *out, float *scores, const float *q, const float *k, const float *v,
                      int n, int hd);

/* Plain reference versions kept as test oracles (kernels_naive.c). */
void matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias,
                          int N, int C, int OC);
void attention_forward_naive(float *out, const float *qkv, int B, int T, int D, int H);
void gelu_forward_naive(float *out, const float *inp, long count);
void logsoftmax_naive(float *logprobs, const float *logits, const int32_t *targets, int N, int V);

#endif
