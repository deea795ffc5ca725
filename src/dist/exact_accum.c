/*
 * exact_accum.c: order-independent gradient sums in 64-bit fixed point (see dist.h).
 *
 * Tensor t uses scale 2^exponent[t]: a gradient g becomes llrint(g * 2^exponent[t]).
 * Sums are kept as uint64 so that wrap-around is defined; without overflow the bits
 * are the two's complement of the true signed sum. The exponent is chosen so that a
 * term up to 16x the last step's global maximum stays below 2^50 (and max_terms of them
 * below 2^62): 50 bits per term, far more than a float's 24.
 */
#include <float.h>
#include <math.h>
#include <mpi.h>
#include <string.h>

#include "prefopt/dist.h"
#include "prefopt/error.h"

enum { DEFAULT_EXPONENT = 40, HEADROOM_BITS = 4, MIN_EXPONENT = -60, MAX_EXPONENT = 200 };
enum { BUCKET_ELEMS = 1 << 22 };

struct pf_exact_accum {
    const pf_model *model;
    int n_tensors;
    int max_terms;
    size_t n;
    uint64_t *sum;     /* [n] fixed-point sums */
    int32_t *exponent; /* [n_tensors] scale exponents */
    float *local_max;  /* [n_tensors] max |g| this step, +inf when a value is not finite */
};

int pf_exact_accum_create(const pf_model *m, int max_terms, pf_exact_accum **out)
{
    pf_exact_accum *a = pf_calloc(sizeof *a, "exact accumulator");
    if (!a)
        return PF_ERR_RUNTIME;
    a->model = m;
    a->n_tensors = pf_model_num_tensors(m);
    a->max_terms = max_terms < 1 ? 1 : max_terms;
    a->n = pf_model_num_params(m);
    a->sum = pf_calloc(sizeof(uint64_t) * a->n, "exact gradient sums");
    a->exponent = pf_calloc(sizeof(int32_t) * (size_t)a->n_tensors, "exact scales");
    a->local_max = pf_calloc(sizeof(float) * (size_t)a->n_tensors, "exact maxima");
    if (!a->sum || !a->exponent || !a->local_max) {
        pf_exact_accum_free(a);
        return PF_ERR_RUNTIME;
    }
    for (int t = 0; t < a->n_tensors; t++)
        a->exponent[t] = DEFAULT_EXPONENT;
    *out = a;
    return PF_OK;
}

void pf_exact_accum_free(pf_exact_accum *a)
{
    if (!a)
        return;
    pf_free(a->sum);
    pf_free(a->exponent);
    pf_free(a->local_max);
    pf_free(a);
}

void pf_exact_accum_reset(pf_exact_accum *a)
{
    memset(a->sum, 0, sizeof(uint64_t) * a->n);
    memset(a->local_max, 0, sizeof(float) * (size_t)a->n_tensors);
}

/* sum[i] += round(g[i] * 2^exponent); returns max |g| (+inf when some g is not finite).
 * The rounding uses the 1.5 * 2^52 trick: for |x| < 2^51, x + 1.5 * 2^52 lands in a
 * binade whose spacing is 1, so the addition rounds x to the nearest integer (ties to
 * even, exactly like llrint) and the integer sits in the low mantissa bits. Unlike a
 * double -> int64 conversion this vectorizes on AVX2. Callers keep |x| < 2^TERM_BITS. */
static float add_tensor(uint64_t *sum, const float *g, size_t n, int exponent, float max_so_far)
{
    const double scale = ldexp(1.0, exponent), magic = 6755399441055744.0;
    const int64_t magic_bits = 0x4338000000000000LL;
    for (size_t i = 0; i < n; i++) {
        double y = (double)g[i] * scale + magic;
        int64_t bits;
        memcpy(&bits, &y, sizeof bits);
        sum[i] += (uint64_t)(bits - magic_bits);
    }
    /* A separate loop (float lanes) so that both vectorize; NaN and Inf map to +inf. */
    float mx = max_so_far;
    for (size_t i = 0; i < n; i++) {
        float v = fabsf(g[i]);
        v = v <= FLT_MAX ? v : INFINITY;
        mx = v > mx ? v : mx;
    }
    return mx;
}

void pf_exact_accum_add(pf_exact_accum *a, const float *grads)
{
    for (int t = 0; t < a->n_tensors; t++) {
        const pf_tensor *tt = pf_model_tensor(a->model, t);
        a->local_max[t] = add_tensor(a->sum + tt->offset, grads + tt->offset, tt->numel,
                                     a->exponent[t], a->local_max[t]);
    }
}

/* ceil(log2(x)) for x >= 1 as an integer count of bits. */
static int bits_for(int x)
{
    int b = 0;
    while ((1 << b) < x)
        b++;
    return b;
}

/* Bits a single term may use: below 2^51 (the rounding trick) and such that max_terms
 * terms stay below 2^62. */
static int term_bits(int max_terms)
{
    int b = 62 - bits_for(max_terms);
    return b < 50 ? b : 50;
}

/* The exponent that keeps terms of up to 2^HEADROOM_BITS * gmax below 2^term_bits. */
static int exponent_for(float gmax, int max_terms, int current)
{
    if (!(gmax > 0.0f))
        return current;
    int e2;
    frexpf(gmax, &e2); /* gmax < 2^e2 */
    int e = term_bits(max_terms) - HEADROOM_BITS - e2;
    return e < MIN_EXPONENT ? MIN_EXPONENT : e > MAX_EXPONENT ? MAX_EXPONENT : e;
}

/* True when terms up to gmax may have left exponent's range. */
static int overflowed(float gmax, int max_terms, int exponent)
{
    return ldexp((double)gmax, exponent) >= ldexp(1.0, term_bits(max_terms));
}

/* Sums the fixed-point buffers over ranks and converts them back to floats. */
static int reduce_and_convert(pf_exact_accum *a, float *out)
{
    for (size_t off = 0; off < a->n; off += BUCKET_ELEMS) {
        size_t n = a->n - off < BUCKET_ELEMS ? a->n - off : BUCKET_ELEMS;
        if (MPI_Allreduce(MPI_IN_PLACE, a->sum + off, (int)n, MPI_UINT64_T, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return pf_fail(PF_ERR_RUNTIME, "MPI_Allreduce(exact gradients) failed");
    }
    for (int t = 0; t < a->n_tensors; t++) {
        const pf_tensor *tt = pf_model_tensor(a->model, t);
        const double inv = ldexp(1.0, -a->exponent[t]);
        const uint64_t *s = a->sum + tt->offset;
        float *o = out + tt->offset;
        for (size_t i = 0; i < tt->numel; i++)
            o[i] = (float)((double)(int64_t)s[i] * inv);
    }
    return PF_OK;
}

int pf_exact_accum_allreduce(pf_exact_accum *a, float *out, int *retry)
{
    *retry = 0;
    if (MPI_Allreduce(MPI_IN_PLACE, a->local_max, a->n_tensors, MPI_FLOAT, MPI_MAX,
                      MPI_COMM_WORLD) != MPI_SUCCESS)
        return pf_fail(PF_ERR_RUNTIME, "MPI_Allreduce(gradient maxima) failed");
    for (int t = 0; t < a->n_tensors; t++)
        if (isinf(a->local_max[t]))
            return pf_fail(PF_ERR_RUNTIME, "gradient of tensor %s is NaN or Inf",
                           pf_model_tensor(a->model, t)->name);
    for (int t = 0; t < a->n_tensors; t++) {
        if (!overflowed(a->local_max[t], a->max_terms, a->exponent[t]))
            continue;
        if (overflowed(a->local_max[t], a->max_terms,
                       exponent_for(a->local_max[t], a->max_terms, a->exponent[t])))
            return pf_fail(PF_ERR_RUNTIME,
                           "gradient of tensor %s (max |g| %g) exceeds the "
                           "exact sum's range",
                           pf_model_tensor(a->model, t)->name, (double)a->local_max[t]);
        *retry = 1;
    }
    int rc = *retry ? PF_OK : reduce_and_convert(a, out);
    for (int t = 0; t < a->n_tensors; t++)
        a->exponent[t] = exponent_for(a->local_max[t], a->max_terms, a->exponent[t]);
    return rc;
}

int32_t *pf_exact_accum_exponents(pf_exact_accum *a, int *count)
{
    *count = a->n_tensors;
    return a->exponent;
}
