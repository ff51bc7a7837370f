/* The worker pool (see pool.h). A slot outlives the worker processes it
 * runs: each process is a proc_t, freed once its five handles have closed,
 * after which the slot is down and its owner may start the next one. */
#include "pool.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 1280
#define HELLO_FAILS_MAX 3  /* a worker dying before hello this often: give up */

typedef struct proc_s proc_t;

typedef struct slot_s {
  pt_pool_t *pool;
  int index, gpu;
  pt_pool_state_t state;
  proc_t *proc;
  int asking;            /* inside next_task */
  int helloed;           /* a worker of this slot said hello once */
  int hello_fails;       /* consecutive deaths before hello */
  int gone;              /* given up */
  pt_gpu_props_t props;
  int64_t task;          /* id of the task in flight (SENT, RUNNING) */
} slot_t;

struct proc_s {
  slot_t *slot;
  uv_process_t proc;
  uv_pipe_t in, out, err;
  uv_timer_t timer;
  int open;              /* handles not closed yet */
  int exited, out_eof, closing, finished;
  int64_t exit_status;
  int term_signal;
  int timed_out;         /* killed for the item timeout */
  int killed;            /* killed for another reason: why */
  pt_buf_t outbuf, errbuf;
  char last_err[256];    /* last stderr line, for crash reasons */
  char why[256];
};

struct pt_pool_s {
  pt_pool_opts_t o;
  slot_t *slots;
  int stopped;           /* 1 graceful, 2 forced */
  int restarts;
};

static void logf_(slot_t *sl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(slot_t *sl, const char *fmt, ...) {
  const pt_pool_opts_t *o = &sl->pool->o;
  char msg[1024];
  va_list ap;
  if (o->log == NULL) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  o->log(o->ud, sl->index, msg);
}

static double item_timeout(const pt_pool_t *pool) {
  return pool->o.item_timeout_s > 0 ? pool->o.item_timeout_s : 60.0;
}

static double setup_timeout(const pt_pool_t *pool) {
  return pool->o.setup_timeout_s > 0 ? pool->o.setup_timeout_s : 600.0;
}

/* ---- a process's handles ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  proc_t *p = h->data;
  pt_buf_t *b = h == (uv_handle_t *)&p->out ? &p->outbuf : &p->errbuf;
  size_t space = 0;
  (void)hint;
  if (pt_buf_grow(b, 64 << 10, NULL) != PT_OK) {
    *buf = uv_buf_init(NULL, 0);  /* libuv reports UV_ENOBUFS */
    return;
  }
  char *tail = pt_buf_tail(b, &space);
  *buf = uv_buf_init(tail, (unsigned)(space < (1u << 30) ? space : (1u << 30)));
}

static void kill_proc(proc_t *p, const char *why) {
  if (p->exited || p->killed || p->timed_out) return;
  snprintf(p->why, sizeof p->why, "%s", why);
  p->killed = 1;
  uv_process_kill(&p->proc, SIGKILL);
}

static void on_timeout(uv_timer_t *t) {
  proc_t *p = t->data;
  slot_t *sl = p->slot;
  if (p->exited) return;
  if (sl->state == PT_POOL_RUNNING) {
    p->timed_out = 1;
    uv_process_kill(&p->proc, SIGKILL);
    return;
  }
  kill_proc(p, sl->state == PT_POOL_STARTING ? "no hello within the setup timeout"
                                             : "no begin within the setup timeout");
}

static void timer_start(proc_t *p, double seconds) {
  uint64_t ms = (uint64_t)(seconds * 1000.0);
  uv_timer_start(&p->timer, on_timeout, ms > 0 ? ms : 1, 0);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Ends the worker's input: it exits when it has read everything. */
static void close_input(slot_t *sl) {
  proc_t *p = sl->proc;
  if (p == NULL || p->closing || p->finished) return;
  p->closing = 1;
  sl->state = PT_POOL_CLOSING;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req == NULL || uv_shutdown(req, (uv_stream_t *)&p->in, on_shutdown) != 0) {
    free(req);
    kill_proc(p, "cannot close its input");
  }
}

static void on_written(uv_write_t *req, int status) {
  (void)status;  /* a dead worker shows up through its exit */
  free(req->data);
  free(req);
}

/* Writes line (taking it) to the worker's stdin. */
static int write_line(proc_t *p, char *line) {
  uv_write_t *req = malloc(sizeof *req);
  if (req == NULL || line == NULL) {
    free(req);
    free(line);
    return PT_ENOMEM;
  }
  req->data = line;
  uv_buf_t buf = uv_buf_init(line, (unsigned)strlen(line));
  if (uv_write(req, (uv_stream_t *)&p->in, &buf, 1, on_written) != 0) {
    free(line);
    free(req);
    return PT_EIO;
  }
  return PT_OK;
}

/* ---- tasks ---- */

static int exit_code(const proc_t *p) {
  return p->term_signal != 0 ? 128 + p->term_signal : (int)p->exit_status;
}

static void task_done(slot_t *sl, pt_pool_end_t end, const pt_proto_result_t *res,
                      const char *reason) {
  const pt_pool_opts_t *o = &sl->pool->o;
  proc_t *p = sl->proc;
  pt_pool_done_t d = {.id = sl->task, .end = end, .result = res,
                      .status = p->exited ? exit_code(p) : 0, .reason = reason};
  o->task_done(o->ud, sl->index, &d);
}

static void send_task(slot_t *sl, pt_pool_task_t *t) {
  proc_t *p = sl->proc;
  sl->task = t->id;
  if (write_line(p, t->line) != PT_OK) {
    kill_proc(p, "cannot write to it");
    task_done(sl, PT_POOL_CANCELLED, NULL, NULL);
    return;
  }
  sl->state = PT_POOL_SENT;
  timer_start(p, setup_timeout(sl->pool));
}

/* Gives an idle slot its next task, or shuts its input when there is none
 * or the pool stopped. */
static void ask(slot_t *sl) {
  pt_pool_t *pool = sl->pool;
  proc_t *p = sl->proc;
  if (sl->state != PT_POOL_IDLE || sl->asking || p->killed || p->finished) return;
  if (pool->stopped) {
    close_input(sl);
    return;
  }
  pt_pool_task_t t = {0, NULL};
  sl->asking = 1;
  pt_pool_next_t next = pool->o.next_task(pool->o.ud, sl->index, &t);
  sl->asking = 0;
  if (next == PT_POOL_TASK) send_task(sl, &t);
  else if (next == PT_POOL_NONE || pool->stopped) close_input(sl);
}

/* ---- messages from a worker ---- */

static void on_hello(slot_t *sl, const pt_gpu_props_t *props) {
  proc_t *p = sl->proc;
  uv_timer_stop(&p->timer);
  if (sl->helloed && strcmp(props->arch, sl->props.arch) != 0) {
    kill_proc(p, "came back with another arch");
    return;
  }
  if (sl->helloed) sl->pool->restarts++;
  sl->props = *props;
  sl->helloed = 1;
  sl->hello_fails = 0;
  sl->state = PT_POOL_IDLE;
  ask(sl);
}

static void on_result(slot_t *sl, const pt_proto_result_t *r) {
  uv_timer_stop(&sl->proc->timer);
  task_done(sl, PT_POOL_RESULT, r, NULL);
  sl->state = PT_POOL_IDLE;
  /* A worker that lost its device exits: give it nothing more. */
  if (r->fatal) close_input(sl);
  else ask(sl);
}

static int expected(const slot_t *sl, const pt_proto_msg_t *msg) {
  if (msg->type == PT_PROTO_HELLO) return sl->state == PT_POOL_STARTING;
  if (msg->type == PT_PROTO_BEGIN) return sl->state == PT_POOL_SENT && msg->id == sl->task;
  return msg->type == PT_PROTO_RESULT && msg->result.id == sl->task &&
         (sl->state == PT_POOL_SENT || sl->state == PT_POOL_RUNNING);
}

static void on_message(slot_t *sl, const char *line) {
  pt_proto_msg_t msg;
  pt_err_t e;
  proc_t *p = sl->proc;
  if (pt_proto_parse(line, &msg, &e) != PT_OK) {
    logf_(sl, "protocol error: %s", e.msg);
    kill_proc(p, "protocol error");
    return;
  }
  if (!expected(sl, &msg)) {
    logf_(sl, "protocol error: unexpected message '%.80s'", line);
    kill_proc(p, "protocol error");
  } else if (msg.type == PT_PROTO_HELLO) {
    on_hello(sl, &msg.props);
  } else if (msg.type == PT_PROTO_BEGIN) {
    sl->state = PT_POOL_RUNNING;
    timer_start(p, item_timeout(sl->pool));
  } else {
    on_result(sl, &msg.result);
  }
  pt_proto_msg_free(&msg);
}

static void proc_finished(proc_t *p);

/* Reading stdout: nread 0 is EAGAIN (nothing this time), UV_EOF the end;
 * any other negative value ends it too, logged. */
static void on_out(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  proc_t *p = st->data;
  (void)buf;
  if (nread == 0) return;
  if (nread < 0) {
    if (nread != UV_EOF) logf_(p->slot, "reading its output: %s", uv_strerror((int)nread));
    uv_read_stop(st);
    p->out_eof = 1;
    if (p->exited) proc_finished(p);
    return;
  }
  pt_buf_commit(&p->outbuf, (size_t)nread);
  for (char *line; !p->killed && (line = pt_buf_next_line(&p->outbuf)) != NULL;)
    on_message(p->slot, line);
}

static void on_err(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  proc_t *p = st->data;
  (void)buf;
  if (nread == 0) return;
  if (nread < 0) {  /* UV_EOF or an error: either way no more stderr */
    uv_read_stop(st);
    return;
  }
  pt_buf_commit(&p->errbuf, (size_t)nread);
  for (char *line; (line = pt_buf_next_line(&p->errbuf)) != NULL;) {
    if (line[0] == '\0') continue;
    snprintf(p->last_err, sizeof p->last_err, "%s", line);
    logf_(p->slot, "%s", line);
  }
}

/* ---- the end of a process ---- */

static void on_proc_exit(uv_process_t *h, int64_t status, int sig) {
  proc_t *p = h->data;
  p->exited = 1;
  p->exit_status = status;
  p->term_signal = sig;
  if (p->out_eof) proc_finished(p);
}

static void describe_exit(const proc_t *p, char *buf, size_t len) {
  int n;
  if (p->term_signal != 0)
    n = snprintf(buf, len, "worker killed by signal %d", p->term_signal);
  else
    n = snprintf(buf, len, "worker exited with status %lld", (long long)p->exit_status);
  if (p->last_err[0] != '\0' && n >= 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, ": %s", p->last_err);
}

/* The task in flight when the worker died. */
static void task_lost(slot_t *sl, proc_t *p) {
  char why[REASON_MAX];
  if (sl->pool->stopped == 2) {
    task_done(sl, PT_POOL_CANCELLED, NULL, NULL);
  } else if (p->timed_out) {
    snprintf(why, sizeof why, "no result within %g s of the first launch",
             item_timeout(sl->pool));
    task_done(sl, PT_POOL_TIMEOUT, NULL, why);
  } else {
    describe_exit(p, why, sizeof why);
    if (p->killed) snprintf(why + strlen(why), sizeof why - strlen(why), " (%s)", p->why);
    task_done(sl, PT_POOL_CRASH, NULL, why);
  }
  sl->state = PT_POOL_CLOSING;
}

static void proc_gone(slot_t *sl) {
  const pt_pool_opts_t *o = &sl->pool->o;
  sl->proc = NULL;
  sl->state = PT_POOL_DOWN;
  if (sl->hello_fails >= HELLO_FAILS_MAX) {
    sl->gone = 1;
    logf_(sl, "giving up on gpu %d", sl->gpu);
  }
  o->exited(o->ud, sl->index);
}

static void proc_handle_closed(uv_handle_t *h) {
  proc_t *p = h->data;
  if (--p->open > 0) return;
  slot_t *sl = p->slot;
  pt_buf_free(&p->outbuf);
  pt_buf_free(&p->errbuf);
  free(p);
  proc_gone(sl);
}

/* Both the exit status and the end of stdout are in: settle, close. */
static void proc_finished(proc_t *p) {
  slot_t *sl = p->slot;
  char why[REASON_MAX];
  uv_timer_stop(&p->timer);
  p->finished = 1;
  if (sl->state == PT_POOL_SENT || sl->state == PT_POOL_RUNNING) {
    task_lost(sl, p);
  } else if (sl->state == PT_POOL_STARTING) {
    sl->hello_fails++;
    describe_exit(p, why, sizeof why);
    logf_(sl, "worker for gpu %d did not start: %s", sl->gpu, why);
  } else if (sl->state != PT_POOL_CLOSING || p->exit_status != 0 || p->term_signal != 0) {
    describe_exit(p, why, sizeof why);
    if (!p->killed) logf_(sl, "%s", why);
  }
  p->open = 5;
  uv_close((uv_handle_t *)&p->proc, proc_handle_closed);
  uv_close((uv_handle_t *)&p->in, proc_handle_closed);
  uv_close((uv_handle_t *)&p->out, proc_handle_closed);
  uv_close((uv_handle_t *)&p->err, proc_handle_closed);
  uv_close((uv_handle_t *)&p->timer, proc_handle_closed);
}

/* ---- spawning ---- */

/* opts.argv plus "--gpu N" (gpu holds N), malloc'd; NULL when out of memory. */
static const char **worker_argv(const pt_pool_t *pool, const char *gpu) {
  int argc = 0;
  while (pool->o.argv[argc] != NULL) argc++;
  const char **argv = calloc((size_t)argc + 3, sizeof *argv);
  if (argv == NULL) return NULL;
  memcpy(argv, pool->o.argv, (size_t)argc * sizeof *argv);
  argv[argc] = "--gpu";
  argv[argc + 1] = gpu;
  return argv;
}

static void proc_init(pt_pool_t *pool, slot_t *sl, proc_t *p) {
  p->slot = sl;
  pt_buf_init(&p->outbuf);
  pt_buf_init(&p->errbuf);
  uv_pipe_init(pool->o.loop, &p->in, 0);
  uv_pipe_init(pool->o.loop, &p->out, 0);
  uv_pipe_init(pool->o.loop, &p->err, 0);
  uv_timer_init(pool->o.loop, &p->timer);
  p->in.data = p->out.data = p->err.data = p->timer.data = p->proc.data = p;
}

static int spawn(pt_pool_t *pool, proc_t *p, const char **argv) {
  uv_stdio_container_t stdio[3] = {
      {UV_CREATE_PIPE | UV_READABLE_PIPE, {.stream = (uv_stream_t *)&p->in}},
      {UV_CREATE_PIPE | UV_WRITABLE_PIPE, {.stream = (uv_stream_t *)&p->out}},
      {UV_CREATE_PIPE | UV_WRITABLE_PIPE, {.stream = (uv_stream_t *)&p->err}}};
  uv_process_options_t opt = {0};
  opt.exit_cb = on_proc_exit;
  opt.file = argv[0];
  opt.args = (char **)argv;
  opt.stdio = stdio;
  opt.stdio_count = 3;
  return uv_spawn(pool->o.loop, &p->proc, &opt);
}

int pt_pool_start(pt_pool_t *pool, int slot, pt_err_t *err) {
  slot_t *sl = &pool->slots[slot];
  if (pool->stopped || sl->gone || sl->state != PT_POOL_DOWN) return PT_OK;
  char gpu[16];
  snprintf(gpu, sizeof gpu, "%d", sl->gpu);
  proc_t *p = calloc(1, sizeof *p);
  const char **argv = worker_argv(pool, gpu);
  if (p == NULL || argv == NULL) {
    free(p);
    free(argv);
    return pt_err_set(err, PT_ENOMEM, "out of memory for a worker");
  }
  proc_init(pool, sl, p);
  sl->proc = p;
  sl->state = PT_POOL_STARTING;
  int rc = spawn(pool, p, argv);
  free(argv);
  if (rc != 0) {
    snprintf(p->last_err, sizeof p->last_err, "cannot run '%s': %s", pool->o.argv[0],
             uv_strerror(rc));
    p->exited = p->out_eof = 1;
    p->exit_status = 127;
    proc_finished(p);
    return PT_OK;
  }
  uv_read_start((uv_stream_t *)&p->out, on_alloc, on_out);
  uv_read_start((uv_stream_t *)&p->err, on_alloc, on_err);
  timer_start(p, setup_timeout(pool));
  return PT_OK;
}

/* ---- the pool ---- */

int pt_pool_new(const pt_pool_opts_t *o, pt_pool_t **out, pt_err_t *err) {
  *out = NULL;
  if (o->nslots <= 0 || o->argv == NULL || o->argv[0] == NULL)
    return pt_err_set(err, PT_EINVAL, "a worker pool needs slots and a worker command");
  pt_pool_t *pool = calloc(1, sizeof *pool);
  slot_t *slots = calloc((size_t)o->nslots, sizeof *slots);
  if (pool == NULL || slots == NULL) {
    free(pool);
    free(slots);
    return pt_err_set(err, PT_ENOMEM, "out of memory");
  }
  pool->o = *o;
  pool->slots = slots;
  for (int i = 0; i < o->nslots; i++)
    slots[i] = (slot_t){.pool = pool, .index = i, .gpu = o->gpus[i]};
  *out = pool;
  return PT_OK;
}

void pt_pool_free(pt_pool_t *pool) {
  if (pool == NULL) return;
  free(pool->slots);
  free(pool);
}

void pt_pool_kick(pt_pool_t *pool) {
  for (int i = 0; i < pool->o.nslots; i++)
    if (pool->slots[i].proc != NULL) ask(&pool->slots[i]);
}

void pt_pool_stop(pt_pool_t *pool, int forced) {
  if (pool->stopped < (forced ? 2 : 1)) pool->stopped = forced ? 2 : 1;
  for (int i = 0; i < pool->o.nslots; i++) {
    slot_t *sl = &pool->slots[i];
    if (sl->proc == NULL) continue;
    if (forced) kill_proc(sl->proc, "stopped");
    else if (sl->state == PT_POOL_IDLE && !sl->asking) close_input(sl);
  }
}

int pt_pool_busy(const pt_pool_t *pool) {
  for (int i = 0; i < pool->o.nslots; i++)
    if (pool->slots[i].state != PT_POOL_DOWN) return 1;
  return 0;
}

pt_pool_state_t pt_pool_state(const pt_pool_t *pool, int slot) {
  return pool->slots[slot].state;
}

const pt_gpu_props_t *pt_pool_props(const pt_pool_t *pool, int slot) {
  return pool->slots[slot].helloed ? &pool->slots[slot].props : NULL;
}

int pt_pool_restarts(const pt_pool_t *pool) { return pool->restarts; }
