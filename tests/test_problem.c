/* Tests of problem setup (problem.h) and of the dtype/act spellings
 * (moe.h): shape checks, tensor sizes, determinism per seed, value ranges,
 * byte and FLOP counts. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "mx.h"
#include "oracle.h"
#include "problem.h"

START_TEST(dtype_and_act_spellings) {
  static const char *dtypes[] = {"a4w4", "a8w4", "a16w4"};
  for (int d = 0; d < PT_DTYPE_COUNT; d++) {
    pt_dtype_t out;
    ck_assert_str_eq(pt_dtype_name((pt_dtype_t)d), dtypes[d]);
    ck_assert_int_eq(pt_dtype_parse(dtypes[d], &out), 0);
    ck_assert_int_eq(out, d);
  }
  pt_act_t a;
  ck_assert_str_eq(pt_act_name(PT_ACT_SILU), "silu");
  ck_assert_str_eq(pt_act_name(PT_ACT_SWIGLU_OAI), "swiglu_oai");
  ck_assert_int_eq(pt_act_parse("swiglu_oai", &a), 0);
  ck_assert_int_eq(a, PT_ACT_SWIGLU_OAI);
  ck_assert_int_eq(pt_act_parse("silu", &a), 0);
  ck_assert_int_eq(a, PT_ACT_SILU);
  pt_dtype_t d = PT_DTYPE_A8W4;
  ck_assert_int_eq(pt_dtype_parse("a4w8", &d), -1);
  ck_assert_int_eq(pt_dtype_parse("A4W4", &d), -1);
  ck_assert_int_eq(pt_dtype_parse(NULL, &d), -1);
  ck_assert_int_eq(d, PT_DTYPE_A8W4);  /* untouched on failure */
  ck_assert_int_eq(pt_act_parse("swiglu", &a), -1);
  ck_assert_str_eq(pt_dtype_name(PT_DTYPE_COUNT), "unknown");
  ck_assert_str_eq(pt_act_name((pt_act_t)-1), "unknown");
}
END_TEST

START_TEST(shape_checks) {
  pt_err_t err;
  pt_moe_shape_t ok = {128, 64, 4, 2, PT_DTYPE_A4W4, PT_ACT_SILU}, s;
  ck_assert_int_eq(pt_problem_check_shape(&ok, &err), PT_OK);
  s = ok; s.model_dim = 96;
  ck_assert_int_eq(pt_problem_check_shape(&s, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "model_dim 96") != NULL);
  s = ok; s.inter_dim = 0;
  ck_assert_int_eq(pt_problem_check_shape(&s, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "inter_dim 0") != NULL);
  s = ok; s.topk = 5;
  ck_assert_int_eq(pt_problem_check_shape(&s, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "topk 5") != NULL);
  s = ok; s.experts = 0;
  ck_assert_int_eq(pt_problem_check_shape(&s, &err), PT_EINVAL);
  s = ok; s.dtype = (pt_dtype_t)7;
  ck_assert_int_eq(pt_problem_check_shape(&s, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "dtype 7") != NULL);
  s = ok; s.act = PT_ACT_COUNT;
  ck_assert_int_eq(pt_problem_check_shape(&s, &err), PT_EINVAL);
}
END_TEST

START_TEST(tensor_sizes) {
  pt_moe_shape_t s = {128, 64, 4, 2, PT_DTYPE_A4W4, PT_ACT_SILU};
  pt_problem_sizes_t z;
  pt_problem_sizes(&s, 3, &z);
  ck_assert_uint_eq(z.x, 192);
  ck_assert_uint_eq(z.xs, 12);
  ck_assert_uint_eq(z.w1, 32768);
  ck_assert_uint_eq(z.w1s, 2048);
  ck_assert_uint_eq(z.w2, 16384);
  ck_assert_uint_eq(z.w2s, 1024);
  ck_assert_uint_eq(z.topk_ids, 24);
  ck_assert_uint_eq(z.topk_w, 24);
  ck_assert_uint_eq(z.out, 768);
  s.dtype = PT_DTYPE_A8W4;
  pt_problem_sizes(&s, 3, &z);
  ck_assert_uint_eq(z.x, 384);
  ck_assert_uint_eq(z.xs, 12);
  s.dtype = PT_DTYPE_A16W4;
  pt_problem_sizes(&s, 3, &z);
  ck_assert_uint_eq(z.x, 768);
  ck_assert_uint_eq(z.xs, 0);
  /* An intermediate row of I = 64 in each activation format. */
  ck_assert_uint_eq(pt_problem_act_bytes(PT_DTYPE_A4W4, 64), 32);
  ck_assert_uint_eq(pt_problem_act_bytes(PT_DTYPE_A8W4, 64), 64);
  ck_assert_uint_eq(pt_problem_act_bytes(PT_DTYPE_A16W4, 64), 128);
}
END_TEST

static int problems_equal(const pt_moe_problem_t *a, const pt_moe_problem_t *b) {
  pt_problem_sizes_t z;
  pt_problem_sizes(&a->shape, a->tokens, &z);
  return memcmp(a->x, b->x, z.x) == 0 &&
         (z.xs == 0 || memcmp(a->xs, b->xs, z.xs) == 0) &&
         memcmp(a->w1, b->w1, z.w1) == 0 && memcmp(a->w1s, b->w1s, z.w1s) == 0 &&
         memcmp(a->w2, b->w2, z.w2) == 0 && memcmp(a->w2s, b->w2s, z.w2s) == 0 &&
         memcmp(a->topk_ids, b->topk_ids, z.topk_ids) == 0 &&
         memcmp(a->topk_w, b->topk_w, z.topk_w) == 0;
}

START_TEST(deterministic_per_seed) {
  pt_moe_shape_t s = {128, 64, 8, 3, (pt_dtype_t)_i, PT_ACT_SILU};
  pt_routing_t r = {PT_ROUTING_ZIPF, 1.1};
  pt_moe_problem_t a, b, c, d;
  ck_assert_int_eq(pt_problem_init(&a, &s, 9, &r, 77, NULL), PT_OK);
  ck_assert_int_eq(pt_problem_init(&b, &s, 9, &r, 77, NULL), PT_OK);
  ck_assert_int_eq(pt_problem_init(&c, &s, 9, &r, 78, NULL), PT_OK);
  ck_assert_int_eq(pt_problem_init(&d, &s, 4, &r, 77, NULL), PT_OK);
  ck_assert(problems_equal(&a, &b));
  ck_assert(!problems_equal(&a, &c));
  ck_assert_mem_ne(a.w1, c.w1, 64);
  /* rows come from their own streams: fewer tokens, same first rows */
  pt_problem_sizes_t z;
  pt_problem_sizes(&s, 4, &z);
  ck_assert_mem_eq(a.x, d.x, z.x);
  pt_problem_sizes(&s, 9, &z);
  ck_assert_mem_eq(a.w2, d.w2, z.w2);
  pt_problem_free(&a);
  pt_problem_free(&b);
  pt_problem_free(&c);
  pt_problem_free(&d);
  ck_assert_ptr_null(a.x);
}
END_TEST

static double rms(const float *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
  return sqrt(s / n);
}

START_TEST(value_ranges) {
  enum { H = 256, I = 128, E = 4, K = 2, M = 16 };
  pt_moe_shape_t s = {H, I, E, K, (pt_dtype_t)_i, PT_ACT_SILU};
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  pt_moe_problem_t p;
  ck_assert_int_eq(pt_problem_init(&p, &s, M, &r, 5, NULL), PT_OK);
  float x[H], w[H];
  double g2 = 0;
  for (int t = 0; t < M; t++) {
    pt_oracle_x_row(&p, t, x);
    double xr = rms(x, H);  /* normal-ish times 2^-2..2^2 */
    ck_assert_msg(xr > 0.15 && xr < 6, "token %d rms %g", t, xr);
    int nonzero = 0;
    for (int k = 0; k < H; k++) nonzero += x[k] != 0;
    ck_assert_int_gt(nonzero, H / 2);
    for (int j = 0; j < 2 * I; j += 37) {  /* a few gate/up dot products */
      size_t row = (size_t)p.topk_ids[t * K] * 2 * I + (size_t)j;
      pt_mx_dequantize_row(PT_MX_E2M1, p.w1 + row * H / 2,
                           p.w1s + row * H / 32, H, w);
      double g = 0;
      for (int k = 0; k < H; k++) g += (double)x[k] * w[k];
      g2 += g * g / (xr * xr);
    }
  }
  double gr = sqrt(g2 / (M * 7));  /* normalized: ~1 by construction */
  ck_assert_msg(gr > 0.4 && gr < 2.5, "normalized gemm1 rms %g", gr);
  /* weight rows: RMS near 1/sqrt(K), scales within base -1..+1 */
  int smin = 255, smax = 0;
  for (size_t row = 0; row < (size_t)E * H; row++) {
    pt_mx_dequantize_row(PT_MX_E2M1, p.w2 + row * I / 2, p.w2s + row * I / 32, I, w);
    double wr = rms(w, I) * sqrt((double)I);
    ck_assert_msg(wr > 0.3 && wr < 3, "w2 row %zu rms*sqrt(I) %g", row, wr);
    for (int b = 0; b < I / 32; b++) {
      smin = p.w2s[row * I / 32 + b] < smin ? p.w2s[row * I / 32 + b] : smin;
      smax = p.w2s[row * I / 32 + b] > smax ? p.w2s[row * I / 32 + b] : smax;
    }
  }
  ck_assert_int_eq(smax - smin, 2);  /* all three scales occur */
  ck_assert_int_lt(smax, 127);
  pt_problem_free(&p);
}
END_TEST

START_TEST(bytes_and_flops) {
  pt_moe_shape_t s = {128, 64, 4, 2, PT_DTYPE_A4W4, PT_ACT_SILU};
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  pt_moe_problem_t p;
  ck_assert_int_eq(pt_problem_init(&p, &s, 3, &r, 1, NULL), PT_OK);
  const int32_t ids[6] = {0, 2, 2, 0, 2, 0};
  memcpy(p.topk_ids, ids, sizeof ids);
  ck_assert_int_eq(pt_problem_active_experts(&p), 2);
  /* per expert: w1 8192 + 512, w2 4096 + 256 bytes */
  ck_assert_uint_eq(pt_problem_weight_bytes(&p), 2 * (8192 + 512 + 4096 + 256));
  p.topk_ids[0] = 3;
  ck_assert_int_eq(pt_problem_active_experts(&p), 3);
  double f1, f2;
  pt_problem_flops(&p, &f1, &f2);
  ck_assert_double_eq(f1, 2.0 * 6 * 2 * 64 * 128);
  ck_assert_double_eq(f2, 2.0 * 6 * 128 * 64);
  pt_problem_free(&p);
}
END_TEST

START_TEST(bad_problems) {
  pt_moe_shape_t s = {128, 64, 4, 2, PT_DTYPE_A4W4, PT_ACT_SILU};
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  pt_moe_problem_t p;
  pt_err_t err;
  ck_assert_int_eq(pt_problem_init(&p, &s, 0, &r, 1, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "token count 0") != NULL);
  ck_assert_ptr_null(p.x);
  pt_problem_free(&p);
  s.topk = 9;
  ck_assert_int_eq(pt_problem_init(&p, &s, 4, &r, 1, &err), PT_EINVAL);
  s.topk = 2;
  r = (pt_routing_t){PT_ROUTING_ZIPF, -1};
  ck_assert_int_eq(pt_problem_init(&p, &s, 4, &r, 1, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "zipf") != NULL);
  ck_assert_ptr_null(p.w1);  /* freed on the failing path */
}
END_TEST

static Suite *problem_suite(void) {
  Suite *s = suite_create("problem");
  TCase *tc = tcase_create("problem");
  tcase_add_test(tc, dtype_and_act_spellings);
  tcase_add_test(tc, shape_checks);
  tcase_add_test(tc, tensor_sizes);
  tcase_add_loop_test(tc, deterministic_per_seed, 0, PT_DTYPE_COUNT);
  tcase_add_loop_test(tc, value_ranges, 0, PT_DTYPE_COUNT);
  tcase_add_test(tc, bytes_and_flops);
  tcase_add_test(tc, bad_problems);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(problem_suite());
}
