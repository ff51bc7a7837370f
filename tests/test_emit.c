/* Tests of the emit module (emit/emit.h, emit/export.h) and of `pipetune
 * emit` itself: the escaper, the table built from a database (intervals,
 * configs, defaults, left-out families, refusals), the JSON and CSV exports
 * against the table, and the command's files and exit codes. The generated
 * code's behaviour is tested by compiling it (test_emit_consumer). */
#include <check.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkmain.h"
#include "emit.h"
#include "emitdb.h"
#include "export.h"
#include "query.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static char *dir, *db_path, *twin_path;

static void setup_once(void) {
  dir = pt_test_tmpdir();
  db_path = pt_test_join(dir, "a.db");
  twin_path = pt_test_join(dir, "twin.db");
  ck_assert_int_eq(pt_emitdb_build(db_path, NULL), 0);
  pt_emitdb_opts_t o = {.twin = 1};
  ck_assert_int_eq(pt_emitdb_build(twin_path, &o), 0);
}

static void teardown_once(void) {
  pt_test_rmdir(dir);
  free(dir);
  free(db_path);
  free(twin_path);
}

static pt_query_set_t *load(const char *path, const pt_query_filter_t *f) {
  pt_query_set_t *s = NULL;
  pt_err_t err;
  ck_assert_msg(pt_query_load(path, f, &s, &err) == PT_OK, "%s", err.msg);
  return s;
}

static pt_emit_table_t *build(const pt_query_set_t *s, const char *const *archs, size_t n) {
  pt_emit_table_t *t = NULL;
  pt_err_t err;
  ck_assert_msg(pt_emit_build(s, NULL, 0, archs, n, &t, &err) == PT_OK, "%s", err.msg);
  return t;
}

static char *to_string(int (*fn)(const pt_emit_table_t *, const pt_emit_opts_t *, FILE *,
                                 pt_err_t *),
                       const pt_emit_table_t *t, const pt_emit_opts_t *o) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  pt_err_t err;
  ck_assert_msg(fn(t, o, f, &err) == PT_OK, "%s", err.msg);
  fclose(f);
  return buf;
}

/* ---- escaping ---- */

START_TEST(escape_every_byte) {
  char buf[64];
  ck_assert_uint_eq(pt_emit_c_escape("sm_90 gfx942:xnack-", buf, sizeof buf), 19);
  ck_assert_str_eq(buf, "sm_90 gfx942:xnack-");
  pt_emit_c_escape("a\"b\\c\nd*/e?\?/f/*", buf, sizeof buf);
  ck_assert_str_eq(buf, "a\\042b\\134c\\012d\\052\\057e\\077\\077\\057f\\057\\052");
  pt_emit_c_escape("\xc3\xa9" "1", buf, sizeof buf);
  ck_assert_str_eq(buf, "\\303\\2511");  /* a digit after an escape stays a digit */
  /* No byte other than the safe ones is ever written as itself. */
  for (int c = 1; c < 256; c++) {
    char in[2] = {(char)c, 0};
    size_t n = pt_emit_c_escape(in, buf, sizeof buf);
    int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               strchr(" _.,:;+=-#%&!^~|'()[]{}<>", c) != NULL;
    ck_assert_uint_eq(n, safe ? 1 : 4);
    if (!safe) {
      char want[5];
      snprintf(want, sizeof want, "\\%03o", c);
      ck_assert_str_eq(buf, want);
    }
  }
  /* Too small a buffer: whole escapes only, the full length returned. */
  char small[6];
  ck_assert_uint_eq(pt_emit_c_escape("ab\"cd", small, sizeof small), 8);
  ck_assert_str_eq(small, "ab");
  ck_assert_uint_eq(pt_emit_c_escape("ab\"cd", NULL, 0), 8);
  pt_err_t err;
  ck_assert_int_eq(pt_emit_check_header_name("select_pipe_config.h", &err), PT_OK);
  const char *bad[] = {"a\"b.h", "a\\b.h", "a\nb.h", ""};
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(pt_emit_check_header_name(bad[i], &err), PT_EINVAL);
}
END_TEST

/* ---- the table ---- */

static const pt_query_point_t *point_at(const pt_query_series_t *s, int tokens) {
  for (size_t i = 0; i < s->npoints; i++)
    if (s->points[i].tokens == tokens) return &s->points[i];
  return NULL;
}

static const char *winner(const pt_query_series_t *s, int tokens) {
  const pt_query_point_t *p = point_at(s, tokens);
  return p && p->best >= 0 ? p->vars[p->best].spec : NULL;
}

START_TEST(intervals_cover_tokens_and_follow_winners) {
  pt_query_set_t *s = load(db_path, NULL);
  pt_emit_table_t *t = build(s, NULL, 0);
  ck_assert_uint_eq(t->narchs, 2);
  ck_assert_str_eq(t->archs[0].arch, "gfx942");
  ck_assert_str_eq(t->archs[1].arch, "sm_90");
  ck_assert_uint_eq(t->archs[0].nfamilies, 1);
  ck_assert_uint_eq(t->archs[1].nfamilies, 3);
  ck_assert_uint_eq(t->nskipped, 1);
  ck_assert_str_eq(t->skipped[0], "family 'kimik2-tp8' a4w4 on 'sm_90' left out: no ok gemm2 "
                                  "result");
  for (size_t a = 0; a < t->narchs; a++)
    for (size_t f = 0; f < t->archs[a].nfamilies; f++) {
      const pt_emit_family_t *fam = &t->archs[a].families[f];
      int next = 1;
      for (size_t i = 0; i < fam->nintervals; i++) {
        const pt_emit_interval_t *iv = &fam->intervals[i];
        ck_assert_int_eq(iv->lo, next);
        ck_assert_int_ge(iv->hi, iv->lo);
        next = iv->hi == INT_MAX ? 0 : iv->hi + 1;
        const pt_emit_config_t *c = &t->configs[iv->config];
        /* The config's stages are the winners of the runs it names. */
        ck_assert_str_eq(c->g1_spec, iv->g1.spec);
        ck_assert_str_eq(c->g2_spec, iv->g2.spec);
        ck_assert_str_eq(winner(fam->g1s, iv->g1.first), iv->g1.spec);
        ck_assert_str_eq(winner(fam->g1s, iv->g1.last), iv->g1.spec);
        ck_assert_str_eq(winner(fam->g2s, iv->g2.first), iv->g2.spec);
        ck_assert_int_eq(c->sbm, c->g1.bm > c->g2.bm ? c->g1.bm : c->g2.bm);
        if (i) ck_assert_int_ne(iv->config, fam->intervals[i - 1].config);
      }
      ck_assert_int_eq(next, 0);
      /* The lookup tune --pairs uses finds the family by its shape and dtype,
       * and pt_emit_pick answers with its intervals. */
      pt_moe_shape_t sh = {fam->model_dim, fam->inter_dim, fam->experts, fam->topk,
                           (pt_dtype_t)fam->dtype_id, PT_ACT_SILU};
      ck_assert_ptr_eq(pt_emit_find_family(t, t->archs[a].arch, NULL, &sh), fam);
      ck_assert_ptr_eq(pt_emit_find_family(t, t->archs[a].arch, "no such GPU", &sh), fam);
      ck_assert_ptr_eq(pt_emit_pick(t, fam, fam->intervals[0].lo),
                       &t->configs[fam->intervals[0].config]);
      sh.topk++;
      ck_assert_ptr_null(pt_emit_find_family(t, t->archs[a].arch, NULL, &sh));
    }
  pt_moe_shape_t none = {64, 64, 1, 1, PT_DTYPE_A4W4, PT_ACT_SILU};
  ck_assert_ptr_null(pt_emit_find_family(t, "sm_80", NULL, &none));
  for (size_t i = 0; i < t->nconfigs; i++)
    for (size_t j = i + 1; j < t->nconfigs; j++)
      ck_assert(strcmp(t->configs[i].g1_spec, t->configs[j].g1_spec) != 0 ||
                strcmp(t->configs[i].g2_spec, t->configs[j].g2_spec) != 0);
  /* The defaults come from pt_query_fixed over every kept family. */
  ck_assert_uint_eq(t->archs[1].dflt.g1.points, 13 + 7 + 7);
  ck_assert_uint_eq(t->global.g1.points, 13 + 7 + 7 + 7);
  ck_assert(t->global.g1.geomean >= 1.0);
  pt_emit_free(t);
  pt_query_free(s);
}
END_TEST

START_TEST(arch_selection_and_refusals) {
  pt_query_set_t *s = load(db_path, NULL);
  const char *only[] = {"sm_90"};
  pt_emit_table_t *t = build(s, only, 1);
  ck_assert_uint_eq(t->narchs, 1);
  ck_assert_str_eq(t->archs[0].arch, "sm_90");
  ck_assert_uint_eq(t->global.g1.points, t->archs[0].dflt.g1.points);
  pt_emit_free(t);
  pt_err_t err;
  const char *unknown[] = {"sm_90", "sm_80"};
  ck_assert_int_eq(pt_emit_build(s, NULL, 0, unknown, 2, &t, &err), PT_EINVAL);
  ck_assert_ptr_null(t);
  ck_assert_str_eq(err.msg, "no results for arch 'sm_80' in 'a.db'");
  pt_query_free(s);
  /* Two families of one shape cannot be told apart by the lookup. */
  s = load(twin_path, NULL);
  ck_assert_int_eq(pt_emit_build(s, NULL, 0, NULL, 0, &t, &err), PT_EINVAL);
  ck_assert_ptr_nonnull(strstr(err.msg, "families 'dsv3-tp8' and 'dsv3-twin'"));
  pt_query_free(s);
  pt_query_filter_t f = {.family = "dsv3-twin"};
  s = load(twin_path, &f);
  t = build(s, NULL, 0);
  ck_assert_uint_eq(t->archs[0].nfamilies, 1);
  ck_assert_uint_eq(t->archs[0].families[0].g1_points, 4);
  pt_emit_free(t);
  pt_query_free(s);
  /* A filter that leaves nothing. */
  f = (pt_query_filter_t){.family = "kimik2-tp8"};
  s = load(db_path, &f);
  ck_assert_int_eq(pt_emit_build(s, NULL, 0, NULL, 0, &t, &err), PT_ENOENT);
  ck_assert_ptr_nonnull(strstr(err.msg, "nothing to emit"));
  pt_query_free(s);
}
END_TEST

START_TEST(source_is_deterministic_and_documented) {
  pt_query_set_t *s = load(db_path, NULL);
  pt_emit_table_t *t = build(s, NULL, 0);
  pt_emit_opts_t o = {.header = "select_pipe_config.h"};
  char *a = to_string(pt_emit_source, t, &o), *b = to_string(pt_emit_source, t, &o);
  ck_assert_str_eq(a, b);
  ck_assert_ptr_nonnull(strstr(a, "#include \"select_pipe_config.h\""));
  ck_assert_ptr_nonnull(strstr(a, s->digest));
  ck_assert_ptr_nonnull(strstr(a, "left out:"));
  ck_assert_ptr_nonnull(strstr(a, "PIPE_CONFIG_NEAREST (2)"));
  ck_assert_ptr_nonnull(strstr(a, "PIPE_CONFIG_DEVICE (0)"));
  ck_assert_ptr_nonnull(strstr(a, "floor(sqrt(a*b))"));
  ck_assert_ptr_null(strstr(a, "generated:"));
  /* Every config's knobs appear as an initializer. */
  for (size_t i = 0; i < t->nconfigs; i++) {
    const pt_emit_config_t *c = &t->configs[i];
    char init[128];
    snprintf(init, sizeof init, "{%d, {%d, %d, %d, %d, %d, %d, %d, %d, %d}, {%d, %d, %d, %d, "
                                "%d, %d, %d, %d, %d, %d}},",
             c->sbm, c->g1.bm, c->g1.bn, c->g1.k_wave, c->g1.bhoist, c->g1.spart, c->g1.nt,
             c->g1.persist, c->g1.splitk, c->g1.mma, c->g2.bm, c->g2.bn, c->g2.kstages,
             c->g2.bhoist, c->g2.spart, c->g2.nt, c->g2.persist, c->g2.splitk, c->g2.epilog,
             c->g2.mma);
    ck_assert_msg(strstr(a, init), "missing %s", init);
  }
  free(b);
  o.timestamp = "2026-01-02T03:04:05Z";
  b = to_string(pt_emit_source, t, &o);
  ck_assert_ptr_nonnull(strstr(b, " * generated: 2026-01-02T03:04:05Z\n"));
  free(b);
  o.header = "bad\"name.h";
  pt_err_t err;
  FILE *f = tmpfile();
  ck_assert_int_eq(pt_emit_source(t, &o, f, &err), PT_EINVAL);
  ck_assert_int_eq(ftell(f), 0);
  fclose(f);
  char *h = to_string(pt_emit_header, t, NULL);
  ck_assert_ptr_nonnull(strstr(h, "#define SELECT_PIPE_CONFIG_ABI 2\n"));
  ck_assert_ptr_nonnull(strstr(h, "struct pipe_config {"));
  ck_assert_ptr_nonnull(strstr(h, "extern \"C\""));
  free(h);
  free(a);
  pt_emit_free(t);
  pt_query_free(s);
}
END_TEST

static int csv_writer(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                      pt_err_t *err) {
  (void)o;
  return pt_export_csv(t, f, err);
}

START_TEST(json_and_csv_match_the_table) {
  pt_query_set_t *s = load(db_path, NULL);
  pt_emit_table_t *t = build(s, NULL, 0);
  char *json = to_string(pt_export_json, t, NULL);
  cJSON *j = cJSON_Parse(json);
  ck_assert_msg(j != NULL, "invalid JSON:\n%s", json);
  ck_assert_int_eq(cJSON_GetObjectItem(j, "abi")->valueint, 2);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "digest")->valuestring, s->digest);
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "configs")), (int)t->nconfigs);
  const cJSON *archs = cJSON_GetObjectItem(j, "archs");
  ck_assert_int_eq(cJSON_GetArraySize(archs), (int)t->narchs);
  size_t rows = 0;
  for (size_t a = 0; a < t->narchs; a++) {
    const cJSON *ja = cJSON_GetArrayItem(archs, (int)a);
    ck_assert_str_eq(cJSON_GetObjectItem(ja, "arch")->valuestring, t->archs[a].arch);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(ja, "default"), "config")->valueint,
                     t->archs[a].dflt.config);
    const cJSON *fams = cJSON_GetObjectItem(ja, "families");
    for (size_t f = 0; f < t->archs[a].nfamilies; f++) {
      const pt_emit_family_t *fam = &t->archs[a].families[f];
      const cJSON *ivs = cJSON_GetObjectItem(cJSON_GetArrayItem(fams, (int)f), "intervals");
      ck_assert_int_eq(cJSON_GetArraySize(ivs), (int)fam->nintervals);
      for (size_t i = 0; i < fam->nintervals; i++) {
        const cJSON *iv = cJSON_GetArrayItem(ivs, (int)i);
        ck_assert_int_eq(cJSON_GetObjectItem(iv, "tokens_lo")->valueint, fam->intervals[i].lo);
        ck_assert_int_eq(cJSON_GetObjectItem(iv, "config")->valueint, fam->intervals[i].config);
        const cJSON *hi = cJSON_GetObjectItem(iv, "tokens_hi");
        if (fam->intervals[i].hi == INT_MAX) ck_assert(cJSON_IsNull(hi));
        else ck_assert_int_eq(hi->valueint, fam->intervals[i].hi);
      }
      rows += fam->nintervals;
    }
  }
  const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "configs"), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "gemm1"), "spec")->valuestring,
                   t->configs[0].g1_spec);
  ck_assert(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "gemm2"), "epilog")));
  cJSON_Delete(j);
  free(json);
  char *csv = to_string(csv_writer, t, NULL);
  size_t lines = 0;
  for (char *line = csv, *end; (end = strstr(line, "\r\n")) != NULL; line = end + 2, lines++) {
    int fields = 1, quoted = 0;
    for (char *p = line; p < end; p++) {
      if (*p == '"') quoted = !quoted;
      fields += *p == ',' && !quoted;
    }
    ck_assert_int_eq(fields, 34);
  }
  ck_assert_uint_eq(lines, 1 + rows + t->narchs + 1);
  ck_assert_ptr_nonnull(strstr(csv, "\r\nglobal_default,,,,,,,,,,,"));
  ck_assert_ptr_nonnull(strstr(csv, ",\"bm=16,bn=128,k_wave=1,bhoist=0,spart=0,nt=0,persist=0,mma=sync,splitk=1\","));
  free(csv);
  pt_emit_free(t);
  pt_query_free(s);
}
END_TEST

START_TEST(emit_command_files_and_exit_codes) {
  char *sub = pt_test_join(dir, "out");
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  char *c = pt_test_join(sub, "select_pipe_config.c"), *h = pt_test_join(sub, "select_pipe_config.h");
  char *js = pt_test_join(sub, "table.json"), *cs = pt_test_join(sub, "table.csv");
  pt_test_out_t r = RUN("emit", "--db", db_path, "-o", c, "--header", h, "--json", js, "--csv",
                        cs, "--arch", "sm_90");
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_ptr_nonnull(strstr(r.out, "1 arch, 3 families"));
  ck_assert_ptr_nonnull(strstr(r.err, "warning: family 'kimik2-tp8' a4w4 on 'sm_90' left out"));
  pt_test_out_free(&r);
  const char *files[] = {c, h, js, cs};
  for (int i = 0; i < 4; i++) ck_assert_msg(access(files[i], R_OK) == 0, "%s", files[i]);
  /* CSV: a header, one row per interval, one per arch default, the global one. */
  FILE *f = fopen(cs, "r");
  char line[1024];
  int lines = 0, family_rows = 0, defaults = 0;
  while (fgets(line, sizeof line, f)) {
    lines++;
    family_rows += strncmp(line, "family,", 7) == 0;
    defaults += strncmp(line, "arch_default,sm_90,", 19) == 0 ||
                strncmp(line, "global_default,", 15) == 0;
    ck_assert_ptr_nonnull(strstr(line, "\r\n"));
  }
  fclose(f);
  ck_assert_int_eq(defaults, 2);
  ck_assert_int_eq(lines, 1 + family_rows + 2);
  ck_assert_int_ge(family_rows, 3);
  /* Bad input: exit 2, nothing written. */
  char *c2 = pt_test_join(sub, "other.c");
  r = RUN("emit", "--db", db_path, "-o", c2, "--header", "x\"y.h");
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "cannot be #included"));
  pt_test_out_free(&r);
  r = RUN("emit", "--db", db_path, "-o", c2, "--arch", "sm_80");
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "no results for arch 'sm_80'"));
  pt_test_out_free(&r);
  r = RUN("emit", "--db", db_path);
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "missing -o"));
  pt_test_out_free(&r);
  r = RUN("emit", "--db", twin_path, "-o", c2);
  ck_assert_int_eq(r.status, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "cannot tell them apart"));
  pt_test_out_free(&r);
  ck_assert_int_ne(access(c2, F_OK), 0);
  /* A directory that does not exist: a runtime failure, no stray file. */
  char *nodir = pt_test_join(sub, "no/such/dir/x.c");
  r = RUN("emit", "--db", db_path, "-o", nodir);
  ck_assert_int_eq(r.status, 1);
  ck_assert_ptr_nonnull(strstr(r.err, "cannot create it"));
  pt_test_out_free(&r);
  free(nodir);
  free(c2);
  free(c);
  free(h);
  free(js);
  free(cs);
  free(sub);
}
END_TEST

/* Header names: a plain file name or exit 2 with one error line, nothing
 * written and the database untouched. "x?" "?=.h" is the trigraph ??= (a
 * '#'), spelled so this file has none. */
START_TEST(header_names_refused) {
  pt_err_t err;
  const char *good[] = {"select_pipe_config.h", "spc-v2.h", "a+b.H", "x"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    ck_assert_msg(pt_emit_check_header_name(good[i], &err) == PT_OK, "%s: %s", good[i], err.msg);
  const char *bad[] = {"x?" "?=.h", "x?.h", "a b.h", "a\tb.h", "a\nb.h", "a\rb.h", "x'y.h",
                       "x\"y.h", "x\\y.h", "x*/.h", "sub/x.h", ".h", "..", "", "a\177.h",
                       "\303\251.h"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_msg(pt_emit_check_header_name(bad[i], &err) == PT_EINVAL, "'%s' passed", bad[i]);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot be #included"));
    ck_assert_ptr_null(strchr(err.msg, '\n'));
  }
  char *sub = pt_test_join(dir, "hdr");
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  char *c = pt_test_join(sub, "spc.c");
  size_t before_len = 0, after_len = 0;
  char *before = pt_test_slurp(db_path, &before_len);
  const char *cli_bad[] = {"x?" "?=.h", "a\tb.h", "a\nb.h", "x'y.h"};
  for (size_t i = 0; i < sizeof cli_bad / sizeof cli_bad[0]; i++) {
    char *h = pt_test_join(sub, cli_bad[i]);
    pt_test_out_t r = RUN("emit", "--db", db_path, "-o", c, "--header", h);
    pt_test_expect(r, 2, "cannot be #included", NULL);
    ck_assert_msg(strncmp(r.err, "error: header name '", 20) == 0, "%s", r.err);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "not one line: %s", r.err);
    ck_assert_int_ne(access(c, F_OK), 0);
    ck_assert_int_ne(access(h, F_OK), 0);
    pt_test_out_free(&r);
    free(h);
  }
  char *after = pt_test_slurp(db_path, &after_len);
  ck_assert_uint_eq(before_len, after_len);
  ck_assert(memcmp(before, after, before_len) == 0);
  free(before);
  free(after);
  free(c);
  free(sub);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("emit");
  TCase *tc = tcase_create("emit");
  tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, escape_every_byte);
  tcase_add_test(tc, header_names_refused);
  tcase_add_test(tc, intervals_cover_tokens_and_follow_winners);
  tcase_add_test(tc, arch_selection_and_refusals);
  tcase_add_test(tc, source_is_deterministic_and_documented);
  tcase_add_test(tc, json_and_csv_match_the_table);
  tcase_add_test(tc, emit_command_files_and_exit_codes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(suite());
}
