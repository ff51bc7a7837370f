/* The commands a newcomer tries on the example database (examples/README.md)
 * work, never change it, and say what they did: the report's summary keeps
 * infeasible results apart from failed ones; an output's leftover .tmp from
 * a killed run is cleaned up by the next run. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

START_TEST(example_commands) {
  char *db = pt_test_src_path("examples/gptoss-120b-h200.db");
  size_t len0 = 0;
  char *before = pt_test_slurp(db, &len0);
  char *dir = pt_test_tmpdir();
  char *html = pt_test_join(dir, "report.html");
  char *c = pt_test_join(dir, "t.c");
  char *h = pt_test_join(dir, "t.h");
  char *stale = pt_test_write(dir, "t.c.tmp", "half a file from a killed emit");
  pt_test_out_t r = RUN("status", "--db", db);
  pt_test_expect(r, 0, NULL, "done");
  pt_test_out_free(&r);
  r = RUN("report", "--db", db, "-o", html);
  pt_test_expect(r, 0, NULL, "960 results, 0 failed, 60 infeasible (not run)");
  pt_test_out_free(&r);
  r = RUN("emit", "--db", db, "-o", c, "--header", h);
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  ck_assert_msg(access(stale, F_OK) != 0, "the stale '%s' is still there", stale);
  ck_assert_int_eq(access(c, F_OK), 0);
  size_t len1 = 0;
  char *after = pt_test_slurp(db, &len1);
  ck_assert_msg(len0 == len1 && memcmp(before, after, len0) == 0, "the example changed");
  free(after);
  free(before);
  free(stale);
  free(h);
  free(c);
  free(html);
  pt_test_rmdir(dir);
  free(dir);
  free(db);
}
END_TEST

int main(void) {
  Suite *s = suite_create("examples");
  TCase *tc = tcase_create("examples");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, example_commands);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
