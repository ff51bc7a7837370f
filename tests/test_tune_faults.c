/* The tuner under faults (DESIGN §7): a worker that dies and one that hangs
 * are recorded as crash and timeout and the run completes the other items;
 * SIGINT finishes the items in flight and exits cleanly; kill -9 of the
 * supervisor then --resume loses and duplicates nothing; the compile cache
 * skips the compiler; bad command lines are refused before any work.
 *
 * Without a GPU the workers are `pipetune worker` with the simulated backend
 * (PT_WORKER_BACKEND=test). With a GPU (unless PT_TEST_SIMULATE is set)
 * the workers are this program (`test_tune_faults --worker --gpu N`), whose
 * backend runs on the device: a streaming-read kernel timed with a cold L2
 * for ordinary items, an out-of-bounds write for crash items and a kernel
 * that spins forever for hang items.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "measure.h"
#include "plan.h"
#include "supervisor.h"
#include "testutil.h"
#include "worker.h"

/* ---- the GPU fault backend (this program as a worker) ---- */

static const char fault_src[] =
    "extern \"C\" __global__ void rd(const float4 *x, float *out, int n) {\n"
    "  float s = 0.f;\n"
    "  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {\n"
    "    float4 v = x[i]; s += v.x + v.y + v.z + v.w; }\n"
    "  if (s == 12345.f) out[0] = s;\n"
    "}\n"
    "extern \"C\" __global__ void oob(float *p) {\n"
    "  ((volatile float *)p)[(1ull << 36) + threadIdx.x] = 1.f;  /* 256 GiB past it */\n"
    "}\n"
    "extern \"C\" __global__ void spin(volatile int *flag) {\n"
    "  while (*flag == 0) { }\n"
    "}\n";

typedef struct fb_s {
  pt_gpu_t *gpu;
  pt_gpu_code_t code;
  pt_gpu_module_t *mod;
  pt_gpu_kernel_t *rd, *oob, *spin;
  pt_gpu_ptr_t x, flag;
  int n;
  unsigned blocks;
  pt_measure_gpu_t m;
  pt_worker_faults_t faults;
} fb_t;

static void fb_close(void *state) {
  fb_t *f = state;
  pt_measure_gpu_free(&f->m);
  if (f->x) pt_gpu_free(f->gpu, f->x);
  if (f->flag) pt_gpu_free(f->gpu, f->flag);
  if (f->mod) pt_gpu_module_unload(f->mod);
  pt_gpu_code_free(&f->code);
  if (f->gpu) pt_gpu_close(f->gpu);
  free(f);
}

static int fb_open(int ordinal, void **state, pt_gpu_props_t *props, pt_err_t *err) {
  fb_t *f = calloc(1, sizeof *f);
  if (f == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  f->n = (64 << 20) / 16;
  int rc = pt_worker_faults_from_env(&f->faults, err);
  if (rc == PT_OK) rc = pt_gpu_open_any(ordinal, &f->gpu, err);
  if (rc == PT_OK) {
    pt_gpu_compile_req_t req = {.backend = pt_gpu_props(f->gpu)->backend,
                                .arch = pt_gpu_props(f->gpu)->arch,
                                .source = fault_src, .name = "faults.cu"};
    rc = pt_gpu_compile(&req, &f->code, err);
  }
  if (rc == PT_OK) rc = pt_gpu_module_load(f->gpu, f->code.data, f->code.size, &f->mod, err);
  if (rc == PT_OK) rc = pt_gpu_kernel_get(f->mod, "rd", &f->rd, err);
  if (rc == PT_OK) rc = pt_gpu_kernel_get(f->mod, "oob", &f->oob, err);
  if (rc == PT_OK) rc = pt_gpu_kernel_get(f->mod, "spin", &f->spin, err);
  if (rc == PT_OK) rc = pt_gpu_malloc(f->gpu, (size_t)f->n * 16, &f->x, err);
  if (rc == PT_OK) rc = pt_gpu_malloc(f->gpu, 64, &f->flag, err);
  if (rc == PT_OK) rc = pt_gpu_memset(f->gpu, f->x, 0, (size_t)f->n * 16, NULL, err);
  if (rc == PT_OK) rc = pt_gpu_memset(f->gpu, f->flag, 0, 64, NULL, err);
  if (rc == PT_OK) rc = pt_measure_gpu_init(&f->m, f->gpu, err);
  if (rc != PT_OK) {
    fb_close(f);
    return rc;
  }
  f->blocks = (unsigned)pt_gpu_props(f->gpu)->sm_count * 4;
  *props = *pt_gpu_props(f->gpu);
  *state = f;
  return PT_OK;
}

static int launch_rd(void *ud, pt_gpu_stream_t *stream, pt_err_t *err) {
  fb_t *f = ud;
  pt_gpu_ptr_t out = f->flag;
  void *args[] = {&f->x, &out, &f->n};
  const unsigned grid[3] = {f->blocks, 1, 1}, block[3] = {256, 1, 1};
  return pt_gpu_launch(f->rd, grid, block, 0, stream, args, err);
}

static int fb_run(void *state, const pt_proto_item_t *it, pt_worker_begin_fn begin,
                  void *ctx, pt_proto_result_t *res, pt_err_t *err) {
  fb_t *f = state;
  char key[256];
  int rc = pt_proto_item_key(it, key, sizeof key);
  pt_worker_fault_t fault = pt_worker_fault_for(&f->faults, key);
  if (rc == PT_OK) rc = begin(ctx, err);
  if (rc != PT_OK) return rc;
  if (f->faults.slow_ms > 0) usleep((useconds_t)f->faults.slow_ms * 1000);
  const unsigned one[3] = {1, 1, 1}, warp[3] = {32, 1, 1};
  /* On a device both crash rules write out of bounds: the driver reports
   * it, the worker says so and exits (a fatal result). */
  int oob = fault == PT_WORKER_FAULT_CRASH || fault == PT_WORKER_FAULT_FATAL;
  if (oob || fault == PT_WORKER_FAULT_HANG) {
    void *args[] = {oob ? &f->x : &f->flag};
    rc = pt_gpu_launch(oob ? f->oob : f->spin, one, warp, 0, f->m.stream, args, err);
    if (rc == PT_OK) rc = pt_gpu_stream_sync(f->gpu, f->m.stream, err);
    if (rc == PT_OK) rc = pt_err_set(err, PT_EGPU, "the faulting kernel did not fault");
    snprintf(res->status, sizeof res->status, "crash");
    snprintf(res->reason, sizeof res->reason, "%.500s", err->msg);
    return rc;
  }
  if (fault == PT_WORKER_FAULT_VERIFY) {
    snprintf(res->status, sizeof res->status, "verify_fail");
    res->err_max_abs = res->err_max_rel = 1.0;
    snprintf(res->reason, sizeof res->reason, "told to fail verification");
    return PT_OK;
  }
  pt_measure_opts_t o;
  pt_measure_stats_t st;
  pt_worker_timer_opts(it, &o);
  rc = pt_measure_gpu_run(&f->m, &o, launch_rd, f, &st, err);
  if (rc != PT_OK) return rc;
  pt_worker_times(&st, res);
  res->err_max_abs = res->err_mean_abs = res->err_max_rel = 0.0;
  pt_gpu_sample_clocks(f->gpu, &res->sm_clock_mhz, &res->temp_c);
  return PT_OK;
}

static const pt_worker_backend_t fault_backend = {"gpu-faults", fb_open, fb_run, fb_close};

static int worker_main(int argc, char **argv) {
  int gpu = argc >= 4 && strcmp(argv[2], "--gpu") == 0 ? atoi(argv[3]) : 0;
  pt_err_t err;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  int rc = pt_worker_main(&fault_backend, gpu, 0, 1, &err);
  if (rc != PT_OK) fprintf(stderr, "error: worker: %s\n", err.msg);
  return rc == PT_OK ? 0 : 1;
}

/* ---- helpers ---- */

/* Decided once in main (PT_TEST_MODE): workers on the GPU or simulated. */
static int gpu_mode(void) {
  const char *m = getenv("PT_TEST_MODE");
  return m != NULL && strcmp(m, "gpu") == 0;
}

/* The arch the simulated device reports: one this build can compile for. */
static const char *sim_arch(void) {
  return pt_gpu_backends_built() & (1u << PT_GPU_CUDA) ? "sm_90" : "gfx90a";
}

static const char tiny_grid[] =
    "{\"version\": 1, \"tokens\": [1, 16],\n"
    " \"families\": [{\"name\": \"tiny\", \"model_dim\": 256, \"inter_dim\": 256,\n"
    "   \"experts\": 8, \"topk\": 2, \"dtypes\": [\"a16w4\"], \"act\": \"swiglu_oai\"}]}\n";

/* A test's world: a temporary directory, the tiny family, a database path,
 * the worker command of this mode. */
typedef struct world_s {
  char *dir, *grid, *db;
  pt_family_set_t set;
  pt_plan_t plan;
  char exe[4096];
  char *pipetune;
  const char *argv[3];
  int gpu;
  int retune;  /* the runs are tune --retune */
  atomic_int compiles;
  char log[8192];
} world_t;

static void world_init(world_t *w, const char *variants) {
  memset(w, 0, sizeof *w);
  w->gpu = gpu_mode();
  w->dir = pt_test_tmpdir();
  ck_assert_ptr_nonnull(w->dir);
  w->grid = pt_test_write(w->dir, "tiny.json", tiny_grid);
  size_t n = strlen(w->dir) + 16;
  w->db = malloc(n);
  snprintf(w->db, n, "%s/t.db", w->dir);
  ck_assert_int_eq(pt_family_load_file(w->grid, &w->set, NULL), PT_OK);
  const char *specs[] = {variants};
  pt_plan_req_t req = {.family = "tiny", .dtype = -1, .stage = -1, .variants = specs,
                       .nvariants = 1, .shard = 0, .nshards = 1};
  ck_assert_int_eq(pt_plan_build(&w->set, &req, &w->plan, NULL), PT_OK);
  w->pipetune = pt_test_build_path("pipetune");
  ssize_t len = readlink("/proc/self/exe", w->exe, sizeof w->exe - 1);
  ck_assert(len > 0);
  w->exe[len] = '\0';
  w->argv[0] = w->gpu ? w->exe : w->pipetune;
  w->argv[1] = w->gpu ? "--worker" : "worker";
  w->argv[2] = NULL;
  if (!w->gpu) setenv("PT_WORKER_BACKEND", "test", 1);
  setenv("PT_TEST_ARCH", sim_arch(), 1);
}

static void world_free(world_t *w) {
  pt_plan_free(&w->plan);
  pt_family_set_free(&w->set);
  pt_test_rmdir(w->dir);
  free(w->dir);
  free(w->grid);
  free(w->db);
  free(w->pipetune);
}

/* A compiler that returns a fixed object at once: the workers here never
 * load it, and counting calls shows the cache at work. */
static int fake_compile(void *ud, const pt_gpu_compile_req_t *req, pt_gpu_code_t *out,
                        pt_err_t *err) {
  world_t *w = ud;
  (void)err;
  atomic_fetch_add(&w->compiles, 1);
  memset(out, 0, sizeof *out);
  out->data = strdup(req->name);
  out->size = strlen(req->name) + 1;
  out->log = strdup("");
  snprintf(out->compiler, sizeof out->compiler, "fake 1");
  out->regs = out->spill_bytes = out->smem_static = -1;
  return PT_OK;
}

static void collect_log(void *ud, const pt_sup_event_t *ev) {
  world_t *w = ud;
  if (ev->type != PT_SUP_EV_LOG) return;
  size_t n = strlen(w->log);
  snprintf(w->log + n, sizeof w->log - n, "%s\n", ev->msg);
}

static pt_sup_opts_t sup_opts(world_t *w, pt_db_t *db) {
  static const int gpus[2] = {0, 1};
  pt_sup_opts_t o = {.db = db, .plan = &w->plan, .gpus = gpus, .ngpus = w->gpu ? 1 : 2,
                     .worker_argv = w->argv, .host = "testhost", .command = "test",
                     .seed = 1, .min_samples = 5, .min_ms = 5, .jobs = 2,
                     .item_timeout_s = w->gpu ? 5 : 2, .compile = fake_compile,
                     .compile_ud = w, .compiler = "fake 1", .on_event = collect_log,
                     .event_ud = w, .retune = w->retune};
  return o;
}

static int run(world_t *w, int resume, pt_sup_summary_t *sum, pt_err_t *err) {
  pt_db_t *db = NULL;
  ck_assert_msg(pt_db_open(w->db, PT_DB_CREATE, &db, err) == PT_OK, "%s", err->msg);
  pt_sup_opts_t o = sup_opts(w, db);
  o.resume = resume;
  int rc = pt_sup_run(&o, sum, err);
  pt_db_close(db);
  return rc;
}

static char *sql_text(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  char *v = NULL;
  ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
    v = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v != NULL ? v : strdup("");
}

/* Polled while a child creates the database: until its schema is in, the
 * file may exist without the measurements view. */
static long long count_results(const char *path) {
  if (access(path, F_OK) != 0) return 0;
  if (pt_test_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'measurements'") == 0)
    return 0;
  return pt_test_sql_int(path, "SELECT count(*) FROM measurements");
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits until the database holds n results (or 60 s pass); returns the count. */
static long long wait_results(const char *path, long long n) {
  long long c = 0;
  for (int i = 0; i < 1200 && (c = count_results(path)) < n; i++) sleep_ms(50);
  return c;
}

/* Runs the supervisor in a child of its own process group, like a shell job. */
static pid_t run_in_child(world_t *w, int resume) {
  fflush(NULL);
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid > 0) return pid;
  setpgid(0, 0);
  signal(SIGPIPE, SIG_IGN);
  pt_db_t *db = NULL;
  pt_err_t err;
  pt_sup_summary_t sum;
  if (pt_db_open(w->db, PT_DB_CREATE, &db, &err) != PT_OK) _exit(20);
  pt_sup_opts_t o = sup_opts(w, db);
  o.resume = resume;
  o.handle_signals = 1;
  int rc = pt_sup_run(&o, &sum, &err);
  pt_db_close(db);
  if (rc != PT_OK) fprintf(stderr, "child: %s\n", err.msg);
  _exit(rc != PT_OK ? 10 : (int)sum.end);
}

static int wait_child(pid_t pid) {
  int ws = 0;
  ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Waits for every process of group pgid (orphaned workers) to end. */
static void wait_group_gone(pid_t pgid) {
  for (int i = 0; i < 400 && (kill(-pgid, 0) == 0 || errno != ESRCH); i++) sleep_ms(50);
  ck_assert_msg(kill(-pgid, 0) != 0 && errno == ESRCH, "workers of %d are still alive",
                (int)pgid);
}

/* ---- the supervisor ---- */

START_TEST(crash_and_hang_are_recorded_and_the_run_completes) {
  world_t w;
  world_init(&w, "bm=16|32|64,bn=128");  /* 2 tokens x 2 stages x 3 = 12 items */
  setenv("PT_TEST_CRASH", "gemm1/bm=32,*/t=1", 1);
  setenv("PT_TEST_HANG", "gemm2/bm=64,*/t=16", 1);
  setenv("PT_TEST_VERIFY_FAIL", "gemm1/bm=16,*/t=16", 1);
  setenv("PT_TEST_FATAL", "gemm2/bm=16,*/t=1", 1);
  pt_sup_summary_t sum;
  pt_err_t err;
  int rc = run(&w, 0, &sum, &err);
  ck_assert_msg(rc == PT_OK, "%s\n%s", err.msg, w.log);
  /* What went wrong, and why, as recorded: shown so that a GPU run documents
   * the device's own error messages. */
  char *faults = sql_text(w.db, "SELECT group_concat(stage || ' t=' || tokens || ' ' || spec"
                                " || ': ' || status || ': ' || reason, char(10)) FROM results"
                                " WHERE status <> 'ok'");
  printf("recorded faults:\n%s\n", faults);
  fflush(stdout);
  ck_assert_msg(sum.by_status[PT_DB_STATUS_CRASH] == 2 && sum.by_status[PT_DB_STATUS_TIMEOUT] == 1,
                "crash %zu, timeout %zu:\n%s\n%s", sum.by_status[PT_DB_STATUS_CRASH],
                sum.by_status[PT_DB_STATUS_TIMEOUT], faults, w.log);
  free(faults);
  ck_assert_int_eq(sum.end, PT_SUP_FINISHED);
  ck_assert_uint_eq(sum.planned, 12);
  ck_assert_uint_eq(sum.done, 12);
  ck_assert_uint_eq(sum.by_status[PT_DB_STATUS_CRASH], 2);
  ck_assert_uint_eq(sum.by_status[PT_DB_STATUS_TIMEOUT], 1);
  ck_assert_uint_eq(sum.by_status[PT_DB_STATUS_VERIFY_FAIL], 1);
  ck_assert_uint_eq(sum.by_status[PT_DB_STATUS_OK], 8);
  ck_assert_int_ge(sum.restarts, 1);  /* none is needed after the last item */
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE status = 'crash'"
                                 " AND stage = 'gemm1' AND tokens = 1 AND spec LIKE 'bm=32,%'"), 1);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE status = 'timeout'"
                                 " AND stage = 'gemm2' AND tokens = 16 AND spec LIKE 'bm=64,%'"), 1);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM measurements WHERE status = 'ok'"
                                 " AND samples >= 5 AND min_us > 0 AND median_us <= p90_us"), 8);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE status = 'crash'"
                                 " AND stage = 'gemm2' AND tokens = 1 AND spec LIKE 'bm=16,%'"), 1);
  /* The variant that failed verification is not the best of its problem. */
  char *best = sql_text(w.db, "SELECT spec FROM best WHERE stage = 'gemm1' AND tokens = 16");
  ck_assert_msg(strncmp(best, "bm=16,", 6) != 0 && best[0] != '\0', "best is '%s'", best);
  free(best);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM runs WHERE status = 'done'"), 1);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM jobs WHERE state IN ('ready', 'running')"), 0);
  /* Every result carries its provenance. */
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE compiler = 'fake 1'"
                                 " AND length(source_hash) = 32 AND compile_key IS NOT NULL"
                                 " AND regime = 'cold' AND tool_version <> ''"), 12);
  world_free(&w);
}
END_TEST

START_TEST(sigint_finishes_in_flight_items_then_resume_completes) {
  world_t w;
  world_init(&w, "bm=16|32|64,bn=128");
  setenv("PT_TEST_SLOW_MS", "300", 1);
  pid_t pid = run_in_child(&w, 0);
  long long seen = wait_results(w.db, 2);
  ck_assert_int_ge(seen, 2);
  ck_assert_int_eq(kill(-pid, SIGINT), 0);  /* the whole job, as Ctrl-C does */
  ck_assert_int_eq(wait_child(pid), PT_SUP_INTERRUPTED);
  wait_group_gone(pid);
  long long after = count_results(w.db);
  ck_assert_int_ge(after, seen + 1);  /* the item in flight was finished */
  ck_assert_int_lt(after, 12);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM measurements WHERE status <> 'ok'"), 0);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM runs WHERE status = 'interrupted'"), 1);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM jobs WHERE state = 'running'"), 0);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM jobs WHERE state = 'done'"), after);
  unsetenv("PT_TEST_SLOW_MS");
  pt_sup_summary_t sum;
  pt_err_t err;
  ck_assert_int_eq(run(&w, 0, &sum, &err), PT_EINVAL);  /* results exist: needs --resume */
  ck_assert_msg(strstr(err.msg, "pass --resume"), "%s", err.msg);
  ck_assert_msg(run(&w, 1, &sum, &err) == PT_OK, "%s", err.msg);
  ck_assert_uint_eq(sum.skipped, (size_t)after);
  ck_assert_uint_eq(sum.done, 12 - (size_t)after);
  ck_assert_int_eq(count_results(w.db), 12);
  world_free(&w);
}
END_TEST

START_TEST(kill9_then_resume_loses_and_duplicates_nothing) {
  world_t w;
  world_init(&w, "bm=16|32|64,bn=128");
  setenv("PT_TEST_SLOW_MS", "250", 1);
  pid_t pid = run_in_child(&w, 0);
  ck_assert_int_ge(wait_results(w.db, 3), 3);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  ck_assert_int_eq(wait_child(pid), 128 + SIGKILL);
  wait_group_gone(pid);  /* the workers saw their stdin end and left */
  unsetenv("PT_TEST_SLOW_MS");
  long long before = count_results(w.db);
  char *kept = sql_text(w.db, "SELECT group_concat(id || ':' || median_us, ' ') FROM"
                              " (SELECT id, median_us FROM measurements ORDER BY id)");
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
  pt_sup_summary_t sum;
  pt_err_t err;
  ck_assert_msg(run(&w, 1, &sum, &err) == PT_OK, "%s\n%s", err.msg, w.log);
  ck_assert_uint_eq(sum.skipped, (size_t)before);
  ck_assert_uint_eq(sum.done, 12 - (size_t)before);
  ck_assert_int_eq(count_results(w.db), 12);
  /* No duplicate: one result per problem and variant; none lost or changed. */
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(DISTINCT problem_id || '/' || variant_id)"
                                 " FROM measurements"), 12);
  char *now = sql_text(w.db, "SELECT group_concat(id || ':' || median_us, ' ') FROM"
                             " (SELECT id, median_us FROM measurements WHERE run_id = 1"
                             " ORDER BY id)");
  ck_assert_str_eq(now, kept);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM jobs WHERE run_id = 2"
                                 " AND state IN ('done', 'failed')"), 12);
  free(kept);
  free(now);
  world_free(&w);
}
END_TEST

/* A retune killed with kill -9 goes on with --resume: the items the killed
 * run measured again are skipped, the others measured, and every earlier
 * result is kept in the history; a later --retune starts a new retune. */
START_TEST(retune_after_kill9_resumes_and_keeps_history) {
  world_t w;
  world_init(&w, "bm=16|32|64,bn=128");
  pt_sup_summary_t sum;
  pt_err_t err;
  ck_assert_msg(run(&w, 0, &sum, &err) == PT_OK, "%s\n%s", err.msg, w.log);
  char *first = sql_text(w.db, "SELECT group_concat(id || ':' || median_us, ' ') FROM"
                               " (SELECT id, median_us FROM measurements ORDER BY id)");
  w.retune = 1;
  setenv("PT_TEST_SLOW_MS", "250", 1);
  pid_t pid = run_in_child(&w, 0);
  for (int i = 0; i < 1200 && pt_test_sql_int(w.db, "SELECT count(*) FROM measurements"
                                                    " WHERE run_id = 2") < 3; i++)
    sleep_ms(50);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  ck_assert_int_eq(wait_child(pid), 128 + SIGKILL);
  wait_group_gone(pid);
  unsetenv("PT_TEST_SLOW_MS");
  long long again = pt_test_sql_int(w.db, "SELECT count(*) FROM measurements WHERE run_id = 2");
  ck_assert_int_ge(again, 3);
  ck_assert_int_lt(again, 12);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT retune FROM runs WHERE id = 2"), 2);
  ck_assert_msg(run(&w, 1, &sum, &err) == PT_OK, "%s\n%s", err.msg, w.log);
  ck_assert_uint_eq(sum.skipped, (size_t)again);
  ck_assert_uint_eq(sum.done, 12 - (size_t)again);
  ck_assert_int_eq(sum.retune_of, 2);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT retune FROM runs WHERE id = 3"), 2);
  /* The readers see the retune's twelve results, whichever worker measured
   * them; run 1's are kept (replaced into the history, or superseded on the
   * other device) as they were. */
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results"), 12);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE run_id = 1"), 0);
  char *kept = sql_text(w.db, "SELECT group_concat(measurement_id || ':' || median_us, ' ') FROM"
                              " (SELECT measurement_id, median_us FROM run_results"
                              " WHERE run_id = 1 ORDER BY measurement_id)");
  ck_assert_str_eq(kept, first);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM run_results"), 24);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM jobs WHERE run_id = 3"
                                         " AND state IN ('done', 'failed')"), 12);
  /* Without --resume a retune measures everything again. */
  ck_assert_msg(run(&w, 0, &sum, &err) == PT_OK, "%s\n%s", err.msg, w.log);
  ck_assert_uint_eq(sum.skipped, 0);
  ck_assert_uint_eq(sum.done, 12);
  ck_assert_int_eq(sum.retune_of, 4);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM run_results"), 36);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results"), 12);
  free(kept);
  free(first);
  world_free(&w);
}
END_TEST

START_TEST(compile_cache_skips_the_compiler) {
  world_t w;
  world_init(&w, "bm=16|32,bn=64|128");  /* 4 variants x 2 stages */
  pt_sup_summary_t sum;
  pt_err_t err;
  ck_assert_msg(run(&w, 0, &sum, &err) == PT_OK, "%s", err.msg);
  ck_assert_int_eq(sum.units, 8);
  ck_assert_int_eq(sum.compiled, 8);
  ck_assert_int_eq(atomic_load(&w.compiles), 8);
  /* New token counts: new problems and items, the same code objects. */
  pt_plan_free(&w.plan);
  const int tokens[] = {2, 4};
  const char *specs[] = {"bm=16|32,bn=64|128"};
  pt_plan_req_t req = {.family = "tiny", .dtype = -1, .stage = -1, .tokens = tokens,
                       .ntokens = 2, .variants = specs, .nvariants = 1, .nshards = 1};
  ck_assert_int_eq(pt_plan_build(&w.set, &req, &w.plan, NULL), PT_OK);
  ck_assert_msg(run(&w, 0, &sum, &err) == PT_OK, "%s", err.msg);
  ck_assert_int_eq(sum.compiled, 0);
  ck_assert_int_eq(sum.cached, 8);
  ck_assert_int_eq(atomic_load(&w.compiles), 8);
  ck_assert_uint_eq(sum.by_status[PT_DB_STATUS_OK], 16);
  world_free(&w);
}
END_TEST

/* A variant the device cannot run is recorded as infeasible, with the limit
 * it breaks, beside the others' results; nothing is compiled for it, and a
 * resumed run finds every item settled. */
START_TEST(infeasible_variants_are_recorded_and_the_run_completes) {
  world_t w;
  world_init(&w, "bm=16,bn=128");
  pt_plan_free(&w.plan);
  const char *specs[] = {"bm=16,bn=128", "bm=16,bn=256,k_wave=4"};  /* the second fits no GPU */
  pt_plan_req_t req = {.family = "tiny", .dtype = -1, .stage = PT_STAGE_GEMM1,
                       .variants = specs, .nvariants = 2, .nshards = 1};
  ck_assert_int_eq(pt_plan_build(&w.set, &req, &w.plan, NULL), PT_OK);
  pt_sup_summary_t sum;
  pt_err_t err;
  ck_assert_msg(run(&w, 0, &sum, &err) == PT_OK, "%s\n%s", err.msg, w.log);
  ck_assert_uint_eq(sum.planned, 4);
  ck_assert_uint_eq(sum.done, 4);
  ck_assert_uint_eq(sum.by_status[PT_DB_STATUS_OK], 2);
  ck_assert_uint_eq(sum.by_status[PT_DB_STATUS_INFEASIBLE], 2);
  ck_assert_int_eq(atomic_load(&w.compiles), 1);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE status = 'infeasible'"
                                 " AND spec LIKE 'bm=16,bn=256,k_wave=4,%' AND reason LIKE '%exceed%'"
                                 " AND length(source_hash) = 32"), 2);
  ck_assert_msg(run(&w, 1, &sum, &err) == PT_OK, "%s\n%s", err.msg, w.log);
  ck_assert_uint_eq(sum.skipped, 4);
  ck_assert_uint_eq(sum.done, 0);
  world_free(&w);
}
END_TEST

START_TEST(a_worker_that_cannot_start_is_an_error) {
  world_t w;
  world_init(&w, "bm=16");
  const char *argv[] = {"/nonexistent/pipetune-worker", NULL};
  pt_db_t *db = NULL;
  pt_err_t err;
  pt_sup_summary_t sum;
  ck_assert_int_eq(pt_db_open(w.db, PT_DB_CREATE, &db, &err), PT_OK);
  pt_sup_opts_t o = sup_opts(&w, db);
  o.worker_argv = argv;
  ck_assert_int_eq(pt_sup_run(&o, &sum, &err), PT_ENOGPU);
  ck_assert_msg(strstr(err.msg, "no worker could open its gpu"), "%s", err.msg);
  ck_assert_msg(strstr(w.log, "cannot run '/nonexistent/pipetune-worker'"), "%s", w.log);
  ck_assert_msg(strstr(w.log, "giving up on gpu 0"), "%s", w.log);
  pt_db_close(db);
  world_free(&w);
}
END_TEST

/* ---- the command line ---- */

#define TUNE(...) pt_test_pipetune((const char *const[]){"tune", __VA_ARGS__, NULL})
#define RUN_PT(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

START_TEST(cli_refuses_bad_input_before_any_work) {
  world_t w;
  world_init(&w, "bm=16");
  char *bad = pt_test_write(w.dir, "bad.json", "{\"version\": 1, \"families\": [");
  char *notdb = pt_test_write(w.dir, "notes.txt", "these are my notes, not a database\n");
  const struct { const char *opt, *val, *why; } cases[] = {
      {"--family", "dsv9", "unknown family 'dsv9'"},
      {"--dtype", "a3w3", "option --dtype: unknown dtype 'a3w3'"},
      {"--tokens", "0,1", "option --tokens: token count '0'"},
      {"--tokens", "16,4", "option --tokens"},
      {"--stage", "gemm3", "option --stage: unknown stage 'gemm3'"},
      {"--variants", "bm=17", "variant spec 'bm=17'"},
      {"--variants", "frob=1", "'frob'"},
      {"--shard", "2/2", "option --shard: shard '2/2'"},
      {"--budget", "8x", "option --budget: '8x'"},
      {"--gpus", "a", "option --gpus: 'a'"},
      {"--gpus", "0,0", "gpu 0 is listed twice"},
      {"--grid", "/nonexistent/grid.json", "option --grid"},
      {"--grid", bad, "bad.json"},
      {"--routing", "zipf:-1", "option --routing"},
      {"--arch", "pdp11", "option --arch"},
      /* Whitespace is refused by every number parser alike (num.h); the
       * message shows control bytes escaped (escape.h). */
      {"--tokens", "\t1", "option --tokens: token count '\\x091'"},
      {"--tokens", " 1", "option --tokens: token count ' 1'"},
      {"--tokens", "1,\n16", "option --tokens: token count '\\x0a16'"},
      {"--shard", "\t0/2", "option --shard"},
      {"--shard", "0/\t2", "option --shard"},
      {"--gpus", "\t0", "option --gpus"},
      {"--gpus", "0,\t1", "option --gpus"},
      {"--budget", "\t8h", "option --budget"},
      {"--budget", "1h\t30m", "option --budget"},
      {"--jobs", "\t2", "option '--jobs' expects an integer"},
      {"--seed", " 1", "option '--seed' expects an integer"},
      {"--min-ms", "+5", "option '--min-ms' expects an integer"},
      {"--routing", "zipf:\t1.2", "option --routing"},
      {"--variants", "bm=\t16", "variant spec"},
      {"--search", "random", "option --search: unknown strategy 'random'"},
      {"--search", "spec", "option --search: unknown strategy 'spec'"},
      {"--max-evals", "-1", "option --max-evals: -1 is not a count"},
      {"--max-evals", "\t3", "option '--max-evals' expects an integer"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pt_test_out_t r = TUNE("--db", w.db, cases[i].opt, cases[i].val);
    pt_test_expect(r, 2, cases[i].why, NULL);
    pt_test_out_free(&r);
    ck_assert_msg(access(w.db, F_OK) != 0, "'%s %s' created the database", cases[i].opt,
                  cases[i].val);
  }
  pt_test_out_t r = TUNE("--db", w.db, "--search", "pruned", "--variants", "bm=16");
  pt_test_expect(r, 2, "options --search and --variants exclude each other", NULL);
  pt_test_out_free(&r);
  ck_assert(access(w.db, F_OK) != 0);
  r = TUNE("--family", "gptoss-120b");
  pt_test_expect(r, 2, "option --db FILE is required", NULL);
  pt_test_out_free(&r);
  r = TUNE("--db", notdb, "--compile-only");
  pt_test_expect(r, 2, "notes.txt", NULL);
  pt_test_out_free(&r);
  FILE *f = fopen(notdb, "rb");
  char buf[128] = "";
  ck_assert(fgets(buf, sizeof buf, f) != NULL);
  fclose(f);
  ck_assert_str_eq(buf, "these are my notes, not a database\n");
  free(bad);
  free(notdb);
  world_free(&w);
}
END_TEST

/* Real compiles (NVRTC or hiprtc): the first run compiles, the second hits
 * the cache. Without a GPU the plain command compile-checks, then fails
 * (exit 1, one error line) because nothing was measured, so a nightly
 * `tune && emit` stops at tune; --compile-only is the way to exit 0. */
START_TEST(cli_compile_check) {
  world_t w;
  world_init(&w, "bm=16");
  pt_test_out_t r = TUNE("--db", w.db, "--compile-only", "--variants", "bm=16", "--tokens", "1");
  pt_test_expect(r, 0, NULL, "compile-checked 2 variants");
  ck_assert_msg(strstr(r.out, "2 compiled, 0 cached, 0 failed"), "%s", r.out);
  pt_test_out_free(&r);
  r = TUNE("--db", w.db, "--compile-only", "--variants", "bm=16", "--tokens", "1,16");
  pt_test_expect(r, 0, NULL, "0 compiled, 2 cached, 0 failed");
  pt_test_out_free(&r);
  if (!pt_test_have_gpu()) {
    unsetenv("PT_WORKER_BACKEND");
    r = TUNE("--db", w.db, "--variants", "bm=16", "--tokens", "1");
    pt_test_expect(r, 1, "error: no GPU found: nothing was measured (timing needs a GPU",
           "no GPU found: compile-checked 2 variants");
    ck_assert_msg(strstr(r.err, "--compile-only"), "%s", r.err);
    int errors = 0;
    for (const char *p = r.err; (p = strstr(p, "error:")) != NULL; p++) errors++;
    ck_assert_int_eq(errors, 1);
    pt_test_out_free(&r);
  }
  world_free(&w);
}
END_TEST

/* The whole command on the simulated backend: a run, a refused rerun, a
 * resumed one, and a budget that stops a slow run cleanly. */
START_TEST(cli_tune_resume_and_budget) {
  world_t w;
  world_init(&w, "bm=16");
  setenv("PT_WORKER_BACKEND", "test", 1);
  pt_test_out_t r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=16", "--db",
                         w.db, "--min-ms", "1");
  pt_test_expect(r, 0, "[4/4]", "results: 4 ok");
  pt_test_out_free(&r);
  r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=16", "--db", w.db);
  pt_test_expect(r, 2, "pass --resume to skip them", NULL);
  pt_test_out_free(&r);
  r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=16", "--db", w.db, "--resume");
  char want[128];
  snprintf(want, sizeof want, "0 of 4 planned items measured on 1 gpu(s) (%s), 4 already in",
           sim_arch());
  pt_test_expect(r, 0, NULL, want);
  pt_test_out_free(&r);
  /* Compile first, so that the budget is spent on measuring. */
  r = TUNE("--grid", w.grid, "--variants", "bm=32|64", "--db", w.db, "--compile-only");
  pt_test_expect(r, 0, NULL, "compile-checked 4 variants");
  pt_test_out_free(&r);
  setenv("PT_TEST_SLOW_MS", "400", 1);
  r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=32|64", "--db", w.db,
           "--budget", "1s", "--min-ms", "1");
  pt_test_expect(r, 0, "budget reached", NULL);
  pt_test_out_free(&r);
  long long first = pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE spec NOT LIKE 'bm=16,%'");
  ck_assert_int_ge(first, 1);
  ck_assert_int_lt(first, 8);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM runs WHERE status = 'interrupted'"), 1);
  unsetenv("PT_TEST_SLOW_MS");
  r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=32|64", "--db", w.db,
           "--resume", "--min-ms", "1");
  pt_test_expect(r, 0, NULL, "already in");
  pt_test_out_free(&r);
  ck_assert_int_eq(count_results(w.db), 12);
  world_free(&w);
}
END_TEST

/* --holdout measures the grid's midpoint (4 between 1 and 16) as held out,
 * keeps it out of the table and prints the regret as `query regret` does;
 * --retune measures the plan again and `query runs` compares the runs. */
START_TEST(cli_tune_holdout_and_retune) {
  world_t w;
  world_init(&w, "bm=16");
  setenv("PT_WORKER_BACKEND", "test", 1);
  pt_test_out_t r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=16|32",
                         "--db", w.db, "--min-ms", "1", "--holdout");
  pt_test_expect(r, 0, "held-out points compared", "regret of the table");
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE holdout = 1"
                                         " AND tokens = 4 AND run_id = 2"), 4);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM results WHERE holdout = 1"), 4);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM best WHERE tokens = 4"), 0);
  pt_test_out_t q = RUN_PT("query", "regret", "--db", w.db, "--holdout", w.db);
  pt_test_expect(q, 0, "3 of 3 held-out points compared", "worst_tokens");
  ck_assert_msg(strstr(r.out, q.out), "tune printed:\n%s\nquery printed:\n%s", r.out, q.out);
  pt_test_out_free(&q);
  pt_test_out_free(&r);
  q = RUN_PT("query", "best", "--db", w.db, "--format", "csv");
  ck_assert_ptr_null(strstr(q.out, ",4,bm="));
  pt_test_out_free(&q);
  r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=16|32", "--db", w.db,
           "--min-ms", "1", "--retune");
  pt_test_expect(r, 0, NULL, "8 of 8 planned items measured");
  pt_test_out_free(&r);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM measurement_history"), 8);
  q = RUN_PT("query", "runs", "--db", w.db, "--format", "csv");
  pt_test_expect(q, 0, "runs 1 -> 3: 8 items in both, 8 ok in both", "status_a");
  pt_test_out_free(&q);
  r = TUNE("--grid", w.grid, "--gpus", "0", "--variants", "bm=16|32", "--db", w.db);
  pt_test_expect(r, 2, "pass --resume to skip them", NULL);
  pt_test_out_free(&r);
  world_free(&w);
}
END_TEST

/* An adaptive search in rounds on the simulated backend, under a budget of
 * 34 runs (the 28 feasible of the pruned list, then one-knob moves): the
 * search is recorded, a rerun is refused, and a resumed one derives the
 * same rounds from the database and measures nothing again. */
START_TEST(cli_adaptive_search_in_rounds) {
  world_t w;
  world_init(&w, "bm=16");
  setenv("PT_WORKER_BACKEND", "test", 1);
  pt_test_out_t r = TUNE("--grid", w.grid, "--gpus", "0", "--stage", "gemm1", "--tokens", "1",
                         "--max-evals", "34", "--db", w.db, "--min-ms", "1");
  pt_test_expect(r, 0, NULL, "search: adaptive, 1 searches (1 finished) in 2 rounds");
  pt_test_out_free(&r);
  const char *ran = "SELECT count(*) FROM results WHERE status <> 'infeasible'";
  ck_assert_int_eq(pt_test_sql_int(w.db, ran), 34);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM searches WHERE strategy ="
                                         " 'adaptive' AND finished = 1 AND rounds = 2"), 1);
  long long total = pt_test_sql_int(w.db, "SELECT count(*) FROM measurements");
  r = TUNE("--grid", w.grid, "--gpus", "0", "--stage", "gemm1", "--tokens", "1",
           "--max-evals", "34", "--db", w.db);
  pt_test_expect(r, 2, "pass --resume to skip them", NULL);
  pt_test_out_free(&r);
  r = TUNE("--grid", w.grid, "--gpus", "0", "--stage", "gemm1", "--tokens", "1",
           "--max-evals", "34", "--db", w.db, "--resume");
  pt_test_expect(r, 0, NULL, "in 2 rounds (1 run on the gpus), 34 variants run");
  pt_test_out_free(&r);
  ck_assert_int_eq(pt_test_sql_int(w.db, "SELECT count(*) FROM measurements"), total);
  r = pt_test_pipetune((const char *const[]){"query", "searches", "--db", w.db, "--format",
                                             "csv", NULL});
  pt_test_expect(r, 0, NULL, ",gemm1,1,adaptive,34,");
  pt_test_out_free(&r);
  /* plan check: the first round is there and the search finished; the
   * same point without the budget is another search, not finished. */
  r = pt_test_pipetune((const char *const[]){"plan", "check", "--grid", w.grid, "--stage",
                                             "gemm1", "--tokens", "1", "--max-evals", "34",
                                             "--db", w.db, NULL});
  pt_test_expect(r, 0, NULL, "complete");
  pt_test_out_free(&r);
  r = pt_test_pipetune((const char *const[]){"plan", "check", "--grid", w.grid, "--stage",
                                             "gemm1", "--tokens", "1", "--db", w.db, NULL});
  pt_test_expect(r, 1, NULL, "searches not finished: 1");
  pt_test_out_free(&r);
  world_free(&w);
}
END_TEST

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--worker") == 0) return worker_main(argc, argv);
  int gpu = getenv("PT_TEST_SIMULATE") == NULL && pt_test_have_gpu();
  setenv("PT_TEST_MODE", gpu ? "gpu" : "sim", 1);
  printf("%s\n", gpu ? "workers: this program on the GPU (real faulting kernels)"
                     : "workers: pipetune worker, simulated backend (no GPU)");
  Suite *s = suite_create("tune_faults");
  TCase *sup = tcase_create("supervisor");
  tcase_set_timeout(sup, 120);
  tcase_add_test(sup, crash_and_hang_are_recorded_and_the_run_completes);
  tcase_add_test(sup, sigint_finishes_in_flight_items_then_resume_completes);
  tcase_add_test(sup, kill9_then_resume_loses_and_duplicates_nothing);
  tcase_add_test(sup, compile_cache_skips_the_compiler);
  tcase_add_test(sup, infeasible_variants_are_recorded_and_the_run_completes);
  tcase_add_test(sup, a_worker_that_cannot_start_is_an_error);
  tcase_add_test(sup, retune_after_kill9_resumes_and_keeps_history);
  suite_add_tcase(s, sup);
  TCase *cli = tcase_create("cli");
  tcase_set_timeout(cli, 300);
  tcase_add_test(cli, cli_refuses_bad_input_before_any_work);
  tcase_add_test(cli, cli_compile_check);
  tcase_add_test(cli, cli_tune_resume_and_budget);
  tcase_add_test(cli, cli_tune_holdout_and_retune);
  tcase_add_test(cli, cli_adaptive_search_in_rounds);
  suite_add_tcase(s, cli);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
