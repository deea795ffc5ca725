/*
 * bench_allreduce.c: the cost of the exact (fixed-point, world-size independent)
 * gradient sum against plain float accumulation + MPI_Allreduce, for one model's
 * gradient layout. Run under mpirun; every rank adds K micro-batch gradients, then the
 * ranks reduce. Prints one JSON line (rank 0) with milliseconds per step for both
 * paths; docs/performance.md relates them to the training step time.
 * usage: mpirun -n 2 bench_allreduce [--shape tiny|small|gpt2-124M] [--micro K] [--reps R]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prefopt/dist.h"
#include "prefopt/model.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One step of the plain path: float sums of K gradients, then MPI_Allreduce. */
static double plain_step(float *sum, const float *g, size_t n, int K)
{
    double t0 = now_s();
    memset(sum, 0, sizeof(float) * n);
    for (int k = 0; k < K; k++)
        for (size_t i = 0; i < n; i++)
            sum[i] += g[i];
    pf_dist_allreduce_float(sum, n);
    return now_s() - t0;
}

/* One step of the exact path. */
static double exact_step(pf_exact_accum *acc, float *out, const float *g, int K)
{
    int retry = 0;
    double t0 = now_s();
    pf_exact_accum_reset(acc);
    for (int k = 0; k < K; k++)
        pf_exact_accum_add(acc, g);
    pf_exact_accum_allreduce(acc, out, &retry);
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    pf_dist_init(&argc, &argv);
    const char *shape = "small";
    int K = 4, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--shape"))
            shape = argv[i + 1];
        else if (!strcmp(argv[i], "--micro"))
            K = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    pf_model_config cfg = {.arch = PF_ARCH_GPT2,
                           .n_layer = 8,
                           .n_head = 8,
                           .d_model = 512,
                           .vocab_size = 8192,
                           .max_seq_len = 256};
    if (!strcmp(shape, "tiny"))
        cfg = (pf_model_config){PF_ARCH_GPT2, 4, 4, 128, 512, 128, 0};
    else if (!strcmp(shape, "gpt2-124M"))
        cfg = (pf_model_config){PF_ARCH_GPT2, 12, 12, 768, 50257, 256, 0};
    pf_model *m = NULL;
    pf_exact_accum *acc = NULL;
    if (pf_model_create(&cfg, 1, &m) || pf_exact_accum_create(m, K * pf_dist_size(), &acc))
        return 1;
    size_t n = pf_model_num_params(m);
    float *g = pf_model_grads(m), *sum = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        g[i] = 1e-3f * (float)((int)(i % 2001) - 1000) / 1000.0f;
    double plain = 1e9, exact = 1e9;
    exact_step(acc, sum, g, K); /* settles the scales */
    for (int r = 0; r < reps; r++) {
        double p = plain_step(sum, g, n, K), e = exact_step(acc, sum, g, K);
        plain = p < plain ? p : plain;
        exact = e < exact ? e : exact;
    }
    if (pf_dist_rank() == 0)
        printf("{\"shape\": \"%s\", \"ranks\": %d, \"micro_per_rank\": %d, \"params\": %zu, "
               "\"plain_ms\": %.2f, \"exact_ms\": %.2f, \"extra_ms\": %.2f}\n",
               shape, pf_dist_size(), K, n, 1e3 * plain, 1e3 * exact, 1e3 * (exact - plain));
    free(sum);
    pf_exact_accum_free(acc);
    pf_model_free(m);
    pf_dist_finalize();
    return 0;
}
