/* Tests of space/knobs.c: defaults, spec parse/format, the enumerated
 * spaces and the compile-time defines. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "knobs.h"

static const char *const gemm1_default =
    "bm=32,bn=128,k_wave=1,bhoist=0,spart=0,nt=0,persist=0,mma=sync";
static const char *const gemm2_default =
    "bm=32,bn=128,kstages=2,bhoist=0,spart=0,nt=0,epilog=atomic,persist=0,mma=sync";

static void format_ok(const pt_variant_t *v, char *buf) {
  int n = pt_knobs_format(v, buf, PT_KNOBS_SPEC_MAX);
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq((int)strlen(buf), n);
}

START_TEST(test_stage_and_epilog_names) {
  pt_stage_t s;
  ck_assert_int_eq(pt_stage_parse("gemm1", &s), 0);
  ck_assert_int_eq(s, PT_STAGE_GEMM1);
  ck_assert_int_eq(pt_stage_parse("gemm2", &s), 0);
  ck_assert_int_eq(s, PT_STAGE_GEMM2);
  ck_assert_int_eq(pt_stage_parse("gemm3", &s), -1);
  ck_assert_int_eq(pt_stage_parse("GEMM1", &s), -1);
  ck_assert_str_eq(pt_stage_name(PT_STAGE_GEMM2), "gemm2");
  pt_epilog_t e;
  ck_assert_int_eq(pt_epilog_parse("reduce", &e), 0);
  ck_assert_int_eq(e, PT_EPILOG_REDUCE);
  ck_assert_int_eq(pt_epilog_parse("atomics", &e), -1);
  ck_assert_str_eq(pt_epilog_name(PT_EPILOG_ATOMIC), "atomic");
}
END_TEST

START_TEST(test_defaults) {
  char buf[PT_KNOBS_SPEC_MAX];
  pt_variant_t v, p;
  pt_knobs_default(PT_STAGE_GEMM1, &v);
  format_ok(&v, buf);
  ck_assert_str_eq(buf, gemm1_default);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "", &p, NULL), PT_OK);
  ck_assert_mem_eq(&p, &v, sizeof v);

  pt_knobs_default(PT_STAGE_GEMM2, &v);
  format_ok(&v, buf);
  ck_assert_str_eq(buf, gemm2_default);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM2, "", &p, NULL), PT_OK);
  ck_assert_mem_eq(&p, &v, sizeof v);
}
END_TEST

START_TEST(test_partial_spec_takes_defaults) {
  pt_err_t err;
  pt_variant_t v;
  char buf[PT_KNOBS_SPEC_MAX];
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM2, "epilog=reduce,bm=64", &v, &err),
                   PT_OK);
  ck_assert_int_eq(v.bm, 64);
  ck_assert_int_eq(v.epilog, PT_EPILOG_REDUCE);
  ck_assert_int_eq(v.kstages, 2);
  ck_assert_int_eq(v.k_wave, 1);
  format_ok(&v, buf);
  ck_assert_str_eq(
      buf, "bm=64,bn=128,kstages=2,bhoist=0,spart=0,nt=0,epilog=reduce,persist=0,mma=sync");

  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM2, "g2_kstages=1", &v, &err), PT_OK);
  ck_assert_int_eq(v.kstages, 1);
  format_ok(&v, buf);
  ck_assert_ptr_nonnull(strstr(buf, ",kstages=1,"));
  ck_assert_ptr_null(strstr(buf, "g2_"));

  /* DESIGN §9's example spelling. */
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1,
                                  "bm=32,bn=128,k_wave=2,bhoist=1,spart=402,nt=1,persist=0",
                                  &v, &err),
                   PT_OK);
  ck_assert_int_eq(v.k_wave, 2);
  ck_assert_int_eq(v.spart, 402);
  ck_assert_int_eq(v.nt, 1);
  ck_assert_int_eq(v.bhoist, 1);
}
END_TEST

START_TEST(test_spart_beyond_space) {
  pt_variant_t v;
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "spart=808", &v, NULL), PT_OK);
  ck_assert_int_eq(v.spart, 808);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "spart=6464", &v, NULL), PT_OK);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "spart=101", &v, NULL), PT_OK);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "spart=100", &v, NULL), PT_EINVAL);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "spart=1", &v, NULL), PT_EINVAL);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "spart=12801", &v, NULL), PT_EINVAL);
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "spart=303", &v, NULL), PT_EINVAL);
}
END_TEST

/* Each bad spec with the message it must produce (after the
 * "invalid <stage> variant '<spec>': " prefix). */
static const struct {
  pt_stage_t stage;
  const char *spec;
  const char *msg;
} bad_specs[] = {
  {PT_STAGE_GEMM1, "bm=48", "knob 'bm' must be one of 16, 32, 64, 128 (got 48)"},
  {PT_STAGE_GEMM2, "bn=32", "knob 'bn' must be one of 64, 128, 256 (got 32)"},
  {PT_STAGE_GEMM1, "k_wave=3", "knob 'k_wave' must be one of 1, 2, 4 (got 3)"},
  {PT_STAGE_GEMM2, "kstages=3", "knob 'kstages' must be one of 1, 2 (got 3)"},
  {PT_STAGE_GEMM1, "spart=150",
   "knob 'spart' must be 0 or G*100+M01 with G and M01 powers of two from 1 "
   "to 64 (got 150)"},
  {PT_STAGE_GEMM1, "spart=-201",
   "knob 'spart' must be 0 or G*100+M01 with G and M01 powers of two from 1 "
   "to 64 (got -201)"},
  {PT_STAGE_GEMM1, "nt=2", "knob 'nt' must be one of 0, 1 (got 2)"},
  {PT_STAGE_GEMM1, "persist=-1", "knob 'persist' must be one of 0, 1 (got -1)"},
  {PT_STAGE_GEMM2, "bhoist=yes", "knob 'bhoist' must be one of 0, 1 (got 'yes')"},
  {PT_STAGE_GEMM2, "epilog=fast",
   "knob 'epilog' must be one of atomic, reduce (got 'fast')"},
  {PT_STAGE_GEMM2, "epilog=1",
   "knob 'epilog' must be one of atomic, reduce (got '1')"},
  {PT_STAGE_GEMM1, "bm=", "knob 'bm' must be one of 16, 32, 64, 128 (got '')"},
  {PT_STAGE_GEMM1, "bm=3x", "knob 'bm' must be one of 16, 32, 64, 128 (got '3x')"},
  {PT_STAGE_GEMM1, "bm=0x20",
   "knob 'bm' must be one of 16, 32, 64, 128 (got '0x20')"},
  {PT_STAGE_GEMM1, "bm=32 ", "knob 'bm' must be one of 16, 32, 64, 128 (got '32 ')"},
  {PT_STAGE_GEMM1, "bm=-", "knob 'bm' must be one of 16, 32, 64, 128 (got '-')"},
  {PT_STAGE_GEMM1, "bm=+32", "knob 'bm' must be one of 16, 32, 64, 128 (got '+32')"},
  {PT_STAGE_GEMM1, "bm=99999999999",
   "knob 'bm' must be one of 16, 32, 64, 128 (got '99999999999')"},
  {PT_STAGE_GEMM1, "bogus=1", "unknown knob 'bogus'"},
  {PT_STAGE_GEMM1, "BM=32", "unknown knob 'BM'"},
  {PT_STAGE_GEMM1, "=32", "unknown knob ''"},
  {PT_STAGE_GEMM1, "kstages=2", "knob 'kstages' is not a gemm1 knob"},
  {PT_STAGE_GEMM1, "g2_kstages=2", "knob 'kstages' is not a gemm1 knob"},
  {PT_STAGE_GEMM1, "epilog=atomic", "knob 'epilog' is not a gemm1 knob"},
  {PT_STAGE_GEMM2, "k_wave=2", "knob 'k_wave' is not a gemm2 knob"},
  {PT_STAGE_GEMM1, "bm=32,bm=64", "knob 'bm' given twice"},
  {PT_STAGE_GEMM2, "kstages=1,g2_kstages=2", "knob 'kstages' given twice"},
  {PT_STAGE_GEMM1, "bm", "expected key=value, got 'bm'"},
  {PT_STAGE_GEMM1, "bm=32,", "empty item"},
  {PT_STAGE_GEMM1, ",bm=32", "empty item"},
  {PT_STAGE_GEMM1, "bm=32,,bn=64", "empty item"},
  {PT_STAGE_GEMM1, "bm=32;bn=64",
   "knob 'bm' must be one of 16, 32, 64, 128 (got '32;bn=64')"},
};

START_TEST(test_bad_spec) {
  pt_stage_t stage = bad_specs[_i].stage;
  const char *spec = bad_specs[_i].spec;
  pt_variant_t v, before;
  memset(&v, 0x5a, sizeof v);
  before = v;
  pt_err_t err;
  ck_assert_int_eq(pt_knobs_parse(stage, spec, &v, &err), PT_EINVAL);
  ck_assert_int_eq(err.code, PT_EINVAL);
  char want[PT_ERRMSG_MAX];
  snprintf(want, sizeof want, "invalid %s variant '%s': %s", pt_stage_name(stage),
           spec, bad_specs[_i].msg);
  ck_assert_str_eq(err.msg, want);
  ck_assert_mem_eq(&v, &before, sizeof v);
}
END_TEST

START_TEST(test_long_item) {
  char spec[200];
  memset(spec, 'x', sizeof spec - 1);
  spec[sizeof spec - 1] = '\0';
  pt_variant_t v;
  pt_err_t err;
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, spec, &v, &err), PT_EINVAL);
  ck_assert_ptr_nonnull(strstr(err.msg, "is too long"));
}
END_TEST

START_TEST(test_space_counts) {
  /* bm 4 x bn 3 x k_wave 3 x bhoist 2 x spart 4 x nt 2 x persist 2 x mma 2 */
  ck_assert_uint_eq(pt_knobs_space_size(PT_STAGE_GEMM1), 4 * 3 * 3 * 2 * 4 * 2 * 2 * 2);
  /* bm 4 x bn 3 x kstages 2 x bhoist 2 x spart 4 x nt 2 x epilog 2 x persist 2
   * x mma 2 */
  ck_assert_uint_eq(pt_knobs_space_size(PT_STAGE_GEMM2),
                    4 * 3 * 2 * 2 * 4 * 2 * 2 * 2 * 2);
}
END_TEST

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every variant validates, formats, parses back to itself, and its spec and
 * its defines are unique within the space. */
static void check_space(pt_stage_t stage) {
  size_t n = pt_knobs_space_size(stage);
  char **specs = calloc(n, sizeof *specs);
  char **defs = calloc(n, sizeof *defs);
  ck_assert_ptr_nonnull(specs);
  ck_assert_ptr_nonnull(defs);
  int values_seen[4] = {0};
  for (size_t i = 0; i < n; i++) {
    pt_variant_t v, back;
    pt_err_t err;
    pt_knobs_space_at(stage, i, &v);
    ck_assert_int_eq(v.stage, stage);
    ck_assert_int_eq(pt_knobs_validate(&v, &err), PT_OK);
    char buf[PT_KNOBS_SPEC_MAX], again[PT_KNOBS_SPEC_MAX];
    format_ok(&v, buf);
    ck_assert_int_eq(pt_knobs_parse(stage, buf, &back, &err), PT_OK);
    ck_assert_mem_eq(&back, &v, sizeof v);
    format_ok(&back, again);
    ck_assert_str_eq(again, buf);
    specs[i] = strdup(buf);

    pt_knobs_defines_t d;
    pt_knobs_defines(&v, &d);
    char joined[PT_KNOBS_MAX * PT_KNOBS_DEFINE_MAX] = "";
    for (int k = 0; k < d.n; k++) {
      ck_assert_ptr_eq(d.ptr[k], d.text[k]);
      strcat(joined, d.text[k]);
      strcat(joined, " ");
    }
    defs[i] = strdup(joined);
    if (v.spart == 0) values_seen[0] = 1;
    if (v.spart == 201) values_seen[1] = 1;
    if (v.spart == 402) values_seen[2] = 1;
    if (v.spart == 804) values_seen[3] = 1;
  }
  ck_assert(values_seen[0] && values_seen[1] && values_seen[2] && values_seen[3]);
  qsort(specs, n, sizeof *specs, cmp_str);
  qsort(defs, n, sizeof *defs, cmp_str);
  for (size_t i = 1; i < n; i++) {
    ck_assert_str_ne(specs[i - 1], specs[i]);
    ck_assert_str_ne(defs[i - 1], defs[i]);
  }
  for (size_t i = 0; i < n; i++) {
    free(specs[i]);
    free(defs[i]);
  }
  free(specs);
  free(defs);
}

START_TEST(test_space_gemm1_round_trip) { check_space(PT_STAGE_GEMM1); }
END_TEST

START_TEST(test_space_gemm2_round_trip) { check_space(PT_STAGE_GEMM2); }
END_TEST

START_TEST(test_space_order) {
  pt_variant_t first, second, last;
  char buf[PT_KNOBS_SPEC_MAX];
  pt_knobs_space_at(PT_STAGE_GEMM1, 0, &first);
  format_ok(&first, buf);
  ck_assert_str_eq(buf, "bm=16,bn=64,k_wave=1,bhoist=0,spart=0,nt=0,persist=0,mma=sync");
  pt_knobs_space_at(PT_STAGE_GEMM1, 1, &second);
  format_ok(&second, buf);
  ck_assert_str_eq(buf, "bm=16,bn=64,k_wave=1,bhoist=0,spart=0,nt=0,persist=0,mma=wgmma");
  pt_knobs_space_at(PT_STAGE_GEMM2, pt_knobs_space_size(PT_STAGE_GEMM2) - 1, &last);
  format_ok(&last, buf);
  ck_assert_str_eq(
      buf, "bm=128,bn=256,kstages=2,bhoist=1,spart=804,nt=1,epilog=reduce,persist=1,"
           "mma=wgmma");
}
END_TEST

START_TEST(test_validate) {
  pt_variant_t v;
  pt_err_t err;
  char buf[PT_KNOBS_SPEC_MAX];
  pt_knobs_default(PT_STAGE_GEMM2, &v);
  v.k_wave = 2;
  ck_assert_int_eq(pt_knobs_validate(&v, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "knob 'k_wave' is not a gemm2 knob (got 2)");
  ck_assert_int_eq(pt_knobs_format(&v, buf, sizeof buf), PT_EINVAL);
  ck_assert_str_eq(buf, "");

  pt_knobs_default(PT_STAGE_GEMM1, &v);
  v.epilog = PT_EPILOG_REDUCE;
  ck_assert_int_eq(pt_knobs_validate(&v, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "knob 'epilog' is not a gemm1 knob (got reduce)");

  pt_knobs_default(PT_STAGE_GEMM1, &v);
  v.bm = 48;
  ck_assert_int_eq(pt_knobs_validate(&v, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "knob 'bm' must be one of 16, 32, 64, 128 (got 48)");

  pt_knobs_default(PT_STAGE_GEMM1, &v);
  v.stage = (pt_stage_t)7;
  ck_assert_int_eq(pt_knobs_validate(&v, &err), PT_EINVAL);
  ck_assert_int_eq(pt_knobs_parse((pt_stage_t)7, "", &v, &err), PT_EINVAL);
}
END_TEST

START_TEST(test_format_small_buffer) {
  pt_variant_t v;
  pt_knobs_default(PT_STAGE_GEMM1, &v);
  size_t need = strlen(gemm1_default);
  char buf[PT_KNOBS_SPEC_MAX];
  ck_assert_int_eq(pt_knobs_format(&v, buf, need), PT_EINVAL);
  ck_assert_str_eq(buf, "");
  ck_assert_int_eq(pt_knobs_format(&v, buf, need + 1), (int)need);
  ck_assert_str_eq(buf, gemm1_default);
  ck_assert_int_eq(pt_knobs_format(&v, buf, 0), PT_EINVAL);
}
END_TEST

START_TEST(test_defines) {
  pt_variant_t v;
  pt_knobs_defines_t d;
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1,
                                  "bm=64,bn=256,k_wave=2,bhoist=1,spart=402,nt=1,persist=1",
                                  &v, NULL),
                   PT_OK);
  pt_knobs_defines(&v, &d);
  /* Every knob, the other stage's at the value this stage compiles. */
  static const char *const want1[] = {"PT_BM=64", "PT_BN=256", "PT_KWAVE=2",
                                      "PT_KSTAGES=2", "PT_BHOIST=1",
                                      "PT_SPART=402", "PT_NT=1", "PT_EPILOG=0",
                                      "PT_PERSIST=1", "PT_MMA=0"};
  ck_assert_int_eq(d.n, 10);
  for (int i = 0; i < d.n; i++) ck_assert_str_eq(d.ptr[i], want1[i]);

  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM2, "bm=16,kstages=1,epilog=reduce",
                                  &v, NULL),
                   PT_OK);
  pt_knobs_defines(&v, &d);
  static const char *const want2[] = {"PT_BM=16", "PT_BN=128", "PT_KWAVE=1",
                                      "PT_KSTAGES=1", "PT_BHOIST=0",
                                      "PT_SPART=0", "PT_NT=0", "PT_EPILOG=1",
                                      "PT_PERSIST=0", "PT_MMA=0"};
  ck_assert_int_eq(d.n, 10);
  for (int i = 0; i < d.n; i++) ck_assert_str_eq(d.ptr[i], want2[i]);
}
END_TEST

START_TEST(test_values) {
  pt_variant_t v;
  pt_knob_value_t kv[PT_KNOBS_MAX];
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM2, "epilog=reduce,spart=804", &v, NULL),
                   PT_OK);
  int n = pt_knobs_values(&v, kv);
  static const char *const names[] = {"bm", "bn", "kstages", "bhoist",
                                      "spart", "nt", "epilog", "persist", "mma"};
  ck_assert_int_eq(n, 9);
  for (int i = 0; i < n; i++) ck_assert_str_eq(kv[i].name, names[i]);
  ck_assert_int_eq(kv[4].value, 804);
  ck_assert_ptr_null(kv[4].symbol);
  ck_assert_int_eq(kv[6].value, PT_EPILOG_REDUCE);
  ck_assert_str_eq(kv[6].symbol, "reduce");

  pt_knobs_default(PT_STAGE_GEMM1, &v);
  n = pt_knobs_values(&v, kv);
  ck_assert_int_eq(n, 8);
  ck_assert_str_eq(kv[7].symbol, "sync");
  ck_assert_str_eq(kv[2].name, "k_wave");
}
END_TEST

/* The row view other modules walk: lookups by name and alias, the value a
 * stage compiles, symbols, and the generated struct's field order. */
START_TEST(test_table_view) {
  const pt_knob_t *ks = pt_knobs_find("g2_kstages", strlen("g2_kstages"));
  ck_assert_ptr_nonnull(ks);
  ck_assert_ptr_eq(pt_knobs_find("kstages,", 7), ks);
  ck_assert_str_eq(ks->column, "g2_kstages");
  ck_assert_str_eq(ks->cfield, "kstages");
  ck_assert_ptr_null(pt_knobs_find("kstage", 6));
  ck_assert(!pt_knobs_in_stage(ks, PT_STAGE_GEMM1));
  ck_assert(pt_knobs_in_stage(ks, PT_STAGE_GEMM2));
  pt_variant_t v;
  pt_knobs_default(PT_STAGE_GEMM1, &v);
  ck_assert_int_eq(pt_knobs_get(&v, ks), 1);      /* neutral */
  ck_assert_int_eq(pt_knobs_compiled(&v, ks), 2); /* gemm1 compiles 2 */
  pt_knobs_set(&v, pt_knobs_find("bm", 2), 64);
  ck_assert_int_eq(v.bm, 64);
  const pt_knob_t *ep = pt_knobs_find("epilog", 6);
  ck_assert_str_eq(pt_knobs_symbol(ep, PT_EPILOG_REDUCE), "reduce");
  ck_assert_ptr_null(pt_knobs_symbol(ep, 2));
  ck_assert_ptr_null(pt_knobs_symbol(ks, 1));
  static const char *const g2[] = {"bm", "bn", "kstages", "bhoist", "spart",
                                   "nt", "persist", "epilog", "mma"};
  const pt_knob_t *f[PT_KNOBS_MAX];
  ck_assert_int_eq(pt_knobs_cfields(PT_STAGE_GEMM2, f), 9);
  for (int i = 0; i < 9; i++) ck_assert_str_eq(f[i]->cfield, g2[i]);
  ck_assert_int_eq(pt_knobs_cfields(PT_STAGE_GEMM1, f), 8);
  ck_assert_str_eq(f[2]->cfield, "k_wave");
  ck_assert_str_eq(f[6]->cfield, "persist");
}
END_TEST

/* "Simpler" for the tie rule: the default is 0; each knob off its default
 * costs 256, plus one per step along the knob's list of values. */
START_TEST(test_distance) {
  static const struct { int stage; const char *spec; int want; } cases[] = {
      {0, "", 0},
      {1, "", 0},
      {0, "bm=64", 257},
      {0, "bm=128", 258},
      {0, "bm=16,bn=64", 2 * 256 + 2},
      {1, "kstages=1", 257},
      {1, "epilog=reduce", 257},
      {1, "epilog=atomic,kstages=2", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pt_variant_t v;
    pt_err_t err;
    ck_assert_int_eq(pt_knobs_parse((pt_stage_t)cases[i].stage, cases[i].spec, &v, &err), PT_OK);
    ck_assert_msg(pt_knobs_distance(&v) == cases[i].want, "%s: %d, want %d", cases[i].spec,
                  pt_knobs_distance(&v), cases[i].want);
  }
}
END_TEST

static Suite *knobs_suite(void) {
  Suite *s = suite_create("knobs");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_stage_and_epilog_names);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_partial_spec_takes_defaults);
  tcase_add_test(tc, test_spart_beyond_space);
  tcase_add_loop_test(tc, test_bad_spec, 0,
                      (int)(sizeof bad_specs / sizeof bad_specs[0]));
  tcase_add_test(tc, test_long_item);
  tcase_add_test(tc, test_space_counts);
  tcase_add_test(tc, test_space_gemm1_round_trip);
  tcase_add_test(tc, test_space_gemm2_round_trip);
  tcase_add_test(tc, test_space_order);
  tcase_add_test(tc, test_validate);
  tcase_add_test(tc, test_format_small_buffer);
  tcase_add_test(tc, test_defines);
  tcase_add_test(tc, test_values);
  tcase_add_test(tc, test_table_view);
  tcase_add_test(tc, test_distance);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(knobs_suite());
}
