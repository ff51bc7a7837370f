/* Searches in the database (see searches.h). */
#include "searches.h"

#include <string.h>

#include "db_int.h"

int pt_db_put_search(pt_db_t *db, const pt_db_search_t *s) {
  static const char what[] = "cannot record a search";
  static const char sql[] =
      "INSERT INTO searches (problem_id, stage, regime, arch, strategy, max_evals, rounds,"
      " proposed, finished, run_id, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
      " ?10, " PT__DB_NOW ") ON CONFLICT (problem_id, stage, regime, arch) DO UPDATE SET"
      " strategy = excluded.strategy, max_evals = excluded.max_evals,"
      " rounds = excluded.rounds, proposed = excluded.proposed,"
      " finished = excluded.finished, run_id = excluded.run_id, updated = excluded.updated";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, s->problem_id);
  sqlite3_bind_text(st, 2, s->stage, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, pt_db_regime_name(s->regime), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, s->arch, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, s->strategy, -1, SQLITE_STATIC);
  int nums[] = {s->max_evals, s->rounds, s->proposed, s->finished};
  for (int i = 0; i < 4; i++) sqlite3_bind_int(st, 6 + i, nums[i]);
  if (s->run_id > 0) sqlite3_bind_int64(st, 10, s->run_id);
  else sqlite3_bind_null(st, 10);
  rc = sqlite3_step(st) == SQLITE_DONE ? PT_OK : pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

/* The search_summary view's query, over a file of any version: before
 * migration 6 there is no searches table to join. */
#define SUMMARY_HEAD                                                                  \
  "SELECT d.arch, p.family, p.model_dim, p.inter_dim, p.experts, p.topk, p.dtype,"    \
  " p.act, p.tokens, p.routing, p.routing_param, v.stage, m.regime,"                  \
  " count(DISTINCT m.variant_id) FILTER (WHERE m.status <> 'infeasible'),"            \
  " count(DISTINCT m.variant_id) FILTER (WHERE m.status = 'infeasible'),"
#define SUMMARY_FROM                                                                  \
  " FROM measurements m JOIN devices d ON d.id = m.device_id"                         \
  " JOIN problems p ON p.id = m.problem_id JOIN variants v ON v.id = m.variant_id"
#define SUMMARY_TAIL                                                                  \
  " WHERE (?1 IS NULL OR d.arch = ?1) AND (?2 IS NULL OR p.family = ?2)"              \
  " AND (?3 IS NULL OR p.dtype = ?3) AND (?4 IS NULL OR v.stage = ?4)"                \
  " AND (?5 IS NULL OR m.regime = ?5)"                                                \
  " GROUP BY d.arch, m.problem_id, v.stage, m.regime"                                 \
  " ORDER BY d.arch, p.family, p.dtype, v.stage, p.routing, p.routing_param,"         \
  " m.regime, p.tokens"

static const char sql_now[] =
    SUMMARY_HEAD " s.strategy, s.max_evals, s.rounds, s.proposed, s.finished" SUMMARY_FROM
    " LEFT JOIN searches s ON s.problem_id = m.problem_id AND s.stage = v.stage"
    " AND s.regime = m.regime AND s.arch = d.arch" SUMMARY_TAIL;
static const char sql_before[] =
    SUMMARY_HEAD " NULL, -1, -1, -1, -1" SUMMARY_FROM SUMMARY_TAIL;

static const char *text(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

static void read_row(sqlite3_stmt *st, pt_db_search_row_t *r) {
  r->arch = text(st, 0);
  r->family = text(st, 1);
  r->model_dim = sqlite3_column_int(st, 2);
  r->inter_dim = sqlite3_column_int(st, 3);
  r->experts = sqlite3_column_int(st, 4);
  r->topk = sqlite3_column_int(st, 5);
  r->dtype = text(st, 6);
  r->act = text(st, 7);
  r->tokens = sqlite3_column_int(st, 8);
  r->routing = text(st, 9);
  r->routing_param = sqlite3_column_double(st, 10);
  r->stage = text(st, 11);
  r->regime = text(st, 12);
  r->measured = sqlite3_column_int(st, 13);
  r->infeasible = sqlite3_column_int(st, 14);
  r->strategy = text(st, 15);
  int none = r->strategy == NULL;
  r->max_evals = none ? -1 : sqlite3_column_int(st, 16);
  r->rounds = none ? -1 : sqlite3_column_int(st, 17);
  r->proposed = none ? -1 : sqlite3_column_int(st, 18);
  r->finished = none ? -1 : sqlite3_column_int(st, 19);
}

int pt_db_searches(pt_db_t *db, const pt_db_filter_t *f, pt_db_search_cb cb, void *ud) {
  static const char what[] = "cannot read searches";
  const char *sql = db->version >= PT_DB_SEARCHES_VERSION ? sql_now : sql_before;
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, what), src = SQLITE_DONE;
  if (rc != PT_OK) return rc;
  const pt_db_filter_t none = {0};
  if (f == NULL) f = &none;
  const char *v[] = {f->arch, f->family, f->dtype, f->stage, f->regime};
  for (int i = 0; i < 5; i++)
    if (v[i] != NULL) sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_TRANSIENT);
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_search_row_t row;
    read_row(st, &row);
    rc = cb(ud, &row);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

const char *const pt_query_searches_cols[PT_QUERY_SEARCHES_COLS] = {
    "arch", "family", "dtype", "stage", "tokens", "strategy", "measured", "infeasible",
    "proposed", "rounds", "finished", "max_evals"};

typedef struct tabler_s {
  const pt_query_filter_t *f;
  pt_query_table_t *t;
} tabler_t;

/* A count, or a null cell where the search was not recorded. */
static void count_cell(pt_query_table_t *t, int v) {
  if (v < 0) pt_query_table_str(t, NULL);
  else pt_query_table_int(t, v);
}

static int add_row(void *ud, const pt_db_search_row_t *r) {
  tabler_t *tb = ud;
  const char *routing = tb->f->routing != NULL ? tb->f->routing : "uniform";
  if (strcmp(r->routing, routing) != 0 || r->routing_param != tb->f->routing_param) return 0;
  pt_query_table_t *t = tb->t;
  const char *key[] = {r->arch, r->family, r->dtype, r->stage};
  for (int i = 0; i < 4; i++) pt_query_table_str(t, key[i]);
  pt_query_table_int(t, r->tokens);
  pt_query_table_str(t, r->strategy);
  pt_query_table_int(t, r->measured);
  pt_query_table_int(t, r->infeasible);
  count_cell(t, r->proposed);
  count_cell(t, r->rounds);
  if (r->finished < 0) pt_query_table_str(t, NULL);
  else pt_query_table_str(t, r->finished ? "yes" : "no");
  count_cell(t, r->max_evals);
  return 0;
}

int pt_query_searches(const char *path, const pt_query_filter_t *f, pt_query_table_t **out,
                      pt_err_t *err) {
  pt_db_t *db = NULL;
  pt_query_table_t *t = NULL;
  *out = NULL;
  int rc = pt_db_open(path, PT_DB_READONLY, &db, err);
  if (rc == PT_OK) rc = pt_query_table_new(pt_query_searches_cols, PT_QUERY_SEARCHES_COLS, &t, err);
  if (rc == PT_OK) {
    pt_db_filter_t df = {.arch = f->arch, .family = f->family, .dtype = f->dtype,
                         .stage = f->stage,
                         .regime = f->regime != NULL ? f->regime : "cold"};
    tabler_t tb = {f, t};
    rc = pt_db_searches(db, &df, add_row, &tb);
    if (rc != PT_OK) pt_err_set(err, rc, "%s", pt_db_errmsg(db));
  }
  pt_db_close(db);
  if (rc != PT_OK) pt_query_table_free(t);
  else *out = t;
  return rc;
}
