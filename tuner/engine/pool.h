/* A pool of worker processes on a libuv loop (after git's run-command.h and
 * libuv's uv_spawn): one worker per slot (a GPU), speaking the JSON-lines
 * protocol of proto.h over its stdin and stdout, driven by two callbacks:
 * next_task (what an idle slot runs next) and task_done (how a task ended).
 * It knows nothing of the plan, the compiler or the database.
 *
 * Lifecycle of a slot's worker:
 *   1. prepare: argv is opts.argv plus "--gpu N"; stdin, stdout and stderr
 *      are pipes
 *   2. spawn (pt_pool_start): the worker must say hello within the setup
 *      timeout; a restarted one must report the same arch. A slot whose
 *      workers die before hello three times in a row is given up.
 *   3. stream: whenever the slot is idle (after hello, after a result,
 *      pt_pool_kick) the pool asks next_task and writes the task's line; the
 *      worker must answer begin within the setup timeout and its result
 *      within the item timeout of begin, or it is killed. Its stderr lines
 *      go to log. A result marked fatal (the device is lost) ends the
 *      worker: the pool shuts its input.
 *   4. finish: once both its exit status and the end of its stdout have
 *      arrived (a result written just before exiting is never lost), a task
 *      in flight is done as crash or timeout, the handles close, and
 *      exited() says the slot is down: pt_pool_start spawns the next worker.
 * Every task next_task hands out gets exactly one task_done. An exit is
 * described the same way everywhere ("worker exited with status N" or
 * "worker killed by signal S", then its last stderr line) and reported as
 * one number: the exit status, or 128 + the signal.
 *
 * Callbacks run on the loop thread and may call any pt_pool_* function;
 * next_task is never re-entered for the slot it is asking for.
 */
#ifndef PT_POOL_H
#define PT_POOL_H

#include <stdint.h>
#include <uv.h>

#include "error.h"
#include "gpu.h"
#include "proto.h"

typedef struct pt_pool_s pt_pool_t;

typedef enum {
  PT_POOL_DOWN = 0,    /* no worker process */
  PT_POOL_STARTING,    /* spawned, no hello yet */
  PT_POOL_IDLE,        /* said hello, no task */
  PT_POOL_SENT,        /* task written, no begin yet */
  PT_POOL_RUNNING,     /* begin received */
  PT_POOL_CLOSING,     /* input shut, or its task done at its death */
} pt_pool_state_t;

/* A task: the line to write (an item message, '\n'-terminated, malloc'd:
 * the pool frees it) and the id its begin and result must carry. */
typedef struct pt_pool_task_s {
  int64_t id;
  char *line;
} pt_pool_task_t;

typedef enum {
  PT_POOL_WAIT = 0,    /* nothing yet: ask again on pt_pool_kick */
  PT_POOL_TASK,        /* *task filled */
  PT_POOL_NONE,        /* nothing more for this slot: its input is shut */
} pt_pool_next_t;

typedef enum {
  PT_POOL_RESULT = 0,  /* the worker's result */
  PT_POOL_CRASH,       /* the worker died (or was killed) before its result */
  PT_POOL_TIMEOUT,     /* no result within the item timeout of begin: killed */
  PT_POOL_CANCELLED,   /* no end: a forced stop, or the line could not be written */
} pt_pool_end_t;

typedef struct pt_pool_done_s {
  int64_t id;
  pt_pool_end_t end;
  const pt_proto_result_t *result;  /* RESULT */
  int status;          /* once the worker exited: its status, or 128 + signal */
  const char *reason;  /* CRASH, TIMEOUT: why, one line */
} pt_pool_done_t;

typedef struct pt_pool_opts_s {
  uv_loop_t *loop;
  const char *const *argv;         /* NULL-terminated, kept by the caller */
  const int *gpus;                 /* one slot per GPU ordinal */
  int nslots;
  double item_timeout_s;           /* from begin; <= 0: 60 */
  double setup_timeout_s;          /* to hello, and task sent to begin; <= 0: 600 */
  pt_pool_next_t (*next_task)(void *ud, int slot, pt_pool_task_t *task);
  void (*task_done)(void *ud, int slot, const pt_pool_done_t *done);
  void (*exited)(void *ud, int slot);      /* the slot is down */
  void (*log)(void *ud, int slot, const char *msg);  /* may be NULL */
  void *ud;
} pt_pool_opts_t;

/* A pool of o->nslots slots, all down. PT_EINVAL for no slots or no argv. */
int pt_pool_new(const pt_pool_opts_t *o, pt_pool_t **out, pt_err_t *err);
/* Only once no worker is left (pt_pool_busy is 0). */
void pt_pool_free(pt_pool_t *pool);

/* Spawns a worker on a down slot; nothing for a slot not down or given up,
 * or a stopped pool. A failed spawn is a worker that died before hello.
 * PT_ENOMEM is the only error. */
int pt_pool_start(pt_pool_t *pool, int slot, pt_err_t *err);
/* Asks next_task again for every idle slot. */
void pt_pool_kick(pt_pool_t *pool);
/* Stops the pool for good: no task is asked for and no worker started.
 * Graceful: tasks in flight finish, then the workers' input is shut.
 * Forced: every worker is killed, its task done as cancelled. */
void pt_pool_stop(pt_pool_t *pool, int forced);

/* Whether any slot has a worker process. */
int pt_pool_busy(const pt_pool_t *pool);
pt_pool_state_t pt_pool_state(const pt_pool_t *pool, int slot);
/* The device a slot's workers reported in their last hello; NULL before one. */
const pt_gpu_props_t *pt_pool_props(const pt_pool_t *pool, int slot);
/* Workers that said hello after the slot's first one did. */
int pt_pool_restarts(const pt_pool_t *pool);

#endif
