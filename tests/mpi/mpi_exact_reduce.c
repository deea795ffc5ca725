/*
 * mpi_exact_reduce.c: run under mpirun by tests/mpi/run_mpi_tests.sh with several rank
 * counts. Each run sums K synthetic micro-batch gradients (wide dynamic range, keyed by
 * micro-batch index, as the trainer's are) with the exact accumulator, round-robin over
 * the ranks, and checks on every rank that:
 *   - the distributed sum equals, bit for bit, the same fixed-point sum done serially;
 *   - it is within float rounding of a double-precision sum;
 *   - the overflow path asks for a retry and the retry succeeds;
 *   - NaN gradients are reported naming the tensor;
 *   - slot gathering and error agreement behave.
 * Rank 0 prints "digest <hex>" of the final sums (compared across rank counts by the
 * script) and "mpi_exact_reduce: N passed, M failed".
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/dist.h"
#include "prefopt/error.h"
#include "prefopt/model.h"
#include "prefopt/rng.h"

enum { K = 12 };
static int passed, failed;

static void check(int ok, const char *what)
{
    if (ok)
        passed++;
    else {
        failed++;
        fprintf(stderr, "rank %d: FAILED: %s\n", pf_dist_rank(), what);
    }
}

/* Micro-batch k's gradient: normal values times 10^u, u uniform in [-8, 2]. */
static void make_grad(float *g, size_t n, int k, float scale)
{
    for (size_t i = 0; i < n; i++) {
        double z = pf_rng_normal(77, (uint64_t)k, i);
        double u = -8.0 + 10.0 * pf_rng_uniform(78, (uint64_t)k, i);
        g[i] = (float)(scale * z * pow(10.0, u));
    }
}

static uint64_t fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Distributed sum of all K micro-batches (round-robin); retries once if asked. */
static int distributed_sum(pf_exact_accum *acc, float *g, float *out, size_t n, float scale,
                           int *retried)
{
    const int rank = pf_dist_rank(), size = pf_dist_size();
    *retried = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        int retry = 0;
        pf_exact_accum_reset(acc);
        for (int k = rank; k < K; k += size) {
            make_grad(g, n, k, scale);
            pf_exact_accum_add(acc, g);
        }
        int rc = pf_exact_accum_allreduce(acc, out, &retry);
        if (rc || !retry)
            return rc;
        *retried = 1;
    }
    return PF_ERR_RUNTIME;
}

static void test_sums(const pf_model *m, float *g, float *out)
{
    const size_t n = pf_model_num_params(m);
    pf_exact_accum *acc = NULL;
    int retried = 0;
    check(pf_exact_accum_create(m, K, &acc) == PF_OK, "create");
    /* the default scale cannot hold 1e6-sized gradients: the first attempt must retry */
    check(distributed_sum(acc, g, out, n, 1e6f, &retried) == PF_OK, "sum with retry");
    check(retried == 1, "overflow asks for a retry");
    /* steady state, same scale history on every rank count */
    check(distributed_sum(acc, g, out, n, 1e6f, &retried) == PF_OK && !retried, "second step");
    double *ref = calloc(n, sizeof(double));
    for (int k = 0; k < K; k++) {
        make_grad(g, n, k, 1e6f);
        for (size_t i = 0; i < n; i++)
            ref[i] += g[i];
    }
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-6 * fabs(ref[i]) + 1e-30;
        double d = fabs(out[i] - ref[i]);
        worst = d / tol > worst ? d / tol : worst;
    }
    check(worst <= 1.0, "within float rounding of the double sum");
    if (pf_dist_rank() == 0)
        printf("digest %016llx\n", (unsigned long long)fnv1a(out, sizeof(float) * n));
    free(ref);
    pf_exact_accum_free(acc);
}

/* The serial fixed-point sum (rank 0 adds all K terms) equals the distributed one bit
 * for bit when both use the same scales. */
static void test_serial_equals_distributed(const pf_model *m, float *g, float *out)
{
    const size_t n = pf_model_num_params(m);
    float *mine = malloc(sizeof(float) * n);
    pf_exact_accum *acc = NULL, *solo = NULL;
    int retried = 0, retry = 0, count = 0;
    pf_exact_accum_create(m, K, &acc);
    pf_exact_accum_create(m, K, &solo);
    distributed_sum(acc, g, mine, n, 3.0f, &retried); /* settle the scales */
    int32_t *settled = pf_exact_accum_exponents(acc, &count);
    memcpy(pf_exact_accum_exponents(solo, &count), settled, sizeof(int32_t) * (size_t)count);
    pf_exact_accum_reset(solo);
    for (int k = 0; k < K && pf_dist_rank() == 0; k++) {
        make_grad(g, n, k, 3.0f);
        pf_exact_accum_add(solo, g);
    }
    pf_exact_accum_allreduce(solo, out, &retry);
    distributed_sum(acc, g, mine, n, 3.0f, &retried);
    check(!retry && !retried, "no retry at steady state");
    check(memcmp(out, mine, sizeof(float) * n) == 0, "serial and distributed sums bit-equal");
    pf_exact_accum_free(solo);
    pf_exact_accum_free(acc);
    free(mine);
}

static void test_nan_and_agree(const pf_model *m, float *g, float *out)
{
    const size_t n = pf_model_num_params(m);
    pf_exact_accum *acc = NULL;
    int retry = 0;
    pf_exact_accum_create(m, K, &acc);
    memset(g, 0, sizeof(float) * n);
    if (pf_dist_rank() == pf_dist_size() - 1)
        g[pf_model_find_tensor(m, "h.0.mlp.c_fc.bias")->offset + 3] = NAN;
    pf_exact_accum_add(acc, g);
    int rc = pf_exact_accum_allreduce(acc, out, &retry);
    check(rc == PF_ERR_RUNTIME && strstr(pf_error_message(), "h.0.mlp.c_fc.bias"),
          "NaN reported naming the tensor on every rank");
    pf_exact_accum_free(acc);
    /* error agreement: the last rank fails, everyone gets its status and message */
    int mine = pf_dist_rank() == pf_dist_size() - 1
                   ? pf_fail(PF_ERR_DATA, "data.jsonl:7: error: bad line")
                   : PF_OK;
    rc = pf_dist_agree(mine);
    check(rc == PF_ERR_DATA && strstr(pf_error_message(), "data.jsonl:7") != NULL,
          "every rank agrees on the first failure");
    check(pf_dist_agree(PF_OK) == PF_OK, "agreement when all succeed");
}

static void test_gather_slots(void)
{
    double table[K] = {0};
    for (int k = pf_dist_rank(); k < K; k += pf_dist_size())
        table[k] = k == 5 ? -0.0 : 1.0 / (k + 3.0);
    check(pf_dist_gather_slots(table, K) == PF_OK, "gather");
    int ok = 1;
    for (int k = 0; k < K; k++)
        ok &= k == 5 ? (table[k] == 0.0 && !signbit(table[k])) : table[k] == 1.0 / (k + 3.0);
    check(ok, "every slot holds its exact value");
}

int main(int argc, char **argv)
{
    if (pf_dist_init(&argc, &argv) != PF_OK) {
        fprintf(stderr, "MPI init failed: %s\n", pf_error_message());
        return 1;
    }
    pf_model_config cfg = {.arch = PF_ARCH_GPT2,
                           .n_layer = 1,
                           .n_head = 2,
                           .d_model = 16,
                           .vocab_size = 50,
                           .max_seq_len = 8};
    pf_model *m = NULL;
    pf_model_create(&cfg, 0, &m);
    size_t n = pf_model_num_params(m);
    float *g = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
    test_sums(m, g, out);
    test_serial_equals_distributed(m, g, out);
    test_nan_and_agree(m, g, out);
    test_gather_slots();
    int totals[2] = {passed, failed};
    MPI_Allreduce(MPI_IN_PLACE, totals, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (pf_dist_rank() == 0)
        printf("mpi_exact_reduce: %d passed, %d failed\n", totals[0], totals[1]);
    free(g), free(out);
    pf_model_free(m);
    pf_dist_finalize();
    return totals[1] ? 1 : 0;
}
