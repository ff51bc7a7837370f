/* Following a run (issue 14 items 23 and 19), through the real pipetune:
 *   - `pipetune status` shows a run while `pipetune tune` measures into the
 *     same database (workers on the simulated backend, slowed down), then
 *     the finished run; it reads only, and never blocks the tuner;
 *   - off a terminal every tune log line starts with its UTC time; on one
 *     the compile phase shows its rate and ETA;
 *   - infeasible items (never run) are kept apart from failed ones in the
 *     tune summary, the status view and `pipetune status`;
 *   - bad input is one error line and exit 2, the database untouched.
 */
#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <pty.h>
#include <regex.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkmain.h"
#include "db.h"
#include "db_int.h"
#include "runs.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static const char tiny_grid[] =
    "{\"version\": 1, \"tokens\": [1, 16],\n"
    " \"families\": [{\"name\": \"tiny\", \"model_dim\": 256, \"inter_dim\": 256,\n"
    "   \"experts\": 8, \"topk\": 2, \"dtypes\": [\"a16w4\"], \"act\": \"swiglu_oai\"}]}\n";

/* The plan of every tune here: 2 token counts x 3 gemm1 variants, the last
 * of which fits no GPU (infeasible, never run). */
#define TUNE_PLAN "--grid", w->grid, "--stage", "gemm1", "--variants", "bm=16|32,bn=128", \
                  "--variants", "bm=16,bn=256,k_wave=4", "--db", w->db

typedef struct world_s {
  char *dir, *grid, *db, *pipetune;
} world_t;

/* The arch the simulated device reports: one this build can compile for. */
static const char *sim_arch(void) {
  return pt_gpu_backends_built() & (1u << PT_GPU_CUDA) ? "sm_90" : "gfx90a";
}

static void world_init(world_t *w) {
  w->dir = pt_test_tmpdir();
  ck_assert_ptr_nonnull(w->dir);
  w->grid = pt_test_write(w->dir, "tiny.json", tiny_grid);
  w->db = pt_test_join(w->dir, "t.db");
  w->pipetune = pt_test_build_path("pipetune");
  setenv("PT_WORKER_BACKEND", "test", 1);
  setenv("PT_TEST_ARCH", sim_arch(), 1);
  unsetenv("PT_TEST_SLOW_MS");
  unsetenv("PT_TEST_CRASH");
}

static void world_free(world_t *w) {
  pt_test_rmdir(w->dir);
  free(w->dir);
  free(w->grid);
  free(w->db);
  free(w->pipetune);
}

/* Settled items of the database's plans; 0 until the schema is in. */
static long long settled(const char *path) {
  if (access(path, F_OK) != 0) return 0;
  if (pt_test_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'jobs'") == 0) return 0;
  return pt_test_sql_int(path, "SELECT count(*) FROM jobs WHERE state IN ('done', 'failed')");
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static char *sidecar(const char *db, const char *suffix) {
  size_t n = strlen(db) + strlen(suffix) + 1;
  char *p = malloc(n);
  snprintf(p, n, "%s%s", db, suffix);
  return p;
}

/* ---- pipetune in the background, and on a terminal ---- */

typedef struct job_s {
  pid_t pid;
  char *out, *err;  /* the files its stdout and stderr go to */
} job_t;

static job_t start_bg(world_t *w, const char *const *args) {
  job_t j = {.out = pt_test_join(w->dir, "bg.out"), .err = pt_test_join(w->dir, "bg.err")};
  int nargs = 0;
  while (args[nargs]) nargs++;
  const char **argv = calloc((size_t)nargs + 2, sizeof *argv);
  argv[0] = w->pipetune;
  for (int i = 0; i < nargs; i++) argv[i + 1] = args[i];
  fflush(NULL);
  j.pid = fork();
  ck_assert(j.pid >= 0);
  if (j.pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int out = open(j.out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(j.err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(w->pipetune, (char *const *)argv);
    _exit(127);
  }
  free(argv);
  return j;
}

/* Waits for the job; its output in *r (free with pt_test_out_free). */
static void wait_bg(job_t *j, pt_test_out_t *r) {
  int ws = 0;
  ck_assert_int_eq(waitpid(j->pid, &ws, 0), j->pid);
  r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  r->out = pt_test_slurp(j->out, NULL);
  r->err = pt_test_slurp(j->err, NULL);
  free(j->out);
  free(j->err);
}

/* Runs pipetune with its stdout and stderr on a pseudo-terminal; returns
 * what the terminal got (malloc'd) and the exit status in *status. */
static char *run_on_tty(world_t *w, const char *const *args, int *status) {
  int nargs = 0;
  while (args[nargs]) nargs++;
  const char **argv = calloc((size_t)nargs + 2, sizeof *argv);
  argv[0] = w->pipetune;
  for (int i = 0; i < nargs; i++) argv[i + 1] = args[i];
  int master = -1;
  fflush(NULL);
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  ck_assert(pid >= 0);
  if (pid == 0) {
    execv(w->pipetune, (char *const *)argv);
    _exit(127);
  }
  free(argv);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  ssize_t got;
  /* EIO once the child is gone and the terminal has no writer left. */
  while ((got = read(master, buf + n, cap - n - 1)) > 0) {
    n += (size_t)got;
    if (n + 1 == cap) buf = realloc(buf, cap *= 2);
  }
  buf[n] = '\0';
  close(master);
  int ws = 0;
  ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
  *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return buf;
}

/* ---- pipetune status --format json ---- */

/* The runs `pipetune status --format json` prints (free with cJSON_Delete). */
static cJSON *status_json(world_t *w) {
  pt_test_out_t r = RUN("status", "--db", w->db, "--format", "json");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_msg(r.err[0] == '\0', "status wrote to stderr: %s", r.err);
  cJSON *j = cJSON_Parse(r.out);
  ck_assert_msg(cJSON_IsArray(j), "not a JSON array: %s", r.out);
  pt_test_out_free(&r);
  return j;
}

static double num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  ck_assert_msg(v != NULL, "no '%s'", key);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  ck_assert_msg(cJSON_IsString(v), "'%s' is not a string", key);
  return v->valuestring;
}

/* Every line of a log off a terminal starts with its UTC time, as the
 * database writes times: 2026-11-21T10:00:00.123Z. */
static void assert_stamped(const char *log) {
  regex_t re;
  ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                                "\\.[0-9]{3}Z ", REG_EXTENDED | REG_NOSUB), 0);
  int lines = 0;
  for (const char *p = log; *p; lines++) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *line = strndup(p, len);
    ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "log line without a time: '%s'", line);
    free(line);
    p += len + (nl != NULL);
  }
  regfree(&re);
  ck_assert_int_gt(lines, 0);
}

/* ---- the cases ---- */

/* status while tune measures (one item crashes, two are infeasible), then
 * when it is done; the tune's log and summary. */
START_TEST(status_follows_a_running_tune) {
  world_t w_, *w = &w_;
  world_init(w);
  /* Compile first, so that the run below spends its time measuring. */
  pt_test_out_t r = RUN("tune", TUNE_PLAN, "--compile-only");
  pt_test_expect(r, 0, NULL, "compile-checked 3 variants");
  pt_test_out_free(&r);
  setenv("PT_TEST_SLOW_MS", "500", 1);
  setenv("PT_TEST_CRASH", "gemm1/bm=32,*/t=1", 1);
  job_t job = start_bg(w, (const char *const[]){"tune", TUNE_PLAN, "--gpus", "0",
                                                "--min-ms", "1", NULL});
  /* Wait for the first items: one measured, one infeasible (settled at
   * once) and one more. */
  for (int i = 0; i < 1200 && settled(w->db) < 3; i++) sleep_ms(50);
  ck_assert_int_ge(settled(w->db), 3);
  cJSON *runs = status_json(w);
  ck_assert_int_eq(cJSON_GetArraySize(runs), 1);
  const cJSON *run = cJSON_GetArrayItem(runs, 0);
  ck_assert_str_eq(str(run, "state"), "running");
  ck_assert_ptr_nonnull(strstr(str(run, "command"), "pipetune tune --grid"));
  ck_assert(cJSON_IsNull(cJSON_GetObjectItem(run, "finished")));
  ck_assert_int_eq((int)num(run, "planned"), 6);
  ck_assert_int_ge((int)num(run, "done"), 3);
  ck_assert_int_lt((int)num(run, "done"), 6);
  ck_assert_int_ge((int)num(run, "infeasible"), 1);  /* settled in plan order */
  ck_assert_int_eq((int)(num(run, "done") + num(run, "running") + num(run, "ready")), 6);
  ck_assert_msg(num(run, "per_min") > 0, "no rate");
  ck_assert_msg(num(run, "eta_s") >= 0, "no ETA while running");
  cJSON_Delete(runs);
  /* The table, again and again while the tuner writes: never in its way
   * (the run may end between two calls). */
  for (int calls = 0; settled(w->db) < 6 && calls < 200; calls++) {
    r = RUN("status", "--db", w->db);
    pt_test_expect(r, 0, NULL, "  1  ");
    ck_assert_msg(strstr(r.out, "  running  ") || strstr(r.out, "  done  "), "%s", r.out);
    pt_test_out_free(&r);
  }
  wait_bg(&job, &r);
  pt_test_expect(r, 0, NULL, "results: 3 ok, 1 failed (1 crash)\n");
  ck_assert_msg(strstr(r.out, "tune: 4 of 6 planned items measured on 1 gpu(s)") &&
                    strstr(r.out, ", 2 infeasible (not run)\n"),
                "%s", r.out);
  assert_stamped(r.err);
  ck_assert_ptr_nonnull(strstr(r.err, ": infeasible: "));  /* the log has every item */
  pt_test_out_free(&r);
  unsetenv("PT_TEST_SLOW_MS");
  unsetenv("PT_TEST_CRASH");

  /* Done: every item settled, infeasible apart from failed, no ETA. */
  runs = status_json(w);
  run = cJSON_GetArrayItem(runs, 0);
  ck_assert_str_eq(str(run, "state"), "done");
  ck_assert_ptr_nonnull(str(run, "finished"));
  const char *counts[] = {"done", "planned", "ok", "failed", "infeasible", "running",
                          "ready", "crash", "timeout", "verify_fail", "launch_fail",
                          "compile_fail"};
  const int want[] = {6, 6, 3, 1, 2, 0, 0, 1, 0, 0, 0, 0};
  for (int i = 0; i < 12; i++)
    ck_assert_msg((int)num(run, counts[i]) == want[i], "%s: %g, wanted %d", counts[i],
                  num(run, counts[i]), want[i]);
  ck_assert(cJSON_IsNull(cJSON_GetObjectItem(run, "eta_s")));
  ck_assert_msg(num(run, "per_min") > 0, "no rate");
  cJSON_Delete(runs);
  ck_assert_int_eq(pt_test_sql_int(w->db, "SELECT failed * 10 + infeasible FROM status"), 12);
  world_free(w);
}
END_TEST

/* status reads only: a closed database keeps every byte and gets no -wal
 * or -shm file; --run picks one run. */
START_TEST(status_reads_only) {
  world_t w_, *w = &w_;
  world_init(w);
  pt_test_out_t r = RUN("tune", TUNE_PLAN, "--gpus", "0", "--min-ms", "1");
  pt_test_expect(r, 0, NULL, "2 infeasible (not run)");
  pt_test_out_free(&r);
  r = RUN("tune", TUNE_PLAN, "--gpus", "0", "--min-ms", "1", "--resume");
  pt_test_expect(r, 0, NULL, "0 of 6 planned items measured on 1 gpu(s)");
  pt_test_out_free(&r);
  size_t n0, n1;
  char *before = pt_test_slurp(w->db, &n0);
  char *wal = sidecar(w->db, "-wal"), *shm = sidecar(w->db, "-shm");
  ck_assert(!file_exists(wal) && !file_exists(shm));
  r = RUN("status", "--db", w->db);
  pt_test_expect(r, 0, NULL, "per_min");
  /* A header and a row per run. */
  ck_assert_ptr_nonnull(strstr(r.out, "\n  1  done "));
  ck_assert_ptr_nonnull(strstr(r.out, "\n  2  done "));
  pt_test_out_free(&r);
  r = RUN("status", "--db", w->db, "--run", "2", "--format", "csv");
  pt_test_expect(r, 0, NULL, "run,state,started,finished,done,planned,ok,failed,infeasible");
  ck_assert_ptr_nonnull(strstr(r.out, "\r\n2,done,"));
  ck_assert_ptr_null(strstr(r.out, "\r\n1,"));
  pt_test_out_free(&r);
  char *after = pt_test_slurp(w->db, &n1);
  ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
  ck_assert(!file_exists(wal) && !file_exists(shm));
  /* The resumed run planned every item again, settled before it began. */
  pt_db_t *db = NULL;
  pt_err_t err;
  ck_assert_int_eq(pt_db_open(w->db, PT_DB_READONLY, &db, &err), PT_OK);
  pt_db_runs_row_t *runs = NULL;
  size_t n = 0;
  ck_assert_int_eq(pt_db_runs_list(db, 2, &runs, &n), PT_OK);
  ck_assert_uint_eq(n, 1);
  ck_assert_int_eq(runs[0].planned, 6);
  ck_assert_int_eq(runs[0].ran, 0);
  ck_assert(isnan(pt_db_runs_rate(&runs[0])) && isnan(pt_db_runs_eta(&runs[0])));
  ck_assert_int_eq(runs[0].infeasible, 2);
  ck_assert_int_eq(runs[0].by_status[PT_DB_STATUS_INFEASIBLE], 2);
  pt_db_runs_free(runs, n);
  ck_assert_int_eq(pt_db_runs_list(db, 3, &runs, &n), PT_OK);
  ck_assert_uint_eq(n, 0);
  pt_db_close(db);
  free(before);
  free(after);
  free(wal);
  free(shm);
  world_free(w);
}
END_TEST

/* On a terminal: the compile phase's live line has a rate and an ETA, and
 * infeasible items get no failure line (the summary counts them). */
START_TEST(terminal_shows_compile_rate_and_eta) {
  world_t w_, *w = &w_;
  world_init(w);
  int status = -1;
  char *tty = run_on_tty(w, (const char *const[]){"tune", TUNE_PLAN, "--compile-only", NULL},
                         &status);
  ck_assert_msg(status == 0, "exit %d: %s", status, tty);
  regex_t re;
  ck_assert_int_eq(regcomp(&re, "compiling [12]/2 [0-9.]+/s ETA [0-9:-]+ \\| gemm1 ",
                           REG_EXTENDED | REG_NOSUB), 0);
  ck_assert_msg(regexec(&re, tty, 0, NULL, 0) == 0, "no compile rate and ETA: %s", tty);
  regfree(&re);
  free(tty);
  tty = run_on_tty(w, (const char *const[]){"tune", TUNE_PLAN, "--gpus", "0", "--min-ms", "1",
                                            NULL}, &status);
  ck_assert_msg(status == 0, "exit %d: %s", status, tty);
  ck_assert_msg(strstr(tty, "[6/6] "), "%s", tty);
  ck_assert_msg(strstr(tty, ": infeasible:") == NULL, "a failure line for infeasible: %s", tty);
  ck_assert_msg(strstr(tty, "2 infeasible (not run)"), "%s", tty);
  free(tty);
  world_free(w);
}
END_TEST

/* A file of schema version 1 (before the status view counted infeasible
 * items): status asks for an upgrade, db init brings it to the current
 * version with the new view, and db check finds it whole. */
START_TEST(version_1_file_is_upgraded) {
  world_t w_, *w = &w_;
  world_init(w);
  sqlite3 *c = NULL;
  pt_err_t err;
  ck_assert_int_eq(sqlite3_open(w->db, &c), SQLITE_OK);
  ck_assert_int_eq(pt__db_migrate(c, w->db, pt__db_migrations, 1, 0, &err), PT_OK);
  sqlite3_close(c);
  ck_assert_int_eq(pt_test_sql_int(w->db, "PRAGMA user_version"), 1);
  pt_test_out_t r = RUN("status", "--db", w->db);
  pt_test_expect(r, 2, "upgrade it with 'pipetune db init'", NULL);
  pt_test_out_free(&r);
  r = RUN("db", "init", w->db);
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  ck_assert_int_eq(pt_test_sql_int(w->db, "PRAGMA user_version"), pt_db_schema_version());
  ck_assert_int_eq(pt_test_sql_int(w->db, "SELECT count(*) FROM pragma_table_info('status')"
                                  " WHERE name = 'infeasible'"), 1);
  r = RUN("db", "check", w->db);
  pt_test_expect(r, 0, NULL, ": ok, schema version");
  pt_test_out_free(&r);
  r = RUN("status", "--db", w->db);
  pt_test_expect(r, 0, "no runs in", "run  state");
  pt_test_out_free(&r);
  r = RUN("status", "--db", w->db, "--format", "json");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_str_eq(r.out, "[]\n");
  pt_test_out_free(&r);
  world_free(w);
}
END_TEST

/* One "error:" line and exit 2, and the database as it was. */
static void refused(const char *const *args, const char *msg) {
  pt_test_out_t r = pt_test_pipetune(args);
  pt_test_expect(r, 2, msg, NULL);
  ck_assert_msg(strncmp(r.err, "error: ", 7) == 0 && strchr(r.err, '\n') != NULL,
                "%s", r.err);
  ck_assert_msg(strstr(r.err, "\nerror:") == NULL, "two error lines: %s", r.err);
  ck_assert_str_eq(r.out, "");
  pt_test_out_free(&r);
}

START_TEST(bad_input_exits_2) {
  world_t w_, *w = &w_;
  world_init(w);
  pt_test_out_t r = RUN("tune", TUNE_PLAN, "--gpus", "0", "--min-ms", "1");
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  size_t n0, n1;
  char *before = pt_test_slurp(w->db, &n0);
  char *missing = pt_test_join(w->dir, "missing.db");
  refused((const char *const[]){"status", NULL}, "error: missing --db FILE");
  refused((const char *const[]){"status", "--db", missing, NULL}, "does not exist");
  ck_assert(!file_exists(missing));
  refused((const char *const[]){"status", "--db", w->grid, NULL},
          "is not a pipetune database");
  refused((const char *const[]){"status", "--db", w->db, "--run", "9", NULL},
          "error: no run 9 in");
  refused((const char *const[]){"status", "--db", w->db, "--run", "0", NULL},
          "option --run: 0 is not a run id");
  refused((const char *const[]){"status", "--db", w->db, "--run", "-1", NULL},
          "is not a run id");
  refused((const char *const[]){"status", "--db", w->db, "--format", "xml", NULL},
          "unknown format 'xml'");
  refused((const char *const[]){"status", "--db", w->db, "extra", NULL},
          "unexpected argument 'extra'");
  r = RUN("status", "--db", w->db, "--run", "9");
  ck_assert_ptr_nonnull(strstr(r.err, "(it has 1 run, ids 1 to 1)"));
  pt_test_out_free(&r);
  char *after = pt_test_slurp(w->db, &n1);
  ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
  r = RUN("status", "--help");
  pt_test_expect(r, 0, NULL, "usage: pipetune status --db FILE");
  pt_test_out_free(&r);
  free(before);
  free(after);
  free(missing);
  world_free(w);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("status");
  TCase *tc = tcase_create("status");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, status_follows_a_running_tune);
  tcase_add_test(tc, status_reads_only);
  tcase_add_test(tc, terminal_shows_compile_rate_and_eta);
  tcase_add_test(tc, version_1_file_is_upgraded);
  tcase_add_test(tc, bad_input_exits_2);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  return pt_test_run_suite(suite());
}
