/* The worker loop and the test backend (see worker.h); the GPU backend is in
 * worker_gpu.c. */
#include "worker.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "measure.h"
#include "num.h"
#include "rng.h"

/* ---- timing an item ---- */

void pt_worker_timer_opts(const pt_proto_item_t *it, pt_measure_opts_t *o) {
  pt_measure_opts_default(o);
  o->cold = !it->warm;
  o->min_samples = it->min_samples;
  o->min_ms = it->min_ms;
  if (o->max_samples < o->min_samples) o->max_samples = o->min_samples;
}

void pt_worker_times(const pt_measure_stats_t *st, pt_proto_result_t *res) {
  res->median_us = st->median;
  res->min_us = st->min;
  res->p90_us = st->p90;
  res->spread = st->spread;
  res->samples = st->samples;
}

/* ---- test faults ---- */

static int copy_env(const char *name, char *buf, size_t len, pt_err_t *err) {
  const char *v = getenv(name);
  buf[0] = '\0';
  if (v == NULL) return PT_OK;
  if (strlen(v) >= len)
    return pt_err_set(err, PT_EINVAL, "environment variable '%s' is longer than %zu bytes",
                      name, len - 1);
  memcpy(buf, v, strlen(v) + 1);
  return PT_OK;
}

int pt_worker_faults_from_env(pt_worker_faults_t *f, pt_err_t *err) {
  memset(f, 0, sizeof *f);
  int rc = copy_env("PT_TEST_CRASH", f->crash, sizeof f->crash, err);
  if (rc == PT_OK) rc = copy_env("PT_TEST_HANG", f->hang, sizeof f->hang, err);
  if (rc == PT_OK) rc = copy_env("PT_TEST_VERIFY_FAIL", f->verify, sizeof f->verify, err);
  if (rc == PT_OK) rc = copy_env("PT_TEST_FATAL", f->fatal, sizeof f->fatal, err);
  const char *slow = getenv("PT_TEST_SLOW_MS");
  if (rc == PT_OK && slow != NULL) {
    long ms = 0;
    if (pt_num_parse_long(slow, NULL, 0, 3600000, &ms) != 0)
      return pt_err_set(err, PT_EINVAL,
                        "environment variable 'PT_TEST_SLOW_MS' is '%s', not milliseconds",
                        slow);
    f->slow_ms = (int)ms;
  }
  return rc;
}

/* Does key match one of the ';'-separated patterns? */
static int matches(const char *patterns, const char *key) {
  char pat[512];
  for (const char *p = patterns; *p != '\0';) {
    size_t n = strcspn(p, ";");
    if (n > 0 && n < sizeof pat) {
      memcpy(pat, p, n);
      pat[n] = '\0';
      if (fnmatch(pat, key, 0) == 0) return 1;
    }
    p += n + (p[n] == ';');
  }
  return 0;
}

pt_worker_fault_t pt_worker_fault_for(const pt_worker_faults_t *f,
                                      const char *key) {
  if (matches(f->crash, key)) return PT_WORKER_FAULT_CRASH;
  if (matches(f->hang, key)) return PT_WORKER_FAULT_HANG;
  if (matches(f->verify, key)) return PT_WORKER_FAULT_VERIFY;
  if (matches(f->fatal, key)) return PT_WORKER_FAULT_FATAL;
  return PT_WORKER_FAULT_NONE;
}

/* ---- the test backend ---- */

typedef struct test_state_s {
  pt_worker_faults_t faults;
  double clock_ms;        /* simulated time: the sampling loop's clock */
  uint64_t rng;
  double base_us;
} test_state_t;

static int test_open(int gpu, void **state, pt_gpu_props_t *p, pt_err_t *err) {
  test_state_t *s = calloc(1, sizeof *s);
  if (s == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  int rc = pt_worker_faults_from_env(&s->faults, err);
  if (rc != PT_OK) {
    free(s);
    return rc;
  }
  const char *arch = getenv("PT_TEST_ARCH");
  memset(p, 0, sizeof *p);
  p->backend = PT_GPU_CUDA;
  p->ordinal = gpu;
  snprintf(p->name, sizeof p->name, "pipetune test device");
  snprintf(p->arch, sizeof p->arch, "%s", arch != NULL ? arch : "sm_90");
  snprintf(p->pci_bus_id, sizeof p->pci_bus_id, "test:%02d", gpu);
  snprintf(p->driver, sizeof p->driver, "test");
  p->sm_count = 132;
  p->warp_size = 32;
  p->max_threads_per_block = 1024;
  p->max_threads_per_sm = 2048;
  p->regs_per_block = p->regs_per_sm = 65536;
  p->smem_per_block = 48 << 10;
  p->smem_per_block_optin = 227 << 10;
  p->smem_per_sm = 228 << 10;
  p->l2_bytes = (size_t)50 << 20;
  p->global_mem = (size_t)80 << 30;
  *state = s;
  return PT_OK;
}

static int test_flush(void *ud, pt_err_t *err) {
  (void)err;
  ((test_state_t *)ud)->clock_ms += 0.04;
  return PT_OK;
}

/* A sample is the item's base time with +-5% of deterministic noise. */
static int test_sample(void *ud, double *us, pt_err_t *err) {
  (void)err;
  test_state_t *s = ud;
  double u = (double)(pt_rng_splitmix64(&s->rng) >> 11) / 9007199254740992.0;
  *us = s->base_us * (0.95 + 0.1 * u);
  s->clock_ms += *us / 1000.0 + 0.01;
  return PT_OK;
}

static double test_now(void *ud) { return ((test_state_t *)ud)->clock_ms; }

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int test_run(void *state, const pt_proto_item_t *it,
                    pt_worker_begin_fn begin, void *ctx, pt_proto_result_t *res,
                    pt_err_t *err) {
  test_state_t *s = state;
  char key[256];
  int rc = pt_proto_item_key(it, key, sizeof key);
  if (rc != PT_OK) return pt_err_set(err, rc, "item %lld has no key", (long long)it->id);
  pt_worker_fault_t fault = pt_worker_fault_for(&s->faults, key);
  rc = begin(ctx, err);
  if (rc != PT_OK) return rc;
  if (s->faults.slow_ms > 0) sleep_ms(s->faults.slow_ms);
  if (fault == PT_WORKER_FAULT_CRASH) raise(SIGKILL);
  if (fault == PT_WORKER_FAULT_FATAL)
    return pt_err_set(err, PT_EGPU, "simulated sticky device error");
  while (fault == PT_WORKER_FAULT_HANG) pause();
  if (fault == PT_WORKER_FAULT_VERIFY) {
    snprintf(res->status, sizeof res->status, "verify_fail");
    res->err_max_abs = res->err_max_rel = 1.0;
    res->err_mean_abs = 0.25;
    snprintf(res->reason, sizeof res->reason, "simulated verification failure");
    return PT_OK;
  }
  uint64_t h = XXH3_64bits(key, strlen(key));
  s->rng = h;
  s->base_us = (5.0 + (double)(h % 1000) / 10.0) * (1.0 + it->tokens / 256.0);
  pt_measure_opts_t mo;
  pt_worker_timer_opts(it, &mo);
  const pt_measure_ops_t ops = {test_flush, test_sample, test_now};
  pt_measure_stats_t st;
  rc = pt_measure_run(&mo, &ops, s, &st, NULL, err);
  if (rc != PT_OK) return rc;
  pt_worker_times(&st, res);
  res->err_max_abs = res->err_mean_abs = res->err_max_rel = 0.0;
  return PT_OK;
}

/* The simulated state is one allocation: free closes it. */
static const pt_worker_backend_t test_backend = {"test", test_open, test_run, free};

extern const pt_worker_backend_t pt__worker_backend_gpu;

const pt_worker_backend_t *pt_worker_backend_find(const char *name) {
  if (strcmp(name, "test") == 0) return &test_backend;
  if (strcmp(name, "gpu") == 0) return &pt__worker_backend_gpu;
  return NULL;
}

/* ---- the loop ---- */

static int write_all(int fd, const char *text, pt_err_t *err) {
  size_t n = strlen(text);
  while (n > 0) {
    ssize_t put = write(fd, text, n);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0)
      return pt_err_set(err, PT_EIO, "cannot write to the supervisor: %s", strerror(errno));
    text += put;
    n -= (size_t)put;
  }
  return PT_OK;
}

static int send_line(int fd, char *line, pt_err_t *err) {
  if (line == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for a message");
  int rc = write_all(fd, line, err);
  free(line);
  return rc;
}

/* Next line from fd into b; *line is NULL at the end of input. */
static int read_line(int fd, pt_buf_t *b, char **line, pt_err_t *err) {
  for (;;) {
    if ((*line = pt_buf_next_line(b)) != NULL) return PT_OK;
    size_t space = 0;
    int rc = pt_buf_grow(b, 64 << 10, err);
    if (rc != PT_OK) return rc;
    char *tail = pt_buf_tail(b, &space);
    ssize_t got = read(fd, tail, space);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      return pt_err_set(err, PT_EIO, "cannot read from the supervisor: %s", strerror(errno));
    if (got == 0) {
      if (pt_buf_pending(b) > 0)
        return pt_err_set(err, PT_EINVAL, "input ended inside a line");
      return PT_OK;
    }
    pt_buf_commit(b, (size_t)got);
  }
}

typedef struct begin_ctx_s {
  int fd;
  int64_t id;
} begin_ctx_t;

static int send_begin(void *ctx, pt_err_t *err) {
  begin_ctx_t *c = ctx;
  return send_line(c->fd, pt_proto_begin(c->id), err);
}

static int serve(const pt_worker_backend_t *b, void *state, int in_fd,
                 int out_fd, pt_err_t *err) {
  pt_buf_t buf;
  char *line = NULL;
  int rc = PT_OK;
  pt_buf_init(&buf);
  while (rc == PT_OK && (rc = read_line(in_fd, &buf, &line, err)) == PT_OK &&
         line != NULL) {
    pt_proto_msg_t msg;
    rc = pt_proto_parse(line, &msg, err);
    if (rc == PT_OK && msg.type != PT_PROTO_ITEM)
      rc = pt_err_set(err, PT_EINVAL, "expected an item message");
    if (rc != PT_OK) {
      pt_proto_msg_free(&msg);
      break;
    }
    pt_proto_result_t res;
    pt_err_t run_err;
    begin_ctx_t ctx = {out_fd, msg.item.id};
    pt_err_clear(&run_err);
    pt_proto_result_init(&res, msg.item.id);
    int run_rc = b->run(state, &msg.item, send_begin, &ctx, &res, &run_err);
    pt_proto_msg_free(&msg);
    if (run_rc != PT_OK && res.reason[0] == '\0') {
      snprintf(res.status, sizeof res.status, "crash");
      snprintf(res.reason, sizeof res.reason, "%.500s", run_err.msg);
    }
    res.fatal = run_rc != PT_OK;
    rc = send_line(out_fd, pt_proto_result(&res), err);
    if (rc == PT_OK && run_rc != PT_OK) {
      *err = run_err;
      rc = run_rc;
    }
  }
  pt_buf_free(&buf);
  return rc;
}

int pt_worker_main(const pt_worker_backend_t *b, int gpu, int in_fd, int out_fd,
                   pt_err_t *err) {
  void *state = NULL;
  pt_gpu_props_t props;
  int rc = b->open(gpu, &state, &props, err);
  if (rc != PT_OK) return pt_err_prefix(err, "gpu %d", gpu);
  rc = send_line(out_fd, pt_proto_hello(&props), err);
  if (rc == PT_OK) rc = serve(b, state, in_fd, out_fd, err);
  b->close(state);
  return rc;
}
