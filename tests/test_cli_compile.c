/* pipetune compile and tune --compile-only against what the installed
 * compilers and the target can do: archs the compiler lacks (exit 2, before
 * any compile or database), a directory as --source (exit 2), a variant the
 * arch cannot run (compiles, says why, exit 1), and no "registers -1". */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "config.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

START_TEST(arch_the_compiler_lacks) {
#ifdef PT_HAVE_HIP
  pt_test_out_t r = RUN("compile", "--stage", "gemm1", "--arch", "gfx942");
  pt_test_expect(r, 2, "cannot compile for 'gfx942' (it targets: ", NULL);
  ck_assert_ptr_nonnull(strstr(r.err, "gfx90a"));
  pt_test_out_free(&r);
  char *dir = pt_test_tmpdir();
  char *db = pt_test_join(dir, "t.db");
  r = RUN("tune", "--compile-only", "--arch", "gfx950", "--db", db, "--tokens", "1");
  pt_test_expect(r, 2, "option --arch: ", NULL);
  ck_assert_msg(access(db, F_OK) != 0, "a refused tune created %s", db);
  pt_test_out_free(&r);
  free(db);
  pt_test_rmdir(dir);
  free(dir);
#endif
#ifdef PT_HAVE_CUDA
  pt_test_out_t c = RUN("compile", "--stage", "gemm2", "--arch", "sm_99999");
  pt_test_expect(c, 2, "cannot compile for 'sm_99999'", NULL);
  pt_test_out_free(&c);
#endif
}
END_TEST

START_TEST(source_must_be_a_file) {
  char *dir = pt_test_tmpdir();
  pt_test_out_t r = RUN("compile", "--source", dir, "--arch", "sm_90");
  pt_test_expect(r, 2, "is a directory, not a kernel source", NULL);
  ck_assert_ptr_null(strchr(strchr(r.err, '\n') + 1, '\n'));
  pt_test_out_free(&r);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

#ifdef PT_HAVE_CUDA
START_TEST(infeasible_variant_says_why) {
  pt_test_out_t r = RUN("compile", "--stage", "gemm1", "--config", "bm=128,k_wave=2",
                        "--arch", "sm_90");
  pt_test_expect(r, 1, "infeasible on sm_90: shared memory", "sm_90 ");
  pt_test_out_free(&r);
}
END_TEST
#endif

#ifdef PT_HAVE_HIP
START_TEST(no_register_count_is_not_minus_one) {
  pt_test_out_t r = RUN("compile", "--stage", "gemm2", "--arch", "gfx90a");
  pt_test_expect(r, 0, NULL, "gfx90a ");
  ck_assert_msg(strstr(r.out, "-1") == NULL, "%s", r.out);
  pt_test_out_free(&r);
}
END_TEST
#endif

int main(void) {
  Suite *s = suite_create("cli_compile");
  TCase *tc = tcase_create("compile");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, arch_the_compiler_lacks);
  tcase_add_test(tc, source_must_be_a_file);
#ifdef PT_HAVE_CUDA
  tcase_add_test(tc, infeasible_variant_says_why);
#endif
#ifdef PT_HAVE_HIP
  tcase_add_test(tc, no_register_count_is_not_minus_one);
#endif
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
