/* The regret of a table, printed (see regretout.h). */
#include "regretout.h"

#include <stdio.h>

#include "opts.h"
#include "regret.h"

static int load(const char *path, const pt_query_filter_t *f, pt_query_set_t **out) {
  pt_err_t err;
  int rc = pt_query_load(path, f, out, &err);
  if (rc == PT_OK) return 0;
  pt_cli_error("%s", err.msg);
  return rc == PT_ENOENT ? 2 : pt_exit_status(rc);
}

static int report(const pt_regretout_req_t *q, const pt_query_table_t *t,
                  const pt_regret_stats_t *st) {
  pt_err_t err;
  if (pt_query_table_print(t, q->fmt, stdout, &err) != PT_OK) {
    pt_cli_error("%s", err.msg);
    return 1;
  }
  fprintf(stderr, "regret: %zu of %zu held-out points compared (the others: the "
                  "table's pick not measured or not ok there), worst %.3f%%",
          st->compared, st->points, st->worst_pct);
  if (q->max_regret_pct >= 0 && st->worst_pct > q->max_regret_pct) {
    fprintf(stderr, ", above --max-regret %g%%\n", q->max_regret_pct);
    return 1;
  }
  fputc('\n', stderr);
  return 0;
}

int pt_regretout_run(const pt_regretout_req_t *q) {
  pt_query_set_t *tuned = NULL, *held = NULL;
  pt_query_filter_t ft = q->f, fh = q->f;
  ft.with_holdout = 0;
  fh.with_holdout = 1;
  int status = load(q->tuned, &ft, &tuned);
  if (status == 0) status = load(q->held, &fh, &held);
  pt_query_table_t *t = NULL;
  pt_regret_stats_t st;
  pt_err_t err;
  int rc = status == 0 ? pt_regret_table(tuned, held, &t, &st, &err) : PT_OK;
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    status = rc == PT_ENOENT ? 2 : pt_exit_status(rc);
  } else if (status == 0) {
    status = report(q, t, &st);
  }
  pt_query_table_free(t);
  pt_query_free(tuned);
  pt_query_free(held);
  return status;
}
