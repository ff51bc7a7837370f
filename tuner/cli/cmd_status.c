/* pipetune status: the runs of a database as a person follows them, also
 * while another process tunes into it: per run its state, times, progress
 * (items settled of planned: ok, failed, infeasible), rate, ETA while it
 * runs, failures so far by status, host and command. The file is opened
 * read-only (db/runs.h): the reader never blocks a tuner writing to it.
 * Exit 0; 2 for bad input (options, a missing or foreign database, an
 * unknown run); 1 when reading or writing fails. */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "builtin.h"
#include "db.h"
#include "opts.h"
#include "query.h"
#include "runs.h"

static const char usage_text[] =
    "pipetune status --db FILE [--run N] [--format table|csv|json]";

#define COLS_MAX 32

/* The columns: a terminal gets the ETA as h:mm:ss, CSV and JSON seconds. */
static int columns(int human, const char **cols) {
  static const char *const head[] = {"run", "state", "started", "finished", "done",
                                     "planned", "ok", "failed", "infeasible",
                                     "running", "ready", "per_min"};
  int n = 0;
  for (size_t i = 0; i < sizeof head / sizeof *head; i++) cols[n++] = head[i];
  cols[n++] = human ? "eta" : "eta_s";
  for (int s = 0; s < PT_DB_STATUS_COUNT; s++)
    if (pt_db_runs_failure((pt_db_status_t)s)) cols[n++] = pt_db_status_name((pt_db_status_t)s);
  cols[n++] = "host";
  cols[n++] = "command";
  return n;
}

static void eta_cell(pt_query_table_t *t, const pt_db_runs_row_t *r, int human) {
  double eta = pt_db_runs_eta(r);
  char buf[32];
  if (isnan(eta)) pt_query_table_str(t, NULL);
  else if (!human) pt_query_table_int(t, (long long)(eta + 0.5));
  else {
    pt_cli_duration(eta, buf, sizeof buf);
    pt_query_table_str(t, buf);
  }
}

static void run_row(pt_query_table_t *t, const pt_db_runs_row_t *r, int human) {
  pt_query_table_int(t, r->id);
  pt_query_table_str(t, r->state);
  pt_query_table_str(t, r->started);
  pt_query_table_str(t, r->finished);
  pt_query_table_int(t, r->done + r->failed + r->infeasible);
  const int64_t counts[] = {r->planned, r->done, r->failed, r->infeasible, r->running,
                            r->ready};
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
    pt_query_table_int(t, counts[i]);
  pt_query_table_num(t, pt_db_runs_rate(r), 1);
  eta_cell(t, r, human);
  for (int s = 0; s < PT_DB_STATUS_COUNT; s++)
    if (pt_db_runs_failure((pt_db_status_t)s)) pt_query_table_int(t, r->by_status[s]);
  pt_query_table_str(t, r->host);
  pt_query_table_str(t, r->command);
}

static int print_runs(const char *path, const pt_db_runs_row_t *runs, size_t n,
                      pt_query_format_t fmt) {
  const char *cols[COLS_MAX];
  int human = fmt == PT_QUERY_TABLE;
  pt_query_table_t *t = NULL;
  pt_err_t err;
  int rc = pt_query_table_new(cols, columns(human, cols), &t, &err);
  for (size_t i = 0; rc == PT_OK && i < n; i++) run_row(t, &runs[i], human);
  if (rc == PT_OK) rc = pt_query_table_print(t, fmt, stdout, &err);
  pt_query_table_free(t);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return 1;
  }
  if (n == 0 && human) fprintf(stderr, "no runs in '%s' yet\n", path);
  return 0;
}

/* Names what the database holds instead of the run asked for. */
static int no_such_run(pt_db_t *db, int run) {
  pt_db_runs_row_t *all = NULL;
  size_t n = 0;
  int rc = pt_db_runs_list(db, 0, &all, &n);
  if (rc == PT_OK && n > 0)
    pt_cli_error("no run %d in '%s' (it has %zu run%s, ids %lld to %lld)", run,
                 pt_db_path(db), n, n == 1 ? "" : "s", (long long)all[0].id,
                 (long long)all[n - 1].id);
  else
    pt_cli_error("no run %d in '%s' (it has no runs)", run, pt_db_path(db));
  pt_db_runs_free(all, n);
  return 2;
}

static int show(const char *path, int run, pt_query_format_t fmt) {
  pt_db_t *db = NULL;
  pt_db_runs_row_t *runs = NULL;
  size_t n = 0;
  pt_err_t err;
  int rc = pt_db_open(path, PT_DB_READONLY, &db, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return rc == PT_ENOENT ? 2 : pt_exit_status(rc);
  }
  rc = pt_db_runs_list(db, run, &runs, &n);
  int status;
  if (rc != PT_OK) {
    pt_cli_error("%s", pt_db_errmsg(db));
    status = pt_exit_status(rc);
  } else if (run > 0 && n == 0) status = no_such_run(db, run);
  else status = print_runs(path, runs, n, fmt);
  pt_db_runs_free(runs, n);
  pt_db_close(db);
  return status;
}

int cmd_status(int argc, const char **argv) {
  const char *db = NULL, *format = "table";
  int run = INT_MIN;  /* not given: every run */
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "db", &db, "FILE", "result database (read only, also while tuned)"),
      PT_OPT_INT(0, "run", &run, "N", "only run N"),
      PT_OPT_STRING(0, "format", &format, "FORMAT", "table (default), csv or json"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts, usage_text);
  if (argc < 0) return pt_opts_status(argc);
  if (argc > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  if (db == NULL) return pt_cli_error("missing --db FILE; usage: %s", usage_text);
  pt_query_format_t fmt;
  if (pt_query_format_parse(format, &fmt) != 0)
    return pt_cli_error("unknown format '%s' (expected table, csv or json)", format);
  if (run != INT_MIN && run < 1)
    return pt_cli_error("option --run: %d is not a run id", run);
  return show(db, run > 0 ? run : 0, fmt);
}
