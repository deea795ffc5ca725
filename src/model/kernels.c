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

/* Rows [r0, r1) of one head's causal attention: pb[r1 - r0, ldp] receives the softmax of
 * q k^T * scale over columns [0, r1) (zero above the diagonal); y[r0:r1] = pb v.
 * q, k, v are head slices with row stride ld; y has row stride D. */
static void attention_rows(float *y, float *pb, int ldp, const float *q, const float *k,
                           const float *v, int r0, int r1, int ld, int D, int hd, float scale)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, hd, scale, q + (long)r0 * ld,
                ld, k, ld, 0.0f, pb, ldp);
    for (int t = r0; t < r1; t++)
        causal_softmax_row(pb + (long)(t - r0) * ldp, t, r1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hd, r1, 1.0f, pb, ldp, v, ld,
                0.0f, y + (long)r0 * D, D);
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
            float *p = probs + ((long)b * H + h) * T * T;
            float *y = out + (long)b * T * D + h * hd;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T;
                attention_rows(y, p + (long)r0 * T, T, q, q + D, q + 2 * D, r0, r1, ld, D, hd,
                               scale);
            }
        }
}

/* Floats of scratch attention_forward_lowmem needs for T tokens. */
size_t attention_lowmem_scratch(int T) { return (size_t)ATT_BLOCK * (size_t)T; }

/* out[T,D] = attention_forward for one sequence, keeping only one block of probabilities
 * in scratch[ATT_BLOCK, T]; same operations, so the same bits as attention_forward. */
void attention_forward_lowmem(float *out, float *scratch, const float *qkv, int T, int D, int H)
{
    const int hd = D / H, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++) {
        const float *q = qkv + h * hd;
        for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
            int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T;
            attention_rows(out + h * hd, scratch, T, q, q + D, q + 2 * D, r0, r1, ld, D, hd, scale);
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
        if (valid && !valid[n]) {
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
        if ((valid && !valid[n]) || dlogprobs[n] == 0.0f) {
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

/* --- row-stable kernels for decoding ------------------------------------------------
 * Every output element is produced by one fixed sequence of float operations that does
 * not depend on M (the number of rows) nor on where the element falls in a tile, so a
 * row's result is the same whichever rows share the call. Blocking only reorders work
 * across elements, never within one. */

enum { RS_KB = 4, RS_JB = 512, RS_VB = 128 };

/* out[m, j0:j1) += inp[m, k..k+3] @ w[k..k+3, j0:j1), the four terms added in k order. */
static void rs_block4(float *restrict out, const float *restrict inp, const float *restrict w,
                      int M, int C, int OC, int k, int j0, int j1)
{
    const float *w0 = w + (size_t)k * OC, *w1 = w0 + OC, *w2 = w1 + OC, *w3 = w2 + OC;
    for (int m = 0; m < M; m++) {
        const float *x = inp + (size_t)m * C + k;
        const float x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        float *o = out + (size_t)m * OC;
        for (int j = j0; j < j1; j++) {
            float t = o[j];
            t += x0 * w0[j];
            t += x1 * w1[j];
            t += x2 * w2[j];
            t += x3 * w3[j];
            o[j] = t;
        }
    }
}

/* out[m, j0:j1) += inp[m, k] * w[k, j0:j1) */
static void rs_block1(float *restrict out, const float *restrict inp, const float *restrict w,
                      int M, int C, int OC, int k, int j0, int j1)
{
    const float *wk = w + (size_t)k * OC;
    for (int m = 0; m < M; m++) {
        const float xk = inp[(size_t)m * C + k];
        float *o = out + (size_t)m * OC;
        for (int j = j0; j < j1; j++)
            o[j] += xk * wk[j];
    }
}

/* out[M,OC] (=|+=) inp[M,C] @ weight[C,OC] + bias; per element: start from out (or 0),
 * add the bias, then add inp[k] * weight[k] for k = 0..C-1 in order. Column blocks of
 * 8 * RS_JB / M (16 KB of output) keep the M output rows in L1 while weight rows stream
 * through. */
void rowstable_matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                              int M, int C, int OC, int accumulate)
{
    for (int m = 0; m < M; m++) {
        float *o = out + (size_t)m * OC;
        for (int j = 0; j < OC; j++)
            o[j] = (accumulate ? o[j] : 0.0f) + (bias ? bias[j] : 0.0f);
    }
    const int jb = RS_JB * 8 / (M < 8 ? M : 8); /* the M x jb output block stays in L1 */
    for (int j0 = 0; j0 < OC; j0 += jb) {
        const int j1 = j0 + jb < OC ? j0 + jb : OC;
        int k = 0;
        for (; k + RS_KB <= C; k += RS_KB)
            rs_block4(out, inp, weight, M, C, OC, k, j0, j1);
        for (; k < C; k++)
            rs_block1(out, inp, weight, M, C, OC, k, j0, j1);
    }
}

/* o[0..3] = x . e_r for the four rows e_r = e + r*D, each with dot_lanes' exact
 * operations (LANES partial sums, the tail into the first lanes, lanes summed in order). */
static void dot_lanes4(float *o, const float *restrict x, const float *restrict e, int D)
{
    const float *e1 = e + D, *e2 = e1 + D, *e3 = e2 + D;
    float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
    int i = 0;
    for (; i + LANES <= D; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float xv = x[i + k];
            a0[k] += xv * e[i + k];
            a1[k] += xv * e1[i + k];
            a2[k] += xv * e2[i + k];
            a3[k] += xv * e3[i + k];
        }
    for (int k = 0; i < D; i++, k++) {
        a0[k] += x[i] * e[i];
        a1[k] += x[i] * e1[i];
        a2[k] += x[i] * e2[i];
        a3[k] += x[i] * e3[i];
    }
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (int k = 0; k < LANES; k++) {
        s0 += a0[k];
        s1 += a1[k];
        s2 += a2[k];
        s3 += a3[k];
    }
    o[0] = s0, o[1] = s1, o[2] = s2, o[3] = s3;
}

/* logits[M,V] = inp[M,D] @ wte[V,D]^T; every element is dot_lanes(inp[m], wte[v], D).
 * Vocabulary blocks of RS_VB rows stay in cache while all M rows use them. */
void rowstable_lm_head_forward(float *logits, const float *inp, const float *wte, int M, int D,
                               int V)
{
    for (int v0 = 0; v0 < V; v0 += RS_VB) {
        const int v1 = v0 + RS_VB < V ? v0 + RS_VB : V;
        for (int m = 0; m < M; m++) {
            const float *x = inp + (size_t)m * D;
            float *o = logits + (size_t)m * V;
            int v = v0;
            for (; v + 4 <= v1; v += 4)
                dot_lanes4(o + v, x, wte + (size_t)v * D, D);
            for (; v < v1; v++)
                o[v] = dot_lanes(x, wte + (size_t)v * D, D);
        }
    }
}

/* out[hd] = softmax_j(q . k_j / sqrt(hd)) v_j over the n cached rows k, v [n, hd];
 * scores[n] is scratch. Sequential in j: the result depends only on (q, k, v, n). */
void attention_decode(float *out, float *scores, const float *q, const float *k, const float *v,
                      int n, int hd)
{
    const float scale = 1.0f / sqrtf((float)hd);
    for (int j = 0; j < n; j++)
        scores[j] = dot_lanes(q, k + (size_t)j * hd, hd) * scale;
    causal_softmax_row(scores, n - 1, n);
    for (int i = 0; i < hd; i++)
        out[i] = 0.0f;
    for (int j = 0; j < n; j++) {
        const float p = scores[j];
        const float *vj = v + (size_t)j * hd;
        for (int i = 0; i < hd; i++)
            out[i] += p * vj[i];
    }
}
