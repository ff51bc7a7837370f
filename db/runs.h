/* The runs of a database as a person follows them (`pipetune status`): each
 * run's state and command, its plan's progress from the `status` view, its
 * settled items by result status, and how fast it goes.
 *
 * Read through any connection, a read-only one included: every run is read
 * in one read transaction (one snapshot), which in WAL mode never blocks a
 * tuner writing into the same file.
 */
#ifndef PT_DB_RUNS_H
#define PT_DB_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

typedef struct pt_db_runs_row_s {
  int64_t id;
  char *state;         /* running, done, interrupted, failed */
  char *command, *host;
  char *started;       /* UTC, ISO 8601 with milliseconds */
  char *finished;      /* NULL while running */
  /* The plan's items by state (the status view): planned = ready + running
   * + done + failed + infeasible. */
  int64_t planned, ready, running, done, failed, infeasible;
  /* Settled items (done, failed or infeasible) by their result's status. */
  int64_t by_status[PT_DB_STATUS_COUNT];
  /* Items this run settled itself (the others were in the database already)
   * and the seconds from its first claim to its last result, or to now
   * while it runs; 0 when it settled none. */
  int64_t ran;
  double ran_s;
} pt_db_runs_row_t;

/* The runs of db in id order, or only run_id when it is > 0, into *out (an
 * array of *n; free with pt_db_runs_free). No match gives *n = 0 and PT_OK.
 * The db module's errors otherwise (pt_db_errmsg). */
int pt_db_runs_list(pt_db_t *db, int64_t run_id, pt_db_runs_row_t **out,
                    size_t *n);
void pt_db_runs_free(pt_db_runs_row_t *runs, size_t n);

/* Whether a result of status s is a failure: every status but ok and
 * infeasible (the device cannot hold the variant: never run, no failure). */
int pt_db_runs_failure(pt_db_status_t s);

/* Items settled per minute by the run itself; NAN before it settled one. */
double pt_db_runs_rate(const pt_db_runs_row_t *r);
/* Seconds until a running run settles its ready and running items at its
 * rate so far; NAN when the run is not running or has no rate yet. */
double pt_db_runs_eta(const pt_db_runs_row_t *r);

#endif
