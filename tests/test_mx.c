/* Tests of the MX codec (mx.h) with hand-computed vectors: every e2m1 code,
 * e4m3 limits and subnormals, NaN, ties to even, saturation, block scales,
 * FP4 packing, bf16, and round-trip properties on random data. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "mx.h"
#include "rng.h"

START_TEST(e2m1_every_code) {
  static const double want[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6,
                                  -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
  for (int c = 0; c < 16; c++) {
    double v = pt_mx_e2m1_decode((uint8_t)c);
    ck_assert_double_eq(v, want[c]);
    ck_assert_int_eq(!!signbit(v), c >= 8);
    ck_assert_uint_eq(pt_mx_e2m1_encode(v), c);
  }
}
END_TEST

START_TEST(e2m1_ties_to_even) {
  /* midpoints go to the code with an even mantissa bit */
  static const struct { double v; unsigned code; } cases[] = {
    {0.25, 0x0}, {0.75, 0x2}, {1.25, 0x2}, {1.75, 0x4}, {2.5, 0x4},
    {3.5, 0x6}, {5.0, 0x6}, {-0.75, 0xA}, {-5.0, 0xE},
    {0.2500001, 0x1}, {0.7499999, 0x1}, {5.0000001, 0x7}, {4.9999999, 0x6},
    {2.9, 0x5}, {0.1, 0x0}, {-0.1, 0x8},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    ck_assert_msg(pt_mx_e2m1_encode(cases[i].v) == cases[i].code,
                  "e2m1(%.9g) = %#x, want %#x", cases[i].v,
                  pt_mx_e2m1_encode(cases[i].v), cases[i].code);
}
END_TEST

START_TEST(e2m1_saturation_and_specials) {
  ck_assert_uint_eq(pt_mx_e2m1_encode(6.99), 0x7);
  ck_assert_uint_eq(pt_mx_e2m1_encode(7.0), 0x7);
  ck_assert_uint_eq(pt_mx_e2m1_encode(1e30), 0x7);
  ck_assert_uint_eq(pt_mx_e2m1_encode(INFINITY), 0x7);
  ck_assert_uint_eq(pt_mx_e2m1_encode(-INFINITY), 0xF);
  ck_assert_uint_eq(pt_mx_e2m1_encode(NAN), 0x0);
  ck_assert_uint_eq(pt_mx_e2m1_encode(-0.0), 0x8);
  ck_assert_uint_eq(pt_mx_e2m1_encode(0.0), 0x0);
}
END_TEST

START_TEST(e4m3_limits) {
  ck_assert_double_eq(pt_mx_e4m3_decode(0x7E), 448.0);
  ck_assert_double_eq(pt_mx_e4m3_decode(0xFE), -448.0);
  ck_assert_uint_eq(pt_mx_e4m3_encode(448.0), 0x7E);
  ck_assert_uint_eq(pt_mx_e4m3_encode(464.0), 0x7E); /* tie: 448 is even */
  ck_assert_uint_eq(pt_mx_e4m3_encode(465.0), 0x7E); /* saturates */
  ck_assert_uint_eq(pt_mx_e4m3_encode(1e6), 0x7E);
  ck_assert_uint_eq(pt_mx_e4m3_encode(-1e6), 0xFE);
  ck_assert_uint_eq(pt_mx_e4m3_encode(INFINITY), 0x7E);
  ck_assert_uint_eq(pt_mx_e4m3_encode(-INFINITY), 0xFE);
  ck_assert_double_eq(pt_mx_e4m3_decode(0x38), 1.0);
  ck_assert_uint_eq(pt_mx_e4m3_encode(1.0), 0x38);
  ck_assert_double_eq(pt_mx_e4m3_decode(0x77), 240.0); /* 1.875 * 2^7 */
  ck_assert_uint_eq(pt_mx_e4m3_encode(1.0625), 0x38);  /* tie to 1.0 */
  ck_assert_uint_eq(pt_mx_e4m3_encode(1.1875), 0x3A);  /* tie to 1.25 */
  ck_assert_uint_eq(pt_mx_e4m3_encode(1.0626), 0x39);
}
END_TEST

START_TEST(e4m3_subnormals) {
  ck_assert_double_eq(pt_mx_e4m3_decode(0x01), ldexp(1, -9));
  ck_assert_double_eq(pt_mx_e4m3_decode(0x07), ldexp(7, -9));
  ck_assert_double_eq(pt_mx_e4m3_decode(0x08), ldexp(1, -6)); /* min normal */
  ck_assert_double_eq(pt_mx_e4m3_decode(0x81), -ldexp(1, -9));
  ck_assert_uint_eq(pt_mx_e4m3_encode(ldexp(1, -9)), 0x01);
  ck_assert_uint_eq(pt_mx_e4m3_encode(ldexp(7, -9)), 0x07);
  ck_assert_uint_eq(pt_mx_e4m3_encode(ldexp(1, -10)), 0x00);   /* tie to 0 */
  ck_assert_uint_eq(pt_mx_e4m3_encode(ldexp(3, -10)), 0x02);   /* tie to 2 */
  ck_assert_uint_eq(pt_mx_e4m3_encode(ldexp(15, -10)), 0x08);  /* to normal */
  ck_assert_uint_eq(pt_mx_e4m3_encode(ldexp(1.01, -10)), 0x01);
  ck_assert_uint_eq(pt_mx_e4m3_encode(-ldexp(1, -11)), 0x80);
}
END_TEST

START_TEST(e4m3_nan_and_every_code) {
  ck_assert(isnan(pt_mx_e4m3_decode(0x7F)));
  ck_assert(isnan(pt_mx_e4m3_decode(0xFF)));
  ck_assert_uint_eq(pt_mx_e4m3_encode(NAN), PT_MX_E4M3_NAN);
  ck_assert_uint_eq(pt_mx_e4m3_encode(-NAN), 0xFF);
  int nans = 0;
  double prev = -1.0;
  for (int c = 0; c < 256; c++) {
    double v = pt_mx_e4m3_decode((uint8_t)c);
    if (isnan(v)) {
      nans++;
      continue;
    }
    ck_assert_uint_eq(pt_mx_e4m3_encode(v), c);
    if (c < 0x80) {  /* positive codes increase with their value */
      ck_assert(v > prev || c == 0);
      prev = v;
    }
  }
  ck_assert_int_eq(nans, 2);
}
END_TEST

START_TEST(e8m0_codes) {
  ck_assert_double_eq(pt_mx_e8m0_decode(127), 1.0);
  ck_assert_double_eq(pt_mx_e8m0_decode(0), ldexp(1, -127));
  ck_assert_double_eq(pt_mx_e8m0_decode(254), ldexp(1, 127));
  ck_assert_double_eq(pt_mx_e8m0_decode(130), 8.0);
  ck_assert(isnan(pt_mx_e8m0_decode(255)));
  ck_assert_uint_eq(pt_mx_e8m0_encode(0), 127);
  ck_assert_uint_eq(pt_mx_e8m0_encode(-127), 0);
  ck_assert_uint_eq(pt_mx_e8m0_encode(-300), 0);
  ck_assert_uint_eq(pt_mx_e8m0_encode(127), 254);
  ck_assert_uint_eq(pt_mx_e8m0_encode(128), 254);
}
END_TEST

static uint32_t f32_bits(float v) {
  uint32_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static float f32_of(uint32_t b) {
  float v;
  memcpy(&v, &b, sizeof v);
  return v;
}

START_TEST(bf16_rounding_and_nan) {
  ck_assert_uint_eq(pt_mx_bf16_from_f32(1.0f), 0x3F80);
  ck_assert_uint_eq(pt_mx_bf16_from_f32(-2.0f), 0xC000);
  ck_assert_uint_eq(pt_mx_bf16_from_f32(1.0f + 0x1p-8f), 0x3F80);      /* tie, even */
  ck_assert_uint_eq(pt_mx_bf16_from_f32(1.0f + 3 * 0x1p-8f), 0x3F82);  /* tie, even */
  ck_assert_uint_eq(pt_mx_bf16_from_f32(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  ck_assert_uint_eq(pt_mx_bf16_from_f32(FLT_MAX), 0x7F80);  /* rounds to Inf */
  ck_assert_uint_eq(pt_mx_bf16_from_f32(-INFINITY), 0xFF80);
  /* a NaN whose payload sits only in the dropped bits must stay NaN */
  uint16_t n = pt_mx_bf16_from_f32(f32_of(0x7F800001));
  ck_assert(isnan(pt_mx_bf16_to_f32(n)));
  n = pt_mx_bf16_from_f32(f32_of(0xFFC00000));
  ck_assert(isnan(pt_mx_bf16_to_f32(n)));
  ck_assert_uint_eq(n >> 15, 1);
  ck_assert_uint_eq(f32_bits(pt_mx_bf16_to_f32(0x3F81)), 0x3F810000);
}
END_TEST

START_TEST(bf16_every_value_round_trips) {
  for (uint32_t b = 0; b < 0x10000; b++) {
    float v = pt_mx_bf16_to_f32((uint16_t)b);
    if (isnan(v)) {
      ck_assert(isnan(pt_mx_bf16_to_f32(pt_mx_bf16_from_f32(v))));
      continue;
    }
    ck_assert_uint_eq(pt_mx_bf16_from_f32(v), b);
  }
}
END_TEST

START_TEST(block_scale_exponent) {
  float v[32] = {0};
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E2M1, v, 32), -127); /* zeros */
  v[5] = 6.0f;
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E2M1, v, 32), 0);
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E4M3, v, 32), -6);
  v[9] = -8.0f;  /* amax counts magnitudes */
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E2M1, v, 32), 1);
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E4M3, v, 32), -5);
  v[9] = 0x1p-140f;  /* clamped below */
  v[5] = 0x1p-141f;
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E2M1, v, 32), -127);
  v[9] = FLT_MAX;    /* floor(log2) = 127 */
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E2M1, v, 32), 125);
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E4M3, v, 32), 119);
  v[9] = INFINITY;
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E2M1, v, 32), 127);
  v[9] = NAN;
  ck_assert_int_eq(pt_mx_block_exponent(PT_MX_E2M1, v, 32) + 127, 255);
}
END_TEST

START_TEST(block_quantize_vectors) {
  float v[32] = {0};
  uint8_t c[32];
  /* amax 1: e = 0 - 2 = -2, elements times 4 */
  v[0] = 1.0f; v[1] = -0.375f; v[2] = 0.3f; v[3] = 0.0625f; v[4] = 0.9f;
  ck_assert_uint_eq(pt_mx_quantize_block(PT_MX_E2M1, v, 32, c), 125);
  ck_assert_uint_eq(c[0], 0x6);  /* 4 */
  ck_assert_uint_eq(c[1], 0xB);  /* -1.5 */
  ck_assert_uint_eq(c[2], 0x2);  /* 1.2 -> 1 */
  ck_assert_uint_eq(c[3], 0x0);  /* 0.25 ties to 0 */
  ck_assert_uint_eq(c[4], 0x6);  /* 3.6 -> 4 */
  ck_assert_uint_eq(c[31], 0x0);
  /* amax 7.5: e = 2 - 2 = 0, 7.5 saturates to 6 */
  v[0] = 7.5f;
  ck_assert_uint_eq(pt_mx_quantize_block(PT_MX_E2M1, v, 32, c), 127);
  ck_assert_uint_eq(c[0], 0x7);
  ck_assert_uint_eq(c[1], 0x9);  /* -0.375: 0.75 quanta of 0.5 -> -0.5 */
  ck_assert_uint_eq(c[2], 0x1);  /* 0.3 -> 0.5 */
  ck_assert_uint_eq(c[3], 0x0);
  ck_assert_uint_eq(c[4], 0x2);  /* 0.9 -> 1 */
}
END_TEST

START_TEST(block_quantize_e4m3_vectors) {
  float v[32] = {0};
  uint8_t c[32];
  v[0] = 1.0f; v[1] = -0.001f; v[2] = 0.5f;
  /* e = 0 - 8 = -8: elements times 256 */
  ck_assert_uint_eq(pt_mx_quantize_block(PT_MX_E4M3, v, 32, c), 119);
  ck_assert_uint_eq(c[0], 0x78);  /* 256 = 2^8: exponent field 15 */
  ck_assert_uint_eq(c[1], 0xA8);  /* -0.256 -> -2^-2: field 5, sign set */
  ck_assert_uint_eq(c[2], 0x70);  /* 128 = 2^7 */
  /* amax 500: e = 8 - 8 = 0 and 500 saturates to 448 */
  v[0] = 500.0f;
  ck_assert_uint_eq(pt_mx_quantize_block(PT_MX_E4M3, v, 32, c), 127);
  ck_assert_uint_eq(c[0], 0x7E);
  ck_assert_uint_eq(c[2], 0x30);  /* 0.5 */
}
END_TEST

START_TEST(block_quantize_zero_nan_inf) {
  float v[32] = {0};
  uint8_t c[32];
  memset(c, 0xAA, sizeof c);
  ck_assert_uint_eq(pt_mx_quantize_block(PT_MX_E2M1, v, 32, c), 0);
  for (int i = 0; i < 32; i++) ck_assert_uint_eq(c[i], 0);
  v[3] = 2.0f;
  v[7] = NAN;
  ck_assert_uint_eq(pt_mx_quantize_block(PT_MX_E4M3, v, 32, c), 255);
  for (int i = 0; i < 32; i++) ck_assert_uint_eq(c[i], 0);
  float out[32];
  uint8_t scale = 255;
  pt_mx_dequantize_row(PT_MX_E4M3, c, &scale, 32, out);
  for (int i = 0; i < 32; i++) ck_assert(isnan(out[i]));
  v[7] = -INFINITY;
  ck_assert_uint_eq(pt_mx_quantize_block(PT_MX_E2M1, v, 32, c), 254);
  ck_assert_uint_eq(c[7], 0xF);
  ck_assert_uint_eq(c[3], 0x0);  /* 2 / 2^127 rounds to 0 */
}
END_TEST

START_TEST(row_packing_layout) {
  float v[70];
  uint8_t codes[35], scales[3];
  for (int i = 0; i < 70; i++) v[i] = i % 2 ? 2.0f : 1.0f;
  v[64] = 0.0f;
  v[65] = -6.0f;  /* short last block: 6 elements, amax 6 */
  pt_mx_quantize_row(PT_MX_E2M1, v, 70, codes, scales);
  ck_assert_uint_eq(pt_mx_row_bytes(PT_MX_E2M1, 70), 35);
  ck_assert_uint_eq(pt_mx_row_scales(70), 3);
  /* amax 2: e = -1, 1 -> 2 (0x4) low nibble, 2 -> 4 (0x6) high nibble */
  for (int i = 0; i < 32; i++) ck_assert_uint_eq(codes[i], 0x64);
  ck_assert_uint_eq(scales[0], 126);
  ck_assert_uint_eq(scales[1], 126);
  ck_assert_uint_eq(scales[2], 127);
  ck_assert_uint_eq(codes[32], 0xF0);  /* 0 low, -6 high */
  ck_assert_uint_eq(codes[33], 0x42);  /* 1 -> 1 (0x2), 2 -> 2 (0x4) */
  ck_assert_uint_eq(pt_mx_fp4_get(codes, 65), 0xF);
  float back[70];
  pt_mx_dequantize_row(PT_MX_E2M1, codes, scales, 70, back);
  for (int i = 0; i < 70; i++) ck_assert_float_eq(back[i], v[i]);
  /* odd length: the last byte's high nibble stays 0 */
  const float odd[5] = {1, 2, 3, 4, 6};
  uint8_t oc[3], os[1];
  float ob[5];
  pt_mx_quantize_row(PT_MX_E2M1, odd, 5, oc, os);
  ck_assert_uint_eq(os[0], 127);
  ck_assert_uint_eq(oc[0], 0x42);
  ck_assert_uint_eq(oc[1], 0x65);
  ck_assert_uint_eq(oc[2], 0x07);
  pt_mx_dequantize_row(PT_MX_E2M1, oc, os, 5, ob);
  for (int i = 0; i < 5; i++) ck_assert_float_eq(ob[i], odd[i]);
  uint8_t b[2] = {0, 0};
  pt_mx_fp4_set(b, 3, 0x9);
  pt_mx_fp4_set(b, 0, 0x5);
  ck_assert_uint_eq(b[0], 0x05);
  ck_assert_uint_eq(b[1], 0x90);
}
END_TEST

/* Bound on |dequant - v| of an element x = v / 2^e in a format: half its
 * quantum, or exact saturation above the max. */
static void check_element(pt_mx_elem_t fmt, double x, double q) {
  int mbits = fmt == PT_MX_E2M1 ? 1 : 3, emin = fmt == PT_MX_E2M1 ? 0 : -6;
  double max = fmt == PT_MX_E2M1 ? PT_MX_E2M1_MAX : PT_MX_E4M3_MAX;
  if (fabs(x) >= max) {
    ck_assert_double_eq(fabs(q), max);
  } else {
    int ex = x == 0 ? emin : (int)floor(log2(fabs(x)));
    if (ex < emin) ex = emin;
    ck_assert_msg(fabs(q - x) <= ldexp(0.5, ex - mbits),
                  "x %.9g quantized to %.9g", x, q);
  }
  ck_assert(q == 0 || (q > 0) == (x > 0));
}

static void random_round_trip(pt_mx_elem_t fmt) {
  enum { K = 512 };
  pt_rng_t rng;
  pt_rng_init(&rng, 42, fmt);
  float v[K], back[K], again[K];
  uint8_t codes[K], scales[K / 32], codes2[K], scales2[K / 32];
  for (int trial = 0; trial < 200; trial++) {
    int shift = (int)pt_rng_below(&rng, 60) - 30;
    for (int i = 0; i < K; i++)
      v[i] = (float)ldexp(pt_rng_normalish(&rng), shift +
                          (int)pt_rng_below(&rng, 5));
    pt_mx_quantize_row(fmt, v, K, codes, scales);
    pt_mx_dequantize_row(fmt, codes, scales, K, back);
    for (int i = 0; i < K; i++) {
      int e = scales[i / 32] - 127;
      check_element(fmt, ldexp(v[i], -e), ldexp(back[i], -e));
    }
    /* quantizing the dequantized row gives the same codes and scales */
    pt_mx_quantize_row(fmt, back, K, codes2, scales2);
    ck_assert_mem_eq(scales, scales2, sizeof scales);
    pt_mx_dequantize_row(fmt, codes2, scales2, K, again);
    for (int i = 0; i < K; i++) ck_assert_float_eq(again[i], back[i]);
  }
}

START_TEST(e2m1_random_round_trip) { random_round_trip(PT_MX_E2M1); }
END_TEST

START_TEST(e4m3_random_round_trip) { random_round_trip(PT_MX_E4M3); }
END_TEST

static Suite *mx_suite(void) {
  Suite *s = suite_create("mx");
  TCase *tc = tcase_create("formats");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, e2m1_every_code);
  tcase_add_test(tc, e2m1_ties_to_even);
  tcase_add_test(tc, e2m1_saturation_and_specials);
  tcase_add_test(tc, e4m3_limits);
  tcase_add_test(tc, e4m3_subnormals);
  tcase_add_test(tc, e4m3_nan_and_every_code);
  tcase_add_test(tc, e8m0_codes);
  tcase_add_test(tc, bf16_rounding_and_nan);
  tcase_add_test(tc, bf16_every_value_round_trips);
  suite_add_tcase(s, tc);
  tc = tcase_create("blocks");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, block_scale_exponent);
  tcase_add_test(tc, block_quantize_vectors);
  tcase_add_test(tc, block_quantize_e4m3_vectors);
  tcase_add_test(tc, block_quantize_zero_nan_inf);
  tcase_add_test(tc, row_packing_layout);
  tcase_add_test(tc, e2m1_random_round_trip);
  tcase_add_test(tc, e4m3_random_round_trip);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(mx_suite());
}
