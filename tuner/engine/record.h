/* A tuning run in the database (DESIGN §7): the plan's problems and items
 * as DB ids, the run and its jobs, and each result filed in one transaction
 * with its job. The supervisor is the DB's only writer and this is how it
 * writes a run.
 *
 * Lifecycle: pt_record_new, pt_record_store (problems recorded, items
 * indexed), pt_record_measured (what a resumed run skips), pt_record_begin (the run
 * and its jobs), then pt_record_claim and pt_record_finish for each item,
 * and pt_record_end (claimed jobs requeued, the run's status).
 */
#ifndef PT_RECORD_H
#define PT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "error.h"
#include "plan.h"
#include "proto.h"
#include "routing.h"

typedef struct pt_record_s pt_record_t;

typedef struct pt_record_opts_s {
  pt_db_t *db;
  const pt_plan_t *plan;
  const pt_routing_t *routing;     /* the inputs of every problem */
  uint64_t seed;
  pt_db_regime_t regime;           /* of every job and result */
  int holdout;                     /* every result is a held-out point */
  int64_t retune_of;               /* -1: not a retune; 0: a new retune; else
                                      the run that began the retune continued */
  int64_t since_run;               /* pt_record_measured: results of this run
                                      or later count (0: any run) */
} pt_record_opts_t;

/* A record of o's plan; nothing is written yet. o is copied; its plan must
 * outlive r. */
int pt_record_new(const pt_record_opts_t *o, pt_record_t **out, pt_err_t *err);
void pt_record_free(pt_record_t *r);
/* Records the plan's problems and indexes its items by (problem, variant)
 * ids; variant_ids[i] is item i's variant. */
int pt_record_store(pt_record_t *r, const int64_t *variant_ids, pt_err_t *err);

/* Sets done[i] for the items already measured on arch in the regime, in
 * any run and whatever the status; *n of them were not set before. */
int pt_record_measured(pt_record_t *r, const char *arch, unsigned char *done,
                       size_t *n, pt_err_t *err);
/* Makes the run a retune: of > 0 continues the retune begun by run of, 0
 * begins one; results of runs before since_run do not count as measured. */
void pt_record_retune(pt_record_t *r, int64_t of, int64_t since_run);
/* The run that began this run's retune once it began; 0 when no retune. */
int64_t pt_record_retune_of(const pt_record_t *r);
/* Starts the run (*run_id as soon as it exists) and adds a job per item;
 * *ready: the jobs not already done. */
int pt_record_begin(pt_record_t *r, const char *host, const char *command,
                    const char *arch, int64_t *run_id, size_t *ready, pt_err_t *err);
/* Claims the next ready job for device_id; *item is its plan item.
 * PT_ENOENT (err untouched) when none is left; PT_EDB when the job is not
 * in the plan. */
int pt_record_claim(pt_record_t *r, int64_t device_id, pt_db_job_t *job, int *item,
                    pt_err_t *err);
/* Fills m's status, statistics and reason from a worker's result. A status
 * a worker may not report (it never compiles) becomes a crash, its reason
 * written to why. */
void pt_record_from_result(pt_db_measurement_t *m, const pt_proto_result_t *res,
                           char *why, size_t len);
/* Files m (status, statistics, reason and provenance set by the caller) as
 * job's result from device_id and closes the job, in one transaction. A
 * result the DB refuses (an impossible statistic) is filed as a crash with
 * the DB's reason instead: m then says what was filed (its reason valid
 * until the next call on r). */
int pt_record_finish(pt_record_t *r, const pt_db_job_t *job, int64_t device_id,
                     pt_db_measurement_t *m, pt_err_t *err);
/* ---- a plan of pairs (plan->pairs): no jobs, claims kept in memory ---- */

/* Sets done[2k] and done[2k + 1] for each pair k already timed on arch in
 * the regime, in any run and whatever the status; *n pairs were not set. */
int pt_record_pairs_measured(pt_record_t *r, const char *arch, unsigned char *done,
                             size_t *n, pt_err_t *err);
/* Starts the run (*run_id) of a pair plan whose pairs not done[] are to be
 * timed (*ready of them); done is copied. */
int pt_record_begin_pairs(pt_record_t *r, const char *host, const char *command,
                          const unsigned char *done, int64_t *run_id, size_t *ready,
                          pt_err_t *err);
/* Claims the next pair to time, in plan order: *item its gemm1 item (2k),
 * job->id k + 1. PT_ENOENT when none is left. A claimed pair stays claimed:
 * a kill loses it and the next --resume times it again. */
int pt_record_claim_pair(pt_record_t *r, pt_db_job_t *job, int *item);
/* Files p (status, statistics, reason and provenance set by the caller) as
 * the result of the pair of item from device_id, in one transaction; a
 * result the DB refuses is filed as a crash with the DB's reason. */
int pt_record_pair_finish(pt_record_t *r, int item, int64_t device_id, pt_db_pair_t *p,
                          pt_err_t *err);
/* Puts the jobs still claimed back to ready and sets the run's status;
 * nothing when no run began. */
int pt_record_end(pt_record_t *r, pt_db_run_status_t status, pt_err_t *err);

#endif
