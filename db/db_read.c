/* Reading results back (see db.h "reading results back"): the one walk of
 * the results view every reader goes through, each value checked against
 * what the schema promises before anyone uses it, so that a tampered or
 * damaged file is refused as bad input instead of read as numbers. */
#include "config.h"

#include "db_int.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "knobs.h"
#include "moe.h"

enum {
  C_MID, C_DID, C_PID, C_VID, C_ARCH, C_DEVICE, C_FAMILY, C_H, C_I, C_E, C_K,
  C_DTYPE, C_ACT, C_STAGE, C_TOKENS, C_SPEC, C_ROUTING, C_RPARAM, C_REGIME,
  C_STATUS, C_REASON, C_MEDIAN, C_MIN, C_P90, C_SPREAD, C_SAMPLES, C_FLOOR,
  C_CREATED, C_TOOL
};

/* held: how held-out results are chosen; files older than schema version
 * 4 have none (and no holdout column). */
#define RESULTS_SQL(held)                                                     \
  "SELECT measurement_id, device_id, problem_id, variant_id, arch, device,"  \
  " family, model_dim, inter_dim, experts, topk, dtype, act, stage, tokens,"  \
  " spec, routing, routing_param, regime, status, reason, median_us, min_us," \
  " p90_us, spread, samples, floor_us, created, tool_version FROM results"  \
  " WHERE (?1 IS NULL OR arch = ?1) AND (?2 IS NULL OR family = ?2)"        \
  " AND (?3 IS NULL OR dtype = ?3) AND (?4 IS NULL OR stage = ?4)"          \
  " AND (?5 IS NULL OR regime = ?5)"                                        \
  " AND (?6 IS NULL OR (routing = ?6 AND routing_param = ?7))"             \
  " AND (?8 IS NULL OR device = ?8)" held                                    \
  " ORDER BY arch, family, model_dim, inter_dim, experts, topk, dtype, act," \
  " stage, tokens, spec, device, measurement_id"

/* The row a column comes from, for naming the culprit. */
static int owner_of(int c) {
  if (c == C_ARCH || c == C_DEVICE) return C_DID;
  if ((c >= C_FAMILY && c <= C_ACT) || c == C_TOKENS || c == C_ROUTING ||
      c == C_RPARAM)
    return C_PID;
  if (c == C_STAGE || c == C_SPEC) return C_VID;
  return C_MID;
}

typedef struct reader_s {
  pt_db_t *db;
  sqlite3_stmt *st;
  int rc;     /* PT_OK, or PT_EINVAL once a value failed */
  int pairs;  /* a pair_results row: named by its pair id (column 0) */
} reader_t;

/* Records the first bad value of the row: "'x.db': problem 3 has tokens
 * 0.5 (expected an integer from 1 to 2147483647)". */
static void bad(reader_t *r, int c, const char *expected) {
  static const char *const owners[] = {"measurement", "device", "problem",
                                       "variant"};
  if (r->rc != PT_OK) return;
  sqlite3_stmt *st = r->st;
  char value[96];
  switch (sqlite3_column_type(st, c)) {
  case SQLITE_NULL: snprintf(value, sizeof value, "NULL"); break;
  case SQLITE_INTEGER:
    snprintf(value, sizeof value, "%" PRId64, (int64_t)sqlite3_column_int64(st, c));
    break;
  case SQLITE_FLOAT: snprintf(value, sizeof value, "%.17g", sqlite3_column_double(st, c)); break;
  case SQLITE_TEXT:
    snprintf(value, sizeof value, "'%.80s'", (const char *)sqlite3_column_text(st, c));
    break;
  default: snprintf(value, sizeof value, "a blob"); break;
  }
  int o = r->pairs ? 0 : owner_of(c);
  r->rc = pt_err_set(&r->db->err, PT_EINVAL, "'%s': %s %" PRId64 " has %s %s (expected %s)",
                     r->db->path, r->pairs ? "pair" : owners[o],
                     (int64_t)sqlite3_column_int64(st, o),
                     sqlite3_column_name(st, c), value, expected);
}

static const char *text(reader_t *r, int c) {
  if (sqlite3_column_type(r->st, c) == SQLITE_TEXT)
    return (const char *)sqlite3_column_text(r->st, c);
  bad(r, c, "text");
  return "";
}

static const char *text_or_null(reader_t *r, int c) {
  return sqlite3_column_type(r->st, c) == SQLITE_NULL ? NULL : text(r, c);
}

/* A name that known() accepts. */
static const char *name(reader_t *r, int c, int (*known)(const char *),
                        const char *expected) {
  const char *s = text(r, c);
  if (r->rc == PT_OK && !known(s)) bad(r, c, expected);
  return s;
}

static int is_dtype(const char *s) {
  pt_dtype_t d;
  return pt_dtype_parse(s, &d) == 0;
}
static int is_act(const char *s) {
  pt_act_t a;
  return pt_act_parse(s, &a) == 0;
}
static int is_stage(const char *s) {
  pt_stage_t st;
  return pt_stage_parse(s, &st) == 0;
}
static int is_regime(const char *s) {
  pt_db_regime_t g;
  return pt_db_regime_parse(s, &g) == 0;
}
static int is_status(const char *s) {
  pt_db_status_t t;
  return pt_db_status_parse(s, &t) == 0;
}
/* The routing kinds of problems.routing (its CHECK). */
static int is_routing(const char *s) {
  return strcmp(s, "uniform") == 0 || strcmp(s, "zipf") == 0;
}

static int integer(reader_t *r, int c, int64_t lo, int64_t hi) {
  int type = sqlite3_column_type(r->st, c);
  int64_t v = type == SQLITE_INTEGER ? sqlite3_column_int64(r->st, c) : lo - 1;
  if (v >= lo && v <= hi) return (int)v;
  char expected[80];
  snprintf(expected, sizeof expected, "an integer from %" PRId64 " to %" PRId64, lo, hi);
  bad(r, c, expected);
  return (int)lo;
}

/* A finite number > 0 (positive) or >= 0, or NaN for NULL when allowed. */
static double number(reader_t *r, int c, int positive, int null_ok) {
  int type = sqlite3_column_type(r->st, c);
  if (type == SQLITE_NULL && null_ok) return NAN;
  double x = sqlite3_column_double(r->st, c);
  if ((type == SQLITE_FLOAT || type == SQLITE_INTEGER) && isfinite(x) &&
      (positive ? x > 0 : x >= 0))
    return x;
  bad(r, c, positive ? "a finite number > 0" : "a finite number >= 0");
  return NAN;
}

static void read_names(reader_t *r, pt_db_result_t *o) {
  o->arch = text(r, C_ARCH);
  o->device = text(r, C_DEVICE);
  o->family = text(r, C_FAMILY);
  o->dtype = name(r, C_DTYPE, is_dtype, "a4w4, a8w4 or a16w4");
  o->act = name(r, C_ACT, is_act, "silu or swiglu_oai");
  o->stage = name(r, C_STAGE, is_stage, "gemm1 or gemm2");
  o->spec = text(r, C_SPEC);
  o->routing = name(r, C_ROUTING, is_routing, "uniform or zipf");
  o->regime = name(r, C_REGIME, is_regime, "cold or warm");
  o->status = name(r, C_STATUS, is_status, "a result status such as ok");
  o->reason = text_or_null(r, C_REASON);
  o->created = text(r, C_CREATED);
  o->tool_version = text(r, C_TOOL);
}

static void read_shape(reader_t *r, pt_db_result_t *o) {
  o->model_dim = integer(r, C_H, 64, INT_MAX);
  if (o->model_dim % 64 != 0) bad(r, C_H, "a multiple of 64");
  o->inter_dim = integer(r, C_I, 64, INT_MAX);
  if (o->inter_dim % 64 != 0) bad(r, C_I, "a multiple of 64");
  o->experts = integer(r, C_E, 1, INT_MAX);
  o->topk = integer(r, C_K, 1, o->experts);
  o->tokens = integer(r, C_TOKENS, 1, INT_MAX);
  o->routing_param = number(r, C_RPARAM, 0, 0);
}

/* An ok result's timing; the others' is not read (NaN, -1). */
static void read_timing(reader_t *r, pt_db_result_t *o) {
  o->floor_us = number(r, C_FLOOR, 0, 1);
  o->median_us = o->min_us = o->p90_us = o->spread = NAN;
  o->samples = -1;
  if (r->rc != PT_OK || strcmp(o->status, "ok") != 0) return;
  o->min_us = number(r, C_MIN, 1, 0);
  o->median_us = number(r, C_MEDIAN, 1, 0);
  o->p90_us = number(r, C_P90, 1, 0);
  if (r->rc == PT_OK && !(o->min_us <= o->median_us))
    bad(r, C_MEDIAN, "at least min_us");
  if (r->rc == PT_OK && !(o->median_us <= o->p90_us))
    bad(r, C_P90, "at least median_us");
  o->spread = number(r, C_SPREAD, 0, 1);
  o->samples = integer(r, C_SAMPLES, 1, INT_MAX);
}

static int read_row(reader_t *r, pt_db_result_t *o) {
  sqlite3_stmt *st = r->st;
  o->measurement_id = sqlite3_column_int64(st, C_MID);
  o->device_id = sqlite3_column_int64(st, C_DID);
  o->problem_id = sqlite3_column_int64(st, C_PID);
  o->variant_id = sqlite3_column_int64(st, C_VID);
  read_names(r, o);
  read_shape(r, o);
  read_timing(r, o);
  return r->rc;
}

static int bind_opt(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int pt_db_results(pt_db_t *db, const pt_db_filter_t *f, const char *routing,
                   double routing_param, pt_db_result_cb cb, void *ud) {
  static const char what[] = "cannot read results";
  reader_t r = {db, NULL, PT_OK, 0};
  const pt_db_filter_t none = {0};
  if (f == NULL) f = &none;
  const char *sql = db->version < 4 || f->with_holdout
                        ? RESULTS_SQL("")
                        : RESULTS_SQL(" AND holdout = 0");
  int rc = pt__db_prepare(db, sql, &r.st, what), src = SQLITE_DONE;
  if (rc != PT_OK) return rc;
  const char *v[] = {f->arch, f->family, f->dtype, f->stage, f->regime, routing};
  for (int i = 0; i < 6; i++) bind_opt(r.st, i + 1, v[i]);
  sqlite3_bind_double(r.st, 7, routing_param);
  bind_opt(r.st, 8, f->device);
  while (rc == PT_OK && (src = sqlite3_step(r.st)) == SQLITE_ROW) {
    pt_db_result_t row;
    rc = read_row(&r, &row);
    if (rc == PT_OK) rc = cb(ud, &row);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(r.st);
  return rc;
}

/* ---- the deployed pair's results ---- */

enum {
  P_ID, P_ARCH, P_DEVICE, P_FAMILY, P_H, P_I, P_E, P_K, P_DTYPE, P_ACT, P_TOKENS,
  P_ROUTING, P_RPARAM, P_G1, P_G2, P_SBM, P_REGIME, P_STATUS, P_REASON, P_MEDIAN,
  P_MIN, P_P90, P_SPREAD, P_SAMPLES, P_ERR
};

static const char pairs_sql[] =
    "SELECT pair_id, arch, device, family, model_dim, inter_dim, experts, topk,"
    " dtype, act, tokens, routing, routing_param, g1_spec, g2_spec, sbm, regime,"
    " status, reason, median_us, min_us, p90_us, spread, samples, err_max_rel"
    " FROM pair_results"
    " WHERE (?1 IS NULL OR arch = ?1) AND (?2 IS NULL OR family = ?2)"
    " AND (?3 IS NULL OR dtype = ?3) AND (?4 IS NULL OR regime = ?4)"
    " AND (?5 IS NULL OR (routing = ?5 AND routing_param = ?6))"
    " AND (?7 IS NULL OR device = ?7)"
    " ORDER BY arch, family, model_dim, inter_dim, experts, topk, dtype, act,"
    " tokens, device, pair_id";

static void read_pair_timing(reader_t *r, pt_db_pair_row_t *o) {
  o->median_us = o->min_us = o->p90_us = o->spread = NAN;
  o->samples = -1;
  o->err_max_rel = number(r, P_ERR, 0, 1);
  if (r->rc != PT_OK || strcmp(o->status, "ok") != 0) return;
  o->min_us = number(r, P_MIN, 1, 0);
  o->median_us = number(r, P_MEDIAN, 1, 0);
  o->p90_us = number(r, P_P90, 1, 0);
  if (r->rc == PT_OK && !(o->min_us <= o->median_us)) bad(r, P_MEDIAN, "at least min_us");
  if (r->rc == PT_OK && !(o->median_us <= o->p90_us)) bad(r, P_P90, "at least median_us");
  o->spread = number(r, P_SPREAD, 0, 1);
  o->samples = integer(r, P_SAMPLES, 1, INT_MAX);
}

static int read_pair(reader_t *r, pt_db_pair_row_t *o) {
  o->pair_id = sqlite3_column_int64(r->st, P_ID);
  o->arch = text(r, P_ARCH);
  o->device = text(r, P_DEVICE);
  o->family = text(r, P_FAMILY);
  o->model_dim = integer(r, P_H, 64, INT_MAX);
  if (o->model_dim % 64 != 0) bad(r, P_H, "a multiple of 64");
  o->inter_dim = integer(r, P_I, 64, INT_MAX);
  if (o->inter_dim % 64 != 0) bad(r, P_I, "a multiple of 64");
  o->experts = integer(r, P_E, 1, INT_MAX);
  o->topk = integer(r, P_K, 1, o->experts);
  o->dtype = name(r, P_DTYPE, is_dtype, "a4w4, a8w4 or a16w4");
  o->act = name(r, P_ACT, is_act, "silu or swiglu_oai");
  o->tokens = integer(r, P_TOKENS, 1, INT_MAX);
  o->routing = name(r, P_ROUTING, is_routing, "uniform or zipf");
  o->routing_param = number(r, P_RPARAM, 0, 0);
  o->g1_spec = text(r, P_G1);
  o->g2_spec = text(r, P_G2);
  o->sbm = integer(r, P_SBM, 1, INT_MAX);
  o->regime = name(r, P_REGIME, is_regime, "cold or warm");
  o->status = name(r, P_STATUS, is_status, "a result status such as ok");
  o->reason = text_or_null(r, P_REASON);
  read_pair_timing(r, o);
  return r->rc;
}

int pt_db_pair_results(pt_db_t *db, const pt_db_filter_t *f, const char *routing,
                       double routing_param, pt_db_pair_row_cb cb, void *ud) {
  static const char what[] = "cannot read pair results";
  reader_t r = {db, NULL, PT_OK, 1};
  if (db->version < PT_DB_PAIRS_VERSION) return PT_OK;
  int rc = pt__db_prepare(db, pairs_sql, &r.st, what), src = SQLITE_DONE;
  if (rc != PT_OK) return rc;
  const pt_db_filter_t none = {0};
  if (f == NULL) f = &none;
  const char *v[] = {f->arch, f->family, f->dtype, f->regime, routing};
  for (int i = 0; i < 5; i++) bind_opt(r.st, i + 1, v[i]);
  sqlite3_bind_double(r.st, 6, routing_param);
  bind_opt(r.st, 7, f->device);
  while (rc == PT_OK && (src = sqlite3_step(r.st)) == SQLITE_ROW) {
    pt_db_pair_row_t row;
    rc = read_pair(&r, &row);
    if (rc == PT_OK) rc = cb(ud, &row);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(r.st);
  return rc;
}

int pt_db_held(pt_db_t *db, pt_db_held_t what, pt_db_text_cb cb, void *ud) {
  static const char *const sql[] = {
      "SELECT DISTINCT arch FROM devices WHERE id IN"
      " (SELECT device_id FROM measurements) ORDER BY 1",
      "SELECT DISTINCT family FROM problems WHERE id IN"
      " (SELECT problem_id FROM measurements) ORDER BY 1",
      "SELECT DISTINCT dtype FROM problems WHERE id IN"
      " (SELECT problem_id FROM measurements) ORDER BY 1",
      "SELECT DISTINCT name FROM devices WHERE id IN"
      " (SELECT device_id FROM measurements) ORDER BY 1",
  };
  if ((unsigned)what >= sizeof sql / sizeof *sql)
    return pt_err_set(&db->err, PT_EINVAL, "cannot list: bad kind %d", (int)what);
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql[what], &st, "cannot list results"), src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
    rc = cb(ud, pt__db_col_text(st, 0));
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, "cannot list results");
  sqlite3_finalize(st);
  return rc;
}

/* ---- two runs compared ---- */

static int scalar(pt_db_t *db, const char *sql, int64_t x, int64_t *out) {
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, "cannot compare runs");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, x);
  int src = sqlite3_step(st);
  *out = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  if (src != SQLITE_ROW && src != SQLITE_DONE) rc = pt__db_fail(db, "cannot compare runs");
  sqlite3_finalize(st);
  return rc;
}

static int pick_runs(pt_db_t *db, int64_t *a, int64_t *b) {
  int rc = PT_OK;
  if (*b == 0)
    rc = scalar(db, "SELECT max(run_id) FROM run_results WHERE ?1 = ?1", 0, b);
  if (rc == PT_OK && *a == 0)
    rc = scalar(db, "SELECT max(x.run_id) FROM run_results x JOIN run_results y"
                " ON y.device = x.device AND y.arch = x.arch AND y.problem_id = x.problem_id"
                " AND y.variant_id = x.variant_id AND y.regime = x.regime"
                " WHERE y.run_id = ?1 AND x.run_id < ?1", *b, a);
  int64_t n = 0;
  for (int k = 0; rc == PT_OK && k < 2; k++) {
    int64_t r = k == 0 ? *a : *b;
    rc = scalar(db, "SELECT count(*) FROM run_results WHERE run_id = ?1", r, &n);
    if (rc == PT_OK && n == 0)
      rc = pt_err_set(&db->err, PT_EINVAL, "%s'%s' holds no results of run %lld",
                      r == 0 ? "no two runs to compare: " : "", db->path, (long long)r);
  }
  return rc;
}

static double ok_time(sqlite3_stmt *st, int status_col, int time_col) {
  return strcmp(pt__db_col_text(st, status_col), "ok") == 0 ? sqlite3_column_double(st, time_col)
                                                           : NAN;
}

int pt_db_run_pairs(pt_db_t *db, const pt_db_filter_t *f, int64_t *a, int64_t *b,
                    pt_db_run_pair_cb cb, void *ud) {
  static const char sql[] =
      "SELECT x.arch, x.device, x.family, x.dtype, x.stage, x.spec, x.regime,"
      " x.tokens, x.status, x.median_us, y.status, y.median_us"
      " FROM run_results x JOIN run_results y ON y.device = x.device"
      " AND y.arch = x.arch AND y.problem_id = x.problem_id AND y.variant_id = x.variant_id"
      " AND y.regime = x.regime WHERE x.run_id = ?1 AND y.run_id = ?2"
      " AND (?3 IS NULL OR x.arch = ?3) AND (?4 IS NULL OR x.family = ?4)"
      " AND (?5 IS NULL OR x.dtype = ?5) AND (?6 IS NULL OR x.stage = ?6)"
      " AND (?7 IS NULL OR x.regime = ?7)"
      " ORDER BY x.arch, x.family, x.dtype, x.stage, x.tokens, x.spec, x.device";
  if (db->version < 4)
    return pt_err_set(&db->err, PT_EINVAL,
                      "'%s' has schema version %d, which keeps no run history "
                      "(upgrade it with 'pipetune db init')", db->path, db->version);
  const pt_db_filter_t none = {0};
  if (f == NULL) f = &none;
  int rc = pick_runs(db, a, b);
  sqlite3_stmt *st = NULL;
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, "cannot compare runs");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, *a);
  sqlite3_bind_int64(st, 2, *b);
  const char *v[] = {f->arch, f->family, f->dtype, f->stage, f->regime};
  for (int i = 0; i < 5; i++) bind_opt(st, i + 3, v[i]);
  int src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_run_pair_t row = {
        pt__db_col_text(st, 0), pt__db_col_text(st, 1), pt__db_col_text(st, 2),
        pt__db_col_text(st, 3), pt__db_col_text(st, 4), pt__db_col_text(st, 5),
        pt__db_col_text(st, 6), sqlite3_column_int(st, 7), pt__db_col_text(st, 8),
        pt__db_col_text(st, 10), ok_time(st, 8, 9), ok_time(st, 10, 11)};
    rc = cb(ud, &row);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, "cannot compare runs");
  sqlite3_finalize(st);
  return rc;
}
