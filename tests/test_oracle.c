/* Tests of the oracle (oracle.h): activations against hand values, a
 * hand-computed problem with exact outputs, a naive dequantize-then-matmul
 * formulation written here independently (no sorting, no chunks, serial
 * sums) on the DESIGN §4 cases, atomic vs reduce, thread and sample
 * independence, re-seeding gemm2, the FFN block, comparison helpers, and
 * bad inputs. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "moe_sort.h"
#include "mx.h"
#include "oracle.h"
#include "problem.h"

#define POISON_H 0xAB
#define POISON_S 0xCD

START_TEST(activations) {
  ck_assert_double_eq_tol(pt_oracle_silu(1, 1), 0.7310585786300049, 1e-15);
  ck_assert_double_eq_tol(pt_oracle_silu(2, 3), 5.284782467867294, 1e-14);
  ck_assert_double_eq_tol(pt_oracle_silu(-1.5, 0.5), -0.13681914285476726, 1e-15);
  ck_assert_double_eq(pt_oracle_silu(0, 5), 0);
  ck_assert(isfinite(pt_oracle_silu(-1000, 1)));
  ck_assert_double_eq_tol(pt_oracle_swiglu_oai(1, 1), 1.6915915318656425, 1e-14);
  /* gate clamps at 7 from above only, up to [-7, 7] */
  ck_assert_double_eq(pt_oracle_swiglu_oai(10, 0), pt_oracle_swiglu_oai(7, 0));
  ck_assert_double_eq_tol(pt_oracle_swiglu_oai(10, 0), 6.999953128303318, 1e-13);
  ck_assert_double_eq_tol(pt_oracle_swiglu_oai(2, -10), -11.61395173886525, 1e-13);
  ck_assert_double_eq_tol(pt_oracle_swiglu_oai(-3, 20), -0.14457047766228776, 1e-15);
  ck_assert(isnan(pt_oracle_swiglu_oai(NAN, 1)));
  ck_assert(isnan(pt_oracle_swiglu_oai(1, NAN)));
  ck_assert_double_eq(pt_oracle_act(PT_ACT_SILU, 2, 3), pt_oracle_silu(2, 3));
  ck_assert_double_eq(pt_oracle_act(PT_ACT_SWIGLU_OAI, 2, 3),
                      pt_oracle_swiglu_oai(2, 3));
}
END_TEST

/* ---- shared helpers ---- */

static void init_problem(pt_moe_problem_t *p, int H, int I, int E, int K,
                         pt_dtype_t dtype, pt_act_t act, int M, uint64_t seed) {
  pt_moe_shape_t s = {H, I, E, K, dtype, act};
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  pt_err_t err;
  ck_assert_msg(pt_problem_init(p, &s, M, &r, seed, &err) == PT_OK, "%s", err.msg);
}

static void sort_problem(const pt_moe_problem_t *p, int sbm, pt_moe_sorted_t *s) {
  pt_err_t err;
  ck_assert_msg(pt_sort_run(p->topk_ids, p->topk_w, p->tokens, p->shape.topk,
                            p->shape.experts, sbm, s, &err) == PT_OK, "%s", err.msg);
}

static void poisoned_inter(const pt_moe_problem_t *p, int rows,
                           pt_oracle_inter_t *h) {
  ck_assert_int_eq(pt_oracle_inter_init(h, p->shape.dtype, rows,
                                        p->shape.inter_dim, NULL), PT_OK);
  memset(h->h, POISON_H, h->h_bytes);
  if (h->hs) memset(h->hs, POISON_S, h->hs_bytes);
}

/* Every byte of row r of h still holds the poison. */
static int row_untouched(const pt_oracle_inter_t *h, int r) {
  size_t rb = h->h_bytes / (size_t)h->rows, sb = h->hs_bytes / (size_t)h->rows;
  const uint8_t *hb = (const uint8_t *)h->h + (size_t)r * rb;
  for (size_t i = 0; i < rb; i++)
    if (hb[i] != POISON_H) return 0;
  for (size_t i = 0; i < sb; i++)
    if (h->hs[(size_t)r * sb + i] != POISON_S) return 0;
  return 1;
}

/* ---- a hand-computed problem ----
 * H = I = 64, E = 2, K = 2, M = 3, silu. x[t,k] = 2^t; gate rows of w1 are
 * 0.5, up rows of expert e are 2^e; so g = 32*2^t, u = 64*2^(t+e) and
 * h = g*sigmoid(g)*u = 2^(11+2t+e) in f32 (sigmoid(g) rounds to 1).
 * w2[e,n,j] = 2^(e + n%3): y = 64*h*2^(e+n%3) = 2^(17+2t+2e+n%3), and
 * out[t,n] = 2^(17+2t+n%3) * sum over slots of w * 4^e. */
enum { HH = 64, HI = 64, HE = 2, HK = 2, HM = 3 };

static void hand_problem(pt_moe_problem_t *p, pt_dtype_t dtype) {
  init_problem(p, HH, HI, HE, HK, dtype, PT_ACT_SILU, HM, 1);
  for (int t = 0; t < HM; t++)
    for (int k = 0; k < HH; k++)
      switch (dtype) {
      case PT_DTYPE_A4W4:
        pt_mx_fp4_set(p->x, (size_t)t * HH + k, 0x2);  /* 1.0 */
        p->xs[t * HH / 32 + k / 32] = (uint8_t)(127 + t);
        break;
      case PT_DTYPE_A8W4:
        ((uint8_t *)p->x)[t * HH + k] = 0x38;  /* 1.0 */
        p->xs[t * HH / 32 + k / 32] = (uint8_t)(127 + t);
        break;
      default:
        ((uint16_t *)p->x)[t * HH + k] = pt_mx_bf16_from_f32(ldexpf(1, t));
        break;
      }
  for (int e = 0; e < HE; e++)
    for (int j = 0; j < 2 * HI; j++) {
      size_t row = (size_t)e * 2 * HI + j;
      memset(p->w1 + row * HH / 2, j < HI ? 0x11 : 0x22, HH / 2);
      memset(p->w1s + row * HH / 32, j < HI ? 127 : 127 + e, HH / 32);
    }
  for (int e = 0; e < HE; e++)
    for (int n = 0; n < HH; n++) {
      size_t row = (size_t)e * HH + n;
      memset(p->w2 + row * HI / 2, 0x22, HI / 2);
      memset(p->w2s + row * HI / 32, 127 + e + n % 3, HI / 32);
    }
  static const int32_t ids[HM * HK] = {0, 1, 1, 0, 0, 1};
  static const float w[HM * HK] = {0.75f, 0.25f, 0.75f, 0.25f, 0.5f, 0.5f};
  memcpy(p->topk_ids, ids, sizeof ids);
  memcpy(p->topk_w, w, sizeof w);
}

/* out[t, n] with the routing of hand_problem */
static double hand_out(int t, int n) {
  static const double c[HM] = {0.75 + 0.25 * 4, 0.75 * 4 + 0.25, 0.5 + 0.5 * 4};
  return ldexp(c[t], 17 + 2 * t + n % 3);
}

START_TEST(hand_computed) {
  pt_dtype_t dtype = (pt_dtype_t)_i;
  pt_moe_problem_t p;
  pt_moe_sorted_t s;
  pt_oracle_inter_t h;
  hand_problem(&p, dtype);
  sort_problem(&p, 16, &s);
  ck_assert_int_eq(s.padded, 32);  /* 3 rows per expert, one block each */
  poisoned_inter(&p, s.capacity, &h);
  float *hf = calloc((size_t)s.capacity * HI, sizeof *hf);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, NULL, 2, &h, hf, NULL), PT_OK);
  float row[HI];
  for (int r = 0; r < s.padded; r++) {
    int t = PT_SORT_TOKEN(s.sorted_ids[r]), e = s.block_expert[r / 16];
    if (t >= HM) {
      ck_assert_msg(row_untouched(&h, r), "padding row %d written", r);
      continue;
    }
    float want = ldexpf(1, 11 + 2 * t + e);
    pt_oracle_h_row(&h, r, row);
    for (int j = 0; j < HI; j++) {
      ck_assert_float_eq(hf[r * HI + j], want);
      ck_assert_float_eq(row[j], want);
    }
    const uint8_t *hb = h.h;
    if (dtype == PT_DTYPE_A4W4) {  /* 2^(11+2t+e) = 4 * 2^(9+2t+e) */
      ck_assert_uint_eq(hb[r * HI / 2], 0x66);
      ck_assert_uint_eq(h.hs[r * 2], 127 + 9 + 2 * t + e);
    } else if (dtype == PT_DTYPE_A8W4) {  /* 256 * 2^(3+2t+e) */
      ck_assert_uint_eq(hb[r * HI], 0x78);
      ck_assert_uint_eq(h.hs[r * 2 + 1], 127 + 3 + 2 * t + e);
    }
  }
  float out[HM * HH];
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s, &h, NULL, 2, out, NULL), PT_OK);
  for (int t = 0; t < HM; t++)
    for (int n = 0; n < HH; n++)
      ck_assert_float_eq(out[t * HH + n], (float)hand_out(t, n));
  /* the same numbers from the whole block */
  memset(out, 0, sizeof out);
  ck_assert_int_eq(pt_oracle_moe(&p, 1, out, NULL), PT_OK);
  for (int t = 0; t < HM; t++)
    for (int n = 0; n < HH; n++)
      ck_assert_float_eq(out[t * HH + n], (float)hand_out(t, n));
  free(hf);
  pt_oracle_inter_free(&h);
  pt_sort_free(&s);
  pt_problem_free(&p);
}
END_TEST

/* gemm2 takes the intermediate as given: a buffer of all ones (not what
 * gemm1 would write) gives y = 64 * 2^(e + n%3). */
START_TEST(gemm2_reads_intermediate_as_given) {
  pt_dtype_t dtype = (pt_dtype_t)_i;
  pt_moe_problem_t p;
  pt_moe_sorted_t s;
  pt_oracle_inter_t h;
  hand_problem(&p, dtype);
  sort_problem(&p, 32, &s);
  ck_assert_int_eq(pt_oracle_inter_init(&h, dtype, s.padded, HI, NULL), PT_OK);
  for (int r = 0; r < s.padded; r++)
    for (int j = 0; j < HI; j++)
      if (dtype == PT_DTYPE_A4W4)
        pt_mx_fp4_set(h.h, (size_t)r * HI + j, 0x2);
      else if (dtype == PT_DTYPE_A8W4)
        ((uint8_t *)h.h)[r * HI + j] = 0x38;
      else
        ((uint16_t *)h.h)[r * HI + j] = 0x3F80;
  if (h.hs) memset(h.hs, 127, h.hs_bytes);
  float out[HM * HH];
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s, &h, NULL, 1, out, NULL), PT_OK);
  static const double c[HM] = {0.75 + 0.25 * 2, 0.75 * 2 + 0.25, 0.5 + 0.5 * 2};
  for (int t = 0; t < HM; t++)
    for (int n = 0; n < HH; n++)
      ck_assert_float_eq(out[t * HH + n], (float)ldexp(c[t], 6 + n % 3));
  pt_oracle_inter_free(&h);
  pt_sort_free(&s);
  pt_problem_free(&p);
}
END_TEST

/* ---- the naive formulation: per token and slot, dequantize everything
 * with the element decoders, serial double sums, requantize h, sum ---- */

static double naive_w(const uint8_t *w, const uint8_t *ws, size_t idx) {
  uint8_t code = (uint8_t)(idx % 2 ? w[idx / 2] >> 4 : w[idx / 2] & 0xF);
  return pt_mx_e2m1_decode(code) * pt_mx_e8m0_decode(ws[idx / 32]);
}

static double naive_x(const pt_moe_problem_t *p, size_t idx) {
  const uint8_t *x = p->x;
  switch (p->shape.dtype) {
  case PT_DTYPE_A4W4:
    return pt_mx_e2m1_decode((uint8_t)(idx % 2 ? x[idx / 2] >> 4 : x[idx / 2] & 0xF)) *
           pt_mx_e8m0_decode(p->xs[idx / 32]);
  case PT_DTYPE_A8W4:
    return pt_mx_e4m3_decode(x[idx]) * pt_mx_e8m0_decode(p->xs[idx / 32]);
  default:
    return pt_mx_bf16_to_f32(((const uint16_t *)p->x)[idx]);
  }
}

/* h after the intermediate dtype's rounding. */
static void naive_requant(pt_dtype_t dtype, float *h, int I) {
  uint8_t codes[1024], scales[64];
  if (dtype == PT_DTYPE_A16W4) {
    for (int j = 0; j < I; j++) h[j] = pt_mx_bf16_to_f32(pt_mx_bf16_from_f32(h[j]));
    return;
  }
  pt_mx_elem_t fmt = dtype == PT_DTYPE_A4W4 ? PT_MX_E2M1 : PT_MX_E4M3;
  pt_mx_quantize_row(fmt, h, (size_t)I, codes, scales);
  for (int j = 0; j < I; j++) {
    uint8_t c = fmt == PT_MX_E2M1 ? (uint8_t)(j % 2 ? codes[j / 2] >> 4 : codes[j / 2] & 0xF)
                                  : codes[j];
    h[j] = (float)(pt_mx_elem_decode(fmt, c) * pt_mx_e8m0_decode(scales[j / 32]));
  }
}

static void naive_moe(const pt_moe_problem_t *p, float *out) {
  int H = p->shape.model_dim, I = p->shape.inter_dim, K = p->shape.topk;
  float *h = malloc((size_t)I * sizeof *h);
  double *acc = calloc((size_t)H, sizeof *acc);
  for (int t = 0; t < p->tokens; t++) {
    memset(acc, 0, (size_t)H * sizeof *acc);
    for (int k = 0; k < K; k++) {
      size_t e = (size_t)p->topk_ids[t * K + k];
      for (int j = 0; j < I; j++) {
        double g = 0, u = 0;
        for (int c = 0; c < H; c++) {
          double xv = naive_x(p, (size_t)t * H + c);
          g += xv * naive_w(p->w1, p->w1s, (e * 2 * I + j) * H + c);
          u += xv * naive_w(p->w1, p->w1s, (e * 2 * I + I + j) * H + c);
        }
        h[j] = (float)pt_oracle_act(p->shape.act, g, u);
      }
      naive_requant(p->shape.dtype, h, I);
      for (int n = 0; n < H; n++) {
        double y = 0;
        for (int j = 0; j < I; j++)
          y += h[j] * naive_w(p->w2, p->w2s, (e * H + n) * I + j);
        acc[n] += p->topk_w[t * K + k] * y;
      }
    }
    for (int n = 0; n < H; n++) out[(size_t)t * H + n] = (float)acc[n];
  }
  free(h);
  free(acc);
}

/* Runs the staged oracle (with poisoned padding checks) and the naive one
 * on p, and compares. */
static void check_against_naive(const pt_moe_problem_t *p, int sbm) {
  int M = p->tokens, H = p->shape.model_dim;
  pt_moe_sorted_t s;
  pt_oracle_inter_t h;
  sort_problem(p, sbm, &s);
  poisoned_inter(p, s.capacity, &h);
  ck_assert_int_eq(pt_oracle_gemm1(p, &s, NULL, 2, &h, NULL, NULL), PT_OK);
  int padding = 0;
  for (int r = 0; r < s.padded; r++)
    if (PT_SORT_TOKEN(s.sorted_ids[r]) >= M) {
      padding++;
      ck_assert_msg(row_untouched(&h, r), "padding row %d written", r);
    } else {
      ck_assert_msg(!row_untouched(&h, r), "row %d not computed", r);
    }
  float *got = malloc((size_t)M * H * sizeof *got);
  float *want = malloc((size_t)M * H * sizeof *want);
  ck_assert_int_eq(pt_oracle_gemm2_atomic(p, &s, &h, NULL, 3, got, NULL), PT_OK);
  naive_moe(p, want);
  pt_oracle_diff_t d;
  pt_oracle_diff(got, PT_ORACLE_F32, want, PT_ORACLE_F32, H, NULL, M, &d);
  ck_assert_uint_eq(d.count, (size_t)M * H);
  ck_assert_msg(d.rel_l2 < 1e-5, "%s %s: rel-L2 %g vs naive",
                pt_dtype_name(p->shape.dtype), pt_act_name(p->shape.act), d.rel_l2);
  double norm = 0;
  for (int i = 0; i < M * H; i++) norm += (double)want[i] * want[i];
  ck_assert_msg(norm > 0, "all-zero output proves nothing");
  free(got);
  free(want);
  pt_oracle_inter_free(&h);
  pt_sort_free(&s);
}

/* _i runs over dtype x act. */
#define LOOP_DTYPE(i) ((pt_dtype_t)((i) % PT_DTYPE_COUNT))
#define LOOP_ACT(i) ((pt_act_t)((i) / PT_DTYPE_COUNT))
#define LOOP_END (PT_DTYPE_COUNT * PT_ACT_COUNT)

START_TEST(several_experts) {
  pt_moe_problem_t p;
  init_problem(&p, 128, 64, 8, 3, LOOP_DTYPE(_i), LOOP_ACT(_i), 20, 100 + _i);
  check_against_naive(&p, 16);
  pt_problem_free(&p);
}
END_TEST

START_TEST(one_expert) {
  pt_moe_problem_t p;
  init_problem(&p, 64, 128, 1, 1, LOOP_DTYPE(_i), LOOP_ACT(_i), 9, 200 + _i);
  check_against_naive(&p, 16);
  pt_problem_free(&p);
}
END_TEST

START_TEST(every_token_on_one_expert) {
  pt_moe_problem_t p;
  init_problem(&p, 128, 64, 6, 1, LOOP_DTYPE(_i), LOOP_ACT(_i), 37, 300 + _i);
  for (int t = 0; t < p.tokens; t++) {
    p.topk_ids[t] = 4;
    p.topk_w[t] = 1.0f;
  }
  check_against_naive(&p, 16);
  pt_problem_free(&p);
}
END_TEST

START_TEST(sequential_experts) {
  pt_moe_problem_t p;
  init_problem(&p, 64, 64, 5, 2, LOOP_DTYPE(_i), LOOP_ACT(_i), 12, 400 + _i);
  for (int i = 0; i < p.tokens * 2; i++) p.topk_ids[i] = i % 5;
  check_against_naive(&p, 4);
  pt_problem_free(&p);
}
END_TEST

START_TEST(empty_experts_and_m1) {
  pt_moe_problem_t p;
  /* 16 experts, 3 tokens x 2: at least 10 experts are empty */
  init_problem(&p, 64, 64, 16, 2, LOOP_DTYPE(_i), LOOP_ACT(_i), 3, 500 + _i);
  check_against_naive(&p, 32);
  pt_problem_free(&p);
  init_problem(&p, 128, 64, 8, 4, LOOP_DTYPE(_i), LOOP_ACT(_i), 1, 600 + _i);
  check_against_naive(&p, 64);
  pt_problem_free(&p);
}
END_TEST

/* swiglu_oai's clamps must be hit: large activations push gate and up past
 * 7 on some columns. */
START_TEST(swiglu_clamps_are_exercised) {
  pt_moe_problem_t p;
  init_problem(&p, 64, 64, 2, 1, PT_DTYPE_A16W4, PT_ACT_SWIGLU_OAI, 4, 7);
  uint16_t *x = p.x;
  for (int i = 0; i < 4 * 64; i++)
    x[i] = pt_mx_bf16_from_f32(pt_mx_bf16_to_f32(x[i]) * 16.0f);
  pt_moe_sorted_t s;
  pt_oracle_inter_t h;
  sort_problem(&p, 16, &s);
  poisoned_inter(&p, s.padded, &h);
  float *hf = calloc((size_t)s.padded * 64, sizeof *hf);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, NULL, 1, &h, hf, NULL), PT_OK);
  int above = 0;  /* h > 7*1*8 is impossible once clamped */
  for (int i = 0; i < s.padded * 64; i++) {
    ck_assert(hf[i] <= 56.0f);
    above += hf[i] > 40.0f;
  }
  ck_assert_int_gt(above, 0);
  check_against_naive(&p, 16);
  free(hf);
  pt_oracle_inter_free(&h);
  pt_sort_free(&s);
  pt_problem_free(&p);
}
END_TEST

START_TEST(atomic_and_reduce_agree) {
  pt_moe_problem_t p;
  init_problem(&p, 128, 64, 8, 4, LOOP_DTYPE(_i), PT_ACT_SILU, 25, 700 + _i);
  int M = p.tokens, H = 128, K = 4;
  pt_moe_sorted_t s;
  pt_oracle_inter_t h;
  sort_problem(&p, 32, &s);
  poisoned_inter(&p, s.padded, &h);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, NULL, 2, &h, NULL, NULL), PT_OK);
  float *a = malloc((size_t)M * H * sizeof *a), *r = malloc((size_t)M * H * sizeof *r);
  float *ybuf = malloc((size_t)M * K * H * sizeof *ybuf);
  for (size_t i = 0; i < (size_t)M * K * H; i++) ybuf[i] = NAN;
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s, &h, NULL, 2, a, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm2_reduce(&p, &s, &h, NULL, 2, ybuf, NULL), PT_OK);
  for (size_t i = 0; i < (size_t)M * K * H; i++) ck_assert(!isnan(ybuf[i]));
  ck_assert_int_eq(pt_oracle_reduce(ybuf, M, K, H, NULL, r, NULL), PT_OK);
  pt_oracle_diff_t d;
  pt_oracle_diff(r, PT_ORACLE_F32, a, PT_ORACLE_F32, H, NULL, M, &d);
  ck_assert_msg(d.rel_l2 < 1e-6, "rel-L2 %g", d.rel_l2);
  /* ybuf[t, slot] is the slot's own term: weight 0 on a slot zeroes it */
  p.topk_w[3 * K + 2] = 0.0f;
  pt_sort_free(&s);
  sort_problem(&p, 32, &s);
  ck_assert_int_eq(pt_oracle_gemm2_reduce(&p, &s, &h, NULL, 1, ybuf, NULL), PT_OK);
  for (int n = 0; n < H; n++) ck_assert_float_eq(ybuf[(3 * K + 2) * H + n], 0.0f);
  free(a);
  free(r);
  free(ybuf);
  pt_oracle_inter_free(&h);
  pt_sort_free(&s);
  pt_problem_free(&p);
}
END_TEST

START_TEST(independent_of_threads_and_sort_block) {
  pt_moe_problem_t p;
  init_problem(&p, 128, 128, 8, 2, PT_DTYPE_A4W4, PT_ACT_SWIGLU_OAI, 60, 9);
  int M = p.tokens, H = 128;
  float *o1 = malloc((size_t)M * H * sizeof *o1), *o2 = malloc((size_t)M * H * sizeof *o2);
  pt_moe_sorted_t s1, s2;
  pt_oracle_inter_t h1, h2;
  sort_problem(&p, 16, &s1);
  sort_problem(&p, 64, &s2);
  poisoned_inter(&p, s1.padded, &h1);
  poisoned_inter(&p, s2.padded, &h2);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s1, NULL, 1, &h1, NULL, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s2, NULL, 3, &h2, NULL, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s1, &h1, NULL, 1, o1, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s2, &h2, NULL, 3, o2, NULL), PT_OK);
  ck_assert_mem_eq(o1, o2, (size_t)M * H * sizeof *o1);
  ck_assert_int_eq(pt_oracle_moe(&p, 2, o2, NULL), PT_OK);
  ck_assert_mem_eq(o1, o2, (size_t)M * H * sizeof *o1);
  free(o1);
  free(o2);
  pt_oracle_inter_free(&h1);
  pt_oracle_inter_free(&h2);
  pt_sort_free(&s1);
  pt_sort_free(&s2);
  pt_problem_free(&p);
}
END_TEST

/* ---- samples ---- */

static int contains(const int32_t *v, int n, int32_t x) {
  for (int i = 0; i < n; i++)
    if (v[i] == x) return 1;
  return 0;
}

START_TEST(sample_rows) {
  pt_moe_problem_t p;
  init_problem(&p, 64, 64, 12, 2, PT_DTYPE_A8W4, PT_ACT_SILU, 300, 3);
  int M = p.tokens, K = 2, SBM = 16;
  pt_moe_sorted_t s;
  sort_problem(&p, SBM, &s);
  pt_oracle_sample_t a, b, c;
  ck_assert_int_eq(pt_oracle_sample_init(&a, &s, M, 3, 42, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_sample_init(&b, &s, M, 3, 42, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_sample_init(&c, &s, M, 3, 43, NULL), PT_OK);
  ck_assert_int_eq(a.nrows, b.nrows);
  ck_assert_mem_eq(a.rows, b.rows, (size_t)a.nrows * sizeof *a.rows);
  ck_assert(a.nrows != c.nrows || memcmp(a.rows, c.rows, (size_t)a.nrows * 4) != 0);
  ck_assert_int_lt(a.nrows, s.padded);
  ck_assert_int_eq(a.nrows, a.ntokens * K);  /* closed over tokens */
  for (int i = 0; i < a.nrows; i++) {
    if (i > 0) ck_assert_int_gt(a.rows[i], a.rows[i - 1]);
    int t = PT_SORT_TOKEN(s.sorted_ids[a.rows[i]]);
    ck_assert_int_lt(t, M);
    ck_assert(contains(a.tokens, a.ntokens, t));
  }
  /* first and last blocks whole (their real rows), edges of some blocks */
  for (int r = 0; r < SBM; r++)
    if (PT_SORT_TOKEN(s.sorted_ids[r]) < M) ck_assert(contains(a.rows, a.nrows, r));
  int last = s.padded - SBM;
  for (int r = last; r < s.padded; r++)
    if (PT_SORT_TOKEN(s.sorted_ids[r]) < M) ck_assert(contains(a.rows, a.nrows, r));
  ck_assert_int_gt(a.npad, 0);
  for (int i = 0; i < a.npad; i++) {
    int r = a.pad_rows[i];
    ck_assert_int_ge(PT_SORT_TOKEN(s.sorted_ids[r]), M);
    /* its block's last real row is sampled */
    int q = r;
    while (PT_SORT_TOKEN(s.sorted_ids[q]) >= M) q--;
    ck_assert(contains(a.rows, a.nrows, q));
  }
  pt_oracle_sample_t all;
  ck_assert_int_eq(pt_oracle_sample_all(&all, &s, M, NULL), PT_OK);
  ck_assert_int_eq(all.nrows, M * K);
  ck_assert_int_eq(all.ntokens, M);
  ck_assert_int_eq(all.npad, s.padded - M * K);
  pt_err_t err;
  pt_oracle_sample_t bad;
  ck_assert_int_eq(pt_oracle_sample_init(&bad, &s, M, 0, 1, &err), PT_EINVAL);
  pt_oracle_sample_free(&a);
  pt_oracle_sample_free(&b);
  pt_oracle_sample_free(&c);
  pt_oracle_sample_free(&all);
  pt_sort_free(&s);
  pt_problem_free(&p);
}
END_TEST

START_TEST(sampled_equals_full_on_its_rows) {
  pt_moe_problem_t p;
  init_problem(&p, 128, 64, 8, 3, LOOP_DTYPE(_i), PT_ACT_SWIGLU_OAI, 200, 800 + _i);
  int M = p.tokens, H = 128;
  pt_moe_sorted_t s;
  pt_oracle_sample_t smp;
  pt_oracle_inter_t full, part;
  sort_problem(&p, 32, &s);
  ck_assert_int_eq(pt_oracle_sample_init(&smp, &s, M, 2, 5, NULL), PT_OK);
  ck_assert_int_lt(smp.ntokens, M);
  poisoned_inter(&p, s.padded, &full);
  poisoned_inter(&p, s.padded, &part);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, NULL, 2, &full, NULL, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, &smp, 2, &part, NULL, NULL), PT_OK);
  ck_assert_double_eq(pt_oracle_code_match(&part, &full, smp.rows, smp.nrows), 1.0);
  for (int r = 0; r < s.padded; r++)
    ck_assert_int_eq(row_untouched(&part, r), !contains(smp.rows, smp.nrows, r));
  float *of = malloc((size_t)M * H * sizeof *of), *op = malloc((size_t)M * H * sizeof *op);
  for (int i = 0; i < M * H; i++) op[i] = NAN;
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s, &full, NULL, 2, of, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s, &part, &smp, 2, op, NULL), PT_OK);
  for (int t = 0; t < M; t++) {
    int in = contains(smp.tokens, smp.ntokens, t);
    for (int n = 0; n < H; n++)
      if (in)
        ck_assert_float_eq(op[t * H + n], of[t * H + n]);
      else
        ck_assert(isnan(op[t * H + n]));
  }
  pt_oracle_diff_t d;
  pt_oracle_diff(op, PT_ORACLE_F32, of, PT_ORACLE_F32, H, smp.tokens, smp.ntokens, &d);
  ck_assert_double_eq(d.rel_l2, 0.0);
  ck_assert_uint_eq(d.count, (size_t)smp.ntokens * H);
  free(of);
  free(op);
  pt_oracle_inter_free(&full);
  pt_oracle_inter_free(&part);
  pt_oracle_sample_free(&smp);
  pt_sort_free(&s);
  pt_problem_free(&p);
}
END_TEST

START_TEST(ffn_block_from_logits) {
  pt_moe_problem_t p;
  init_problem(&p, 64, 64, 6, 2, PT_DTYPE_A4W4, PT_ACT_SILU, 10, 13);
  int M = p.tokens, E = 6, K = 2, H = 64;
  /* logits whose top-2 are p's experts with softmax = p's weights */
  float *logits = malloc((size_t)M * E * sizeof *logits);
  for (int t = 0; t < M; t++) {
    for (int e = 0; e < E; e++) logits[t * E + e] = -50.0f;
    for (int k = 0; k < K; k++)
      logits[t * E + p.topk_ids[t * K + k]] = logf(p.topk_w[t * K + k]);
  }
  float *a = malloc((size_t)M * H * sizeof *a), *b = malloc((size_t)M * H * sizeof *b);
  ck_assert_int_eq(pt_oracle_moe(&p, 1, a, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_ffn_block(&p, logits, 1, 2, b, NULL), PT_OK);
  pt_oracle_diff_t d;
  pt_oracle_diff(b, PT_ORACLE_F32, a, PT_ORACLE_F32, H, NULL, M, &d);
  ck_assert_msg(d.rel_l2 < 1e-6, "rel-L2 %g", d.rel_l2);
  /* without renormalizing, the weights shrink by the mass outside top-2 */
  ck_assert_int_eq(pt_oracle_ffn_block(&p, logits, 0, 2, b, NULL), PT_OK);
  pt_oracle_diff(b, PT_ORACLE_F32, a, PT_ORACLE_F32, H, NULL, M, &d);
  ck_assert_msg(d.rel_l2 < 1e-6, "rel-L2 %g", d.rel_l2);  /* e^-50 is nothing */
  for (int t = 0; t < M; t++) logits[t * E + 5] = logits[t * E + 5] > -50 ? 0.0f : 1e3f;
  ck_assert_int_eq(pt_oracle_ffn_block(&p, logits, 1, 2, b, NULL), PT_OK);
  pt_oracle_diff(b, PT_ORACLE_F32, a, PT_ORACLE_F32, H, NULL, M, &d);
  ck_assert_msg(d.rel_l2 > 0.1, "changed routing gave rel-L2 %g", d.rel_l2);
  logits[7] = NAN;
  pt_err_t err;
  ck_assert_int_eq(pt_oracle_ffn_block(&p, logits, 1, 2, b, &err), PT_EINVAL);
  free(logits);
  free(a);
  free(b);
  pt_problem_free(&p);
}
END_TEST

START_TEST(mul_mat_id_selects_experts) {
  enum { E = 3, N = 40, KD = 64, R = 4 };
  uint8_t w[E * N * KD / 2], ws[E * N * KD / 32];
  for (size_t i = 0; i < sizeof w; i++) w[i] = (uint8_t)(i * 37 + 11);
  for (size_t i = 0; i < sizeof ws; i++) ws[i] = (uint8_t)(125 + i % 5);
  /* a rows are unit vectors: c[i, j] picks one weight element */
  float a[R * KD] = {0};
  const int32_t experts[R] = {2, 2, 0, 1};
  const int pick[R] = {0, 63, 31, 32};
  for (int i = 0; i < R; i++) a[i * KD + pick[i]] = 1.0f;
  a[3 * KD + 33] = -2.0f;
  double c[R * N];
  ck_assert_int_eq(pt_oracle_mul_mat_id(a, R, KD, experts, w, ws, N, c, 2, NULL), PT_OK);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < N; j++) {
      size_t base = ((size_t)experts[i] * N + j) * KD;
      double want = naive_w(w, ws, base + pick[i]);
      if (i == 3) want -= 2.0 * naive_w(w, ws, base + 33);
      ck_assert_double_eq(c[i * N + j], want);
    }
  pt_err_t err;
  ck_assert_int_eq(pt_oracle_mul_mat_id(a, R, 48, experts, w, ws, N, c, 1, &err),
                   PT_EINVAL);
  ck_assert(strstr(err.msg, "k 48") != NULL);
}
END_TEST

/* ---- comparisons ---- */

START_TEST(diff_helper) {
  const float got[6] = {1, 2, 3, 9, 9, 9}, ref[6] = {1, 2, 4, 0, 0, 0};
  pt_oracle_diff_t d;
  pt_oracle_diff(got, PT_ORACLE_F32, ref, PT_ORACLE_F32, 3, NULL, 1, &d);
  ck_assert_double_eq_tol(d.rel_l2, 1 / sqrt(21.0), 1e-15);
  ck_assert_double_eq(d.max_abs, 1.0);
  ck_assert_double_eq_tol(d.mean_abs, 1 / 3.0, 1e-15);
  ck_assert_uint_eq(d.count, 3);
  ck_assert_uint_eq(d.nonfinite, 0);
  uint16_t gb[6];
  pt_mx_bf16_from_f32_row(got, 6, gb);
  pt_oracle_diff(gb, PT_ORACLE_BF16, ref, PT_ORACLE_F32, 3, NULL, 1, &d);
  ck_assert_double_eq_tol(d.rel_l2, 1 / sqrt(21.0), 1e-15);
  const int32_t rows[1] = {1};
  pt_oracle_diff(got, PT_ORACLE_F32, ref, PT_ORACLE_F32, 3, rows, 1, &d);
  ck_assert(isinf(d.rel_l2));  /* ref row all zero, got not */
  ck_assert_double_eq(d.max_abs, 9.0);
  pt_oracle_diff(ref + 3, PT_ORACLE_F32, ref + 3, PT_ORACLE_F32, 3, NULL, 1, &d);
  ck_assert_double_eq(d.rel_l2, 0.0);
  const float bad[3] = {1, NAN, 4};
  pt_oracle_diff(bad, PT_ORACLE_F32, ref, PT_ORACLE_F32, 3, NULL, 1, &d);
  ck_assert_uint_eq(d.nonfinite, 1);
  ck_assert(isinf(d.rel_l2));
  pt_oracle_diff(bad, PT_ORACLE_F32, bad, PT_ORACLE_F32, 3, NULL, 1, &d);
  ck_assert_uint_eq(d.nonfinite, 0);
  ck_assert_double_eq(d.rel_l2, 0.0);
}
END_TEST

START_TEST(code_match_and_inter_diff) {
  pt_oracle_inter_t a, b, c;
  ck_assert_int_eq(pt_oracle_inter_init(&a, PT_DTYPE_A4W4, 4, 64, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_inter_init(&b, PT_DTYPE_A4W4, 4, 64, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_inter_init(&c, PT_DTYPE_A8W4, 4, 64, NULL), PT_OK);
  ck_assert_uint_eq(a.h_bytes, 128);
  ck_assert_uint_eq(a.hs_bytes, 8);
  ck_assert_uint_eq(c.h_bytes, 256);
  memset(a.h, 0x42, a.h_bytes);
  memset(b.h, 0x42, b.h_bytes);
  memset(a.hs, 127, a.hs_bytes);
  memset(b.hs, 127, b.hs_bytes);
  ck_assert_double_eq(pt_oracle_code_match(&a, &b, NULL, 4), 1.0);
  pt_mx_fp4_set(b.h, 64 + 5, 0x3);  /* row 1, one element */
  ck_assert_double_eq(pt_oracle_code_match(&a, &b, NULL, 4), 255.0 / 256.0);
  const int32_t row1[1] = {1}, row2[1] = {2};
  ck_assert_double_eq(pt_oracle_code_match(&a, &b, row1, 1), 63.0 / 64.0);
  ck_assert_double_eq(pt_oracle_code_match(&a, &b, row2, 1), 1.0);
  b.hs[2 * 2 + 1] = 128;  /* row 2, second block: 32 elements */
  ck_assert_double_eq(pt_oracle_code_match(&a, &b, row2, 1), 0.5);
  b.hs[2 * 2 + 1] = 127;
  memset(a.h, 0x00, 32);  /* +0 and -0 are the same value */
  memset(b.h, 0x88, 32);
  ck_assert_double_eq(pt_oracle_code_match(&a, &b, NULL, 1), 1.0);
  pt_oracle_diff_t d;
  ck_assert_int_eq(pt_oracle_inter_diff(&a, &b, row1, 1, &d, NULL), PT_OK);
  /* 0x42: even elements 1.0, odd 2.0; ref (b) row 1 has 1.5 at element 5 */
  ck_assert_double_eq(d.max_abs, 0.5);
  ck_assert_double_eq_tol(d.rel_l2, 0.5 / sqrt(32 * 1.0 + 31 * 4.0 + 2.25), 1e-15);
  ck_assert_double_eq(pt_oracle_code_match(&a, &c, NULL, 1), -1.0);
  pt_err_t err;
  ck_assert_int_eq(pt_oracle_inter_diff(&a, &c, NULL, 1, &d, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "a8w4") != NULL);
  pt_oracle_inter_free(&a);
  pt_oracle_inter_free(&b);
  pt_oracle_inter_free(&c);
}
END_TEST

START_TEST(bad_inputs) {
  pt_moe_problem_t p;
  pt_moe_sorted_t s;
  pt_oracle_inter_t h;
  pt_err_t err;
  init_problem(&p, 64, 64, 4, 2, PT_DTYPE_A4W4, PT_ACT_SILU, 5, 1);
  sort_problem(&p, 16, &s);
  float out[5 * 64];
  /* wrong dtype */
  ck_assert_int_eq(pt_oracle_inter_init(&h, PT_DTYPE_A8W4, s.padded, 64, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, NULL, 1, &h, NULL, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "a8w4") != NULL);
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s, &h, NULL, 1, out, &err), PT_EINVAL);
  pt_oracle_inter_free(&h);
  /* too few rows */
  ck_assert_int_eq(pt_oracle_inter_init(&h, PT_DTYPE_A4W4, s.padded - 1, 64, NULL), PT_OK);
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, NULL, 1, &h, NULL, &err), PT_EINVAL);
  pt_oracle_inter_free(&h);
  ck_assert_int_eq(pt_oracle_inter_init(&h, PT_DTYPE_A4W4, s.padded, 64, NULL), PT_OK);
  /* a block expert out of range */
  s.block_expert[0] = 4;
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, NULL, 1, &h, NULL, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "expert 4") != NULL);
  s.block_expert[0] = 0;
  /* a sampled row out of range */
  int32_t rows[1] = {s.padded};
  pt_oracle_sample_t smp = {1, rows, 0, NULL, 0, NULL};
  ck_assert_int_eq(pt_oracle_gemm1(&p, &s, &smp, 1, &h, NULL, &err), PT_EINVAL);
  int32_t toks[1] = {5};
  rows[0] = 0;
  smp = (pt_oracle_sample_t){1, rows, 1, toks, 0, NULL};
  ck_assert_int_eq(pt_oracle_gemm2_atomic(&p, &s, &h, &smp, 1, out, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "token 5") != NULL);
  ck_assert_int_eq(pt_oracle_reduce(out, 5, 0, 64, NULL, out, &err), PT_EINVAL);
  pt_oracle_inter_free(&h);
  ck_assert_int_eq(pt_oracle_inter_init(&h, PT_DTYPE_A4W4, 4, 48, &err), PT_EINVAL);
  ck_assert_ptr_null(h.h);
  pt_sort_free(&s);
  pt_problem_free(&p);
}
END_TEST

static Suite *oracle_suite(void) {
  Suite *s = suite_create("oracle");
  TCase *tc = tcase_create("primitives");
  tcase_add_test(tc, activations);
  tcase_add_test(tc, mul_mat_id_selects_experts);
  tcase_add_test(tc, diff_helper);
  tcase_add_test(tc, code_match_and_inter_diff);
  tcase_add_test(tc, bad_inputs);
  suite_add_tcase(s, tc);
  tc = tcase_create("pipeline");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, hand_computed, 0, PT_DTYPE_COUNT);
  tcase_add_loop_test(tc, gemm2_reads_intermediate_as_given, 0, PT_DTYPE_COUNT);
  tcase_add_loop_test(tc, several_experts, 0, LOOP_END);
  tcase_add_loop_test(tc, one_expert, 0, LOOP_END);
  tcase_add_loop_test(tc, every_token_on_one_expert, 0, LOOP_END);
  tcase_add_loop_test(tc, sequential_experts, 0, LOOP_END);
  tcase_add_loop_test(tc, empty_experts_and_m1, 0, LOOP_END);
  tcase_add_test(tc, swiglu_clamps_are_exercised);
  tcase_add_loop_test(tc, atomic_and_reduce_agree, 0, PT_DTYPE_COUNT);
  tcase_add_test(tc, independent_of_threads_and_sort_block);
  tcase_add_test(tc, ffn_block_from_logits);
  suite_add_tcase(s, tc);
  tc = tcase_create("samples");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, sample_rows);
  tcase_add_loop_test(tc, sampled_equals_full_on_its_rows, 0, PT_DTYPE_COUNT);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(oracle_suite());
}
