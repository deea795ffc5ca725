/*
 * fastmath.h: branch-free exp and tanh that GCC vectorizes inside plain loops.
 *
 * glibc's expf/tanhf are scalar calls, and with ISO C and no -ffast-math the compiler
 * cannot vectorize them; these inline versions are straight-line arithmetic, so loops
 * over them vectorize. They are deterministic (no table lookups, no FMA contraction
 * under -std=c11) and accurate to about 2 ulp over the clamped range; tests compare
 * them against libm.
 */
#ifndef PREFOPT_FASTMATH_H
#define PREFOPT_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) for x in [-87, 88]; inputs outside are clamped (exp(-87) ~ 1.6e-38 stands in
 * for 0, which keeps every result a normal float). A NaN input gives NaN. */
static inline float pf_fast_expf(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * log2e + round_magic;
    float n = t - round_magic;
    uint32_t ti; /* unsigned: a NaN input gives garbage bits here, never undefined behaviour */
    memcpy(&ti, &t, sizeof ti);
    uint32_t ni = ti - 0x4B400000u; /* the integer n (two's complement), low mantissa bits */
    float r = x - n * ln2_hi;
    r = r - n * ln2_lo;
    /* Taylor/minimax polynomial for exp(r), |r| <= ln2/2 (Cephes coefficients). */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (ni + 127u) << 23; /* 2^n; NaN inputs stay NaN through p */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh(x) = 1 - 2 / (exp(2x) + 1); saturates cleanly to +-1. */
static inline float pf_fast_tanhf(float x)
{
    float e = pf_fast_expf(2.0f * x);
    return 1.0f - 2.0f / (e + 1.0f);
}

#endif
