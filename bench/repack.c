/* repack: host time of the wgmma generation's weight repack
 * (kernelsrc/repack.h) for every default family, all experts, both stages,
 * on random weights. The repack runs once per problem, never inside a timed
 * stage; this is the figure a loader pays (single thread).
 *
 *   bench/repack            (build: make bench/repack) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "family.h"
#include "repack.h"
#include "rng.h"

static double now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static uint8_t *random_bytes(size_t n, pt_rng_t *rng)
{
  uint8_t *p = malloc(n);
  for (size_t i = 0; p != NULL && i < n; i++)
    p[i] = (uint8_t)pt_rng_below(rng, 256);
  return p;
}

/* One stage of one family: canonical bytes in, repacked bytes out, ms. */
static int one(const pt_family_t *f, pt_repack_stage_t st, pt_rng_t *rng)
{
  pt_moe_shape_t sh;
  pt_err_t err;
  if (pt_family_shape(f, f->dtypes[0], &sh, &err) != PT_OK) {
    fprintf(stderr, "repack: %s\n", err.msg);
    return 1;
  }
  int n = st == PT_REPACK_GEMM1 ? 2 * sh.inter_dim : sh.model_dim;
  int k = st == PT_REPACK_GEMM1 ? sh.model_dim : sh.inter_dim;
  size_t wn = (size_t)sh.experts * n * (k / 2), sn = (size_t)sh.experts * n * (k / 32);
  size_t wb, sb;
  pt_repack_sizes(&sh, st, &wb, &sb);
  uint8_t *w = random_bytes(wn, rng), *s = random_bytes(sn, rng);
  uint8_t *pw = malloc(wb), *ps = malloc(sb);
  if (!w || !s || !pw || !ps) {
    fprintf(stderr, "repack: out of memory for %s\n", f->name);
    return 1;
  }
  double t0 = now_ms();
  pt_repack_wgmma(&sh, st, w, s, pw, ps);
  double ms = now_ms() - t0;
  printf("%-14s %-5s %8.1f %8.1f %9.1f %7.2f\n", f->name,
         st == PT_REPACK_GEMM1 ? "w1" : "w2", (wn + sn) / 1e6, (wb + sb) / 1e6, ms,
         (wn + sn) / 1e6 / ms);
  free(w);
  free(s);
  free(pw);
  free(ps);
  return 0;
}

int main(void)
{
  pt_family_set_t set;
  pt_err_t err;
  if (pt_family_load_builtin(&set, &err) != PT_OK) {
    fprintf(stderr, "repack: %s\n", err.msg);
    return 1;
  }
  pt_rng_t rng;
  pt_rng_init(&rng, 1, 0);
  printf("%-14s %-5s %8s %8s %9s %7s\n", "family", "stage", "in_MB", "out_MB", "ms",
         "GB/s");
  int rc = 0;
  for (int i = 0; i < set.nfamilies && rc == 0; i++)
    for (int st = PT_REPACK_GEMM1; st <= PT_REPACK_GEMM2 && rc == 0; st++)
      rc = one(&set.families[i], (pt_repack_stage_t)st, &rng);
  pt_family_set_free(&set);
  return rc;
}
