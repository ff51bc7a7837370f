/* The runs of a database as `pipetune status` shows them (see runs.h): the
 * status view for the plan's progress, the jobs' results for the statuses
 * and the rate, read in one read transaction. */
#include "config.h"

#include "runs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

/* One row per run: the status view, the command, and what the run settled
 * itself (claimed items have a start) with the time it took, to now while
 * it runs. */
static const char runs_sql[] =
    "SELECT s.run_id, s.run_status, r.command, s.host, s.started, s.finished,"
    " s.total, s.ready, s.running, s.done, s.failed, s.infeasible,"
    " (SELECT count(*) FROM jobs j WHERE j.run_id = s.run_id"
    "   AND j.started IS NOT NULL AND j.finished IS NOT NULL),"
    " (SELECT (julianday(CASE WHEN s.run_status = 'running' THEN 'now'"
    "   ELSE max(j.finished) END) - julianday(min(j.started))) * 86400.0"
    "   FROM jobs j WHERE j.run_id = s.run_id AND j.started IS NOT NULL)"
    " FROM status s JOIN runs r ON r.id = s.run_id"
    " WHERE ?1 <= 0 OR s.run_id = ?1 ORDER BY s.run_id";

/* The settled items of each run by their result's status. */
static const char statuses_sql[] =
    "SELECT j.run_id, m.status, count(*) FROM jobs j"
    " JOIN measurements m ON m.id = j.measurement_id"
    " WHERE (?1 <= 0 OR j.run_id = ?1) AND j.state IN ('done', 'failed')"
    " GROUP BY j.run_id, m.status ORDER BY j.run_id";

static char *dup_col(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL
             ? NULL
             : strdup(pt__db_col_text(st, i));
}

static int read_run(sqlite3_stmt *st, pt_db_runs_row_t *r) {
  memset(r, 0, sizeof *r);
  r->id = sqlite3_column_int64(st, 0);
  r->state = dup_col(st, 1);
  r->command = dup_col(st, 2);
  r->host = dup_col(st, 3);
  r->started = dup_col(st, 4);
  r->finished = dup_col(st, 5);
  int64_t *counts[] = {&r->planned, &r->ready, &r->running, &r->done,
                       &r->failed, &r->infeasible, &r->ran};
  for (int i = 0; i < 7; i++) *counts[i] = sqlite3_column_int64(st, 6 + i);
  r->ran_s = r->ran > 0 ? sqlite3_column_double(st, 13) : 0.0;
  if (r->state == NULL || r->command == NULL || r->host == NULL ||
      r->started == NULL)
    return PT_ENOMEM;  /* the columns are NOT NULL: only strdup fails */
  return PT_OK;
}

/* Appends the rows of runs_sql to *runs. */
static int read_runs(pt_db_t *db, int64_t run_id, pt_db_runs_row_t **runs,
                     size_t *n) {
  sqlite3_stmt *st = NULL;
  size_t cap = 0;
  int src = SQLITE_DONE;
  int rc = pt__db_prepare(db, runs_sql, &st, "cannot read the runs");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, run_id);
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 8;
      pt_db_runs_row_t *more = realloc(*runs, cap * sizeof *more);
      if (more == NULL) rc = PT_ENOMEM;
      else *runs = more;
    }
    if (rc == PT_OK) rc = read_run(st, &(*runs)[(*n)++]);
  }
  if (rc == PT_ENOMEM) rc = pt_err_set(&db->err, PT_ENOMEM, "out of memory");
  else if (rc == PT_OK && src != SQLITE_DONE)
    rc = pt__db_fail(db, "cannot read the runs");
  sqlite3_finalize(st);
  return rc;
}

static pt_db_runs_row_t *find_run(pt_db_runs_row_t *runs, size_t n,
                                  int64_t id) {
  for (size_t i = 0; i < n; i++)
    if (runs[i].id == id) return &runs[i];
  return NULL;
}

static int read_statuses(pt_db_t *db, int64_t run_id, pt_db_runs_row_t *runs,
                         size_t n) {
  sqlite3_stmt *st = NULL;
  int src;
  int rc = pt__db_prepare(db, statuses_sql, &st, "cannot read the results");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, run_id);
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_runs_row_t *r = find_run(runs, n, sqlite3_column_int64(st, 0));
    pt_db_status_t s;
    if (r != NULL && pt_db_status_parse(pt__db_col_text(st, 1), &s) == 0)
      r->by_status[s] = sqlite3_column_int64(st, 2);
  }
  if (src != SQLITE_DONE) rc = pt__db_fail(db, "cannot read the results");
  sqlite3_finalize(st);
  return rc;
}

/* The first schema whose status view counts infeasible items apart. */
#define STATUS_SCHEMA 3

int pt_db_runs_list(pt_db_t *db, int64_t run_id, pt_db_runs_row_t **out,
                    size_t *n) {
  pt_db_runs_row_t *runs = NULL;
  size_t count = 0;
  *out = NULL;
  *n = 0;
  /* Readers take older files as they are, but the status view of schemas
   * before 3 counts infeasible items as failed. */
  if (db->version < STATUS_SCHEMA)
    return pt_err_set(&db->err, PT_ESCHEMA,
                      "'%s' has schema version %d; status needs %d: upgrade it with "
                      "'pipetune db init'", db->path, db->version, STATUS_SCHEMA);
  /* A deferred BEGIN: a read transaction, one snapshot for both reads. */
  int rc = pt__db_exec(db, "BEGIN", "cannot begin a transaction");
  if (rc != PT_OK) return rc;
  rc = read_runs(db, run_id, &runs, &count);
  if (rc == PT_OK) rc = read_statuses(db, run_id, runs, count);
  rc = pt__db_end(db, rc);
  if (rc != PT_OK) {
    pt_db_runs_free(runs, count);
    return rc;
  }
  *out = runs;
  *n = count;
  return PT_OK;
}

void pt_db_runs_free(pt_db_runs_row_t *runs, size_t n) {
  for (size_t i = 0; runs != NULL && i < n; i++) {
    free(runs[i].state);
    free(runs[i].command);
    free(runs[i].host);
    free(runs[i].started);
    free(runs[i].finished);
  }
  free(runs);
}

int pt_db_runs_failure(pt_db_status_t s) {
  return s != PT_DB_STATUS_OK && s != PT_DB_STATUS_INFEASIBLE &&
         (int)s >= 0 && s < PT_DB_STATUS_COUNT;
}

double pt_db_runs_rate(const pt_db_runs_row_t *r) {
  if (r->ran <= 0 || !(r->ran_s > 0)) return NAN;
  return (double)r->ran * 60.0 / r->ran_s;
}

double pt_db_runs_eta(const pt_db_runs_row_t *r) {
  double rate = pt_db_runs_rate(r);
  if (strcmp(r->state, "running") != 0 || isnan(rate)) return NAN;
  return (double)(r->ready + r->running) * 60.0 / rate;
}
