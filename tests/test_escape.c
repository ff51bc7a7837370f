/* Untrusted bytes never reach the terminal raw (issue: a family name or a
 * database string with control bytes forged a second `error:` line and set
 * the window title): messages and table cells show them as \xNN. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "escape.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static int has_ctl(const char *s) {
  for (; *s; s++)
    if (((unsigned char)*s < 0x20 && *s != '\n') || *s == 0x7f) return 1;
  return 0;
}

static int lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

START_TEST(escape_ctl_bytes) {
  char out[64];
  ck_assert_uint_eq(pt_escape_ctl("a\x1b]0;x\x07\n", 0, out, sizeof out), 17);
  ck_assert_str_eq(out, "a\\x1b]0;x\\x07\\x0a");
  pt_escape_ctl("a\nb\x7f", 1, out, sizeof out);
  ck_assert_str_eq(out, "a\nb\\x7f");
  pt_escape_ctl("abcdef", 0, out, 4);
  ck_assert_str_eq(out, "abc");
  char *d = pt_escape_ctl_dup("\t", 0);
  ck_assert_str_eq(d, "\\x09");
  free(d);
}
END_TEST

/* A grid whose family name forges a line and a terminal title. */
START_TEST(message_quotes_are_escaped) {
  char *dir = pt_test_tmpdir();
  char *grid = pt_test_write(dir, "g.json",
      "{\"version\": 1, \"tokens\": [1], \"families\": [{\"name\": "
      "\"x\\nerror: forged\\u001b]0;pwned\\u0007\", \"model_dim\": 64, \"inter_dim\": 64,"
      " \"experts\": 2, \"topk\": 1, \"dtypes\": [\"a4w4\"], \"act\": \"silu\"}]}");
  pt_test_out_t r = RUN("families", "--grid", grid);
  ck_assert_int_eq(r.status, 2);
  ck_assert_msg(!has_ctl(r.err) && lines(r.err) == 1, "stderr: %s", r.err);
  ck_assert_ptr_nonnull(strstr(r.err, "\\x1b]0;pwned\\x07"));
  pt_test_out_free(&r);
  free(grid);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

/* A database string (a device's name) with an ESC sequence, shown in a
 * query table. */
START_TEST(table_cells_are_escaped) {
  char *dir = pt_test_tmpdir();
  char *src = pt_test_src_path("examples/gptoss-120b-h200.db");
  char *db = pt_test_join(dir, "x.db");
  size_t len = 0;
  char *bytes = pt_test_slurp(src, &len);
  FILE *f = fopen(db, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
  fclose(f);
  sqlite3 *c = NULL;
  ck_assert_int_eq(sqlite3_open(db, &c), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(c, "UPDATE devices SET name = 'H200' || char(27) || '[2J'",
                                NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(c);
  pt_test_out_t r = RUN("query", "best", "--db", db, "--dtype", "a16w4");
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_msg(!has_ctl(r.out), "raw control bytes in: %s", r.out);
  ck_assert_ptr_nonnull(strstr(r.out, "H200\\x1b[2J"));
  pt_test_out_free(&r);
  free(bytes);
  free(db);
  free(src);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("escape");
  TCase *tc = tcase_create("escape");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, escape_ctl_bytes);
  tcase_add_test(tc, message_quotes_are_escaped);
  tcase_add_test(tc, table_cells_are_escaped);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
