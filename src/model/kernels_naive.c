/*
 * kernels_naive.c: the simplest correct versions of the kernels whose fast versions use
 * BLAS, blocking or approximate math. They exist only as test oracles: straight loops,
 * double accumulators, libm functions.
 */
#include <math.h>

#include "kernels.h"

/* out[N,OC] = inp[N,C] @ weight[C,OC] + bias[OC] */
void matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias,
                          int N, int C, int OC)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++)
                acc += (double)inp[(long)n * C + c] * weight[(long)c * OC + o];
            out[(long)n * OC + o] = (float)acc;
        }
}

/* out[N,D] = causal softmax(q k^T / sqrt(hd)) v per (b, h), from qkv[N,3D] */
void attention_forward_naive(float *out, const float *qkv, int B, int T, int D, int H)
{
    int hd = D / H;
    double scale = 1.0 / sqrt((double)hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((long)b * T + t) * 3 * D + h * hd;
                double w[T], m = -INFINITY, s = 0.0;
                for (int j = 0; j <= t; j++) {
                    const float *k = qkv + ((long)b * T + j) * 3 * D + D + h * hd;
                    double acc = 0.0;
                    for (int i = 0; i < hd; i++)
                        acc += (double)q[i] * k[i];
                    w[j] = acc * scale;
                    m = w[j] > m ? w[j] : m;
                }
                for (int j = 0; j <= t; j++) {
                    w[j] = exp(w[j] - m);
                    s += w[j];
                }
                for (int i = 0; i < hd; i++) {
                    double acc = 0.0;
                    for (int j = 0; j <= t; j++)
                        acc += w[j] / s * qkv[((long)b * T + j) * 3 * D + 2 * D + h * hd + i];
                    out[((long)b * T + t) * D + h * hd + i] = (float)acc;
                }
            }
}

/* out = gelu_tanh(inp) with libm tanh */
void gelu_forward_naive(float *out, const float *inp, long count)
{
    for (long i = 0; i < count; i++) {
        double x = inp[i];
        out[i] =
            (float)(0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x))));
    }
}

/* logprobs[n] = log softmax(logits[n])[targets[n]], in double */
void logsoftmax_naive(float *logprobs, const float *logits, const int32_t *targets, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *row = logits + (long)n * V;
        double m = row[0], s = 0.0;
        for (int j = 1; j < V; j++)
            m = row[j] > m ? row[j] : m;
        for (int j = 0; j < V; j++)
            s += exp(row[j] - m); /* >= 1: the maximum contributes exp(0) */
        // cppcheck-suppress invalidFunctionArg ; s >= 1 (see above)
        logprobs[n] = (float)(row[targets[n]] - m - log(s));
    }
}
