/*
 * bench_step.c: times one DPO-shaped training step of the C model, the same step that
 * bench/torch_dpo_step.py times in PyTorch:
 *   reference forward (no gradients) + policy forward + DPO sigmoid loss over the
 *   completion half of each sequence + policy backward + global-norm gradient clipping
 *   at GRAD_CLIP (as torch_dpo_step.py's clip_grad_norm_) + AdamW update,
 * over B sequences (B/2 preference pairs) of T tokens. Prints one JSON line with the
 * median step time, tokens/s, GFLOP/s (formula in step_flops), peak RSS and the memory
 * the step needs in theory (params, grads, AdamW moments, reference params,
 * activations). `--peak` instead measures the single-thread sgemm peak.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "prefopt/error.h"
#include "prefopt/model.h"
#include "prefopt/optim.h"

static const double GRAD_CLIP = 1.0; /* max global gradient norm, as bench/torch_dpo_step.py */

typedef struct {
    const char *name;
    int V, D, L, H, T, B;
} bench_shape;

static const bench_shape SHAPES[] = {
    {"tiny", 512, 128, 4, 4, 128, 16},
    {"small", 8192, 512, 8, 8, 256, 4},
    {"gpt2-124M", 50257, 768, 12, 12, 256, 4},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Model FLOPs of one step: forward F = L (24 N D^2 + 4 B T^2 D) + 2 N D V with N = B T;
 * policy forward + backward = 3F, reference forward = F; total 4F. Elementwise work and
 * the optimizer are not counted (the usual convention, also used for PyTorch). */
static double step_flops(const bench_shape *s)
{
    double N = (double)s->B * s->T, D = s->D;
    double F =
        s->L * (24.0 * N * D * D + 4.0 * s->B * (double)s->T * s->T * D) + 2.0 * N * D * s->V;
    return 4.0 * F;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best-of-5 GFLOP/s of a 2048^3 sgemm. */
static double sgemm_peak(void)
{
    const int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++)
        a[i] = (float)(i % 17) * 0.01f, b[i] = (float)(i % 13) * 0.01f;
    double best = 0.0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double gf = 2.0 * n * n * (double)n / (now_s() - t0) / 1e9;
        best = gf > best ? gf : best;
    }
    free(a), free(b), free(c);
    return best;
}

/* d(loss)/d(logprobs) of the sigmoid DPO loss (beta 0.1) over completion tokens, where
 * sequences 2i and 2i+1 are the chosen and rejected outputs of pair i. */
static double dpo_grad(const float *lp, const float *ref, float *dlp, int B, int T)
{
    const double beta = 0.1;
    double loss = 0.0;
    memset(dlp, 0, sizeof(float) * (size_t)B * T);
    for (int p = 0; p < B / 2; p++) {
        double margin = 0.0;
        for (int t = T / 2; t < T - 1; t++) {
            margin += (lp[(2 * p) * T + t] - ref[(2 * p) * T + t]);
            margin -= (lp[(2 * p + 1) * T + t] - ref[(2 * p + 1) * T + t]);
        }
        double z = beta * margin;
        loss += log1p(exp(-z)) / (B / 2);
        double coef = -beta / (1.0 + exp(z)) / (B / 2);
        for (int t = T / 2; t < T - 1; t++) {
            dlp[(2 * p) * T + t] = (float)coef;
            dlp[(2 * p + 1) * T + t] = (float)-coef;
        }
    }
    return loss;
}

typedef struct {
    pf_model *policy, *reference;
    pf_workspace *ws;
    pf_adamw *opt;
    int32_t *tokens, *lengths;
    float *lp, *ref_lp, *dlp;
    uint8_t *need;    /* the completion half: the positions the DPO loss reads */
    int full_lm_head; /* 1: ignore need (LM head over every position, as PyTorch) */
} bench_state;

/* One DPO-shaped step; returns its loss. */
static double run_step(bench_state *st, const bench_shape *s)
{
    pf_batch batch = {.tokens = st->tokens, .lengths = st->lengths, .B = s->B, .T = s->T};
    const uint8_t *need = st->full_lm_head ? NULL : st->need;
    pf_forward_out ref_out = {.logprobs = st->ref_lp, .temperature = 1.0f, .need = need};
    pf_forward_out pol_out = {.logprobs = st->lp, .temperature = 1.0f, .need = need};
    if (pf_model_forward(st->reference, st->ws, &batch, &ref_out) ||
        pf_model_forward(st->policy, st->ws, &batch, &pol_out)) {
        fprintf(stderr, "bench: %s\n", pf_error_message());
        exit(1);
    }
    double loss = dpo_grad(st->lp, st->ref_lp, st->dlp, s->B, s->T);
    pf_model_zero_grads(st->policy);
    pf_model_backward(st->policy, st->ws, st->dlp, NULL);
    size_t n = pf_model_num_params(st->policy);
    double norm = pf_grad_global_norm(pf_model_grads(st->policy), n);
    pf_grad_clip(pf_model_grads(st->policy), n, norm, GRAD_CLIP);
    pf_adamw_step(st->opt, st->policy, 1e-4f);
    return loss;
}

static int bench(const bench_shape *s, int steps, int warmup, int full_lm_head)
{
    pf_model_config cfg = {.arch = PF_ARCH_GPT2,
                           .n_layer = s->L,
                           .n_head = s->H,
                           .d_model = s->D,
                           .vocab_size = s->V,
                           .max_seq_len = s->T};
    pf_adamw_config ac = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    bench_state st = {0};
    st.full_lm_head = full_lm_head;
    size_t BT = (size_t)s->B * s->T;
    if (pf_model_create(&cfg, 1, &st.policy) || pf_model_create(&cfg, 0, &st.reference) ||
        pf_workspace_create(st.policy, s->B, s->T, 1, &st.ws) ||
        pf_adamw_create(st.policy, &ac, &st.opt)) {
        fprintf(stderr, "bench: %s\n", pf_error_message());
        return 1;
    }
    pf_model_init_random(st.policy, 1);
    pf_model_init_random(st.reference, 1);
    st.tokens = malloc(sizeof(int32_t) * BT), st.lengths = malloc(sizeof(int32_t) * s->B);
    st.lp = malloc(sizeof(float) * BT), st.ref_lp = malloc(sizeof(float) * BT);
    st.dlp = malloc(sizeof(float) * BT);
    st.need = malloc(BT);
    for (size_t i = 0; i < BT; i++) {
        st.tokens[i] = (int32_t)((i * 2654435761u) % (unsigned)s->V);
        int t = (int)(i % (size_t)s->T);
        st.need[i] = t >= s->T / 2 && t < s->T - 1; /* as dpo_grad's completion */
    }
    for (int b = 0; b < s->B; b++)
        st.lengths[b] = s->T;
    double times[64], loss = 0.0;
    for (int i = 0; i < warmup + steps; i++) {
        double t0 = now_s();
        loss = run_step(&st, s);
        if (i >= warmup)
            times[i - warmup] = now_s() - t0;
    }
    qsort(times, (size_t)steps, sizeof(double), cmp_double);
    double med = times[steps / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double P = (double)pf_model_num_params(st.policy) * 4.0;
    double need = 5.0 * P + (double)pf_workspace_bytes(st.ws);
    printf("{\"impl\": \"prefopt\", \"shape\": \"%s\", \"params\": %zu, \"step_s_median\": %.6f, "
           "\"tokens_per_s\": %.1f, \"gflop_per_s\": %.2f, \"peak_rss_mb\": %.1f, "
           "\"needed_mb\": %.1f, \"activation_mb\": %.1f, \"loss\": %.6f}\n",
           s->name, pf_model_num_params(st.policy), med, (double)BT / med,
           step_flops(s) / med / 1e9, ru.ru_maxrss / 1024.0, need / 1048576.0,
           pf_workspace_bytes(st.ws) / 1048576.0, loss);
    free(st.tokens), free(st.lengths), free(st.lp), free(st.ref_lp), free(st.dlp), free(st.need);
    pf_adamw_free(st.opt);
    pf_workspace_free(st.ws);
    pf_model_free(st.reference);
    pf_model_free(st.policy);
    return 0;
}

int main(int argc, char **argv)
{
    const char *shape = "tiny";
    int steps = 5, warmup = 1, full_lm_head = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--peak") == 0) {
            printf("{\"sgemm_peak_gflop_per_s\": %.2f}\n", sgemm_peak());
            return 0;
        } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
            shape = argv[++i];
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            steps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--full-lm-head") == 0) {
            full_lm_head = 1;
        } else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            warmup = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_step [--peak] [--shape tiny|small|gpt2-124M] "
                            "[--steps N] [--warmup N] [--full-lm-head]\n");
            return 2;
        }
    }
    if (steps < 1 || steps > 64 || warmup < 0) {
        fprintf(stderr, "bench_step: --steps must be in [1, 64], --warmup >= 0\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (strcmp(SHAPES[i].name, shape) == 0)
            return bench(&SHAPES[i], steps, warmup, full_lm_head);
    fprintf(stderr, "bench_step: unknown shape '%s' (tiny, small, gpt2-124M)\n", shape);
    return 2;
}
