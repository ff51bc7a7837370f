/* The tuning supervisor (DESIGN §7): a libuv loop that compiles the plan's
 * variants on the thread pool (the DB's compile cache skips the compiler:
 * units.h), spawns one worker process per GPU (pool.h), feeds them items
 * over JSON lines and records every result, one transaction each
 * (record.h). It is the only DB writer.
 *
 * Lifecycle of a run:
 *   1. spawn the workers; each says hello with its device's properties
 *   2. record devices, problems, variants and the run; plan its jobs (items
 *      already measured are refused, or skipped with resume)
 *   3. compile in plan order, claim jobs in plan order, send each to an idle
 *      worker once its code is ready; infeasible and compile_fail items are
 *      recorded without a worker
 *   4. a worker that dies is restarted and its item recorded as crash; one
 *      silent past the item timeout is killed and its item recorded as timeout
 *   5. SIGINT/SIGTERM (handle_signals) or the budget: no new items, in-flight
 *      ones finish, workers exit, the run is marked interrupted; a second
 *      signal kills the workers and puts their items back
 * With no GPUs (ngpus 0) it only compile-checks the plan for opts->arch.
 * A plan of pairs (plan->pairs) times each pair as one item on one worker
 * (the same pool, restarts and timeouts); its results go to the pair table,
 * it plans no jobs, and its GPUs must be of opts->arch (the table's) when
 * that is set.
 *
 * The caller ignores SIGPIPE (a worker may die while being written to).
 * Progress and messages go to opts->on_event: the library never prints.
 */
#ifndef PT_SUPERVISOR_H
#define PT_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "error.h"
#include "gpu.h"
#include "plan.h"
#include "units.h"

typedef enum {
  PT_SUP_EV_LOG = 1,     /* msg: a line worth showing (worker stderr, restarts) */
  PT_SUP_EV_COMPILED,    /* a compile unit finished (or came from the cache) */
  PT_SUP_EV_RESULT,      /* an item's result was recorded */
} pt_sup_event_type_t;

typedef struct pt_sup_event_s {
  pt_sup_event_type_t type;
  const char *msg;                 /* LOG; COMPILED and RESULT: the reason, or NULL */
  int gpu;                         /* LOG from a worker, RESULT: its GPU; else -1 */
  /* COMPILED */
  const char *spec;                /* COMPILED, RESULT: the variant's spec */
  int cached, compile_ok;
  int compiled, compile_total;     /* units done / to do */
  /* RESULT */
  const pt_plan_problem_t *problem;
  pt_stage_t stage;
  const char *status;              /* "ok", "crash", ... */
  double median_us;                /* NAN unless ok */
  double best_us;                  /* best ok median of this problem and stage */
  const char *best_spec;           /* NULL while none is ok */
  size_t done, total;              /* items finished in this run / to do */
  double elapsed_s;                /* RESULT: since the first item was sent;
                                      COMPILED: since compiling started */
  int pair;                        /* RESULT of a pair plan: spec is gemm1's */
  const char *spec2;               /* ... and spec2 gemm2's */
} pt_sup_event_t;

typedef void (*pt_sup_event_fn)(void *ud, const pt_sup_event_t *ev);

/* Compiles one request (runs on a thread-pool thread). */
typedef pt_units_compile_fn pt_sup_compile_fn;

typedef struct pt_sup_opts_s {
  pt_db_t *db;
  const pt_plan_t *plan;
  const int *gpus;                 /* GPU ordinals, one worker each */
  int ngpus;                       /* 0: compile-check only */
  const char *const *worker_argv;  /* NULL-terminated; "--gpu N" is appended */
  const char *arch;                /* compile-check only: the target */
  const char *host;                /* recorded with devices and the run */
  const char *command;             /* recorded with the run */
  const char *routing;             /* routing.h spelling; NULL: "uniform" */
  uint64_t seed;                   /* of every problem's inputs */
  int warm;                        /* warm L2 instead of cold */
  int min_samples;                 /* timing rules; 0: measure.h defaults */
  double min_ms;                   /* negative: measure.h default */
  int resume;                      /* skip items already in the DB */
  int holdout;                     /* results are held-out points (schema 4) */
  int retune;                      /* measure the plan again, keeping history:
                                      only results since the retune began count;
                                      with resume, the newest retune goes on */
  int64_t retune_of;               /* retune: > 0 continues the retune begun
                                      by that run (tune --holdout's second plan) */
  int jobs;                        /* compiles at once; <= 0: 4 */
  double budget_s;                 /* stop starting items after this; 0: none */
  double item_timeout_s;           /* from an item's "begin"; <= 0: 60 */
  double setup_timeout_s;          /* to hello, and item sent to "begin"; <= 0: 600 */
  int handle_signals;              /* SIGINT/SIGTERM stop the run cleanly */
  pt_sup_compile_fn compile;       /* NULL: pt_gpu_compile */
  void *compile_ud;
  const char *compiler;            /* with compile: its name for cache keys */
  pt_sup_event_fn on_event;        /* may be NULL */
  void *event_ud;
} pt_sup_opts_t;

typedef enum {
  PT_SUP_FINISHED = 0,             /* every planned item has a result */
  PT_SUP_INTERRUPTED,              /* a signal stopped it */
  PT_SUP_BUDGET,                   /* the budget ran out */
} pt_sup_end_t;

typedef struct pt_sup_summary_s {
  pt_sup_end_t end;
  int64_t run_id;                  /* 0 when compile-checking */
  int64_t retune_of;               /* retune: the run that began it */
  char arch[32];
  size_t planned;                  /* items of the plan */
  size_t skipped;                  /* already in the DB (resume) */
  size_t done;                     /* results recorded by this run */
  size_t by_status[PT_DB_STATUS_COUNT];
  int units;                       /* distinct compiles the plan needs */
  int compiled, cached, compile_failed, infeasible;
  double compile_wall_s;           /* first compile start to last end */
  double wall_s;
  int restarts;                    /* worker restarts */
} pt_sup_summary_t;

/* Runs the plan to the end (or until stopped) and fills *sum. Returns PT_OK
 * also when interrupted or out of budget (sum->end says which); PT_EINVAL
 * when the DB already holds results for the plan and neither resume nor
 * retune, or the GPUs
 * differ in arch; PT_ENOGPU when no worker could open its GPU; other codes
 * for DB or process failures. err says why. */
int pt_sup_run(const pt_sup_opts_t *opts, pt_sup_summary_t *sum, pt_err_t *err);

#endif
