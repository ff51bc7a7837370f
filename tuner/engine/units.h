/* Compile units and the compile cache (DESIGN §7): the distinct compiles a
 * plan needs (a stage variant for a dtype and activation; the reduce kernel
 * of gemm2's reduce epilog), their feasibility on the target, and their
 * code. A unit whose compile key the DB already holds never reaches the
 * compiler; the others compile on libuv's thread pool, a few at a time, in
 * the plan's order of first use, and their results go to the cache.
 *
 * Lifecycle: pt_units_new (the units of a plan), pt_units_store (their
 * sources and variants recorded), pt_units_target (an arch and its limits: feasibility and cache
 * keys), pt_units_need (which units to settle), pt_units_start (look up or
 * compile them; hooks report each), pt_units_stop, pt_units_free.
 * Everything but the compiler calls runs on the loop thread.
 */
#ifndef PT_UNITS_H
#define PT_UNITS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "constraints.h"
#include "db.h"
#include "error.h"
#include "gpu.h"
#include "plan.h"

typedef struct pt_units_s pt_units_t;

/* Compiles one request (runs on a thread-pool thread). */
typedef int (*pt_units_compile_fn)(void *ud, const pt_gpu_compile_req_t *req,
                                   pt_gpu_code_t *out, pt_err_t *err);

/* A needed unit settled: compiled, failed, or found in the cache. */
typedef struct pt_units_event_s {
  const char *label;               /* "gemm1 a16w4 bm=16,...", "reduce kernel" */
  int cached, ok;
  const char *reason;              /* !ok: the compiler's first line */
  int settled, needed;             /* needed units settled so far, of all */
} pt_units_event_t;

typedef struct pt_units_opts_s {
  pt_db_t *db;
  uv_loop_t *loop;
  pt_units_compile_fn compile;     /* NULL: pt_gpu_compile */
  void *compile_ud;
  const char *compiler;            /* with compile: its name for cache keys */
  int jobs;                        /* compiles at once; <= 0: 4 */
  void (*settled)(void *ud, const pt_units_event_t *ev);
  /* A compile returned (settled or cancelled): items may be ready. */
  void (*returned)(void *ud);
  /* The DB or libuv failed: the caller should stop the set. */
  void (*failed)(void *ud, int rc, const char *msg);
  void *ud;
} pt_units_opts_t;

typedef struct pt_units_stats_s {
  int units;                       /* distinct compiles of the plan */
  int needed;                      /* to settle (pt_units_need) */
  int compiled, cached, failed;
  int infeasible;                  /* counted by pt_units_need */
  double wall_s;                   /* first compile start to last end */
} pt_units_stats_t;

/* Whether an item's unit (and the reduce kernel it needs) can run. */
typedef enum {
  PT_UNITS_WAIT = 0,               /* not settled yet */
  PT_UNITS_READY,                  /* compiled */
  PT_UNITS_SETTLED,                /* infeasible or compile_fail: no worker needed */
} pt_units_ready_t;

/* The units of plan's items; nothing is written (o and plan are kept: they
 * must outlive the set). */
int pt_units_new(const pt_units_opts_t *o, const pt_plan_t *plan, pt_units_t **out,
                 pt_err_t *err);
void pt_units_free(pt_units_t *s);
/* Records the units' sources and variants in o->db (the variant ids that
 * pt_units_variant_id returns come from here). */
int pt_units_store(pt_units_t *s, pt_err_t *err);

/* Compiles for arch: the compiler's version, each unit's source and cache
 * key, and which units lim makes infeasible (with the rule and its reason). */
int pt_units_target(pt_units_t *s, const char *arch, const pt_limits_t *lim,
                    pt_err_t *err);
/* Marks the units of the items not done (done NULL: every item) and the
 * reduce kernels they use as needed. Once, after pt_units_target. */
void pt_units_need(pt_units_t *s, const unsigned char *done);
/* Settles needed units, cached first then compiles, while fewer than
 * o->jobs run; called again by the set itself as compiles return. */
void pt_units_start(pt_units_t *s);
/* Starts nothing more and cancels queued compiles. */
void pt_units_stop(pt_units_t *s);
/* Whether compiles are in flight. */
int pt_units_busy(const pt_units_t *s);

int pt_units_of_item(const pt_units_t *s, size_t item);
int64_t pt_units_variant_id(const pt_units_t *s, int unit);
const char *pt_units_spec(const pt_units_t *s, int unit);
/* For a settled unit: *status infeasible or compile_fail and *why. */
pt_units_ready_t pt_units_ready(const pt_units_t *s, int unit, pt_db_status_t *status,
                                const char **why);
/* Sets the provenance of a result of unit: compiler, source hash, compile
 * key (NULL for an infeasible unit). Valid while the set lives. */
void pt_units_stamp(const pt_units_t *s, int unit, pt_db_measurement_t *m);
/* The cached code of a ready unit and of its reduce kernel (reduce left
 * zeroed when it needs none); free both with pt_db_code_free. */
int pt_units_code(const pt_units_t *s, int unit, pt_db_code_t *code,
                  pt_db_code_t *reduce, pt_err_t *err);
void pt_units_stats(const pt_units_t *s, pt_units_stats_t *st);

#endif
