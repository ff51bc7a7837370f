/* Tests of the query module (db/query.h) and the query and diff commands:
 * loading agrees with the database's own views, the interval rule and the
 * fixed-variant rule against brute force, the crossovers, compare, failures
 * and diff tables, the three printers, and the commands' exit codes. */
#include <check.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "db.h"
#include "emitdb.h"
#include "query.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static char *dir, *db_path, *slow_path, *failed_path;

static void setup_once(void) {
  dir = pt_test_tmpdir();
  db_path = pt_test_join(dir, "a.db");
  slow_path = pt_test_join(dir, "slow.db");
  failed_path = pt_test_join(dir, "failed.db");
  ck_assert_int_eq(pt_emitdb_build(db_path, NULL), 0);
  /* 10% slower from 256 tokens on. */
  pt_emitdb_opts_t o = {.scale = 1.10, .scale_from = 256};
  ck_assert_int_eq(pt_emitdb_build(slow_path, &o), 0);
  o = (pt_emitdb_opts_t){.failed_only = 1};
  ck_assert_int_eq(pt_emitdb_build(failed_path, &o), 0);
}

static void teardown_once(void) {
  pt_test_rmdir(dir);
  free(dir);
  free(db_path);
  free(slow_path);
  free(failed_path);
}

static pt_query_set_t *load(const char *path, const pt_query_filter_t *f) {
  pt_query_set_t *s = NULL;
  pt_err_t err;
  int rc = pt_query_load(path, f, &s, &err);
  ck_assert_msg(rc == PT_OK, "load '%s': %s", path, err.msg);
  return s;
}

static const pt_query_series_t *find_series(const pt_query_set_t *s, const char *arch,
                                            const char *family, const char *dtype,
                                            const char *stage) {
  for (size_t i = 0; i < s->nseries; i++)
    if (strcmp(s->series[i].arch, arch) == 0 && strcmp(s->series[i].family, family) == 0 &&
        strcmp(s->series[i].dtype, dtype) == 0 && strcmp(s->series[i].stage, stage) == 0)
      return &s->series[i];
  return NULL;
}

static const pt_query_point_t *find_point(const pt_query_series_t *s, int tokens) {
  for (size_t i = 0; s && i < s->npoints; i++)
    if (s->points[i].tokens == tokens) return &s->points[i];
  return NULL;
}

/* ---- loading ---- */

typedef struct walk_s {
  const pt_query_set_t *set;
  size_t rows;
} walk_t;

static int check_best_row(void *ud, const pt_db_best_t *b) {
  walk_t *w = ud;
  if (strcmp(b->regime, "cold") != 0 || strcmp(b->routing, "uniform") != 0) return 0;
  const pt_query_point_t *p =
      find_point(find_series(w->set, b->arch, b->family, b->dtype, b->stage), b->tokens);
  ck_assert_msg(p && p->best >= 0, "no winner loaded for %s %s %s %s %d", b->arch, b->family,
                b->dtype, b->stage, b->tokens);
  ck_assert_str_eq(p->vars[p->best].spec, b->spec);
  ck_assert_double_eq(p->vars[p->best].median_us, b->median_us);
  w->rows++;
  return 0;
}

START_TEST(load_agrees_with_the_best_view) {
  pt_query_set_t *s = load(db_path, NULL);
  walk_t w = {s, 0};
  pt_db_t *db;
  pt_err_t err;
  ck_assert_int_eq(pt_db_open(db_path, PT_DB_READONLY, &db, &err), PT_OK);
  ck_assert_int_eq(pt_db_best(db, NULL, check_best_row, &w), PT_OK);
  char digest[PT_DB_HASH_HEX];
  ck_assert_int_eq(pt_db_digest(db, digest), PT_OK);
  pt_db_close(db);
  ck_assert_str_eq(s->digest, digest);
  size_t winners = 0;
  for (size_t i = 0; i < s->nseries; i++)
    for (size_t j = 0; j < s->series[i].npoints; j++) {
      const pt_query_point_t *p = &s->series[i].points[j];
      winners += p->best >= 0;
      /* ok variants first by median, then failures. */
      for (size_t v = 1; v < p->nok; v++)
        ck_assert(p->vars[v - 1].median_us <= p->vars[v].median_us);
      for (size_t v = p->nok; v < p->nvars; v++) ck_assert_str_ne(p->vars[v].status, "ok");
      if (p->best >= 0) ck_assert_int_eq(p->best, 0);
    }
  ck_assert_uint_eq(winners, w.rows);
  ck_assert_uint_eq(s->nseries, 9);
  ck_assert_uint_eq(s->ndevices, 2);
  ck_assert_str_eq(s->devices[0], "AMD Instinct MI300X (gfx942)");
  ck_assert_str_eq(s->source, "a.db");
  ck_assert_ptr_nonnull(s->first);
  ck_assert(strcmp(s->first, s->last) <= 0);
  pt_query_free(s);
}
END_TEST

START_TEST(verification_failure_disqualifies) {
  pt_query_set_t *s = load(db_path, NULL);
  /* emitdb: on dsv3-tp8 gemm1 at 16 tokens the first variant has a 1 us ok
   * result on one H100 and failed verification on the other. */
  const pt_query_point_t *p =
      find_point(find_series(s, "sm_90", "dsv3-tp8", "a4w4", "gemm1"), 16);
  ck_assert_ptr_nonnull(p);
  const char *bad = "bm=16,bn=64,k_wave=2,bhoist=0,spart=0,nt=1,persist=0,mma=sync";
  ck_assert_str_ne(p->vars[p->best].spec, bad);
  ck_assert(p->vars[p->best].median_us > 1.0);
  int seen = 0;
  for (size_t v = 0; v < p->nvars; v++)
    if (strcmp(p->vars[v].spec, bad) == 0) {
      ck_assert_str_eq(p->vars[v].status, "verify_fail");
      ck_assert_ptr_nonnull(strstr(p->vars[v].reason, "max abs error"));
      seen = 1;
    }
  ck_assert(seen);
  /* At 4 tokens gemm2's first variant is faster on the second H100: the
   * faster result is kept. */
  p = find_point(find_series(s, "sm_90", "dsv3-tp8", "a4w4", "gemm2"), 4);
  sqlite3 *conn;
  sqlite3_stmt *q;
  ck_assert_int_eq(sqlite3_open_v2(db_path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(conn,
                                      "SELECT min(median_us), max(median_us), count(*) FROM "
                                      "results WHERE family = 'dsv3-tp8' AND stage = 'gemm2' "
                                      "AND tokens = 4 AND spec = ?1 AND status = 'ok'",
                                      -1, &q, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(q, 1, p->vars[p->best].spec, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(q, 2), 2);
  ck_assert_double_eq(p->vars[p->best].median_us, sqlite3_column_double(q, 0));
  ck_assert(sqlite3_column_double(q, 1) > sqlite3_column_double(q, 0));
  sqlite3_finalize(q);
  sqlite3_close(conn);
  pt_query_free(s);
}
END_TEST

START_TEST(filters_and_bad_input) {
  pt_query_filter_t f = {.arch = "gfx942"};
  pt_query_set_t *s = load(db_path, &f);
  ck_assert_uint_eq(s->nseries, 2);
  for (size_t i = 0; i < s->nseries; i++) ck_assert_str_eq(s->series[i].arch, "gfx942");
  pt_query_free(s);
  f = (pt_query_filter_t){.dtype = "a8w4", .stage = "gemm2"};
  s = load(db_path, &f);
  ck_assert_uint_eq(s->nseries, 1);
  ck_assert_str_eq(s->series[0].family, "gptoss-120b");
  pt_query_free(s);
  f = (pt_query_filter_t){.regime = "warm"};
  s = load(db_path, &f);
  ck_assert_uint_eq(s->nseries, 0);
  ck_assert_uint_eq(s->nrows, 0);
  pt_query_free(s);

  pt_err_t err;
  const pt_query_filter_t bad[] = {{.regime = "tepid"}, {.routing = "skewed"},
                                   {.stage = "gemm3"}, {.dtype = "a4w8"}};
  const char *msgs[] = {"unknown regime 'tepid'", "unknown routing 'skewed'",
                        "unknown stage 'gemm3'", "unknown dtype 'a4w8'"};
  for (int i = 0; i < 4; i++) {
    s = (pt_query_set_t *)1;
    ck_assert_int_eq(pt_query_load(db_path, &bad[i], &s, &err), PT_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.msg, msgs[i]), "%s", err.msg);
  }
  char *missing = pt_test_join(dir, "missing.db");
  ck_assert_int_eq(pt_query_load(missing, NULL, &s, &err), PT_ENOENT);
  free(missing);
  char *text = pt_test_write(dir, "notadb.db", "this is not a database\n");
  ck_assert_int_eq(pt_query_load(text, NULL, &s, &err), PT_EINVAL);
  free(text);

  pt_query_filter_t r = {0};
  ck_assert_int_eq(pt_query_parse_routing("zipf:1.2", &r, &err), PT_OK);
  ck_assert_str_eq(r.routing, "zipf");
  ck_assert_double_eq(r.routing_param, 1.2);
  const char *bad_routing[] = {"zipf", "zipf:", "zipf:0", "zipf:-1", "zipf:1x", "zipf:inf", ""};
  for (int i = 0; i < 7; i++)
    ck_assert_int_eq(pt_query_parse_routing(bad_routing[i], &r, &err), PT_EINVAL);
}
END_TEST

/* ---- the interval and fixed-variant rules ---- */

/* Brute force: the grid index nearest to m in log scale, the smaller on a tie. */
static size_t nearest_log(const int *t, size_t n, int m) {
  size_t best = 0;
  for (size_t i = 1; i < n; i++) {
    long double db = fabsl(logl(m) - logl(t[best])), di = fabsl(logl(m) - logl(t[i]));
    if (di < db && fabsl(di - db) > 1e-15L) best = i;
  }
  return best;
}

START_TEST(interval_rule_against_brute_force) {
  const int grids[][8] = {{1, 2, 4, 8, 16, 32, 64, 128}, {1, 3, 7, 20, 21, 50, 99, 100},
                          {2, 8, 18, 32, 33, 34, 200, 1000}};
  for (int g = 0; g < 3; g++) {
    const int *t = grids[g];
    for (int m = 1; m <= 1200; m++) {
      size_t want = nearest_log(t, 8, m);
      int lo, hi;
      pt_query_interval(t, 8, want, &lo, &hi);
      ck_assert_msg(lo <= m && m <= hi, "grid %d m %d: interval %d..%d of point %d", g, m, lo,
                    hi, t[want]);
    }
    int prev_hi = 0;
    for (size_t i = 0; i < 8; i++) {
      int lo, hi;
      pt_query_interval(t, 8, i, &lo, &hi);
      ck_assert_int_eq(lo, prev_hi + 1);
      ck_assert(lo <= t[i] && t[i] <= hi);
      prev_hi = hi;
    }
    ck_assert_int_eq(prev_hi, INT_MAX);
  }
  ck_assert_int_eq(pt_query_geo_mid(2, 8), 4);  /* a tie goes to the smaller */
  ck_assert_int_eq(pt_query_geo_mid(1, 2), 1);
  ck_assert_int_eq(pt_query_geo_mid(46340, 46341), 46340);
  ck_assert_int_eq(pt_query_geo_mid(INT_MAX - 1, INT_MAX), INT_MAX - 1);
  ck_assert_int_eq(pt_query_geo_mid(1 << 30, 1 << 30), 1 << 30);
  int one = 5, lo, hi;
  pt_query_interval(&one, 1, 0, &lo, &hi);
  ck_assert_int_eq(lo, 1);
  ck_assert_int_eq(hi, INT_MAX);
}
END_TEST

static pt_query_point_t mkpoint(pt_query_var_t *vars, size_t nok) {
  pt_query_point_t p = {.tokens = 1, .best = 0, .vars = vars, .nvars = nok, .nok = nok};
  return p;
}

START_TEST(fixed_variant_rule) {
  /* Three points; a wins two of them, b is close everywhere, c is only
   * measured at two points but never slower than 1.01x there. */
  pt_query_var_t p0[] = {{.spec = "a", .median_us = 10}, {.spec = "c", .median_us = 10.1},
                         {.spec = "b", .median_us = 11}};
  pt_query_var_t p1[] = {{.spec = "a", .median_us = 20}, {.spec = "b", .median_us = 21}};
  pt_query_var_t p2[] = {{.spec = "b", .median_us = 30}, {.spec = "c", .median_us = 30.3},
                         {.spec = "a", .median_us = 60}};
  pt_query_point_t pts[] = {mkpoint(p0, 3), mkpoint(p1, 2), mkpoint(p2, 3)};
  const pt_query_point_t *pp[] = {&pts[0], &pts[1], &pts[2]};
  pt_query_fixed_t fx;
  ck_assert_int_eq(pt_query_fixed(pp, 3, NULL, &fx), PT_OK);
  /* a: 1, 1, 2 -> geomean 2^(1/3); b: 1.1, 1.05, 1 -> lower; c covers 2. */
  ck_assert_str_eq(fx.spec, "b");
  ck_assert_uint_eq(fx.covered, 3);
  ck_assert_uint_eq(fx.points, 3);
  ck_assert_double_eq_tol(fx.geomean, cbrt(1.1 * 1.05), 1e-12);
  ck_assert_int_eq(pt_query_fixed(pp, 3, "b", &fx), PT_OK);
  ck_assert_str_eq(fx.spec, "a");
  /* Coverage first: over points 0 and 2 only, c (1.01x) beats b. */
  const pt_query_point_t *two[] = {&pts[0], &pts[2]};
  ck_assert_int_eq(pt_query_fixed(two, 2, NULL, &fx), PT_OK);
  ck_assert_str_eq(fx.spec, "c");
  /* A full tie goes to the smaller spec. */
  pt_query_var_t t0[] = {{.spec = "y", .median_us = 5}, {.spec = "x", .median_us = 5}};
  pt_query_point_t tp = mkpoint(t0, 2);
  const pt_query_point_t *tpp[] = {&tp};
  ck_assert_int_eq(pt_query_fixed(tpp, 1, NULL, &fx), PT_OK);
  ck_assert_str_eq(fx.spec, "x");
  /* Points without a winner count for nothing; nothing at all is ENOENT. */
  pt_query_point_t none = {.tokens = 1, .best = -1};
  const pt_query_point_t *npp[] = {&none};
  ck_assert_int_eq(pt_query_fixed(npp, 1, NULL, &fx), PT_ENOENT);
  ck_assert_int_eq(pt_query_fixed(tpp, 1, "x", &fx), PT_OK);
  ck_assert_str_eq(fx.spec, "y");
  ck_assert_int_eq(pt_query_fixed(npp, 0, NULL, &fx), PT_ENOENT);
}
END_TEST

/* ---- the tables ---- */

static char *cell(const pt_query_table_t *t, size_t r, int c) {
  static char buf[8][256];
  static int k;
  k = (k + 1) % 8;
  return (char *)pt_query_table_cell(t, r, c, buf[k], sizeof buf[k]);
}

START_TEST(crossovers_partition_each_series) {
  pt_query_set_t *s = load(db_path, NULL);
  pt_query_table_t *t;
  pt_err_t err;
  ck_assert_int_eq(pt_query_crossovers(s, &t, &err), PT_OK);
  size_t rows = pt_query_table_rows(t), r = 0;
  for (size_t i = 0; i < s->nseries; i++) {
    const pt_query_series_t *k = &s->series[i];
    size_t covered = 0;
    long prev_hi = 0;
    const char *prev_winner = NULL;
    while (r < rows && strcmp(cell(t, r, 0), k->arch) == 0 &&
           strcmp(cell(t, r, 1), k->family) == 0 && strcmp(cell(t, r, 2), k->dtype) == 0 &&
           strcmp(cell(t, r, 3), k->stage) == 0) {
      int first = atoi(cell(t, r, 4)), last = atoi(cell(t, r, 5));
      ck_assert_int_eq(atol(cell(t, r, 7)), prev_hi + 1);
      const char *hi = cell(t, r, 8);
      prev_hi = hi[0] ? atol(hi) : INT_MAX;
      const char *winner = cell(t, r, 9);
      for (int tok = first; tok <= last; tok *= 2) {
        const pt_query_point_t *p = find_point(k, tok);
        if (p) ck_assert_str_eq(p->vars[p->best].spec, winner);
      }
      if (prev_winner) ck_assert_str_ne(prev_winner, winner);
      ck_assert_str_ne(cell(t, r, 10), winner);
      ck_assert(atof(cell(t, r, 11)) >= 0);
      covered += (size_t)atoi(cell(t, r, 6));
      static char keep[256];
      snprintf(keep, sizeof keep, "%s", winner);
      prev_winner = keep;
      r++;
    }
    ck_assert_uint_eq(covered, k->npoints);
    ck_assert_int_eq(prev_hi, INT_MAX);
  }
  ck_assert_uint_eq(r, rows);
  pt_query_table_free(t);
  pt_query_free(s);
}
END_TEST

START_TEST(compare_two_variants) {
  pt_query_filter_t f = {.family = "dsv3-tp8"};
  pt_query_set_t *s = load(db_path, &f);
  pt_query_table_t *t;
  pt_err_t err;
  /* Short spellings are compared in canonical form. */
  ck_assert_int_eq(pt_query_compare(s, "bm=16,bn=128", "bm=128,bn=256,k_wave=4", &t, &err),
                   PT_OK);
  ck_assert_uint_eq(pt_query_table_rows(t), 13);
  for (size_t r = 0; r < 13; r++) {
    ck_assert_str_eq(cell(t, r, 3), "gemm1");
    ck_assert_str_eq(cell(t, r, 8), "ok");
    ck_assert_str_eq(cell(t, r, 9), "infeasible");
    ck_assert_str_eq(cell(t, r, 6), "");
  }
  pt_query_table_free(t);
  /* A gemm2 pair: ratio b/a. */
  ck_assert_int_eq(pt_query_compare(s, "bm=16,bn=64,kstages=2",
                                    "bm=128,bn=256,kstages=1,epilog=atomic", &t, &err),
                   PT_OK);
  ck_assert_uint_eq(pt_query_table_rows(t), 13);
  for (size_t r = 0; r < 13; r++) {
    ck_assert_str_eq(cell(t, r, 3), "gemm2");
    double a = atof(cell(t, r, 5)), b = atof(cell(t, r, 6)), ratio = atof(cell(t, r, 7));
    ck_assert_double_eq_tol(ratio, b / a, 2e-3 * ratio);
    ck_assert(atof(cell(t, r, 10)) <= fmin(a, b) + 1e-3);
  }
  pt_query_table_free(t);
  ck_assert_int_eq(pt_query_compare(s, "bm=17", "bm=16", &t, &err), PT_EINVAL);
  ck_assert_ptr_nonnull(strstr(err.msg, "bm=17"));
  ck_assert_int_eq(pt_query_compare(s, "k_wave=2", "kstages=2", &t, &err), PT_EINVAL);
  pt_query_free(s);
}
END_TEST

static long long sql_count(const char *path, const char *sql) {
  sqlite3 *conn;
  sqlite3_stmt *q;
  ck_assert_int_eq(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(conn, sql, -1, &q, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
  long long n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(conn);
  return n;
}

START_TEST(failures_list_every_failed_result) {
  pt_query_set_t *s = load(db_path, NULL);
  pt_query_table_t *t;
  pt_err_t err;
  ck_assert_int_eq(pt_query_failures(s, &t, &err), PT_OK);
  ck_assert_uint_eq(pt_query_table_rows(t),
                    (size_t)sql_count(db_path, "SELECT count(*) FROM results WHERE status <> 'ok'"));
  int infeasible = 0, verify = 0, compile = 0;
  for (size_t r = 0; r < pt_query_table_rows(t); r++) {
    infeasible += strcmp(cell(t, r, 6), "infeasible") == 0;
    verify += strcmp(cell(t, r, 6), "verify_fail") == 0;
    compile += strcmp(cell(t, r, 6), "compile_fail") == 0;
    ck_assert_str_ne(cell(t, r, 7), "");
  }
  ck_assert_int_eq(verify, 1);
  ck_assert_int_eq(infeasible, 13 + 13 + 3 * 7);
  ck_assert_int_eq(compile, 4);
  pt_query_table_free(t);
  pt_query_free(s);
}
END_TEST

START_TEST(diff_finds_regressions) {
  pt_query_set_t *a = load(db_path, NULL), *b = load(slow_path, NULL);
  pt_query_set_t *c = load(failed_path, NULL);
  pt_query_table_t *t;
  pt_err_t err;
  pt_query_diff_stats_t st;
  ck_assert_int_eq(pt_query_diff(a, a, 5, &t, &st, &err), PT_OK);
  ck_assert_uint_eq(st.regressions, 0);
  for (size_t r = 0; r < pt_query_table_rows(t); r++) ck_assert_str_eq(cell(t, r, 10), "same");
  pt_query_table_free(t);
  /* 10% slower from 256 tokens: every such point regresses at 5%, none at 15%. */
  ck_assert_int_eq(pt_query_diff(a, b, 5, &t, &st, &err), PT_OK);
  size_t want = 0;
  for (size_t r = 0; r < pt_query_table_rows(t); r++) {
    int big = atoi(cell(t, r, 4)) >= 256;
    want += big;
    ck_assert_str_eq(cell(t, r, 10), big ? "regression" : "same");
    if (big) ck_assert_double_eq_tol(atof(cell(t, r, 9)), 10.0, 0.051);
  }
  ck_assert_uint_eq(st.regressions, want);
  ck_assert_uint_gt(st.regressions, 20);
  pt_query_table_free(t);
  ck_assert_int_eq(pt_query_diff(a, b, 15, &t, &st, &err), PT_OK);
  ck_assert_uint_eq(st.regressions, 0);
  pt_query_table_free(t);
  /* The other way round they are improvements. */
  ck_assert_int_eq(pt_query_diff(b, a, 5, &t, &st, &err), PT_OK);
  ck_assert_uint_eq(st.regressions, 0);
  ck_assert_str_eq(cell(t, pt_query_table_rows(t) - 1, 10), "improvement");
  pt_query_table_free(t);
  /* Every result failed in c: every point is lost. */
  ck_assert_int_eq(pt_query_diff(a, c, 5, &t, &st, &err), PT_OK);
  ck_assert_uint_eq(st.regressions, pt_query_table_rows(t));
  for (size_t r = 0; r < pt_query_table_rows(t); r++) ck_assert_str_eq(cell(t, r, 10), "lost");
  pt_query_table_free(t);
  /* Only in one of them: missing / new, and missing is no regression. */
  pt_query_filter_t f = {.arch = "sm_90"};
  pt_query_set_t *d = load(db_path, &f);
  ck_assert_int_eq(pt_query_diff(a, d, 5, &t, &st, &err), PT_OK);
  ck_assert_uint_eq(st.regressions, 0);
  ck_assert_str_eq(cell(t, 0, 10), "missing");
  pt_query_table_free(t);
  ck_assert_int_eq(pt_query_diff(d, a, 5, &t, &st, &err), PT_OK);
  ck_assert_str_eq(cell(t, 0, 10), "new");
  pt_query_table_free(t);
  pt_query_free(a);
  pt_query_free(b);
  pt_query_free(c);
  pt_query_free(d);
}
END_TEST

static char *print_to_string(const pt_query_table_t *t, pt_query_format_t fmt) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  pt_err_t err;
  ck_assert_int_eq(pt_query_table_print(t, fmt, f, &err), PT_OK);
  fclose(f);
  return buf;
}

START_TEST(printers_quote_and_escape) {
  static const char *const cols[] = {"name", "n", "x"};
  pt_query_table_t *t;
  pt_err_t err;
  ck_assert_int_eq(pt_query_table_new(cols, 3, &t, &err), PT_OK);
  pt_query_table_str(t, "plain");
  pt_query_table_int(t, 42);
  pt_query_table_num(t, 1.23456, 2);
  pt_query_table_str(t, "a,\"b\"\nc\\\t");
  pt_query_table_str(t, NULL);
  pt_query_table_num(t, NAN, 3);
  char *csv = print_to_string(t, PT_QUERY_CSV);
  ck_assert_str_eq(csv, "name,n,x\r\nplain,42,1.23\r\n\"a,\"\"b\"\"\nc\\\t\",,\r\n");
  free(csv);
  char *json = print_to_string(t, PT_QUERY_JSON);
  ck_assert_str_eq(json, "[\n  {\"name\": \"plain\", \"n\": 42, \"x\": 1.23},\n"
                         "  {\"name\": \"a,\\\"b\\\"\\u000ac\\\\\\u0009\", \"n\": null, "
                         "\"x\": null}\n]\n");
  cJSON *parsed = cJSON_Parse(json);
  ck_assert_ptr_nonnull(parsed);
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(parsed, 1), "name")->valuestring,
                   "a,\"b\"\nc\\\t");
  cJSON_Delete(parsed);
  free(json);
  char *table = print_to_string(t, PT_QUERY_TABLE);
  /* The table escapes control bytes (\x0a, \x09): one line per row. */
  ck_assert_ptr_nonnull(strstr(table, "plain            42  1.23\n"));
  ck_assert_ptr_nonnull(strstr(table, "a,\"b\"\\x0ac\\\\x09  "));
  ck_assert_ptr_null(strstr(table, " \n"));
  free(table);
  pt_query_table_free(t);
  ck_assert_int_eq(pt_query_table_new(cols, 3, &t, &err), PT_OK);
  json = print_to_string(t, PT_QUERY_JSON);
  ck_assert_str_eq(json, "[]\n");
  free(json);
  pt_query_table_free(t);
  pt_query_format_t fmt;
  ck_assert_int_eq(pt_query_format_parse("csv", &fmt), 0);
  ck_assert_int_eq(fmt, PT_QUERY_CSV);
  ck_assert_int_eq(pt_query_format_parse("yaml", &fmt), -1);
}
END_TEST

/* ---- the commands ---- */

START_TEST(query_command) {
  const char *verbs[] = {"best", "crossovers", "failures"};
  for (int v = 0; v < 3; v++) {
    pt_test_out_t r = RUN("query", verbs[v], "--db", db_path, "--format", "json");
    pt_test_expect(r, 0, NULL, "[");
    cJSON *j = cJSON_Parse(r.out);
    ck_assert_msg(j && cJSON_IsArray(j) && cJSON_GetArraySize(j) > 0, "%s: %s", verbs[v], r.out);
    cJSON_Delete(j);
    pt_test_out_free(&r);
    r = RUN("query", verbs[v], "--db", db_path, "--format", "csv", "--arch", "gfx942");
    pt_test_expect(r, 0, NULL, "\r\n");
    ck_assert_ptr_null(strstr(r.out, "sm_90"));
    pt_test_out_free(&r);
  }
  pt_test_out_t r = RUN("query", "crossovers", "--db", db_path, "--family", "dsv3-tp8",
                        "--stage", "gemm2");
  pt_test_expect(r, 0, NULL, "winner");
  ck_assert_ptr_nonnull(strstr(r.out, "runner_up"));
  ck_assert_ptr_null(strstr(r.out, "gemm1"));
  pt_test_out_free(&r);
  r = RUN("query", "compare", "--db", db_path, "bm=16,bn=128", "bm=64,bn=128,spart=402");
  pt_test_expect(r, 0, NULL, "b_over_a");
  pt_test_out_free(&r);
  r = RUN("query", "best", "--db", db_path, "--regime", "warm");
  pt_test_expect(r, 0, "no rows", NULL);
  pt_test_out_free(&r);
  /* Bad input exits 2. */
  r = RUN("query", "bestest", "--db", db_path);
  pt_test_expect(r, 2, "unknown verb 'bestest'", NULL);
  pt_test_out_free(&r);
  r = RUN("query", "best");
  pt_test_expect(r, 2, "missing --db", NULL);
  pt_test_out_free(&r);
  r = RUN("query", "compare", "--db", db_path, "bm=16");
  pt_test_expect(r, 2, "needs 2 variant specs", NULL);
  pt_test_out_free(&r);
  r = RUN("query", "best", "--db", db_path, "--format", "xml");
  pt_test_expect(r, 2, "unknown format 'xml'", NULL);
  pt_test_out_free(&r);
  r = RUN("query", "best", "--db", db_path, "--routing", "zipf:0");
  pt_test_expect(r, 2, "bad routing 'zipf:0'", NULL);
  pt_test_out_free(&r);
  char *missing = pt_test_join(dir, "nope.db");
  r = RUN("query", "best", "--db", missing);
  pt_test_expect(r, 2, "nope.db", NULL);
  pt_test_out_free(&r);
  free(missing);
  r = RUN("query", "--help");
  pt_test_expect(r, 0, NULL, "crossovers");
  pt_test_out_free(&r);
}
END_TEST

START_TEST(diff_command_exit_codes) {
  pt_test_out_t r = RUN("diff", db_path, db_path);
  pt_test_expect(r, 0, "0 regressions", "same");
  pt_test_out_free(&r);
  r = RUN("diff", db_path, slow_path, "--threshold", "5%");
  pt_test_expect(r, 1, "regressions over 5%", "regression");
  pt_test_out_free(&r);
  r = RUN("diff", db_path, slow_path, "--threshold", "12.5", "--format", "csv");
  pt_test_expect(r, 0, "0 regressions over 12.5%", "verdict");
  pt_test_out_free(&r);
  r = RUN("diff", db_path, failed_path);
  pt_test_expect(r, 1, NULL, "lost");
  pt_test_out_free(&r);
  r = RUN("diff", db_path);
  pt_test_expect(r, 2, "expected two databases", NULL);
  pt_test_out_free(&r);
  r = RUN("diff", db_path, slow_path, "--threshold", "-3");
  pt_test_expect(r, 2, "bad threshold '-3'", NULL);
  pt_test_out_free(&r);
  r = RUN("diff", db_path, slow_path, "--threshold", "\t5");
  pt_test_expect(r, 2, "bad threshold '\\x095'", NULL);
  pt_test_out_free(&r);
  char *missing = pt_test_join(dir, "nope.db");
  r = RUN("diff", db_path, missing);
  pt_test_expect(r, 2, "nope.db", NULL);
  pt_test_out_free(&r);
  free(missing);
}
END_TEST

/* ---- noise-aware picks and device models, on the real example database ---- */

/* Runs of one pick over a series' points with a winner. */
static size_t pick_runs(const pt_query_series_t *k) {
  size_t runs = 0;
  const char *prev = NULL;
  for (size_t i = 0; i < k->npoints; i++) {
    const pt_query_point_t *p = &k->points[i];
    if (p->pick < 0) continue;
    runs += prev == NULL || p->vars[p->pick].spec != prev;
    prev = p->vars[p->pick].spec;
  }
  return runs;
}

static size_t csv_rows(const char *out) {
  size_t n = 0;
  for (const char *c = out; (c = strstr(c, "\r\n")) != NULL; c += 2) n++;
  return n - 1;  /* the header */
}

START_TEST(ties_merge_intervals_on_the_example) {
  char *ex = pt_test_src_path("examples/gptoss-120b-h200.db");
  pt_query_set_t *strict = load(ex, NULL);
  pt_query_filter_t f = {.tie_tol = PT_QUERY_TIE_AUTO};
  pt_query_set_t *aut = load(ex, &f);
  ck_assert_uint_eq(strict->nseries, aut->nseries);
  size_t runs_strict = 0, runs_auto = 0, ties = 0;
  for (size_t i = 0; i < aut->nseries; i++) {
    const pt_query_series_t *k = &aut->series[i];
    ck_assert_uint_eq(pt_query_ties(&strict->series[i]), 0);
    runs_strict += pick_runs(&strict->series[i]);
    runs_auto += pick_runs(k);
    ck_assert_uint_le(pick_runs(k), pick_runs(&strict->series[i]));
    for (size_t j = 0; j < k->npoints; j++) {
      const pt_query_point_t *p = &k->points[j];
      const pt_query_var_t *pk = &p->vars[p->pick], *b = &p->vars[p->best];
      /* A challenger wins only by more than the two spreads: the pick is
       * never slower than the fastest by more than they allow. */
      ck_assert(pk->median_us - b->median_us <=
                pk->spread * pk->median_us + b->spread * b->median_us);
      if (p->pick == p->best) continue;
      ties++;
      /* A tie keeps a neighbouring count's pick. */
      const char *left = j > 0 ? k->points[j - 1].vars[k->points[j - 1].pick].spec : NULL;
      const char *right =
          j + 1 < k->npoints ? k->points[j + 1].vars[k->points[j + 1].pick].spec : NULL;
      ck_assert(pk->spec == left || pk->spec == right);
    }
  }
  /* a8w4 gemm2: bm=32 is fastest at 1024 tokens by less than the spreads;
   * bm=64, 8192's winner, keeps it: one interval fewer. */
  ck_assert_uint_eq(ties, 1);
  ck_assert_uint_eq(runs_strict, 20);
  ck_assert_uint_eq(runs_auto, 19);
  const pt_query_series_t *k = find_series(aut, "sm_90", "gptoss-120b", "a8w4", "gemm2");
  ck_assert_ptr_nonnull(k);
  ck_assert_int_eq(k->points[3].tokens, 1024);
  ck_assert_ptr_nonnull(strstr(k->points[3].vars[k->points[3].pick].spec, "bm=64,"));
  ck_assert_ptr_nonnull(strstr(k->points[3].vars[k->points[3].best].spec, "bm=32,"));
  /* The commands agree: crossovers, best (the tie's pick and margin), emit. */
  pt_test_out_t r = RUN("query", "crossovers", "--db", ex, "--format", "csv");
  pt_test_expect(r, 0, NULL, ",ties\r\n");
  ck_assert_uint_eq(csv_rows(r.out), 19);
  pt_test_out_free(&r);
  r = RUN("query", "crossovers", "--db", ex, "--format", "csv", "--tie-tol", "0");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_uint_eq(csv_rows(r.out), 20);
  pt_test_out_free(&r);
  r = RUN("query", "best", "--db", ex, "--dtype", "a8w4", "--stage", "gemm2", "--format",
          "json");
  pt_test_expect(r, 0, NULL, NULL);
  cJSON *j = cJSON_Parse(r.out);
  ck_assert_int_eq(cJSON_GetArraySize(j), 5);
  for (int i = 0; i < 5; i++) {
    const cJSON *row = cJSON_GetArrayItem(j, i), *tie = cJSON_GetObjectItem(row, "tie_pct");
    int at_1024 = cJSON_GetObjectItem(row, "tokens")->valueint == 1024;
    ck_assert_int_eq(cJSON_IsNumber(tie), at_1024);
    if (at_1024) ck_assert(tie->valuedouble > 0 && tie->valuedouble < 1);
  }
  cJSON_Delete(j);
  pt_test_out_free(&r);
  char *c = pt_test_join(dir, "ex.c");
  r = RUN("emit", "--db", ex, "-o", c);
  pt_test_expect(r, 0, NULL, "11 token intervals");
  pt_test_out_free(&r);
  char *text = pt_test_slurp(c, NULL);
  ck_assert_ptr_nonnull(strstr(text, "gemm2 won at 1024..8192 (1 by a tie)"));
  ck_assert_ptr_nonnull(strstr(text, "tie tolerance: auto"));
  free(text);
  r = RUN("emit", "--db", ex, "-o", c, "--tie-tol", "0");
  pt_test_expect(r, 0, NULL, "12 token intervals");
  pt_test_out_free(&r);
  free(c);
  pt_query_free(strict);
  pt_query_free(aut);
  free(ex);
}
END_TEST

START_TEST(fixed_tie_tolerance_bounds_every_pick) {
  char *ex = pt_test_src_path("examples/gptoss-120b-h200.db");
  const double tols[] = {0.02, 0.5};
  size_t prev_runs = SIZE_MAX;
  for (int t = 0; t < 2; t++) {
    pt_query_filter_t f = {.tie_tol = tols[t]};
    pt_query_set_t *s = load(ex, &f);
    size_t runs = 0;
    for (size_t i = 0; i < s->nseries; i++) {
      runs += pick_runs(&s->series[i]);
      for (size_t j = 0; j < s->series[i].npoints; j++) {
        const pt_query_point_t *p = &s->series[i].points[j];
        ck_assert(p->vars[p->pick].median_us <= (1 + tols[t]) * p->vars[p->best].median_us);
      }
    }
    /* A wider tolerance never needs more intervals. */
    ck_assert_uint_le(runs, prev_runs);
    prev_runs = runs;
    pt_query_free(s);
  }
  free(ex);
}
END_TEST

START_TEST(device_and_tie_options) {
  char *ex = pt_test_src_path("examples/gptoss-120b-h200.db");
  size_t len0 = 0;
  char *before = pt_test_slurp(ex, &len0);
  /* One model: its own winners are the arch's (computed apart from the view). */
  pt_test_out_t a = RUN("query", "best", "--db", ex);
  pt_test_out_t b = RUN("query", "best", "--db", ex, "--device", "NVIDIA H200");
  pt_test_expect(a, 0, NULL, "tie_pct");
  pt_test_expect(b, 0, NULL, "tie_pct");
  ck_assert_str_eq(a.out, b.out);
  pt_test_out_free(&a);
  pt_test_out_free(&b);
  char *html = pt_test_join(dir, "ex.html"), *c = pt_test_join(dir, "dev.c");
  a = RUN("emit", "--db", ex, "--device", "NVIDIA H200", "-o", c);
  pt_test_expect(a, 0, NULL, "1 device model");
  pt_test_out_free(&a);
  char *text = pt_test_slurp(c, NULL);
  ck_assert_ptr_nonnull(strstr(text, "{\"NVIDIA H200\", 0, 0, 3},"));
  ck_assert_ptr_nonnull(strstr(text, "device \"NVIDIA H200\""));
  free(text);
  /* A model the database does not hold, and bad tolerances: bad input. */
  const char *const bad_dev[][8] = {
      {"query", "best", "--db", ex, "--device", "NVIDIA H100", NULL},
      {"emit", "--db", ex, "--device", "NVIDIA H100", "-o", c, NULL},
      {"report", "--db", ex, "--device", "NVIDIA H100", "-o", html, NULL},
      {"diff", ex, ex, "--device", "NVIDIA H100", NULL}};
  for (int i = 0; i < 4; i++) {
    pt_test_out_t r = pt_test_pipetune(bad_dev[i]);
    pt_test_expect_bad_input(r, "no results for device 'NVIDIA H100' in "
                                "'gptoss-120b-h200.db' (it holds NVIDIA H200)");
    pt_test_out_free(&r);
  }
  const char *const bad_tol[] = {"-1", "abc", "101", " 1", "0x1", "inf"};
  for (int i = 0; i < 6; i++) {
    char want[128];
    snprintf(want, sizeof want,
             "bad tie tolerance '%s' (expected auto or a percentage from 0 to 100)",
             bad_tol[i]);
    pt_test_out_t r = RUN("query", "crossovers", "--db", ex, "--tie-tol", bad_tol[i]);
    pt_test_expect_bad_input(r, want);
    pt_test_out_free(&r);
    r = RUN("report", "--db", ex, "-o", html, "--tie-tol", bad_tol[i]);
    pt_test_expect_bad_input(r, want);
    pt_test_out_free(&r);
  }
  ck_assert_int_ne(access(html, F_OK), 0);
  size_t len1 = 0;
  char *after = pt_test_slurp(ex, &len1);
  ck_assert_msg(len0 == len1 && memcmp(before, after, len0) == 0, "the example changed");
  free(after);
  free(before);
  free(html);
  free(c);
  free(ex);
}
END_TEST

/* ---- regret (examples: a tuned grid and held-out midpoints, H200) ---- */

typedef struct grid_s {
  int tokens[64];
  char spec[64][128];
  int n;
} grid_t;

static sqlite3 *open_ro(const char *path) {
  sqlite3 *db = NULL;
  ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  return db;
}

/* The winners of the grid's best view for a stage, by tokens. */
static void read_grid(const char *path, const char *stage, grid_t *g) {
  sqlite3 *db = open_ro(path);
  sqlite3_stmt *st = NULL;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT tokens, spec FROM best WHERE stage = ?1"
                                      " AND regime = 'cold' ORDER BY tokens", -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
  for (g->n = 0; sqlite3_step(st) == SQLITE_ROW && g->n < 64; g->n++) {
    g->tokens[g->n] = sqlite3_column_int(st, 0);
    snprintf(g->spec[g->n], sizeof g->spec[0], "%s", (const char *)sqlite3_column_text(st, 1));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* The grid count nearest to m in log scale, the smaller on a tie: m goes to
 * a rather than its upper neighbour b while m * m <= a * b. */
static const char *nearest_pick(const grid_t *g, int m) {
  int i = 0;
  while (i + 1 < g->n && (long long)m * m > (long long)g->tokens[i] * g->tokens[i + 1]) i++;
  return g->spec[i];
}

static double held_median(sqlite3 *db, const char *stage, int tokens, const char *spec) {
  sqlite3_stmt *st = NULL;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT min(median_us) FROM results WHERE stage = ?1"
                                      " AND tokens = ?2 AND status = 'ok'"
                                      " AND (?3 IS NULL OR spec = ?3)", -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, tokens);
  if (spec) sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  double v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Geomean and worst regret in percent, per stage and pair, computed here
 * from the two files with SQL and the nearest-in-log rule. */
static void regret_by_hand(const char *grid, const char *held, double geo[3], double worst[3],
                           int npoints[3]) {
  static const int mids[] = {3, 6, 11, 23, 45, 91, 181, 362, 724, 1448, 2896, 5793};
  grid_t g[2];
  read_grid(grid, "gemm1", &g[0]);
  read_grid(grid, "gemm2", &g[1]);
  ck_assert_int_eq(g[0].n, 14);
  sqlite3 *db = open_ro(held);
  double logsum[3] = {0, 0, 0};
  for (int k = 0; k < 3; k++) worst[k] = 0, npoints[k] = 0;
  for (size_t i = 0; i < sizeof mids / sizeof *mids; i++) {
    double pick[2], best[2];
    for (int s = 0; s < 2; s++) {
      const char *stage = s == 0 ? "gemm1" : "gemm2";
      pick[s] = held_median(db, stage, mids[i], nearest_pick(&g[s], mids[i]));
      best[s] = held_median(db, stage, mids[i], NULL);
    }
    double r[3] = {pick[0] / best[0], pick[1] / best[1],
                   (pick[0] + pick[1]) / (best[0] + best[1])};
    for (int k = 0; k < 3; k++) {
      logsum[k] += log(r[k]);
      if (r[k] > worst[k]) worst[k] = r[k];
      npoints[k]++;
    }
  }
  sqlite3_close(db);
  for (int k = 0; k < 3; k++) {
    geo[k] = 100.0 * (exp(logsum[k] / npoints[k]) - 1.0);
    worst[k] = 100.0 * (worst[k] - 1.0);
  }
}

static double json_num(const cJSON *row, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
  ck_assert_msg(cJSON_IsNumber(v), "no number '%s'", key);
  return v->valuedouble;
}

START_TEST(regret_on_the_example_databases) {
  char *grid = pt_test_src_path("examples/grid-gptoss-h200.db");
  char *held = pt_test_src_path("examples/held-gptoss-h200.db");
  size_t len0 = 0, len1 = 0;
  char *before = pt_test_slurp(held, &len0);
  double geo[3], worst[3];
  int npoints[3];
  regret_by_hand(grid, held, geo, worst, npoints);
  pt_test_out_t r = RUN("query", "regret", "--db", grid, "--holdout", held, "--format", "json");
  pt_test_expect(r, 0, "36 of 36 held-out points compared", "[");
  cJSON *j = cJSON_Parse(r.out);
  ck_assert_msg(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 3, "%s", r.out);
  const char *parts[] = {"gemm1", "gemm2", "pair"};
  for (int k = 0; k < 3; k++) {
    const cJSON *row = cJSON_GetArrayItem(j, k);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(row, "stage")->valuestring, parts[k]);
    ck_assert_int_eq((int)json_num(row, "points"), npoints[k]);
    ck_assert_int_eq((int)json_num(row, "compared"), npoints[k]);
    ck_assert_int_eq((int)json_num(row, "pick_missing"), 0);
    ck_assert_msg(fabs(json_num(row, "geomean_pct") - geo[k]) < 6e-4, "%s geomean %g vs %g",
                  parts[k], json_num(row, "geomean_pct"), geo[k]);
    ck_assert_msg(fabs(json_num(row, "worst_pct") - worst[k]) < 6e-4, "%s worst %g vs %g",
                  parts[k], json_num(row, "worst_pct"), worst[k]);
  }
  cJSON_Delete(j);
  pt_test_out_free(&r);
  char limit[32];
  snprintf(limit, sizeof limit, "%.2f", worst[2] + 5.0);  /* above every worst */
  r = RUN("query", "regret", "--db", grid, "--holdout", held, "--max-regret", limit,
          "--format", "csv");
  pt_test_expect(r, 0, NULL, "arch,family,dtype,stage,points,compared,pick_missing");
  pt_test_out_free(&r);
  snprintf(limit, sizeof limit, "%.2f%%", worst[0] - 0.01);  /* under gemm1's worst */
  r = RUN("query", "regret", "--db", grid, "--holdout", held, "--max-regret", limit);
  pt_test_expect(r, 1, "above --max-regret", "pair");
  pt_test_out_free(&r);
  char *after = pt_test_slurp(held, &len1);
  ck_assert_msg(len0 == len1 && memcmp(before, after, len0) == 0, "the example changed");
  free(after);
  free(before);
  free(grid);
  free(held);
}
END_TEST

/* A pick the held-out database never measured is counted, not skipped. */
START_TEST(regret_counts_a_pick_not_measured) {
  char *grid = pt_test_src_path("examples/grid-gptoss-h200.db");
  char *held = pt_test_src_path("examples/held-gptoss-h200.db");
  char *copy = pt_test_join(dir, "held-less.db");
  size_t len = 0;
  char *bytes = pt_test_slurp(held, &len);
  FILE *f = fopen(copy, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
  fclose(f);
  grid_t g;
  read_grid(grid, "gemm1", &g);
  sqlite3 *db = NULL;
  ck_assert_int_eq(sqlite3_open(copy, &db), SQLITE_OK);
  char sql[512];
  snprintf(sql, sizeof sql, "DELETE FROM measurements WHERE id IN (SELECT measurement_id FROM"
           " results WHERE stage = 'gemm1' AND tokens = 3 AND spec = '%s')",
           nearest_pick(&g, 3));
  ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_changes(db), 1);
  sqlite3_close(db);
  pt_test_out_t r = RUN("query", "regret", "--db", grid, "--holdout", copy, "--format", "csv");
  pt_test_expect(r, 0, "34 of 36 held-out points compared", NULL);
  ck_assert_msg(strstr(r.out, "sm_90,gptoss-120b,a16w4,gemm1,12,11,1,0,"), "%s", r.out);
  ck_assert_msg(strstr(r.out, "sm_90,gptoss-120b,a16w4,gemm2,12,12,0,0,"), "%s", r.out);
  ck_assert_msg(strstr(r.out, "sm_90,gptoss-120b,a16w4,pair,12,11,1,0,"), "%s", r.out);
  pt_test_out_free(&r);
  free(bytes);
  free(copy);
  free(grid);
  free(held);
}
END_TEST

START_TEST(regret_bad_input) {
  char *grid = pt_test_src_path("examples/grid-gptoss-h200.db");
  char *held = pt_test_src_path("examples/held-gptoss-h200.db");
  size_t len0 = 0, len1 = 0;
  char *before = pt_test_slurp(grid, &len0);
  pt_test_out_t r = RUN("query", "regret", "--db", grid);
  pt_test_expect_bad_input(r, "missing --holdout FILE; usage: pipetune query regret --db TUNED "
                              "--holdout HELD [--max-regret PCT] [options]");
  pt_test_out_free(&r);
  r = RUN("query", "regret", "--db", grid, "--holdout", grid);
  pt_test_expect(r, 2, "no overlap: 'grid-gptoss-h200.db' holds no token count", NULL);
  pt_test_out_free(&r);
  r = RUN("query", "regret", "--db", grid, "--holdout", db_path);
  pt_test_expect_bad_input(r, "no results for family 'gptoss-120b' a16w4 on 'sm_90' in 'a.db' "
                              "(regime cold, routing uniform)");
  pt_test_out_free(&r);
  r = RUN("query", "regret", "--db", grid, "--holdout", held, "--family", "dsv3-tp8");
  pt_test_expect(r, 2, "no results for family 'dsv3-tp8'", NULL);
  pt_test_out_free(&r);
  r = RUN("query", "regret", "--db", grid, "--holdout", held, "--max-regret", "-1");
  pt_test_expect_bad_input(r, "option --max-regret: bad percentage '-1' (expected a number >= 0)");
  pt_test_out_free(&r);
  r = RUN("query", "runs", "--db", grid);
  pt_test_expect(r, 2, "no two runs to compare", NULL);
  pt_test_out_free(&r);
  r = RUN("query", "runs", "--db", grid, "--runs", "1,x");
  pt_test_expect_bad_input(r, "option --runs: '1,x' is not two run ids like 1,2");
  pt_test_out_free(&r);
  char *after = pt_test_slurp(grid, &len1);
  ck_assert_msg(len0 == len1 && memcmp(before, after, len0) == 0, "the example changed");
  free(after);
  free(before);
  free(grid);
  free(held);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("query");
  TCase *tc = tcase_create("query");
  tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, load_agrees_with_the_best_view);
  tcase_add_test(tc, verification_failure_disqualifies);
  tcase_add_test(tc, filters_and_bad_input);
  tcase_add_test(tc, interval_rule_against_brute_force);
  tcase_add_test(tc, fixed_variant_rule);
  tcase_add_test(tc, crossovers_partition_each_series);
  tcase_add_test(tc, compare_two_variants);
  tcase_add_test(tc, failures_list_every_failed_result);
  tcase_add_test(tc, diff_finds_regressions);
  tcase_add_test(tc, printers_quote_and_escape);
  tcase_add_test(tc, query_command);
  tcase_add_test(tc, diff_command_exit_codes);
  tcase_add_test(tc, ties_merge_intervals_on_the_example);
  tcase_add_test(tc, fixed_tie_tolerance_bounds_every_pick);
  tcase_add_test(tc, device_and_tie_options);
  tcase_add_test(tc, regret_on_the_example_databases);
  tcase_add_test(tc, regret_counts_a_pick_not_measured);
  tcase_add_test(tc, regret_bad_input);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(suite());
}
