/* GPU test of the deployed pair (issue 13 part 4): on a real device
 *   - the pipeline runs a (gemm1, gemm2) pair whose BMs differ on one sort
 *     with sbm = max(bm1, bm2), verified end to end on poisoned outputs
 *     (pt_pipe_verify_pair) for every dtype, M = 1, 7 and 130, both
 *     epilogs, then timed with the timer;
 *   - `pipetune tune` measures a small grid, `tune --pairs` times the
 *     table's pairs at 3 token counts (all ok and verified), and `query
 *     pairs` shows them next to the stage winners' sum.
 * Exits 77 ("SKIP: <reason>") without a GPU. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "gpu.h"
#include "knobs.h"
#include "measure.h"
#include "pipeline.h"
#include "problem.h"
#include "routing.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static void load(pt_gpu_t *gpu, pt_stage_t st, const char *spec, pt_dtype_t dt,
                 pt_pipe_stage_t *out) {
  pt_variant_t v;
  pt_err_t err;
  ck_assert_msg(pt_knobs_parse(st, spec, &v, &err) == PT_OK, "%s", err.msg);
  ck_assert_msg(pt_pipe_stage_load(gpu, &v, dt, PT_ACT_SWIGLU_OAI, out, &err) == PT_OK,
                "%s: %s", spec, err.msg);
}

/* One pair on one problem: verified on poison, then timed. */
static void pair_on(pt_gpu_t *gpu, pt_measure_gpu_t *m, pt_dtype_t dt, int M,
                    const char *g1s, const char *g2s) {
  pt_moe_shape_t sh = {320, 192, 9, 3, dt, PT_ACT_SWIGLU_OAI};
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  pt_moe_problem_t p;
  pt_pipe_t *pp = NULL;
  pt_pipe_stage_t g1, g2;
  pt_pipe_check_t inter, out;
  pt_measure_opts_t o;
  pt_measure_stats_t st;
  pt_err_t err;
  load(gpu, PT_STAGE_GEMM1, g1s, dt, &g1);
  load(gpu, PT_STAGE_GEMM2, g2s, dt, &g2);
  int sbm = g1.v.bm > g2.v.bm ? g1.v.bm : g2.v.bm;
  ck_assert_int_eq(pt_problem_init(&p, &sh, M, &r, 7, &err), PT_OK);
  ck_assert_msg(pt_pipe_init(gpu, &p, sbm, 4, 7, &pp, &err) == PT_OK, "%s", err.msg);
  ck_assert_msg(pt_pipe_verify_pair(pp, &g1, &g2, &inter, &out, &err) == PT_OK, "%s", err.msg);
  ck_assert_msg(inter.pass && out.pass, "%s + %s %s M=%d: match %.4f, out rel L2 %.3e, "
                "untouched %d/%d", g1s, g2s, pt_dtype_name(dt), M, inter.code_match,
                out.rel_l2, inter.untouched, out.untouched);
  pt_measure_opts_default(&o);
  o.min_samples = 5;
  o.min_ms = 5;
  ck_assert_msg(pt_pipe_time(pp, &g1, &g2, m, &o, &st, &err) == PT_OK, "%s", err.msg);
  ck_assert(st.samples >= 5 && st.median > 0 && st.min <= st.median);
  pt_pipe_free(pp);
  pt_problem_free(&p);
  pt_pipe_stage_unload(&g1);
  pt_pipe_stage_unload(&g2);
}

START_TEST(pipeline_pair_verifies_and_times) {
  pt_gpu_t *gpu = NULL;
  pt_measure_gpu_t m;
  pt_err_t err;
  ck_assert_msg(pt_gpu_open_any(0, &gpu, &err) == PT_OK, "%s", err.msg);
  ck_assert_int_eq(pt_measure_gpu_init(&m, gpu, &err), PT_OK);
  static const int Ms[] = {1, 7, 130};
  for (int dt = 0; dt < 3; dt++)
    for (int i = 0; i < 3; i++) {
      pair_on(gpu, &m, (pt_dtype_t)dt, Ms[i], "bm=16,bn=128", "bm=64,bn=128,epilog=atomic");
      pair_on(gpu, &m, (pt_dtype_t)dt, Ms[i], "bm=64,bn=128", "bm=16,bn=128,epilog=reduce");
    }
  pt_measure_gpu_free(&m);
  pt_gpu_close(gpu);
}
END_TEST

static const char tiny_grid[] =
    "{\"version\": 1, \"tokens\": [1, 130],\n"
    " \"families\": [{\"name\": \"tinyg\", \"model_dim\": 320, \"inter_dim\": 192,\n"
    "   \"experts\": 9, \"topk\": 3, \"dtypes\": [\"a16w4\"], \"act\": \"swiglu_oai\"}]}\n";

START_TEST(tune_pairs_on_the_gpu) {
  char *dir = pt_test_tmpdir();
  char *grid = pt_test_write(dir, "tiny.json", tiny_grid);
  char *db = pt_test_join(dir, "g.db");
  unsetenv("PT_WORKER_BACKEND");
  pt_test_out_t r = RUN("tune", "--grid", grid, "--variants", "bm=16|64,bn=128",
                        "--variants", "bm=16|64,bn=128,epilog=reduce", "--db", db,
                        "--gpus", "0", "--min-ms", "20", "--min-samples", "10");
  pt_test_expect(r, 0, NULL, "results: 12 ok, 0 failed");
  pt_test_out_free(&r);
  r = RUN("tune", "--grid", grid, "--tokens", "1,12,130", "--db", db, "--gpus", "0",
          "--pairs", "--min-ms", "20", "--min-samples", "10");
  pt_test_expect(r, 0, NULL, "results: 3 ok, 0 failed");
  pt_test_out_free(&r);
  ck_assert_int_eq(pt_test_sql_int(db, "SELECT count(*) FROM pair_results WHERE status = 'ok'"
                                       " AND err_max_rel <= 0.01 AND samples >= 10"), 3);
  r = RUN("query", "pairs", "--db", db);
  pt_test_expect(r, 0, NULL, "stage_sum_us");
  printf("%s", r.out);
  pt_test_out_free(&r);
  pt_test_rmdir(dir);
  free(dir);
  free(grid);
  free(db);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("gpu_pairs");
  TCase *tc = tcase_create("gpu_pairs");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, pipeline_pair_verifies_and_times);
  tcase_add_test(tc, tune_pairs_on_the_gpu);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!pt_test_have_gpu()) {
    printf("SKIP: no GPU found (the deployed pair needs one to run)\n");
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  return pt_test_run_suite(suite());
}
