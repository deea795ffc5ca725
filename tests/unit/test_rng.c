/*
 * test_rng.c: Philox4x32-10 against the Random123 known-answer vectors, and the derived
 * uniform / normal draws' ranges and moments.
 */
#include <math.h>

#include "cunit_run.h"
#include "prefopt/rng.h"

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                      const uint32_t expect[4])
{
    uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1}, out[4];
    pf_philox4x32_10(ctr, key, out);
    for (int i = 0; i < 4; i++)
        CU_ASSERT(out[i] == expect[i]);
}

static void test_philox_known_answers(void)
{
    static const uint32_t zero[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    static const uint32_t ones[4] = {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu};
    static const uint32_t pi[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    check_kat(0, 0, 0, 0, 0, 0, zero);
    check_kat(~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ones);
    check_kat(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, pi);
}

static void test_uniform_and_normal(void)
{
    const int n = 200000;
    double su = 0.0, sn = 0.0, sn2 = 0.0;
    for (int i = 0; i < n; i++) {
        double u = pf_rng_uniform(5, 1, (uint64_t)i);
        CU_ASSERT_FATAL(u > 0.0 && u < 1.0);
        su += u;
        double z = pf_rng_normal(5, 2, (uint64_t)i);
        sn += z;
        sn2 += z * z;
    }
    CU_ASSERT(fabs(su / n - 0.5) < 0.005);
    CU_ASSERT(fabs(sn / n) < 0.01);
    CU_ASSERT(fabs(sn2 / n - 1.0) < 0.02);
    /* a pure function of (seed, stream, index) */
    CU_ASSERT(pf_rng_uniform(9, 3, 77) == pf_rng_uniform(9, 3, 77));
    CU_ASSERT(pf_rng_uniform(9, 3, 77) != pf_rng_uniform(9, 4, 77));
    CU_ASSERT(pf_rng_uniform(9, 3, 77) != pf_rng_uniform(10, 3, 77));
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"Philox4x32-10 known answers", test_philox_known_answers},
        {"uniform and normal draws", test_uniform_and_normal},
        {NULL, NULL},
    };
    return pf_cunit_run("rng", cases);
}
