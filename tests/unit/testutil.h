/*
 * testutil.h: helpers shared by the unit tests: seeded random fills, a central
 * finite-difference gradient checker, the largest element-wise difference and reading
 * a whole file.
 *
 * Finite differences run in float32 arithmetic, so a check compares whole gradient
 * vectors by their norm-relative error, ||g_fd - g|| / max(||g_fd||, ||g||), which
 * is dominated by the truncation error O(h^2 f''') and the rounding error
 * O(eps_f32 * |L| / h). With h = 1e-2 on O(0.1..1) inputs both stay near 1e-4, so the
 * tolerance used by the tests, 1e-2, has two orders of magnitude of margin while a
 * wrong term in a backward kernel gives errors of order 1.
 */
#ifndef PREFOPT_TESTUTIL_H
#define PREFOPT_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "prefopt/rng.h"

/* x[i] = scale * N(0,1) from (seed, stream). */
static inline void tu_fill_normal(float *x, long n, float scale, uint64_t seed, uint64_t stream)
{
    for (long i = 0; i < n; i++)
        x[i] = scale * (float)pf_rng_normal(seed, stream, (uint64_t)i);
}

/* A loss as a function of the current contents of some buffer. */
typedef double (*tu_loss_fn)(void *ctx);

/* Norm-relative error between analytic[] and a central difference of loss w.r.t.
 * x[idx[k]] for k < count (x is restored). */
static inline double tu_fd_error(tu_loss_fn loss, void *ctx, float *x, const long *idx, int count,
                                 const float *analytic, float h)
{
    double diff2 = 0.0, fd2 = 0.0, an2 = 0.0;
    for (int k = 0; k < count; k++) {
        float saved = x[idx[k]];
        x[idx[k]] = saved + h;
        double up = loss(ctx);
        x[idx[k]] = saved - h;
        double down = loss(ctx);
        x[idx[k]] = saved;
        double fd = (up - down) / (2.0 * h);
        double an = analytic[idx[k]];
        diff2 += (fd - an) * (fd - an);
        fd2 += fd * fd;
        an2 += an * an;
    }
    double denom = sqrt(fd2 > an2 ? fd2 : an2);
    return denom > 0.0 ? sqrt(diff2) / denom : sqrt(diff2);
}

/* Fills idx with count distinct-ish coordinates of [0, n) (all of them when n <= count). */
static inline int tu_sample_indices(long *idx, int count, long n, uint64_t seed)
{
    if (n <= count) {
        for (long i = 0; i < n; i++)
            idx[i] = i;
        return (int)n;
    }
    for (int k = 0; k < count; k++)
        idx[k] = (long)(pf_rng_uniform(seed, 999, (uint64_t)k) * (double)n) % n;
    return count;
}

/* sum_i out[i] * r[i] in double: the scalar loss whose gradient w.r.t. out is r. */
static inline double tu_dot(const float *out, const float *r, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += (double)out[i] * r[i];
    return s;
}

/* Largest |a - b| over n elements. */
static inline double tu_max_abs_diff(const float *a, const float *b, long n)
{
    double m = 0.0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        m = d > m ? d : m;
    }
    return m;
}

/* The whole file at path in a malloc'ed buffer with a NUL after its bytes (so text files
 * are strings); *len (when len is not NULL) gets the byte count. NULL when the file
 * cannot be opened or read in full, or out of memory. */
static inline char *tu_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    long n = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    char *buf = n >= 0 && fseek(fp, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

#endif
