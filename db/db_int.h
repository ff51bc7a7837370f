/* Internals of the db module (db.c: connection, schema, whole-database
 * operations; db_record.c: the rows the tuner writes and reads), shared with
 * the generated migration list and the module's tests; not for other modules. */
#ifndef PT_DB_INT_H
#define PT_DB_INT_H

#include <sqlite3.h>
#include <stddef.h>

#include "db.h"
#include "error.h"

/* Marks a pipetune database in the SQLite header: 'PTDB'. */
#define PT__DB_APPLICATION_ID 0x50544442

/* An SQL expression for the current UTC time, ISO 8601 with milliseconds. */
#define PT__DB_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/* The measurement columns after the four ids, and the upsert that replaces
 * all of them with a new result for the same key. */
#define PT__DB_MEAS_COLS                                                     \
  "regime, status, median_us, min_us, p90_us, spread, samples, floor_us,"   \
  " err_max_abs, err_mean_abs, err_max_rel, sm_clock_mhz, temp_c, reason,"  \
  " backend, compiler, source_hash, compile_key, tool_version, created,"  \
  " holdout, superseded"
#define PT__DB_MEAS_UPDATE                                                   \
  "run_id = excluded.run_id, status = excluded.status,"                     \
  " median_us = excluded.median_us, min_us = excluded.min_us,"              \
  " p90_us = excluded.p90_us, spread = excluded.spread,"                    \
  " samples = excluded.samples, floor_us = excluded.floor_us,"              \
  " err_max_abs = excluded.err_max_abs, err_mean_abs = excluded.err_mean_abs," \
  " err_max_rel = excluded.err_max_rel, sm_clock_mhz = excluded.sm_clock_mhz," \
  " temp_c = excluded.temp_c, reason = excluded.reason,"                    \
  " backend = excluded.backend, compiler = excluded.compiler,"              \
  " source_hash = excluded.source_hash, compile_key = excluded.compile_key," \
  " tool_version = excluded.tool_version, created = excluded.created,"     \
  " holdout = excluded.holdout, superseded = excluded.superseded"

/* Room for a statement built from the knob table. */
#define PT__DB_SQL_MAX 2048

/* Writes the knob columns of variants, "bm, bn, ..." in table order, into
 * buf; PT_EINVAL when len is too small. */
int pt__db_knob_columns(char *buf, size_t len);

struct pt_db_s {
  sqlite3 *conn;
  char *path;
  int readonly;
  int version;    /* the file's schema version (older only when readonly) */
  int wal_tried;  /* switched (or tried to switch) to WAL: see wal_on */
  pt_err_t err;
};

/* This machine's boot id (Linux: /proc/sys/kernel/random/boot_id), "" when
 * there is none: with the pid it tells whether a run's process is alive. */
#define PT__DB_BOOT_ID_MAX 64
void pt__db_boot_id(char out[PT__DB_BOOT_ID_MAX]);

/* db/schema.sql, one string per migration (generated: db/schema-sql.c). */
extern const char *const pt__db_migrations[];
extern const int pt__db_migration_count;

/* Brings conn from its user_version up to n by applying migrations[v..n),
 * each in one transaction that also sets user_version to v + 1 and the
 * application id. With knobs set, the transaction of the last migration (or
 * the check, when there is none left) also adds the variants column of every
 * knob of the table the file lacks (a knob newer than the file): its
 * existing rows get the value their kernels compiled (the knob's fixed
 * value where their stage tunes it, NULL elsewhere) and a spec naming it.
 * Stops at the first failure, leaving the last complete version in place. */
int pt__db_migrate(sqlite3 *conn, const char *path,
                   const char *const *migrations, int n, int knobs,
                   pt_err_t *err);

/* Records SQLite's last error on db as "<what> in '<path>': <sqlite msg>"
 * and returns its PT_E* code (a refused constraint is PT_EINVAL). */
int pt__db_fail(pt_db_t *db, const char *what);
int pt__db_prepare(pt_db_t *db, const char *sql, sqlite3_stmt **st,
                   const char *what);
int pt__db_exec(pt_db_t *db, const char *sql, const char *what);
/* BEGIN IMMEDIATE; and the matching COMMIT when rc is PT_OK, ROLLBACK
 * otherwise (keeping rc and its message). Returns the final code. */
int pt__db_begin(pt_db_t *db);
int pt__db_end(pt_db_t *db, int rc);

/* Binds s, or NULL for a NULL s; v, or NULL for v < 0; x, or NULL for NaN. */
int pt__db_bind_text(sqlite3_stmt *st, int i, const char *s);
int pt__db_bind_int(sqlite3_stmt *st, int i, int64_t v);
int pt__db_bind_real(sqlite3_stmt *st, int i, double x);
/* A column as text ("" for NULL), int (-1 for NULL), double (NaN for NULL). */
const char *pt__db_col_text(sqlite3_stmt *st, int i);
int pt__db_col_int(sqlite3_stmt *st, int i);
double pt__db_col_real(sqlite3_stmt *st, int i);

#endif
