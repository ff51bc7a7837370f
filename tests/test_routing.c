/* Tests of seeded routings (routing.h): the spec rule, distinct top-k,
 * determinism per seed, Zipf skew, softmax weights, router top-k from
 * logits, and bad inputs. (The generator itself: test_base.) */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "routing.h"
#include "testutil.h"

START_TEST(parse_and_format) {
  pt_routing_t r;
  pt_err_t err;
  char buf[32];
  ck_assert_int_eq(pt_routing_parse("uniform", &r, &err), PT_OK);
  ck_assert_int_eq(r.kind, PT_ROUTING_UNIFORM);
  ck_assert_str_eq(pt_routing_format(&r, buf, sizeof buf), "uniform");
  ck_assert_int_eq(pt_routing_parse("zipf:1.25", &r, &err), PT_OK);
  ck_assert_int_eq(r.kind, PT_ROUTING_ZIPF);
  ck_assert_double_eq(r.zipf_s, 1.25);
  ck_assert_str_eq(pt_routing_format(&r, buf, sizeof buf), "zipf:1.25");
  ck_assert_int_eq(pt_routing_parse("zipf:1e-3", &r, &err), PT_OK);
  ck_assert_str_eq(pt_routing_kind_name(r.kind), "zipf");
  /* zipf:0 is the uniform distribution: it has one spelling, "uniform" */
  static const char *bad[] = {"zipf:0", "zipf:-0", "zipf", "zipf:", "zipf:-1", "zipf:abc",
                              "zipf:1.2x", "zipf:inf", "zipf:nan", "normal",
                              "Uniform", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pt_err_clear(&err);
    ck_assert_int_eq(pt_routing_parse(bad[i], &r, &err), PT_EINVAL);
    ck_assert_msg(strstr(err.msg, bad[i]) != NULL, "message '%s'", err.msg);
  }
}
END_TEST

/* Checks ids are distinct and in range and weights sum to 1 per token. */
static void check_topk(const int32_t *ids, const float *w, int M, int E, int K) {
  for (int t = 0; t < M; t++) {
    double sum = 0;
    for (int j = 0; j < K; j++) {
      int32_t e = ids[t * K + j];
      ck_assert(e >= 0 && e < E);
      for (int i = 0; i < j; i++) ck_assert_int_ne(ids[t * K + i], e);
      ck_assert(w[t * K + j] > 0.0f && w[t * K + j] <= 1.0f);
      sum += w[t * K + j];
    }
    ck_assert_msg(fabs(sum - 1.0) < 1e-6, "token %d weights sum to %.9g", t, sum);
  }
}

static void counts(const int32_t *ids, int n, int E, int *cnt) {
  memset(cnt, 0, (size_t)E * sizeof *cnt);
  for (int i = 0; i < n; i++) cnt[ids[i]]++;
}

START_TEST(uniform_topk) {
  enum { M = 20000, E = 16, K = 4 };
  static int32_t ids[M * K], ids2[M * K];
  static float w[M * K], w2[M * K];
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  pt_err_t err;
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 5, ids, w, &err), PT_OK);
  check_topk(ids, w, M, E, K);
  int cnt[E];
  counts(ids, M * K, E, cnt);
  for (int e = 0; e < E; e++)
    ck_assert_msg(abs(cnt[e] - M * K / E) < M * K / E / 20, "expert %d: %d", e, cnt[e]);
  /* same seed, same routing; another seed, another */
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 5, ids2, w2, &err), PT_OK);
  ck_assert_mem_eq(ids, ids2, sizeof ids);
  ck_assert_mem_eq(w, w2, sizeof w);
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 6, ids2, w2, &err), PT_OK);
  ck_assert(memcmp(ids, ids2, sizeof ids) != 0);
}
END_TEST

START_TEST(topk_equal_to_experts) {
  enum { M = 50, E = 6 };
  int32_t ids[M * E];
  float w[M * E];
  pt_routing_t r = {PT_ROUTING_ZIPF, 1.0};
  ck_assert_int_eq(pt_routing_topk(&r, M, E, E, 3, ids, w, NULL), PT_OK);
  check_topk(ids, w, M, E, E);
  r.kind = PT_ROUTING_UNIFORM;
  ck_assert_int_eq(pt_routing_topk(&r, M, E, E, 3, ids, w, NULL), PT_OK);
  check_topk(ids, w, M, E, E);
}
END_TEST

static int cmp_desc(const void *a, const void *b) {
  return *(const int *)b - *(const int *)a;
}

START_TEST(zipf_skews) {
  enum { M = 5000, E = 64, K = 4 };
  static int32_t ids[M * K];
  static float w[M * K];
  int cnt[E];
  pt_routing_t r = {PT_ROUTING_ZIPF, 1.5};
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 11, ids, w, NULL), PT_OK);
  check_topk(ids, w, M, E, K);
  counts(ids, M * K, E, cnt);
  qsort(cnt, E, sizeof cnt[0], cmp_desc);
  /* rank 1 holds ~41% of the first draw's mass: it is in nearly every token */
  ck_assert_msg(cnt[0] > M * 9 / 10, "top expert in %d of %d tokens", cnt[0], M);
  ck_assert_msg(cnt[0] + cnt[1] + cnt[2] + cnt[3] > M * K / 2, "top four %d",
                cnt[0] + cnt[1] + cnt[2] + cnt[3]);
  ck_assert_msg(cnt[E - 1] < M * K / E / 4, "least expert %d", cnt[E - 1]);
  /* which expert is hot depends on the seed (seeded rank permutation) */
  int hot[4], differ = 0;
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 20 + i, ids, w, NULL), PT_OK);
    counts(ids, M * K, E, cnt);
    hot[i] = 0;
    for (int e = 1; e < E; e++)
      if (cnt[e] > cnt[hot[i]]) hot[i] = e;
    differ += hot[i] != hot[0];
  }
  ck_assert_int_gt(differ, 0);
  /* a vanishing exponent is uniform; 0 itself is refused as in a spec */
  r.zipf_s = 1e-9;
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 11, ids, w, NULL), PT_OK);
  counts(ids, M * K, E, cnt);
  qsort(cnt, E, sizeof cnt[0], cmp_desc);
  ck_assert_msg(cnt[0] < cnt[E - 1] * 2, "s=0 spread %d..%d", cnt[E - 1], cnt[0]);
  r.zipf_s = 0;
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 11, ids, w, NULL), PT_EINVAL);
}
END_TEST

START_TEST(zipf_huge_exponent) {
  enum { M = 100, E = 32, K = 5 };
  int32_t ids[M * K];
  float w[M * K];
  pt_routing_t r = {PT_ROUTING_ZIPF, 400.0};  /* weights underflow past rank 6 */
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 1, ids, w, NULL), PT_OK);
  check_topk(ids, w, M, E, K);
  /* every token draws the same five most popular experts, in rank order */
  for (int t = 1; t < M; t++)
    for (int j = 0; j < K; j++) ck_assert_int_eq(ids[t * K + j], ids[j]);
}
END_TEST

START_TEST(bad_dimensions) {
  int32_t ids[8];
  float w[8];
  pt_err_t err;
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  ck_assert_int_eq(pt_routing_topk(&r, 1, 4, 5, 1, ids, w, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "topk 5") != NULL);
  ck_assert_int_eq(pt_routing_topk(&r, 1, 4, 0, 1, ids, w, &err), PT_EINVAL);
  ck_assert_int_eq(pt_routing_topk(&r, -1, 4, 2, 1, ids, w, &err), PT_EINVAL);
  ck_assert_int_eq(pt_routing_topk(&r, 1, 400, 129, 1, ids, w, &err), PT_EINVAL);
  r = (pt_routing_t){PT_ROUTING_ZIPF, -0.5};
  ck_assert_int_eq(pt_routing_topk(&r, 1, 4, 2, 1, ids, w, &err), PT_EINVAL);
  ck_assert_int_eq(pt_routing_topk(&r, 0, 4, 2, 1, ids, w, &err), PT_EINVAL);
  r.zipf_s = 1;
  ck_assert_int_eq(pt_routing_topk(&r, 0, 4, 2, 1, ids, w, &err), PT_OK);
}
END_TEST

START_TEST(router_topk_from_logits) {
  const float logits[2 * 4] = {1, 3, 2, 3, -1, -2, 5, 0};
  int32_t ids[6];
  float w[6];
  ck_assert_int_eq(pt_routing_topk_softmax(logits, 2, 4, 3, 1, ids, w, NULL), PT_OK);
  ck_assert_int_eq(ids[0], 1);  /* tie of 3s: lower id first */
  ck_assert_int_eq(ids[1], 3);
  ck_assert_int_eq(ids[2], 2);
  double z = 2 + exp(-1.0);
  ck_assert_float_eq_tol(w[0], 1 / z, 1e-7);
  ck_assert_float_eq_tol(w[1], 1 / z, 1e-7);
  ck_assert_float_eq_tol(w[2], exp(-1.0) / z, 1e-7);
  ck_assert_int_eq(ids[3], 2);
  ck_assert_int_eq(ids[4], 3);
  ck_assert_int_eq(ids[5], 0);
  /* without renormalizing: probabilities under the softmax over all four */
  ck_assert_int_eq(pt_routing_topk_softmax(logits, 2, 4, 3, 0, ids, w, NULL), PT_OK);
  z = exp(-2.0) + 1 + exp(-1.0) + 1;
  ck_assert_float_eq_tol(w[0], 1 / z, 1e-7);
  ck_assert_float_eq_tol(w[2], exp(-1.0) / z, 1e-7);
  z = exp(-6.0) + exp(-7.0) + 1 + exp(-5.0);
  ck_assert_float_eq_tol(w[3], 1 / z, 1e-7);
  ck_assert_float_eq_tol(w[5], exp(-6.0) / z, 1e-7);
  float bad[4] = {0, NAN, 1, 2};
  pt_err_t err;
  ck_assert_int_eq(pt_routing_topk_softmax(bad, 1, 4, 2, 1, ids, w, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "nan") != NULL);
}
END_TEST

/* ---- the spec rule on the command line ---- */

#define PIPETUNE(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

/* A cheap tune: one variant, compile-checked only (cached after the first). */
static pt_test_out_t tune_with(const char *db, const char *routing) {
  return PIPETUNE("tune", "--db", db, "--compile-only", "--family", "gptoss-120b", "--dtype",
                  "a16w4", "--stage", "gemm1", "--variants", "bm=16,bn=64,nt=0,k_wave=1",
                  "--tokens", "1", "--routing", routing);
}

/* One line "error: ..." quoting the spec. */
static void expect_refused(pt_test_out_t r, const char *spec) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "'%s'", spec);
  pt_test_expect(r, 2, quoted, NULL);
  ck_assert_msg(strncmp(r.err, "error: ", 7) == 0 && strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
                "not one error line: %s", r.err);
}

/* tune and query take and refuse the same specs: what tune records under a
 * spec, query selects under it. */
START_TEST(tune_and_query_agree) {
  static const char *good[] = {"uniform", "zipf:1.2", "zipf:1e-3", "zipf:400"};
  static const char *bad[] = {"zipf:0", "zipf:-0", "zipf:-1", "zipf:inf", "zipf:nan",
                              "zipf:", "zipf", "zipf:1.2x", "Uniform", "normal", ""};
  char *dir = pt_test_tmpdir();
  char *db = pt_test_join(dir, "r.db"), *fresh = pt_test_join(dir, "fresh.db");
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    pt_test_out_t r = tune_with(db, good[i]);
    pt_test_expect(r, 0, NULL, "compile-checked 1 variants");
    pt_test_out_free(&r);
    r = PIPETUNE("query", "best", "--db", db, "--routing", good[i]);
    pt_test_expect(r, 0, NULL, "winner");
    pt_test_out_free(&r);
  }
  size_t before_len, after_len;
  char *before = pt_test_slurp(db, &before_len);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pt_test_out_t r = tune_with(fresh, bad[i]);
    expect_refused(r, bad[i]);
    pt_test_out_free(&r);
    ck_assert_msg(access(fresh, F_OK) != 0, "tune --routing '%s' created the database", bad[i]);
    r = PIPETUNE("query", "best", "--db", db, "--routing", bad[i]);
    expect_refused(r, bad[i]);
    pt_test_out_free(&r);
  }
  char *after = pt_test_slurp(db, &after_len);
  ck_assert(before_len == after_len && memcmp(before, after, before_len) == 0);
  free(before);
  free(after);
  free(db);
  free(fresh);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

static Suite *routing_suite(void) {
  Suite *s = suite_create("routing");
  TCase *tc = tcase_create("spec");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, parse_and_format);
  suite_add_tcase(s, tc);
  tc = tcase_create("topk");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, uniform_topk);
  tcase_add_test(tc, topk_equal_to_experts);
  tcase_add_test(tc, zipf_skews);
  tcase_add_test(tc, zipf_huge_exponent);
  tcase_add_test(tc, bad_dimensions);
  tcase_add_test(tc, router_topk_from_logits);
  suite_add_tcase(s, tc);
  tc = tcase_create("cli");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, tune_and_query_agree);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(routing_suite());
}
