/* A worker process: one per GPU, spawned by the supervisor as
 * `pipetune worker --gpu N`. It opens its device, says hello, then reads
 * items from stdin and writes one result for each to stdout (proto.h) until
 * stdin ends. It never touches the database.
 *
 * How an item is measured is a backend's business:
 *   "gpu"   the real device: verify against the oracle, then time (DESIGN §6)
 *   "test"  no device: simulated timings, and faults on request (below), so
 *           that the supervisor's process handling is tested without a GPU
 * The test backend is chosen only through the environment
 * (PT_WORKER_BACKEND=test), never by a documented option.
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include "error.h"
#include "gpu.h"
#include "measure.h"
#include "proto.h"

/* Called by a backend once per item, after the problem is set up and right
 * before its first kernel launch: the supervisor's per-item timeout (meant
 * for hung kernels) starts there. */
typedef int (*pt_worker_begin_fn)(void *ctx, pt_err_t *err);

typedef struct pt_worker_backend_s {
  const char *name;
  /* Opens device ordinal gpu, fills props; *state belongs to the backend. */
  int (*open)(int gpu, void **state, pt_gpu_props_t *props, pt_err_t *err);
  /* Measures item into res (every status is a PT_OK return). A negative
   * return means the device can no longer be used (a sticky GPU fault): res
   * (status crash, reason filled) is still reported, then the worker exits. */
  int (*run)(void *state, const pt_proto_item_t *item, pt_worker_begin_fn begin,
             void *ctx, pt_proto_result_t *res, pt_err_t *err);
  void (*close)(void *state);
} pt_worker_backend_t;

/* The built-in backends, by name ("gpu", "test"); NULL if unknown. */
const pt_worker_backend_t *pt_worker_backend_find(const char *name);

/* Runs the worker loop on in_fd/out_fd (the pipes from the supervisor) until
 * in_fd ends: PT_OK then. A malformed line is PT_EINVAL; a failed open, a
 * fatal run or a failed write return their code. Writes to a closed pipe
 * must not kill the process: the caller ignores SIGPIPE. */
int pt_worker_main(const pt_worker_backend_t *b, int gpu, int in_fd, int out_fd,
                   pt_err_t *err);

/* ---- timing an item, in every backend ---- */

/* The timer options an item asks for: measure.h's defaults with the item's
 * regime and minimum samples and time (the sample cap raised to the
 * minimum when below it). */
void pt_worker_timer_opts(const pt_proto_item_t *it, pt_measure_opts_t *o);
/* Copies the timer's statistics into res (times in us, samples). */
void pt_worker_times(const pt_measure_stats_t *st, pt_proto_result_t *res);

/* ---- test faults ----
 * Item keys (pt_proto_item_key) matched against ';'-separated fnmatch(3)
 * patterns from the environment:
 *   PT_TEST_CRASH        the worker dies (SIGKILL) while measuring the item
 *   PT_TEST_HANG         the worker stops answering after "begin"
 *   PT_TEST_VERIFY_FAIL  the item fails verification
 *   PT_TEST_FATAL        the device is lost while measuring the item: the
 *                        worker reports it (status crash, fatal) and exits
 *   PT_TEST_SLOW_MS      every item takes this many more milliseconds
 * The test backend obeys them; a test program's own backend may too. Rules
 * are tried in this order: crash, hang, verify, fatal. */
typedef enum {
  PT_WORKER_FAULT_NONE = 0,
  PT_WORKER_FAULT_CRASH,
  PT_WORKER_FAULT_HANG,
  PT_WORKER_FAULT_VERIFY,
  PT_WORKER_FAULT_FATAL,
} pt_worker_fault_t;

typedef struct pt_worker_faults_s {
  char crash[512], hang[512], verify[512], fatal[512];
  int slow_ms;
} pt_worker_faults_t;

/* Reads the variables above; PT_EINVAL naming the variable if one is too
 * long or PT_TEST_SLOW_MS is not a count of milliseconds. */
int pt_worker_faults_from_env(pt_worker_faults_t *f, pt_err_t *err);
/* The fault the rules give key. */
pt_worker_fault_t pt_worker_fault_for(const pt_worker_faults_t *f,
                                      const char *key);

#endif
