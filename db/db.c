/* The database connection and whole-database operations: opening with the
 * schema checks and migrations, hashing, stats, digest, merge and check.
 * The rows themselves are read and written in db_record.c. */
#include "config.h"

#include "db_int.h"
#include "searches.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#define DB_BUSY_TIMEOUT_MS 5000

/* ---- errors and statement helpers ---- */

static int code_of(int sqlite_rc) {
  switch (sqlite_rc & 0xff) {
  case SQLITE_CONSTRAINT:
  case SQLITE_CORRUPT: /* a damaged file is bad input, like a foreign one */
  case SQLITE_NOTADB:
  case SQLITE_MISMATCH:
  case SQLITE_TOOBIG:
  case SQLITE_RANGE: return PT_EINVAL;
  case SQLITE_NOMEM: return PT_ENOMEM;
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY: return PT_EIO;
  default: return PT_EDB;
  }
}

static int conn_fail(sqlite3 *conn, const char *path, const char *what,
                     pt_err_t *err) {
  return pt_err_set(err, code_of(sqlite3_extended_errcode(conn)),
                    "%s in '%s': %s", what, path, sqlite3_errmsg(conn));
}

int pt__db_fail(pt_db_t *db, const char *what) {
  return conn_fail(db->conn, db->path, what, &db->err);
}

/* Switches a writer to WAL before its first write outside a transaction
 * (see pt_db_open): a handle that only reads, or whose writes were all
 * rolled back, leaves the file as it found it. One attempt: a file that
 * cannot switch (another process reads it) is written in rollback mode. */
static void wal_on(pt_db_t *db) {
  if (db->readonly || db->wal_tried || !sqlite3_get_autocommit(db->conn))
    return;
  db->wal_tried = 1;
  sqlite3_exec(db->conn, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
}

int pt__db_prepare(pt_db_t *db, const char *sql, sqlite3_stmt **st,
                   const char *what) {
  if (sqlite3_prepare_v2(db->conn, sql, -1, st, NULL) != SQLITE_OK)
    return pt__db_fail(db, what);
  if (!sqlite3_stmt_readonly(*st)) wal_on(db);
  return PT_OK;
}

int pt__db_exec(pt_db_t *db, const char *sql, const char *what) {
  if (sqlite3_exec(db->conn, sql, NULL, NULL, NULL) != SQLITE_OK)
    return pt__db_fail(db, what);
  return PT_OK;
}

int pt__db_begin(pt_db_t *db) {
  wal_on(db);
  return pt__db_exec(db, "BEGIN IMMEDIATE", "cannot begin a transaction");
}

int pt_db_begin(pt_db_t *db) {
  if (db->readonly)
    return pt_err_set(&db->err, PT_EINVAL,
                      "cannot write '%s': it was opened read-only", db->path);
  return pt__db_exec(db, "BEGIN IMMEDIATE", "cannot begin a transaction");
}

int pt_db_end(pt_db_t *db, int rc) { return pt__db_end(db, rc); }

int pt__db_end(pt_db_t *db, int rc) {
  if (rc == PT_OK) rc = pt__db_exec(db, "COMMIT", "cannot commit");
  /* The failure's message stays; a rollback that fails too leaves the
   * transaction to be undone when the connection closes. */
  if (rc != PT_OK && !sqlite3_get_autocommit(db->conn))
    sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int pt__db_bind_text(sqlite3_stmt *st, int i, const char *s) {
  if (s == NULL) return sqlite3_bind_null(st, i);
  return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

int pt__db_bind_int(sqlite3_stmt *st, int i, int64_t v) {
  if (v < 0) return sqlite3_bind_null(st, i);
  return sqlite3_bind_int64(st, i, v);
}

int pt__db_bind_real(sqlite3_stmt *st, int i, double x) {
  if (isnan(x)) return sqlite3_bind_null(st, i);
  return sqlite3_bind_double(st, i, x);
}

const char *pt__db_col_text(sqlite3_stmt *st, int i) {
  const unsigned char *s = sqlite3_column_text(st, i);
  return s != NULL ? (const char *)s : "";
}

int pt__db_col_int(sqlite3_stmt *st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return -1;
  return sqlite3_column_int(st, i);
}

double pt__db_col_real(sqlite3_stmt *st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return NAN;
  return sqlite3_column_double(st, i);
}

/* Runs a one-row, one-integer query on conn (a PRAGMA, a count). */
static int conn_int(sqlite3 *conn, const char *sql, int64_t *out) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}

/* ---- hashes ---- */

static void hex_of(const XXH128_hash_t h, char out[PT_DB_HASH_HEX]) {
  static const char digits[] = "0123456789abcdef";
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  for (int i = 0; i < 16; i++) {
    out[2 * i] = digits[c.digest[i] >> 4];
    out[2 * i + 1] = digits[c.digest[i] & 15];
  }
  out[32] = '\0';
}

void pt_db_hash(const void *data, size_t len, char out[PT_DB_HASH_HEX]) {
  hex_of(XXH3_128bits(data, len), out);
}

/* Feeds a length-prefixed field, so that no two field lists hash alike. */
static void hash_field(XXH3_state_t *h, const void *data, uint64_t len) {
  unsigned char n[8];
  for (int i = 0; i < 8; i++) n[i] = (unsigned char)(len >> (8 * i));
  XXH3_128bits_update(h, n, sizeof n);
  if (len > 0) XXH3_128bits_update(h, data, (size_t)len);
}

static void hash_str(XXH3_state_t *h, const char *s) {
  hash_field(h, s, strlen(s));
}

int pt_db_compile_key(const pt_db_compile_key_t *k, char out[PT_DB_HASH_HEX],
                      pt_err_t *err) {
  if (k->source_hash == NULL || k->arch == NULL || k->compiler == NULL ||
      k->ndefines < 0 || k->noptions < 0)
    return pt_err_set(err, PT_EINVAL,
                      "compile key needs a source hash, an arch and a compiler");
  XXH3_state_t *h = XXH3_createState();
  if (h == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  XXH3_128bits_reset(h);
  hash_str(h, "pipetune compile key 1");
  hash_str(h, k->source_hash);
  hash_str(h, k->arch);
  hash_str(h, k->compiler);
  hash_field(h, NULL, (uint64_t)k->ndefines);
  for (int i = 0; i < k->ndefines; i++) hash_str(h, k->defines[i]);
  hash_field(h, NULL, (uint64_t)k->noptions);
  for (int i = 0; i < k->noptions; i++) hash_str(h, k->options[i]);
  hex_of(XXH3_128bits_digest(h), out);
  XXH3_freeState(h);
  return PT_OK;
}

/* ---- opening ---- */

int pt_db_schema_version(void) { return pt__db_migration_count; }

const char *pt_db_path(const pt_db_t *db) { return db->path; }
int pt_db_errcode(const pt_db_t *db) { return db->err.code; }
const char *pt_db_errmsg(const pt_db_t *db) { return db->err.msg; }

/* Percent-encodes path into a "file:" URI so that SQLite takes any file
 * name literally (URIs are on for ATTACH ... mode=ro). */
static char *uri_of(const char *path, const char *query) {
  size_t n = strlen(path);
  char *uri = malloc(3 * n + strlen(query) + 16);
  if (uri == NULL) return NULL;
  char *o = uri + sprintf(uri, "file:%s", path[0] == '/' ? "//" : "");
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
        (*p >= '0' && *p <= '9') || strchr("/._-~", *p) != NULL)
      *o++ = (char)*p;
    else
      o += sprintf(o, "%%%02X", *p);
  }
  strcpy(o, query);
  return uri;
}

static int conn_open(const char *path, int flags, const char *query,
                     sqlite3 **out, pt_err_t *err) {
  char *uri = uri_of(path, query);
  if (uri == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  int rc = sqlite3_open_v2(uri, out, flags | SQLITE_OPEN_URI, NULL);
  free(uri);
  if (rc != SQLITE_OK) {
    rc = *out != NULL ? conn_fail(*out, path, "cannot open database", err)
                      : pt_err_set(err, PT_ENOMEM, "out of memory");
    sqlite3_close(*out);
    *out = NULL;
    return rc;
  }
  sqlite3_busy_timeout(*out, DB_BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(*out, 1);
  return PT_OK;
}

static int exec_conn(sqlite3 *conn, const char *path, const char *sql,
                     const char *what, pt_err_t *err) {
  if (sqlite3_exec(conn, sql, NULL, NULL, NULL) != SQLITE_OK)
    return conn_fail(conn, path, what, err);
  return PT_OK;
}

/* ---- knob columns ---- */

int pt__db_knob_columns(char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < pt_knobs_count() && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
                          pt_knobs_at(i)->column);
  return n < len ? PT_OK : PT_EINVAL;
}

/* Whether the file's variants table has column col. */
static int has_column(sqlite3 *conn, const char *col, int *has) {
  char sql[256];
  int64_t n = 0;
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('variants')"
           " WHERE name = '%s'", col);
  int rc = conn_int(conn, sql, &n);
  *has = n > 0;
  return rc;
}

/* k's value in the rows of stage s made before k existed, as SQL. */
static void legacy_sql(const pt_knob_t *k, pt_stage_t s, char *buf, size_t len) {
  const char *sym = pt_knobs_symbol(k, k->fixed[s]);
  if (!pt_knobs_in_stage(k, s)) snprintf(buf, len, "NULL");
  else if (sym != NULL) snprintf(buf, len, "'%s'", sym);
  else snprintf(buf, len, "%d", k->fixed[s]);
}

/* Adds k's column, filled for the existing rows. Its type is the only
 * constraint: a CHECK would be tested against the rows before the fill. */
static int add_column(sqlite3 *conn, const char *path, const pt_knob_t *k,
                      pt_err_t *err) {
  char sql[512], v1[32], v2[32], what[96];
  legacy_sql(k, PT_STAGE_GEMM1, v1, sizeof v1);
  legacy_sql(k, PT_STAGE_GEMM2, v2, sizeof v2);
  snprintf(what, sizeof what, "cannot add the column of knob '%s'", k->name);
  snprintf(sql, sizeof sql, "ALTER TABLE variants ADD COLUMN %s %s;"
           " UPDATE variants SET %s = CASE stage WHEN '%s' THEN %s"
           " WHEN '%s' THEN %s END", k->column,
           k->symbols != NULL ? "TEXT" : "INTEGER", k->column,
           pt_stage_name(PT_STAGE_GEMM1), v1, pt_stage_name(PT_STAGE_GEMM2), v2);
  return exec_conn(conn, path, sql, what, err);
}

/* The spec of a row made before the knobs in mask existed: its own knobs,
 * those at the value the row's kernels compiled. */
static int respec(const char *path, const char *stage, const char *spec,
                  unsigned mask, char out[PT_KNOBS_SPEC_MAX], pt_err_t *err) {
  pt_stage_t s;
  pt_variant_t v;
  int rc = pt_stage_parse(stage, &s) == 0 ? pt_knobs_parse(s, spec, &v, err)
                                          : PT_EINVAL;
  for (int i = 0; rc == PT_OK && i < pt_knobs_count(); i++) {
    const pt_knob_t *k = pt_knobs_at(i);
    if ((mask >> i & 1u) && pt_knobs_in_stage(k, s))
      pt_knobs_set(&v, k, k->fixed[s]);
  }
  if (rc == PT_OK && pt_knobs_format(&v, out, PT_KNOBS_SPEC_MAX) < 0)
    rc = PT_EINVAL;
  if (rc != PT_OK)
    return pt_err_set(err, PT_EINVAL, "'%s': cannot add the new knobs to %s "
                      "variant '%s'", path, stage, spec);
  return PT_OK;
}

/* Rewrites the spec of every row for the knobs added (mask of table rows). */
static int respec_rows(sqlite3 *conn, const char *path, unsigned mask,
                       pt_err_t *err) {
  sqlite3_stmt *sel = NULL, *upd = NULL;
  int rc = PT_OK, src = SQLITE_DONE;
  if (sqlite3_prepare_v2(conn, "SELECT id, stage, spec FROM variants", -1,
                         &sel, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(conn, "UPDATE variants SET spec = ?2 WHERE id = ?1",
                         -1, &upd, NULL) != SQLITE_OK)
    rc = conn_fail(conn, path, "cannot rewrite variant specs", err);
  while (rc == PT_OK && (src = sqlite3_step(sel)) == SQLITE_ROW) {
    char spec[PT_KNOBS_SPEC_MAX];
    rc = respec(path, pt__db_col_text(sel, 1), pt__db_col_text(sel, 2), mask,
                spec, err);
    if (rc != PT_OK) break;
    sqlite3_reset(upd);
    sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
    sqlite3_bind_text(upd, 2, spec, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(upd) != SQLITE_DONE)
      rc = conn_fail(conn, path, "cannot rewrite variant specs", err);
  }
  if (rc == PT_OK && src != SQLITE_DONE)
    rc = conn_fail(conn, path, "cannot rewrite variant specs", err);
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  return rc;
}

/* The first knob whose column the file lacks, or NULL. */
static int missing_knob(sqlite3 *conn, const pt_knob_t **out) {
  *out = NULL;
  for (int i = 0; i < pt_knobs_count() && *out == NULL; i++) {
    int has = 0;
    int rc = has_column(conn, pt_knobs_at(i)->column, &has);
    if (rc != SQLITE_OK) return rc;
    if (!has) *out = pt_knobs_at(i);
  }
  return SQLITE_OK;
}

static int add_knob_columns(sqlite3 *conn, const char *path, pt_err_t *err) {
  unsigned added = 0;
  for (int i = 0; i < pt_knobs_count(); i++) {
    int has = 0;
    if (has_column(conn, pt_knobs_at(i)->column, &has) != SQLITE_OK)
      return conn_fail(conn, path, "cannot read the variants columns", err);
    if (has) continue;
    int rc = add_column(conn, path, pt_knobs_at(i), err);
    if (rc != PT_OK) return rc;
    added |= 1u << i;
  }
  return added ? respec_rows(conn, path, added, err) : PT_OK;
}

/* Looks at the file without SQLite: whether it exists, and whether it
 * starts like a SQLite database (an empty file is a new database). */
static int probe_file(const char *path, pt_db_mode_t mode, int *exists,
                      pt_err_t *err) {
  static const char magic[16] = "SQLite format 3";
  struct stat sb;
  *exists = 0;
  if (stat(path, &sb) != 0) {
    if (errno != ENOENT)
      return pt_err_set(err, PT_EIO, "cannot open '%s': %s", path,
                        strerror(errno));
    if (mode == PT_DB_CREATE) return PT_OK;
    return pt_err_set(err, PT_ENOENT, "'%s' does not exist", path);
  }
  *exists = 1;
  if (!S_ISREG(sb.st_mode))
    return pt_err_set(err, PT_EINVAL, "'%s' is not a regular file", path);
  if (sb.st_size == 0) return PT_OK;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return pt_err_set(err, PT_EIO, "cannot open '%s': %s", path,
                      strerror(errno));
  char head[16];
  size_t got = fread(head, 1, sizeof head, f);
  fclose(f);
  if (got != sizeof head || memcmp(head, magic, sizeof magic) != 0)
    return pt_err_set(err, PT_EINVAL,
                      "'%s' is not a pipetune database (not a SQLite file)",
                      path);
  return PT_OK;
}

/* Decides from its header fields, read through a read-only connection,
 * whether an existing file may be used in mode; *version gets its schema
 * version (0 for a new, empty database). */
static int probe_schema(sqlite3 *conn, const char *path, pt_db_mode_t mode,
                        int64_t *version, pt_err_t *err) {
  int64_t app = 0, objects = 0;
  *version = 0;
  int rc = conn_int(conn, "PRAGMA application_id", &app);
  if (rc == SQLITE_OK) rc = conn_int(conn, "PRAGMA user_version", version);
  if (rc == SQLITE_OK)
    rc = conn_int(conn, "SELECT count(*) FROM sqlite_schema", &objects);
  if ((rc & 0xff) == SQLITE_NOTADB)
    return pt_err_set(err, PT_EINVAL,
                      "'%s' is not a pipetune database (not a SQLite file)",
                      path);
  if (rc != SQLITE_OK) return conn_fail(conn, path, "cannot read", err);
  if (app == 0 && *version == 0 && objects == 0) {
    if (mode != PT_DB_READONLY) return PT_OK;
    return pt_err_set(err, PT_EINVAL,
                      "'%s' is an empty database, not a pipetune database",
                      path);
  }
  if (app != PT__DB_APPLICATION_ID)
    return pt_err_set(err, PT_EINVAL,
                      "'%s' is a SQLite database but not a pipetune database "
                      "(application id %lld)", path, (long long)app);
  if (*version > pt__db_migration_count)
    return pt_err_set(err, PT_ESCHEMA,
                      "'%s' has schema version %lld; this pipetune supports "
                      "up to %d", path, (long long)*version,
                      pt__db_migration_count);
  return PT_OK;
}


/* Applies migration v (0-based) inside the caller's transaction. */
static int migrate_one(sqlite3 *conn, const char *path, const char *sql,
                       int v, pt_err_t *err) {
  char what[64], pragmas[128];
  snprintf(what, sizeof what, "cannot apply schema migration %d", v + 1);
  snprintf(pragmas, sizeof pragmas,
           "PRAGMA user_version = %d; PRAGMA application_id = %d", v + 1,
           PT__DB_APPLICATION_ID);
  int rc = exec_conn(conn, path, sql, what, err);
  if (rc == PT_OK) rc = exec_conn(conn, path, pragmas, what, err);
  return rc;
}

int pt__db_migrate(sqlite3 *conn, const char *path,
                   const char *const *migrations, int n, int knobs,
                   pt_err_t *err) {
  for (;;) {
    int64_t v = 0;
    int rc = exec_conn(conn, path, "BEGIN IMMEDIATE",
                       "cannot begin a transaction", err);
    if (rc != PT_OK) return rc;
    /* Read under the write lock: another process may have migrated. */
    if (conn_int(conn, "PRAGMA user_version", &v) != SQLITE_OK)
      rc = conn_fail(conn, path, "cannot read the schema version", err);
    else if (v > n)
      rc = pt_err_set(err, PT_ESCHEMA,
                      "'%s' has schema version %lld; this pipetune supports "
                      "up to %d", path, (long long)v, n);
    else if (v < n)
      rc = migrate_one(conn, path, migrations[v], (int)v, err);
    if (rc == PT_OK && knobs && v + 1 >= n)
      rc = add_knob_columns(conn, path, err);
    if (rc == PT_OK) rc = exec_conn(conn, path, "COMMIT", "cannot commit", err);
    if (rc != PT_OK && !sqlite3_get_autocommit(conn))
      sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
    if (rc != PT_OK || v >= n) return rc;
  }
}

/* Names the first difference between the sorted object lists a (the
 * file's) and b (the reference's), or returns PT_OK when they are equal. */
static int object_diff(const char *path, int version, sqlite3_stmt *a, int ra,
                       sqlite3_stmt *b, int rb, pt_err_t *err) {
  int cmp = ra != SQLITE_ROW ? 1 : rb != SQLITE_ROW ? -1 : 0;
  for (int i = 0; cmp == 0 && i < 2; i++)
    cmp = strcmp(pt__db_col_text(a, i), pt__db_col_text(b, i));
  if (cmp < 0)
    return pt_err_set(err, PT_EINVAL,
                      "'%s': %s '%s' is not part of schema version %d", path,
                      pt__db_col_text(a, 0), pt__db_col_text(a, 1), version);
  if (cmp > 0)
    return pt_err_set(err, PT_EINVAL,
                      "'%s': %s '%s' of schema version %d is missing", path,
                      pt__db_col_text(b, 0), pt__db_col_text(b, 1), version);
  if (strcmp(pt__db_col_text(a, 2), pt__db_col_text(b, 2)) != 0)
    return pt_err_set(err, PT_EINVAL,
                      "'%s': %s '%s' differs from schema version %d", path,
                      pt__db_col_text(a, 0), pt__db_col_text(a, 1), version);
  return PT_OK;
}

/* Compares the schema objects of conn (at schema version) with those the
 * first version migrations create in a fresh in-memory database, one sorted
 * list against the other. A tampered or damaged schema is bad input. */
static int check_objects(sqlite3 *conn, const char *path, int version,
                         pt_err_t *err) {
  static const char sql[] =
      "SELECT type, name, coalesce(sql, '') FROM sqlite_schema"
      " ORDER BY type, name";
  sqlite3 *ref = NULL;
  sqlite3_stmt *a = NULL, *b = NULL;
  int rc = PT_OK;
  if (sqlite3_open(":memory:", &ref) != SQLITE_OK)
    rc = pt_err_set(err, PT_ENOMEM, "out of memory");
  if (rc == PT_OK)
    /* a file of any version that reaches here has every knob's column
     * (vet_objects), added after its migrations as the reference adds them */
    rc = pt__db_migrate(ref, ":memory:", pt__db_migrations, version, 1, err);
  if (rc == PT_OK && sqlite3_prepare_v2(ref, sql, -1, &b, NULL) != SQLITE_OK)
    rc = conn_fail(ref, ":memory:", "cannot list schema", err);
  if (rc == PT_OK && sqlite3_prepare_v2(conn, sql, -1, &a, NULL) != SQLITE_OK)
    rc = conn_fail(conn, path, "cannot list schema", err);
  while (rc == PT_OK) {
    int ra = sqlite3_step(a), rb = sqlite3_step(b);
    if (ra == SQLITE_DONE && rb == SQLITE_DONE) break;
    if (ra != SQLITE_ROW && ra != SQLITE_DONE)
      rc = conn_fail(conn, path, "cannot list schema", err);
    else if (rb != SQLITE_ROW && rb != SQLITE_DONE)
      rc = conn_fail(ref, ":memory:", "cannot list schema", err);
    else
      rc = object_diff(path, version, a, ra, b, rb, err);
  }
  sqlite3_finalize(a);
  sqlite3_finalize(b);
  sqlite3_close(ref);
  return rc;
}

/* A writer killed inside a transaction in rollback mode leaves a hot
 * journal, which only a writer may roll back (restoring the file as it was
 * before that transaction): a writing open does it before looking. */
static int roll_back_journal(const char *path, pt_err_t *err) {
  char journal[4200];
  struct stat sb;
  snprintf(journal, sizeof journal, "%s-journal", path);
  if (stat(journal, &sb) != 0) return PT_OK;
  sqlite3 *conn = NULL;
  int64_t v = 0;
  int rc = conn_open(path, SQLITE_OPEN_READWRITE, "", &conn, err);
  if (rc == PT_OK && conn_int(conn, "PRAGMA user_version", &v) != SQLITE_OK)
    rc = conn_fail(conn, path, "cannot roll back", err);
  sqlite3_close(conn);
  return rc;
}

/* The schema objects, unless the file lacks the column of a knob newer
 * than itself: a reader refuses it, naming the upgrade; a writer adds the
 * column (configure), so the comparison, whose reference has it, is moot. */
static int vet_objects(sqlite3 *conn, const char *path, pt_db_mode_t mode, int version,
                       pt_err_t *err) {
  const pt_knob_t *k = NULL;
  int has_table = 0;
  if (missing_knob(conn, &k) != SQLITE_OK || has_column(conn, "stage", &has_table) != SQLITE_OK)
    return conn_fail(conn, path, "cannot read the variants columns", err);
  if (k == NULL || !has_table) return check_objects(conn, path, version, err);
  if (mode != PT_DB_READONLY) return PT_OK;
  return pt_err_set(err, PT_ESCHEMA,
                    "'%s' has no column for knob '%s'; this pipetune needs it: "
                    "upgrade it with 'pipetune db init'", path, k->name);
}

/* Looks at an existing file through a read-only connection, which never
 * writes or checkpoints: its header, then (unless it is a new, empty
 * database) its schema objects. *version gets its schema version. */
static int vet_file(const char *path, pt_db_mode_t mode, int64_t *version,
                    pt_err_t *err) {
  sqlite3 *conn = NULL;
  int rc = mode == PT_DB_READONLY ? PT_OK : roll_back_journal(path, err);
  if (rc == PT_OK) rc = conn_open(path, SQLITE_OPEN_READONLY, "", &conn, err);
  if (rc == PT_OK) rc = probe_schema(conn, path, mode, version, err);
  if (rc == PT_OK && *version > 0) rc = vet_objects(conn, path, mode, (int)*version, err);
  sqlite3_close(conn);
  return rc;
}

/* A new file, or one of an older schema, is brought up to date at once
 * (in WAL, as every write); a current one is left untouched until the
 * handle's first write (wal_on). */
static int configure(pt_db_t *db, pt_db_mode_t mode, int64_t version,
                     pt_err_t *err) {
  int64_t v = 0;
  int rc = exec_conn(db->conn, db->path, "PRAGMA foreign_keys = ON",
                     "cannot enable foreign keys", err);
  if (rc != PT_OK || mode == PT_DB_READONLY) return rc;
  /* A read joins a file in WAL as a user of its WAL, so that another
   * writer's close leaves it in WAL; in rollback mode it writes nothing.
   * A file lacking a knob's column is upgraded like an older schema. */
  const pt_knob_t *k = NULL;
  if (version == pt__db_migration_count && missing_knob(db->conn, &k) == SQLITE_OK &&
      k == NULL) {
    if (conn_int(db->conn, "PRAGMA user_version", &v) != SQLITE_OK)
      rc = conn_fail(db->conn, db->path, "cannot read", err);
    return rc;
  }
  db->wal_tried = 1;
  rc = exec_conn(db->conn, db->path, "PRAGMA journal_mode = WAL",
                 "cannot enable WAL", err);
  if (rc == PT_OK)
    rc = pt__db_migrate(db->conn, db->path, pt__db_migrations,
                        pt__db_migration_count, 1, err);
  return rc;
}

static pt_db_t *db_new(const char *path, pt_db_mode_t mode) {
  pt_db_t *db = calloc(1, sizeof *db);
  if (db != NULL && (db->path = strdup(path)) == NULL) {
    free(db);
    return NULL;
  }
  if (db != NULL) db->readonly = mode == PT_DB_READONLY;
  return db;
}

int pt_db_open(const char *path, pt_db_mode_t mode, pt_db_t **out,
               pt_err_t *err) {
  *out = NULL;
  int exists = 0;
  int64_t version = 0;
  int rc = probe_file(path, mode, &exists, err);
  /* Decide before opening for writing: a refused file keeps every byte. */
  if (rc == PT_OK && exists) rc = vet_file(path, mode, &version, err);
  if (rc != PT_OK) return rc;
  pt_db_t *db = db_new(path, mode);
  if (db == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  int flags = mode == PT_DB_READONLY ? SQLITE_OPEN_READONLY
              : mode == PT_DB_CREATE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                     : SQLITE_OPEN_READWRITE;
  rc = conn_open(path, flags, "", &db->conn, err);
  if (rc == PT_OK) rc = configure(db, mode, version, err);
  db->version = mode == PT_DB_READONLY ? (int)version : pt__db_migration_count;
  if (rc != PT_OK) {
    sqlite3_close(db->conn);
    free(db->path);
    free(db);
    return rc;
  }
  *out = db;
  return PT_OK;
}

/* Whether conn's file is in WAL mode (asking writes nothing). */
static int in_wal(sqlite3 *conn) {
  sqlite3_stmt *st = NULL;
  int wal = sqlite3_prepare_v2(conn, "PRAGMA journal_mode", -1, &st, NULL) ==
                SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW &&
            strcmp(pt__db_col_text(st, 0), "wal") == 0;
  sqlite3_finalize(st);
  return wal;
}

void pt_db_close(pt_db_t *db) {
  if (db == NULL) return;
  /* WAL only while a writer has the file open: closed, it is one file in
   * rollback mode, which read-only openers (and a read-only source tree)
   * can read without creating -wal and -shm files. With other connections
   * still open the switch fails at once, and the file stays in WAL. */
  if (!db->readonly && in_wal(db->conn)) {
    sqlite3_busy_timeout(db->conn, 0);
    sqlite3_exec(db->conn, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
  }
  sqlite3_close(db->conn);
  free(db->path);
  free(db);
}

/* ---- dead runs ---- */

void pt__db_boot_id(char out[PT__DB_BOOT_ID_MAX]) {
  out[0] = '\0';
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f == NULL) return;
  if (fgets(out, PT__DB_BOOT_ID_MAX, f) == NULL) out[0] = '\0';
  out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

/* A run is dead when it was recorded on this machine (host) and its
 * process is gone: the machine rebooted since (another boot id), its pid
 * is no process, or it predates schema version 2 and recorded no pid. */
static int run_dead(sqlite3_stmt *st, const char *host, const char *boot) {
  if (strcmp(pt__db_col_text(st, 1), host) != 0) return 0;
  if (sqlite3_column_type(st, 4) != SQLITE_INTEGER) return 1;
  const char *b = pt__db_col_text(st, 5);
  if (b[0] != '\0' && boot[0] != '\0' && strcmp(b, boot) != 0) return 1;
  int64_t pid = sqlite3_column_int64(st, 4);
  if (pid <= 0 || pid > INT32_MAX) return 1;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int pt_db_runs_running(pt_db_t *db, const char *host, pt_db_run_cb cb,
                       void *ud) {
  static const char *const sql[] = {
      "SELECT id, host, started, command, NULL, NULL FROM runs"
      " WHERE status = 'running' ORDER BY id",
      "SELECT id, host, started, command, pid, boot_id FROM runs"
      " WHERE status = 'running' ORDER BY id"};
  char boot[PT__DB_BOOT_ID_MAX];
  pt__db_boot_id(boot);
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql[db->version >= 2], &st, "cannot list runs");
  int src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_run_info_t r = {
        sqlite3_column_int64(st, 0), pt__db_col_text(st, 1),
        pt__db_col_text(st, 2), pt__db_col_text(st, 3),
        sqlite3_column_type(st, 4) == SQLITE_INTEGER
            ? sqlite3_column_int64(st, 4) : -1,
        run_dead(st, host, boot)};
    rc = cb(ud, &r);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, "cannot list runs");
  sqlite3_finalize(st);
  return rc;
}

typedef struct ids_s {
  int64_t *v;
  size_t n, cap;
} ids_t;

static int collect_dead(void *ud, const pt_db_run_info_t *r) {
  ids_t *ids = ud;
  if (!r->dead) return 0;
  if (ids->n == ids->cap) {
    size_t cap = ids->cap ? 2 * ids->cap : 8;
    int64_t *v = realloc(ids->v, cap * sizeof *v);
    if (v == NULL) return 1;
    ids->v = v;
    ids->cap = cap;
  }
  ids->v[ids->n++] = r->id;
  return 0;
}

/* Leaves run id as an interrupted run leaves itself (pt_db_jobs_requeue,
 * pt_db_run_finish). */
static int interrupt_run(pt_db_t *db, sqlite3_stmt *jobs, sqlite3_stmt *run,
                         int64_t id) {
  sqlite3_stmt *st[] = {jobs, run};
  for (int i = 0; i < 2; i++) {
    sqlite3_reset(st[i]);
    sqlite3_bind_int64(st[i], 1, id);
    if (sqlite3_step(st[i]) != SQLITE_DONE)
      return pt__db_fail(db, "cannot mark a dead run interrupted");
  }
  return PT_OK;
}

/* Interrupts the runs ids[0..n) in one transaction. */
static int interrupt_runs(pt_db_t *db, const int64_t *ids, size_t n) {
  static const char what[] = "cannot mark a dead run interrupted";
  sqlite3_stmt *jobs = NULL, *run = NULL;
  int rc = pt__db_prepare(db, "UPDATE jobs SET state = 'ready', device_id ="
                          " NULL, started = NULL WHERE run_id = ?1 AND state ="
                          " 'running'", &jobs, what);
  if (rc == PT_OK)
    rc = pt__db_prepare(db, "UPDATE runs SET status = 'interrupted', finished"
                        " = " PT__DB_NOW " WHERE id = ?1", &run, what);
  if (rc == PT_OK) {
    rc = pt__db_begin(db);
    for (size_t i = 0; rc == PT_OK && i < n; i++)
      rc = interrupt_run(db, jobs, run, ids[i]);
    sqlite3_reset(jobs);
    sqlite3_reset(run);
    rc = pt__db_end(db, rc);
  }
  sqlite3_finalize(jobs);
  sqlite3_finalize(run);
  return rc;
}

int pt_db_runs_reap(pt_db_t *db, const char *host, int *n) {
  ids_t ids = {NULL, 0, 0};
  if (n != NULL) *n = 0;
  int rc = pt_db_runs_running(db, host, collect_dead, &ids);
  if (rc > 0) rc = pt_err_set(&db->err, PT_ENOMEM, "out of memory");
  /* Nothing dead: nothing written. */
  if (rc == PT_OK && ids.n > 0) rc = interrupt_runs(db, ids.v, ids.n);
  if (rc == PT_OK && n != NULL) *n = (int)ids.n;
  free(ids.v);
  return rc;
}

/* ---- stats and digest ---- */

int pt_db_stats(pt_db_t *db, pt_db_stats_t *out) {
  static const char sql[] =
      "SELECT (SELECT user_version FROM pragma_user_version),"
      " (SELECT count(*) FROM runs), (SELECT count(*) FROM devices),"
      " (SELECT count(*) FROM kernel_sources), (SELECT count(*) FROM variants),"
      " (SELECT count(*) FROM problems), (SELECT count(*) FROM compiles),"
      " (SELECT count(*) FROM measurements), (SELECT count(*) FROM jobs)";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, "cannot count rows");
  if (rc == PT_OK && sqlite3_step(st) != SQLITE_ROW)
    rc = pt__db_fail(db, "cannot count rows");
  if (rc == PT_OK) {
    out->schema_version = sqlite3_column_int(st, 0);
    int64_t *counts[] = {&out->runs,     &out->devices,  &out->sources,
                         &out->variants, &out->problems, &out->compiles,
                         &out->measurements, &out->jobs};
    for (int i = 0; i < 8; i++) *counts[i] = sqlite3_column_int64(st, i + 1);
  }
  sqlite3_finalize(st);
  return rc;
}

/* Feeds one value with its type, so that NULL, 1, 1.0 and '1' differ. */
static void hash_value(XXH3_state_t *h, sqlite3_stmt *st, int i) {
  unsigned char tag = (unsigned char)sqlite3_column_type(st, i);
  XXH3_128bits_update(h, &tag, 1);
  if (tag == SQLITE_INTEGER) {
    hash_field(h, NULL, (uint64_t)sqlite3_column_int64(st, i));
  } else if (tag == SQLITE_FLOAT) {
    double x = sqlite3_column_double(st, i);
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    hash_field(h, NULL, bits);
  } else if (tag != SQLITE_NULL) {
    const void *p = sqlite3_column_blob(st, i);
    hash_field(h, p, (uint64_t)sqlite3_column_bytes(st, i));
  }
}

int pt_db_digest(pt_db_t *db, char out[PT_DB_HASH_HEX]) {
  static const char sql[] =
      "SELECT d.host, d.backend, d.pci_bus_id, d.name, d.arch, d.driver,"
      " p.family, p.model_dim, p.inter_dim, p.experts, p.topk, p.dtype, p.act,"
      " p.tokens, p.routing, p.routing_param, p.seed, v.stage, v.spec,"
      " m.regime, m.status, m.median_us, m.min_us, m.p90_us, m.spread,"
      " m.samples, m.floor_us, m.err_max_abs, m.err_mean_abs, m.err_max_rel,"
      " m.sm_clock_mhz, m.temp_c, m.reason, m.backend, m.compiler,"
      " m.source_hash, m.compile_key, m.tool_version, m.created"
      " FROM measurements m JOIN devices d ON d.id = m.device_id"
      " JOIN problems p ON p.id = m.problem_id"
      " JOIN variants v ON v.id = m.variant_id"
      " ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,"
      " 18, 19, 20";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, "cannot digest");
  if (rc != PT_OK) return rc;
  XXH3_state_t *h = XXH3_createState();
  if (h == NULL) {
    sqlite3_finalize(st);
    return pt_err_set(&db->err, PT_ENOMEM, "out of memory");
  }
  XXH3_128bits_reset(h);
  hash_str(h, "pipetune measurements 1");
  int n = sqlite3_column_count(st), src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW)
    for (int i = 0; i < n; i++) hash_value(h, st, i);
  if (src != SQLITE_DONE) rc = pt__db_fail(db, "cannot digest");
  else hex_of(XXH3_128bits_digest(h), out);
  XXH3_freeState(h);
  sqlite3_finalize(st);
  return rc;
}

/* ---- merge ---- */

static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

/* Natural keys: a row of src.X is the row of main.X with the same key. */
#define DEV_KEY(a, b)                                                       \
  "(" a ".host, " a ".backend, " a ".pci_bus_id, " a ".name, " a ".arch, " \
  a ".driver) = (" b ".host, " b ".backend, " b ".pci_bus_id, " b        \
  ".name, " b ".arch, " b ".driver)"
#define PROB_KEY(a, b)                                                      \
  "(" a ".family, " a ".model_dim, " a ".inter_dim, " a ".experts, " a     \
  ".topk, " a ".dtype, " a ".act, " a ".tokens, " a ".routing, " a         \
  ".routing_param, " a ".seed) = (" b ".family, " b ".model_dim, " b       \
  ".inter_dim, " b ".experts, " b ".topk, " b ".dtype, " b ".act, " b      \
  ".tokens, " b ".routing, " b ".routing_param, " b ".seed)"
#define VAR_KEY(a, b) \
  "(" a ".stage, " a ".spec) = (" b ".stage, " b ".spec)"

#define DEVICE_COLS                                                        \
  "host, backend, name, arch, pci_bus_id, driver, sm_count, warp_size,"    \
  " max_threads_per_block, max_threads_per_sm, regs_per_block, regs_per_sm," \
  " smem_per_block, smem_per_block_optin, smem_per_sm, l2_bytes,"          \
  " global_mem, clock_khz, mem_clock_khz, mem_bus_bits"
#define PROBLEM_COLS                                                     \
  "family, model_dim, inter_dim, experts, topk, dtype, act, tokens,"     \
  " routing, routing_param, seed"
/* Each statement is idempotent: merging twice adds nothing the second time.
 * "WHERE true" keeps SQLite from reading ON CONFLICT as a join's ON. The
 * variants' statement is built from the knob table (merge_variants); runs
 * go by uuid, with who ran them (pid, boot_id: NULL from a source older
 * than schema version 2). */
#define RUNS_MERGE(who)                                                      \
  "INSERT INTO main.runs (uuid, started, finished, tool_version, command,"  \
  " host, status, pid, boot_id) SELECT uuid, started, finished,"           \
  " tool_version, command, host, status, " who " FROM src.runs WHERE true"  \
  " ON CONFLICT (uuid) DO UPDATE SET finished = excluded.finished,"         \
  " status = excluded.status"                                               \
  " WHERE runs.finished IS NULL AND excluded.finished IS NOT NULL"
/* A source older than schema version 4 has no held-out or superseded
 * results. */
#define MEAS_MERGE(holdout)                                                   \
    "INSERT INTO main.measurements (run_id, device_id, problem_id, variant_id, " \
    PT__DB_MEAS_COLS ") SELECT mr.id, md.id, mp.id, mv.id, m.regime, m.status," \
    " m.median_us, m.min_us, m.p90_us, m.spread, m.samples, m.floor_us," \
    " m.err_max_abs, m.err_mean_abs, m.err_max_rel, m.sm_clock_mhz, m.temp_c," \
    " m.reason, m.backend, m.compiler, m.source_hash, m.compile_key," \
    " m.tool_version, m.created, " holdout " FROM src.measurements m" \
    " JOIN src.runs sr ON sr.id = m.run_id" \
    " JOIN main.runs mr ON mr.uuid = sr.uuid" \
    " JOIN src.devices sd ON sd.id = m.device_id" \
    " JOIN main.devices md ON " DEV_KEY("md", "sd") \
    " JOIN src.problems sp ON sp.id = m.problem_id" \
    " JOIN main.problems mp ON " PROB_KEY("mp", "sp") \
    " JOIN src.variants sv ON sv.id = m.variant_id" \
    " JOIN main.variants mv ON " VAR_KEY("mv", "sv") \
    " WHERE true ON CONFLICT (device_id, problem_id, variant_id, regime)" \
    " DO UPDATE SET " PT__DB_MEAS_UPDATE \
    " WHERE excluded.created > measurements.created"
static const char *const merge_sql[] = {
    "INSERT INTO main.devices (" DEVICE_COLS ") SELECT " DEVICE_COLS
    " FROM src.devices WHERE true ON CONFLICT DO NOTHING",

    "INSERT INTO main.kernel_sources (hash, name, text, created)"
    " SELECT hash, name, text, created FROM src.kernel_sources WHERE true"
    " ON CONFLICT (hash) DO UPDATE SET text = excluded.text"
    " WHERE kernel_sources.text IS NULL AND excluded.text IS NOT NULL",

    NULL, /* the variants: merge_variants() */

    "INSERT INTO main.problems (" PROBLEM_COLS ") SELECT " PROBLEM_COLS
    " FROM src.problems WHERE true ON CONFLICT DO NOTHING",

    "INSERT INTO main.compiles (key, source_hash, variant_id, arch, compiler,"
    " options, status, code, log, compile_ms, regs, spill_bytes, smem_static,"
    " created) SELECT c.key, c.source_hash, mv.id, c.arch, c.compiler,"
    " c.options, c.status, c.code, c.log, c.compile_ms, c.regs,"
    " c.spill_bytes, c.smem_static, c.created FROM src.compiles c"
    " LEFT JOIN src.variants sv ON sv.id = c.variant_id"
    " LEFT JOIN main.variants mv ON " VAR_KEY("mv", "sv")
    " WHERE true ON CONFLICT (key) DO NOTHING",

    NULL, /* the measurements: MEAS_MERGE, by the source's version */
};

/* The pair timings (schema version 5), mapped like the measurements. */
static const char merge_pairs_sql[] =
    "INSERT INTO main.pair_measurements (run_id, device_id, problem_id, g1_variant_id,"
    " g2_variant_id, sbm, regime, status, median_us, min_us, p90_us, spread, samples,"
    " err_max_rel, sm_clock_mhz, temp_c, reason, backend, compiler, g1_source_hash,"
    " g2_source_hash, tool_version, created)"
    " SELECT mr.id, md.id, mp.id, mv1.id, mv2.id, m.sbm, m.regime, m.status,"
    " m.median_us, m.min_us, m.p90_us, m.spread, m.samples, m.err_max_rel,"
    " m.sm_clock_mhz, m.temp_c, m.reason, m.backend, m.compiler, m.g1_source_hash,"
    " m.g2_source_hash, m.tool_version, m.created FROM src.pair_measurements m"
    " JOIN src.runs sr ON sr.id = m.run_id JOIN main.runs mr ON mr.uuid = sr.uuid"
    " JOIN src.devices sd ON sd.id = m.device_id"
    " JOIN main.devices md ON " DEV_KEY("md", "sd")
    " JOIN src.problems sp ON sp.id = m.problem_id"
    " JOIN main.problems mp ON " PROB_KEY("mp", "sp")
    " JOIN src.variants sv1 ON sv1.id = m.g1_variant_id"
    " JOIN main.variants mv1 ON " VAR_KEY("mv1", "sv1")
    " JOIN src.variants sv2 ON sv2.id = m.g2_variant_id"
    " JOIN main.variants mv2 ON " VAR_KEY("mv2", "sv2")
    " WHERE true ON CONFLICT (device_id, problem_id, g1_variant_id, g2_variant_id, regime)"
    " DO UPDATE SET run_id = excluded.run_id, sbm = excluded.sbm, status = excluded.status,"
    " median_us = excluded.median_us, min_us = excluded.min_us, p90_us = excluded.p90_us,"
    " spread = excluded.spread, samples = excluded.samples,"
    " err_max_rel = excluded.err_max_rel, sm_clock_mhz = excluded.sm_clock_mhz,"
    " temp_c = excluded.temp_c, reason = excluded.reason, backend = excluded.backend,"
    " compiler = excluded.compiler, g1_source_hash = excluded.g1_source_hash,"
    " g2_source_hash = excluded.g2_source_hash, tool_version = excluded.tool_version,"
    " created = excluded.created WHERE excluded.created > pair_measurements.created";

/* Searches (schema 6, searches.h) by their point's natural keys; the
 * newer row wins. */
static const char searches_merge[] =
    "INSERT INTO main.searches (problem_id, stage, regime, arch, strategy, max_evals,"
    " rounds, proposed, finished, run_id, updated) SELECT mp.id, s.stage, s.regime,"
    " s.arch, s.strategy, s.max_evals, s.rounds, s.proposed, s.finished, mr.id,"
    " s.updated FROM src.searches s"
    " JOIN src.problems sp ON sp.id = s.problem_id"
    " JOIN main.problems mp ON " PROB_KEY("mp", "sp")
    " LEFT JOIN src.runs sr ON sr.id = s.run_id"
    " LEFT JOIN main.runs mr ON mr.uuid = sr.uuid"
    " WHERE true ON CONFLICT (problem_id, stage, regime, arch) DO UPDATE SET"
    " strategy = excluded.strategy, max_evals = excluded.max_evals,"
    " rounds = excluded.rounds, proposed = excluded.proposed,"
    " finished = excluded.finished, run_id = excluded.run_id, updated = excluded.updated"
    " WHERE excluded.updated > searches.updated";

static int count_measurements(pt_db_t *db, int64_t *n) {
  if (conn_int(db->conn, "SELECT count(*) FROM main.measurements", n) !=
      SQLITE_OK)
    return pt__db_fail(db, "cannot count measurements");
  return PT_OK;
}

/* Refuses a source whose rows point nowhere: they could not be matched. */
static int merge_check_source(pt_db_t *db, const char *path) {
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, "PRAGMA src.foreign_key_check", &st,
                          "cannot check the merge source");
  if (rc != PT_OK) return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = pt_err_set(&db->err, PT_EINVAL,
                    "'%s' has a row of table '%s' that references a missing "
                    "row of '%s': run 'pipetune db check' on it", path,
                    pt__db_col_text(st, 0), pt__db_col_text(st, 2));
  else if (src != SQLITE_DONE)
    rc = pt__db_fail(db, "cannot check the merge source");
  sqlite3_finalize(st);
  return rc;
}

/* The variants by their natural key, every knob column included. */
static int merge_variants(pt_db_t *db) {
  char cols[PT__DB_SQL_MAX / 4], sql[PT__DB_SQL_MAX];
  if (pt__db_knob_columns(cols, sizeof cols) != PT_OK)
    return pt_err_set(&db->err, PT_EINVAL, "cannot merge: too many knobs");
  snprintf(sql, sizeof sql, "INSERT INTO main.variants (stage, spec, %s)"
           " SELECT stage, spec, %s FROM src.variants WHERE true"
           " ON CONFLICT DO NOTHING", cols, cols);
  return pt__db_exec(db, sql, "cannot merge");
}

static int merge_attached(pt_db_t *db, const char *path, int src_version,
                          int64_t *added) {
  int64_t before = 0, after = 0;
  int rc = merge_check_source(db, path);
  if (rc == PT_OK) rc = count_measurements(db, &before);
  if (rc == PT_OK) rc = pt__db_begin(db);
  if (rc != PT_OK) return rc;
  rc = pt__db_exec(db, src_version >= 2 ? RUNS_MERGE("pid, boot_id")
                                        : RUNS_MERGE("NULL, NULL"),
                   "cannot merge");
  for (size_t i = 0; rc == PT_OK && i < sizeof merge_sql / sizeof *merge_sql;
       i++)
    rc = merge_sql[i] != NULL ? pt__db_exec(db, merge_sql[i], "cannot merge")
         : i == 2             ? merge_variants(db)
                              : pt__db_exec(db, src_version >= 4 ? MEAS_MERGE("m.holdout, m.superseded")
                                                                 : MEAS_MERGE("0, 0"),
                                            "cannot merge");
  if (rc == PT_OK && src_version >= PT_DB_PAIRS_VERSION)
    rc = pt__db_exec(db, merge_pairs_sql, "cannot merge");
  if (rc == PT_OK && src_version >= PT_DB_SEARCHES_VERSION)
    rc = pt__db_exec(db, searches_merge, "cannot merge");
  if (rc == PT_OK) rc = count_measurements(db, &after);
  rc = pt__db_end(db, rc);
  if (rc == PT_OK && added != NULL) *added = after - before;
  return rc;
}

int pt_db_merge(pt_db_t *db, const char *path, int64_t *added) {
  if (added != NULL) *added = 0;
  if (db->readonly)
    return pt_err_set(&db->err, PT_EINVAL,
                      "cannot merge into '%s': it was opened read-only",
                      db->path);
  if (same_file(path, db->path)) return PT_OK;
  int exists = 0;
  int64_t version = 0;
  int rc = probe_file(path, PT_DB_READONLY, &exists, &db->err);
  if (rc == PT_OK) rc = vet_file(path, PT_DB_READONLY, &version, &db->err);
  if (rc != PT_OK) return rc;
  char *uri = uri_of(path, "?mode=ro");
  if (uri == NULL) return pt_err_set(&db->err, PT_ENOMEM, "out of memory");
  sqlite3_stmt *st = NULL;
  rc = pt__db_prepare(db, "ATTACH ? AS src", &st, "cannot attach");
  if (rc == PT_OK) {
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = pt__db_fail(db, "cannot attach");
    sqlite3_finalize(st);
  }
  free(uri);
  if (rc != PT_OK) return rc;
  rc = merge_attached(db, path, (int)version, added);
  sqlite3_exec(db->conn, "DETACH src", NULL, NULL, NULL);
  return rc;
}

/* ---- check ---- */

/* The first row of a check PRAGMA, or PT_OK when it returns none. */
static int check_pragma(pt_db_t *db, const char *sql, int fk) {
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, "cannot check");
  if (rc != PT_OK) return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW && fk)
    rc = pt_err_set(&db->err, PT_EINVAL,
                    "'%s': row %lld of table '%s' references a missing row "
                    "of '%s'", db->path, (long long)sqlite3_column_int64(st, 1),
                    pt__db_col_text(st, 0), pt__db_col_text(st, 2));
  else if (src == SQLITE_ROW && strcmp(pt__db_col_text(st, 0), "ok") != 0)
    rc = pt_err_set(&db->err, PT_EINVAL, "'%s' fails the integrity check: %s",
                    db->path, pt__db_col_text(st, 0));
  else if (src != SQLITE_ROW && src != SQLITE_DONE)
    rc = pt__db_fail(db, "cannot check");
  sqlite3_finalize(st);
  return rc;
}

static int check_header(pt_db_t *db, int64_t *version) {
  int64_t app = 0;
  if (conn_int(db->conn, "PRAGMA application_id", &app) != SQLITE_OK ||
      conn_int(db->conn, "PRAGMA user_version", version) != SQLITE_OK)
    return pt__db_fail(db, "cannot read the header");
  if (app != PT__DB_APPLICATION_ID || *version < 1 ||
      *version > pt__db_migration_count)
    return pt_err_set(&db->err, PT_EINVAL,
                      "'%s' has application id %lld and schema version %lld; "
                      "expected %d and 1 to %d", db->path, (long long)app,
                      (long long)*version, PT__DB_APPLICATION_ID,
                      pt__db_migration_count);
  return PT_OK;
}

/* The storage class a column of declared type decl holds when it is not
 * NULL (NOT NULL is the integrity check's); NULL for an undeclared type. */
static const char *class_of(const char *decl) {
  static const char *const types[] = {"INTEGER", "REAL", "TEXT", "BLOB"};
  static const char *const classes[] = {"integer", "real", "text", "blob"};
  for (int i = 0; i < 4; i++)
    if (strcmp(decl, types[i]) == 0) return classes[i];
  return NULL;
}

/* The first row of table holding a value of another class than its
 * column's, in one scan: PT_EINVAL naming row, column and classes. */
static int check_table_types(pt_db_t *db, const char *table) {
  sqlite3_stmt *cols = NULL, *st = NULL;
  int rc = pt__db_prepare(db, "SELECT name, type FROM pragma_table_info(?1)"
                          " ORDER BY cid", &cols, "cannot check");
  if (rc != PT_OK) return rc;
  sqlite3_bind_text(cols, 1, table, -1, SQLITE_TRANSIENT);
  sqlite3_str *q = sqlite3_str_new(db->conn);
  sqlite3_str_appendall(q, "SELECT r, bad FROM (SELECT rowid AS r,"
                           " coalesce(NULL, NULL");
  while (sqlite3_step(cols) == SQLITE_ROW) {
    const char *name = pt__db_col_text(cols, 0);
    const char *cls = class_of(pt__db_col_text(cols, 1));
    if (cls != NULL)
      sqlite3_str_appendf(q, ", CASE WHEN typeof(\"%w\") NOT IN ('null', '%s')"
                          " THEN 'a value of type ' || typeof(\"%w\") ||"
                          " ' in column ''%q'' (expected %s)' END",
                          name, cls, name, name, cls);
  }
  sqlite3_finalize(cols);
  sqlite3_str_appendf(q, ") AS bad FROM \"%w\") WHERE bad IS NOT NULL LIMIT 1",
                      table);
  char *sql = sqlite3_str_finish(q);
  if (sql == NULL) return pt_err_set(&db->err, PT_ENOMEM, "out of memory");
  rc = pt__db_prepare(db, sql, &st, "cannot check");
  sqlite3_free(sql);
  int src = rc == PT_OK ? sqlite3_step(st) : SQLITE_DONE;
  if (src == SQLITE_ROW)
    rc = pt_err_set(&db->err, PT_EINVAL, "'%s': row %lld of table '%s' has %s",
                    db->path, (long long)sqlite3_column_int64(st, 0), table,
                    pt__db_col_text(st, 1));
  else if (rc == PT_OK && src != SQLITE_DONE)
    rc = pt__db_fail(db, "cannot check");
  sqlite3_finalize(st);
  return rc;
}

static int check_types(pt_db_t *db) {
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, "SELECT name FROM sqlite_schema WHERE type ="
                          " 'table' AND name NOT LIKE 'sqlite%' ORDER BY name",
                          &st, "cannot check");
  int src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
    rc = check_table_types(db, pt__db_col_text(st, 0));
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, "cannot check");
  sqlite3_finalize(st);
  return rc;
}

static int no_row(void *ud, const pt_db_result_t *row) {
  (void)ud;
  (void)row;
  return 0;
}

static int no_pair(void *ud, const pt_db_pair_row_t *row) {
  (void)ud;
  (void)row;
  return 0;
}

int pt_db_check(pt_db_t *db) {
  int64_t version = 0;
  int rc = check_pragma(db, "PRAGMA integrity_check", 0);
  if (rc == PT_OK) rc = check_pragma(db, "PRAGMA foreign_key_check", 1);
  if (rc == PT_OK) rc = check_header(db, &version);
  if (rc == PT_OK)
    rc = check_objects(db->conn, db->path, (int)version, &db->err);
  if (rc == PT_OK) rc = check_types(db);
  /* What the readers would refuse, row by row. */
  const pt_db_filter_t every = {.with_holdout = 1};
  if (rc == PT_OK) rc = pt_db_results(db, &every, NULL, 0.0, no_row, NULL);
  if (rc == PT_OK) rc = pt_db_pair_results(db, NULL, NULL, 0.0, no_pair, NULL);
  return rc;
}
