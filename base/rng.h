/* The project's one seeded random number generator: the same numbers on
 * every platform from a seed, so plans, routings and problem inputs are
 * reproducible. splitmix64 is the seeding (and small-state) generator;
 * pt_rng_t is xoshiro256** seeded through it, one independent sequence per
 * (seed, stream) pair.
 */
#ifndef PT_RNG_H
#define PT_RNG_H

#include <stdint.h>

/* One splitmix64 step: advances *state and returns the next output. */
uint64_t pt_rng_splitmix64(uint64_t *state);

typedef struct pt_rng_s {
  uint64_t s[4];
} pt_rng_t;

/* Seeds a generator for one (seed, stream) pair: different streams of the
 * same seed are independent sequences. */
void pt_rng_init(pt_rng_t *rng, uint64_t seed, uint64_t stream);
uint64_t pt_rng_next(pt_rng_t *rng);
/* Uniform in [0, 1) with 53 random bits. */
double pt_rng_uniform(pt_rng_t *rng);
/* Uniform integer in [0, n), unbiased; n >= 1. */
uint32_t pt_rng_below(pt_rng_t *rng, uint32_t n);
/* Approximately standard normal (Irwin-Hall sum of four uniforms, bounded by
 * +-3.46): cheap, deterministic, and spread enough for test data. */
double pt_rng_normalish(pt_rng_t *rng);

#endif
