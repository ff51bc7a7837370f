/* The space/ area's commands run as the real pipetune binary:
 * `pipetune families` and `pipetune space`, good and bad input. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "constraints.h"
#include "family.h"
#include "knobs.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})


/* Offset of needle in the line of text that starts with prefix. */
static long column_of(const char *text, const char *prefix, const char *needle) {
  for (const char *line = text; line && *line; line = strchr(line, '\n')) {
    if (*line == '\n') line++;
    if (strncmp(line, prefix, strlen(prefix)) != 0) continue;
    const char *end = strchr(line, '\n');
    const char *hit = strstr(line, needle);
    if (hit != NULL && (end == NULL || hit < end)) return hit - line;
  }
  return -1;
}

START_TEST(families_table) {
  pt_test_out_t r = RUN("families");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_str_eq(r.err, "");
  long col = column_of(r.out, "name ", "tokens");
  ck_assert_int_gt(col, 0);
  static const char *const names[] = {"dsv3-tp8 ", "kimik2-tp8 ", "dsv4-tp8 ",
                                      "gptoss-120b "};
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(column_of(r.out, names[i], "1..32768 (16)"), col);
  ck_assert_int_eq(column_of(r.out, "name ", "act"),
                   column_of(r.out, "gptoss-120b ", "swiglu_oai"));
  ck_assert_int_eq(column_of(r.out, "name ", "dtypes"),
                   column_of(r.out, "gptoss-120b ", "a4w4,a8w4,a16w4"));
  ck_assert_int_gt(column_of(r.out, "dsv3-tp8 ", " 257 "), 0);
  pt_test_out_free(&r);
}
END_TEST

/* The JSON output is a families file equal to the built-in one. */
START_TEST(families_json_round_trip) {
  pt_test_out_t r = RUN("families", "--format", "json");
  pt_test_expect(r, 0, NULL, NULL);
  pt_family_set_t a, b;
  pt_err_t err;
  ck_assert_msg(pt_family_parse(r.out, strlen(r.out), "stdout", &a, &err) == PT_OK,
                "%s", err.msg);
  ck_assert_int_eq(pt_family_load_builtin(&b, &err), PT_OK);
  ck_assert_int_eq(a.nfamilies, b.nfamilies);
  ck_assert_int_eq(a.ntokens, b.ntokens);
  for (int i = 0; i < a.nfamilies; i++) {
    ck_assert_str_eq(a.families[i].name, b.families[i].name);
    ck_assert_int_eq(a.families[i].experts, b.families[i].experts);
    ck_assert_int_eq(a.families[i].ndtypes, b.families[i].ndtypes);
  }
  pt_family_set_free(&a);
  pt_family_set_free(&b);
  pt_test_out_free(&r);
}
END_TEST

START_TEST(families_user_file) {
  char *dir = pt_test_tmpdir();
  char *path = pt_test_write(
      dir, "grid.json",
      "{\"version\": 1, \"families\": [{\"name\": \"mini\", \"model_dim\": 512, "
      "\"inter_dim\": 128, \"experts\": 16, \"topk\": 2, \"dtypes\": [\"a16w4\"], "
      "\"act\": \"silu\", \"tokens\": [7]}]}\n");
  pt_test_out_t r = RUN("families", "--file", path);
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_int_eq(column_of(r.out, "name ", "tokens"),
                   column_of(r.out, "mini ", "7"));
  ck_assert_ptr_null(strstr(r.out, "dsv3"));
  pt_test_out_free(&r);
  free(path);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

/* Each bad file through the binary: exit 2 and the loader's message. */
START_TEST(families_bad_files) {
  static const struct {
    const char *text;
    const char *msg;
  } bad[] = {
    {"{\"version\": 1, \"tokens\": [1], \"families\": [{\"name\": \"x\", "
     "\"model_dim\": 7000, \"inter_dim\": 256, \"experts\": 8, \"topk\": 2, "
     "\"dtypes\": [\"a4w4\"], \"act\": \"silu\"}]}",
     "family 'x': field 'model_dim' must be a multiple of 64 (got 7000)"},
    {"{\"version\": 1, \"tokens\": [1], \"families\": [{\"name\": \"x\", "
     "\"model_dim\": 7168, \"inter_dim\": 256, \"experts\": 8, \"topk\": 9, "
     "\"dtypes\": [\"a4w4\"], \"act\": \"silu\"}]}",
     "family 'x': field 'topk' must not exceed 'experts' (got topk 9 with 8 "
     "experts)"},
    {"{\"version\": 1, \"tokens\": [1], \"families\": [{\"name\": \"X\"}]}",
     "family #1: field 'name' must match [a-z0-9][a-z0-9._-]* (got 'X')"},
    {"{\"version\": 1, \"tokens\": [2, 1], \"families\": []}",
     "field 'tokens' must be increasing (got 1 after 2 at index 1)"},
    {"{\"version\": 1,\n \"families\": [{\"name\": ",
     "truncated JSON: unexpected end of input at line 2, column 24"},
  };
  char *dir = pt_test_tmpdir();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *path = pt_test_write(dir, "bad.json", bad[i].text);
    char msg[PT_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "'%s': %s", path, bad[i].msg);
    pt_test_out_t r = RUN("families", "--file", path, "--format", "json");
    pt_test_expect_bad_input(r, msg);
    pt_test_out_free(&r);
    free(path);
  }
  char missing[512];
  snprintf(missing, sizeof missing, "%s/none.json", dir);
  char msg[PT_ERRMSG_MAX];
  snprintf(msg, sizeof msg, "'%s': cannot open: No such file or directory", missing);
  pt_test_out_t r = RUN("families", "--file", missing);
  pt_test_expect_bad_input(r, msg);
  pt_test_out_free(&r);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

START_TEST(families_bad_arguments) {
  pt_test_out_t r = RUN("families", "--format", "yaml");
  pt_test_expect_bad_input(r, "unknown format 'yaml' (expected table or json)");
  pt_test_out_free(&r);
  r = RUN("families", "extra");
  pt_test_expect_bad_input(r, "unexpected argument 'extra'");
  pt_test_out_free(&r);
  r = RUN("families", "--file");
  pt_test_expect(r, 2, NULL, NULL);
  pt_test_out_free(&r);
}
END_TEST

/* "bm=16,bn=64,..." from a variant's "knobs" object. */
static void spec_from_knobs(const cJSON *knobs, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (const cJSON *k = knobs->child; k != NULL; k = k->next) {
    const char *sep = n ? "," : "";
    if (cJSON_IsString(k))
      n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", sep, k->string,
                            k->valuestring);
    else
      n += (size_t)snprintf(buf + n, len - n, "%s%s=%d", sep, k->string,
                            k->valueint);
    ck_assert_uint_lt(n, len);
  }
}

/* Parses `pipetune space` JSON and checks every variant against the
 * library: the knob set, order and verdict. */
static void check_space_json(pt_stage_t stage, const char *arch) {
  pt_test_out_t r = RUN("space", "--stage", pt_stage_name(stage), "--arch", arch,
                        "--format", "json");
  pt_test_expect(r, 0, NULL, NULL);
  cJSON *root = cJSON_Parse(r.out);
  ck_assert_msg(root != NULL, "stdout is not JSON: %.500s", r.out);
  ck_assert_int_eq(cJSON_GetArraySize(root), 2);
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "stage");
  ck_assert(cJSON_IsString(st));
  ck_assert_str_eq(st->valuestring, pt_stage_name(stage));
  const cJSON *vars = cJSON_GetObjectItemCaseSensitive(root, "variants");
  ck_assert(cJSON_IsArray(vars));
  ck_assert_int_eq(cJSON_GetArraySize(vars), (int)pt_knobs_space_size(stage));
  pt_limits_t lim;
  ck_assert_int_eq(pt_constraints_limits_for_arch(arch, &lim, NULL), PT_OK);
  size_t i = 0;
  for (const cJSON *v = vars->child; v != NULL; v = v->next, i++) {
    ck_assert_int_eq(cJSON_GetArraySize(v), 3);
    const cJSON *knobs = cJSON_GetObjectItemCaseSensitive(v, "knobs");
    const cJSON *feasible = cJSON_GetObjectItemCaseSensitive(v, "feasible");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(v, "reason");
    ck_assert(cJSON_IsObject(knobs));
    ck_assert(cJSON_IsBool(feasible));
    ck_assert_ptr_nonnull(reason);

    char spec[PT_KNOBS_SPEC_MAX * 2], canon[PT_KNOBS_SPEC_MAX];
    spec_from_knobs(knobs, spec, sizeof spec);
    pt_variant_t parsed, want;
    pt_err_t err;
    ck_assert_msg(pt_knobs_parse(stage, spec, &parsed, &err) == PT_OK, "%s", err.msg);
    pt_knobs_space_at(stage, i, &want);
    ck_assert_mem_eq(&parsed, &want, sizeof want);
    ck_assert_int_gt(pt_knobs_format(&want, canon, sizeof canon), 0);
    ck_assert_str_eq(spec, canon);

    pt_verdict_t vd;
    ck_assert_int_eq(pt_constraints_check(&want, PT_DTYPE_A4W4, &lim, &vd, NULL), PT_OK);
    ck_assert_int_eq(cJSON_IsTrue(feasible), vd.feasible);
    if (vd.feasible) {
      ck_assert(cJSON_IsNull(reason));
    } else {
      ck_assert(cJSON_IsString(reason));
      ck_assert_str_eq(reason->valuestring, vd.reason);
    }
  }
  cJSON_Delete(root);
  pt_test_out_free(&r);
}

START_TEST(space_json_gemm1) { check_space_json(PT_STAGE_GEMM1, "sm_90"); }
END_TEST

START_TEST(space_json_gemm2) { check_space_json(PT_STAGE_GEMM2, "gfx942"); }
END_TEST

START_TEST(space_table) {
  pt_test_out_t r = RUN("space", "--stage", "gemm1");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_str_eq(r.err, "");
  ck_assert_int_eq(strncmp(r.out, "bm     bn     k_wave bhoist spart  nt     persist "
                                  "mma    feasible  reason\n", 71), 0);
  pt_limits_t lim;
  pt_constraints_limits_default(&lim);
  size_t n = pt_knobs_space_size(PT_STAGE_GEMM1), feasible = 0;
  for (size_t i = 0; i < n; i++) {
    pt_variant_t v;
    pt_verdict_t vd;
    pt_knobs_space_at(PT_STAGE_GEMM1, i, &v);
    ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &vd, NULL), PT_OK);
    feasible += (size_t)vd.feasible;
  }
  char last[128];
  snprintf(last, sizeof last, "# %zu gemm1 variants for sm_90 (a4w4): %zu feasible\n",
           n, feasible);
  ck_assert_str_eq(r.out + strlen(r.out) - strlen(last), last);
  /* header + one line per variant + the summary */
  size_t lines = 0;
  for (const char *p = r.out; *p; p++) lines += *p == '\n';
  ck_assert_uint_eq(lines, n + 2);
  ck_assert_ptr_nonnull(strstr(r.out, "no        512 threads x about 136 registers "
                                      "= 69632 exceed the 65536 registers of an SM"));
  pt_test_out_free(&r);

  r = RUN("space", "--stage", "gemm2", "--arch", "gfx90a", "--dtype", "a16w4");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_ptr_nonnull(strstr(r.out, " reduce "));
  ck_assert_ptr_nonnull(strstr(r.out, "gemm2 variants for gfx90a (a16w4)"));
  pt_test_out_free(&r);
}
END_TEST

START_TEST(space_bad_arguments) {
  pt_test_out_t r = RUN("space", "--stage", "gemm1", "--arch", "sm_91");
  pt_test_expect_bad_input(r, "unknown arch 'sm_91' (known: sm_80, sm_86, sm_89, sm_90, "
                      "sm_90a, sm_100, gfx90a, gfx942, gfx950)");
  pt_test_out_free(&r);
  r = RUN("space", "--stage", "gemm3");
  pt_test_expect_bad_input(r, "unknown stage 'gemm3' (expected gemm1 or gemm2)");
  pt_test_out_free(&r);
  r = RUN("space", "--stage", "gemm1", "--dtype", "fp4");
  pt_test_expect_bad_input(r, "unknown dtype 'fp4' (expected a4w4, a8w4 or a16w4)");
  pt_test_out_free(&r);
  r = RUN("space", "--stage", "gemm2", "--format", "csv");
  pt_test_expect_bad_input(r, "unknown format 'csv' (expected table or json)");
  pt_test_out_free(&r);
  r = RUN("space");
  pt_test_expect(r, 2, NULL, NULL);
  ck_assert_int_eq(strncmp(r.err, "error: --stage is required\n", 27), 0);
  ck_assert_ptr_nonnull(strstr(r.err, "usage: pipetune space"));
  pt_test_out_free(&r);
  r = RUN("space", "--stage", "gemm1", "more");
  pt_test_expect_bad_input(r, "unexpected argument 'more'");
  pt_test_out_free(&r);
}
END_TEST

static Suite *cli_space_suite(void) {
  Suite *s = suite_create("cli_space");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, families_table);
  tcase_add_test(tc, families_json_round_trip);
  tcase_add_test(tc, families_user_file);
  tcase_add_test(tc, families_bad_files);
  tcase_add_test(tc, families_bad_arguments);
  tcase_add_test(tc, space_json_gemm1);
  tcase_add_test(tc, space_json_gemm2);
  tcase_add_test(tc, space_table);
  tcase_add_test(tc, space_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(cli_space_suite());
}
