/* pipetune verify without a GPU: the config spec, argument errors (exit 2,
 * before any GPU work), the no-GPU message (exit 1), and the dump writer on
 * host buffers (files and manifest.json a loader can follow). */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkmain.h"
#include "pipeline.h"
#include "problem.h"
#include "testutil.h"
#include "verify.h"

#define RUN(...) pt_test_pipetune((const char *const[]){"verify", __VA_ARGS__, NULL})

/* Hide every device, so the no-GPU path runs on GPU hosts too. */
static void hide_gpus(void) {
  setenv("CUDA_VISIBLE_DEVICES", "", 1);
  setenv("HIP_VISIBLE_DEVICES", "", 1);
  setenv("ROCR_VISIBLE_DEVICES", "", 1);
}

START_TEST(config_spec) {
  pt_verify_config_t c;
  pt_err_t err;
  ck_assert_int_eq(pt_verify_parse_config("g1:bm=32,bn=128;g2:bm=64,epilog=reduce",
                                          &c, &err), PT_OK);
  ck_assert_int_eq(c.g1.stage, PT_STAGE_GEMM1);
  ck_assert_int_eq(c.g1.bm, 32);
  ck_assert_int_eq(c.g1.bn, 128);
  ck_assert_int_eq(c.g2.stage, PT_STAGE_GEMM2);
  ck_assert_int_eq(c.g2.bm, 64);
  ck_assert_int_eq(c.g2.epilog, PT_EPILOG_REDUCE);
  ck_assert_int_eq(pt_verify_sbm(&c), 64);

  pt_variant_t d1, d2;
  pt_knobs_default(PT_STAGE_GEMM1, &d1);
  pt_knobs_default(PT_STAGE_GEMM2, &d2);
  ck_assert_int_eq(pt_verify_parse_config("gemm2:bm=16", &c, &err), PT_OK);
  ck_assert_mem_eq(&c.g1, &d1, sizeof d1);
  ck_assert_int_eq(c.g2.bm, 16);
  ck_assert_int_eq(pt_verify_parse_config("", &c, &err), PT_OK);
  ck_assert_mem_eq(&c.g1, &d1, sizeof d1);
  ck_assert_mem_eq(&c.g2, &d2, sizeof d2);
}
END_TEST

START_TEST(config_spec_errors) {
  pt_verify_config_t c;
  pt_err_t err;
  ck_assert_int_eq(pt_verify_parse_config("bm=32", &c, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "config part 'bm=32' does not start with 'g1:' or 'g2:'");
  ck_assert_int_eq(pt_verify_parse_config("g1:bm=32;g1:bn=64", &c, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "config names gemm1 twice");
  ck_assert_int_eq(pt_verify_parse_config("g1:bm=33", &c, &err), PT_EINVAL);
  ck_assert_msg(strncmp(err.msg, "config gemm1: ", 14) == 0 && strstr(err.msg, "33"),
                "%s", err.msg);
  ck_assert_int_eq(pt_verify_parse_config("g2:k_wave=2", &c, &err), PT_EINVAL);
  ck_assert_msg(strncmp(err.msg, "config gemm2: ", 14) == 0 && strstr(err.msg, "k_wave"),
                "%s", err.msg);
  ck_assert_int_eq(pt_verify_parse_config("g1:bm=32;;", &c, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "config part '' does not start with 'g1:' or 'g2:'");
}
END_TEST

START_TEST(bad_input_exit_2) {
  hide_gpus();
  pt_test_out_t r = RUN("--family", "dsv9", "--dtype", "a4w4", "--tokens", "4");
  pt_test_expect_bad_input(r, "unknown family 'dsv9' in '<built-in>'");
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a16w4", "--tokens", "4");
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(strstr(r.err, "a16w4") && strstr(r.err, "dsv3-tp8"), "%s", r.err);
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a5w4", "--tokens", "4");
  pt_test_expect_bad_input(r, "unknown dtype 'a5w4' (a4w4, a8w4, a16w4)");
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a4w4", "--tokens", "-3");
  pt_test_expect_bad_input(r, "--tokens -3 out of range (1..16777215)");
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a4w4");
  pt_test_expect_bad_input(r, "--family, --dtype and --tokens are required");
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a4w4", "--tokens", "4", "--config",
          "g1:bm=32;g3:bm=64");
  pt_test_expect_bad_input(r, "--config 'g1:bm=32;g3:bm=64': config part 'g3:bm=64' does "
                      "not start with 'g1:' or 'g2:'");
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a4w4", "--tokens", "4", "--config",
          "g2:epilog=sum");
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(strstr(r.err, "'g2:epilog=sum': config gemm2: ") && strstr(r.err, "sum"),
                "%s", r.err);
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a4w4", "--tokens", "4", "--routing",
          "zipf:-1");
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(strstr(r.err, "zipf"), "%s", r.err);
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a4w4", "--tokens", "4", "--gpu", "-1");
  pt_test_expect_bad_input(r, "--gpu -1 is negative");
  pt_test_out_free(&r);
  r = RUN("--family", "dsv3-tp8", "--dtype", "a4w4", "--tokens", "4", "extra");
  pt_test_expect_bad_input(r, "unexpected argument 'extra'");
  pt_test_out_free(&r);
}
END_TEST

START_TEST(no_gpu_exit_1) {
  hide_gpus();
  pt_test_out_t r = RUN("--family", "gptoss-120b", "--dtype", "a16w4", "--tokens", "7",
                        "--config", "g2:epilog=reduce");
  ck_assert_msg(r.status == 1, "exit %d\nstderr: %s", r.status, r.err);
  ck_assert_str_eq(r.out, "");
  ck_assert_msg(strncmp(r.err, "error: verify needs a GPU (", 27) == 0, "%s", r.err);
  pt_test_out_free(&r);
}
END_TEST

START_TEST(help_documents_spec) {
  pt_test_out_t r = RUN("--help");
  pt_test_expect(r, 0, NULL, "g1:bm=32,bn=128;g2:bm=64,epilog=reduce");
  ck_assert_ptr_nonnull(strstr(r.out, "--dump DIR"));
  pt_test_out_free(&r);
}
END_TEST

/* ---- dump ---- */

static void small_problem(pt_moe_problem_t *p, pt_dtype_t dt) {
  pt_moe_shape_t sh = {64, 64, 4, 2, dt, PT_ACT_SILU};
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  pt_err_t err;
  ck_assert_msg(pt_problem_init(p, &sh, 3, &r, 9, &err) == PT_OK, "%s", err.msg);
}

static pt_verify_meta_t small_meta(const pt_moe_problem_t *p) {
  pt_verify_meta_t m = {.family = "tiny", .shape = p->shape, .tokens = p->tokens,
                        .routing = "uniform", .seed = 18446744073709551615ull,
                        .sbm = 32, .padded = 128, .gemm1 = "bm=32", .gemm2 = "bm=32"};
  return m;
}

static const cJSON *field(const cJSON *o, const char *k) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, k);
  ck_assert_msg(f != NULL, "manifest lacks '%s'", k);
  return f;
}

/* Every listed buffer has its file, holding exactly its bytes, and a
 * manifest entry with dtype, shape and bytes that agree. */
static void check_dump(const char *dir, const pt_verify_buf_t *b, int n) {
  char *mpath = pt_test_join(dir, "manifest.json");
  char *text = pt_test_slurp(mpath, NULL);
  cJSON *j = cJSON_Parse(text);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(field(j, "format")->valuestring, "pipetune-verify-dump");
  ck_assert_str_eq(field(j, "byte_order")->valuestring, "little");
  ck_assert_str_eq(field(j, "seed")->valuestring, "18446744073709551615");
  ck_assert_int_eq(field(j, "model_dim")->valueint, 64);
  const cJSON *bufs = field(j, "buffers");
  ck_assert_int_eq(cJSON_GetArraySize(bufs), n);
  for (int i = 0; i < n; i++) {
    const cJSON *e = field(bufs, b[i].name);
    ck_assert_str_eq(field(e, "dtype")->valuestring, pt_verify_dtype_name(b[i].dtype));
    ck_assert_int_eq((long long)field(e, "bytes")->valuedouble, (long long)b[i].bytes);
    const cJSON *shape = field(e, "shape");
    ck_assert_int_eq(cJSON_GetArraySize(shape), b[i].ndim);
    long long prod = 1;
    for (int d = 0; d < b[i].ndim; d++) {
      long long dim = (long long)cJSON_GetArrayItem(shape, d)->valuedouble;
      ck_assert_int_eq(dim, b[i].shape[d]);
      prod *= dim;
    }
    ck_assert_ptr_nonnull(strstr(field(e, "layout")->valuestring, "["));
    char *path = pt_test_join(dir, field(e, "file")->valuestring);
    size_t len;
    char *data = pt_test_slurp(path, &len);
    ck_assert_uint_eq(len, b[i].bytes);
    ck_assert_int_eq(memcmp(data, b[i].data, len), 0);
    free(data);
    free(path);
  }
  cJSON_Delete(j);
  free(text);
  free(mpath);
}

START_TEST(dump_problem_buffers) {
  static const struct { pt_dtype_t dt; const char *x; long long xcols; int n; } cases[] = {
      {PT_DTYPE_A4W4, "e2m1x2", 32, 8}, {PT_DTYPE_A8W4, "e4m3", 64, 8},
      {PT_DTYPE_A16W4, "bf16", 64, 7}};
  for (int c = 0; c < 3; c++) {
    pt_moe_problem_t p;
    pt_verify_buf_t b[PT_VERIFY_BUFS_MAX];
    pt_err_t err;
    small_problem(&p, cases[c].dt);
    int n = pt_verify_problem_bufs(&p, b);
    ck_assert_int_eq(n, cases[c].n);
    ck_assert_str_eq(b[0].name, "x");
    ck_assert_str_eq(pt_verify_dtype_name(b[0].dtype), cases[c].x);
    ck_assert_int_eq(b[0].shape[0], 3);
    ck_assert_int_eq(b[0].shape[1], cases[c].xcols);
    pt_verify_meta_t m = small_meta(&p);
    pt_verify_step_t steps[2] = {
        {"gemm1", "oracle gemm1", 1, 0.5, 0.25, 1e-3, 0.995, 10, 0, 1, 1},
        {"gemm2", "oracle gemm2", 1, INFINITY, NAN, NAN, -1, 10, 3, 1, 0}};
    char *dir = pt_test_tmpdir();
    char *sub = pt_test_join(dir, "d");  /* created by the dump */
    ck_assert_msg(pt_verify_dump(sub, &m, steps, 2, b, n, &err) == PT_OK, "%s", err.msg);
    check_dump(sub, b, n);
    char *mpath = pt_test_join(sub, "manifest.json");
    char *text = pt_test_slurp(mpath, NULL);
    cJSON *j = cJSON_Parse(text);
    const cJSON *s1 = cJSON_GetArrayItem(field(j, "steps"), 1);
    ck_assert(cJSON_IsNull(field(s1, "rel_l2")));
    ck_assert(cJSON_IsFalse(field(s1, "pass")));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(s1, "match"));
    cJSON_Delete(j);
    free(text);
    free(mpath);
    pt_test_rmdir(dir);
    free(sub);
    free(dir);
    pt_problem_free(&p);
  }
}
END_TEST

START_TEST(dump_rejects_bad_buffers) {
  pt_moe_problem_t p;
  pt_verify_buf_t b[PT_VERIFY_BUFS_MAX];
  pt_err_t err;
  small_problem(&p, PT_DTYPE_A4W4);
  int n = pt_verify_problem_bufs(&p, b);
  pt_verify_meta_t m = small_meta(&p);
  char *dir = pt_test_tmpdir();
  char *sub = pt_test_join(dir, "d");
  struct stat st;

  b[2].bytes -= 1;  /* w1 */
  ck_assert_int_eq(pt_verify_dump(sub, &m, NULL, 0, b, n, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "buffer 'w1': 16383 bytes, but its shape holds 16384");
  ck_assert_int_ne(stat(sub, &st), 0);  /* nothing written */
  b[2].bytes += 1;

  b[3].name = "x";
  ck_assert_int_eq(pt_verify_dump(sub, &m, NULL, 0, b, n, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "buffer 'x' listed twice");
  b[3].name = "../w1s";
  ck_assert_int_eq(pt_verify_dump(sub, &m, NULL, 0, b, n, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "bad buffer name '../w1s'");
  b[3].name = "w1s";

  char *file = pt_test_write(dir, "plain", "not a directory");
  ck_assert_int_eq(pt_verify_dump(file, &m, NULL, 0, b, n, &err), PT_EIO);
  ck_assert_msg(strstr(err.msg, "plain") != NULL, "%s", err.msg);
  free(file);
  pt_test_rmdir(dir);
  free(sub);
  free(dir);
  pt_problem_free(&p);
}
END_TEST

/* The pass criteria and the failure messages come from one definition. */
START_TEST(criteria_and_their_messages) {
  ck_assert(pt_pipe_output_ok(PT_PIPE_REL_L2_MAX, 0));
  ck_assert(!pt_pipe_output_ok(nextafter(PT_PIPE_REL_L2_MAX, 1.0), 0));
  ck_assert(!pt_pipe_output_ok(0.0, 1));
  ck_assert(!pt_pipe_output_ok(NAN, 0));
  char why[256], want[64];
  pt_pipe_check_t c = {.code_match = 0.9812, .rel_l2 = 0.031, .untouched = 0};
  pt_pipe_check_why(PT_STAGE_GEMM1, &c, why, sizeof why);
  snprintf(want, sizeof want, "(needs >= %.2f)", PT_PIPE_MATCH_MIN);
  ck_assert_msg(strstr(why, "code match 0.9812 ") && strstr(why, want) &&
                    strstr(why, "wrote padding rows"), "%s", why);
  c = (pt_pipe_check_t){.code_match = 1, .rel_l2 = 0.5, .nonfinite = 3, .untouched = 1};
  pt_pipe_check_why(PT_STAGE_GEMM2, &c, why, sizeof why);
  snprintf(want, sizeof want, "(needs <= %.2g)", PT_PIPE_REL_L2_MAX);
  ck_assert_msg(strstr(why, "relative L2 0.5 ") && strstr(why, want) &&
                    strstr(why, "3 non-finite values") && !strstr(why, "wrote"), "%s", why);
  ck_assert_str_eq(want, "(needs <= 0.01)");
}
END_TEST

int main(void) {
  Suite *s = suite_create("verify");
  TCase *tc = tcase_create("verify");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, config_spec);
  tcase_add_test(tc, config_spec_errors);
  tcase_add_test(tc, bad_input_exit_2);
  tcase_add_test(tc, no_gpu_exit_1);
  tcase_add_test(tc, help_documents_spec);
  tcase_add_test(tc, dump_problem_buffers);
  tcase_add_test(tc, dump_rejects_bad_buffers);
  tcase_add_test(tc, criteria_and_their_messages);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
