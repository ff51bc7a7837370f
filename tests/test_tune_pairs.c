/* The deployed pair timed (issue 13 part 4), through the real pipetune with
 * the simulated worker (PT_WORKER_BACKEND=test; no GPU needed):
 *   - `tune --pairs` takes at each token count the pair the database's
 *     generated table picks there (emit's selection: pt_emit_pick), runs it
 *     on every worker, and files it in pair_measurements with sbm = max(bm);
 *   - `query pairs` shows the pair next to the stage winners' sum, as a
 *     table, CSV and JSON;
 *   - a pair whose worker dies is a crash and the run goes on; kill -9 of
 *     tune, then --resume, loses and duplicates nothing;
 *   - without --resume a second run is refused and the file left
 *     byte-identical, as are the options --pairs does not take.
 * tests/gpu_pairs.c runs the same on a real device. */
#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkmain.h"
#include "gpu.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static const char tiny_grid[] =
    "{\"version\": 1, \"tokens\": [1, 16],\n"
    " \"families\": [{\"name\": \"tiny\", \"model_dim\": 256, \"inter_dim\": 256,\n"
    "   \"experts\": 8, \"topk\": 2, \"dtypes\": [\"a16w4\"], \"act\": \"swiglu_oai\"}]}\n";

/* The stage grid: 2 token counts x (2 gemm1 + 2 gemm2) variants. */
#define GRID "--grid", w->grid, "--variants", "bm=16|32,bn=128", "--db", w->db
#define FAST "--min-ms", "5", "--min-samples", "5"

typedef struct world_s {
  char *dir, *grid, *db;
} world_t;

static const char *sim_arch(void) {
  return pt_gpu_backends_built() & (1u << PT_GPU_CUDA) ? "sm_90" : "gfx90a";
}

static void quiet_faults(void) {
  unsetenv("PT_TEST_SLOW_MS");
  unsetenv("PT_TEST_CRASH");
}

/* The world with the stage grid tuned (compiled here, measured simulated). */
static void world_init(world_t *w) {
  w->dir = pt_test_tmpdir();
  ck_assert_ptr_nonnull(w->dir);
  w->grid = pt_test_write(w->dir, "tiny.json", tiny_grid);
  w->db = pt_test_join(w->dir, "t.db");
  setenv("PT_WORKER_BACKEND", "test", 1);
  setenv("PT_TEST_ARCH", sim_arch(), 1);
  quiet_faults();
  pt_test_out_t r = RUN("tune", GRID, "--compile-only");
  pt_test_expect(r, 0, NULL, "compile-checked 4 variants");
  pt_test_out_free(&r);
  r = RUN("tune", GRID, "--gpus", "0", FAST);
  pt_test_expect(r, 0, NULL, "results: 8 ok, 0 failed");
  pt_test_out_free(&r);
}

static void world_free(world_t *w) {
  pt_test_rmdir(w->dir);
  free(w->dir);
  free(w->grid);
  free(w->db);
}

static long long sql(const world_t *w, const char *q) { return pt_test_sql_int(w->db, q); }

/* The best view's winner of stage at tokens, as a variant id. */
static long long winner(const world_t *w, const char *stage, int tokens) {
  char q[256];
  snprintf(q, sizeof q, "SELECT variant_id FROM best WHERE stage = '%s' AND tokens = %d",
           stage, tokens);
  return sql(w, q);
}

/* The pair filed at tokens: its gemm1 or gemm2 variant id (col). */
static long long pair_col(const world_t *w, const char *col, int tokens) {
  char q[256];
  snprintf(q, sizeof q, "SELECT m.%s FROM pair_measurements m JOIN problems p"
           " ON p.id = m.problem_id WHERE p.tokens = %d", col, tokens);
  return sql(w, q);
}

START_TEST(pairs_follow_the_table) {
  world_t w[1];
  world_init(w);
  pt_test_out_t r = RUN("tune", "--grid", w->grid, "--tokens", "1,4,16", "--db", w->db,
                        "--gpus", "0,1", "--pairs", FAST);
  pt_test_expect(r, 0, "pair tiny a16w4 t=4 on ", "tune: 3 of 3 planned pairs measured on 2 gpu(s)");
  pt_test_out_free(&r);
  ck_assert_int_eq(sql(w, "SELECT count(*) FROM pair_measurements WHERE status = 'ok'"), 3);
  ck_assert_int_eq(sql(w, "SELECT count(DISTINCT device_id) FROM pair_measurements"), 2);
  /* Tuned counts take the stage winners; 4 lies in 1's interval (the
   * geometric midpoint of 1 and 16 is 4, the smaller side on a tie). */
  int at[3][2] = {{1, 1}, {4, 1}, {16, 16}};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(pair_col(w, "g1_variant_id", at[i][0]), winner(w, "gemm1", at[i][1]));
    ck_assert_int_eq(pair_col(w, "g2_variant_id", at[i][0]), winner(w, "gemm2", at[i][1]));
  }
  ck_assert_int_eq(sql(w, "SELECT count(*) FROM pair_measurements m JOIN variants a ON"
                          " a.id = m.g1_variant_id JOIN variants b ON b.id = m.g2_variant_id"
                          " WHERE m.sbm <> max(a.bm, b.bm)"), 0);
  /* Each pair ran once: no stage measurement or job was added. */
  ck_assert_int_eq(sql(w, "SELECT count(*) FROM measurements"), 8);
  ck_assert_int_eq(sql(w, "SELECT count(*) FROM runs WHERE status = 'done'"), 2);
  r = RUN("db", "check", w->db);
  pt_test_expect(r, 0, NULL, "schema version");
  pt_test_out_free(&r);
  /* Merged twice into a new file: every pair once, same times. */
  char *out = pt_test_join(w->dir, "merged.db");
  for (int i = 0; i < 2; i++) {
    r = RUN("db", "merge", w->db, "-o", out);
    pt_test_expect(r, 0, NULL, NULL);
    pt_test_out_free(&r);
  }
  ck_assert_int_eq(pt_test_sql_int(out, "SELECT count(*) FROM pair_results"), 3);
  ck_assert_int_eq(pt_test_sql_int(out, "SELECT CAST(sum(median_us) * 1000 AS INTEGER)"
                                        " FROM pair_results"),
                   sql(w, "SELECT CAST(sum(median_us) * 1000 AS INTEGER) FROM pair_results"));
  free(out);
  world_free(w);
}
END_TEST

/* The stage sum column is the best view's g1 + g2 medians at that count. */
START_TEST(query_pairs_shows_the_stage_sum) {
  world_t w[1];
  world_init(w);
  pt_test_out_t r = RUN("tune", "--grid", w->grid, "--tokens", "1,4,16", "--db", w->db,
                        "--gpus", "0", "--pairs", FAST);
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  r = RUN("query", "pairs", "--db", w->db, "--format", "json");
  pt_test_expect(r, 0, NULL, NULL);
  cJSON *a = cJSON_Parse(r.out);
  ck_assert(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 3);
  for (int i = 0; i < 3; i++) {
    cJSON *o = cJSON_GetArrayItem(a, i);
    int tokens = cJSON_GetObjectItem(o, "tokens")->valueint;
    ck_assert_str_eq(cJSON_GetObjectItem(o, "status")->valuestring, "ok");
    double pair = cJSON_GetObjectItem(o, "pair_us")->valuedouble;
    char q[256];
    snprintf(q, sizeof q, "SELECT CAST(round(median_us * 1000) AS INTEGER) FROM"
             " pair_results WHERE tokens = %d", tokens);
    ck_assert_int_eq(llround(pair * 1000), sql(w, q));
    cJSON *sum = cJSON_GetObjectItem(o, "stage_sum_us");
    if (tokens == 4) {  /* no stage was measured there */
      ck_assert(cJSON_IsNull(sum));
      continue;
    }
    snprintf(q, sizeof q, "SELECT CAST(round(sum(median_us) * 1000) AS INTEGER) FROM best"
             " WHERE tokens = %d", tokens);
    ck_assert_int_eq(llround(sum->valuedouble * 1000), sql(w, q));
    double ratio = cJSON_GetObjectItem(o, "pair_vs_sum")->valuedouble;
    ck_assert(fabs(ratio - pair / sum->valuedouble) < 1e-3);
  }
  cJSON_Delete(a);
  pt_test_out_free(&r);
  r = RUN("query", "pairs", "--db", w->db);
  pt_test_expect(r, 0, NULL, "stage_sum_us");
  pt_test_out_free(&r);
  r = RUN("query", "pairs", "--db", w->db, "--format", "csv");
  pt_test_expect(r, 0, NULL, "arch,family,dtype,tokens,sbm,gemm1,gemm2,status,pair_us,spread,"
                             "g1_best_us,g2_best_us,stage_sum_us,pair_vs_sum,device\r\n");
  pt_test_out_free(&r);
  world_free(w);
}
END_TEST

/* A database from before the pair table reads as one without pairs. */
START_TEST(older_database_has_no_pairs) {
  char *ex = pt_test_src_path("examples/gptoss-120b-h200.db");
  pt_test_out_t r = RUN("query", "pairs", "--db", ex, "--format", "csv");
  pt_test_expect(r, 0, NULL, "arch,family,dtype,tokens,sbm,");
  ck_assert_ptr_null(strchr(strchr(r.out, '\n') + 1, '\n'));
  pt_test_out_free(&r);
  free(ex);
}
END_TEST

START_TEST(crashed_pair_is_recorded_and_the_run_goes_on) {
  world_t w[1];
  world_init(w);
  setenv("PT_TEST_CRASH", "pair/*/t=4", 1);
  pt_test_out_t r = RUN("tune", "--grid", w->grid, "--tokens", "1,4,16", "--db", w->db,
                        "--gpus", "0", "--pairs", FAST);
  quiet_faults();
  pt_test_expect(r, 0, "crash", "results: 2 ok, 1 failed (1 crash)");
  ck_assert_ptr_nonnull(strstr(r.out, "1 worker restart(s)"));
  pt_test_out_free(&r);
  ck_assert_int_eq(sql(w, "SELECT count(*) FROM pair_results WHERE status = 'crash'"
                          " AND tokens = 4"), 1);
  world_free(w);
}
END_TEST

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* tune --pairs in a process group of its own, output to /dev/null. */
static pid_t start_pairs(world_t *w, const char *tokens) {
  char *pipetune = pt_test_build_path("pipetune");
  fflush(NULL);
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execl(pipetune, pipetune, "tune", "--grid", w->grid, "--tokens", tokens, "--db", w->db,
          "--gpus", "0", "--pairs", FAST, (char *)NULL);
    _exit(127);
  }
  free(pipetune);
  return pid;
}

static long long pairs_in(const world_t *w) {
  return sql(w, "SELECT count(*) FROM pair_measurements");
}

START_TEST(kill9_then_resume_loses_and_duplicates_nothing) {
  world_t w[1];
  world_init(w);
  setenv("PT_TEST_SLOW_MS", "400", 1);
  pid_t pid = start_pairs(w, "1,2,4,8,16");
  for (int i = 0; i < 600 && pairs_in(w) < 1; i++) sleep_ms(50);
  ck_assert_int_ge(pairs_in(w), 1);
  ck_assert_int_eq(kill(-pid, SIGKILL), 0);  /* tune and its workers, at once */
  int ws = 0;
  ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
  ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
  long long before = pairs_in(w);
  ck_assert_int_lt(before, 5);
  quiet_faults();
  pt_test_out_t r = RUN("tune", "--grid", w->grid, "--tokens", "1,2,4,8,16", "--db", w->db,
                        "--gpus", "0", "--pairs", "--resume", FAST);
  pt_test_expect(r, 0, "marked 1 dead run(s)", "already in");
  pt_test_out_free(&r);
  ck_assert_int_eq(pairs_in(w), 5);
  ck_assert_int_eq(sql(w, "SELECT count(*) FROM (SELECT DISTINCT problem_id, g1_variant_id,"
                          " g2_variant_id FROM pair_measurements)"), 5);
  ck_assert_int_eq(sql(w, "SELECT count(*) FROM runs WHERE status = 'interrupted'"), 1);
  world_free(w);
}
END_TEST

START_TEST(refusals_leave_the_database_as_it_was) {
  world_t w[1];
  world_init(w);
  pt_test_out_t r = RUN("tune", "--grid", w->grid, "--tokens", "1,16", "--db", w->db,
                        "--gpus", "0", "--pairs", FAST);
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  size_t n0 = 0, n1 = 0;
  char *before = pt_test_slurp(w->db, &n0);
  r = RUN("tune", "--grid", w->grid, "--tokens", "1,16", "--db", w->db, "--gpus", "0",
          "--pairs", FAST);
  pt_test_expect(r, 2, "already holds results for 2 of the 2 planned pairs", NULL);
  pt_test_out_free(&r);
  r = RUN("tune", "--grid", w->grid, "--db", w->db, "--pairs", "--stage", "gemm1");
  pt_test_expect_bad_input(r, "option --stage does not apply to --pairs (the table picks "
                              "the variants)");
  pt_test_out_free(&r);
  r = RUN("tune", "--grid", w->grid, "--db", w->db, "--pairs", "--holdout");
  pt_test_expect_bad_input(r, "option --holdout does not apply to --pairs (the table "
                              "picks the variants)");
  pt_test_out_free(&r);
  r = RUN("tune", "--grid", w->grid, "--db", w->db, "--pairs", "--retune");
  pt_test_expect_bad_input(r, "option --retune does not apply to --pairs (the table "
                              "picks the variants)");
  pt_test_out_free(&r);
  r = RUN("tune", "--grid", w->grid, "--db", w->db, "--pairs", "--arch", "sm_80");
  pt_test_expect(r, 2, "option --arch: no results for arch 'sm_80'", NULL);
  pt_test_out_free(&r);
  r = RUN("tune", "--family", "gptoss-120b", "--dtype", "a16w4", "--db", w->db, "--pairs");
  pt_test_expect(r, 2, "has no family 'gptoss-120b' a16w4", NULL);
  pt_test_out_free(&r);
  char *after = pt_test_slurp(w->db, &n1);
  ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
  free(before);
  free(after);
  /* A database without a table to take pairs from. */
  char *empty = pt_test_join(w->dir, "empty.db");
  r = RUN("db", "init", empty);
  pt_test_out_free(&r);
  r = RUN("tune", "--grid", w->grid, "--db", empty, "--pairs");
  pt_test_expect(r, 2, "holds no results to take pairs from", NULL);
  pt_test_out_free(&r);
  free(empty);
  world_free(w);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tune_pairs");
  TCase *tc = tcase_create("pairs");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, pairs_follow_the_table);
  tcase_add_test(tc, query_pairs_shows_the_stage_sum);
  tcase_add_test(tc, older_database_has_no_pairs);
  tcase_add_test(tc, crashed_pair_is_recorded_and_the_run_goes_on);
  tcase_add_test(tc, kill9_then_resume_loses_and_duplicates_nothing);
  tcase_add_test(tc, refusals_leave_the_database_as_it_was);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  return pt_test_run_suite(suite());
}
