/* Bad databases and bad outputs are bad input (issue 14, items 4-8, 10, 11,
 * 13, 15): the real pipetune binary against real damaged SQLite files made
 * here. Each refusal is exit 2 with one "error:" line naming the culprit,
 * and leaves the database byte-identical. Also: every reader opens through
 * the db module (a file named "file:x.db" is read as that file), killed
 * runs do not stay running, and a diff says what it did not compare. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkmain.h"
#include "emitdb.h"
#include "testutil.h"

#define RUN(...) run_bounded((const char *const[]){__VA_ARGS__, NULL})

static char *dir;      /* this test's temporary directory */
static char *base_dir; /* the tcase's, holding the fixture built once */

static void setup_once(void) {
  base_dir = pt_test_tmpdir();
  ck_assert_ptr_nonnull(base_dir);
  char *base = pt_test_join(base_dir, "base.db");
  ck_assert_int_eq(pt_emitdb_build(base, NULL), 0);
  free(base);
}

static void teardown_once(void) {
  pt_test_rmdir(base_dir);
  free(base_dir);
}

static void setup(void) {
  dir = pt_test_tmpdir();
  ck_assert_ptr_nonnull(dir);
  setenv("PT_WORKER_BACKEND", "test", 1);
  setenv("PT_TEST_ARCH", "sm_90", 1);
}

static void teardown(void) {
  pt_test_rmdir(dir);
  free(dir);
}

/* dir/name, valid until the end of the enclosing block. */
static char *path_in(const char *name, char *buf) {
  snprintf(buf, 4096, "%s/%s", dir, name);
  return buf;
}
#define TP(name) path_in((name), (char[4096]){0})

/* The binary under limits its children inherit: a pipetune that spins or
 * writes without end dies (SIGXCPU, SIGXFSZ) instead of hanging the test. */
static pt_test_out_t run_bounded(const char *const *args) {
  struct rlimit cpu = {30, 30}, fsize = {64 << 20, 64 << 20};
  setrlimit(RLIMIT_CPU, &cpu);
  setrlimit(RLIMIT_FSIZE, &fsize);
  return pt_test_pipetune(args);
}

/* ---- files ---- */

typedef struct blob_s {
  char *data;
  size_t len;
} blob_t;

static blob_t slurp(const char *path) {
  blob_t b;
  b.data = pt_test_slurp(path, &b.len);
  return b;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static int exists_with(const char *path, const char *suffix) {
  char p[4200];
  snprintf(p, sizeof p, "%s%s", path, suffix);
  return exists(p);
}

/* path still holds exactly before, with nothing beside it. */
static void assert_untouched(const char *path, blob_t before) {
  blob_t after = slurp(path);
  ck_assert_msg(after.len == before.len && memcmp(after.data, before.data, before.len) == 0,
                "'%s' was modified", path);
  ck_assert_msg(!exists_with(path, "-wal") && !exists_with(path, "-shm") &&
                    !exists_with(path, "-journal"),
                "files were created beside '%s'", path);
  free(after.data);
}

static void spill(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

static void copy_file(const char *from, const char *to) {
  blob_t b = slurp(from);
  spill(to, b.data, b.len);
  free(b.data);
}

/* A copy of the output tests' database (tests/emitdb.h) at path. */
static void fixture(const char *path) {
  char *base = pt_test_join(base_dir, "base.db");
  copy_file(base, path);
  free(base);
}

/* ---- raw SQLite, bypassing pipetune ---- */

static void raw_exec(const char *path, const char *sql) {
  sqlite3 *c = NULL;
  ck_assert_int_eq(sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  char *e = NULL;
  int rc = sqlite3_exec(c, sql, NULL, NULL, &e);
  ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, e ? e : "");
  sqlite3_close(c);
}

static long long raw_int(const char *path, const char *sql) {
  sqlite3 *c = NULL;
  sqlite3_stmt *st = NULL;
  long long v = -1;
  if (sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(c, 5000);
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(c);
  return v;
}

/* ---- what a refusal looks like ---- */

/* Exit 2, nothing on stdout, and exactly one line on stderr: "error: ..."
 * containing what, in printable characters. */
static void expect_refused(pt_test_out_t r, const char *what) {
  ck_assert_msg(r.status == 2, "exit %d, wanted 2\nstdout: %.500s\nstderr: %s", r.status,
                r.out, r.err);
  ck_assert_msg(r.out[0] == '\0', "stdout: %.500s", r.out);
  size_t n = strlen(r.err);
  ck_assert_msg(strncmp(r.err, "error: ", 7) == 0 && n > 0 && r.err[n - 1] == '\n' &&
                    strchr(r.err, '\n') == r.err + n - 1,
                "not one error line: %s", r.err);
  for (size_t i = 0; i + 1 < n; i++)
    ck_assert_msg(r.err[i] >= 0x20 && r.err[i] < 0x7f, "byte %zu of stderr is 0x%02x", i,
                  (unsigned char)r.err[i]);
  ck_assert_msg(strstr(r.err, what), "stderr lacks '%s': %s", what, r.err);
}

/* Every reader of db refuses it with what, leaving it byte-identical. */
static void readers_refuse(const char *db, const char *what) {
  blob_t before = slurp(db);
  const char *out = TP("out.c"), *page = TP("out.html"), *good = TP("good.db");
  if (!exists(good)) fixture(good);
  const char *const cmds[][8] = {
      {"query", "best", "--db", db, NULL},
      {"query", "failures", "--db", db, NULL},
      {"emit", "--db", db, "-o", out, NULL},
      {"report", "--db", db, "-o", page, NULL},
      {"diff", db, good, NULL},
      {"diff", good, db, NULL},
      {"db", "check", db, NULL},
  };
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
    pt_test_out_t r = run_bounded(cmds[i]);
    expect_refused(r, what);
    pt_test_out_free(&r);
    assert_untouched(db, before);
  }
  ck_assert(!exists(out) && !exists(page));
  ck_assert(!exists_with(out, ".tmp") && !exists_with(page, ".tmp"));
  free(before.data);
}

/* ---- item 4: a tampered schema, a NULL in a NOT NULL column ---- */

/* Rewrites the stored SQL of measurements (writable_schema), as a tool or
 * an attacker could. */
static void set_measurements_sql(const char *path, const char *sql) {
  sqlite3 *c = NULL;
  sqlite3_stmt *st = NULL;
  ck_assert_int_eq(sqlite3_open(path, &c), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(c, "PRAGMA writable_schema = ON", NULL, NULL, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(c, "UPDATE sqlite_schema SET sql = ?1 WHERE"
                                         " name = 'measurements'", -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, sql, -1, SQLITE_TRANSIENT);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(c);
}

static char *measurements_sql(const char *path) {
  sqlite3 *c = NULL;
  sqlite3_stmt *st = NULL;
  ck_assert_int_eq(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(c, "SELECT sql FROM sqlite_schema WHERE name ="
                                         " 'measurements'", -1, &st, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  char *s = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(c);
  return s;
}

START_TEST(tampered_schema_and_null_values) {
  const char *db = TP("t.db");
  fixture(db);
  char *orig = measurements_sql(db);
  const char *nn = "status TEXT NOT NULL CHECK";
  char *loose = malloc(strlen(orig) + 1), *at = strstr(orig, nn);
  ck_assert_ptr_nonnull(at);
  snprintf(loose, strlen(orig) + 1, "%.*sstatus TEXT CHECK%s", (int)(at - orig), orig,
           at + strlen(nn));
  set_measurements_sql(db, loose);
  raw_exec(db, "UPDATE measurements SET status = NULL WHERE id = 1");
  /* The schema is not pipetune's any more: refused at open. */
  readers_refuse(db, "table 'measurements' differs from schema version");
  /* The schema text put back, the NULL kept: refused as the row is read. */
  set_measurements_sql(db, orig);
  blob_t before = slurp(db);
  pt_test_out_t r = RUN("query", "best", "--db", db);
  expect_refused(r, "measurement 1 has status NULL");
  pt_test_out_free(&r);
  r = RUN("db", "check", db);
  expect_refused(r, "status");
  pt_test_out_free(&r);
  assert_untouched(db, before);
  readers_refuse(db, "status");
  free(before.data);
  free(loose);
  free(orig);
}
END_TEST

/* ---- item 5: values out of range, read 64-bit ---- */

START_TEST(values_out_of_range_are_refused) {
  const struct {
    const char *sql, *reader_says, *check_says;
  } cases[] = {
      /* sqlite3_column_int read this as -1; emit then never ended */
      {"UPDATE problems SET tokens = 3000000000 WHERE id = 1",
       "problem 1 has tokens 3000000000 (expected an integer from 1 to 2147483647)",
       "problem 1 has tokens 3000000000"},
      /* read as 0: log2(0) in report, an endless file */
      {"UPDATE problems SET tokens = 0.5 WHERE id = 1", "problem 1 has tokens 0.5",
       "row 1 of table 'problems' has a value of type real in column 'tokens'"},
      {"UPDATE measurements SET p90_us = 9e999 WHERE id = (SELECT min(id) FROM measurements"
       " WHERE status = 'ok')", "has p90_us inf (expected a finite number > 0)", "p90_us inf"},
      {"UPDATE measurements SET spread = -1 WHERE id = (SELECT min(id) FROM measurements"
       " WHERE status = 'ok')", "has spread -1 (expected a finite number >= 0)", "spread -1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char name[32];
    snprintf(name, sizeof name, "r%zu.db", i);
    const char *db = TP(name);
    fixture(db);
    raw_exec(db, cases[i].sql);
    blob_t before = slurp(db);
    pt_test_out_t r = RUN("emit", "--db", db, "-o", TP("x.c"));
    expect_refused(r, cases[i].reader_says);
    pt_test_out_free(&r);
    r = RUN("report", "--db", db, "-o", TP("x.html"));
    expect_refused(r, cases[i].reader_says);
    pt_test_out_free(&r);
    r = RUN("query", "best", "--db", db);
    expect_refused(r, cases[i].reader_says);
    pt_test_out_free(&r);
    /* db check refuses what the readers refuse. */
    r = RUN("db", "check", db);
    expect_refused(r, cases[i].check_says);
    pt_test_out_free(&r);
    assert_untouched(db, before);
    ck_assert(!exists(TP("x.c")) && !exists(TP("x.html")));
    free(before.data);
  }
}
END_TEST

/* ---- item 6: an output on the database ---- */

START_TEST(outputs_never_overwrite_the_database) {
  const char *db = TP("r.db");
  fixture(db);
  blob_t before = slurp(db);
  char same[4200], wal[4200], shm[4200], link[4200];
  snprintf(same, sizeof same, "%s/./r.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  snprintf(shm, sizeof shm, "%s/../%s/r.db-shm", dir, strrchr(dir, '/') + 1);
  snprintf(link, sizeof link, "%s/link.c", dir);
  ck_assert_int_eq(symlink(db, link), 0);
  const char *c = TP("ok.c");
  const struct {
    const char *args[10], *says;
  } cases[] = {
      {{"emit", "--db", db, "-o", db}, "is the database"},
      {{"emit", "--db", db, "-o", same}, "is the database"},
      {{"emit", "--db", db, "-o", link}, "is the database"},
      {{"emit", "--db", db, "-o", c, "--csv", db}, "is the database"},
      {{"emit", "--db", db, "-o", c, "--json", wal}, "the -wal file of the database"},
      {{"emit", "--db", db, "-o", c, "--json", shm}, "the -shm file of the database"},
      {{"report", "--db", db, "-o", db}, "is the database"},
      {{"report", "--db", db, "-o", same}, "is the database"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pt_test_out_t r = run_bounded(cases[i].args);
    expect_refused(r, cases[i].says);
    pt_test_out_free(&r);
    assert_untouched(db, before);
    ck_assert(!exists(c) && !exists_with(db, ".tmp"));
  }
  /* The temporary file an output is written through counts too. */
  const char *tmpdb = TP("y.c.tmp");
  copy_file(db, tmpdb);
  blob_t tmp_before = slurp(tmpdb);
  pt_test_out_t r = RUN("emit", "--db", tmpdb, "-o", TP("y.c"));
  expect_refused(r, "the main file of the database");
  pt_test_out_free(&r);
  assert_untouched(tmpdb, tmp_before);
  /* A safe output still works. */
  r = RUN("emit", "--db", db, "-o", c);
  pt_test_expect(r, 0, NULL, "wrote");
  pt_test_out_free(&r);
  free(tmp_before.data);
  free(before.data);
}
END_TEST

/* ---- item 8 (and issue 10 item 2): one open path for every reader ---- */

START_TEST(a_file_named_like_a_uri_is_that_file) {
  char *cwd = getcwd(NULL, 0);
  fixture(TP("x.db"));
  fixture(TP("file:x.db"));
  raw_exec(TP("file:x.db"), "UPDATE measurements SET median_us = median_us * 1.5,"
                            " min_us = min_us * 1.5, p90_us = p90_us * 1.5");
  ck_assert_int_eq(chdir(dir), 0);
  pt_test_out_t uri = RUN("query", "best", "--db", "file:x.db", "--format", "csv");
  pt_test_out_t plain = RUN("query", "best", "--db", "./file:x.db", "--format", "csv");
  pt_test_out_t other = RUN("query", "best", "--db", "x.db", "--format", "csv");
  ck_assert_int_eq(chdir(cwd), 0);
  pt_test_out_t *outs[] = {&uri, &plain, &other};
  for (int i = 0; i < 3; i++)
    ck_assert_msg(outs[i]->status == 0 && strstr(outs[i]->out, "winner"), "exit %d: %.300s",
                  outs[i]->status, outs[i]->err);
  /* Both spellings read the one file, all of it from that file. */
  ck_assert_msg(strcmp(uri.out, plain.out) == 0, "'file:x.db' read another file");
  ck_assert_msg(strcmp(uri.out, other.out) != 0, "'file:x.db' read 'x.db'");
  pt_test_out_free(&uri);
  pt_test_out_free(&plain);
  pt_test_out_free(&other);
  free(cwd);
}
END_TEST

/* ---- item 10: compare with a bad spec ---- */

START_TEST(compare_names_the_bad_spec) {
  const char *db = TP("c.db");
  fixture(db);
  const char *pairs[][2] = {{"bm=16", "bogus=3"}, {"bogus=3", "bm=16"}};
  for (int i = 0; i < 2; i++) {
    pt_test_out_t r = RUN("query", "compare", "--db", db, pairs[i][0], pairs[i][1]);
    expect_refused(r, "variant 'bogus=3' is valid for neither gemm1 nor gemm2");
    ck_assert_ptr_nonnull(strstr(r.err, "unknown knob 'bogus'"));
    pt_test_out_free(&r);
  }
  pt_test_out_t r = RUN("query", "compare", "--db", db, "k_wave=2", "kstages=2");
  expect_refused(r, "variants 'k_wave=2' and 'kstages=2' are not both valid for one stage");
  pt_test_out_free(&r);
}
END_TEST

/* ---- item 11: a selection names what the database holds ---- */

START_TEST(selection_names_what_the_database_holds) {
  const char *db = TP("a.db"), *other = TP("b.db");
  fixture(db);
  raw_exec(db, "DELETE FROM measurements WHERE problem_id IN"
               " (SELECT id FROM problems WHERE dtype = 'a16w4')");
  const char *fam = "no results for family 'nope' in 'a.db' (it holds dsv3-tp8, "
                    "gptoss-120b, kimik2-tp8)";
  const char *arch = "no results for arch 'sm_80' in 'a.db' (it holds sm_90)";
  const char *dtype = "no results for dtype 'a16w4' in 'a.db' (it holds a4w4, a8w4)";
  const struct {
    const char *args[10], *says;
  } cases[] = {
      {{"query", "best", "--db", db, "--family", "nope"}, fam},
      {{"query", "crossovers", "--db", db, "--arch", "sm_80"}, arch},
      {{"query", "failures", "--db", db, "--dtype", "a16w4"}, dtype},
      {{"diff", db, db, "--family", "nope"}, fam},
      {{"diff", db, db, "--arch", "sm_80"}, arch},
      {{"report", "--db", db, "-o", TP("p.html"), "--family", "nope"}, fam},
      {{"report", "--db", db, "-o", TP("p.html"), "--dtype", "a16w4"}, dtype},
      {{"emit", "--db", db, "-o", TP("e.c"), "--family", "nope"}, fam},
      {{"emit", "--db", db, "-o", TP("e.c"), "--arch", "sm_90", "--arch", "sm_80"}, arch},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pt_test_out_t r = run_bounded(cases[i].args);
    expect_refused(r, cases[i].says);
    pt_test_out_free(&r);
  }
  ck_assert(!exists(TP("p.html")) && !exists(TP("e.c")));

  /* No point in common: nothing compared is no pass. */
  copy_file(db, other);
  raw_exec(other, "UPDATE problems SET tokens = tokens * 3");
  pt_test_out_t r = RUN("diff", db, other);
  expect_refused(r, "have no point in common for this selection");
  pt_test_out_free(&r);
  /* Some in common: only those count as compared, the rest is named. */
  copy_file(db, other);
  raw_exec(other, "UPDATE problems SET tokens = tokens * 3 WHERE tokens = 16");
  r = RUN("diff", db, other, "--format", "csv");
  size_t rows = 0, one_side = 0;
  for (const char *l = strchr(r.out, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
    rows++;
    one_side += strncmp(strchr(l, '\r') - 7, "missing", 7) == 0 ||
                strncmp(strchr(l, '\r') - 3, "new", 3) == 0;
  }
  char want[160];
  snprintf(want, sizeof want, "0 regressions over 5%% in %zu points compared; not compared: "
           "%zu only in", rows - one_side, one_side / 2);
  pt_test_expect(r, 0, want, "verdict");
  ck_assert_uint_gt(one_side, 0);
  pt_test_out_free(&r);
}
END_TEST

/* ---- item 13: damaged databases ---- */

START_TEST(damaged_databases_are_bad_input) {
  const char *good = TP("whole.db");
  fixture(good);
  blob_t b = slurp(good);
  /* Truncated to half. */
  spill(TP("half.db"), b.data, b.len / 2);
  readers_refuse(TP("half.db"), "database disk image is malformed");
  /* Every third page after the first half overwritten with noise. */
  unsigned seed = 7;
  for (size_t page = 2; (page + 1) * 4096 <= b.len; page += 3)
    for (size_t i = page * 4096 + 64; i < page * 4096 + 1024; i++)
      b.data[i] = (char)(rand_r(&seed) & 0xff);
  spill(TP("noise.db"), b.data, b.len);
  readers_refuse(TP("noise.db"), "malformed");
  /* A table dropped. */
  copy_file(good, TP("dropped.db"));
  raw_exec(TP("dropped.db"), "DROP TABLE jobs");
  readers_refuse(TP("dropped.db"), "of schema version 5 is missing");
  /* A writer refuses it too, before any work. */
  blob_t d0 = slurp(TP("dropped.db"));
  pt_test_out_t r = RUN("tune", "--db", TP("dropped.db"), "--compile-only", "--variants",
                        "bm=16", "--tokens", "1");
  expect_refused(r, "of schema version 5 is missing");
  pt_test_out_free(&r);
  assert_untouched(TP("dropped.db"), d0);
  free(d0.data);
  free(b.data);
}
END_TEST

/* ---- items 7 and 15: runs of the tuner ---- */

static const char tiny_grid[] =
    "{\"version\": 1, \"tokens\": [1, 16],\n"
    " \"families\": [{\"name\": \"tiny\", \"model_dim\": 256, \"inter_dim\": 256,\n"
    "   \"experts\": 8, \"topk\": 2, \"dtypes\": [\"a16w4\"], \"act\": \"swiglu_oai\"}]}\n";

#define TUNE(db, variants, ...)                                                     \
  RUN("tune", "--grid", grid, "--gpus", "0", "--variants", (variants), "--db", (db), \
      "--min-ms", "1", __VA_ARGS__)

/* Refusals of tune and of db merge leave the database byte-identical. */
START_TEST(refusals_leave_the_database_byte_identical) {
  char *grid = pt_test_write(dir, "tiny.json", tiny_grid);
  const char *db = TP("t.db");
  pt_test_out_t r = TUNE(db, "bm=16", "--jobs", "2");
  pt_test_expect(r, 0, NULL, "results: 4 ok");
  pt_test_out_free(&r);
  blob_t before = slurp(db);
  /* The whole plan held, then half of it. */
  const char *variants[] = {"bm=16", "bm=16|32"};
  for (int i = 0; i < 2; i++) {
    r = TUNE(db, variants[i], "--jobs", "2");
    expect_refused(r, "pass --resume to skip them");
    pt_test_out_free(&r);
    assert_untouched(db, before);
  }
  /* db merge refusing a source: no file changes. */
  const char *out = TP("out.db"), *bad = TP("bad.db");
  fixture(out);
  copy_file(db, bad);
  raw_exec(bad, "UPDATE measurements SET device_id = 99 WHERE id = 2");
  blob_t out0 = slurp(out), bad0 = slurp(bad);
  r = RUN("db", "merge", db, bad, "-o", out);
  expect_refused(r, "row 2 of table 'measurements' references a missing row of 'devices'");
  pt_test_out_free(&r);
  assert_untouched(out, out0);
  assert_untouched(bad, bad0);
  assert_untouched(db, before);
  free(out0.data);
  free(bad0.data);
  free(before.data);
  free(grid);
}
END_TEST

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Starts a slow tune in the background (output discarded). */
static pid_t start_tune(const char *grid, const char *db) {
  char *prog = pt_test_build_path("pipetune");
  fflush(NULL);
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) {
    if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
      _exit(126);
    setenv("PT_TEST_SLOW_MS", "300", 1);
    execl(prog, prog, "tune", "--grid", grid, "--gpus", "0", "--variants", "bm=16|32",
          "--db", db, "--min-ms", "1", "--jobs", "2", (char *)NULL);
    _exit(127);
  }
  free(prog);
  return pid;
}

/* Copies a database left by a killed writer, with its WAL. */
static void copy_db(const char *from, const char *to) {
  char a[4200], b[4200];
  copy_file(from, to);
  snprintf(a, sizeof a, "%s-wal", from);
  snprintf(b, sizeof b, "%s-wal", to);
  if (exists(a)) copy_file(a, b);
}

static const char running_runs[] = "SELECT count(*) FROM runs WHERE status = 'running'";
static const char running_jobs[] = "SELECT count(*) FROM jobs WHERE state = 'running'";

START_TEST(killed_runs_do_not_stay_running) {
  char *grid = pt_test_write(dir, "tiny.json", tiny_grid);
  const char *db = TP("k.db"), *fix = TP("fix.db"), *merged = TP("m.db");
  pid_t pid = start_tune(grid, db);
  for (int i = 0; i < 600 && raw_int(db, running_jobs) < 1; i++) sleep_ms(50);
  ck_assert_int_ge(raw_int(db, running_jobs), 1);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  int ws = 0;
  ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
  sleep_ms(500);  /* the workers see their input end and leave */
  ck_assert_int_eq(raw_int(db, running_runs), 1);
  copy_db(db, fix);

  /* db check: intact, but it says the run is dead. */
  pt_test_out_t r = RUN("db", "check", db);
  pt_test_expect(r, 0, "warning: ", "ok, schema version 5, 1 runs");
  ck_assert_ptr_nonnull(strstr(r.err, "run 1 (started "));
  ck_assert_ptr_nonnull(strstr(r.err, "is marked running but its process on this host is gone"));
  pt_test_out_free(&r);
  /* db merge does not copy it as running. */
  r = RUN("db", "merge", db, "-o", merged);
  pt_test_expect(r, 0, NULL, "merged 1 database");
  pt_test_out_free(&r);
  ck_assert_int_eq(raw_int(merged, running_runs), 0);
  ck_assert_int_eq(raw_int(merged, "SELECT count(*) FROM runs WHERE status = 'interrupted'"
                                    " AND finished IS NOT NULL"), 1);
  /* db check --fix marks it interrupted and puts its items back. */
  r = RUN("db", "check", "--fix", fix);
  pt_test_expect(r, 0, NULL, "marked 1 dead run interrupted");
  ck_assert_ptr_null(strstr(r.err, "warning"));
  pt_test_out_free(&r);
  ck_assert_int_eq(raw_int(fix, running_runs), 0);
  ck_assert_int_eq(raw_int(fix, running_jobs), 0);
  r = RUN("db", "check", fix);
  pt_test_expect(r, 0, NULL, "ok");
  ck_assert_str_eq(r.err, "");
  pt_test_out_free(&r);
  /* The next tune does the same, then measures what is left. */
  r = TUNE(db, "bm=16|32", "--resume");
  pt_test_expect(r, 0, "marked 1 dead run(s)", "8 planned items");
  pt_test_out_free(&r);
  ck_assert_int_eq(raw_int(db, running_runs), 0);
  ck_assert_int_eq(raw_int(db, running_jobs), 0);
  ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM runs WHERE id = 1 AND status ="
                               " 'interrupted'"), 1);
  ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM measurements"), 8);
  r = RUN("db", "check", db);
  pt_test_expect(r, 0, NULL, "ok, schema version 5, 2 runs");
  ck_assert_str_eq(r.err, "");
  pt_test_out_free(&r);
  free(grid);
}
END_TEST

int main(void) {
  Suite *s = suite_create("dbread");
  TCase *tc = tcase_create("readers");
  tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, tampered_schema_and_null_values);
  tcase_add_test(tc, values_out_of_range_are_refused);
  tcase_add_test(tc, outputs_never_overwrite_the_database);
  tcase_add_test(tc, a_file_named_like_a_uri_is_that_file);
  tcase_add_test(tc, compare_names_the_bad_spec);
  tcase_add_test(tc, selection_names_what_the_database_holds);
  tcase_add_test(tc, damaged_databases_are_bad_input);
  suite_add_tcase(s, tc);
  TCase *runs = tcase_create("runs");
  tcase_add_unchecked_fixture(runs, setup_once, teardown_once);
  tcase_add_checked_fixture(runs, setup, teardown);
  tcase_set_timeout(runs, 180);
  tcase_add_test(runs, refusals_leave_the_database_byte_identical);
  tcase_add_test(runs, killed_runs_do_not_stay_running);
  suite_add_tcase(s, runs);
  return pt_test_run_suite(s);
}
