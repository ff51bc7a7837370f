/* The knob table (space/knobs.c) is the one source of every knob fact: for
 * each row, its define reaches the compile request of both stages (and the
 * kernels refuse to build without it), its column holds the recorded value
 * in a real database, and the generated C and the CSV export carry its
 * field. Also pins the exact define list of two variants, so that the
 * compile-cache keys stay those of the hand-written list it replaced. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "db.h"
#include "emit.h"
#include "emitdb.h"
#include "export.h"
#include "kernel_job.h"
#include "kernels.h"
#include "knobs.h"
#include "query.h"
#include "testutil.h"

static pt_variant_t parse(pt_stage_t s, const char *spec) {
  pt_variant_t v;
  pt_err_t err;
  ck_assert_msg(pt_knobs_parse(s, spec, &v, &err) == PT_OK, "%s", err.msg);
  return v;
}

/* The compile request's defines, or 0 after saying why there is none. */
static int job_defines(const pt_variant_t *v, pt_dtype_t dtype, pt_act_t act,
                       pt_kernel_job_t *job) {
  pt_err_t err;
  pt_gpu_backend_t b;
  if (pt_gpu_backend_for_arch("sm_90", &b, &err) != PT_OK) {
    printf("SKIP (compile request part): %s\n", err.msg);
    return 0;
  }
  ck_assert_msg(pt_kernel_job_init(job, v, dtype, act, "sm_90", &err) == PT_OK,
                "%s", err.msg);
  return 1;
}

static void expect_list(const char *const *got, int n, const char *const *want,
                        int nwant) {
  ck_assert_int_eq(n, nwant);
  for (int i = 0; i < n; i++) ck_assert_str_eq(got[i], want[i]);
}

/* Copied from the hand-written list of pt_kernel_job_init before the table
 * produced it: the same strings in the same order (PT_MMA, the kernel
 * generation, joined as the table's last row). */
START_TEST(define_list_unchanged) {
  static const char *const want1[] = {
      "PT_BM=64",    "PT_BN=256",  "PT_KWAVE=2",  "PT_KSTAGES=2",
      "PT_BHOIST=1", "PT_SPART=402", "PT_NT=1",   "PT_EPILOG=0",
      "PT_PERSIST=1", "PT_MMA=0",  "PT_DTYPE=1", "PT_ACT=1"};
  static const char *const want2[] = {
      "PT_BM=16",    "PT_BN=128",  "PT_KWAVE=1",  "PT_KSTAGES=1",
      "PT_BHOIST=0", "PT_SPART=201", "PT_NT=0",   "PT_EPILOG=1",
      "PT_PERSIST=1", "PT_MMA=0",  "PT_DTYPE=0", "PT_ACT=0"};
  pt_variant_t g1 = parse(PT_STAGE_GEMM1,
                          "bm=64,bn=256,k_wave=2,bhoist=1,spart=402,nt=1,persist=1");
  pt_variant_t g2 = parse(PT_STAGE_GEMM2,
                          "bm=16,kstages=1,epilog=reduce,spart=201,persist=1");
  pt_knobs_defines_t d;
  pt_knobs_defines(&g1, &d);
  expect_list(d.ptr, d.n, want1, 10);
  pt_knobs_defines(&g2, &d);
  expect_list(d.ptr, d.n, want2, 10);
  pt_kernel_job_t job;
  if (job_defines(&g1, PT_DTYPE_A8W4, PT_ACT_SWIGLU_OAI, &job))
    expect_list(job.req.defines, job.req.ndefines, want1, 12);
  if (job_defines(&g2, PT_DTYPE_A4W4, PT_ACT_SILU, &job))
    expect_list(job.req.defines, job.req.ndefines, want2, 12);
}
END_TEST

/* Each row's names are unique, and its fixed value where the stage tunes it
 * is a value of the stage (a database's old rows are given it). */
START_TEST(rows_are_consistent) {
  int n = pt_knobs_count();
  ck_assert_int_gt(n, 0);
  ck_assert_int_le(n, PT_KNOBS_MAX);
  for (int i = 0; i < n; i++) {
    const pt_knob_t *k = pt_knobs_at(i);
    ck_assert_ptr_eq(pt_knobs_find(k->name, strlen(k->name)), k);
    for (int j = 0; j < i; j++) {
      const pt_knob_t *o = pt_knobs_at(j);
      ck_assert_str_ne(k->define, o->define);
      ck_assert_str_ne(k->column, o->column);
      ck_assert_str_ne(k->cfield, o->cfield);
    }
    for (int s = 0; s < PT_STAGE_COUNT; s++) {
      if (!pt_knobs_in_stage(k, (pt_stage_t)s)) continue;
      pt_variant_t v;
      pt_knobs_default((pt_stage_t)s, &v);
      pt_knobs_set(&v, k, k->fixed[s]);
      pt_err_t err;
      ck_assert_msg(pt_knobs_validate(&v, &err) == PT_OK, "%s", err.msg);
    }
  }
  ck_assert_ptr_null(pt_knobs_at(n));
}
END_TEST

/* In both stages the request holds every knob's define once, at the
 * variant's value where the stage tunes it, else at the fixed value. */
START_TEST(every_define_in_both_stages) {
  for (int s = 0; s < PT_STAGE_COUNT; s++) {
    pt_variant_t v;
    pt_knobs_space_at((pt_stage_t)s, pt_knobs_space_size((pt_stage_t)s) - 1, &v);
    pt_kernel_job_t job;
    if (!job_defines(&v, PT_DTYPE_A4W4, PT_ACT_SILU, &job)) return;
    ck_assert_int_eq(job.req.ndefines, pt_knobs_count() + 2);
    for (int i = 0; i < pt_knobs_count(); i++) {
      const pt_knob_t *k = pt_knobs_at(i);
      char want[64];
      int value = pt_knobs_in_stage(k, (pt_stage_t)s) ? pt_knobs_get(&v, k)
                                                      : k->fixed[s];
      snprintf(want, sizeof want, "%s=%d", k->define, value);
      ck_assert_str_eq(job.req.defines[i], want);
    }
  }
}
END_TEST

/* "#ifndef NAME" directly followed by an #error line in some embedded
 * source. */
static int guarded(const char *name) {
  char want[64];
  snprintf(want, sizeof want, "#ifndef %s\n#error ", name);
  for (int i = 0; i < pt_kernels_count(); i++)
    if (strstr(pt_kernels_text(i), want) != NULL) return 1;
  return 0;
}

START_TEST(every_define_guarded) {
  for (int i = 0; i < pt_knobs_count(); i++)
    ck_assert_msg(guarded(pt_knobs_at(i)->define), "no #error guard for %s",
                  pt_knobs_at(i)->define);
  ck_assert(guarded("PT_DTYPE"));
  ck_assert(guarded("PT_ACT"));
  ck_assert(!guarded("PT_NO_SUCH_KNOB"));
  ck_assert_ptr_nonnull(pt_kernels_find("pt_tile.cuh"));
}
END_TEST

/* knob's column of row id, as text ("(null)" for NULL). */
static char *column_text(sqlite3 *c, const pt_knob_t *k, int64_t id) {
  char sql[128];
  sqlite3_stmt *st = NULL;
  snprintf(sql, sizeof sql, "SELECT %s FROM variants WHERE id = %lld", k->column,
           (long long)id);
  ck_assert_msg(sqlite3_prepare_v2(c, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s",
                sql, sqlite3_errmsg(c));
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  const unsigned char *t = sqlite3_column_text(st, 0);
  char *s = strdup(t != NULL ? (const char *)t : "(null)");
  sqlite3_finalize(st);
  return s;
}

START_TEST(every_column_holds_the_value) {
  char *dir = pt_test_tmpdir(), *path = pt_test_join(dir, "k.db");
  pt_db_t *db = NULL;
  pt_err_t err;
  ck_assert_msg(pt_db_open(path, PT_DB_CREATE, &db, &err) == PT_OK, "%s", err.msg);
  pt_variant_t v[PT_STAGE_COUNT];
  int64_t id[PT_STAGE_COUNT];
  for (int s = 0; s < PT_STAGE_COUNT; s++) {
    char spec[PT_KNOBS_SPEC_MAX];
    pt_knobs_space_at((pt_stage_t)s, pt_knobs_space_size((pt_stage_t)s) - 1, &v[s]);
    ck_assert_int_gt(pt_knobs_format(&v[s], spec, sizeof spec), 0);
    ck_assert_msg(pt_db_put_variant(db, &v[s], spec, &id[s]) == PT_OK, "%s",
                  pt_db_errmsg(db));
  }
  pt_db_close(db);
  sqlite3 *c = NULL;
  ck_assert_int_eq(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  for (int i = 0; i < pt_knobs_count(); i++)
    for (int s = 0; s < PT_STAGE_COUNT; s++) {
      const pt_knob_t *k = pt_knobs_at(i);
      char want[32];
      int value = pt_knobs_get(&v[s], k);
      if (!pt_knobs_in_stage(k, (pt_stage_t)s)) snprintf(want, sizeof want, "(null)");
      else if (k->symbols != NULL) snprintf(want, sizeof want, "%s", pt_knobs_symbol(k, value));
      else snprintf(want, sizeof want, "%d", value);
      char *got = column_text(c, k, id[s]);
      ck_assert_msg(strcmp(got, want) == 0, "%s of %s: %s, want %s", k->column,
                    pt_stage_name((pt_stage_t)s), got, want);
      free(got);
    }
  sqlite3_close(c);
  pt_test_rmdir(dir);
  free(path);
  free(dir);
}
END_TEST

static char *emitted(const pt_emit_table_t *t,
                     int (*fn)(const pt_emit_table_t *, const pt_emit_opts_t *,
                               FILE *, pt_err_t *)) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  pt_err_t err;
  ck_assert_msg(fn(t, NULL, f, &err) == PT_OK, "%s", err.msg);
  fclose(f);
  return buf;
}

static char *emitted_csv(const pt_emit_table_t *t) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  pt_err_t err;
  ck_assert_msg(pt_export_csv(t, f, &err) == PT_OK, "%s", err.msg);
  fclose(f);
  return buf;
}

static int word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

/* Whether text[0..n) holds word as a whole word. */
static int has_word(const char *text, size_t n, const char *word) {
  size_t w = strlen(word);
  for (size_t i = 0; i + w <= n; i++)
    if ((i == 0 || !word_char(text[i - 1])) && strncmp(text + i, word, w) == 0 &&
        (i + w == n || !word_char(text[i + w])))
      return 1;
  return 0;
}

/* The part of text from the first from to the next to (inclusive). */
static const char *span(const char *text, const char *from, const char *to,
                        size_t *n) {
  const char *a = strstr(text, from);
  ck_assert_msg(a != NULL, "no '%s'", from);
  const char *b = strstr(a, to);
  ck_assert_msg(b != NULL, "no '%s' after '%s'", to, from);
  *n = (size_t)(b - a) + strlen(to);
  return a;
}

/* The generated header's struct (one line per stage), the source's layout
 * comment and the CSV header name every knob a stage tunes, and no other. */
START_TEST(generated_code_and_csv_hold_every_field) {
  char *dir = pt_test_tmpdir(), *path = pt_test_join(dir, "e.db");
  ck_assert_int_eq(pt_emitdb_build(path, NULL), 0);
  pt_query_set_t *set = NULL;
  pt_emit_table_t *t = NULL;
  pt_err_t err;
  ck_assert_msg(pt_query_load(path, NULL, &set, &err) == PT_OK, "%s", err.msg);
  ck_assert_msg(pt_emit_build(set, NULL, 0, NULL, 0, &t, &err) == PT_OK, "%s", err.msg);
  char *h = emitted(t, pt_emit_header), *c = emitted(t, pt_emit_source);
  char *h2 = emitted(t, pt_emit_header), *csv = emitted_csv(t);
  ck_assert_str_eq(h, h2); /* same database, same bytes */
  size_t nhead, nlayout;
  const char *head = span(csv, "level,", "\n", &nhead);
  const char *layout = span(c, "/* Every distinct config:", "*/", &nlayout);
  for (int s = 0; s < PT_STAGE_COUNT; s++) {
    const char *member = pt_emit_stage_member((pt_stage_t)s);
    char end[16], from[16], col[64];
    snprintf(end, sizeof end, "} %s;", member);
    size_t nl, nc;
    const char *line = span(h, end, "\n", &nl);
    while (line > h && line[-1] != '\n') line--, nl++;
    ck_assert_msg(strncmp(line, "  struct { int ", 15) == 0, "struct %s", member);
    snprintf(from, sizeof from, "{%s:", pt_stage_name((pt_stage_t)s));
    const char *comment = span(layout, from, "}", &nc);
    for (int i = 0; i < pt_knobs_count(); i++) {
      const pt_knob_t *k = pt_knobs_at(i);
      int tuned = pt_knobs_in_stage(k, (pt_stage_t)s);
      ck_assert_msg(has_word(line, nl, k->cfield) == tuned, "struct %s: field %s",
                    member, k->cfield);
      ck_assert_msg(has_word(comment, nc, k->cfield) == tuned, "comment %s: %s",
                    from, k->cfield);
      snprintf(col, sizeof col, "%s_%s", member, k->cfield);
      ck_assert_msg(has_word(head, nhead, col) == tuned, "CSV column %s", col);
    }
  }
  for (int i = 0; i < pt_knobs_count(); i++) {
    const pt_knob_t *k = pt_knobs_at(i);
    for (int v = 0; k->symbols != NULL && v < k->nvalues; v++) {
      char def[96];
      snprintf(def, sizeof def, "#define PIPE_%s_%s %d\n", k->cfield,
               pt_knobs_symbol(k, k->values[v]), k->values[v]);
      for (char *p = def; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
      memcpy(def, "#define", 7);
      ck_assert_msg(strstr(h, def) != NULL, "no '%s' in the header", def);
    }
  }
  free(h);
  free(h2);
  free(c);
  free(csv);
  pt_emit_free(t);
  pt_query_free(set);
  pt_test_rmdir(dir);
  free(path);
  free(dir);
}
END_TEST

static Suite *knob_table_suite(void) {
  Suite *s = suite_create("knob_table");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, define_list_unchanged);
  tcase_add_test(tc, rows_are_consistent);
  tcase_add_test(tc, every_define_in_both_stages);
  tcase_add_test(tc, every_define_guarded);
  tcase_add_test(tc, every_column_holds_the_value);
  tcase_add_test(tc, generated_code_and_csv_hold_every_field);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(knob_table_suite());
}
