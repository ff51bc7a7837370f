/* The regret of a database's table at held-out token counts, printed the
 * one way `pipetune query regret` and `pipetune tune --holdout` print it
 * (emit/regret.h computes it). */
#ifndef PT_REGRETOUT_H
#define PT_REGRETOUT_H

#include "query.h"

typedef struct pt_regretout_req_s {
  const char *tuned, *held;      /* database paths (may be the same file) */
  pt_query_filter_t f;           /* the selection; routing parsed */
  pt_query_format_t fmt;
  double max_regret_pct;         /* exit 1 above it; < 0: no limit */
} pt_regretout_req_t;

/* Loads both sets (the tuned one without held-out results, the held one
 * with them), prints the table to stdout and a summary line to stderr.
 * Returns the exit status: 0, 1 above the limit or on a runtime failure,
 * 2 on bad input (one error line). */
int pt_regretout_run(const pt_regretout_req_t *req);

#endif
