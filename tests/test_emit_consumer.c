/* The shipping-library test (issue #6, part 2): a database built through the
 * db API, `pipetune emit`, the generated file compiled into a consumer
 * program (tests/consumer_main.c) with gcc and clang under -std=c99 -Wall
 * -Wextra -Werror -pedantic -Wfloat-equal -Wconversion -Wsign-conversion
 * (strict_flags), and the consumer's answers checked against the
 * database itself: every tuned point returns its winners, token counts
 * between and beyond follow the documented rule, untuned families and
 * unknown archs fall back as documented, and databases with nothing to emit
 * make emit fail. The expectations are derived here from the `best` and
 * `results` views, not from the emit module. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkmain.h"
#include "db.h"
#include "emitdb.h"
#include "knobs.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

/* State built once for the test case (unchecked fixture). */
static char *dir, *db_path, *gcc_path, *clang_path, *exe_gcc, *exe_clang;
static char digest[PT_DB_HASH_HEX];

/* Emits db into out_dir (with or without a header) via the real binary. */
static void emit_into(const char *db, const char *out_dir, int header) {
  char *c = pt_test_join(out_dir, "select_pipe_config.c");
  char *h = pt_test_join(out_dir, "select_pipe_config.h");
  /* --tie-tol 0: every pick is the best view's winner, which the
   * expectations below are derived from. */
  pt_test_out_t r = header ? RUN("emit", "--db", db, "--tie-tol", "0", "-o", c, "--header", h)
                           : RUN("emit", "--db", db, "--tie-tol", "0", "-o", c);
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  free(c);
  free(h);
}

/* The flags the generated code must be clean under, with gcc and clang
 * (emit/README.md): an inference library's own strict build. */
static const char *const strict_flags[] = {
    "-std=c99",      "-Wall",          "-Wextra",           "-Werror",
    "-pedantic",     "-Wfloat-equal",  "-Wconversion",      "-Wsign-conversion",
    "-Wshadow",      "-Wstrict-prototypes", "-Wmissing-prototypes"};
#define NSTRICT (sizeof strict_flags / sizeof strict_flags[0])

/* Runs cc with the strict flags then args (NULL-terminated, at most 8);
 * fails the test with the compiler's messages when it does not succeed. */
static void compile_strict(const char *cc, const char *const *args) {
  const char *argv[NSTRICT + 9];
  size_t n = 0;
  for (; n < NSTRICT; n++) argv[n] = strict_flags[n];
  for (; *args != NULL && n < NSTRICT + 8; args++) argv[n++] = *args;
  argv[n] = NULL;
  pt_test_out_t r = pt_test_run(cc, argv);
  ck_assert_msg(r.status == 0, "%s failed on the generated code:\n%s%s", cc, r.out, r.err);
  pt_test_out_free(&r);
}

/* Compiles the consumer with cc against the generated files in gen_dir. */
static char *build_consumer(const char *cc, const char *gen_dir, const char *name) {
  char *src = pt_test_src_path("tests/consumer_main.c");
  char *gen = pt_test_join(gen_dir, "select_pipe_config.c");
  char *exe = pt_test_join(gen_dir, name);
  char inc[4200];
  snprintf(inc, sizeof inc, "-I%s", gen_dir);
  compile_strict(cc, (const char *const[]){inc, src, gen, "-o", exe, NULL});
  free(src);
  free(gen);
  return exe;
}

static void setup_once(void) {
  dir = pt_test_tmpdir();
  db_path = pt_test_join(dir, "h100.db");
  ck_assert_int_eq(pt_emitdb_build(db_path, NULL), 0);
  pt_db_t *db;
  pt_err_t err;
  ck_assert_int_eq(pt_db_open(db_path, PT_DB_READONLY, &db, &err), PT_OK);
  ck_assert_int_eq(pt_db_digest(db, digest), PT_OK);
  pt_db_close(db);
  emit_into(db_path, dir, 1);
  gcc_path = pt_test_find_prog("gcc");
  if (gcc_path == NULL) gcc_path = pt_test_find_prog("cc");
  clang_path = pt_test_find_prog("clang");
  ck_assert_msg(gcc_path != NULL, "no gcc or cc on PATH");
  exe_gcc = build_consumer(gcc_path, dir, "consumer-gcc");
  if (clang_path) exe_clang = build_consumer(clang_path, dir, "consumer-clang");
  else
    printf("SKIP: test_emit_consumer's clang half: no clang on PATH, the generated code "
           "is compiled with gcc only (scripts/setup installs clang)\n");
}

static void teardown_once(void) {
  pt_test_rmdir(dir);
  free(dir);
  free(db_path);
  free(gcc_path);
  free(clang_path);
  free(exe_gcc);
  free(exe_clang);
}

/* ---- lookups through the consumer ---- */

typedef struct lookup_s {
  char device[96], arch[96];  /* percent-encoded; "-" for NULL */
  int h, i, e, k, dtype, tokens;
  char want[256]; /* expected output line */
} lookup_t;

typedef struct lookups_s {
  lookup_t *q;
  size_t n, cap;
} lookups_t;

static lookup_t *add_lookup_dev(lookups_t *l, const char *device, const char *arch, int h,
                                int i, int e, int k, int dtype, int tokens) {
  if (l->n == l->cap) l->q = realloc(l->q, (l->cap = l->cap ? 2 * l->cap : 64) * sizeof *l->q);
  lookup_t *q = &l->q[l->n++];
  *q = (lookup_t){.h = h, .i = i, .e = e, .k = k, .dtype = dtype, .tokens = tokens};
  snprintf(q->device, sizeof q->device, "%s", device);
  snprintf(q->arch, sizeof q->arch, "%s", arch);
  return q;
}

/* A lookup without a device name (device level skipped). */
static lookup_t *add_lookup(lookups_t *l, const char *arch, int h, int i, int e, int k,
                            int dtype, int tokens) {
  return add_lookup_dev(l, "-", arch, h, i, e, k, dtype, tokens);
}

/* The return codes of ABI 2: the level that answered. */
enum { DEVICE = 0, ARCH = 1, NEAREST = 2, ARCH_DEFAULT = 3, GLOBAL = -1, EINVAL_ = -2 };

/* The device model measured on each arch of emitdb, percent-encoded. */
static const char *model_of(const char *arch) {
  return strcmp(arch, "sm_90") == 0 ? "NVIDIA%20H100%2080GB%20HBM3" : "AMD%20Instinct%20MI300X";
}

/* The output line for rc and two stage specs (NULL specs: untouched). */
static void want_line(lookup_t *q, int rc, const char *g1, const char *g2) {
  if (g1 == NULL) {
    snprintf(q->want, sizeof q->want,
             "%d -1 | -1 -1 -1 -1 -1 -1 -1 | -1 -1 -1 -1 -1 -1 -1 -1", rc);
    return;
  }
  pt_variant_t a, b;
  pt_err_t err;
  ck_assert_msg(pt_knobs_parse(PT_STAGE_GEMM1, g1, &a, &err) == PT_OK, "%s", err.msg);
  ck_assert_msg(pt_knobs_parse(PT_STAGE_GEMM2, g2, &b, &err) == PT_OK, "%s", err.msg);
  snprintf(q->want, sizeof q->want, "%d %d | %d %d %d %d %d %d %d | %d %d %d %d %d %d %d %d",
           rc, a.bm > b.bm ? a.bm : b.bm, a.bm, a.bn, a.k_wave, a.bhoist, a.spart, a.nt,
           a.persist, b.bm, b.bn, b.kstages, b.bhoist, b.spart, b.nt, b.persist, b.epilog);
}

/* Runs exe on the lookups and checks every line. */
static void check_lookups(const char *exe, const lookups_t *l, const char *want_digest) {
  char *qpath = pt_test_join(dir, "lookups.txt");
  FILE *f = fopen(qpath, "w");
  ck_assert_ptr_nonnull(f);
  for (size_t i = 0; i < l->n; i++)
    fprintf(f, "%s %s %d %d %d %d %d %d\n", l->q[i].device, l->q[i].arch, l->q[i].h, l->q[i].i, l->q[i].e,
            l->q[i].k, l->q[i].dtype, l->q[i].tokens);
  ck_assert_int_eq(fclose(f), 0);
  pt_test_out_t r = pt_test_run(exe, (const char *const[]){qpath, NULL});
  ck_assert_msg(r.status == 0, "consumer failed: %s", r.err);
  char head[128];
  snprintf(head, sizeof head, "abi 2 digest %s\n", want_digest);
  ck_assert_msg(strncmp(r.out, head, strlen(head)) == 0, "header line: %s", r.out);
  char *line = r.out + strlen(head);
  for (size_t i = 0; i < l->n; i++) {
    char *nl = strchr(line, '\n');
    ck_assert_msg(nl != NULL, "consumer stopped after %zu of %zu lookups", i, l->n);
    *nl = '\0';
    const lookup_t *q = &l->q[i];
    ck_assert_msg(strcmp(line, q->want) == 0,
                  "%s %s H=%d I=%d E=%d K=%d dtype %d tokens %d:\n got  %s\n want %s",
                  q->device, q->arch,
                  q->h, q->i, q->e, q->k, q->dtype, q->tokens, line, q->want);
    line = nl + 1;
  }
  pt_test_out_free(&r);
  free(qpath);
}

static void check_both(const lookups_t *l) {
  check_lookups(exe_gcc, l, digest);
  if (exe_clang) check_lookups(exe_clang, l, digest);
}

/* ---- what the database says ---- */

typedef struct series_s {
  char arch[32], family[64], dtype[8];
  int h, i, e, k;
  int n[2];                 /* token counts with a winner, per stage */
  int tokens[2][32];
  char spec[2][32][PT_KNOBS_SPEC_MAX];
} series_t;

typedef struct catalog_s {
  series_t s[16];
  int n;
} catalog_t;

static int on_best(void *ud, const pt_db_best_t *b) {
  catalog_t *c = ud;
  if (strcmp(b->routing, "uniform") != 0 || strcmp(b->regime, "cold") != 0) return 0;
  int j = 0;
  while (j < c->n && !(strcmp(c->s[j].arch, b->arch) == 0 &&
                       strcmp(c->s[j].family, b->family) == 0 &&
                       strcmp(c->s[j].dtype, b->dtype) == 0))
    j++;
  if (j == c->n) {
    series_t *s = &c->s[c->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->arch, sizeof s->arch, "%s", b->arch);
    snprintf(s->family, sizeof s->family, "%s", b->family);
    snprintf(s->dtype, sizeof s->dtype, "%s", b->dtype);
    s->h = b->model_dim, s->i = b->inter_dim, s->e = b->experts, s->k = b->topk;
  }
  int st = strcmp(b->stage, "gemm2") == 0;
  series_t *s = &c->s[j];
  s->tokens[st][s->n[st]] = b->tokens;
  snprintf(s->spec[st][s->n[st]], PT_KNOBS_SPEC_MAX, "%s", b->spec);
  s->n[st]++;
  return 0;
}

/* Every (arch, family, dtype) of the best view with its winners. */
static void catalog(catalog_t *c) {
  pt_db_t *db;
  pt_err_t err;
  c->n = 0;
  ck_assert_int_eq(pt_db_open(db_path, PT_DB_READONLY, &db, &err), PT_OK);
  ck_assert_int_eq(pt_db_best(db, NULL, on_best, c), PT_OK);
  pt_db_close(db);
}

static int dtype_id(const char *d) {
  return strcmp(d, "a4w4") == 0 ? 0 : strcmp(d, "a8w4") == 0 ? 1 : 2;
}

/* The documented rule, in its own words: the measured count nearest to m in
 * log scale, the smaller on a tie (m*m <= a*b means m is no farther from a). */
static const char *winner_at(const series_t *s, int st, int m) {
  int n = s->n[st], i = 0;
  while (i + 1 < n &&
         (unsigned long long)m * (unsigned long long)m >
             (unsigned long long)s->tokens[st][i] * (unsigned long long)s->tokens[st][i + 1])
    i++;
  return s->spec[st][i];
}

static int kept(const series_t *s) { return s->n[0] > 0 && s->n[1] > 0; }

/* Without a device name: the arch level answers. */
static void add_exact(lookups_t *l, const series_t *s, const char *arch, int m) {
  lookup_t *q = add_lookup(l, arch, s->h, s->i, s->e, s->k, dtype_id(s->dtype), m);
  want_line(q, ARCH, winner_at(s, 0, m), winner_at(s, 1, m));
}

/* ---- tests ---- */

START_TEST(every_tuned_point_returns_the_best) {
  catalog_t c;
  lookups_t l = {0};
  catalog(&c);
  int points = 0;
  for (int j = 0; j < c.n; j++) {
    const series_t *s = &c.s[j];
    if (!kept(s)) continue;
    for (int st = 0; st < 2; st++)
      for (int t = 0; t < s->n[st]; t++, points++) {
        /* Each arch's only device model shares the arch's families: the
         * device level answers with the same winners. */
        lookup_t *q = add_lookup_dev(&l, model_of(s->arch), s->arch, s->h, s->i, s->e,
                                     s->k, dtype_id(s->dtype), s->tokens[st][t]);
        /* At a measured count the stage gets that count's own winner. */
        const char *g1 = st == 0 ? s->spec[0][t] : winner_at(s, 0, s->tokens[1][t]);
        const char *g2 = st == 1 ? s->spec[1][t] : winner_at(s, 1, s->tokens[0][t]);
        want_line(q, DEVICE, g1, g2);
      }
  }
  ck_assert_int_ge(points, 2 * (13 + 3 * 7));
  check_both(&l);
  free(l.q);
}
END_TEST

START_TEST(between_and_beyond_tuned_tokens) {
  catalog_t c;
  lookups_t l = {0};
  catalog(&c);
  for (int j = 0; j < c.n; j++) {
    const series_t *s = &c.s[j];
    if (!kept(s)) continue;
    for (int t = 0; t + 1 < s->n[0]; t++) {
      long long a = s->tokens[0][t], b = s->tokens[0][t + 1];
      int mid = (int)floor(sqrt((double)(a * b)));
      int probes[] = {(int)a + 1, mid - 1, mid, mid + 1, (int)b - 1};
      for (int p = 0; p < 5; p++)
        if (probes[p] > a && probes[p] < b) add_exact(&l, s, s->arch, probes[p]);
    }
    int beyond[] = {s->tokens[0][s->n[0] - 1] + 1, 100000, INT_MAX};
    for (int p = 0; p < 3; p++) add_exact(&l, s, s->arch, beyond[p]);
  }
  check_both(&l);
  free(l.q);
}
END_TEST

/* The documented nearest-family rule, in its own words. */
static const series_t *nearest(const catalog_t *c, const char *arch, int dtype, int h,
                               int i, int e, int k) {
  const series_t *best = NULL;
  double bd = 0, be = 0;
  for (int j = 0; j < c->n; j++) {
    const series_t *s = &c->s[j];
    if (!kept(s) || strcmp(s->arch, arch) != 0 || dtype_id(s->dtype) != dtype) continue;
    double d = fmax((double)s->h / h, (double)h / s->h) * fmax((double)s->i / i, (double)i / s->i);
    double x = fmax((double)s->e / e, (double)e / s->e) * fmax((double)s->k / k, (double)k / s->k);
    if (best == NULL || d < bd || (d == bd && x < be)) best = s, bd = d, be = x;
  }
  return best;
}

START_TEST(untuned_family_takes_the_nearest) {
  catalog_t c;
  lookups_t l = {0};
  catalog(&c);
  /* dsv4-tp8's shape in a4w4 (not tuned), kimik2-tp8 (gemm1 only, so left
   * out), a gpt-oss-like shape in a8w4. */
  const int shapes[][5] = {{7168, 512, 384, 6, 0}, {7168, 256, 384, 8, 0},
                           {4096, 2048, 64, 4, 1}, {2880, 2880, 128, 8, 0}};
  const int tokens[] = {1, 3, 17, 100, 700, 3000, 50000};
  for (int s = 0; s < 4; s++) {
    const series_t *n = nearest(&c, "sm_90", shapes[s][4], shapes[s][0], shapes[s][1],
                                shapes[s][2], shapes[s][3]);
    ck_assert_ptr_nonnull(n);
    for (int t = 0; t < 7; t++) {
      double x = (double)tokens[t] * shapes[s][3] * n->e / ((double)shapes[s][2] * n->k);
      int m = x < 1 ? 1 : (int)(x + 0.5);
      lookup_t *q = add_lookup(&l, "sm_90", shapes[s][0], shapes[s][1], shapes[s][2],
                               shapes[s][3], shapes[s][4], tokens[t]);
      want_line(q, NEAREST, winner_at(n, 0, m), winner_at(n, 1, m));
    }
  }
  /* kimik2-tp8 goes to dsv3-tp8 (same H and I), not to gpt-oss. */
  ck_assert_str_eq(nearest(&c, "sm_90", 0, 7168, 256, 384, 8)->family, "dsv3-tp8");
  check_both(&l);
  free(l.q);
}
END_TEST

/* The fixed-variant default of a stage over the kept families of arch (all
 * archs when NULL), derived from the views: per variant, the points with an
 * ok result (none that failed verification on the arch), then the lowest
 * mean log of its time over each point's best, then the smaller spec. */
static void default_spec(const catalog_t *c, const char *arch, int st, char *out) {
  static const char sql[] =
      "SELECT r.spec, r.arch, r.family, r.dtype, min(r.median_us), b.median_us"
      " FROM results r JOIN best b ON b.arch = r.arch AND b.family = r.family"
      " AND b.dtype = r.dtype AND b.tokens = r.tokens AND b.stage = r.stage"
      " AND b.regime = r.regime AND b.routing = r.routing"
      " WHERE r.status = 'ok' AND r.stage = ?1 AND r.regime = 'cold'"
      " AND r.routing = 'uniform' AND (?2 IS NULL OR r.arch = ?2)"
      " AND NOT EXISTS (SELECT 1 FROM results f WHERE f.status = 'verify_fail'"
      " AND f.arch = r.arch AND f.problem_id = r.problem_id"
      " AND f.variant_id = r.variant_id)"
      " GROUP BY r.spec, r.arch, r.family, r.dtype, r.tokens ORDER BY r.spec";
  sqlite3 *conn;
  sqlite3_stmt *q;
  ck_assert_int_eq(sqlite3_open_v2(db_path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(conn, sql, -1, &q, NULL), SQLITE_OK);
  sqlite3_bind_text(q, 1, st ? "gemm2" : "gemm1", -1, SQLITE_STATIC);
  if (arch) sqlite3_bind_text(q, 2, arch, -1, SQLITE_STATIC);
  char cur[PT_KNOBS_SPEC_MAX] = "";
  int n = 0, best_n = -1;
  double sum = 0, best_mean = 0;
  for (int rc = sqlite3_step(q);; rc = sqlite3_step(q)) {
    const char *spec = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : "";
    if (strcmp(spec, cur) != 0) {
      if (n > 0 && (n > best_n || (n == best_n && sum / n < best_mean)))
        best_n = n, best_mean = sum / n, snprintf(out, PT_KNOBS_SPEC_MAX, "%s", cur);
      snprintf(cur, sizeof cur, "%s", spec);
      n = 0, sum = 0;
    }
    if (rc != SQLITE_ROW) break;
    int keep = 0;
    for (int j = 0; j < c->n; j++)
      keep |= kept(&c->s[j]) &&
              strcmp(c->s[j].arch, (const char *)sqlite3_column_text(q, 1)) == 0 &&
              strcmp(c->s[j].family, (const char *)sqlite3_column_text(q, 2)) == 0 &&
              strcmp(c->s[j].dtype, (const char *)sqlite3_column_text(q, 3)) == 0;
    if (!keep) continue;
    n++;
    sum += log(sqlite3_column_double(q, 4) / sqlite3_column_double(q, 5));
  }
  sqlite3_finalize(q);
  sqlite3_close(conn);
}

START_TEST(arch_default_when_no_family_of_the_dtype) {
  catalog_t c;
  lookups_t l = {0};
  catalog(&c);
  char g1[PT_KNOBS_SPEC_MAX], g2[PT_KNOBS_SPEC_MAX];
  /* sm_90 has no a16w4 family; gfx942 has only a16w4. */
  const struct { const char *arch; int dtype; } cases[] = {{"sm_90", 2}, {"gfx942", 0},
                                                           {"gfx942", 1}};
  for (int i = 0; i < 3; i++) {
    default_spec(&c, cases[i].arch, 0, g1);
    default_spec(&c, cases[i].arch, 1, g2);
    for (int t = 1; t <= 10000; t *= 10)
      want_line(add_lookup_dev(&l, model_of(cases[i].arch), cases[i].arch, 2880, 2880, 128,
                               4, cases[i].dtype, t),
                ARCH_DEFAULT, g1, g2);
  }
  check_both(&l);
  free(l.q);
}
END_TEST

START_TEST(unknown_arch_and_target_features) {
  catalog_t c;
  lookups_t l = {0};
  catalog(&c);
  char g1[PT_KNOBS_SPEC_MAX], g2[PT_KNOBS_SPEC_MAX];
  default_spec(&c, NULL, 0, g1);
  default_spec(&c, NULL, 1, g2);
  const char *unknown[] = {"sm_75", "sm_9", "sm_90a", "gfx94", "gfx9422", "", "%3asm_90"};
  for (int i = 0; i < 7; i++)
    want_line(add_lookup(&l, i == 5 ? "%00" : unknown[i], 7168, 256, 257, 9, 0, 64), GLOBAL,
              g1, g2);
  /* Target features after ':' are ignored when the plain arch is known. */
  for (int j = 0; j < c.n; j++)
    if (kept(&c.s[j]) && strcmp(c.s[j].arch, "gfx942") == 0) {
      add_exact(&l, &c.s[j], "gfx942%3asramecc%2b%3axnack-", 1024);
      add_exact(&l, &c.s[j], "gfx942%3a", 3);
    }
  check_both(&l);
  free(l.q);
}
END_TEST

START_TEST(bad_arguments_leave_out_untouched) {
  lookups_t l = {0};
  const int bad[][7] = {{7168, 256, 257, 9, 0, 0}, {0, 256, 257, 9, 0, 16},
                        {7168, -256, 257, 9, 0, 16}, {7168, 256, 0, 9, 0, 16},
                        {7168, 256, 257, 0, 0, 16}, {7168, 256, 257, 9, 3, 16},
                        {7168, 256, 257, 9, -1, 16}, {7168, 256, 257, 9, 0, -5}};
  for (int i = 0; i < 8; i++)
    want_line(add_lookup(&l, "sm_90", bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4],
                         bad[i][5]),
              EINVAL_, NULL, NULL);
  want_line(add_lookup(&l, "-", 7168, 256, 257, 9, 0, 16), EINVAL_, NULL, NULL);
  want_line(add_lookup(&l, "!", 7168, 256, 257, 9, 0, 16), EINVAL_, NULL, NULL);
  want_line(add_lookup_dev(&l, "NVIDIA%20H100%2080GB%20HBM3", "-", 7168, 256, 257, 9, 0, 16),
            EINVAL_, NULL, NULL);
  check_both(&l);
  free(l.q);
}
END_TEST

START_TEST(deterministic_and_self_contained) {
  /* Same database, another directory, no header: the same table bytes, and
   * the source compiles on its own. */
  char *other = pt_test_join(dir, "again");
  ck_assert_int_eq(mkdir(other, 0700), 0);
  char *copy = pt_test_join(other, "h100.db");
  pt_test_out_t r = pt_test_run("/bin/cp", (const char *const[]){db_path, copy, NULL});
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  emit_into(copy, other, 1);
  char *a = pt_test_join(dir, "select_pipe_config.c"), *b = pt_test_join(other, "select_pipe_config.c");
  char *ta = pt_test_slurp(a, NULL), *tb = pt_test_slurp(b, NULL);
  ck_assert_str_eq(ta, tb);
  ck_assert_ptr_null(strstr(ta, "generated:"));
  ck_assert_ptr_nonnull(strstr(ta, digest));
  ck_assert_ptr_nonnull(strstr(ta, "do not edit"));
  ck_assert_ptr_nonnull(strstr(ta, "NVIDIA H100 80GB HBM3 (sm_90)"));
  free(ta);
  free(tb);
  emit_into(copy, other, 0);
  tb = pt_test_slurp(b, NULL);
  ck_assert_ptr_nonnull(strstr(tb, "#define SELECT_PIPE_CONFIG_ABI 2"));
  ck_assert_ptr_null(strstr(tb, "#include"));
  free(tb);
  char *obj = pt_test_join(other, "x.o");
  const char *compilers[] = {gcc_path, clang_path};
  for (int i = 0; i < 2; i++)
    if (compilers[i] != NULL) compile_strict(compilers[i], (const char *const[]){"-c", b, "-o", obj, NULL});
  free(obj);
  free(a);
  free(b);
  free(copy);
  free(other);
}
END_TEST

START_TEST(nothing_to_emit_fails) {
  char *out = pt_test_join(dir, "nothing.c");
  /* An empty database (created by pipetune db init). */
  char *empty = pt_test_join(dir, "empty.db");
  pt_test_out_t r = RUN("db", "init", empty);
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  r = RUN("emit", "--db", empty, "-o", out);
  pt_test_expect(r, 1, "nothing to emit", NULL);
  ck_assert_ptr_nonnull(strstr(r.err, "0 results read"));
  pt_test_out_free(&r);
  ck_assert_int_ne(access(out, F_OK), 0);
  /* Every result failed. */
  char *failed = pt_test_join(dir, "failed.db");
  pt_emitdb_opts_t o = {.failed_only = 1};
  ck_assert_int_eq(pt_emitdb_build(failed, &o), 0);
  r = RUN("emit", "--db", failed, "-o", out);
  pt_test_expect(r, 1, "nothing to emit", NULL);
  ck_assert_ptr_nonnull(strstr(r.err, "failed)"));
  pt_test_out_free(&r);
  ck_assert_int_ne(access(out, F_OK), 0);
  /* No gemm2 results: every family lacks a stage. */
  char *half = pt_test_join(dir, "half.db");
  o = (pt_emitdb_opts_t){.gemm1_only = 1};
  ck_assert_int_eq(pt_emitdb_build(half, &o), 0);
  r = RUN("emit", "--db", half, "-o", out);
  pt_test_expect(r, 1, "nothing to emit", NULL);
  pt_test_out_free(&r);
  /* A missing database is bad input. */
  char *missing = pt_test_join(dir, "missing.db");
  r = RUN("emit", "--db", missing, "-o", out);
  pt_test_expect(r, 2, "missing.db", NULL);
  pt_test_out_free(&r);
  ck_assert_int_ne(access(out, F_OK), 0);
  free(missing);
  free(half);
  free(failed);
  free(empty);
  free(out);
}
END_TEST

START_TEST(hostile_strings_are_escaped) {
  /* A family name and an arch string that would end a comment, a string
   * literal or a line, or form a trigraph, if written as they are. */
  char *sub = pt_test_join(dir, "odd");
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  char *db = pt_test_join(sub, "odd.db");
  /* "?\?/" is the trigraph ??/ (a backslash), spelled so this file has none. */
  pt_emitdb_opts_t o = {.odd_family = "gpt\"oss*/ #x \\\n?\?/ /*", .odd_arch = "gfx\"*/\\?\?/"};
  ck_assert_int_eq(pt_emitdb_build(db, &o), 0);
  emit_into(db, sub, 1);
  char *exe = build_consumer(gcc_path, sub, "consumer-odd");
  if (clang_path) free(build_consumer(clang_path, sub, "consumer-odd-clang"));
  /* The escaped arch literal must still match the stored arch byte for
   * byte: the lookup finds gpt-oss a16w4 under it. */
  catalog_t c;
  char *saved = db_path;
  db_path = db;
  catalog(&c);
  db_path = saved;
  lookups_t l = {0};
  for (int j = 0; j < c.n; j++)
    if (kept(&c.s[j]) && strcmp(c.s[j].dtype, "a16w4") == 0) {
      ck_assert_str_eq(c.s[j].arch, o.odd_arch);
      add_exact(&l, &c.s[j], "gfx%22*%2f%5c%3f%3f%2f", 64);
    }
  ck_assert_uint_eq(l.n, 1);
  char odd_digest[PT_DB_HASH_HEX];
  pt_db_t *h;
  pt_err_t err;
  ck_assert_int_eq(pt_db_open(db, PT_DB_READONLY, &h, &err), PT_OK);
  ck_assert_int_eq(pt_db_digest(h, odd_digest), PT_OK);
  pt_db_close(h);
  check_lookups(exe, &l, odd_digest);
  free(l.q);
  free(exe);
  free(db);
  free(sub);
}
END_TEST

/* The winner of one stage at one point among the results of one device
 * model only: the best view's rule (median, then min, then spec; a variant
 * that failed verification there never wins) over that model's rows. */
static void device_winner(const char *db, const char *device, const series_t *s, int st,
                          int tokens, char *out) {
  static const char sql[] =
      "SELECT r.spec FROM results r WHERE r.device = ?1 AND r.family = ?2"
      " AND r.dtype = ?3 AND r.stage = ?4 AND r.tokens = ?5 AND r.status = 'ok'"
      " AND r.regime = 'cold' AND r.routing = 'uniform'"
      " AND NOT EXISTS (SELECT 1 FROM results f WHERE f.status = 'verify_fail'"
      " AND f.device = r.device AND f.problem_id = r.problem_id"
      " AND f.variant_id = r.variant_id)"
      " ORDER BY r.median_us, r.min_us, r.spec LIMIT 1";
  sqlite3 *conn;
  sqlite3_stmt *q;
  ck_assert_int_eq(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(conn, sql, -1, &q, NULL), SQLITE_OK);
  sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, s->family, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, s->dtype, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, st ? "gemm2" : "gemm1", -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 5, tokens);
  ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
  snprintf(out, PT_KNOBS_SPEC_MAX, "%s", (const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  sqlite3_close(conn);
}

/* s with each measured point's winners taken among device's results. */
static void device_series(const char *db, const char *device, const series_t *s,
                          series_t *out) {
  *out = *s;
  for (int st = 0; st < 2; st++)
    for (int t = 0; t < s->n[st]; t++)
      device_winner(db, device, s, st, s->tokens[st][t], out->spec[st][t]);
}

static const series_t *find_series(const catalog_t *c, const char *family, const char *dtype) {
  for (int j = 0; j < c->n; j++)
    if (strcmp(c->s[j].family, family) == 0 && strcmp(c->s[j].dtype, dtype) == 0)
      return &c->s[j];
  return NULL;
}

START_TEST(device_levels_after_a_merge) {
  /* An H100 database and an H200 one (another bandwidth, so other winners;
   * dsv3-tp8 only), merged: both sm_90, each model its own winners. */
  char *sub = pt_test_join(dir, "merged");
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  char *h200 = pt_test_join(sub, "h200.db"), *merged = pt_test_join(sub, "both.db");
  pt_emitdb_opts_t o = {.sm90_model = "NVIDIA H200", .sm90_bw = 4.8e6,
                        .only_family = "dsv3-tp8"};
  ck_assert_int_eq(pt_emitdb_build(h200, &o), 0);
  pt_test_out_t r = RUN("db", "merge", db_path, h200, "-o", merged);
  pt_test_expect(r, 0, NULL, NULL);
  pt_test_out_free(&r);
  emit_into(merged, sub, 1);
  char *exe = build_consumer(gcc_path, sub, "consumer-merged");
  catalog_t c;
  char *saved = db_path;
  db_path = merged;
  catalog(&c);
  db_path = saved;
  const series_t *dsv3 = find_series(&c, "dsv3-tp8", "a4w4");
  const series_t *oss = find_series(&c, "gptoss-120b", "a4w4");
  ck_assert_ptr_nonnull(dsv3);
  ck_assert_ptr_nonnull(oss);
  static series_t on_h200, on_h100;
  device_series(merged, "NVIDIA H200", dsv3, &on_h200);
  device_series(merged, "NVIDIA H100 80GB HBM3", dsv3, &on_h100);
  int differ = 0;
  for (int st = 0; st < 2; st++)
    for (int t = 0; t < dsv3->n[st]; t++)
      differ += strcmp(on_h200.spec[st][t], on_h100.spec[st][t]) != 0;
  ck_assert_msg(differ > 0, "the two models have the same winners: the test cannot fail");
  lookups_t l = {0};
  const int probes[] = {1, 3, 4, 11, 16, 100, 1000, 4096, 100000};
  for (int p = 0; p < 9; p++) {
    int m = probes[p];
    const struct { const char *dev; const series_t *s; int rc; } cases[] = {
        {"NVIDIA%20H200", &on_h200, DEVICE},
        {"NVIDIA%20H100%2080GB%20HBM3", &on_h100, DEVICE},
        {"-", dsv3, ARCH},             /* no device: the arch's winners */
        {"NVIDIA%20A100", dsv3, ARCH}, /* a model not in the table */
        {"NVIDIA%20H20", dsv3, ARCH},  /* a prefix of a model is no match */
    };
    for (int k = 0; k < 5; k++)
      want_line(add_lookup_dev(&l, cases[k].dev, "sm_90", dsv3->h, dsv3->i, dsv3->e, dsv3->k,
                               0, m),
                cases[k].rc, winner_at(cases[k].s, 0, m), winner_at(cases[k].s, 1, m));
    /* A family the H200 was not tuned on: the arch level answers. */
    want_line(add_lookup_dev(&l, "NVIDIA%20H200", "sm_90", oss->h, oss->i, oss->e, oss->k, 0,
                             m),
              ARCH, winner_at(oss, 0, m), winner_at(oss, 1, m));
  }
  char merged_digest[PT_DB_HASH_HEX];
  pt_db_t *h;
  pt_err_t err;
  ck_assert_int_eq(pt_db_open(merged, PT_DB_READONLY, &h, &err), PT_OK);
  ck_assert_int_eq(pt_db_digest(h, merged_digest), PT_OK);
  pt_db_close(h);
  check_lookups(exe, &l, merged_digest);
  if (clang_path) {
    char *exe2 = build_consumer(clang_path, sub, "consumer-merged-clang");
    check_lookups(exe2, &l, merged_digest);
    free(exe2);
  }
  /* The per-model families are in the table, named in its comments. */
  char *src = pt_test_join(sub, "select_pipe_config.c");
  char *text = pt_test_slurp(src, NULL);
  ck_assert_ptr_nonnull(strstr(text, "on \"NVIDIA H200\" (\"sm_90\")"));
  ck_assert_ptr_nonnull(strstr(text, "{\"AMD Instinct MI300X\", 0,"));
  free(text);
  free(src);
  free(l.q);
  free(exe);
  free(merged);
  free(h200);
  free(sub);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("emit_consumer");
  TCase *tc = tcase_create("consumer");
  tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, every_tuned_point_returns_the_best);
  tcase_add_test(tc, between_and_beyond_tuned_tokens);
  tcase_add_test(tc, untuned_family_takes_the_nearest);
  tcase_add_test(tc, arch_default_when_no_family_of_the_dtype);
  tcase_add_test(tc, unknown_arch_and_target_features);
  tcase_add_test(tc, bad_arguments_leave_out_untouched);
  tcase_add_test(tc, deterministic_and_self_contained);
  tcase_add_test(tc, nothing_to_emit_fails);
  tcase_add_test(tc, hostile_strings_are_escaped);
  tcase_add_test(tc, device_levels_after_a_merge);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(suite());
}
