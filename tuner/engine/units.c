/* Compile units and the compile cache (see units.h). */
#include "units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kernel_job.h"
#include "kernels.h"

#define REASON_MAX 1280
#define SOURCES_MAX 8

typedef enum { U_NEW = 0, U_QUEUED, U_OK, U_FAIL, U_INFEASIBLE } unit_state_t;

/* One distinct compile: a stage variant for a dtype and activation, or the
 * reduce kernel. */
typedef struct unit_s {
  struct pt_units_s *set;
  pt_variant_t variant;
  pt_dtype_t dtype;
  pt_act_t act;
  int is_reduce;
  int reduce;            /* index of the reduce unit it needs, or -1 */
  unit_state_t state;
  int needed;            /* some item still to measure uses it */
  int64_t variant_id;    /* 0 for the reduce kernel */
  char spec[PT_KNOBS_SPEC_MAX];
  const char *source_hash;  /* of its translation unit */
  char key[PT_DB_HASH_HEX];
  char reason[REASON_MAX];
  pt_kernel_job_t job;  /* the request points into itself: never copied */
  uv_work_t work;
  pt_gpu_code_t code;
  pt_err_t err;
  int rc;
} unit_t;

struct pt_units_s {
  const pt_units_opts_t *o;
  pt_err_t *err;         /* the err of the public call in progress */
  const pt_plan_t *plan;
  unit_t *units;
  int nunits;
  int *item_unit;        /* [item] */
  int nsources;          /* translation units and the hash of each */
  const char *source_name[SOURCES_MAX];
  char source_hash[SOURCES_MAX][PT_DB_HASH_HEX];
  char compiler[64];
  char arch[32];
  int next_unit, compiling, stopped, settled;
  pt_units_stats_t st;
  uint64_t t_first, t_last;
};

static int db_fail(const pt_units_t *s, int rc, pt_err_t *err) {
  return pt_err_set(err, rc, "%s", pt_db_errmsg(s->o->db));
}

/* ---- building ---- */

typedef struct unit_key_s {
  pt_variant_t v;
  int dtype, act, is_reduce;
} unit_key_t;

static unit_key_t key_of(const pt_variant_t *v, pt_dtype_t d, pt_act_t a, int red) {
  unit_key_t k;
  memset(&k, 0, sizeof k);
  if (v != NULL) k.v = *v;
  k.dtype = (int)d;
  k.act = (int)a;
  k.is_reduce = red;
  return k;
}

/* Open addressing over unit indices + 1 (0 is empty). */
static int unit_find_or_add(pt_units_t *s, int *table, size_t mask, const unit_key_t *k) {
  size_t h = (size_t)XXH3_64bits(k, sizeof *k) & mask;
  for (;; h = (h + 1) & mask) {
    if (table[h] == 0) break;
    unit_t *u = &s->units[table[h] - 1];
    unit_key_t uk = key_of(&u->variant, u->dtype, u->act, u->is_reduce);
    if (memcmp(&uk, k, sizeof uk) == 0) return table[h] - 1;
  }
  unit_t *u = &s->units[s->nunits];
  u->set = s;
  u->variant = k->v;
  u->dtype = (pt_dtype_t)k->dtype;
  u->act = (pt_act_t)k->act;
  u->is_reduce = k->is_reduce;
  u->reduce = -1;
  if (u->is_reduce) snprintf(u->spec, sizeof u->spec, "reduce");
  else pt_knobs_format(&u->variant, u->spec, sizeof u->spec);
  table[h] = ++s->nunits;
  return s->nunits - 1;
}

static int build_units(pt_units_t *s) {
  const pt_plan_t *p = s->plan;
  size_t cap = p->nitems + 1, tsize = 16;
  while (tsize < 2 * cap) tsize *= 2;
  int *table = calloc(tsize, sizeof *table);
  s->units = calloc(cap, sizeof *s->units);
  s->item_unit = calloc(p->nitems > 0 ? p->nitems : 1, sizeof *s->item_unit);
  if (table == NULL || s->units == NULL || s->item_unit == NULL) {
    free(table);
    return pt_err_set(s->err, PT_ENOMEM, "out of memory for the plan's compiles");
  }
  for (size_t i = 0; i < p->nitems; i++) {
    const pt_plan_item_t *it = &p->items[i];
    const pt_moe_shape_t *sh = &p->problems[it->problem].shape;
    unit_key_t k = key_of(&it->variant, sh->dtype, sh->act, 0);
    int u = unit_find_or_add(s, table, tsize - 1, &k);
    s->item_unit[i] = u;
    if (it->variant.stage == PT_STAGE_GEMM2 && it->variant.epilog == PT_EPILOG_REDUCE &&
        s->units[u].reduce < 0) {
      unit_key_t rk = key_of(NULL, PT_DTYPE_A4W4, PT_ACT_SILU, 1);
      int r = unit_find_or_add(s, table, tsize - 1, &rk);
      s->units[u].reduce = r;
    }
  }
  free(table);
  return PT_OK;
}

/* Each translation unit's source is stored as its name followed by every
 * embedded file: the hash then covers the headers it includes and tells the
 * units apart (they compile with the same defines). */
static int put_sources(pt_units_t *s) {
  size_t len = 0;
  for (int i = 0; i < pt_kernels_count(); i++)
    len += strlen(pt_kernels_name(i)) + strlen(pt_kernels_text(i)) + 2;
  char *all = malloc(len + 256);
  if (all == NULL) return pt_err_set(s->err, PT_ENOMEM, "out of memory for sources");
  int rc = PT_OK;
  for (int t = 0; rc == PT_OK && t < pt_kernels_count(); t++) {
    const char *name = pt_kernels_name(t);
    size_t n = strlen(name);
    if (n < 3 || strcmp(name + n - 3, ".cu") != 0) continue;
    if (s->nsources == SOURCES_MAX) {
      rc = pt_err_set(s->err, PT_EINVAL, "more than %d kernel sources", SOURCES_MAX);
      break;
    }
    char *p = all + sprintf(all, "translation unit %.200s\n", name);
    for (int i = 0; i < pt_kernels_count(); i++)
      p += sprintf(p, "%s\n%s\n", pt_kernels_name(i), pt_kernels_text(i));
    s->source_name[s->nsources] = name;
    rc = pt_db_put_source(s->o->db, name, all, (size_t)(p - all),
                          s->source_hash[s->nsources]);
    if (rc != PT_OK) rc = pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
    s->nsources++;
  }
  free(all);
  return rc;
}

static int put_variants(pt_units_t *s) {
  for (int i = 0; i < s->nunits; i++) {
    unit_t *u = &s->units[i];
    if (u->is_reduce) continue;
    int rc = pt_db_put_variant(s->o->db, &u->variant, u->spec, &u->variant_id);
    if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  }
  return PT_OK;
}

int pt_units_new(const pt_units_opts_t *o, const pt_plan_t *plan, pt_units_t **out,
                 pt_err_t *err) {
  pt_units_t *s = calloc(1, sizeof *s);
  *out = NULL;
  if (s == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  s->o = o;
  s->plan = plan;
  s->err = err;
  int rc = build_units(s);
  if (rc != PT_OK) {
    pt_units_free(s);
    return rc;
  }
  s->st.units = s->nunits;
  *out = s;
  return PT_OK;
}

int pt_units_store(pt_units_t *s, pt_err_t *err) {
  s->err = err;
  int rc = put_sources(s);
  return rc == PT_OK ? put_variants(s) : rc;
}

void pt_units_free(pt_units_t *s) {
  if (s == NULL) return;
  free(s->units);
  free(s->item_unit);
  free(s);
}

/* ---- the target ---- */

static const char *source_hash_of(const pt_units_t *s, const char *name) {
  for (int i = 0; i < s->nsources; i++)
    if (strcmp(s->source_name[i], name) == 0) return s->source_hash[i];
  return NULL;
}

static pt_db_compile_key_t unit_key(const pt_units_t *s, const unit_t *u) {
  pt_db_compile_key_t k = {u->source_hash, s->arch, s->compiler,
                           u->job.req.defines, u->job.req.ndefines,
                           u->job.req.options, u->job.req.noptions};
  return k;
}

static int set_compiler(pt_units_t *s, const char *arch) {
  pt_gpu_backend_t backend;
  int rc = pt_gpu_backend_for_arch(arch, &backend, s->err);
  if (rc != PT_OK) return rc;
  if (s->o->compile == NULL)
    return pt_gpu_compiler_version(backend, s->compiler, sizeof s->compiler, s->err);
  snprintf(s->compiler, sizeof s->compiler, "%s",
           s->o->compiler != NULL ? s->o->compiler : "custom");
  return PT_OK;
}

/* Every unit's result names its source, the infeasible ones' too. */
static int target_unit(pt_units_t *s, unit_t *u, const pt_limits_t *lim) {
  pt_verdict_t verdict;
  int rc = u->is_reduce ? pt_kernel_job_reduce(&u->job, s->arch, s->err)
                        : pt_kernel_job_init(&u->job, &u->variant, u->dtype, u->act,
                                             s->arch, s->err);
  if (rc != PT_OK) return pt_err_prefix(s->err, "variant '%s'", u->spec);
  u->source_hash = source_hash_of(s, u->job.req.name);
  if (u->source_hash == NULL)
    return pt_err_set(s->err, PT_EINVAL, "kernel source '%s' is not embedded",
                      u->job.req.name);
  if (!u->is_reduce) {
    rc = pt_constraints_check(&u->variant, u->dtype, lim, &verdict, s->err);
    if (rc != PT_OK) return rc;
    if (!verdict.feasible) {
      u->state = U_INFEASIBLE;
      snprintf(u->reason, sizeof u->reason, "%s: %s", verdict.rule, verdict.reason);
      return PT_OK;
    }
  }
  pt_db_compile_key_t k = unit_key(s, u);
  return pt_db_compile_key(&k, u->key, s->err);
}

int pt_units_target(pt_units_t *s, const char *arch, const pt_limits_t *lim,
                    pt_err_t *err) {
  s->err = err;
  snprintf(s->arch, sizeof s->arch, "%s", arch);
  int rc = set_compiler(s, arch);
  for (int i = 0; rc == PT_OK && i < s->nunits; i++) rc = target_unit(s, &s->units[i], lim);
  return rc;
}

void pt_units_need(pt_units_t *s, const unsigned char *done) {
  for (size_t i = 0; i < s->plan->nitems; i++) {
    if (done != NULL && done[i]) continue;
    unit_t *u = &s->units[s->item_unit[i]];
    u->needed = 1;
    if (u->reduce >= 0) s->units[u->reduce].needed = 1;
  }
  for (int i = 0; i < s->nunits; i++) {
    if (s->units[i].needed && s->units[i].state == U_NEW) s->st.needed++;
    if (s->units[i].state == U_INFEASIBLE) s->st.infeasible++;
  }
}

/* ---- settling ---- */

static void failed(pt_units_t *s, int rc, const char *msg) {
  s->o->failed(s->o->ud, rc, msg);
}

static void first_line(char *dst, size_t len, const char *text) {
  size_t n = strcspn(text, "\n");
  snprintf(dst, len, "%.*s", (int)(n < len ? n : len - 1), text);
}

static void settled_event(pt_units_t *s, const unit_t *u, int cached) {
  char label[PT_KNOBS_SPEC_MAX + 32];
  if (u->is_reduce) snprintf(label, sizeof label, "reduce kernel");
  else snprintf(label, sizeof label, "%s %s %s", pt_stage_name(u->variant.stage),
                pt_dtype_name(u->dtype), u->spec);
  s->settled++;
  pt_units_event_t ev = {.label = label, .cached = cached, .ok = u->state == U_OK,
                         .reason = u->state == U_OK ? NULL : u->reason,
                         .settled = s->settled, .needed = s->st.needed};
  s->o->settled(s->o->ud, &ev);
}

static void compile_work(uv_work_t *req) {
  unit_t *u = req->data;
  const pt_units_opts_t *o = u->set->o;
  pt_err_clear(&u->err);
  u->rc = o->compile != NULL ? o->compile(o->compile_ud, &u->job.req, &u->code, &u->err)
                             : pt_gpu_compile(&u->job.req, &u->code, &u->err);
}

/* Stores a finished compile in the cache and settles its unit. */
static int store(pt_units_t *s, unit_t *u) {
  int ok = u->rc == PT_OK;
  pt_db_code_t c = {ok, ok ? u->code.data : NULL, ok ? u->code.size : 0,
                    u->code.log != NULL ? u->code.log : "", u->code.compile_ms,
                    u->code.regs, u->code.spill_bytes, u->code.smem_static};
  if (!ok && u->rc != PT_ECOMPILE) c.log = u->err.msg;
  pt_db_compile_key_t k = unit_key(s, u);
  int rc = pt_db_compile_put(s->o->db, &k, u->variant_id, &c);
  u->state = ok ? U_OK : U_FAIL;
  if (!ok) first_line(u->reason, sizeof u->reason, u->err.msg);
  pt_gpu_code_free(&u->code);
  if (ok) s->st.compiled++;
  else s->st.failed++;
  return rc;
}

static void compile_done(uv_work_t *req, int status) {
  unit_t *u = req->data;
  pt_units_t *s = u->set;
  s->compiling--;
  if (status == UV_ECANCELED) {
    u->state = U_NEW;
  } else {
    s->t_last = uv_hrtime();
    int rc = store(s, u);
    if (rc != PT_OK) {
      failed(s, rc, pt_db_errmsg(s->o->db));
    } else {
      settled_event(s, u, 0);
      pt_units_start(s);
    }
  }
  s->o->returned(s->o->ud);
}

/* A cached result: PT_OK and the unit settled, or PT_ENOENT. */
static int from_cache(pt_units_t *s, unit_t *u) {
  pt_db_code_t c;
  pt_db_compile_key_t k = unit_key(s, u);
  int rc = pt_db_compile_get(s->o->db, &k, &c);
  if (rc != PT_OK) return rc;
  u->state = c.ok ? U_OK : U_FAIL;
  if (!c.ok) first_line(u->reason, sizeof u->reason, c.log);
  pt_db_code_free(&c);
  s->st.cached++;
  settled_event(s, u, 1);
  return PT_OK;
}

static int queue(pt_units_t *s, unit_t *u) {
  u->work.data = u;
  u->state = U_QUEUED;
  if (s->t_first == 0) s->t_first = uv_hrtime();
  int rc = uv_queue_work(s->o->loop, &u->work, compile_work, compile_done);
  if (rc != 0) {
    failed(s, PT_EIO, uv_strerror(rc));
    return PT_EIO;
  }
  s->compiling++;
  return PT_OK;
}

void pt_units_start(pt_units_t *s) {
  int jobs = s->o->jobs > 0 ? s->o->jobs : 4;
  while (!s->stopped && s->compiling < jobs && s->next_unit < s->nunits) {
    unit_t *u = &s->units[s->next_unit++];
    if (!u->needed || u->state != U_NEW) continue;
    int rc = from_cache(s, u);
    if (rc == PT_ENOENT) rc = queue(s, u);
    else if (rc != PT_OK) failed(s, rc, pt_db_errmsg(s->o->db));
    if (rc != PT_OK) return;
  }
}

void pt_units_stop(pt_units_t *s) {
  s->stopped = 1;
  for (int i = 0; i < s->nunits; i++)
    if (s->units[i].state == U_QUEUED) uv_cancel((uv_req_t *)&s->units[i].work);
}

int pt_units_busy(const pt_units_t *s) { return s->compiling > 0; }

/* ---- what the items need ---- */

int pt_units_of_item(const pt_units_t *s, size_t item) { return s->item_unit[item]; }

int64_t pt_units_variant_id(const pt_units_t *s, int unit) {
  return s->units[unit].variant_id;
}

const char *pt_units_spec(const pt_units_t *s, int unit) { return s->units[unit].spec; }

pt_units_ready_t pt_units_ready(const pt_units_t *s, int unit, pt_db_status_t *status,
                                const char **why) {
  const unit_t *u = &s->units[unit];
  const unit_t *r = u->reduce >= 0 ? &s->units[u->reduce] : NULL;
  *status = u->state == U_INFEASIBLE ? PT_DB_STATUS_INFEASIBLE : PT_DB_STATUS_COMPILE_FAIL;
  *why = NULL;
  if (u->state == U_INFEASIBLE || u->state == U_FAIL) *why = u->reason;
  else if (r != NULL && r->state == U_FAIL) *why = r->reason;
  if (*why != NULL) return PT_UNITS_SETTLED;
  return u->state == U_OK && (r == NULL || r->state == U_OK) ? PT_UNITS_READY
                                                             : PT_UNITS_WAIT;
}

void pt_units_stamp(const pt_units_t *s, int unit, pt_db_measurement_t *m) {
  const unit_t *u = &s->units[unit];
  m->compiler = s->compiler;
  m->source_hash = u->source_hash;
  m->compile_key = u->key[0] != '\0' ? u->key : NULL;
}

int pt_units_code(const pt_units_t *s, int unit, pt_db_code_t *code,
                  pt_db_code_t *reduce, pt_err_t *err) {
  const unit_t *u = &s->units[unit];
  memset(code, 0, sizeof *code);
  memset(reduce, 0, sizeof *reduce);
  pt_db_compile_key_t k = unit_key(s, u);
  int rc = pt_db_compile_get(s->o->db, &k, code);
  if (rc == PT_OK && u->reduce >= 0) {
    pt_db_compile_key_t rk = unit_key(s, &s->units[u->reduce]);
    rc = pt_db_compile_get(s->o->db, &rk, reduce);
  }
  if (rc != PT_OK) {
    pt_db_code_free(code);
    return db_fail(s, rc, err);
  }
  return PT_OK;
}

void pt_units_stats(const pt_units_t *s, pt_units_stats_t *st) {
  *st = s->st;
  st->wall_s = s->t_first != 0 && s->t_last != 0 ? (double)(s->t_last - s->t_first) / 1e9
                                                 : 0.0;
}
