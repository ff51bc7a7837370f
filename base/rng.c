/* The seeded generators (see rng.h). Integer arithmetic and IEEE double in a
 * fixed order only, so a seed gives the same numbers everywhere. */
#include "rng.h"

#include <math.h>

uint64_t pt_rng_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void pt_rng_init(pt_rng_t *rng, uint64_t seed, uint64_t stream) {
  uint64_t a = seed, b = stream ^ 0x632BE59BD9B4E019ull;
  uint64_t x = pt_rng_splitmix64(&a) ^ rotl(pt_rng_splitmix64(&b), 17);
  for (int i = 0; i < 4; i++) rng->s[i] = pt_rng_splitmix64(&x);
}

uint64_t pt_rng_next(pt_rng_t *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double pt_rng_uniform(pt_rng_t *rng) {
  return (double)(pt_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Lemire's multiply-and-reject on 32-bit draws. */
uint32_t pt_rng_below(pt_rng_t *rng, uint32_t n) {
  uint64_t m = (pt_rng_next(rng) >> 32) * (uint64_t)n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    while (low < threshold) {
      m = (pt_rng_next(rng) >> 32) * (uint64_t)n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

double pt_rng_normalish(pt_rng_t *rng) {
  uint64_t x = pt_rng_next(rng);
  double sum = 0.0;
  for (int i = 0; i < 4; i++, x >>= 16)
    sum += ((double)(x & 0xFFFF) + 0.5) / 65536.0;
  return (sum - 2.0) * sqrt(3.0);  /* mean 2, variance 4/12 */
}
