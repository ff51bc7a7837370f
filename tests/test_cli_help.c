/* What a newcomer types first: `pipetune` alone, -V, `help CMD`, and the
 * man page built from the commands' own help (issue: the CLI a newcomer
 * reads). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

START_TEST(no_command_is_one_error_line) {
  pt_test_out_t r = pt_test_pipetune((const char *const[]){NULL});
  pt_test_expect(r, 2, "error: no command given\nusage: pipetune", NULL);
  pt_test_out_free(&r);
  const char *nested[] = {"db", "plan"};
  for (int i = 0; i < 2; i++) {
    r = RUN(nested[i]);
    char want[64];
    snprintf(want, sizeof want, "error: 'pipetune %s' needs a verb\nusage: ", nested[i]);
    pt_test_expect(r, 2, want, NULL);
    pt_test_out_free(&r);
  }
}
END_TEST

START_TEST(version_names_commit_backends_schema) {
  const char *spellings[] = {"-V", "--version", "version"};
  for (int i = 0; i < 3; i++) {
    pt_test_out_t r = RUN(spellings[i]);
    pt_test_expect(r, 0, NULL, "pipetune ");
    ck_assert_msg(strstr(r.out, "(commit ") && strstr(r.out, "; backends") &&
                      strstr(r.out, "; schema "),
                  "%s: %s", spellings[i], r.out);
    pt_test_out_free(&r);
  }
}
END_TEST

START_TEST(help_command_is_the_commands_help) {
  const char *cmds[] = {"tune", "db", "query", "emit", "report", "diff", "families"};
  for (int i = 0; i < 7; i++) {
    pt_test_out_t a = RUN("help", cmds[i]);
    pt_test_out_t b = RUN(cmds[i], "--help");
    ck_assert_int_eq(a.status, 0);
    ck_assert_str_eq(a.out, b.out);
    pt_test_out_free(&a);
    pt_test_out_free(&b);
  }
  pt_test_out_t r = RUN("help", "nope");
  pt_test_expect(r, 2, "error: unknown command 'nope'", NULL);
  pt_test_out_free(&r);
}
END_TEST

/* The built man page has a section per command, holding its options. */
START_TEST(man_page_has_every_command) {
  char *path = pt_test_build_path("tuner/cli/pipetune.1");
  char *man = pt_test_slurp(path, NULL);
  pt_test_out_t r = RUN("--help");
  ck_assert_int_eq(r.status, 0);
  int n = 0;
  for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    char name[32];
    if (strncmp(line, "   ", 3) != 0 || line[3] == ' ' || sscanf(line, "%31s", name) != 1) continue;
    char want[64];
    snprintf(want, sizeof want, ".SS \"pipetune %s\"", name);
    ck_assert_msg(strstr(man, want) != NULL, "no section for '%s' in %s", name, path);
    n++;
  }
  ck_assert_int_ge(n, 12);
  for (const char *s = ".SH EXIT STATUS\0.SH GRID FILES\0.SH FILES\0.SH ENVIRONMENT\0"; *s;
       s += strlen(s) + 1)
    ck_assert_msg(strstr(man, s) != NULL, "'%s' missing", s);
  ck_assert_ptr_nonnull(strstr(man, "--min-samples N"));
  pt_test_out_free(&r);
  free(man);
  free(path);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cli_help");
  TCase *tc = tcase_create("help");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, no_command_is_one_error_line);
  tcase_add_test(tc, version_names_commit_backends_schema);
  tcase_add_test(tc, help_command_is_the_commands_help);
  tcase_add_test(tc, man_page_has_every_command);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
