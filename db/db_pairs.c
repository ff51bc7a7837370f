/* The deployed pair's timings (see db.h "the deployed pair"): recorded as
 * the tuner records a stage's, one transaction each, replaced in place by a
 * later result for the same key. */
#include "config.h"

#include "db_int.h"

#include <math.h>
#include <string.h>

void pt_db_pair_init(pt_db_pair_t *p) {
  memset(p, 0, sizeof *p);
  p->regime = PT_DB_REGIME_COLD;
  p->status = PT_DB_STATUS_OK;
  p->median_us = p->min_us = p->p90_us = p->spread = p->err_max_rel = NAN;
  p->samples = p->sm_clock_mhz = p->temp_c = p->sbm = -1;
}

static int step_id(pt_db_t *db, sqlite3_stmt *st, const char *what, int64_t *id) {
  int src = sqlite3_step(st), rc = PT_OK;
  if (src == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) continue;
  } else if (src == SQLITE_DONE) {
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: no such device in '%s'", what, db->path);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

int pt_db_put_pair(pt_db_t *db, const pt_db_pair_t *p, int64_t *pair_id) {
  static const char what[] = "cannot record pair";
  static const char sql[] =
      "INSERT INTO pair_measurements (run_id, device_id, problem_id, g1_variant_id,"
      " g2_variant_id, sbm, regime, status, median_us, min_us, p90_us, spread,"
      " samples, err_max_rel, sm_clock_mhz, temp_c, reason, backend, compiler,"
      " g1_source_hash, g2_source_hash, tool_version, created)"
      " SELECT ?1, d.id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
      " ?16, ?17, d.backend, ?18, ?19, ?20, ?21, " PT__DB_NOW
      " FROM devices d WHERE d.id = ?2"
      " ON CONFLICT (device_id, problem_id, g1_variant_id, g2_variant_id, regime)"
      " DO UPDATE SET run_id = excluded.run_id, sbm = excluded.sbm,"
      " status = excluded.status, median_us = excluded.median_us,"
      " min_us = excluded.min_us, p90_us = excluded.p90_us, spread = excluded.spread,"
      " samples = excluded.samples, err_max_rel = excluded.err_max_rel,"
      " sm_clock_mhz = excluded.sm_clock_mhz, temp_c = excluded.temp_c,"
      " reason = excluded.reason, backend = excluded.backend,"
      " compiler = excluded.compiler, g1_source_hash = excluded.g1_source_hash,"
      " g2_source_hash = excluded.g2_source_hash,"
      " tool_version = excluded.tool_version, created = excluded.created RETURNING id";
  const char *regime = pt_db_regime_name(p->regime);
  const char *status = pt_db_status_name(p->status);
  if (regime == NULL || status == NULL)
    return pt_err_set(&db->err, PT_EINVAL, "%s: bad regime %d or status %d", what,
                      (int)p->regime, (int)p->status);
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  int64_t ids[] = {p->run_id, p->device_id, p->problem_id, p->g1_variant_id,
                   p->g2_variant_id};
  for (int i = 0; i < 5; i++) sqlite3_bind_int64(st, i + 1, ids[i]);
  pt__db_bind_int(st, 6, p->sbm);
  sqlite3_bind_text(st, 7, regime, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, status, -1, SQLITE_STATIC);
  double reals[] = {p->median_us, p->min_us, p->p90_us, p->spread};
  for (int i = 0; i < 4; i++) pt__db_bind_real(st, i + 9, reals[i]);
  pt__db_bind_int(st, 13, p->samples);
  pt__db_bind_real(st, 14, p->err_max_rel);
  pt__db_bind_int(st, 15, p->sm_clock_mhz);
  pt__db_bind_int(st, 16, p->temp_c);
  const char *texts[] = {p->reason, p->compiler, p->g1_source_hash, p->g2_source_hash};
  for (int i = 0; i < 4; i++) pt__db_bind_text(st, i + 17, texts[i]);
  sqlite3_bind_text(st, 21, PACKAGE_VERSION, -1, SQLITE_STATIC);
  int64_t id = 0;
  rc = step_id(db, st, what, &id);
  if (rc == PT_OK && pair_id != NULL) *pair_id = id;
  return rc;
}

int pt_db_pairs_done(pt_db_t *db, const char *arch, pt_db_pair_done_cb cb, void *ud) {
  static const char what[] = "cannot list timed pairs";
  static const char sql[] =
      "SELECT DISTINCT m.problem_id, m.g1_variant_id, m.g2_variant_id, m.regime"
      " FROM pair_measurements m JOIN devices d ON d.id = m.device_id"
      " WHERE d.arch = ?1 ORDER BY 1, 2, 3, 4";
  if (arch == NULL || arch[0] == '\0')
    return pt_err_set(&db->err, PT_EINVAL, "%s: missing arch", what);
  if (db->version < PT_DB_PAIRS_VERSION) return PT_OK;
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, what), src = SQLITE_DONE;
  if (rc != PT_OK) return rc;
  sqlite3_bind_text(st, 1, arch, -1, SQLITE_STATIC);
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_regime_t regime = PT_DB_REGIME_COLD;
    pt_db_regime_parse(pt__db_col_text(st, 3), &regime);
    rc = cb(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
            sqlite3_column_int64(st, 2), regime);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}
