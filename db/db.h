/* The pipetune database: a versioned SQLite schema (db/schema.sql) and the
 * access layer the tuner, the emitter and the CLI go through (DESIGN 6.4, 7).
 *
 * A pt_db_t is one connection in WAL mode with foreign keys on and a busy
 * timeout. Like sqlite3, the handle keeps the code and message of its last
 * failure: every call returns PT_OK or a negative PT_E* code and fills
 * pt_db_errmsg(db). Bad input (a non-database file, a damaged or tampered
 * one, a newer schema, a value a table's CHECK or foreign key refuses, a
 * value read back out of range) is PT_EINVAL or PT_ESCHEMA; other SQLite
 * failures are PT_EDB (PT_EIO for i/o, PT_ENOMEM). Each writing call is one
 * transaction: a crash between calls loses nothing already returned.
 *
 * Strings passed in are copied; rows handed to callbacks live until the
 * callback returns. A callback returning non-zero stops the walk, and the
 * walk returns that value.
 */
#ifndef PT_DB_H
#define PT_DB_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gpu.h"
#include "knobs.h"

typedef struct pt_db_s pt_db_t;

/* ---- hashes (XXH3-128, as 32 lowercase hex digits) ---- */

#define PT_DB_HASH_HEX 33 /* 32 hex digits and the NUL */

/* Hex XXH3-128 of len bytes, in xxHash's canonical (big-endian) order. */
void pt_db_hash(const void *data, size_t len, char out[PT_DB_HASH_HEX]);

/* ---- opening ---- */

typedef enum {
  PT_DB_CREATE = 0,    /* create when missing; bring an older schema up to date */
  PT_DB_EXISTING = 1,  /* must exist (PT_ENOENT); bring an older schema up to date */
  PT_DB_READONLY = 2,  /* must exist; any schema version up to this build's;
                          never writes: every reader opens this way */
} pt_db_mode_t;

/* The schema version this build creates and reads. */
int pt_db_schema_version(void);

/* Opens path (a file name, never a URI). Refuses, without changing a byte
 * of the file: a file that is not a SQLite database or is another program's
 * database, or whose schema objects are not exactly those of its schema
 * version (a tampered or damaged schema: PT_EINVAL, as `db check` says); a
 * schema newer than this build's (PT_ESCHEMA: "'x.db' has schema version 7;
 * this pipetune supports up to 2"). On failure *out is NULL and err says
 * why. An empty file counts as a new database. A writing handle on a
 * current file touches it only at its first write, so a caller that checks
 * and refuses before writing leaves the file byte-identical. */
int pt_db_open(const char *path, pt_db_mode_t mode, pt_db_t **out,
               pt_err_t *err);

/* A transaction of the caller's: the calls between begin and end are
 * applied together or not at all (a refusal found inside leaves the file
 * byte-identical). Only single-statement calls may run inside (the puts,
 * the reads), not those that open their own transaction (jobs, merge).
 * end commits when rc is PT_OK and rolls back otherwise; it returns rc or
 * the commit's failure. */
int pt_db_begin(pt_db_t *db);
int pt_db_end(pt_db_t *db, int rc);
/* Closes the connection (NULL is a no-op). */
void pt_db_close(pt_db_t *db);

const char *pt_db_path(const pt_db_t *db);
int pt_db_errcode(const pt_db_t *db);
const char *pt_db_errmsg(const pt_db_t *db);

/* ---- runs and devices ---- */

typedef enum {
  PT_DB_RUN_RUNNING = 0,
  PT_DB_RUN_DONE,
  PT_DB_RUN_INTERRUPTED,
  PT_DB_RUN_FAILED,
} pt_db_run_status_t;

/* Starts a run (status running, started now, a fresh random uuid, this
 * build's version). */
int pt_db_run_begin(pt_db_t *db, const char *host, const char *command,
                    int64_t *run_id /* OUT */);
/* Sets the run's final status and finished time. */
int pt_db_run_finish(pt_db_t *db, int64_t run_id, pt_db_run_status_t status);

/* Marks run_id a run of `tune --retune` that continues the retune begun by
 * run retune_of (run_id itself for a new retune): only results of that run
 * or later count as measured for its plan (pt_db_jobs_add, pt_db_done). */
int pt_db_run_set_retune(pt_db_t *db, int64_t run_id, int64_t retune_of);
/* The run that began the newest retune (runs.retune of the newest run that
 * has one): PT_OK and *retune_of, or PT_ENOENT when no run was a retune. */
int pt_db_retune_latest(pt_db_t *db, int64_t *retune_of /* OUT */);

/* A run still marked running. dead: it was recorded on this machine and its
 * process is gone (db/README.md "Dead runs"); 0 when it is alive or runs on
 * another host (which cannot be told from here). */
typedef struct pt_db_run_info_s {
  int64_t id;
  const char *host, *started, *command;
  int64_t pid;  /* -1 when not recorded (before schema version 2) */
  int dead;
} pt_db_run_info_t;
typedef int (*pt_db_run_cb)(void *ud, const pt_db_run_info_t *run);

/* Walks the runs marked running, by id; host is this machine's name. */
int pt_db_runs_running(pt_db_t *db, const char *host, pt_db_run_cb cb,
                       void *ud);
/* Leaves every dead run (pt_db_runs_running) as an interrupted run leaves
 * itself: status interrupted, finished now, its claimed items back to
 * ready; one transaction, and no write when none is dead. *n (may be NULL)
 * gets how many runs. */
int pt_db_runs_reap(pt_db_t *db, const char *host, int *n);

/* Records a device seen on host (found again by host, backend, PCI bus id,
 * name, arch and driver) and returns its id. */
int pt_db_put_device(pt_db_t *db, const char *host, const pt_gpu_props_t *props,
                     int64_t *device_id /* OUT */);

/* ---- sources, variants, problems ---- */

/* Stores a kernel source under its hash (pt_db_hash of the text) and returns
 * the hash. The hash must cover everything the compile includes: hash the
 * concatenation when the kernel pulls in headers. */
int pt_db_put_source(pt_db_t *db, const char *name, const char *text,
                     size_t len, char hash[PT_DB_HASH_HEX] /* OUT */);

/* Records variant v under its canonical spec (pt_knobs_format of v; found
 * again by stage and spec) and returns its id. Every knob of the table goes
 * to its column (pt_knob_t.column): the value, or the symbol of a symbolic
 * knob; NULL where v's stage does not tune it. */
int pt_db_put_variant(pt_db_t *db, const pt_variant_t *v, const char *spec,
                      int64_t *variant_id /* OUT */);

typedef struct pt_db_problem_s {
  const char *family;
  int model_dim, inter_dim, experts, topk;
  const char *dtype;     /* pt_dtype_name(): "a4w4", "a8w4", "a16w4" */
  const char *act;       /* pt_act_name(): "silu", "swiglu_oai" */
  int tokens;
  const char *routing;   /* "uniform" or "zipf" */
  double routing_param;  /* zipf exponent; 0 for uniform */
  int64_t seed;
} pt_db_problem_t;

/* Records a problem (found again by all its fields) and returns its id. */
int pt_db_put_problem(pt_db_t *db, const pt_db_problem_t *p,
                      int64_t *problem_id /* OUT */);

/* ---- compile cache ---- */

/* What a code object depends on. Defines ("NAME=VALUE") and options are
 * hashed in the order given. */
typedef struct pt_db_compile_key_s {
  const char *source_hash;  /* pt_db_put_source() */
  const char *arch;         /* "sm_90", "gfx942" */
  const char *compiler;     /* pt_gpu_compiler_version(): "nvrtc 13.0" */
  const char *const *defines;
  int ndefines;
  const char *const *options;
  int noptions;
} pt_db_compile_key_t;

/* Hex XXH3-128 over every field of k: the compile cache's key. */
int pt_db_compile_key(const pt_db_compile_key_t *k, char out[PT_DB_HASH_HEX],
                      pt_err_t *err);

/* A cached compile: the code object or, when !ok, the failure's log. */
typedef struct pt_db_code_s {
  int ok;             /* 1 compiled, 0 compile_fail */
  void *data;         /* code object (NULL when !ok) */
  size_t size;
  char *log;          /* compiler log, never NULL from pt_db_compile_get */
  double compile_ms;
  int regs;           /* -1 where not reported */
  int spill_bytes;
  int smem_static;
} pt_db_code_t;

/* Stores a compile result under the key of k, replacing an earlier result
 * for the same key. variant_id is 0 when not tied to a variant. */
int pt_db_compile_put(pt_db_t *db, const pt_db_compile_key_t *k,
                      int64_t variant_id, const pt_db_code_t *code);
/* Finds the result for k: PT_OK with *out filled (free it with
 * pt_db_code_free), or PT_ENOENT when not cached. */
int pt_db_compile_get(pt_db_t *db, const pt_db_compile_key_t *k,
                      pt_db_code_t *out /* OUT */);
void pt_db_code_free(pt_db_code_t *code);

/* ---- measurements ---- */

typedef enum {
  PT_DB_REGIME_COLD = 0,  /* L2 flushed between launches (the default) */
  PT_DB_REGIME_WARM = 1,
} pt_db_regime_t;

typedef enum {
  PT_DB_STATUS_OK = 0,
  PT_DB_STATUS_VERIFY_FAIL,
  PT_DB_STATUS_COMPILE_FAIL,
  PT_DB_STATUS_INFEASIBLE,
  PT_DB_STATUS_LAUNCH_FAIL,
  PT_DB_STATUS_TIMEOUT,
  PT_DB_STATUS_CRASH,
  PT_DB_STATUS_COUNT
} pt_db_status_t;

/* Spellings used in the database and on the worker protocol ("cold",
 * "verify_fail", ...); parse returns 0 and sets *out, or -1 if unknown. */
const char *pt_db_regime_name(pt_db_regime_t r);
const char *pt_db_status_name(pt_db_status_t s);
int pt_db_regime_parse(const char *s, pt_db_regime_t *out);
int pt_db_status_parse(const char *s, pt_db_status_t *out);

/* One result. Doubles that do not apply are NAN, ints -1, strings NULL; an
 * ok result needs samples > 0 and 0 < min_us <= median_us <= p90_us. The
 * backend comes from the device and the tool version from this build. */
typedef struct pt_db_measurement_s {
  int64_t run_id, device_id, problem_id, variant_id;
  pt_db_regime_t regime;
  pt_db_status_t status;
  double median_us, min_us, p90_us;
  double spread;        /* median absolute deviation / median */
  int samples;
  double floor_us;      /* max(bytes / copy bandwidth, flops / matrix rate) */
  double err_max_abs, err_mean_abs, err_max_rel;
  int sm_clock_mhz, temp_c;
  const char *reason;   /* why it is not ok */
  const char *compiler;
  const char *source_hash;
  const char *compile_key;  /* NULL when not from the compile cache */
  int holdout;              /* 1: a held-out point (tune --holdout), never a
                               table's winner; 0: a grid point */
} pt_db_measurement_t;

/* Sets every field of m to "not applicable" (NAN, -1, NULL, zero ids). */
void pt_db_measurement_init(pt_db_measurement_t *m);

/* Records a result in one transaction. A result for the same device,
 * problem, variant and regime is replaced in place (same id), so re-running
 * an item never duplicates it; the replaced result of another run is kept
 * in measurement_history (schema version 4), so runs can be compared. */
int pt_db_put_measurement(pt_db_t *db, const pt_db_measurement_t *m,
                          int64_t *measurement_id /* OUT, may be NULL */);

/* ---- the tuner's plan ---- */

typedef struct pt_db_job_s {
  int64_t id, run_id, problem_id, variant_id;
  pt_db_regime_t regime;
  char arch[32];
} pt_db_job_t;

/* Adds n items of run_id's plan in one transaction (id and run_id of each
 * item are ignored). Items already planned in the run are left as they are;
 * an item already measured on a device of its arch (any run; for a retune
 * run, a run since the retune began) is added as done or failed with that
 * measurement, so a resumed plan skips it. On
 * return *ready (may be NULL) holds how many of the run's items are ready. */
int pt_db_jobs_add(pt_db_t *db, int64_t run_id, const pt_db_job_t *items,
                   size_t n, size_t *ready /* OUT */);
/* Claims the next ready item of run_id for device_id (of the item's arch),
 * in plan order: PT_OK and *job, or PT_ENOENT when none is left. */
int pt_db_job_claim(pt_db_t *db, int64_t run_id, int64_t device_id,
                    pt_db_job_t *job /* OUT */);
/* Records the result of a claimed item and closes it (done if ok, failed
 * otherwise) in one transaction. m must name the job's device, problem,
 * variant and regime (PT_EINVAL otherwise). */
int pt_db_job_finish(pt_db_t *db, int64_t job_id, const pt_db_measurement_t *m,
                     int64_t *measurement_id /* OUT, may be NULL */);
/* Puts the run's claimed but unfinished items back to ready (after a crash
 * of the supervisor); *n (may be NULL) gets how many. */
int pt_db_jobs_requeue(pt_db_t *db, int64_t run_id, int *n /* OUT */);

/* Items measured on some device of arch, in run since_run or later (0: any
 * run), whatever the status. */
typedef int (*pt_db_done_cb)(void *ud, int64_t problem_id, int64_t variant_id,
                             pt_db_regime_t regime, pt_db_status_t status);
int pt_db_done(pt_db_t *db, const char *arch, int64_t since_run, pt_db_done_cb cb,
               void *ud);

/* One measurement by the natural keys of its device, problem and variant:
 * what `plan check` matches against a plan. */
typedef struct pt_db_result_key_s {
  int64_t run_id;
  const char *host, *device, *arch;
  pt_db_problem_t problem;
  const char *stage, *spec;
  pt_db_regime_t regime;
  pt_db_status_t status;
} pt_db_result_key_t;

/* Every measurement of every arch, in id order. */
typedef int (*pt_db_result_key_cb)(void *ud, const pt_db_result_key_t *row);
int pt_db_result_keys(pt_db_t *db, pt_db_result_key_cb cb, void *ud);

/* ---- queries ---- */

/* Restricts a query; NULL fields match everything. device (a device model,
 * devices.name) restricts pt_db_results only: the views rank per arch.
 * Held-out results (pt_db_measurement_t.holdout) are left out unless
 * with_holdout. */
typedef struct pt_db_filter_s {
  const char *arch, *family, *dtype, *stage, *regime;
  const char *device;
  int with_holdout;
} pt_db_filter_t;

typedef struct pt_db_best_s {
  const char *arch, *family;
  int model_dim, inter_dim, experts, topk;
  const char *dtype, *act;
  int tokens;
  const char *routing;
  double routing_param;
  const char *stage, *regime, *spec;
  int64_t variant_id, measurement_id;
  double median_us, min_us, p90_us;
  int samples;
} pt_db_best_t;

/* Rows of the best view, ordered by arch, family, dtype, stage, routing,
 * regime, tokens. f may be NULL. */
typedef int (*pt_db_best_cb)(void *ud, const pt_db_best_t *row);
int pt_db_best(pt_db_t *db, const pt_db_filter_t *f, pt_db_best_cb cb,
               void *ud);

typedef struct pt_db_crossover_s {
  const char *arch, *family, *dtype, *stage, *routing, *regime;
  double routing_param;
  int tokens_lo, tokens_hi;
  const char *winner_lo, *winner_hi;
  double median_lo_us, median_hi_us;
} pt_db_crossover_t;

/* Rows of the crossovers view, in the order of pt_db_best. */
typedef int (*pt_db_crossover_cb)(void *ud, const pt_db_crossover_t *row);
int pt_db_crossovers(pt_db_t *db, const pt_db_filter_t *f,
                     pt_db_crossover_cb cb, void *ud);

/* ---- reading results back ---- */

/* One row of the results view as every reader sees it. Each value is
 * checked on the way out: names present and known (dtype, act, stage,
 * regime, status, routing), shape and token counts integers in range
 * (tokens 1 to INT_MAX; dims positive multiples of 64; 1 <= topk <=
 * experts), an ok result with finite times 0 < min <= median <= p90 and
 * samples >= 1, spread and floor NULL or finite >= 0. */
typedef struct pt_db_result_s {
  int64_t measurement_id, device_id, problem_id, variant_id;
  const char *arch, *device, *family, *dtype, *act, *stage, *spec;
  int model_dim, inter_dim, experts, topk, tokens;
  const char *routing;
  double routing_param;
  const char *regime, *status;
  const char *reason;                        /* NULL when none */
  double median_us, min_us, p90_us, spread;  /* NaN unless ok (spread: or unknown) */
  int samples;                               /* -1 unless ok */
  double floor_us;                           /* NaN when unknown */
  const char *created, *tool_version;
} pt_db_result_t;
typedef int (*pt_db_result_cb)(void *ud, const pt_db_result_t *row);

/* Walks the results matching f (may be NULL) and, when routing is not
 * NULL, that routing and parameter, ordered by arch, family, model_dim,
 * inter_dim, experts, topk, dtype, act, stage, tokens, spec, device and
 * measurement id. A row that fails the checks is bad input: PT_EINVAL
 * naming its row and value ("'x.db': problem 3 has tokens 0.5 (expected an
 * integer from 1 to 2147483647)"); pt_db_check checks every row so. */
int pt_db_results(pt_db_t *db, const pt_db_filter_t *f, const char *routing,
                  double routing_param, pt_db_result_cb cb, void *ud);

/* One item measured by two runs (schema version 4: the run_results view,
 * current results and the history a retune keeps). Times NaN unless ok. */
typedef struct pt_db_run_pair_s {
  const char *arch, *device, *family, *dtype, *stage, *spec, *regime;
  int tokens;
  const char *status_a, *status_b;
  double median_a_us, median_b_us;
} pt_db_run_pair_t;
typedef int (*pt_db_run_pair_cb)(void *ud, const pt_db_run_pair_t *row);

/* Walks the items (device model and arch, problem, variant, regime) that
 * runs a and b both measured, matching f (may be NULL; held-out results included), by
 * arch, family, dtype, stage, tokens, spec and device. a or b 0: the newest
 * run with results for b, and the newest earlier run sharing an item with
 * it for a; *a and *b get the runs used. PT_EINVAL for a file older than
 * schema version 4 (no history) or a run with no results. */
int pt_db_run_pairs(pt_db_t *db, const pt_db_filter_t *f, int64_t *a, int64_t *b,
                    pt_db_run_pair_cb cb, void *ud);

/* What a selection can name: the distinct archs, families, dtypes or
 * device names that have at least one result, sorted. */
typedef enum {
  PT_DB_HELD_ARCH = 0,
  PT_DB_HELD_FAMILY,
  PT_DB_HELD_DTYPE,
  PT_DB_HELD_DEVICE,
} pt_db_held_t;
typedef int (*pt_db_text_cb)(void *ud, const char *value);
int pt_db_held(pt_db_t *db, pt_db_held_t what, pt_db_text_cb cb, void *ud);

/* ---- the deployed pair (schema version 5) ---- */

/* The version that added pair_measurements and the pair_results view: an
 * older file opened read-only holds no pair. */
#define PT_DB_PAIRS_VERSION 5

/* One timing of a table's (gemm1, gemm2) pair as it ships: one sort with
 * sbm = max(bm1, bm2), gemm1 then gemm2 on its output. Fields as in
 * pt_db_measurement_t; the backend comes from the device. */
typedef struct pt_db_pair_s {
  int64_t run_id, device_id, problem_id, g1_variant_id, g2_variant_id;
  int sbm;
  pt_db_regime_t regime;
  pt_db_status_t status;
  double median_us, min_us, p90_us, spread;
  int samples;
  double err_max_rel;   /* relative L2 of out against the oracle */
  int sm_clock_mhz, temp_c;
  const char *reason, *compiler, *g1_source_hash, *g2_source_hash;
} pt_db_pair_t;

/* Sets every field of p to "not applicable" (NAN, -1, NULL, zero ids). */
void pt_db_pair_init(pt_db_pair_t *p);
/* Records a pair result in one transaction; one for the same device,
 * problem, variants and regime is replaced in place. */
int pt_db_put_pair(pt_db_t *db, const pt_db_pair_t *p, int64_t *pair_id /* OUT, may be NULL */);
/* Pairs timed on some device of arch, in any run, whatever the status. */
typedef int (*pt_db_pair_done_cb)(void *ud, int64_t problem_id, int64_t g1_variant_id,
                                  int64_t g2_variant_id, pt_db_regime_t regime);
int pt_db_pairs_done(pt_db_t *db, const char *arch, pt_db_pair_done_cb cb, void *ud);

/* One row of the pair_results view, checked as pt_db_results checks its
 * rows (names, shape, tokens, an ok row's times). */
typedef struct pt_db_pair_row_s {
  int64_t pair_id;
  const char *arch, *device, *family, *dtype, *act;
  int model_dim, inter_dim, experts, topk, tokens, sbm;
  const char *routing;
  double routing_param;
  const char *g1_spec, *g2_spec, *regime, *status, *reason;
  double median_us, min_us, p90_us, spread;  /* NaN unless ok (spread: or unknown) */
  int samples;                               /* -1 unless ok */
  double err_max_rel;                        /* NaN when unknown */
} pt_db_pair_row_t;
typedef int (*pt_db_pair_row_cb)(void *ud, const pt_db_pair_row_t *row);
/* Walks the pair results matching f (its stage is ignored) and routing
 * (when not NULL), ordered by arch, family, shape, dtype, act, tokens,
 * device and id; nothing in a file older than PT_DB_PAIRS_VERSION. */
int pt_db_pair_results(pt_db_t *db, const pt_db_filter_t *f, const char *routing,
                       double routing_param, pt_db_pair_row_cb cb, void *ud);

/* ---- whole-database operations ---- */

typedef struct pt_db_stats_s {
  int schema_version;
  int64_t runs, devices, sources, variants, problems, compiles, measurements,
      jobs;
} pt_db_stats_t;
int pt_db_stats(pt_db_t *db, pt_db_stats_t *out /* OUT */);

/* Hex XXH3-128 over every measurement row, each with the natural keys of
 * its device, problem and variant, in a canonical order: equal for two
 * databases holding the same results, whatever their row ids. */
int pt_db_digest(pt_db_t *db, char out[PT_DB_HASH_HEX]);

/* Merges the database at path into db in one transaction, leaving path
 * untouched: runs (by uuid), devices, sources, variants, problems and
 * compiles by their natural keys; a measurement with the same device,
 * problem, variant and regime is replaced only by a strictly newer one.
 * Jobs are not merged. Merging the same file again changes nothing.
 * *added (may be NULL) gets the number of new measurements. */
int pt_db_merge(pt_db_t *db, const char *path, int64_t *added /* OUT */);

/* Verifies the file: PRAGMA integrity_check, PRAGMA foreign_key_check, the
 * schema version, that the schema objects are exactly those the migrations
 * create, that every value is of its column's type, and every results row
 * passes the readers' checks (pt_db_results). PT_EINVAL (bad input) with
 * the first problem found otherwise. Runs left running are not damage:
 * pt_db_runs_running tells them. */
int pt_db_check(pt_db_t *db);

#endif
