/* The rows the tuner writes and the emitter reads: runs, devices, sources,
 * variants, problems, the compile cache, measurements, the job plan, and
 * the best / crossovers queries. Every writing call is one transaction. */
#include "config.h"

#include "db_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- names ---- */

static const char *const regime_names[] = {"cold", "warm"};
static const char *const status_names[PT_DB_STATUS_COUNT] = {
    "ok", "verify_fail", "compile_fail", "infeasible",
    "launch_fail", "timeout", "crash"};
static const char *const run_status_names[] = {"running", "done",
                                               "interrupted", "failed"};

#define COUNT(a) ((int)(sizeof(a) / sizeof *(a)))

static int parse_name(const char *s, const char *const *names, int n) {
  for (int i = 0; s != NULL && i < n; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

const char *pt_db_regime_name(pt_db_regime_t r) {
  return (int)r >= 0 && (int)r < COUNT(regime_names) ? regime_names[r] : NULL;
}

const char *pt_db_status_name(pt_db_status_t s) {
  return (int)s >= 0 && s < PT_DB_STATUS_COUNT ? status_names[s] : NULL;
}

int pt_db_regime_parse(const char *s, pt_db_regime_t *out) {
  int i = parse_name(s, regime_names, COUNT(regime_names));
  if (i < 0) return -1;
  *out = (pt_db_regime_t)i;
  return 0;
}

int pt_db_status_parse(const char *s, pt_db_status_t *out) {
  int i = parse_name(s, status_names, PT_DB_STATUS_COUNT);
  if (i < 0) return -1;
  *out = (pt_db_status_t)i;
  return 0;
}

/* ---- statement helpers ---- */

/* Steps a statement to its end, finalizes it and returns the outcome. */
static int run_stmt(pt_db_t *db, sqlite3_stmt *st, const char *what) {
  int rc = PT_OK, src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) continue;
  if (src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

/* Steps a statement that returns an id in its first row (RETURNING id),
 * then finalizes it. PT_ENOENT when it returns no row. */
static int run_id_stmt(pt_db_t *db, sqlite3_stmt *st, const char *what,
                       int64_t *id) {
  int src = sqlite3_step(st), rc = PT_OK;
  if (src == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) continue;
  } else if (src == SQLITE_DONE) {
    rc = PT_ENOENT;
  }
  if (src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

static int need(pt_db_t *db, const char *value, const char *field,
                const char *what) {
  if (value != NULL && value[0] != '\0') return PT_OK;
  return pt_err_set(&db->err, PT_EINVAL, "%s: missing %s", what, field);
}

/* ---- runs and devices ---- */

int pt_db_run_begin(pt_db_t *db, const char *host, const char *command,
                    int64_t *run_id) {
  static const char what[] = "cannot begin a run";
  static const char sql[] =
      "INSERT INTO runs (uuid, started, tool_version, command, host, pid,"
      " boot_id) VALUES (lower(hex(randomblob(16))), " PT__DB_NOW ", ?1, ?2,"
      " ?3, ?4, ?5) RETURNING id";
  sqlite3_stmt *st = NULL;
  char boot[PT__DB_BOOT_ID_MAX];
  int rc = need(db, host, "host", what);
  if (rc == PT_OK && command == NULL) rc = need(db, NULL, "command", what);
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_text(st, 1, PACKAGE_VERSION, -1, SQLITE_STATIC);
  pt__db_bind_text(st, 2, command);
  pt__db_bind_text(st, 3, host);
  /* Who runs it: a later pipetune on this host can tell it died. */
  sqlite3_bind_int64(st, 4, (int64_t)getpid());
  pt__db_boot_id(boot);
  pt__db_bind_text(st, 5, boot[0] != '\0' ? boot : NULL);
  return run_id_stmt(db, st, what, run_id);
}

int pt_db_run_finish(pt_db_t *db, int64_t run_id, pt_db_run_status_t status) {
  static const char what[] = "cannot finish run";
  static const char sql[] =
      "UPDATE runs SET status = ?2, finished = " PT__DB_NOW
      " WHERE id = ?1 RETURNING id";
  if ((int)status < 0 || (int)status >= COUNT(run_status_names))
    return pt_err_set(&db->err, PT_EINVAL, "%s %lld: bad status %d", what,
                      (long long)run_id, (int)status);
  sqlite3_stmt *st = NULL;
  int64_t id = 0;
  int rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, run_id);
  sqlite3_bind_text(st, 2, run_status_names[status], -1, SQLITE_STATIC);
  rc = run_id_stmt(db, st, what, &id);
  if (rc == PT_ENOENT)
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: no run %lld in '%s'", what,
                    (long long)run_id, db->path);
  return rc;
}

int pt_db_run_set_retune(pt_db_t *db, int64_t run_id, int64_t retune_of) {
  static const char what[] = "cannot mark a retune";
  static const char sql[] =
      "UPDATE runs SET retune = ?2 WHERE id = ?1 AND ?2 <= ?1 RETURNING id";
  sqlite3_stmt *st = NULL;
  int64_t id = 0;
  int rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, run_id);
  sqlite3_bind_int64(st, 2, retune_of);
  rc = run_id_stmt(db, st, what, &id);
  if (rc == PT_ENOENT)
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: no run %lld, or run %lld is newer, in '%s'",
                    what, (long long)run_id, (long long)retune_of, db->path);
  return rc;
}

int pt_db_retune_latest(pt_db_t *db, int64_t *retune_of) {
  static const char what[] = "cannot find the latest retune";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, "SELECT retune FROM runs WHERE retune IS NOT NULL"
                          " ORDER BY id DESC LIMIT 1", &st, what);
  if (rc != PT_OK) return rc;
  return run_id_stmt(db, st, what, retune_of);
}

static const char *backend_name(pt_gpu_backend_t b) {
  return b == PT_GPU_CUDA ? "cuda" : b == PT_GPU_HIP ? "hip" : NULL;
}

int pt_db_put_device(pt_db_t *db, const char *host, const pt_gpu_props_t *p,
                     int64_t *device_id) {
  static const char what[] = "cannot record device";
  static const char sql[] =
      "INSERT INTO devices (host, backend, name, arch, pci_bus_id, driver,"
      " sm_count, warp_size, max_threads_per_block, max_threads_per_sm,"
      " regs_per_block, regs_per_sm, smem_per_block, smem_per_block_optin,"
      " smem_per_sm, l2_bytes, global_mem, clock_khz, mem_clock_khz,"
      " mem_bus_bits) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
      " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
      " ON CONFLICT (host, backend, pci_bus_id, name, arch, driver)"
      " DO UPDATE SET host = excluded.host RETURNING id";
  const char *backend = backend_name(p->backend);
  int rc = need(db, host, "host", what);
  if (rc == PT_OK) rc = need(db, backend, "backend", what);
  if (rc == PT_OK) rc = need(db, p->arch, "arch", what);
  sqlite3_stmt *st = NULL;
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  const char *texts[] = {host, backend, p->name, p->arch, p->pci_bus_id,
                         p->driver};
  for (int i = 0; i < 6; i++) pt__db_bind_text(st, i + 1, texts[i]);
  int64_t ints[] = {p->sm_count, p->warp_size, p->max_threads_per_block,
                    p->max_threads_per_sm, p->regs_per_block, p->regs_per_sm,
                    (int64_t)p->smem_per_block, (int64_t)p->smem_per_block_optin,
                    (int64_t)p->smem_per_sm, (int64_t)p->l2_bytes,
                    (int64_t)p->global_mem};
  for (int i = 0; i < 11; i++) sqlite3_bind_int64(st, i + 7, ints[i]);
  /* Clocks and bus width are unknown (NULL) when a backend reports 0. */
  int opt[] = {p->clock_khz, p->mem_clock_khz, p->mem_bus_bits};
  for (int i = 0; i < 3; i++) pt__db_bind_int(st, i + 18, opt[i] > 0 ? opt[i] : -1);
  return run_id_stmt(db, st, what, device_id);
}

/* ---- sources, variants, problems ---- */

int pt_db_put_source(pt_db_t *db, const char *name, const char *text,
                     size_t len, char hash[PT_DB_HASH_HEX]) {
  static const char what[] = "cannot store kernel source";
  static const char sql[] =
      "INSERT INTO kernel_sources (hash, name, text, created)"
      " VALUES (?1, ?2, ?3, " PT__DB_NOW ") ON CONFLICT (hash) DO NOTHING";
  int rc = need(db, name, "name", what);
  if (rc == PT_OK && text == NULL) rc = need(db, NULL, "text", what);
  sqlite3_stmt *st = NULL;
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  pt_db_hash(text, len, hash);
  sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text64(st, 3, text, len, SQLITE_STATIC, SQLITE_UTF8);
  return run_stmt(db, st, what);
}

/* INSERT of a variant: stage, spec, then every knob column in table order. */
static int variant_insert_sql(char *sql, size_t len) {
  char cols[PT__DB_SQL_MAX / 2];
  int rc = pt__db_knob_columns(cols, sizeof cols);
  if (rc != PT_OK) return rc;
  size_t n = (size_t)snprintf(sql, len, "INSERT INTO variants (stage, spec, %s)"
                              " VALUES (?, ?", cols);
  for (int i = 0; i < pt_knobs_count() && n < len; i++)
    n += (size_t)snprintf(sql + n, len - n, ", ?");
  if (n < len)
    n += (size_t)snprintf(sql + n, len - n, ") ON CONFLICT (stage, spec) DO"
                          " UPDATE SET spec = excluded.spec RETURNING id");
  return n < len ? PT_OK : PT_EINVAL;
}

/* Knob k of v into parameter i: its value or symbol, NULL where v's stage
 * does not tune it. */
static void bind_knob(sqlite3_stmt *st, int i, const pt_variant_t *v,
                      const pt_knob_t *k) {
  int value = pt_knobs_get(v, k);
  if (!pt_knobs_in_stage(k, v->stage)) sqlite3_bind_null(st, i);
  else if (k->symbols != NULL) pt__db_bind_text(st, i, pt_knobs_symbol(k, value));
  else sqlite3_bind_int(st, i, value);
}

int pt_db_put_variant(pt_db_t *db, const pt_variant_t *v, const char *spec,
                      int64_t *variant_id) {
  static const char what[] = "cannot record variant";
  char sql[PT__DB_SQL_MAX];
  int rc = need(db, spec, "spec", what);
  if (rc == PT_OK && variant_insert_sql(sql, sizeof sql) != PT_OK)
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: too many knobs", what);
  sqlite3_stmt *st = NULL;
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  pt__db_bind_text(st, 1, pt_stage_name(v->stage));
  pt__db_bind_text(st, 2, spec);
  for (int i = 0; i < pt_knobs_count(); i++)
    bind_knob(st, i + 3, v, pt_knobs_at(i));
  return run_id_stmt(db, st, what, variant_id);
}

int pt_db_put_problem(pt_db_t *db, const pt_db_problem_t *p,
                      int64_t *problem_id) {
  static const char what[] = "cannot record problem";
  static const char sql[] =
      "INSERT INTO problems (family, model_dim, inter_dim, experts, topk,"
      " dtype, act, tokens, routing, routing_param, seed) VALUES (?1, ?2, ?3,"
      " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (family, model_dim,"
      " inter_dim, experts, topk, dtype, act, tokens, routing, routing_param,"
      " seed) DO UPDATE SET family = excluded.family RETURNING id";
  int rc = need(db, p->family, "family", what);
  sqlite3_stmt *st = NULL;
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  pt__db_bind_text(st, 1, p->family);
  int dims[] = {p->model_dim, p->inter_dim, p->experts, p->topk};
  for (int i = 0; i < 4; i++) sqlite3_bind_int(st, i + 2, dims[i]);
  pt__db_bind_text(st, 6, p->dtype);
  pt__db_bind_text(st, 7, p->act);
  sqlite3_bind_int(st, 8, p->tokens);
  pt__db_bind_text(st, 9, p->routing);
  pt__db_bind_real(st, 10, p->routing_param);
  sqlite3_bind_int64(st, 11, p->seed);
  return run_id_stmt(db, st, what, problem_id);
}

/* ---- compile cache ---- */

/* The defines (as -DNAME) and options of k, one per line, malloc'd. */
static char *options_text(const pt_db_compile_key_t *k) {
  size_t len = 1;
  for (int i = 0; i < k->ndefines; i++) len += strlen(k->defines[i]) + 3;
  for (int i = 0; i < k->noptions; i++) len += strlen(k->options[i]) + 1;
  char *s = malloc(len), *o = s;
  if (s == NULL) return NULL;
  *o = '\0';
  for (int i = 0; i < k->ndefines; i++)
    o += sprintf(o, "%s-D%s", o == s ? "" : "\n", k->defines[i]);
  for (int i = 0; i < k->noptions; i++)
    o += sprintf(o, "%s%s", o == s ? "" : "\n", k->options[i]);
  return s;
}

static int bind_code(sqlite3_stmt *st, const pt_db_code_t *c) {
  sqlite3_bind_text(st, 7, c->ok ? "ok" : "compile_fail", -1, SQLITE_STATIC);
  if (c->ok) sqlite3_bind_blob64(st, 8, c->data, c->size, SQLITE_STATIC);
  pt__db_bind_text(st, 9, c->log != NULL ? c->log : "");
  pt__db_bind_real(st, 10, c->compile_ms);
  pt__db_bind_int(st, 11, c->regs);
  pt__db_bind_int(st, 12, c->spill_bytes);
  return pt__db_bind_int(st, 13, c->smem_static);
}

int pt_db_compile_put(pt_db_t *db, const pt_db_compile_key_t *k,
                      int64_t variant_id, const pt_db_code_t *code) {
  static const char what[] = "cannot store compile result";
  static const char sql[] =
      "INSERT INTO compiles (key, source_hash, variant_id, arch, compiler,"
      " options, status, code, log, compile_ms, regs, spill_bytes,"
      " smem_static, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
      " ?10, ?11, ?12, ?13, " PT__DB_NOW ") ON CONFLICT (key) DO UPDATE SET"
      " variant_id = excluded.variant_id, status = excluded.status,"
      " code = excluded.code, log = excluded.log,"
      " compile_ms = excluded.compile_ms, regs = excluded.regs,"
      " spill_bytes = excluded.spill_bytes,"
      " smem_static = excluded.smem_static, created = excluded.created";
  char key[PT_DB_HASH_HEX];
  if (code->ok && (code->data == NULL || code->size == 0))
    return pt_err_set(&db->err, PT_EINVAL, "%s: an ok compile without code",
                      what);
  int rc = pt_db_compile_key(k, key, &db->err);
  if (rc != PT_OK) return rc;
  char *options = options_text(k);
  if (options == NULL) return pt_err_set(&db->err, PT_ENOMEM, "out of memory");
  sqlite3_stmt *st = NULL;
  rc = pt__db_prepare(db, sql, &st, what);
  if (rc == PT_OK) {
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    pt__db_bind_text(st, 2, k->source_hash);
    pt__db_bind_int(st, 3, variant_id > 0 ? variant_id : -1);
    pt__db_bind_text(st, 4, k->arch);
    pt__db_bind_text(st, 5, k->compiler);
    sqlite3_bind_text(st, 6, options, -1, SQLITE_STATIC);
    bind_code(st, code);
    rc = run_stmt(db, st, what);
  }
  free(options);
  return rc;
}

void pt_db_code_free(pt_db_code_t *code) {
  if (code == NULL) return;
  free(code->data);
  free(code->log);
  code->data = NULL;
  code->log = NULL;
}

static int read_code(pt_db_t *db, sqlite3_stmt *st, pt_db_code_t *out) {
  memset(out, 0, sizeof *out);
  out->ok = strcmp(pt__db_col_text(st, 0), "ok") == 0;
  size_t size = (size_t)sqlite3_column_bytes(st, 1);
  const void *data = sqlite3_column_blob(st, 1);
  const char *log = pt__db_col_text(st, 2);
  out->log = strdup(log);
  if (data != NULL && size > 0 && (out->data = malloc(size)) != NULL) {
    memcpy(out->data, data, size);
    out->size = size;
  }
  if (out->log == NULL || (data != NULL && size > 0 && out->data == NULL)) {
    pt_db_code_free(out);
    return pt_err_set(&db->err, PT_ENOMEM, "out of memory");
  }
  out->compile_ms = pt__db_col_real(st, 3);
  out->regs = pt__db_col_int(st, 4);
  out->spill_bytes = pt__db_col_int(st, 5);
  out->smem_static = pt__db_col_int(st, 6);
  return PT_OK;
}

int pt_db_compile_get(pt_db_t *db, const pt_db_compile_key_t *k,
                      pt_db_code_t *out) {
  static const char what[] = "cannot read compile cache";
  static const char sql[] =
      "SELECT status, code, log, compile_ms, regs, spill_bytes, smem_static"
      " FROM compiles WHERE key = ?1";
  char key[PT_DB_HASH_HEX];
  memset(out, 0, sizeof *out);
  int rc = pt_db_compile_key(k, key, &db->err);
  sqlite3_stmt *st = NULL;
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = read_code(db, st, out);
  else if (src == SQLITE_DONE)
    rc = pt_err_set(&db->err, PT_ENOENT, "no compile %s in '%s'", key,
                    db->path);
  else
    rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

/* ---- measurements ---- */

void pt_db_measurement_init(pt_db_measurement_t *m) {
  memset(m, 0, sizeof *m);
  m->regime = PT_DB_REGIME_COLD;
  m->status = PT_DB_STATUS_OK;
  m->median_us = m->min_us = m->p90_us = m->spread = NAN;
  m->floor_us = m->err_max_abs = m->err_mean_abs = m->err_max_rel = NAN;
  m->samples = m->sm_clock_mhz = m->temp_c = -1;
}

/* Inserts or replaces m inside the caller's transaction (or its own). The
 * backend is read from the device row, which must exist. */
static int upsert_measurement(pt_db_t *db, const pt_db_measurement_t *m,
                              int64_t *id) {
  static const char what[] = "cannot record measurement";
  static const char sql[] =
      "INSERT INTO measurements (run_id, device_id, problem_id, variant_id, "
      PT__DB_MEAS_COLS ") SELECT ?1, d.id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
      " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, d.backend, ?19, ?20, ?21, ?22, "
      PT__DB_NOW ", ?23, 0 FROM devices d WHERE d.id = ?2"
      " ON CONFLICT (device_id, problem_id, variant_id, regime)"
      " DO UPDATE SET " PT__DB_MEAS_UPDATE " RETURNING id";
  const char *regime = pt_db_regime_name(m->regime);
  const char *status = pt_db_status_name(m->status);
  if (regime == NULL || status == NULL)
    return pt_err_set(&db->err, PT_EINVAL, "%s: bad regime %d or status %d",
                      what, (int)m->regime, (int)m->status);
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  int64_t ids[] = {m->run_id, m->device_id, m->problem_id, m->variant_id};
  for (int i = 0; i < 4; i++) sqlite3_bind_int64(st, i + 1, ids[i]);
  sqlite3_bind_text(st, 5, regime, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, status, -1, SQLITE_STATIC);
  double reals[] = {m->median_us, m->min_us, m->p90_us, m->spread};
  for (int i = 0; i < 4; i++) pt__db_bind_real(st, i + 7, reals[i]);
  pt__db_bind_int(st, 11, m->samples);
  double more[] = {m->floor_us, m->err_max_abs, m->err_mean_abs,
                   m->err_max_rel};
  for (int i = 0; i < 4; i++) pt__db_bind_real(st, i + 12, more[i]);
  pt__db_bind_int(st, 16, m->sm_clock_mhz);
  pt__db_bind_int(st, 17, m->temp_c);
  const char *texts[] = {m->reason, m->compiler, m->source_hash,
                         m->compile_key};
  for (int i = 0; i < 4; i++) pt__db_bind_text(st, i + 18, texts[i]);
  sqlite3_bind_text(st, 22, PACKAGE_VERSION, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 23, m->holdout != 0);
  rc = run_id_stmt(db, st, what, id);
  if (rc == PT_ENOENT)
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: no device %lld in '%s'", what,
                    (long long)m->device_id, db->path);
  return rc;
}

int pt_db_put_measurement(pt_db_t *db, const pt_db_measurement_t *m,
                          int64_t *measurement_id) {
  int64_t id = 0;
  int rc = upsert_measurement(db, m, &id);
  if (rc == PT_OK && measurement_id != NULL) *measurement_id = id;
  return rc;
}

/* ---- the tuner's plan ---- */

static int check_item(pt_db_t *db, const pt_db_job_t *j) {
  if (pt_db_regime_name(j->regime) == NULL)
    return pt_err_set(&db->err, PT_EINVAL, "cannot plan job: bad regime %d",
                      (int)j->regime);
  return need(db, j->arch, "arch", "cannot plan job");
}

/* Adds one item, taking its latest measurement on its arch (if any) as the
 * item's result. find and ins are prepared by pt_db_jobs_add. */
static int add_item(pt_db_t *db, sqlite3_stmt *find, sqlite3_stmt *ins,
                    int64_t run_id, const pt_db_job_t *j) {
  int rc = check_item(db, j);
  if (rc != PT_OK) return rc;
  const char *regime = pt_db_regime_name(j->regime);
  sqlite3_reset(find);
  sqlite3_bind_text(find, 1, j->arch, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(find, 2, j->problem_id);
  sqlite3_bind_int64(find, 3, j->variant_id);
  sqlite3_bind_text(find, 4, regime, -1, SQLITE_STATIC);
  sqlite3_bind_int64(find, 5, run_id);
  int src = sqlite3_step(find);
  if (src != SQLITE_ROW && src != SQLITE_DONE)
    return pt__db_fail(db, "cannot plan job");
  int found = src == SQLITE_ROW;
  const char *state = !found ? "ready"
                      : strcmp(pt__db_col_text(find, 2), "ok") == 0 ? "done"
                                                                      : "failed";
  sqlite3_reset(ins);
  sqlite3_bind_int64(ins, 1, run_id);
  sqlite3_bind_text(ins, 2, j->arch, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(ins, 3, j->problem_id);
  sqlite3_bind_int64(ins, 4, j->variant_id);
  sqlite3_bind_text(ins, 5, regime, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 6, state, -1, SQLITE_STATIC);
  pt__db_bind_int(ins, 7, found ? sqlite3_column_int64(find, 1) : -1);
  pt__db_bind_int(ins, 8, found ? sqlite3_column_int64(find, 0) : -1);
  if (sqlite3_step(ins) != SQLITE_DONE) return pt__db_fail(db, "cannot plan job");
  return PT_OK;
}

static int count_ready(pt_db_t *db, int64_t run_id, size_t *ready) {
  sqlite3_stmt *st = NULL;
  int64_t n = 0;
  int rc = pt__db_prepare(db,
                          "SELECT count(*) FROM jobs WHERE run_id = ?1"
                          " AND state = 'ready'", &st, "cannot count jobs");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, run_id);
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  else rc = pt__db_fail(db, "cannot count jobs");
  sqlite3_finalize(st);
  if (rc == PT_OK && ready != NULL) *ready = (size_t)n;
  return rc;
}

int pt_db_jobs_add(pt_db_t *db, int64_t run_id, const pt_db_job_t *items,
                   size_t n, size_t *ready) {
  static const char find_sql[] =
      "SELECT m.id, m.device_id, m.status FROM measurements m"
      " JOIN devices d ON d.id = m.device_id WHERE d.arch = ?1"
      " AND m.problem_id = ?2 AND m.variant_id = ?3 AND m.regime = ?4"
      " AND m.run_id >= coalesce((SELECT retune FROM runs WHERE id = ?5), 0)"
      " ORDER BY m.created DESC, m.id DESC LIMIT 1";
  static const char ins_sql[] =
      "INSERT INTO jobs (run_id, arch, problem_id, variant_id, regime, state,"
      " device_id, measurement_id, finished) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
      " ?7, ?8, CASE WHEN ?8 IS NULL THEN NULL ELSE " PT__DB_NOW " END)"
      " ON CONFLICT (run_id, arch, problem_id, variant_id, regime) DO NOTHING";
  sqlite3_stmt *find = NULL, *ins = NULL;
  int rc = pt__db_prepare(db, find_sql, &find, "cannot plan job");
  if (rc == PT_OK) rc = pt__db_prepare(db, ins_sql, &ins, "cannot plan job");
  if (rc == PT_OK) rc = pt__db_begin(db);
  if (rc == PT_OK) {
    for (size_t i = 0; rc == PT_OK && i < n; i++)
      rc = add_item(db, find, ins, run_id, &items[i]);
    if (rc == PT_OK) rc = count_ready(db, run_id, ready);
    sqlite3_reset(find);
    sqlite3_reset(ins);
    rc = pt__db_end(db, rc);
  }
  sqlite3_finalize(find);
  sqlite3_finalize(ins);
  return rc;
}

static int device_exists(pt_db_t *db, int64_t device_id, const char *what) {
  sqlite3_stmt *st = NULL;
  int64_t id = 0;
  int rc = pt__db_prepare(db, "SELECT id FROM devices WHERE id = ?1", &st,
                          what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, device_id);
  rc = run_id_stmt(db, st, what, &id);
  if (rc == PT_ENOENT)
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: no device %lld in '%s'", what,
                    (long long)device_id, db->path);
  return rc;
}

int pt_db_job_claim(pt_db_t *db, int64_t run_id, int64_t device_id,
                    pt_db_job_t *job) {
  static const char what[] = "cannot claim job";
  static const char sql[] =
      "UPDATE jobs SET state = 'running', device_id = ?2, started = "
      PT__DB_NOW " WHERE id = (SELECT j.id FROM jobs j WHERE j.run_id = ?1"
      " AND j.state = 'ready' AND j.arch = (SELECT arch FROM devices"
      " WHERE id = ?2) ORDER BY j.id LIMIT 1)"
      " RETURNING id, run_id, problem_id, variant_id, regime, arch";
  int rc = device_exists(db, device_id, what);
  sqlite3_stmt *st = NULL;
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, run_id);
  sqlite3_bind_int64(st, 2, device_id);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    job->id = sqlite3_column_int64(st, 0);
    job->run_id = sqlite3_column_int64(st, 1);
    job->problem_id = sqlite3_column_int64(st, 2);
    job->variant_id = sqlite3_column_int64(st, 3);
    pt_db_regime_parse(pt__db_col_text(st, 4), &job->regime);
    snprintf(job->arch, sizeof job->arch, "%s", pt__db_col_text(st, 5));
    src = sqlite3_step(st);
  } else if (src == SQLITE_DONE) {
    rc = pt_err_set(&db->err, PT_ENOENT,
                    "no ready job of run %lld for device %lld",
                    (long long)run_id, (long long)device_id);
  }
  if (src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

/* Checks that job_id is running and that m describes it. */
static int match_job(pt_db_t *db, int64_t job_id,
                     const pt_db_measurement_t *m) {
  static const char what[] = "cannot finish job";
  static const char sql[] =
      "SELECT state, run_id = ?2 AND device_id = ?3 AND problem_id = ?4"
      " AND variant_id = ?5 AND regime = ?6 FROM jobs WHERE id = ?1";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, job_id);
  int64_t ids[] = {m->run_id, m->device_id, m->problem_id, m->variant_id};
  for (int i = 0; i < 4; i++) sqlite3_bind_int64(st, i + 2, ids[i]);
  pt__db_bind_text(st, 6, pt_db_regime_name(m->regime));
  int src = sqlite3_step(st);
  if (src == SQLITE_DONE)
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: no job %lld in '%s'", what,
                    (long long)job_id, db->path);
  else if (src != SQLITE_ROW)
    rc = pt__db_fail(db, what);
  else if (strcmp(pt__db_col_text(st, 0), "running") != 0)
    rc = pt_err_set(&db->err, PT_EINVAL, "%s: job %lld is %s, not running",
                    what, (long long)job_id, pt__db_col_text(st, 0));
  else if (sqlite3_column_int(st, 1) != 1)
    rc = pt_err_set(&db->err, PT_EINVAL,
                    "%s: the measurement is not the one job %lld claimed", what,
                    (long long)job_id);
  sqlite3_finalize(st);
  return rc;
}

static int close_job(pt_db_t *db, int64_t job_id, int ok, int64_t mid) {
  static const char sql[] =
      "UPDATE jobs SET state = ?2, measurement_id = ?3, finished = "
      PT__DB_NOW " WHERE id = ?1";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, "cannot finish job");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, job_id);
  sqlite3_bind_text(st, 2, ok ? "done" : "failed", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, mid);
  return run_stmt(db, st, "cannot finish job");
}

/* In a retune run, the results of the item on the other devices of the
 * same model and arch from before the retune began give way to id's. */
static int supersede(pt_db_t *db, int64_t id) {
  static const char sql[] =
      "UPDATE measurements SET superseded = 1 WHERE id IN (SELECT o.id"
      " FROM measurements n JOIN runs r ON r.id = n.run_id"
      " JOIN devices nd ON nd.id = n.device_id"
      " JOIN measurements o ON o.problem_id = n.problem_id"
      " AND o.variant_id = n.variant_id AND o.regime = n.regime"
      " AND o.device_id <> n.device_id AND o.run_id < r.retune"
      " JOIN devices od ON od.id = o.device_id AND od.name = nd.name"
      " AND od.arch = nd.arch WHERE n.id = ?1 AND o.superseded = 0)";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, "cannot finish job");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, id);
  return run_stmt(db, st, "cannot finish job");
}

int pt_db_job_finish(pt_db_t *db, int64_t job_id, const pt_db_measurement_t *m,
                     int64_t *measurement_id) {
  int64_t mid = 0;
  int rc = pt__db_begin(db);
  if (rc != PT_OK) return rc;
  rc = match_job(db, job_id, m);
  if (rc == PT_OK) rc = upsert_measurement(db, m, &mid);
  if (rc == PT_OK) rc = supersede(db, mid);
  if (rc == PT_OK) rc = close_job(db, job_id, m->status == PT_DB_STATUS_OK, mid);
  rc = pt__db_end(db, rc);
  if (rc == PT_OK && measurement_id != NULL) *measurement_id = mid;
  return rc;
}

int pt_db_jobs_requeue(pt_db_t *db, int64_t run_id, int *n) {
  static const char sql[] =
      "UPDATE jobs SET state = 'ready', device_id = NULL, started = NULL"
      " WHERE run_id = ?1 AND state = 'running'";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, "cannot requeue jobs");
  if (rc != PT_OK) return rc;
  sqlite3_bind_int64(st, 1, run_id);
  rc = run_stmt(db, st, "cannot requeue jobs");
  if (rc == PT_OK && n != NULL) *n = sqlite3_changes(db->conn);
  return rc;
}

int pt_db_done(pt_db_t *db, const char *arch, int64_t since_run, pt_db_done_cb cb,
               void *ud) {
  static const char what[] = "cannot list done items";
  /* The bare status column comes from the row holding max(created). */
  static const char sql[] =
      "SELECT m.problem_id, m.variant_id, m.regime, m.status, max(m.created)"
      " FROM measurements m JOIN devices d ON d.id = m.device_id"
      " WHERE d.arch = ?1 AND m.run_id >= ?2"
      " GROUP BY m.problem_id, m.variant_id, m.regime"
      " ORDER BY m.problem_id, m.variant_id, m.regime";
  sqlite3_stmt *st = NULL;
  int rc = need(db, arch, "arch", what);
  if (rc == PT_OK) rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  sqlite3_bind_text(st, 1, arch, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, since_run);
  int src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_regime_t regime = PT_DB_REGIME_COLD;
    pt_db_status_t status = PT_DB_STATUS_OK;
    pt_db_regime_parse(pt__db_col_text(st, 2), &regime);
    pt_db_status_parse(pt__db_col_text(st, 3), &status);
    rc = cb(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
            regime, status);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

int pt_db_result_keys(pt_db_t *db, pt_db_result_key_cb cb, void *ud) {
  static const char what[] = "cannot list results";
  static const char sql[] =
      "SELECT run_id, host, device, arch, family, model_dim, inter_dim, experts,"
      " topk, dtype, act, tokens, routing, routing_param, seed, stage, spec,"
      " regime, status FROM results ORDER BY measurement_id";
  sqlite3_stmt *st = NULL;
  int rc = pt__db_prepare(db, sql, &st, what);
  if (rc != PT_OK) return rc;
  int src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_result_key_t k = {
        sqlite3_column_int64(st, 0), pt__db_col_text(st, 1), pt__db_col_text(st, 2),
        pt__db_col_text(st, 3),
        {pt__db_col_text(st, 4), pt__db_col_int(st, 5), pt__db_col_int(st, 6),
         pt__db_col_int(st, 7), pt__db_col_int(st, 8), pt__db_col_text(st, 9),
         pt__db_col_text(st, 10), pt__db_col_int(st, 11), pt__db_col_text(st, 12),
         pt__db_col_real(st, 13), sqlite3_column_int64(st, 14)},
        pt__db_col_text(st, 15), pt__db_col_text(st, 16), PT_DB_REGIME_COLD,
        PT_DB_STATUS_OK};
    pt_db_regime_parse(pt__db_col_text(st, 17), &k.regime);
    pt_db_status_parse(pt__db_col_text(st, 18), &k.status);
    rc = cb(ud, &k);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

/* ---- queries ---- */

#define FILTER_WHERE                                                     \
  " WHERE (?1 IS NULL OR arch = ?1) AND (?2 IS NULL OR family = ?2)"     \
  " AND (?3 IS NULL OR dtype = ?3) AND (?4 IS NULL OR stage = ?4)"       \
  " AND (?5 IS NULL OR regime = ?5)"
#define SERIES_ORDER                                                     \
  " ORDER BY arch, family, dtype, model_dim, inter_dim, experts, topk,"  \
  " act, stage, routing, routing_param, regime"

static int prepare_filtered(pt_db_t *db, const char *sql,
                            const pt_db_filter_t *f, sqlite3_stmt **st,
                            const char *what) {
  int rc = pt__db_prepare(db, sql, st, what);
  if (rc != PT_OK || f == NULL) return rc;
  const char *v[] = {f->arch, f->family, f->dtype, f->stage, f->regime};
  for (int i = 0; i < 5; i++) pt__db_bind_text(*st, i + 1, v[i]);
  return PT_OK;
}

static void read_best(sqlite3_stmt *st, pt_db_best_t *r) {
  r->arch = pt__db_col_text(st, 0);
  r->family = pt__db_col_text(st, 1);
  r->model_dim = sqlite3_column_int(st, 2);
  r->inter_dim = sqlite3_column_int(st, 3);
  r->experts = sqlite3_column_int(st, 4);
  r->topk = sqlite3_column_int(st, 5);
  r->dtype = pt__db_col_text(st, 6);
  r->act = pt__db_col_text(st, 7);
  r->tokens = sqlite3_column_int(st, 8);
  r->routing = pt__db_col_text(st, 9);
  r->routing_param = sqlite3_column_double(st, 10);
  r->stage = pt__db_col_text(st, 11);
  r->regime = pt__db_col_text(st, 12);
  r->spec = pt__db_col_text(st, 13);
  r->variant_id = sqlite3_column_int64(st, 14);
  r->measurement_id = sqlite3_column_int64(st, 15);
  r->median_us = sqlite3_column_double(st, 16);
  r->min_us = sqlite3_column_double(st, 17);
  r->p90_us = sqlite3_column_double(st, 18);
  r->samples = sqlite3_column_int(st, 19);
}

int pt_db_best(pt_db_t *db, const pt_db_filter_t *f, pt_db_best_cb cb,
               void *ud) {
  static const char what[] = "cannot query best";
  static const char sql[] =
      "SELECT arch, family, model_dim, inter_dim, experts, topk, dtype, act,"
      " tokens, routing, routing_param, stage, regime, spec, variant_id,"
      " measurement_id, median_us, min_us, p90_us, samples FROM best"
      FILTER_WHERE SERIES_ORDER ", tokens";
  sqlite3_stmt *st = NULL;
  int rc = prepare_filtered(db, sql, f, &st, what), src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_best_t row;
    read_best(st, &row);
    rc = cb(ud, &row);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}

int pt_db_crossovers(pt_db_t *db, const pt_db_filter_t *f,
                     pt_db_crossover_cb cb, void *ud) {
  static const char what[] = "cannot query crossovers";
  static const char sql[] =
      "SELECT arch, family, dtype, stage, routing, regime, routing_param,"
      " tokens_lo, tokens_hi, winner_lo, winner_hi, median_lo_us,"
      " median_hi_us FROM crossovers" FILTER_WHERE SERIES_ORDER ", tokens_lo";
  sqlite3_stmt *st = NULL;
  int rc = prepare_filtered(db, sql, f, &st, what), src = SQLITE_DONE;
  while (rc == PT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
    pt_db_crossover_t r;
    const char **texts[] = {&r.arch,    &r.family, &r.dtype,
                            &r.stage,   &r.routing, &r.regime};
    for (int i = 0; i < 6; i++) *texts[i] = pt__db_col_text(st, i);
    r.routing_param = sqlite3_column_double(st, 6);
    r.tokens_lo = sqlite3_column_int(st, 7);
    r.tokens_hi = sqlite3_column_int(st, 8);
    r.winner_lo = pt__db_col_text(st, 9);
    r.winner_hi = pt__db_col_text(st, 10);
    r.median_lo_us = sqlite3_column_double(st, 11);
    r.median_hi_us = sqlite3_column_double(st, 12);
    rc = cb(ud, &r);
  }
  if (rc == PT_OK && src != SQLITE_DONE) rc = pt__db_fail(db, what);
  sqlite3_finalize(st);
  return rc;
}
