/* The pipetune binary's command-line contract (DESIGN §10): exit codes and
 * messages for help, version, unknown commands and argument errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

START_TEST(no_args_is_usage_error) {
  pt_test_out_t r = pt_test_pipetune((const char *const[]){NULL});
  pt_test_expect(r, 2, "usage: pipetune", NULL);
  pt_test_out_free(&r);
}
END_TEST

START_TEST(version_and_help) {
  pt_test_out_t r = RUN("--version");
  pt_test_expect(r, 0, NULL, "pipetune ");
  pt_test_out_free(&r);
  r = RUN("--help");
  pt_test_expect(r, 0, NULL, "compile");
  pt_test_out_free(&r);
  r = RUN("compile", "--help");
  pt_test_expect(r, 0, NULL, "usage: pipetune compile");
  pt_test_out_free(&r);
  r = RUN("devices", "-h");
  pt_test_expect(r, 0, NULL, "--format");
  pt_test_out_free(&r);
}
END_TEST

START_TEST(unknown_command) {
  pt_test_out_t r = RUN("frobnicate");
  pt_test_expect(r, 2, "unknown command 'frobnicate'", NULL);
  pt_test_out_free(&r);
}
END_TEST

START_TEST(option_errors) {
  pt_test_out_t r = RUN("devices", "--no-such-option");
  pt_test_expect(r, 2, "unknown option '--no-such-option'", "");
  pt_test_out_free(&r);
  r = RUN("devices", "--format");
  pt_test_expect(r, 2, "option '--format' needs a value", NULL);
  pt_test_out_free(&r);
  r = RUN("devices", "--format", "yaml");
  pt_test_expect(r, 2, "unknown format 'yaml'", NULL);
  pt_test_out_free(&r);
  r = RUN("devices", "extra");
  pt_test_expect(r, 2, "unexpected argument 'extra'", NULL);
  pt_test_out_free(&r);
}
END_TEST

START_TEST(compile_argument_errors) {
  pt_test_out_t r = RUN("compile");
  pt_test_expect(r, 2, "--arch and --source are required", NULL);
  pt_test_out_free(&r);
  r = RUN("compile", "--arch", "pdp11", "--source", "/dev/null");
  pt_test_expect(r, 2, "unknown arch 'pdp11'", NULL);
  pt_test_out_free(&r);
  r = RUN("compile", "--arch", "sm_90", "--source", "/nonexistent/k.cu");
  pt_test_expect(r, 2, "cannot open '/nonexistent/k.cu'", NULL);
  pt_test_out_free(&r);
}
END_TEST

START_TEST(compile_writes_code_object) {
  char *dir = pt_test_tmpdir();
  char *src = pt_test_write(dir, "k.cu",
      "extern \"C\" __global__ void k(int *p) { p[threadIdx.x] = V; }\n");
  char out[4096];
  snprintf(out, sizeof out, "%s/k.bin", dir);
  pt_test_out_t r = RUN("compile", "--arch", "sm_90", "--source", src, "-DV=3", "-o", out);
  if (strstr(r.err, "without the cuda backend") == NULL) {
    pt_test_expect(r, 0, NULL, "sm_90");
    FILE *f = fopen(out, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char magic[4] = {0};
    ck_assert_int_eq(fread(magic, 1, 4, f), 4);
    fclose(f);
    ck_assert_msg(magic[0] == 0x7f && magic[1] == 'E', "not an ELF cubin");
  }
  pt_test_out_free(&r);
  /* A compile error is a runtime failure (1) carrying the compiler's log. */
  r = RUN("compile", "--arch", "sm_90", "--source", src);
  if (strstr(r.err, "without the cuda backend") == NULL)
    pt_test_expect(r, 1, "\"V\" is undefined", NULL);
  pt_test_out_free(&r);
  pt_test_rmdir(dir);
  free(src);
  free(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("cli");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, no_args_is_usage_error);
  tcase_add_test(tc, version_and_help);
  tcase_add_test(tc, unknown_command);
  tcase_add_test(tc, option_errors);
  tcase_add_test(tc, compile_argument_errors);
  tcase_add_test(tc, compile_writes_code_object);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
