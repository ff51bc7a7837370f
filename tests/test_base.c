/* Tests of the lowest layer's helpers: the seeded generators (rng.h) against
 * published reference values and the values the project's plans and inputs
 * were built with, FNV-1a (hash.h) against its published test vectors, and
 * the typed-number rule (num.h) with the inputs it must refuse. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "hash.h"
#include "num.h"
#include "rng.h"

START_TEST(splitmix64_reference_values) {
  /* splitmix64 from state 0, as in Vigna's reference C code */
  static const uint64_t want[3] = {0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull,
                                   0x06c45d188009454full};
  uint64_t state = 0;
  for (int i = 0; i < 3; i++) ck_assert_uint_eq(pt_rng_splitmix64(&state), want[i]);
  ck_assert_uint_eq(state, 3 * 0x9E3779B97F4A7C15ull);
}
END_TEST

START_TEST(xoshiro_reference_sequence) {
  /* xoshiro256** from state {1, 2, 3, 4}, as in the reference C code */
  static const uint64_t want[6] = {
    0x2d00, 0x0, 0x5a007080, 0x10e0000000009d80, 0x10e0b61ce1009d80,
    0x870021ce143ad00,
  };
  pt_rng_t rng = {{1, 2, 3, 4}};
  for (int i = 0; i < 6; i++) ck_assert_uint_eq(pt_rng_next(&rng), want[i]);
}
END_TEST

START_TEST(rng_streams_are_deterministic_and_distinct) {
  pt_rng_t a, b, c, d;
  pt_rng_init(&a, 7, 0);
  pt_rng_init(&b, 7, 0);
  pt_rng_init(&c, 7, 1);
  pt_rng_init(&d, 8, 0);
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 64; i++) {
    uint64_t x = pt_rng_next(&a);
    ck_assert_uint_eq(x, pt_rng_next(&b));
    same_c += x == pt_rng_next(&c);
    same_d += x == pt_rng_next(&d);
  }
  ck_assert_int_eq(same_c, 0);
  ck_assert_int_eq(same_d, 0);
}
END_TEST

START_TEST(rng_ranges_and_moments) {
  pt_rng_t rng;
  pt_rng_init(&rng, 1, 2);
  enum { N = 200000, B = 7 };
  int hist[B] = {0};
  double sum = 0, sum2 = 0, umin = 1, umax = 0;
  for (int i = 0; i < N; i++) {
    uint32_t k = pt_rng_below(&rng, B);
    ck_assert_uint_lt(k, B);
    hist[k]++;
    double u = pt_rng_uniform(&rng);
    ck_assert(u >= 0.0 && u < 1.0);
    umin = fmin(umin, u);
    umax = fmax(umax, u);
    double z = pt_rng_normalish(&rng);
    ck_assert(fabs(z) <= 2.0 * sqrt(3.0));
    sum += z;
    sum2 += z * z;
  }
  for (int k = 0; k < B; k++)
    ck_assert_msg(abs(hist[k] - N / B) < N / B / 20, "bucket %d has %d", k, hist[k]);
  ck_assert(umin < 1e-3 && umax > 1 - 1e-3);
  ck_assert(fabs(sum / N) < 0.01);
  ck_assert(fabs(sum2 / N - 1.0) < 0.02);
  ck_assert_uint_eq(pt_rng_below(&rng, 1), 0);
}
END_TEST

/* The sequences plans, routings and problem inputs were generated with
 * before the generator moved here: a change would reshuffle every plan. */
START_TEST(rng_values_are_pinned) {
  static const uint64_t want[3] = {0xb14e00ef616cad78ull, 0xe09810ada900077aull,
                                   0xe2531db166dfa660ull};
  pt_rng_t rng;
  pt_rng_init(&rng, 7, 0);
  for (int i = 0; i < 3; i++) ck_assert_uint_eq(pt_rng_next(&rng), want[i]);
  pt_rng_init(&rng, 42, 3);
  ck_assert_uint_eq(pt_rng_below(&rng, 1000), 139);
  ck_assert_uint_eq(pt_rng_below(&rng, 7), 5);
  ck_assert_double_eq(pt_rng_uniform(&rng), 0.3291785585958078);
  ck_assert_double_eq(pt_rng_normalish(&rng), 0.34061692517010023);
}
END_TEST

START_TEST(fnv1a_reference_values) {
  /* the published 64-bit FNV-1a test vectors */
  ck_assert_uint_eq(pt_hash_fnv1a_str(""), 0xcbf29ce484222325ull);
  ck_assert_uint_eq(pt_hash_fnv1a_str("a"), 0xaf63dc4c8601ec8cull);
  ck_assert_uint_eq(pt_hash_fnv1a_str("foobar"), 0x85944171f73967e8ull);
  /* mixing the bytes one by one is the same hash */
  uint64_t h = PT_HASH_FNV1A_BASIS;
  for (const char *c = "foobar"; *c; c++) h = pt_hash_fnv1a_mix(h, (unsigned char)*c);
  ck_assert_uint_eq(h, 0x85944171f73967e8ull);
  /* a wide value is mixed in whole, not byte by byte */
  ck_assert_uint_eq(pt_hash_fnv1a_mix(0, 0x1234), 0x1234 * 0x100000001b3ull);
}
END_TEST

START_TEST(typed_integers) {
  long v = 0;
  const char *end = NULL;
  ck_assert_int_eq(pt_num_parse_long("032", NULL, 0, 100, &v), 0);
  ck_assert_int_eq(v, 32);
  ck_assert_int_eq(pt_num_parse_long("-7", NULL, -10, 10, &v), 0);
  ck_assert_int_eq(v, -7);
  ck_assert_int_eq(pt_num_parse_long("12,5", &end, 0, 100, &v), 0);
  ck_assert_int_eq(v, 12);
  ck_assert_str_eq(end, ",5");
  /* Whitespace of every kind, anywhere, a '+', a '-' where the range has no
   * negatives, other bases, exponents, out of range, empty. */
  const char *bad[] = {" 1", "\t1", "\n1", "\v1", "\f1", "\r1", "1 ", "1\t", "- 1", "+1",
                       "-0", "-1", "0x10", "1e3", "101", "", "-", "a", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = 42;
    ck_assert_msg(pt_num_parse_long(bad[i], NULL, 0, 100, &v) == -1, "'%s' passed", bad[i]);
    ck_assert_int_eq(v, 42);
  }
  /* With end, the number stops before any space: the caller sees it. */
  ck_assert_int_eq(pt_num_parse_long("1 ,2", &end, 0, 100, &v), 0);
  ck_assert_str_eq(end, " ,2");
  ck_assert_int_eq(pt_num_parse_long("\t-1", &end, -10, 10, &v), -1);
}
END_TEST

START_TEST(typed_numbers) {
  double d = 0;
  const char *end = NULL;
  ck_assert_int_eq(pt_num_parse_double("1.5", NULL, &d), 0);
  ck_assert(d == 1.5);
  ck_assert_int_eq(pt_num_parse_double(".5", NULL, &d), 0);
  ck_assert_int_eq(pt_num_parse_double("-2e-3", NULL, &d), 0);
  ck_assert(d == -2e-3);
  ck_assert_int_eq(pt_num_parse_double("8h", &end, &d), 0);
  ck_assert_str_eq(end, "h");
  const char *bad[] = {" 1", "\t1.5", "\n1", "1 ", "+1", "inf", "nan", "-inf", "0x1p3",
                       "1e999", ".", "-", "", "e3", "- 1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(pt_num_parse_double(bad[i], NULL, &d) == -1, "'%s' passed", bad[i]);
}
END_TEST

static Suite *base_suite(void) {
  Suite *s = suite_create("base");
  TCase *tc = tcase_create("rng");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, splitmix64_reference_values);
  tcase_add_test(tc, xoshiro_reference_sequence);
  tcase_add_test(tc, rng_streams_are_deterministic_and_distinct);
  tcase_add_test(tc, rng_ranges_and_moments);
  tcase_add_test(tc, rng_values_are_pinned);
  suite_add_tcase(s, tc);
  tc = tcase_create("hash");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, fnv1a_reference_values);
  suite_add_tcase(s, tc);
  tc = tcase_create("num");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, typed_integers);
  tcase_add_test(tc, typed_numbers);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(base_suite());
}
