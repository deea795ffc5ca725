/*
 * kernels.c: fast forward/backward operators of the GPT family (see kernels.h for the
 * dimension legend and accumulation conventions).
 *
 * Matrix products go through cblas_sgemm; everything else is written as contiguous
 * loops that GCC vectorizes. Reductions use a fixed number of partial sums (LANES)
 * combined in a fixed order, so results are bit-identical run after run for the same
 * binary and the same shapes (OpenBLAS chooses kernels by shape, so callers that need
 * bit-reproducibility keep micro-batch shapes fixed). Causal attention works in row
 * blocks of ATT_BLOCK so that the products skip most of the masked upper triangle.
 */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "fastmath.h"

enum { LANES = 16, ATT_BLOCK = 64 };

/* Sum of x[0..n) with LANES partial sums; deterministic for a given n. */
static float sum_lanes(const float *x, int n)
{
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += x[i + k];
    for (int k = 0; i < n; i++, k++)
        acc[k] += x[i];
    float s = 0.0f;
    for (int k = 0; k < LANES; k++)
        s += acc[k];
    return s;
}

/* Maximum of x[0..n), n >= 1. */
static float max_lanes(const float *x, int n)
{
    float acc[LANES];
    for (int k = 0; k < LANES; k++)
        acc[k] = x[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
    for (; i < n; i++)
        acc[0] = x[i] > acc[0] ? x[i] : acc[0];
    float m = acc[0];
    for (int k = 1; k < LANES; k++)
        m = acc[k] > m ? acc[k] : m;
    return m;
}

/* Dot product of a[0..n) and b[0..n) with LANES partial sums. */
static float dot_lanes(const float *a, const float *b, int n)
{
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += a[i + k] * b[i + k];
    for (int k = 0; i < n; i++, k++)
        acc[k] += a[i] * b[i];
    float s = 0.0f;
    for (int k = 0; k < LANES; k++)
        s += acc[k];
    return s;
}

/* out[N,D] = wte[tokens] + wpe[position] */
void encoder_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe, int B,
                     int T, int D)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((long)b * T + t) * D;
            const float *e = wte + (long)tokens[b * T + t] * D;
            const float *p = wpe + (long)t * D;
            for (int i = 0; i < D; i++)
                o[i] = e[i] + p[i];
        }
}

/* dwte[tokens] += dout; dwpe[position] += dout */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens, int B,
                      int T, int D)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *g = dout + ((long)b * T + t) * D;
            float *de = dwte + (long)tokens[b * T + t] * D;
            float *dp = dwpe + (long)t * D;
            for (int i = 0; i < D; i++) {
                de[i] += g[i];
                dp[i] += g[i];
            }
        }
}

/* out[N,D] = LN(inp) * weight + bias; mean[N], rstd[N] saved for backward */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int D)
{
    const float eps = 1e-5f;
    float centered[D];
    for (int n = 0; n < N; n++) {
        const float *x = inp + (long)n * D;
        float *o = out + (long)n * D;
        float m = sum_lanes(x, D) / (float)D;
        for (int i = 0; i < D; i++)
            centered[i] = x[i] - m;
        float var = dot_lanes(centered, centered, D) / (float)D;
        float s = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < D; i++)
            o[i] = centered[i] * s * weight[i] + bias[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

/* dinp[N,D] += d(LN)/d(inp)^T dout; dweight[D] += sum norm*dout; dbias[D] += sum dout */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean, const float *rstd,
                        int N, int D)
{
    float norm[D], dnorm[D];
    for (int n = 0; n < N; n++) {
        const float *x = inp + (long)n * D;
        const float *g = dout + (long)n * D;
        float *dx = dinp + (long)n * D;
        float m = mean[n], s = rstd[n];
        for (int i = 0; i < D; i++) {
            norm[i] = (x[i] - m) * s;
            dnorm[i] = weight[i] * g[i];
        }
        float dnorm_mean = sum_lanes(dnorm, D) / (float)D;
        float dnorm_norm_mean = dot_lanes(dnorm, norm, D) / (float)D;
        for (int i = 0; i < D; i++) {
            dbias[i] += g[i];
            dweight[i] += norm[i] * g[i];
            dx[i] += (dnorm[i] - dnorm_mean - norm[i] * dnorm_norm_mean) * s;
        }
    }
}

/* out[N,OC] (=|+=) inp[N,C] @ weight[C,OC] + bias[OC] */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, int accumulate)
{
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias) {
        for (int n = 0; n < N; n++) {
            float *o = out + (long)n * OC;
            if (accumulate)
                for (int j = 0; j < OC; j++)
                    o[j] += bias[j];
            else
                memcpy(o, bias, sizeof(float) * (size_t)OC);
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, OC, C, 1.0f, inp, C, weight, OC, beta,
                out, OC);
}

/* dinp[N,C] = dout @ weight^T; dweight[C,OC] += inp^T @ dout; dbias[OC] += sum dout */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC)
{
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, OC, 1.0f, dout, OC, weight, OC,
                    0.0f, dinp, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f,
                dweight, OC);
    if (dbias)
        for (int n = 0; n < N; n++) {
            const float *g = dout + (long)n * OC;
            for (int j = 0; j < OC; j++)
                dbias[j] += g[j];
        }
}

/* In place causal softmax of row t of a score block: p[0..t] = softmax, p[t+1..end) = 0 */
static void causal_softmax_row(float *p, int t, int end)
{
    int n = t + 1;
    float m = max_lanes(p, n);
    for (int j = 0; j < n; j++)
        p[j] = pf_fast_expf(p[j] - m);
    float inv = 1.0f / sum_lanes(p, n);
    for (int j = 0; j < n; j++)
        p[j] *= inv;
    for (int j = n; j < end; j++)
        p[j] = 0.0f;
}

/* out[N,D], probs[B,H,T,T] = causal softmax(q k^T / sqrt(hd)) v, per (b, h).
 * Rows are processed in blocks [r0, r1) that only touch columns [0, r1). */
void attention_forward(float *out, float *probs, const float *qkv, int B, int T, int D, int H)
{
    const int hd = D / H, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *q = qkv + (long)b * T * ld + h * hd;
            const float *k = q + D, *v = q + 2 * D;
            float *p = probs + ((long)b * H + h) * T * T;
            float *y = out + (long)b * T * D + h * hd;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T;
                float *pb = p + (long)r0 * T;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, hd, scale,
                            q + (long)r0 * ld, ld, k, ld, 0.0f, pb, T);
                for (int t = r0; t < r1; t++)
                    causal_softmax_row(p + (long)t * T, t, r1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hd, r1, 1.0f, pb, T,
                            v, ld, 0.0f, y + (long)r0 * D, D);
            }
        }
}

/* dqkv[N,3D] = gradient of attention_forward; dscratch[T,T] scratch. */
void attention_backward(float *dqkv, float *dscratch, const float *dout, const float *qkv,
                        const float *probs, int B, int T, int D, int H)
{
    const int hd = D / H, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)hd);
    memset(dqkv, 0, sizeof(float) * (size_t)B * T * ld);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *q = qkv + (long)b * T * ld + h * hd;
            const float *k = q + D, *v = q + 2 * D;
            float *dq = dqkv + (long)b * T * ld + h * hd;
            float *dk = dq + D, *dv = dq + 2 * D;
            const float *p = probs + ((long)b * H + h) * T * T;
            const float *dy = dout + (long)b * T * D + h * hd;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, rows = r1 - r0;
                const float *pb = p + (long)r0 * T;
                float *ds = dscratch + (long)r0 * T;
                /* dV[0:r1] += P[r0:r1, 0:r1]^T dY[r0:r1] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, rows, 1.0f, pb, T,
                            dy + (long)r0 * D, D, 1.0f, dv, ld);
                /* dP[r0:r1, 0:r1] = dY[r0:r1] V[0:r1]^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, r1, hd, 1.0f,
                            dy + (long)r0 * D, D, v, ld, 0.0f, ds, T);
                /* dS = P * (dP - rowsum(P * dP)) * scale, zero above the diagonal */
                for (int t = r0; t < r1; t++) {
                    const float *pr = p + (long)t * T;
                    float *dr = dscratch + (long)t * T;
                    float c = dot_lanes(pr, dr, t + 1);
                    for (int j = 0; j <= t; j++)
                        dr[j] = pr[j] * (dr[j] - c) * scale;
                    for (int j = t + 1; j < r1; j++)
                        dr[j] = 0.0f;
                }
                /* dQ[r0:r1] += dS K[0:r1];  dK[0:r1] += dS^T Q[r0:r1] */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, r1, 1.0f, ds, T, k,
                            ld, 1.0f, dq + (long)r0 * ld, ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, rows, 1.0f, ds, T,
                            q + (long)r0 * ld, ld, 1.0f, dk, ld);
            }
        }
}

static const float GELU_K = 0.7978845608028654f; /* sqrt(2/pi) */
static const float GELU_C = 0.044715f;

/* out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void gelu_forward(float *out, const float *inp, long count)
{
    for (long i = 0; i < count; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_C * x * x * x);
        out[i] = 0.5f * x * (1.0f + pf_fast_tanhf(u));
    }
}

/* dinout *= d gelu / d inp */
void gelu_backward(float *dinout, const float *inp, long count)
{
    for (long i = 0; i < count; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_C * x * x * x);
        float th = pf_fast_tanhf(u);
        float sech2 = 1.0f - th * th;
        float d = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dinout[i] *= d;
    }
}

/* logprobs[N]; logits[N,V] -> exp(logit - max); inv_sum[N] */
void logsoftmax_gather_forward(float *logprobs, float *logits, float *inv_sum,
                               const int32_t *targets, const uint8_t *valid, int N, int V)
{
    for (int n = 0; n < N; n++) {
        float *row = logits + (long)n * V;
        if (!valid[n]) {
            logprobs[n] = 0.0f;
            inv_sum[n] = 0.0f;
            continue;
        }
        float m = max_lanes(row, V);
        float target = row[targets[n]] - m;
        for (int j = 0; j < V; j++)
            row[j] = pf_fast_expf(row[j] - m);
        float s = sum_lanes(row, V);
        logprobs[n] = target - logf(s);
        inv_sum[n] = 1.0f / s;
    }
}

/* logits[N,V] <- dlogprobs[n] * (onehot(target) - softmax) */
void logsoftmax_gather_backward(float *logits, const float *inv_sum, const float *dlogprobs,
                                const int32_t *targets, const uint8_t *valid, int N, int V)
{
    for (int n = 0; n < N; n++) {
        float *row = logits + (long)n * V;
        if (!valid[n] || dlogprobs[n] == 0.0f) {
            memset(row, 0, sizeof(float) * (size_t)V);
            continue;
        }
        float g = dlogprobs[n];
        float s = -g * inv_sum[n];
        for (int j = 0; j < V; j++)
            row[j] *= s;
        row[targets[n]] += g;
    }
}

/* logits[N,V] = alpha * inp[N,D] @ wte[V,D]^T */
void lm_head_forward(float *logits, const float *inp, const float *wte, int N, int D, int V,
                     float alpha)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, V, D, alpha, inp, D, wte, D, 0.0f,
                logits, V);
}

/* dinp[N,D] = alpha * dlogits @ wte; dwte[V,D] += alpha * dlogits^T @ inp */
void lm_head_backward(float *dinp, float *dwte, const float *dlogits, const float *inp,
                      const float *wte, int N, int D, int V, float alpha)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, V, alpha, dlogits, V, wte, D, 0.0f,
                dinp, D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, D, N, alpha, dlogits, V, inp, D, 1.0f,
                dwte, D);
}
