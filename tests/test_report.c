/* Tests of the HTML report (emit/report.h) and `pipetune report`: the page is
 * self-contained (no script, nothing fetched), escapes every stored string,
 * draws every series, shows the tuned table's speedup as computed from the
 * database, lists the failures, and is deterministic. Rendering it in a
 * browser is tests/test_report_render. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "emitdb.h"
#include "query.h"
#include "report.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static char *dir, *db_path;
static const char odd_family[] = "<script>alert('x')</script>&\"gpt\"";

static void setup_once(void) {
  dir = pt_test_tmpdir();
  db_path = pt_test_join(dir, "a.db");
  pt_emitdb_opts_t o = {.odd_family = odd_family};
  ck_assert_int_eq(pt_emitdb_build(db_path, &o), 0);
}

static void teardown_once(void) {
  pt_test_rmdir(dir);
  free(dir);
  free(db_path);
}

/* The infeasible results of series k (of every series when k is NULL). */
static size_t infeasible_in(const pt_query_set_t *s, const pt_query_series_t *k) {
  size_t n = 0;
  for (size_t i = 0; i < s->nfailures; i++)
    n += (k == NULL || s->failures[i].series == k) &&
         strcmp(s->failures[i].status, "infeasible") == 0;
  return n;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

/* Writes the report of db_path via the binary; returns the page. */
static char *report(const char *name, const char *extra) {
  char *out = pt_test_join(dir, name);
  pt_test_out_t r = extra ? RUN("report", "--db", db_path, "-o", out, extra)
                          : RUN("report", "--db", db_path, "-o", out);
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_ptr_nonnull(strstr(r.out, "wrote"));
  pt_test_out_free(&r);
  char *page = pt_test_slurp(out, NULL);
  free(out);
  return page;
}

START_TEST(page_is_self_contained_and_escaped) {
  char *page = report("r.html", NULL);
  ck_assert_uint_eq(strncmp(page, "<!DOCTYPE html>\n", 16), 0);
  ck_assert_ptr_nonnull(strstr(page, "</html>\n"));
  /* Nothing to run and nothing to fetch. */
  ck_assert_ptr_null(strstr(page, "<script"));
  ck_assert_ptr_null(strstr(page, "src="));
  ck_assert_ptr_null(strstr(page, "url("));
  ck_assert_ptr_null(strstr(page, "@import"));
  ck_assert_uint_eq(count(page, "http"), count(page, "xmlns=\"http://www.w3.org/2000/svg\""));
  ck_assert_uint_eq(count(page, "href=\""), count(page, "href=\"#"));
  /* The hostile family name only appears escaped. */
  ck_assert_ptr_nonnull(
      strstr(page, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;gpt&quot;"));
  ck_assert_ptr_null(strstr(page, odd_family));
  /* A reason with quotes, escaped. */
  ck_assert_ptr_nonnull(strstr(page, "&quot;too many resources requested&quot;"));
  free(page);
}
END_TEST

/* Expected "%.3fx" geometric-mean speedup of each series, from the set. */
START_TEST(every_series_is_drawn_with_its_speedup) {
  char *page = report("r2.html", NULL);
  pt_query_set_t *s;
  pt_err_t err;
  /* The page's default tie tolerance: the table keeps each point's pick. */
  pt_query_filter_t auto_tie = {.tie_tol = PT_QUERY_TIE_AUTO};
  ck_assert_int_eq(pt_query_load(db_path, &auto_tie, &s, &err), PT_OK);
  size_t ties = 0;
  ck_assert_uint_eq(count(page, "<svg"), 2 * s->nseries);
  ck_assert_uint_eq(count(page, "<section class=\"stage\""), s->nseries);
  const char *from = page;
  for (size_t i = 0; i < s->nseries; i++) {
    const pt_query_series_t *k = &s->series[i];
    const pt_query_point_t **pts = malloc(k->npoints * sizeof *pts);
    for (size_t p = 0; p < k->npoints; p++) pts[p] = &k->points[p];
    pt_query_fixed_t fx;
    ck_assert_int_eq(pt_query_fixed(pts, k->npoints, NULL, &fx), PT_OK);
    double sum = 0;
    int n = 0;
    for (size_t p = 0; p < k->npoints; p++)
      for (size_t v = 0; v < k->points[p].nok; v++)
        if (strcmp(k->points[p].vars[v].spec, fx.spec) == 0) {
          sum += log(k->points[p].vars[v].median_us /
                     k->points[p].vars[k->points[p].pick].median_us);
          n++;
        }
    char want[64];
    snprintf(want, sizeof want, "geometric-mean speedup %.3fx", exp(sum / n));
    /* Sections come in series order. */
    const char *at = strstr(from, want);
    ck_assert_msg(at != NULL, "series %zu (%s %s %s): no '%s'", i, k->family, k->dtype,
                  k->stage, want);
    from = at + 1;
    /* The winner at the smallest token count is in the page. */
    ck_assert_ptr_nonnull(strstr(page, k->points[0].vars[k->points[0].best].spec));
    ties += pt_query_ties(k);
    free(pts);
  }
  /* Every tie is marked on the winner bands, and there are some to mark. */
  ck_assert_uint_gt(ties, 0);
  ck_assert_uint_eq(count(page, "<path class=\"tie\""), ties);
  /* Infeasible results are not failures (infeasible_is_apart_from_failures). */
  char fails[64];
  snprintf(fails, sizeof fails, "Failures (%zu)", s->nfailures - infeasible_in(s, NULL));
  ck_assert_ptr_nonnull(strstr(page, fails));
  ck_assert_uint_eq(count(page, "<td class=\"st\">"), s->nfailures - infeasible_in(s, NULL));
  pt_query_free(s);
  free(page);
}
END_TEST

/* Issue 14 item 19: variants the device cannot hold were never run; the
 * page counts and lists them apart from the failures, in the summary, in
 * each series and at the end (one row per series and variant). */
START_TEST(infeasible_is_apart_from_failures) {
  char *page = report("inf.html", NULL);
  pt_query_set_t *s;
  pt_err_t err;
  ck_assert_int_eq(pt_query_load(db_path, NULL, &s, &err), PT_OK);
  size_t ninf = infeasible_in(s, NULL), nfailed = s->nfailures - ninf;
  ck_assert_uint_gt(ninf, 0);
  ck_assert_uint_gt(nfailed, 0);
  char want[128];
  snprintf(want, sizeof want, "<h2 id=\"failures\">Failures (%zu)</h2>", nfailed);
  ck_assert_msg(strstr(page, want), "no '%s'", want);
  snprintf(want, sizeof want, "<h2 id=\"infeasible\">Infeasible (not run): %zu</h2>", ninf);
  ck_assert_msg(strstr(page, want), "no '%s'", want);
  /* No infeasible row among the failures. */
  const char *fail_at = strstr(page, "<h2 id=\"failures\">");
  const char *inf_at = strstr(page, "<h2 id=\"infeasible\">");
  ck_assert_ptr_nonnull(fail_at);
  ck_assert(inf_at > fail_at);
  char *fail_part = strndup(fail_at, (size_t)(inf_at - fail_at));
  ck_assert_ptr_null(strstr(fail_part, ">infeasible<"));
  ck_assert_uint_eq(count(fail_part, "<td class=\"st\">"), nfailed);
  free(fail_part);
  /* Each series says both counts, in series order. */
  const char *from = page;
  for (size_t i = 0; i < s->nseries; i++) {
    const pt_query_series_t *k = &s->series[i];
    size_t inf = infeasible_in(s, k), all = 0;
    for (size_t f = 0; f < s->nfailures; f++) all += s->failures[f].series == k;
    snprintf(want, sizeof want, "%zu failed results, %zu infeasible (not run)</p>",
             all - inf, inf);
    const char *at = strstr(from, want);
    ck_assert_msg(at != NULL, "series %zu: no '%s'", i, want);
    from = at + 1;
  }
  /* One row per series and variant: the fixture's infeasible variant is
   * infeasible at every token count of its series. */
  ck_assert_uint_lt(count(inf_at, "<tr><td>"), ninf);
  ck_assert_ptr_nonnull(strstr(inf_at, "needs 240 KiB of shared memory per block"));
  ck_assert_ptr_nonnull(strstr(page, "<th>failed</th><th>infeasible</th>"));
  pt_query_free(s);
  free(page);
}
END_TEST

START_TEST(deterministic_unless_timestamped) {
  char *a = report("d1.html", NULL), *b = report("d2.html", NULL);
  ck_assert_str_eq(a, b);
  char *c = report("d3.html", "--timestamp");
  ck_assert_str_ne(a, c);
  ck_assert_ptr_nonnull(strstr(c, "generated by pipetune " PACKAGE_VERSION " at 2"));
  free(a);
  free(b);
  free(c);
}
END_TEST

START_TEST(selection_and_bad_input) {
  char *out = pt_test_join(dir, "sel.html");
  /* A selection the database holds nothing of is bad input (issue 14,
   * item 11); one it holds but with no result here is an empty page. */
  pt_test_out_t r = RUN("report", "--db", db_path, "-o", out, "--arch", "sm_80");
  pt_test_expect(r, 2, "error: no results for arch 'sm_80' in 'a.db' (it holds gfx942, sm_90)",
                 NULL);
  ck_assert_int_ne(access(out, F_OK), 0);
  pt_test_out_free(&r);
  r = RUN("report", "--db", db_path, "-o", out, "--family", "nope");
  pt_test_expect(r, 2, "no results for family 'nope' in 'a.db' (it holds ", NULL);
  ck_assert_ptr_nonnull(strstr(r.err, "dsv3-tp8, kimik2-tp8)"));
  pt_test_out_free(&r);
  r = RUN("report", "--db", db_path, "-o", out, "--regime", "warm");
  ck_assert_int_eq(r.status, 0);
  pt_test_out_free(&r);
  char *page = pt_test_slurp(out, NULL);
  ck_assert_ptr_nonnull(strstr(page, "No results match this selection"));
  free(page);
  r = RUN("report", "--db", db_path, "-o", out, "--stage", "gemm2", "--variants", "2");
  ck_assert_int_eq(r.status, 0);
  pt_test_out_free(&r);
  page = pt_test_slurp(out, NULL);
  ck_assert_ptr_null(strstr(page, "<h3>gemm1</h3>"));
  ck_assert_ptr_nonnull(strstr(page, "<h3>gemm2</h3>"));
  ck_assert_ptr_null(strstr(page, "<li><span class=\"sw\" style=\"background:#2ca02c\">"));
  free(page);
  char *missing = pt_test_join(dir, "missing.db");
  r = RUN("report", "--db", missing, "-o", out);
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "missing.db"));
  pt_test_out_free(&r);
  r = RUN("report", "--db", db_path, "-o", out, "--variants", "0");
  ck_assert_int_eq(r.status, 2);
  pt_test_out_free(&r);
  r = RUN("report", "--db", db_path);
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "missing -o"));
  pt_test_out_free(&r);
  free(missing);
  free(out);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("report");
  TCase *tc = tcase_create("report");
  tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, page_is_self_contained_and_escaped);
  tcase_add_test(tc, every_series_is_drawn_with_its_speedup);
  tcase_add_test(tc, infeasible_is_apart_from_failures);
  tcase_add_test(tc, deterministic_unless_timestamped);
  tcase_add_test(tc, selection_and_bad_input);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(suite());
}
