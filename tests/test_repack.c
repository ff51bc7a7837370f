/* Tests of the wgmma weight repack (repack.h): every canonical element of
 * every row lands exactly once at the slot, word and nibble the layout
 * names; rows past K are zero; gemm1 groups interleave 32 gate and 32 up
 * rows; the scale words hold the chunk's 4 block scales. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "repack.h"
#include "rng.h"

/* Each k of a 128-k chunk is named once by (t, i, p); the 32 k of word i
 * lie in MX block i of the chunk. */
START_TEST(k_map_is_a_permutation) {
  int seen[128] = {0};
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 4; i++)
      for (int p = 0; p < 8; p++) {
        int k = pt_repack_k(t, i, p);
        ck_assert_int_ge(k, 0);
        ck_assert_int_lt(k, 128);
        ck_assert_int_eq(k / 32, i);
        seen[k]++;
      }
  for (int k = 0; k < 128; k++) ck_assert_int_eq(seen[k], 1);
  /* wgmma's A fragment of lane t: step 0 pairs (2t, 2t+1) and (2t+8, 2t+9) */
  ck_assert_int_eq(pt_repack_k(1, 0, 0), 2);
  ck_assert_int_eq(pt_repack_k(1, 0, 4), 3);
  ck_assert_int_eq(pt_repack_k(1, 0, 1), 10);
  ck_assert_int_eq(pt_repack_k(1, 0, 5), 11);
  ck_assert_int_eq(pt_repack_k(0, 3, 3), 7 * 16 + 8);
}
END_TEST

static unsigned nib(const uint8_t *row, int k) {
  return (row[k / 2] >> (4 * (k & 1))) & 15u;
}

/* K = 320 (a partial last chunk), E = 2, both stages. */
START_TEST(every_element_once) {
  pt_moe_shape_t sh = {320, 192, 2, 1, PT_DTYPE_A16W4, PT_ACT_SILU};
  for (int st = PT_REPACK_GEMM1; st <= PT_REPACK_GEMM2; st++) {
    int n = st == PT_REPACK_GEMM1 ? 2 * sh.inter_dim : sh.model_dim;
    int K = st == PT_REPACK_GEMM1 ? sh.model_dim : sh.inter_dim;
    int C = (K + 127) / 128, G = n / 64;
    size_t wn = (size_t)sh.experts * n * (K / 2), sn = (size_t)sh.experts * n * (K / 32);
    uint8_t *w = malloc(wn), *ws = malloc(sn);
    pt_rng_t rng;
    pt_rng_init(&rng, 7 + (uint64_t)st, 0);
    for (size_t i = 0; i < wn; i++) w[i] = (uint8_t)pt_rng_below(&rng, 256);
    for (size_t i = 0; i < sn; i++) ws[i] = (uint8_t)(1 + pt_rng_below(&rng, 254));
    size_t wb, sb;
    pt_repack_sizes(&sh, (pt_repack_stage_t)st, &wb, &sb);
    ck_assert_uint_eq(wb, (size_t)sh.experts * G * C * 4096);
    ck_assert_uint_eq(sb, (size_t)sh.experts * G * C * 256);
    uint8_t *pw = malloc(wb), *ps = malloc(sb);
    memset(pw, 0xAA, wb);
    memset(ps, 0xAA, sb);
    pt_repack_wgmma(&sh, (pt_repack_stage_t)st, w, ws, pw, ps);
    for (int e = 0; e < sh.experts; e++)
      for (int q = 0; q < G; q++)
        for (int c = 0; c < C; c++)
          for (int r = 0; r < 64; r++) {
            int row = pt_repack_row(&sh, (pt_repack_stage_t)st, q, r);
            if (st == PT_REPACK_GEMM1)
              ck_assert_int_eq(row, (r < 32 ? 0 : sh.inter_dim) + 32 * q + r % 32);
            const uint8_t *src = w + ((size_t)e * n + row) * (K / 2);
            size_t blk = ((size_t)e * G + q) * C + c;
            const uint8_t *dst = pw + blk * 4096 + (size_t)r * 64;
            for (int t = 0; t < 4; t++)
              for (int i = 0; i < 4; i++)
                for (int p = 0; p < 8; p++) {
                  int k = 128 * c + pt_repack_k(t, i, p);
                  unsigned want = k < K ? nib(src, k) : 0;
                  ck_assert_uint_eq(nib(dst + 16 * t + 4 * i, p), want);
                }
            for (int i = 0; i < 4; i++) {
              int b = 4 * c + i;
              unsigned want = b < K / 32 ? ws[((size_t)e * n + row) * (K / 32) + b] : 0;
              ck_assert_uint_eq(ps[blk * 256 + (size_t)r * 4 + i], want);
            }
          }
    free(w);
    free(ws);
    free(pw);
    free(ps);
  }
}
END_TEST

static Suite *repack_suite(void) {
  Suite *s = suite_create("repack");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, k_map_is_a_permutation);
  tcase_add_test(tc, every_element_once);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return pt_test_run_suite(repack_suite()); }
