/*
 * rng.h: counter-based random numbers (Philox4x32-10, Salmon et al., SC11).
 *
 * A random value is a pure function of (seed, stream, index): there is no generator
 * state to carry, split or checkpoint, so a value never depends on which rank or
 * thread asks for it, nor on the order of requests. Streams name purposes (a tensor
 * being initialised, a sampling step, a shuffle).
 */
#ifndef PREFOPT_RNG_H
#define PREFOPT_RNG_H

#include <stdint.h>

/* The Philox4x32 block function with 10 rounds: out = philox(ctr, key). */
void pf_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Four 32-bit random words for (seed, stream, index). */
void pf_rng_words(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);

/* Uniform double in (0, 1) for (seed, stream, index); 53 random bits. */
double pf_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);

/* Standard normal for (seed, stream, index), by Box-Muller on one Philox block. */
double pf_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);

#endif
