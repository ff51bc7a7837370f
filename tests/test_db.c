/* Tests of the db module (db/db.h): hashes, schema versions and migrations,
 * refusal of foreign and newer files (byte for byte untouched), round trips
 * through the API, the best and crossovers views, digest and merge, the job
 * plan and resume, crash safety, the sqlite3 examples of db/README.md, and
 * the exit codes of the real 'pipetune db' binary. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkmain.h"
#include "db.h"
#include "db_int.h"
#include "testutil.h"

/* The schema version of this build: db/schema.sql's last migration. */
#define SCHEMA_VERSION 5
#define SCHEMA_VERSION_S "5"

/* ---- files ---- */

static char *dir; /* this test's temporary directory (setup / teardown) */

static void setup(void) {
  dir = pt_test_tmpdir();
  ck_assert_ptr_nonnull(dir);
}

static void teardown(void) {
  pt_test_rmdir(dir);
  free(dir);
}

static char *path_in(const char *name, char *buf) {
  snprintf(buf, 4096, "%s/%s", dir, name);
  return buf;
}
/* dir/name, valid until the end of the enclosing block. */
#define TP(name) path_in((name), (char[4096]){0})

typedef struct blob_s {
  char *data;
  size_t len;
} blob_t;

static blob_t slurp(const char *path) {
  blob_t b = {NULL, 0};
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open '%s'", path);
  size_t cap = 1 << 16, got;
  b.data = malloc(cap);
  while ((got = fread(b.data + b.len, 1, cap - b.len, f)) > 0) {
    b.len += got;
    if (b.len == cap) b.data = realloc(b.data, cap *= 2);
  }
  fclose(f);
  return b;
}

static void spill(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
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

/* The file still holds exactly before, and nothing was created beside it. */
static void assert_untouched(const char *path, blob_t before) {
  blob_t after = slurp(path);
  ck_assert_msg(after.len == before.len &&
                    memcmp(after.data, before.data, before.len) == 0,
                "'%s' was modified", path);
  ck_assert_msg(!exists_with(path, "-wal") && !exists_with(path, "-shm") &&
                    !exists_with(path, "-journal"),
                "files were created beside '%s'", path);
  free(after.data);
}

/* ---- raw SQLite, bypassing the module ---- */

static void raw_exec(const char *path, const char *sql) {
  sqlite3 *c = NULL;
  ck_assert_int_eq(sqlite3_open(path, &c), SQLITE_OK);
  char *e = NULL;
  int rc = sqlite3_exec(c, sql, NULL, NULL, &e);
  ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, e ? e : "");
  sqlite3_close(c);
}

static int64_t raw_int(const char *path, const char *sql) {
  sqlite3 *c = NULL;
  sqlite3_stmt *st = NULL;
  ck_assert_int_eq(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  ck_assert_msg(sqlite3_prepare_v2(c, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s",
                sql, sqlite3_errmsg(c));
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(c);
  return v;
}

static char *raw_text(const char *path, const char *sql) {
  sqlite3 *c = NULL;
  sqlite3_stmt *st = NULL;
  ck_assert_int_eq(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  ck_assert_msg(sqlite3_prepare_v2(c, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s",
                sql, sqlite3_errmsg(c));
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  const unsigned char *t = sqlite3_column_text(st, 0);
  char *s = strdup(t ? (const char *)t : "(null)");
  sqlite3_finalize(st);
  sqlite3_close(c);
  return s;
}

/* ---- opening helpers ---- */

static pt_db_t *open_db(const char *path, pt_db_mode_t mode) {
  pt_err_t err;
  pt_db_t *db = NULL;
  int rc = pt_db_open(path, mode, &db, &err);
  ck_assert_msg(rc == PT_OK, "open '%s': %s", path, err.msg);
  return db;
}

#define OK(db, call) \
  ck_assert_msg((call) == PT_OK, "%s: %s", #call, pt_db_errmsg(db))

static int open_fails(const char *path, pt_db_mode_t mode, pt_err_t *err) {
  pt_db_t *db = (pt_db_t *)1;
  int rc = pt_db_open(path, mode, &db, err);
  ck_assert_ptr_null(db);
  return rc;
}

/* ---- the fixture: hand-made numbers, not measurements ---- */

static const char *const specs[3] = {
    "bm=16,bn=128,k_wave=2,bhoist=1,spart=0,nt=1,persist=0",
    "bm=32,bn=128,k_wave=2,bhoist=1,spart=0,nt=1,persist=0",
    "bm=64,bn=256,k_wave=1,bhoist=0,spart=402,nt=0,persist=1",
};
static const int spec_bm[3] = {16, 32, 64};

typedef struct fx_s {
  int64_t run, dev[3]; /* sm_90, another sm_90, gfx942 */
  int64_t var[3];
  char src[PT_DB_HASH_HEX];
} fx_t;

static int64_t put_var(pt_db_t *db, int i) {
  pt_variant_t v;
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, specs[i], &v, NULL), PT_OK);
  ck_assert_int_eq(v.bm, spec_bm[i]);
  int64_t id = 0;
  OK(db, pt_db_put_variant(db, &v, specs[i], &id));
  return id;
}

static int64_t put_prob(pt_db_t *db, int tokens) {
  pt_db_problem_t p = {"toy", 512, 256, 8, 2, "a4w4", "silu", tokens,
                       "uniform", 0.0, 1};
  int64_t id = 0;
  OK(db, pt_db_put_problem(db, &p, &id));
  return id;
}

static void fill_times(pt_db_measurement_t *m, double median) {
  m->median_us = median;
  m->min_us = median * 0.95;
  m->p90_us = median * 1.05;
  m->spread = 0.01;
  m->samples = 25;
}

static void measure(pt_db_t *db, const fx_t *f, int dev, int var, int tokens,
                    pt_db_regime_t regime, pt_db_status_t status,
                    double median) {
  pt_db_measurement_t m;
  pt_db_measurement_init(&m);
  m.run_id = f->run;
  m.device_id = f->dev[dev];
  m.problem_id = put_prob(db, tokens);
  m.variant_id = f->var[var];
  m.regime = regime;
  m.status = status;
  if (!isnan(median)) fill_times(&m, median);
  if (status == PT_DB_STATUS_VERIFY_FAIL) m.reason = "max abs error 3.5";
  m.compiler = dev == 2 ? "hiprtc 6.2" : "nvrtc 13.0";
  m.source_hash = f->src;
  OK(db, pt_db_put_measurement(db, &m, NULL));
}

/* Medians in us of the three variants at each token count on device 0 (a
 * negative value: a timeout with that median, which must never win). */
static const int fx_tokens[6] = {1, 2, 4, 8, 16, 32};
static const double fx_medians[6][3] = {
    {10, 12, 20}, {11, 12, 20}, {14, 13, 19},
    {20, 16, -1}, {30, 25, 22}, {50, 40, 30},
};

static void fx_begin(pt_db_t *db, const char *host, fx_t *f) {
  static const char source[] = "extern \"C\" __global__ void gemm1() {}\n";
  OK(db, pt_db_run_begin(db, host, "pipetune tune --family toy", &f->run));
  pt_gpu_props_t p[3] = {
      pt_test_gpu_props(PT_GPU_CUDA, "NVIDIA H100 80GB HBM3", "sm_90", "0000:19:00.0"),
      pt_test_gpu_props(PT_GPU_CUDA, "NVIDIA H100 80GB HBM3", "sm_90", "0000:3b:00.0"),
      pt_test_gpu_props(PT_GPU_HIP, "AMD Instinct MI300X", "gfx942", "0000:05:00.0")};
  for (int i = 0; i < 3; i++) OK(db, pt_db_put_device(db, host, &p[i], &f->dev[i]));
  OK(db, pt_db_put_source(db, "moe_gemm1.cu", source, sizeof source - 1, f->src));
  for (int i = 0; i < 3; i++) f->var[i] = put_var(db, i);
}

/* Builds the fixture's results on host, with every median times scale. */
static void build_fixture(pt_db_t *db, const char *host, double scale,
                          fx_t *f) {
  fx_begin(db, host, f);
  for (int t = 0; t < 6; t++)
    for (int v = 0; v < 3; v++) {
      double med = fx_medians[t][v];
      measure(db, f, 0, v, fx_tokens[t], PT_DB_REGIME_COLD,
              med > 0 ? PT_DB_STATUS_OK : PT_DB_STATUS_TIMEOUT,
              med > 0 ? med * scale : 1.0);
    }
  /* Device 1 (same arch): faster bm=16 at 4 tokens; bm=64 fails
   * verification at 16 tokens, so it cannot win there on sm_90. */
  measure(db, f, 1, 0, 4, PT_DB_REGIME_COLD, PT_DB_STATUS_OK, 12.5 * scale);
  measure(db, f, 1, 2, 16, PT_DB_REGIME_COLD, PT_DB_STATUS_VERIFY_FAIL, NAN);
  measure(db, f, 0, 2, 1, PT_DB_REGIME_WARM, PT_DB_STATUS_OK, 2.0 * scale);
  measure(db, f, 2, 0, 1, PT_DB_REGIME_COLD, PT_DB_STATUS_OK, 15 * scale);
  measure(db, f, 2, 1, 1, PT_DB_REGIME_COLD, PT_DB_STATUS_OK, 14 * scale);
  measure(db, f, 2, 0, 2, PT_DB_REGIME_COLD, PT_DB_STATUS_OK, 15 * scale);
  measure(db, f, 2, 1, 2, PT_DB_REGIME_COLD, PT_DB_STATUS_OK, 16 * scale);
  OK(db, pt_db_run_finish(db, f->run, PT_DB_RUN_DONE));
}

#define FX_MEASUREMENTS (18 + 7)

static void make_fixture_file(const char *path, const char *host,
                              double scale) {
  pt_db_t *db = open_db(path, PT_DB_CREATE);
  fx_t f;
  build_fixture(db, host, scale, &f);
  pt_db_close(db);
}

/* ---- hashes ---- */

START_TEST(hash_vectors) {
  /* Reference values of XXH3-128 (xxHash's canonical hex). */
  char h[PT_DB_HASH_HEX];
  pt_db_hash("", 0, h);
  ck_assert_str_eq(h, "99aa06d3014798d86001c324468d497f");
  pt_db_hash("ClickHouse", 10, h);
  ck_assert_str_eq(h, "14c27b7bef95d36fecf5520ca2daf030");
}
END_TEST

START_TEST(compile_key_covers_every_input) {
  const char *defs[] = {"BM=16", "BN=128"}, *defs2[] = {"BM=16", "BN=256"};
  const char *defs3[] = {"BN=128", "BM=16"}, *split[] = {"BM=16BN=128"};
  const char *opts[] = {"-O3"};
  pt_db_compile_key_t base = {"0123456789abcdef0123456789abcdef", "sm_90",
                              "nvrtc 13.0", defs, 2, opts, 1};
  pt_db_compile_key_t k[7];
  for (int i = 0; i < 7; i++) k[i] = base;
  k[1].arch = "sm_80";
  k[2].compiler = "nvrtc 12.8";
  k[3].defines = defs2;
  k[4].defines = defs3;
  k[5].defines = split;
  k[5].ndefines = 1;
  k[6].noptions = 0;
  char h[7][PT_DB_HASH_HEX], again[PT_DB_HASH_HEX];
  pt_err_t err;
  for (int i = 0; i < 7; i++)
    ck_assert_int_eq(pt_db_compile_key(&k[i], h[i], &err), PT_OK);
  ck_assert_int_eq(pt_db_compile_key(&base, again, &err), PT_OK);
  ck_assert_str_eq(again, h[0]);
  for (int i = 0; i < 7; i++)
    for (int j = i + 1; j < 7; j++)
      ck_assert_msg(strcmp(h[i], h[j]) != 0, "keys %d and %d collide", i, j);
  base.arch = NULL;
  ck_assert_int_eq(pt_db_compile_key(&base, again, &err), PT_EINVAL);
}
END_TEST

/* ---- opening, versions, refusals ---- */

START_TEST(create_fresh) {
  const char *path = TP("fresh.db");
  pt_db_t *db = open_db(path, PT_DB_CREATE);
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  ck_assert_int_eq(s.schema_version, SCHEMA_VERSION);
  ck_assert_int_eq(pt_db_schema_version(), SCHEMA_VERSION);
  ck_assert_str_eq(pt_db_path(db), path);
  int64_t run = 0;
  OK(db, pt_db_run_begin(db, "hostA", "pipetune db init", &run));
  pt_db_close(db);
  ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION);
  ck_assert_int_eq(raw_int(path, "PRAGMA application_id"), 0x50544442);
  char *mode = raw_text(path, "PRAGMA journal_mode");
  ck_assert_str_eq(mode, "delete");
  free(mode);
  char *uuid = raw_text(path, "SELECT uuid FROM runs");
  ck_assert_uint_eq(strlen(uuid), 32);
  free(uuid);
  /* Opening again migrates nothing and keeps the data. */
  db = open_db(path, PT_DB_EXISTING);
  OK(db, pt_db_stats(db, &s));
  ck_assert_int_eq(s.runs, 1);
  OK(db, pt_db_check(db));
  pt_db_close(db);
}
END_TEST

START_TEST(missing_file) {
  pt_err_t err;
  const char *path = TP("missing.db");
  ck_assert_int_eq(open_fails(path, PT_DB_EXISTING, &err), PT_ENOENT);
  ck_assert_int_eq(open_fails(path, PT_DB_READONLY, &err), PT_ENOENT);
  ck_assert_msg(strstr(err.msg, "does not exist"), "%s", err.msg);
  ck_assert(!exists(path));
  pt_db_close(open_db(path, PT_DB_CREATE));
  ck_assert(exists(path));
}
END_TEST

START_TEST(empty_file) {
  const char *path = TP("empty.db");
  spill(path, "", 0);
  blob_t before = slurp(path);
  pt_err_t err;
  ck_assert_int_eq(open_fails(path, PT_DB_READONLY, &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, "empty database"), "%s", err.msg);
  assert_untouched(path, before);
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  pt_db_close(db);
  ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION);
  free(before.data);
}
END_TEST

START_TEST(newer_schema_refused) {
  const char *path = TP("x.db"), *out = TP("out.db");
  make_fixture_file(path, "hostA", 1.0);
  raw_exec(path, "PRAGMA user_version = 7");
  blob_t before = slurp(path);
  char want[4300];
  snprintf(want, sizeof want,
           "'%s' has schema version 7; this pipetune supports up to "
           SCHEMA_VERSION_S, path);
  for (int mode = PT_DB_CREATE; mode <= PT_DB_READONLY; mode++) {
    pt_err_t err;
    ck_assert_int_eq(open_fails(path, (pt_db_mode_t)mode, &err), PT_ESCHEMA);
    ck_assert_str_eq(err.msg, want);
    assert_untouched(path, before);
  }
  pt_db_t *db = open_db(out, PT_DB_CREATE);
  ck_assert_int_eq(pt_db_merge(db, path, NULL), PT_ESCHEMA);
  ck_assert_str_eq(pt_db_errmsg(db), want);
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  ck_assert_int_eq(s.measurements + s.runs, 0);
  pt_db_close(db);
  assert_untouched(path, before);
  free(before.data);
}
END_TEST

/* Refuses path in every mode, with PT_EINVAL, a message containing what,
 * and the file untouched. */
static void assert_refused(const char *path, const char *what) {
  blob_t before = slurp(path);
  for (int mode = PT_DB_CREATE; mode <= PT_DB_READONLY; mode++) {
    pt_err_t err;
    ck_assert_int_eq(open_fails(path, (pt_db_mode_t)mode, &err), PT_EINVAL);
    ck_assert_msg(strstr(err.msg, what) && strstr(err.msg, path),
                  "message: %s", err.msg);
    assert_untouched(path, before);
  }
  free(before.data);
}

START_TEST(non_database_refused) {
  const char *text = TP("notes.txt");
  spill(text, "hello, I am not a database\n", 27);
  assert_refused(text, "is not a pipetune database (not a SQLite file)");

  /* The SQLite magic followed by garbage: only SQLite itself can tell. */
  const char *fake = TP("fake.db");
  char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 37 + 11);
  memcpy(junk, "SQLite format 3", 16);
  spill(fake, junk, sizeof junk);
  assert_refused(fake, "not a pipetune database");

  const char *other = TP("other.db");
  raw_exec(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  assert_refused(other, "is a SQLite database but not a pipetune database");

  pt_err_t err;
  ck_assert_int_eq(open_fails(dir, PT_DB_CREATE, &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, "not a regular file"), "%s", err.msg);

  /* A merge source is refused the same way. */
  pt_db_t *db = open_db(TP("out.db"), PT_DB_CREATE);
  blob_t before = slurp(other);
  ck_assert_int_eq(pt_db_merge(db, other, NULL), PT_EINVAL);
  ck_assert_int_eq(pt_db_merge(db, text, NULL), PT_EINVAL);
  ck_assert_int_eq(pt_db_merge(db, TP("nope.db"), NULL), PT_ENOENT);
  pt_db_close(db);
  assert_untouched(other, before);
  free(before.data);
}
END_TEST

START_TEST(migrations_are_atomic) {
  const char *path = TP("mig.db");
  const char *const broken[] = {
      "CREATE TABLE a (x);",
      "CREATE TABLE b (y); INSERT INTO b VALUES (1); INSERT INTO nope VALUES (1);",
  };
  const char *const fixed[] = {broken[0], "CREATE TABLE b (y);"};
  sqlite3 *c = NULL;
  ck_assert_int_eq(sqlite3_open(path, &c), SQLITE_OK);
  pt_err_t err;
  int rc = pt__db_migrate(c, path, broken, 2, 0, &err);
  ck_assert_int_eq(rc, PT_EDB);
  ck_assert_msg(strstr(err.msg, "migration 2") && strstr(err.msg, "nope"),
                "%s", err.msg);
  sqlite3_close(c);
  /* Version 1 is complete; nothing of version 2 is left. */
  ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), 1);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_schema"
                                 " WHERE name = 'a'"), 1);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_schema"
                                 " WHERE name = 'b'"), 0);
  ck_assert_int_eq(sqlite3_open(path, &c), SQLITE_OK);
  ck_assert_int_eq(pt__db_migrate(c, path, fixed, 2, 0, &err), PT_OK);
  ck_assert_int_eq(pt__db_migrate(c, path, fixed, 2, 0, &err), PT_OK);
  ck_assert_int_eq(pt__db_migrate(c, path, fixed, 1, 0, &err), PT_ESCHEMA);
  sqlite3_close(c);
  ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), 2);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM b"), 0);
}
END_TEST

/* A file made before a knob existed (persist stands in for it: its column
 * and spec items are taken away): read-only opens and merges refuse it
 * untouched; opening it for writing adds the column, fills the value the
 * old kernels compiled, and names the knob in every spec. */
START_TEST(knob_column_added) {
  const char *path = TP("old.db"), *out = TP("into.db");
  make_fixture_file(path, "hostA", 1.0);
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  pt_variant_t g2;
  pt_knobs_default(PT_STAGE_GEMM2, &g2);
  char spec[PT_KNOBS_SPEC_MAX];
  ck_assert_int_gt(pt_knobs_format(&g2, spec, sizeof spec), 0);
  int64_t id = 0;
  OK(db, pt_db_put_variant(db, &g2, spec, &id));
  pt_db_close(db);
  raw_exec(path, "ALTER TABLE variants DROP COLUMN persist;"
                 " UPDATE variants SET spec = replace(replace(spec,"
                 " ',persist=0', ''), ',persist=1', '')");
  int64_t rows = raw_int(path, "SELECT count(*) FROM variants");
  ck_assert_int_eq(rows, 4);

  blob_t before = slurp(path);
  pt_err_t err;
  ck_assert_int_eq(open_fails(path, PT_DB_READONLY, &err), PT_ESCHEMA);
  ck_assert_msg(strstr(err.msg, "has no column for knob 'persist'") &&
                    strstr(err.msg, "pipetune db init"), "%s", err.msg);
  assert_untouched(path, before);
  db = open_db(out, PT_DB_CREATE);
  ck_assert_int_eq(pt_db_merge(db, path, NULL), PT_ESCHEMA);
  pt_db_close(db);
  assert_untouched(path, before);
  free(before.data);

  db = open_db(path, PT_DB_EXISTING);
  pt_db_close(db);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM variants"
                                 " WHERE persist = 0"), rows);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM variants"
                                 " WHERE spec LIKE '%,persist=0,mma=sync'"), rows);
  char *back = raw_text(path, "SELECT spec FROM variants WHERE stage = 'gemm2'");
  ck_assert_str_eq(back, spec);
  free(back);
  /* Read-only opens compare the schema text with a reference database the
   * migrations make, which ALTER-adds a truly new knob's column the same
   * way. persist, standing in here, is in migration 1's CREATE TABLE
   * instead, so this file's text stays different: no read-back here. */
}
END_TEST

/* A damaged schema is refused at open, damaged rows by the check: either
 * way bad input (PT_EINVAL) naming what. */
static int check_fails_with(const char *path, const char *what) {
  pt_db_t *db = NULL;
  pt_err_t err;
  int rc = pt_db_open(path, PT_DB_READONLY, &db, &err);
  if (rc == PT_OK) {
    rc = pt_db_check(db);
    snprintf(err.msg, sizeof err.msg, "%s", pt_db_errmsg(db));
    pt_db_close(db);
  }
  ck_assert_msg(rc == PT_EINVAL && strstr(err.msg, what), "check: %d %s", rc,
                err.msg);
  return rc;
}

START_TEST(check_finds_damage) {
  const char *path = TP("d.db");
  make_fixture_file(path, "hostA", 1.0);
  pt_db_t *db = open_db(path, PT_DB_READONLY);
  OK(db, pt_db_check(db));
  pt_db_close(db);
  raw_exec(path, "CREATE TABLE extra (x)");
  check_fails_with(path, "table 'extra' is not part of schema version "
                   SCHEMA_VERSION_S);
  raw_exec(path, "DROP TABLE extra; DROP VIEW crossovers");
  check_fails_with(path, "view 'crossovers' of schema version "
                   SCHEMA_VERSION_S " is missing");
  make_fixture_file(TP("e.db"), "hostA", 1.0);
  raw_exec(TP("e.db"), "UPDATE measurements SET device_id = 99 WHERE id = 3");
  check_fails_with(TP("e.db"),
                   "row 3 of table 'measurements' references a missing row "
                   "of 'devices'");
}
END_TEST

START_TEST(wal_while_open) {
  const char *path = TP("w.db");
  pt_db_t *a = open_db(path, PT_DB_CREATE), *b = open_db(path, PT_DB_EXISTING);
  char *mode = raw_text(path, "PRAGMA journal_mode");
  ck_assert_str_eq(mode, "wal");
  free(mode);
  int64_t run = 0;
  OK(a, pt_db_run_begin(a, "hostA", "x", &run));
  pt_db_close(a);
  /* b still has it open, so it stays in WAL, and b goes on working. */
  mode = raw_text(path, "PRAGMA journal_mode");
  ck_assert_str_eq(mode, "wal");
  free(mode);
  OK(b, pt_db_run_finish(b, run, PT_DB_RUN_DONE));
  pt_db_close(b);
  mode = raw_text(path, "PRAGMA journal_mode");
  ck_assert_str_eq(mode, "delete");
  free(mode);
  ck_assert(!exists_with(path, "-wal") && !exists_with(path, "-shm"));
}
END_TEST

/* ---- issue 14: writers, dead runs, older files ---- */

/* A writing handle touches the file only at its first write; a caller's
 * transaction that is rolled back leaves nothing (item 15). */
START_TEST(writers_touch_nothing_until_they_write) {
  const char *path = TP("l.db");
  make_fixture_file(path, "hostA", 1.0);
  blob_t before = slurp(path);
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  pt_db_close(db);
  assert_untouched(path, before);
  db = open_db(path, PT_DB_CREATE);
  OK(db, pt_db_begin(db));
  put_prob(db, 999);
  ck_assert_int_eq(pt_db_end(db, PT_EINVAL), PT_EINVAL);
  pt_db_close(db);
  assert_untouched(path, before);
  /* Committed, it stays; the writer is in WAL from its first write. */
  db = open_db(path, PT_DB_EXISTING);
  OK(db, pt_db_begin(db));
  put_prob(db, 999);
  OK(db, pt_db_end(db, PT_OK));
  int64_t run = 0;
  OK(db, pt_db_run_begin(db, "hostA", "x", &run));
  char *mode = raw_text(path, "PRAGMA journal_mode");
  ck_assert_str_eq(mode, "wal");
  free(mode);
  pt_db_close(db);
  mode = raw_text(path, "PRAGMA journal_mode");
  ck_assert_str_eq(mode, "delete");
  free(mode);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM problems WHERE tokens = 999"), 1);
  db = open_db(path, PT_DB_READONLY);
  ck_assert_int_eq(pt_db_begin(db), PT_EINVAL);
  pt_db_close(db);
  free(before.data);
}
END_TEST

typedef struct seen_s {
  int64_t id[8];
  int dead[8], n;
} seen_t;

static int see_run(void *ud, const pt_db_run_info_t *r) {
  seen_t *s = ud;
  if (s->n < 8) {
    s->id[s->n] = r->id;
    s->dead[s->n++] = r->dead;
  }
  return 0;
}

static int dead_of(const seen_t *s, int64_t id) {
  for (int i = 0; i < s->n; i++)
    if (s->id[i] == id) return s->dead[i];
  return -1;
}

/* Item 7: a run of this host whose process is gone is dead, and reaping
 * leaves it as an interrupted run leaves itself. */
START_TEST(dead_runs_are_told_and_reaped) {
  const char *path = TP("runs.db");
  make_fixture_file(path, "hostA", 1.0);
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  int64_t alive, dead, other, old, reboot;
  OK(db, pt_db_run_begin(db, "hostA", "alive", &alive));
  OK(db, pt_db_run_begin(db, "hostA", "dead", &dead));
  OK(db, pt_db_run_begin(db, "hostB", "other", &other));
  OK(db, pt_db_run_begin(db, "hostA", "old", &old));
  OK(db, pt_db_run_begin(db, "hostA", "reboot", &reboot));
  pid_t child = fork();
  if (child == 0) _exit(0);
  ck_assert_int_eq(waitpid(child, NULL, 0), child);
  char sql[512];
  snprintf(sql, sizeof sql, "UPDATE runs SET pid = %d WHERE id = %lld;"
           " UPDATE runs SET pid = NULL, boot_id = NULL WHERE id = %lld;"
           " UPDATE runs SET boot_id = 'another boot' WHERE id = %lld",
           (int)child, (long long)dead, (long long)old, (long long)reboot);
  raw_exec(path, sql);
  /* A claimed item of the dead run. */
  pt_db_job_t item = {.problem_id = put_prob(db, 64), .variant_id = put_var(db, 0),
                      .regime = PT_DB_REGIME_COLD, .arch = "sm_90"};
  pt_db_job_t job;
  OK(db, pt_db_jobs_add(db, dead, &item, 1, NULL));
  OK(db, pt_db_job_claim(db, dead, 1, &job));
  seen_t s = {.n = 0};
  OK(db, pt_db_runs_running(db, "hostA", see_run, &s));
  char boot[PT__DB_BOOT_ID_MAX];
  pt__db_boot_id(boot);
  ck_assert_int_eq(s.n, 5);
  ck_assert_int_eq(dead_of(&s, alive), 0);
  ck_assert_int_eq(dead_of(&s, dead), 1);
  ck_assert_int_eq(dead_of(&s, other), 0);
  ck_assert_int_eq(dead_of(&s, old), 1);
  ck_assert_int_eq(dead_of(&s, reboot), boot[0] != '\0');
  int n = 0;
  OK(db, pt_db_runs_reap(db, "hostA", &n));
  ck_assert_int_eq(n, 2 + (boot[0] != '\0'));
  snprintf(sql, sizeof sql, "SELECT group_concat(id || ':' || status, ' ') FROM"
           " (SELECT id, status FROM runs WHERE id >= %lld ORDER BY id)", (long long)alive);
  char *st = raw_text(path, sql), want[256];
  snprintf(want, sizeof want, "%lld:running %lld:interrupted %lld:running %lld:interrupted"
           " %lld:%s", (long long)alive, (long long)dead, (long long)other, (long long)old,
           (long long)reboot, boot[0] ? "interrupted" : "running");
  ck_assert_str_eq(st, want);
  free(st);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs WHERE run_id = %lld AND state ="
           " 'ready' AND device_id IS NULL", (long long)dead);
  ck_assert_int_eq(raw_int(path, sql), 1);
  OK(db, pt_db_runs_reap(db, "hostA", &n));
  ck_assert_int_eq(n, 0);
  pt_db_close(db);
}
END_TEST

/* A version-1 file, made the way pipetune 0.1 made them. */
static void make_v1_file(const char *path) {
  sqlite3 *c = NULL;
  pt_err_t err;
  ck_assert_int_eq(sqlite3_open(path, &c), SQLITE_OK);
  ck_assert_int_eq(pt__db_migrate(c, path, pt__db_migrations, 1, 0, &err), PT_OK);
  sqlite3_close(c);
  raw_exec(path,
           "INSERT INTO runs (uuid, started, tool_version, command, host) VALUES"
           " ('0123456789abcdef0123456789abcdef', '2026-01-01T00:00:00.000Z', '0.1.0',"
           " 'pipetune tune', 'hostA');"
           "INSERT INTO devices (host, backend, name, arch, pci_bus_id, driver, sm_count,"
           " warp_size, max_threads_per_block, max_threads_per_sm, regs_per_block,"
           " regs_per_sm, smem_per_block, smem_per_block_optin, smem_per_sm, l2_bytes,"
           " global_mem) VALUES ('hostA', 'cuda', 'H100', 'sm_90', '0000:19:00.0', '13.0',"
           " 132, 32, 1024, 2048, 65536, 65536, 49152, 232448, 233472, 52428800,"
           " 85899345920);"
           "INSERT INTO kernel_sources (hash, name, text, created) VALUES"
           " ('0123456789abcdef0123456789abcdef', 'k.cu', 'x', '2026-01-01');"
           "INSERT INTO variants (stage, spec, bm, bn, k_wave, bhoist, spart, nt, persist)"
           " VALUES ('gemm1', 'bm=16', 16, 128, 2, 1, 0, 1, 0);"
           "INSERT INTO problems (family, model_dim, inter_dim, experts, topk, dtype, act,"
           " tokens, routing, seed) VALUES ('toy', 512, 256, 8, 2, 'a4w4', 'silu', 1,"
           " 'uniform', 1);"
           "INSERT INTO measurements (run_id, device_id, problem_id, variant_id, regime,"
           " status, median_us, min_us, p90_us, samples, backend, compiler, source_hash,"
           " tool_version, created) VALUES (1, 1, 1, 1, 'cold', 'ok', 10, 9, 11, 25, 'cuda',"
           " 'nvrtc', '0123456789abcdef0123456789abcdef', '0.1.0', '2026-01-01T00:00:01Z')");
}

static int count_row(void *ud, const pt_db_result_t *r) {
  ck_assert_int_eq(r->tokens, 1);
  ck_assert_double_eq(r->median_us, 10);
  (*(int *)ud)++;
  return 0;
}

/* Readers take a file of an older schema as it is; writers upgrade it. */
START_TEST(older_files_are_read_as_they_are) {
  /* A schema 1 file also predates the mma knob: readers refuse it untouched
   * (knob_column_added); a writer brings it up to date, keeping its rows,
   * and from then on it reads and merges like any other. */
  const char *path = TP("v1.db"), *out = TP("v2.db");
  make_v1_file(path);
  blob_t before = slurp(path);
  pt_err_t err;
  ck_assert_int_eq(open_fails(path, PT_DB_READONLY, &err), PT_ESCHEMA);
  ck_assert_msg(strstr(err.msg, "has no column for knob 'mma'"), "%s", err.msg);
  assert_untouched(path, before);
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  OK(db, pt_db_check(db));
  pt_db_close(db);
  ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION);
  db = open_db(path, PT_DB_READONLY);
  int rows = 0;
  OK(db, pt_db_results(db, NULL, NULL, 0, count_row, &rows));
  ck_assert_int_eq(rows, 1);
  seen_t seen = {.n = 0};
  OK(db, pt_db_runs_running(db, "hostA", see_run, &seen));
  ck_assert_int_eq(seen.n, 1);
  ck_assert_int_eq(seen.dead[0], 1);  /* no pid: recorded before schema 2 */
  pt_db_close(db);
  db = open_db(out, PT_DB_CREATE);
  int64_t added = 0;
  OK(db, pt_db_merge(db, path, &added));
  ck_assert_int_eq(added, 1);
  pt_db_close(db);
  ck_assert_int_eq(raw_int(out, "SELECT count(*) FROM runs WHERE pid IS NULL"), 1);
  free(before.data);
}
END_TEST

/* ---- round trips ---- */

START_TEST(names_round_trip) {
  for (int i = 0; i < PT_DB_STATUS_COUNT; i++) {
    pt_db_status_t s;
    ck_assert_int_eq(pt_db_status_parse(pt_db_status_name((pt_db_status_t)i), &s), 0);
    ck_assert_int_eq(s, i);
  }
  pt_db_regime_t r;
  ck_assert_int_eq(pt_db_regime_parse("warm", &r), 0);
  ck_assert_int_eq(r, PT_DB_REGIME_WARM);
  ck_assert_str_eq(pt_db_regime_name(PT_DB_REGIME_COLD), "cold");
  ck_assert_int_eq(pt_db_regime_parse("tepid", &r), -1);
  pt_db_status_t s;
  ck_assert_int_eq(pt_db_status_parse("fine", &s), -1);
  ck_assert_ptr_null(pt_db_status_name(PT_DB_STATUS_COUNT));
}
END_TEST

START_TEST(devices_variants_problems) {
  pt_db_t *db = open_db(TP("r.db"), PT_DB_CREATE);
  pt_gpu_props_t p = pt_test_gpu_props(PT_GPU_CUDA, "NVIDIA H100", "sm_90", "0000:19:00.0");
  int64_t d1 = 0, d2 = 0, d3 = 0;
  OK(db, pt_db_put_device(db, "hostA", &p, &d1));
  OK(db, pt_db_put_device(db, "hostA", &p, &d2));
  ck_assert_int_eq(d1, d2);
  snprintf(p.pci_bus_id, sizeof p.pci_bus_id, "0000:3b:00.0");
  OK(db, pt_db_put_device(db, "hostA", &p, &d3));
  ck_assert_int_ne(d1, d3);
  p.backend = (pt_gpu_backend_t)9;
  ck_assert_int_eq(pt_db_put_device(db, "hostA", &p, &d3), PT_EINVAL);

  int64_t v1 = put_var(db, 0), v2 = put_var(db, 0), v3 = put_var(db, 1);
  ck_assert_int_eq(v1, v2);
  ck_assert_int_ne(v1, v3);
  /* The schema refuses what the knobs module would: bm=0 here. */
  pt_variant_t bad;
  pt_knobs_default(PT_STAGE_GEMM1, &bad);
  bad.bm = 0;
  ck_assert_int_eq(pt_db_put_variant(db, &bad, "bm=0", &v2), PT_EINVAL);
  ck_assert_msg(strstr(pt_db_errmsg(db), "CHECK constraint failed"), "%s",
                pt_db_errmsg(db));
  ck_assert_int_eq(pt_db_put_variant(db, &bad, NULL, &v2), PT_EINVAL);
  pt_variant_t g2;
  const char *g2_spec = "bm=32,bn=64,kstages=2,bhoist=0,spart=0,nt=0,"
                        "epilog=reduce,persist=0";
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM2, g2_spec, &g2, NULL), PT_OK);
  OK(db, pt_db_put_variant(db, &g2, g2_spec, &v2));
  /* gemm1's knobs NULL, gemm2's in their columns, the epilog as its name. */
  ck_assert_int_eq(raw_int(TP("r.db"), "SELECT count(*) FROM variants"
                   " WHERE stage = 'gemm2' AND bm = 32 AND bn = 64"
                   " AND k_wave IS NULL AND g2_kstages = 2 AND bhoist = 0"
                   " AND spart = 0 AND nt = 0 AND persist = 0"
                   " AND epilog = 'reduce'"), 1);
  g2.epilog = 7; /* no name: NULL, which a gemm2 row refuses */
  ck_assert_int_eq(pt_db_put_variant(db, &g2, "bm=32,bn=64,epilog=7", &v2),
                   PT_EINVAL);

  int64_t p1 = put_prob(db, 4), p2 = put_prob(db, 4), p3 = put_prob(db, 8);
  ck_assert_int_eq(p1, p2);
  ck_assert_int_ne(p1, p3);
  pt_db_problem_t zipf = {"toy", 512, 256, 8, 2, "a8w4", "swiglu_oai", 4,
                          "zipf", 1.2, 7};
  OK(db, pt_db_put_problem(db, &zipf, &p2));
  ck_assert_int_ne(p1, p2);
  zipf.dtype = "a2w4";
  ck_assert_int_eq(pt_db_put_problem(db, &zipf, &p2), PT_EINVAL);
  zipf.dtype = "a4w4";
  zipf.model_dim = 500; /* not a multiple of 64 */
  ck_assert_int_eq(pt_db_put_problem(db, &zipf, &p2), PT_EINVAL);

  int64_t run = 0;
  OK(db, pt_db_run_begin(db, "hostA", "cmd", &run));
  OK(db, pt_db_run_finish(db, run, PT_DB_RUN_INTERRUPTED));
  ck_assert_int_eq(pt_db_run_finish(db, run + 5, PT_DB_RUN_DONE), PT_EINVAL);
  pt_db_close(db);
  char *st = raw_text(TP("r.db"), "SELECT status || ' ' || (finished IS NOT NULL)"
                                  " FROM runs");
  ck_assert_str_eq(st, "interrupted 1");
  free(st);
}
END_TEST

START_TEST(sources_and_compile_cache) {
  pt_db_t *db = open_db(TP("c.db"), PT_DB_CREATE);
  static const char text[] = "__global__ void k() {}\n";
  char h[PT_DB_HASH_HEX], want[PT_DB_HASH_HEX];
  OK(db, pt_db_put_source(db, "k.cu", text, sizeof text - 1, h));
  pt_db_hash(text, sizeof text - 1, want);
  ck_assert_str_eq(h, want);
  OK(db, pt_db_put_source(db, "k.cu", text, sizeof text - 1, h));

  const char *defs[] = {"BM=16"};
  pt_db_compile_key_t k = {h, "sm_90", "nvrtc 13.0", defs, 1, NULL, 0};
  pt_db_code_t got;
  ck_assert_int_eq(pt_db_compile_get(db, &k, &got), PT_ENOENT);
  pt_db_code_t fail = {0, NULL, 0, "error: BN undefined", 12.5, -1, -1, -1};
  OK(db, pt_db_compile_put(db, &k, 0, &fail));
  OK(db, pt_db_compile_get(db, &k, &got));
  ck_assert_int_eq(got.ok, 0);
  ck_assert_ptr_null(got.data);
  ck_assert_str_eq(got.log, "error: BN undefined");
  ck_assert_int_eq(got.regs, -1);
  pt_db_code_free(&got);

  /* A later result for the same key replaces the failure. */
  unsigned char cubin[300];
  for (size_t i = 0; i < sizeof cubin; i++) cubin[i] = (unsigned char)(i ^ 0x5a);
  cubin[7] = 0;
  pt_db_code_t ok = {1, cubin, sizeof cubin, "", 80.0, 96, 0, 1024};
  OK(db, pt_db_compile_put(db, &k, put_var(db, 0), &ok));
  OK(db, pt_db_compile_get(db, &k, &got));
  ck_assert_int_eq(got.ok, 1);
  ck_assert_uint_eq(got.size, sizeof cubin);
  ck_assert(memcmp(got.data, cubin, sizeof cubin) == 0);
  ck_assert_int_eq(got.regs, 96);
  ck_assert_int_eq(got.spill_bytes, 0);
  ck_assert_int_eq(got.smem_static, 1024);
  ck_assert(got.compile_ms == 80.0);
  pt_db_code_free(&got);

  ok.data = NULL;
  ck_assert_int_eq(pt_db_compile_put(db, &k, 0, &ok), PT_EINVAL);
  k.source_hash = "ffffffffffffffffffffffffffffffff"; /* not stored */
  ok.data = cubin;
  ck_assert_int_eq(pt_db_compile_put(db, &k, 0, &ok), PT_EINVAL);
  ck_assert_msg(strstr(pt_db_errmsg(db), "FOREIGN KEY"), "%s", pt_db_errmsg(db));
  pt_db_close(db);
  char *opts = raw_text(TP("c.db"), "SELECT options FROM compiles");
  ck_assert_str_eq(opts, "-DBM=16");
  free(opts);
}
END_TEST

START_TEST(measurement_round_trip) {
  const char *path = TP("m.db");
  pt_db_t *db = open_db(path, PT_DB_CREATE);
  fx_t f;
  fx_begin(db, "hostA", &f);
  pt_db_measurement_t m;
  pt_db_measurement_init(&m);
  m.run_id = f.run;
  m.device_id = f.dev[0];
  m.problem_id = put_prob(db, 4);
  m.variant_id = f.var[0];
  m.compiler = "nvrtc 13.0";
  m.source_hash = f.src;
  /* ok needs its timings */
  ck_assert_int_eq(pt_db_put_measurement(db, &m, NULL), PT_EINVAL);
  fill_times(&m, 10);
  m.min_us = 11; /* min above the median */
  ck_assert_int_eq(pt_db_put_measurement(db, &m, NULL), PT_EINVAL);
  fill_times(&m, 10);
  m.device_id = 99;
  ck_assert_int_eq(pt_db_put_measurement(db, &m, NULL), PT_EINVAL);
  ck_assert_msg(strstr(pt_db_errmsg(db), "no device 99"), "%s", pt_db_errmsg(db));
  m.device_id = f.dev[0];
  m.run_id = 99;
  ck_assert_int_eq(pt_db_put_measurement(db, &m, NULL), PT_EINVAL);
  m.run_id = f.run;
  m.status = PT_DB_STATUS_COUNT;
  ck_assert_int_eq(pt_db_put_measurement(db, &m, NULL), PT_EINVAL);
  m.status = PT_DB_STATUS_OK;
  m.floor_us = 4.5;
  m.err_max_abs = 0.25;
  m.sm_clock_mhz = 1980;
  int64_t id1 = 0, id2 = 0;
  OK(db, pt_db_put_measurement(db, &m, &id1));
  /* The same key again replaces the row in place. */
  fill_times(&m, 9);
  OK(db, pt_db_put_measurement(db, &m, &id2));
  ck_assert_int_eq(id1, id2);
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  ck_assert_int_eq(s.measurements, 1);
  pt_db_close(db);
  char *row = raw_text(path,
                       "SELECT printf('%s %s %s %g %g %g %d %g %g %s %s %s %s"
                       " %d %d', backend, status, regime, median_us, min_us,"
                       " p90_us, samples, floor_us, err_max_abs,"
                       " quote(err_max_rel), quote(temp_c), tool_version,"
                       " compiler, sm_clock_mhz, length(created))"
                       " FROM measurements");
  char want[256];
  snprintf(want, sizeof want,
           "cuda ok cold 9 8.55 9.45 25 4.5 0.25 NULL NULL %s nvrtc 13.0 "
           "1980 24", PACKAGE_VERSION);
  ck_assert_str_eq(row, want);
  free(row);
}
END_TEST

/* ---- views ---- */

typedef struct best_list_s {
  int n;
  int tokens[16];
  char spec[16][64];
  double median[16];
  int stop_after;
} best_list_t;

static int collect_best(void *ud, const pt_db_best_t *r) {
  best_list_t *l = ud;
  ck_assert_int_lt(l->n, 16);
  l->tokens[l->n] = r->tokens;
  snprintf(l->spec[l->n], sizeof l->spec[0], "%s", r->spec);
  l->median[l->n] = r->median_us;
  l->n++;
  return l->stop_after && l->n == l->stop_after ? 42 : 0;
}

static best_list_t best_of(pt_db_t *db, const char *arch,
                           const char *regime) {
  pt_db_filter_t f = {arch, "toy", "a4w4", "gemm1", regime, NULL, 0};
  best_list_t l;
  memset(&l, 0, sizeof l);
  OK(db, pt_db_best(db, &f, collect_best, &l));
  return l;
}

START_TEST(best_view) {
  pt_db_t *db = open_db(TP("v.db"), PT_DB_CREATE);
  fx_t f;
  build_fixture(db, "hostA", 1.0, &f);
  /* Lowest median among ok rows only, across both sm_90 devices: 4 tokens
   * from device 1; 8 not the timeout; 16 not the variant that failed
   * verification on device 1 though it is fastest on device 0. */
  best_list_t l = best_of(db, "sm_90", "cold");
  const int want_spec[6] = {0, 0, 0, 1, 1, 2};
  const double want_med[6] = {10, 11, 12.5, 16, 25, 30};
  ck_assert_int_eq(l.n, 6);
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(l.tokens[i], fx_tokens[i]);
    ck_assert_str_eq(l.spec[i], specs[want_spec[i]]);
    ck_assert(l.median[i] == want_med[i]);
  }
  l = best_of(db, "sm_90", "warm");
  ck_assert_int_eq(l.n, 1);
  ck_assert_str_eq(l.spec[0], specs[2]);
  l = best_of(db, "gfx942", "cold");
  ck_assert_int_eq(l.n, 2);
  ck_assert_str_eq(l.spec[0], specs[1]);
  ck_assert_str_eq(l.spec[1], specs[0]);
  /* All series at once, and a callback that stops the walk. */
  memset(&l, 0, sizeof l);
  OK(db, pt_db_best(db, NULL, collect_best, &l));
  ck_assert_int_eq(l.n, 9);
  memset(&l, 0, sizeof l);
  l.stop_after = 2;
  ck_assert_int_eq(pt_db_best(db, NULL, collect_best, &l), 42);
  ck_assert_int_eq(l.n, 2);
  pt_db_close(db);
}
END_TEST

typedef struct cross_list_s {
  int n;
  char text[8][200];
} cross_list_t;

static int collect_cross(void *ud, const pt_db_crossover_t *r) {
  cross_list_t *l = ud;
  ck_assert_int_lt(l->n, 8);
  snprintf(l->text[l->n++], sizeof l->text[0], "%s %s %d-%d bm%c->bm%c %g %g",
           r->arch, r->regime, r->tokens_lo, r->tokens_hi, r->winner_lo[3],
           r->winner_hi[3], r->median_lo_us, r->median_hi_us);
  return 0;
}

START_TEST(crossovers_view) {
  pt_db_t *db = open_db(TP("x.db"), PT_DB_CREATE);
  fx_t f;
  build_fixture(db, "hostA", 1.0, &f);
  cross_list_t l;
  memset(&l, 0, sizeof l);
  OK(db, pt_db_crossovers(db, NULL, collect_cross, &l));
  ck_assert_int_eq(l.n, 3);
  /* winner_lo[3] is the first digit of bm in the spec "bm=16,..." */
  ck_assert_str_eq(l.text[0], "gfx942 cold 1-2 bm3->bm1 14 15");
  ck_assert_str_eq(l.text[1], "sm_90 cold 4-8 bm1->bm3 12.5 16");
  ck_assert_str_eq(l.text[2], "sm_90 cold 16-32 bm3->bm6 25 30");
  pt_db_filter_t only = {"sm_90", NULL, NULL, NULL, "warm", NULL, 0};
  memset(&l, 0, sizeof l);
  OK(db, pt_db_crossovers(db, &only, collect_cross, &l));
  ck_assert_int_eq(l.n, 0);
  pt_db_close(db);
}
END_TEST

/* ---- digest and merge ---- */

static void digest_of(const char *path, char out[PT_DB_HASH_HEX],
                      pt_db_stats_t *s) {
  pt_db_t *db = open_db(path, PT_DB_READONLY);
  OK(db, pt_db_digest(db, out));
  OK(db, pt_db_stats(db, s));
  OK(db, pt_db_check(db));
  pt_db_close(db);
}

static int64_t merge_into(const char *out, const char *src) {
  pt_db_t *db = open_db(out, PT_DB_CREATE);
  int64_t added = -1;
  OK(db, pt_db_merge(db, src, &added));
  pt_db_close(db);
  return added;
}

START_TEST(merge_is_idempotent) {
  const char *a = TP("a.db"), *b = TP("b.db"), *o1 = TP("o1.db"),
             *o2 = TP("o2.db");
  make_fixture_file(a, "hostA", 1.0);
  make_fixture_file(b, "hostB", 0.9);
  blob_t a_bytes = slurp(a);
  char da[PT_DB_HASH_HEX], d1[PT_DB_HASH_HEX], d2[PT_DB_HASH_HEX],
      again[PT_DB_HASH_HEX];
  pt_db_stats_t sa, s1, s2, s3;
  digest_of(a, da, &sa);

  /* One source: the same results, so the same digest. */
  ck_assert_int_eq(merge_into(o1, a), FX_MEASUREMENTS);
  digest_of(o1, d1, &s1);
  ck_assert_str_eq(d1, da);
  assert_untouched(a, a_bytes);

  ck_assert_int_eq(merge_into(o1, b), FX_MEASUREMENTS);
  ck_assert_int_eq(merge_into(o2, b), FX_MEASUREMENTS);
  ck_assert_int_eq(merge_into(o2, a), FX_MEASUREMENTS);
  digest_of(o1, d1, &s1);
  digest_of(o2, d2, &s2);
  ck_assert_str_eq(d1, d2); /* whatever the order, and the row ids */
  ck_assert_str_ne(d1, da);
  ck_assert_int_eq(s1.measurements, 2 * FX_MEASUREMENTS);
  ck_assert_int_eq(s1.devices, 6);
  ck_assert_int_eq(s1.runs, 2);
  ck_assert_int_eq(s1.variants, 3);
  ck_assert_int_eq(s1.problems, 6);
  ck_assert_int_eq(s1.sources, 1);

  /* Merging the same files again changes nothing. */
  ck_assert_int_eq(merge_into(o1, a), 0);
  ck_assert_int_eq(merge_into(o1, b), 0);
  ck_assert_int_eq(merge_into(o1, o1), 0);
  pt_db_t *ro = open_db(o1, PT_DB_READONLY);
  ck_assert_int_eq(pt_db_merge(ro, a, NULL), PT_EINVAL);
  pt_db_close(ro);
  digest_of(o1, again, &s3);
  ck_assert_str_eq(again, d1);
  ck_assert(memcmp(&s3, &s1, sizeof s1) == 0);

  /* The merged best is the faster host's, the same winners. */
  pt_db_t *db = open_db(o1, PT_DB_READONLY);
  best_list_t l = best_of(db, "sm_90", "cold");
  ck_assert_int_eq(l.n, 6);
  ck_assert(fabs(l.median[0] - 9.0) < 1e-9);
  ck_assert_str_eq(l.spec[5], specs[2]);
  pt_db_close(db);
  free(a_bytes.data);
}
END_TEST

static void nap_ms(int ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

static double median_at(const char *path, int tokens) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT median_us * 1000 FROM results WHERE tokens = %d AND"
           " variant_id = 1 AND device_id = 1 AND regime = 'cold'", tokens);
  return (double)raw_int(path, sql) / 1000;
}

START_TEST(merge_keeps_the_newer_result) {
  const char *old = TP("old.db"), *new = TP("new.db");
  make_fixture_file(old, "hostA", 1.0);
  nap_ms(5); /* created has millisecond resolution */
  make_fixture_file(new, "hostA", 2.0); /* same keys, later */
  ck_assert_int_eq(median_at(old, 1), 10);
  pt_db_t *db = open_db(old, PT_DB_EXISTING);
  int64_t added = -1;
  OK(db, pt_db_merge(db, new, &added));
  ck_assert_int_eq(added, 0);
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  ck_assert_int_eq(s.measurements, FX_MEASUREMENTS);
  ck_assert_int_eq(s.runs, 2);
  pt_db_close(db);
  ck_assert(median_at(old, 1) == 20);
  /* The other way round, the newer rows stay. */
  db = open_db(new, PT_DB_EXISTING);
  OK(db, pt_db_merge(db, old, &added));
  pt_db_close(db);
  ck_assert(median_at(new, 1) == 20);
  ck_assert_int_eq(raw_int(new, "SELECT count(*) FROM measurements"
                                " WHERE run_id = 1"), FX_MEASUREMENTS);
}
END_TEST

START_TEST(merge_refuses_dangling_rows) {
  const char *bad = TP("bad.db");
  make_fixture_file(bad, "hostA", 1.0);
  raw_exec(bad, "UPDATE measurements SET variant_id = 77 WHERE id = 1");
  pt_db_t *db = open_db(TP("o.db"), PT_DB_CREATE);
  ck_assert_int_eq(pt_db_merge(db, bad, NULL), PT_EINVAL);
  ck_assert_msg(strstr(pt_db_errmsg(db), "references a missing row of 'variants'"),
                "%s", pt_db_errmsg(db));
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  ck_assert_int_eq(s.runs + s.measurements + s.devices, 0);
  pt_db_close(db);
}
END_TEST

/* ---- the job plan and resume ---- */

static size_t plan(pt_db_t *db, int64_t run, const int64_t *probs, int np,
                   const int64_t *vars, int nv) {
  pt_db_job_t items[16];
  int n = 0;
  for (int p = 0; p < np; p++)
    for (int v = 0; v < nv; v++) {
      memset(&items[n], 0, sizeof items[n]);
      items[n].problem_id = probs[p];
      items[n].variant_id = vars[v];
      items[n].regime = PT_DB_REGIME_COLD;
      snprintf(items[n].arch, sizeof items[n].arch, "sm_90");
      n++;
    }
  size_t ready = 0;
  OK(db, pt_db_jobs_add(db, run, items, (size_t)n, &ready));
  return ready;
}

static void result_for(const pt_db_job_t *j, int64_t dev, const fx_t *f,
                       pt_db_status_t status, pt_db_measurement_t *m) {
  pt_db_measurement_init(m);
  m->run_id = j->run_id;
  m->device_id = dev;
  m->problem_id = j->problem_id;
  m->variant_id = j->variant_id;
  m->regime = j->regime;
  m->status = status;
  if (status == PT_DB_STATUS_OK) fill_times(m, 10.0 + (double)j->id);
  m->compiler = "nvrtc 13.0";
  m->source_hash = f->src;
}

static int count_done(void *ud, int64_t p, int64_t v, pt_db_regime_t r,
                      pt_db_status_t s) {
  (void)p, (void)v, (void)r, (void)s;
  ++*(int *)ud;
  return 0;
}

START_TEST(resume_without_duplicates) {
  const char *path = TP("j.db");
  pt_db_t *db = open_db(path, PT_DB_CREATE);
  fx_t f;
  fx_begin(db, "hostA", &f);
  int64_t probs[3] = {put_prob(db, 1), put_prob(db, 2), put_prob(db, 4)};
  ck_assert_uint_eq(plan(db, f.run, probs, 3, f.var, 2), 6);
  ck_assert_uint_eq(plan(db, f.run, probs, 3, f.var, 2), 6); /* idempotent */

  /* Claim two; finish one (failed verification), the other is in flight
   * when the supervisor dies. */
  pt_db_job_t j1, j2, jx;
  pt_db_measurement_t m;
  OK(db, pt_db_job_claim(db, f.run, f.dev[0], &j1));
  OK(db, pt_db_job_claim(db, f.run, f.dev[1], &j2));
  ck_assert_int_eq(j1.problem_id, probs[0]);
  ck_assert_int_eq(j1.variant_id, f.var[0]);
  ck_assert_str_eq(j1.arch, "sm_90");
  ck_assert_int_eq(pt_db_job_claim(db, f.run, f.dev[2], &jx), PT_ENOENT);
  result_for(&j1, f.dev[0], &f, PT_DB_STATUS_VERIFY_FAIL, &m);
  OK(db, pt_db_job_finish(db, j1.id, &m, NULL));
  ck_assert_int_eq(pt_db_job_finish(db, j1.id, &m, NULL), PT_EINVAL);
  ck_assert_msg(strstr(pt_db_errmsg(db), "is failed, not running"), "%s",
                pt_db_errmsg(db));
  /* A result that is not the claimed item is refused, and nothing kept. */
  result_for(&j2, f.dev[0], &f, PT_DB_STATUS_OK, &m);
  ck_assert_int_eq(pt_db_job_finish(db, j2.id, &m, NULL), PT_EINVAL);
  pt_db_close(db);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM measurements"), 1);
  char *st = raw_text(path, "SELECT printf('%d %d %d %d %d', total, ready,"
                            " running, done, failed) FROM status");
  ck_assert_str_eq(st, "6 4 1 0 1");
  free(st);

  /* Resume in a new run: the measured item is not planned again. */
  db = open_db(path, PT_DB_EXISTING);
  int64_t run2 = 0;
  OK(db, pt_db_run_begin(db, "hostA", "pipetune tune --resume", &run2));
  ck_assert_uint_eq(plan(db, run2, probs, 3, f.var, 2), 5);
  pt_db_job_t j;
  int rc, n = 0;
  while ((rc = pt_db_job_claim(db, run2, f.dev[n % 2], &j)) == PT_OK) {
    ck_assert(!(j.problem_id == j1.problem_id && j.variant_id == j1.variant_id));
    result_for(&j, f.dev[n % 2], &f, PT_DB_STATUS_OK, &m);
    int64_t mid = 0;
    OK(db, pt_db_job_finish(db, j.id, &m, &mid));
    ck_assert_int_gt(mid, 0);
    n++;
  }
  ck_assert_int_eq(rc, PT_ENOENT);
  ck_assert_int_eq(n, 5);
  ck_assert_uint_eq(plan(db, run2, probs, 3, f.var, 2), 0);
  int done = 0;
  OK(db, pt_db_done(db, "sm_90", 0, count_done, &done));
  ck_assert_int_eq(done, 6);

  /* Resume the first run itself: its in-flight item goes back to ready. */
  int requeued = -1;
  OK(db, pt_db_jobs_requeue(db, f.run, &requeued));
  ck_assert_int_eq(requeued, 1);
  OK(db, pt_db_job_claim(db, f.run, f.dev[0], &jx));
  ck_assert_int_eq(jx.id, j2.id);
  result_for(&jx, f.dev[0], &f, PT_DB_STATUS_OK, &m);
  OK(db, pt_db_job_finish(db, jx.id, &m, NULL));
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  /* Run 2 measured j2's item on dev[0] already (its first claim): the
   * result replaces that row instead of adding one. */
  ck_assert_int_eq(s.measurements, 6);
  ck_assert_int_eq(s.jobs, 12);
  OK(db, pt_db_check(db));
  pt_db_close(db);
  ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM (SELECT DISTINCT"
                                 " problem_id, variant_id, regime FROM"
                                 " measurements)"), 6);
}
END_TEST

START_TEST(job_argument_errors) {
  pt_db_t *db = open_db(TP("je.db"), PT_DB_CREATE);
  fx_t f;
  fx_begin(db, "hostA", &f);
  pt_db_job_t item;
  memset(&item, 0, sizeof item);
  item.problem_id = put_prob(db, 1);
  item.variant_id = f.var[0];
  size_t ready = 9;
  ck_assert_int_eq(pt_db_jobs_add(db, f.run, &item, 1, &ready), PT_EINVAL);
  snprintf(item.arch, sizeof item.arch, "sm_90");
  item.variant_id = 1234;
  ck_assert_int_eq(pt_db_jobs_add(db, f.run, &item, 1, &ready), PT_EINVAL);
  ck_assert_int_eq(pt_db_job_claim(db, f.run, 1234, &item), PT_EINVAL);
  pt_db_measurement_t m;
  pt_db_measurement_init(&m);
  ck_assert_int_eq(pt_db_job_finish(db, 77, &m, NULL), PT_EINVAL);
  ck_assert_msg(strstr(pt_db_errmsg(db), "no job 77"), "%s", pt_db_errmsg(db));
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  ck_assert_int_eq(s.jobs, 0);
  pt_db_close(db);
}
END_TEST

/* ---- crash safety ---- */

/* Forks a child that runs body(path, fd) and writes to fd as it goes; the
 * parent reads want bytes from it, then kills the child with SIGKILL.
 * Returns every byte the child wrote, those read after the kill included. */
static size_t kill_after(const char *path, void (*body)(const char *, int),
                         size_t want) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    body(path, fds[1]);
    _exit(3);
  }
  close(fds[1]);
  char buf[64];
  size_t got = 0;
  ssize_t r;
  while (got < want && (r = read(fds[0], buf, sizeof buf < want - got
                                                  ? sizeof buf : want - got)) > 0)
    got += (size_t)r;
  ck_assert_uint_eq(got, want);
  kill(pid, SIGKILL);
  int ws = 0;
  waitpid(pid, &ws, 0);
  ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
  while ((r = read(fds[0], buf, sizeof buf)) > 0) got += (size_t)r;
  close(fds[0]);
  return got;
}

/* Inside db's open transaction, writes enough to spill uncommitted pages
 * out of the cache, tells fd, then waits to be killed. */
static void spill_and_wait(pt_db_t *db, int fd) {
  const char *sql =
      "PRAGMA cache_size = 16;"
      " UPDATE measurements SET median_us = median_us * 2, min_us = min_us * 2,"
      " p90_us = p90_us * 2;"
      " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
      " WHERE i < 3000) INSERT INTO kernel_sources (hash, name, text, created)"
      " SELECT printf('%032x', i), 'junk', printf('%.2000c', 'x'), 'now'"
      " FROM n;";
  if (sqlite3_exec(db->conn, sql, NULL, NULL, NULL) != SQLITE_OK) _exit(4);
  if (write(fd, "x", 1) != 1) _exit(5);
  for (;;) pause();
}

/* A large transaction through the module's own connection (a writer is in
 * WAL from its first write): its pages spill into the WAL. */
static void big_transaction(const char *path, int fd) {
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  if (pt__db_begin(db) != PT_OK) _exit(3);
  spill_and_wait(db, fd);
}

START_TEST(kill_mid_transaction) {
  const char *path = TP("k.db");
  make_fixture_file(path, "hostA", 1.0);
  char before[PT_DB_HASH_HEX], after[PT_DB_HASH_HEX];
  pt_db_stats_t s0, s1;
  digest_of(path, before, &s0);
  kill_after(path, big_transaction, 1);
  /* The uncommitted pages did reach the WAL before the kill. */
  struct stat sb;
  ck_assert(stat(TP("k.db-wal"), &sb) == 0 && sb.st_size > 1000000);
  digest_of(path, after, &s1); /* read-only: check passes, nothing changed */
  ck_assert_str_eq(after, before);
  ck_assert(memcmp(&s0, &s1, sizeof s0) == 0);
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  OK(db, pt_db_check(db));
  pt_db_close(db);
  ck_assert(!exists_with(path, "-wal"));
}
END_TEST

/* A caller's transaction (pt_db_begin: rollback mode, so that a refusal
 * leaves no trace) big enough to spill into the file, then waits to be
 * killed. */
static void big_caller_transaction(const char *path, int fd) {
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  if (pt_db_begin(db) != PT_OK) _exit(3);
  spill_and_wait(db, fd);
}

/* Killed inside it: the hot journal is rolled back by the next writer. */
START_TEST(kill_mid_caller_transaction) {
  const char *path = TP("j.db");
  make_fixture_file(path, "hostA", 1.0);
  char before[PT_DB_HASH_HEX], after[PT_DB_HASH_HEX];
  pt_db_stats_t s0, s1;
  digest_of(path, before, &s0);
  kill_after(path, big_caller_transaction, 1);
  ck_assert(exists_with(path, "-journal"));
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  OK(db, pt_db_check(db));
  pt_db_close(db);
  ck_assert(!exists_with(path, "-journal"));
  digest_of(path, after, &s1);
  ck_assert_str_eq(after, before);
  ck_assert_int_eq(s1.sources, s0.sources);
  ck_assert_int_eq(s1.measurements, s0.measurements);
}
END_TEST

/* Records results one by one, acknowledging each after it returns. */
static void stream_results(const char *path, int fd) {
  pt_db_t *db = open_db(path, PT_DB_EXISTING);
  fx_t f;
  fx_begin(db, "hostA", &f);
  for (int t = 100;; t++) {
    pt_db_measurement_t m;
    pt_db_measurement_init(&m);
    m.run_id = f.run;
    m.device_id = f.dev[0];
    m.problem_id = put_prob(db, t);
    m.variant_id = f.var[t % 3];
    fill_times(&m, 5.0 + t);
    m.compiler = "nvrtc 13.0";
    m.source_hash = f.src;
    if (pt_db_put_measurement(db, &m, NULL) != PT_OK) _exit(4);
    if (write(fd, "x", 1) != 1) _exit(5);
  }
}

START_TEST(kill_during_results) {
  const char *path = TP("s.db");
  make_fixture_file(path, "hostA", 1.0);
  int64_t acked = (int64_t)kill_after(path, stream_results, 40);
  pt_db_t *db = open_db(path, PT_DB_READONLY);
  OK(db, pt_db_check(db));
  pt_db_stats_t s;
  OK(db, pt_db_stats(db, &s));
  /* Every acknowledged result is there, and at most the one in flight. */
  ck_assert_int_ge(s.measurements, FX_MEASUREMENTS + acked);
  ck_assert_int_le(s.measurements, FX_MEASUREMENTS + acked + 1);
  pt_db_close(db);
}
END_TEST

/* ---- the real pipetune binary ---- */

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

#define EXPECT(status, in_err, in_out, ...)  \
  do {                                       \
    pt_test_out_t r_ = RUN(__VA_ARGS__);     \
    pt_test_expect(r_, status, in_err, in_out);      \
    pt_test_out_free(&r_);                   \
  } while (0)

START_TEST(cli_init_check_merge) {
  const char *a = TP("a.db"), *b = TP("b.db"), *out = TP("out.db");
  EXPECT(0, NULL, "schema version " SCHEMA_VERSION_S, "db", "init", a);
  EXPECT(0, NULL, "schema version " SCHEMA_VERSION_S, "db", "init", a);
  EXPECT(0, NULL, "ok, schema version " SCHEMA_VERSION_S ", 0 runs", "db", "check", a);
  make_fixture_file(b, "hostB", 1.0);
  EXPECT(0, NULL, "25 measurements", "db", "check", b);
  EXPECT(0, NULL, "merged 2 databases, 25 new measurements, 25 in all", "db",
         "merge", a, b, "-o", out);
  EXPECT(0, NULL, "0 new measurements, 25 in all", "db", "merge", b, "-o",
         out);
  EXPECT(0, NULL, "ok", "db", "check", out);
  EXPECT(0, NULL, "verbs:", "db", "--help");
  EXPECT(0, NULL, "usage: pipetune db merge", "db", "merge", "--help");
}
END_TEST

START_TEST(cli_bad_input_exits_2) {
  const char *txt = TP("notes.txt"), *newer = TP("newer.db"),
             *good = TP("good.db"), *out = TP("out.db");
  spill(txt, "not a database\n", 15);
  make_fixture_file(newer, "hostA", 1.0);
  raw_exec(newer, "PRAGMA user_version = 7");
  make_fixture_file(good, "hostA", 1.0);
  blob_t t0 = slurp(txt), n0 = slurp(newer), g0 = slurp(good);
  char msg[4300];
  snprintf(msg, sizeof msg,
           "error: '%s' has schema version 7; this pipetune supports up to "
           SCHEMA_VERSION_S "\n",
           newer);

  EXPECT(2, "is not a pipetune database", NULL, "db", "check", txt);
  EXPECT(2, "is not a pipetune database", NULL, "db", "init", txt);
  pt_test_out_t r = RUN("db", "check", newer);
  pt_test_expect(r, 2, NULL, NULL);
  ck_assert_str_eq(r.err, msg);
  pt_test_out_free(&r);
  EXPECT(2, "has schema version 7", NULL, "db", "init", newer);
  EXPECT(2, "does not exist", NULL, "db", "check", TP("missing.db"));
  ck_assert(!exists(TP("missing.db")));

  /* A bad input anywhere: no output is created, an existing one untouched. */
  EXPECT(2, "is not a pipetune database", NULL, "db", "merge", good, txt,
         "-o", out);
  EXPECT(2, "has schema version 7", NULL, "db", "merge", good, newer, "-o",
         out);
  EXPECT(2, "does not exist", NULL, "db", "merge", TP("missing.db"), "-o", out);
  ck_assert(!exists(out));
  EXPECT(2, "is not a pipetune database", NULL, "db", "merge", good, "-o", txt);
  EXPECT(2, "has schema version 7", NULL, "db", "merge", good, "-o", newer);
  assert_untouched(txt, t0);
  assert_untouched(newer, n0);
  assert_untouched(good, g0);

  EXPECT(2, "unknown db verb 'frob'", NULL, "db", "frob");
  EXPECT(2, "usage: pipetune db", NULL, "db");
  EXPECT(2, "need -o OUT", NULL, "db", "merge", good);
  EXPECT(2, "expected one FILE", NULL, "db", "check");

  /* A damaged database is bad input (issue 14, item 13): exit 2. */
  raw_exec(good, "UPDATE measurements SET problem_id = 99 WHERE id = 2");
  EXPECT(2, "references a missing row of 'problems'", NULL, "db", "check", good);
  free(t0.data);
  free(n0.data);
  free(g0.data);
}
END_TEST

/* ---- db/README.md: every console example runs and prints what it says ---- */

/* Runs each "$ command" of the ```console blocks of the README in dir,
 * where tune.db is the fixture, and compares what it prints (stdout and
 * stderr) with the lines that follow it. */
static int run_readme_block(FILE *f, int *line) {
  char buf[4096], cmd[4096] = "", want[16384] = "";
  int examples = 0;
  for (;;) {
    int end = fgets(buf, sizeof buf, f) == NULL || strncmp(buf, "```", 3) == 0;
    ++*line;
    if ((end || strncmp(buf, "$ ", 2) == 0) && cmd[0] != '\0') {
      char script[8192];
      char *bin = pt_test_build_path("");
      snprintf(script, sizeof script, "cd '%s' && PATH='%s':\"$PATH\" && %s 2>&1",
               dir, bin, cmd);
      free(bin);
      pt_test_out_t r = pt_test_run("/bin/sh", (const char *const[]){"-c", script, NULL});
      ck_assert_msg(strcmp(r.out, want) == 0,
                    "db/README.md:%d: '%s' printed\n%s\nexpected\n%s", *line,
                    cmd, r.out, want);
      pt_test_out_free(&r);
      examples++;
      cmd[0] = want[0] = '\0';
    }
    if (end) return examples;
    if (strncmp(buf, "$ ", 2) == 0) {
      snprintf(cmd, sizeof cmd, "%s", buf + 2);
      cmd[strcspn(cmd, "\n")] = '\0';
    } else {
      ck_assert_msg(strlen(want) + strlen(buf) < sizeof want, "block too long");
      strcat(want, buf);
    }
  }
}

START_TEST(readme_examples) {
  make_fixture_file(TP("tune.db"), "hostA", 1.0);
  char *readme = pt_test_src_path("db/README.md");
  FILE *f = fopen(readme, "r");
  ck_assert_msg(f != NULL, "cannot open '%s'", readme);
  char buf[4096];
  int line = 0, examples = 0;
  while (fgets(buf, sizeof buf, f) != NULL) {
    line++;
    if (strncmp(buf, "```console", 10) == 0)
      examples += run_readme_block(f, &line);
  }
  fclose(f);
  free(readme);
  ck_assert_int_ge(examples, 5);
}
END_TEST

static int have_sqlite3_cli(void) {
  pt_test_out_t r = pt_test_run("/bin/sh", (const char *const[]){
      "-c", "command -v sqlite3 >/dev/null", NULL});
  int ok = r.status == 0;
  pt_test_out_free(&r);
  return ok;
}

/* ---- runner ---- */

static TCase *tcase(Suite *s, const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return tc;
}

int main(void) {
  Suite *s = suite_create("db");
  TCase *tc = tcase(s, "hash");
  tcase_add_test(tc, hash_vectors);
  tcase_add_test(tc, compile_key_covers_every_input);
  tc = tcase(s, "open");
  tcase_add_test(tc, create_fresh);
  tcase_add_test(tc, missing_file);
  tcase_add_test(tc, empty_file);
  tcase_add_test(tc, newer_schema_refused);
  tcase_add_test(tc, non_database_refused);
  tcase_add_test(tc, migrations_are_atomic);
  tcase_add_test(tc, knob_column_added);
  tcase_add_test(tc, check_finds_damage);
  tcase_add_test(tc, wal_while_open);
  tcase_add_test(tc, writers_touch_nothing_until_they_write);
  tcase_add_test(tc, dead_runs_are_told_and_reaped);
  tcase_add_test(tc, older_files_are_read_as_they_are);
  tc = tcase(s, "records");
  tcase_add_test(tc, names_round_trip);
  tcase_add_test(tc, devices_variants_problems);
  tcase_add_test(tc, sources_and_compile_cache);
  tcase_add_test(tc, measurement_round_trip);
  tc = tcase(s, "views");
  tcase_add_test(tc, best_view);
  tcase_add_test(tc, crossovers_view);
  tc = tcase(s, "merge");
  tcase_add_test(tc, merge_is_idempotent);
  tcase_add_test(tc, merge_keeps_the_newer_result);
  tcase_add_test(tc, merge_refuses_dangling_rows);
  tc = tcase(s, "jobs");
  tcase_add_test(tc, resume_without_duplicates);
  tcase_add_test(tc, job_argument_errors);
  tc = tcase(s, "crash");
  tcase_add_test(tc, kill_mid_transaction);
  tcase_add_test(tc, kill_mid_caller_transaction);
  tcase_add_test(tc, kill_during_results);
  tc = tcase(s, "cli");
  tcase_add_test(tc, cli_init_check_merge);
  tcase_add_test(tc, cli_bad_input_exits_2);
  if (have_sqlite3_cli()) {
    tc = tcase(s, "readme");
    tcase_add_test(tc, readme_examples);
  } else {
    printf("note: no sqlite3 CLI; db/README.md examples not run\n");
  }
  return pt_test_run_suite(s);
}
