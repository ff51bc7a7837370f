/* The tuning supervisor: compile units on the thread pool, worker processes
 * over JSON-lines pipes, one DB transaction per result (see supervisor.h).
 *
 * Everything runs on the loop thread except the compiler calls. A worker
 * slot (one per GPU) outlives the worker processes it runs: a process that
 * dies is finished (its in-flight item recorded), its handles closed, and the
 * slot spawns the next one. A process is finished once both its exit status
 * and the end of its stdout have arrived, so that a result written just
 * before exiting is never lost.
 */
#include "supervisor.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <xxhash.h>

#include "constraints.h"
#include "kernel_job.h"
#include "kernels.h"
#include "proto.h"
#include "routing.h"

#define REASON_MAX 1280
#define HELLO_FAILS_MAX 3
#define SOURCES_MAX 8   /* a worker dying before hello this often: give up */

typedef enum { U_NEW = 0, U_QUEUED, U_OK, U_FAIL, U_INFEASIBLE } unit_state_t;

/* One distinct compile: a stage variant for a dtype and activation, or the
 * reduce kernel. */
typedef struct unit_s {
  struct pt_sup_s *sup;
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

typedef struct item_s {
  int unit;
  int64_t problem_id;
  int done;              /* already measured (resume) */
} item_t;

typedef struct index_s {
  int64_t problem_id, variant_id;
  int item;
} index_t;

typedef enum {
  S_DOWN = 0,   /* no process */
  S_STARTING,   /* spawned, no hello yet */
  S_IDLE,
  S_PENDING,    /* a job claimed, its code not compiled yet */
  S_SENT,       /* item written, no begin yet */
  S_RUNNING,    /* begin received: kernels running */
  S_CLOSING,    /* stdin shut, waiting for the exit */
} slot_state_t;

typedef struct proc_s proc_t;

typedef struct slot_s {
  struct pt_sup_s *sup;
  int gpu;
  slot_state_t state;
  proc_t *proc;
  int helloed;           /* a process of this slot said hello once */
  int hello_fails;       /* consecutive deaths before hello */
  int no_more;           /* no job left to claim */
  int gone;              /* given up */
  pt_gpu_props_t props;
  int64_t device_id;
  pt_db_job_t job;       /* S_PENDING, S_SENT, S_RUNNING */
  int item;              /* its item, or -1 */
} slot_t;

struct proc_s {
  slot_t *slot;
  uv_process_t proc;
  uv_pipe_t in, out, err;
  uv_timer_t timer;
  int open;              /* handles not closed yet */
  int exited, out_eof, closing;
  int64_t exit_status;
  int term_signal;
  int timed_out;         /* we killed it for the item timeout */
  int killed;            /* we killed it on a forced stop or a protocol error */
  pt_buf_t outbuf, errbuf;
  char last_err[256];    /* last stderr line, for crash reasons */
  char why[256];         /* our reason for killing it */
};

typedef struct pt_sup_s {
  const pt_sup_opts_t *o;
  pt_sup_summary_t *sum;
  pt_err_t *err;
  int rc;                /* first fatal error */
  uv_loop_t loop;
  int nsources;          /* translation units and the hash of each */
  const char *source_name[SOURCES_MAX];
  char source_hash[SOURCES_MAX][PT_DB_HASH_HEX];
  char compiler[64];
  char routing[32];
  pt_routing_t routing_parsed;
  unit_t *units;
  int nunits, next_unit, compiling, units_needed, units_done;
  item_t *items;
  index_t *index;
  int64_t *problem_ids;
  double *best_us;       /* [problem][stage] */
  int *best_unit;
  slot_t *slots;
  int nslots;
  int prepared;
  int stopping;          /* 1 graceful, 2 forced */
  int64_t run_id;
  size_t total, done;
  uint64_t t_start, t_first_send, t_compile_first, t_compile_last;
  uv_signal_t sigint, sigterm;
  uv_timer_t budget;
  int signals_on, budget_on;
} pt_sup_t;

static void emit(pt_sup_t *s, const pt_sup_event_t *ev) {
  if (s->o->on_event != NULL) s->o->on_event(s->o->event_ud, ev);
}

static void logf_(pt_sup_t *s, int gpu, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(pt_sup_t *s, int gpu, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pt_sup_event_t ev = {.type = PT_SUP_EV_LOG, .msg = msg, .gpu = gpu};
  emit(s, &ev);
}

static void stop(pt_sup_t *s, int forced, pt_sup_end_t why);

/* Records the first fatal error and stops everything. */
static void fail(pt_sup_t *s, int rc, const char *msg) {
  if (s->rc == PT_OK) {
    s->rc = rc;
    pt_err_set(s->err, rc, "%s", msg);
  }
  stop(s, 1, PT_SUP_INTERRUPTED);
}

static void fail_db(pt_sup_t *s, int rc) { fail(s, rc, pt_db_errmsg(s->o->db)); }

static double since_s(uint64_t t0) {
  return t0 == 0 ? 0.0 : (double)(uv_hrtime() - t0) / 1e9;
}

/* ---- units and items ---- */

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
static int unit_find_or_add(pt_sup_t *s, int *table, size_t mask,
                            const unit_key_t *k) {
  size_t h = (size_t)XXH3_64bits(k, sizeof *k) & mask;
  for (;; h = (h + 1) & mask) {
    if (table[h] == 0) break;
    unit_t *u = &s->units[table[h] - 1];
    unit_key_t uk = key_of(&u->variant, u->dtype, u->act, u->is_reduce);
    if (memcmp(&uk, k, sizeof uk) == 0) return table[h] - 1;
  }
  unit_t *u = &s->units[s->nunits];
  u->sup = s;
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

static int build_units(pt_sup_t *s) {
  const pt_plan_t *p = s->o->plan;
  size_t cap = p->nitems + 1, tsize = 16;
  while (tsize < 2 * cap) tsize *= 2;
  int *table = calloc(tsize, sizeof *table);
  s->units = calloc(cap, sizeof *s->units);
  s->items = calloc(p->nitems > 0 ? p->nitems : 1, sizeof *s->items);
  if (table == NULL || s->units == NULL || s->items == NULL) {
    free(table);
    return pt_err_set(s->err, PT_ENOMEM, "out of memory for the plan's compiles");
  }
  for (size_t i = 0; i < p->nitems; i++) {
    const pt_plan_item_t *it = &p->items[i];
    const pt_moe_shape_t *sh = &p->problems[it->problem].shape;
    unit_key_t k = key_of(&it->variant, sh->dtype, sh->act, 0);
    int u = unit_find_or_add(s, table, tsize - 1, &k);
    s->items[i].unit = u;
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
static int put_sources(pt_sup_t *s) {
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

static const char *source_hash_of(pt_sup_t *s, const char *name) {
  for (int i = 0; i < s->nsources; i++)
    if (strcmp(s->source_name[i], name) == 0) return s->source_hash[i];
  return NULL;
}

static pt_db_compile_key_t unit_key(pt_sup_t *s, const unit_t *u) {
  pt_db_compile_key_t k = {u->source_hash, s->sum->arch, s->compiler,
                           u->job.req.defines, u->job.req.ndefines,
                           u->job.req.options, u->job.req.noptions};
  return k;
}

static int put_variants(pt_sup_t *s) {
  for (int i = 0; i < s->nunits; i++) {
    unit_t *u = &s->units[i];
    if (u->is_reduce) continue;
    const pt_variant_t *v = &u->variant;
    int g1 = v->stage == PT_STAGE_GEMM1;
    pt_db_variant_t dv = {
        pt_stage_name(v->stage), u->spec, v->bm, v->bn, g1 ? v->k_wave : -1,
        g1 ? -1 : v->kstages, v->bhoist, v->spart, v->nt, v->persist,
        g1 ? NULL : pt_epilog_name((pt_epilog_t)v->epilog)};
    int rc = pt_db_put_variant(s->o->db, &dv, &u->variant_id);
    if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  }
  return PT_OK;
}

static int put_problems(pt_sup_t *s) {
  const pt_plan_t *p = s->o->plan;
  s->problem_ids = calloc((size_t)p->nproblems, sizeof *s->problem_ids);
  s->best_us = calloc((size_t)p->nproblems * PT_STAGE_COUNT, sizeof *s->best_us);
  s->best_unit = calloc((size_t)p->nproblems * PT_STAGE_COUNT, sizeof *s->best_unit);
  if (!s->problem_ids || !s->best_us || !s->best_unit)
    return pt_err_set(s->err, PT_ENOMEM, "out of memory for problems");
  int zipf = s->routing_parsed.kind == PT_ROUTING_ZIPF;
  for (int i = 0; i < p->nproblems; i++) {
    const pt_plan_problem_t *pr = &p->problems[i];
    pt_db_problem_t dp = {
        pr->family->name, pr->shape.model_dim, pr->shape.inter_dim,
        pr->shape.experts, pr->shape.topk, pt_dtype_name(pr->shape.dtype),
        pt_act_name(pr->shape.act), pr->tokens, zipf ? "zipf" : "uniform",
        zipf ? s->routing_parsed.zipf_s : 0.0, (int64_t)s->o->seed};
    int rc = pt_db_put_problem(s->o->db, &dp, &s->problem_ids[i]);
    if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
    for (int st = 0; st < PT_STAGE_COUNT; st++) {
      s->best_us[i * PT_STAGE_COUNT + st] = INFINITY;
      s->best_unit[i * PT_STAGE_COUNT + st] = -1;
    }
  }
  for (size_t i = 0; i < p->nitems; i++)
    s->items[i].problem_id = s->problem_ids[p->items[i].problem];
  return PT_OK;
}

static int cmp_index(const void *a, const void *b) {
  const index_t *x = a, *y = b;
  if (x->problem_id != y->problem_id) return x->problem_id < y->problem_id ? -1 : 1;
  return (x->variant_id > y->variant_id) - (x->variant_id < y->variant_id);
}

static int build_index(pt_sup_t *s) {
  size_t n = s->o->plan->nitems;
  s->index = malloc((n > 0 ? n : 1) * sizeof *s->index);
  if (s->index == NULL) return pt_err_set(s->err, PT_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++)
    s->index[i] = (index_t){s->items[i].problem_id,
                            s->units[s->items[i].unit].variant_id, (int)i};
  qsort(s->index, n, sizeof *s->index, cmp_index);
  return PT_OK;
}

/* The plan's sources, variants and problems in the database, and the index
 * from their ids to items. */
static int store_plan(pt_sup_t *s) {
  int rc = put_sources(s);
  if (rc == PT_OK) rc = put_variants(s);
  if (rc == PT_OK) rc = put_problems(s);
  if (rc == PT_OK) rc = build_index(s);
  return rc;
}

static int find_item(pt_sup_t *s, int64_t problem_id, int64_t variant_id) {
  index_t k = {problem_id, variant_id, 0};
  index_t *hit = bsearch(&k, s->index, s->o->plan->nitems, sizeof k, cmp_index);
  return hit != NULL ? hit->item : -1;
}

/* Feasibility for the device limits and the compile cache key of each unit. */
static int plan_units(pt_sup_t *s, const char *arch, const pt_limits_t *lim) {
  pt_gpu_backend_t backend;
  int rc = pt_gpu_backend_for_arch(arch, &backend, s->err);
  if (rc != PT_OK) return rc;
  if (s->o->compile != NULL)
    snprintf(s->compiler, sizeof s->compiler, "%s",
             s->o->compiler != NULL ? s->o->compiler : "custom");
  else if ((rc = pt_gpu_compiler_version(backend, s->compiler, sizeof s->compiler,
                                         s->err)) != PT_OK)
    return rc;
  for (int i = 0; i < s->nunits; i++) {
    unit_t *u = &s->units[i];
    pt_verdict_t verdict;
    /* Every unit's result names its source, the infeasible ones' too. */
    rc = u->is_reduce ? pt_kernel_job_reduce(&u->job, arch, s->err)
                      : pt_kernel_job_init(&u->job, &u->variant, u->dtype, u->act,
                                            arch, s->err);
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
        continue;
      }
    }
    pt_db_compile_key_t k = unit_key(s, u);
    rc = pt_db_compile_key(&k, u->key, s->err);
    if (rc != PT_OK) return rc;
  }
  return PT_OK;
}

/* ---- compiling ---- */

static void dispatch_all(pt_sup_t *s);
static void maybe_finish(pt_sup_t *s);
static void pump_compiles(pt_sup_t *s);

static void compile_work(uv_work_t *req) {
  unit_t *u = req->data;
  const pt_sup_opts_t *o = u->sup->o;
  pt_err_clear(&u->err);
  u->rc = o->compile != NULL ? o->compile(o->compile_ud, &u->job.req, &u->code, &u->err)
                             : pt_gpu_compile(&u->job.req, &u->code, &u->err);
}

static void first_line(char *dst, size_t len, const char *text) {
  size_t n = strcspn(text, "\n");
  snprintf(dst, len, "%.*s", (int)(n < len ? n : len - 1), text);
}

static void compiled_event(pt_sup_t *s, unit_t *u, int cached) {
  char label[PT_KNOBS_SPEC_MAX + 32];
  if (u->is_reduce) snprintf(label, sizeof label, "reduce kernel");
  else snprintf(label, sizeof label, "%s %s %s", pt_stage_name(u->variant.stage),
                pt_dtype_name(u->dtype), u->spec);
  s->units_done++;
  pt_sup_event_t ev = {.type = PT_SUP_EV_COMPILED, .gpu = -1, .spec = label,
                       .cached = cached, .compile_ok = u->state == U_OK,
                       .compiled = s->units_done, .compile_total = s->units_needed,
                       .msg = u->state == U_OK ? NULL : u->reason};
  emit(s, &ev);
}

static void compile_done(uv_work_t *req, int status) {
  unit_t *u = req->data;
  pt_sup_t *s = u->sup;
  s->compiling--;
  if (status == UV_ECANCELED) {
    u->state = U_NEW;
    maybe_finish(s);
    return;
  }
  s->t_compile_last = uv_hrtime();
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
  if (ok) s->sum->compiled++;
  else s->sum->compile_failed++;
  if (rc != PT_OK) {
    fail_db(s, rc);
    maybe_finish(s);
    return;
  }
  compiled_event(s, u, 0);
  pump_compiles(s);
  dispatch_all(s);
  maybe_finish(s);
}

/* A cached result: PT_OK and the unit settled, or PT_ENOENT. */
static int from_cache(pt_sup_t *s, unit_t *u) {
  pt_db_code_t c;
  pt_db_compile_key_t k = unit_key(s, u);
  int rc = pt_db_compile_get(s->o->db, &k, &c);
  if (rc != PT_OK) return rc;
  u->state = c.ok ? U_OK : U_FAIL;
  if (!c.ok) first_line(u->reason, sizeof u->reason, c.log);
  pt_db_code_free(&c);
  s->sum->cached++;
  compiled_event(s, u, 1);
  return PT_OK;
}

/* Starts compiles in unit order (the plan's order of first use) while fewer
 * than opts->jobs run. */
static void pump_compiles(pt_sup_t *s) {
  int jobs = s->o->jobs > 0 ? s->o->jobs : 4;
  while (s->rc == PT_OK && !s->stopping && s->compiling < jobs &&
         s->next_unit < s->nunits) {
    unit_t *u = &s->units[s->next_unit++];
    if (!u->needed || u->state != U_NEW) continue;
    int rc = from_cache(s, u);
    if (rc == PT_OK) continue;
    if (rc != PT_ENOENT) {
      fail_db(s, rc);
      return;
    }
    u->work.data = u;
    u->state = U_QUEUED;
    if (s->t_compile_first == 0) s->t_compile_first = uv_hrtime();
    rc = uv_queue_work(&s->loop, &u->work, compile_work, compile_done);
    if (rc != 0) {
      fail(s, PT_EIO, uv_strerror(rc));
      return;
    }
    s->compiling++;
  }
}

static void cancel_compiles(pt_sup_t *s) {
  for (int i = 0; i < s->nunits; i++)
    if (s->units[i].state == U_QUEUED) uv_cancel((uv_req_t *)&s->units[i].work);
}

/* ---- recording ---- */

static void result_event(pt_sup_t *s, slot_t *sl, int item, const char *status,
                         double median, const char *reason) {
  const pt_plan_t *p = s->o->plan;
  const pt_plan_item_t *it = &p->items[item];
  int b = it->problem * PT_STAGE_COUNT + (int)it->variant.stage;
  if (strcmp(status, "ok") == 0 && median < s->best_us[b]) {
    s->best_us[b] = median;
    s->best_unit[b] = s->items[item].unit;
  }
  pt_sup_event_t ev = {
      .type = PT_SUP_EV_RESULT, .gpu = sl != NULL ? sl->gpu : -1,
      .spec = s->units[s->items[item].unit].spec, .problem = &p->problems[it->problem],
      .stage = it->variant.stage, .status = status, .median_us = median,
      .msg = reason != NULL && reason[0] != '\0' ? reason : NULL,
      .best_us = s->best_us[b],
      .best_spec = s->best_unit[b] >= 0 ? s->units[s->best_unit[b]].spec : NULL,
      .done = s->done, .total = s->total, .elapsed_s = since_s(s->t_first_send)};
  emit(s, &ev);
}

static void measurement_base(pt_sup_t *s, const pt_db_job_t *job, int item,
                             pt_db_measurement_t *m) {
  const unit_t *u = &s->units[s->items[item].unit];
  pt_db_measurement_init(m);
  m->run_id = s->run_id;
  m->device_id = 0;
  m->problem_id = job->problem_id;
  m->variant_id = job->variant_id;
  m->regime = s->o->warm ? PT_DB_REGIME_WARM : PT_DB_REGIME_COLD;
  m->compiler = s->compiler;
  m->source_hash = u->source_hash;
  m->compile_key = u->key[0] != '\0' ? u->key : NULL;
}

/* Closes the slot's job in one transaction and clears its item: settled,
 * nothing for a restarted worker to redo. A result the DB refuses (an
 * impossible statistic) is recorded as a crash with the DB's reason. */
static void finish_job(pt_sup_t *s, slot_t *sl, pt_db_measurement_t *m) {
  char why[REASON_MAX];
  int item = sl->item;
  sl->item = -1;
  m->device_id = sl->device_id;
  int rc = pt_db_job_finish(s->o->db, sl->job.id, m, NULL);
  if (rc == PT_EINVAL && m->status != PT_DB_STATUS_CRASH) {
    snprintf(why, sizeof why, "result refused: %s", pt_db_errmsg(s->o->db));
    pt_db_measurement_init(m);
    measurement_base(s, &sl->job, item, m);
    m->device_id = sl->device_id;
    m->status = PT_DB_STATUS_CRASH;
    m->reason = why;
    rc = pt_db_job_finish(s->o->db, sl->job.id, m, NULL);
  }
  if (rc != PT_OK) {
    fail_db(s, rc);
    return;
  }
  s->done++;
  s->sum->done++;
  s->sum->by_status[m->status]++;
  result_event(s, sl, item, pt_db_status_name(m->status), m->median_us, m->reason);
}

/* An item settled without a worker: infeasible or compile_fail. */
static void finish_static(pt_sup_t *s, slot_t *sl, pt_db_status_t status,
                          const char *reason) {
  pt_db_measurement_t m;
  measurement_base(s, &sl->job, sl->item, &m);
  m.status = status;
  m.reason = reason;
  if (status == PT_DB_STATUS_INFEASIBLE) m.compile_key = NULL;
  finish_job(s, sl, &m);
}

static void finish_result(pt_sup_t *s, slot_t *sl, const pt_proto_result_t *r) {
  pt_db_measurement_t m;
  char why[REASON_MAX];
  measurement_base(s, &sl->job, sl->item, &m);
  /* Workers never compile; a device limit found at load time is infeasible. */
  if (pt_db_status_parse(r->status, &m.status) != 0 || m.status == PT_DB_STATUS_COMPILE_FAIL) {
    snprintf(why, sizeof why, "worker reported status '%s'", r->status);
    m.status = PT_DB_STATUS_CRASH;
    m.reason = why;
  } else {
    m.median_us = r->median_us;
    m.min_us = r->min_us;
    m.p90_us = r->p90_us;
    m.spread = r->spread;
    m.samples = r->samples;
    m.floor_us = r->floor_us;
    m.err_max_abs = r->err_max_abs;
    m.err_mean_abs = r->err_mean_abs;
    m.err_max_rel = r->err_max_rel;
    m.sm_clock_mhz = r->sm_clock_mhz;
    m.temp_c = r->temp_c;
    m.reason = r->reason[0] != '\0' ? r->reason : NULL;
  }
  finish_job(s, sl, &m);
}

/* ---- worker processes ---- */

static void spawn(slot_t *sl);
static void proc_finished(proc_t *p);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  proc_t *p = h->data;
  pt_buf_t *b = h == (uv_handle_t *)&p->out ? &p->outbuf : &p->errbuf;
  size_t space = 0;
  (void)hint;
  if (pt_buf_grow(b, 64 << 10, NULL) != PT_OK) {
    *buf = uv_buf_init(NULL, 0);  /* libuv reports UV_ENOBUFS */
    return;
  }
  char *tail = pt_buf_tail(b, &space);
  *buf = uv_buf_init(tail, (unsigned)(space < (1u << 30) ? space : (1u << 30)));
}

static void proc_handle_closed(uv_handle_t *h);

static void kill_proc(proc_t *p, const char *why) {
  if (p->exited || p->killed || p->timed_out) return;
  snprintf(p->why, sizeof p->why, "%s", why);
  p->killed = 1;
  uv_process_kill(&p->proc, SIGKILL);
}

static void timer_start(proc_t *p, double seconds, uv_timer_cb cb) {
  uint64_t ms = (uint64_t)(seconds * 1000.0);
  uv_timer_start(&p->timer, cb, ms > 0 ? ms : 1, 0);
}

static void on_timeout(uv_timer_t *t) {
  proc_t *p = t->data;
  slot_t *sl = p->slot;
  if (p->exited) return;
  if (sl->state == S_RUNNING) {
    p->timed_out = 1;
    uv_process_kill(&p->proc, SIGKILL);
    return;
  }
  kill_proc(p, sl->state == S_STARTING ? "no hello within the setup timeout"
                                       : "no begin within the setup timeout");
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Ends the worker's input: it exits when it has read everything. */
static void close_input(slot_t *sl) {
  proc_t *p = sl->proc;
  if (p == NULL || p->closing) return;
  p->closing = 1;
  sl->state = S_CLOSING;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req == NULL || uv_shutdown(req, (uv_stream_t *)&p->in, on_shutdown) != 0) {
    free(req);
    kill_proc(p, "cannot close its input");
  }
}

static void on_written(uv_write_t *req, int status) {
  (void)status;  /* a dead worker shows up through its exit */
  free(req->data);
  free(req);
}

static int write_line(proc_t *p, char *line) {
  uv_write_t *req = malloc(sizeof *req);
  if (req == NULL || line == NULL) {
    free(req);
    free(line);
    return PT_ENOMEM;
  }
  req->data = line;
  uv_buf_t buf = uv_buf_init(line, (unsigned)strlen(line));
  int rc = uv_write(req, (uv_stream_t *)&p->in, &buf, 1, on_written);
  if (rc != 0) {
    free(line);
    free(req);
    return PT_EIO;
  }
  return PT_OK;
}

/* Sends the slot's claimed item, with its code from the compile cache. */
static void send_item(pt_sup_t *s, slot_t *sl) {
  const pt_plan_t *plan = s->o->plan;
  const pt_plan_item_t *pi = &plan->items[sl->item];
  const pt_plan_problem_t *pr = &plan->problems[pi->problem];
  unit_t *u = &s->units[s->items[sl->item].unit];
  pt_db_code_t code = {0}, rcode = {0};
  pt_proto_item_t it;
  memset(&it, 0, sizeof it);
  it.id = sl->job.id;
  it.variant = pi->variant;
  snprintf(it.family, sizeof it.family, "%s", pr->family->name);
  it.shape = pr->shape;
  it.tokens = pr->tokens;
  snprintf(it.routing, sizeof it.routing, "%s", s->routing);
  it.seed = s->o->seed;
  it.warm = s->o->warm;
  snprintf(it.arch, sizeof it.arch, "%s", s->sum->arch);
  it.min_samples = s->o->min_samples > 0 ? s->o->min_samples : 25;
  it.min_ms = s->o->min_ms >= 0.0 ? s->o->min_ms : 200.0;
  pt_db_compile_key_t k = unit_key(s, u);
  int rc = pt_db_compile_get(s->o->db, &k, &code);
  if (rc == PT_OK && u->reduce >= 0) {
    pt_db_compile_key_t rk = unit_key(s, &s->units[u->reduce]);
    rc = pt_db_compile_get(s->o->db, &rk, &rcode);
  }
  if (rc != PT_OK) {
    pt_db_code_free(&code);
    fail_db(s, rc);
    return;
  }
  it.code = code.data;
  it.code_size = code.size;
  it.reduce_code = rcode.data;
  it.reduce_code_size = rcode.size;
  rc = write_line(sl->proc, pt_proto_item(&it));
  pt_db_code_free(&code);
  pt_db_code_free(&rcode);
  if (rc != PT_OK) {
    kill_proc(sl->proc, "cannot write to it");
    return;
  }
  if (s->t_first_send == 0) s->t_first_send = uv_hrtime();
  sl->state = S_SENT;
  double setup = s->o->setup_timeout_s > 0 ? s->o->setup_timeout_s : 600.0;
  timer_start(sl->proc, setup, on_timeout);
}

static int unit_ready(pt_sup_t *s, const unit_t *u) {
  return u->state == U_OK && (u->reduce < 0 || s->units[u->reduce].state == U_OK);
}

static const char *unit_failure(pt_sup_t *s, const unit_t *u, pt_db_status_t *st) {
  if (u->state == U_INFEASIBLE) {
    *st = PT_DB_STATUS_INFEASIBLE;
    return u->reason;
  }
  *st = PT_DB_STATUS_COMPILE_FAIL;
  if (u->state == U_FAIL) return u->reason;
  if (u->reduce >= 0 && s->units[u->reduce].state == U_FAIL)
    return s->units[u->reduce].reason;
  return NULL;
}

/* Gives an idle slot its next item: claims jobs in plan order, settles the
 * ones no worker needs, sends the first whose code is ready. */
static void dispatch(pt_sup_t *s, slot_t *sl) {
  while (s->rc == PT_OK && !s->stopping &&
         (sl->state == S_IDLE || sl->state == S_PENDING)) {
    if (sl->state == S_IDLE) {
      int rc = pt_db_job_claim(s->o->db, s->run_id, sl->device_id, &sl->job);
      if (rc == PT_ENOENT) {
        sl->no_more = 1;
        close_input(sl);
        return;
      }
      if (rc != PT_OK) {
        fail_db(s, rc);
        return;
      }
      sl->item = find_item(s, sl->job.problem_id, sl->job.variant_id);
      if (sl->item < 0) {
        fail(s, PT_EDB, "a claimed job is not in the plan");
        return;
      }
      sl->state = S_PENDING;
    }
    unit_t *u = &s->units[s->items[sl->item].unit];
    pt_db_status_t st;
    const char *why = unit_failure(s, u, &st);
    if (why != NULL) {
      sl->state = S_IDLE;
      finish_static(s, sl, st, why);
      continue;
    }
    if (unit_ready(s, u)) send_item(s, sl);
    return;
  }
}

static void dispatch_all(pt_sup_t *s) {
  for (int i = 0; i < s->nslots; i++) dispatch(s, &s->slots[i]);
}

/* Every planned item of this run has a result, or we are stopping. */
static void maybe_finish(pt_sup_t *s) {
  int busy = s->compiling > 0;
  for (int i = 0; i < s->nslots; i++) {
    slot_t *sl = &s->slots[i];
    if (sl->state != S_DOWN) busy = 1;
    if (s->stopping && (sl->state == S_IDLE || sl->state == S_PENDING))
      close_input(sl);
  }
  if (busy) return;
  if (s->signals_on) {
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    s->signals_on = 0;
  }
  if (s->budget_on) {
    uv_close((uv_handle_t *)&s->budget, NULL);
    s->budget_on = 0;
  }
}

static void stop(pt_sup_t *s, int forced, pt_sup_end_t why) {
  if (s->stopping == 0) s->sum->end = why;
  if (s->stopping < (forced ? 2 : 1)) s->stopping = forced ? 2 : 1;
  cancel_compiles(s);
  for (int i = 0; i < s->nslots; i++) {
    slot_t *sl = &s->slots[i];
    if (sl->proc == NULL) continue;
    if (forced) kill_proc(sl->proc, "stopped");
    else if (sl->state == S_IDLE || sl->state == S_PENDING)
      close_input(sl);
  }
  maybe_finish(s);
}

/* ---- messages from a worker ---- */

static int prepare(pt_sup_t *s);

static void all_hello_check(pt_sup_t *s) {
  if (s->prepared || s->rc != PT_OK) return;
  int ready = 0;
  for (int i = 0; i < s->nslots; i++) {
    if (s->slots[i].state == S_STARTING) return;
    if (s->slots[i].state == S_IDLE) ready++;
  }
  if (ready == 0) {
    if (!s->stopping) fail(s, PT_ENOGPU, "no worker could open its gpu");
    return;
  }
  s->prepared = 1;
  int rc = prepare(s);
  if (rc != PT_OK) {
    if (s->rc == PT_OK) s->rc = rc;
    stop(s, 1, PT_SUP_INTERRUPTED);
    return;
  }
  pump_compiles(s);
  dispatch_all(s);
  maybe_finish(s);
}

static void on_hello(pt_sup_t *s, slot_t *sl, const pt_gpu_props_t *props) {
  proc_t *p = sl->proc;
  uv_timer_stop(&p->timer);
  if (sl->helloed && strcmp(props->arch, sl->props.arch) != 0) {
    kill_proc(p, "came back with another arch");
    return;
  }
  if (sl->helloed) s->sum->restarts++;
  sl->props = *props;
  sl->helloed = 1;
  sl->hello_fails = 0;
  sl->state = sl->item >= 0 ? S_PENDING : S_IDLE;
  if (s->stopping) {
    close_input(sl);
    return;
  }
  if (!s->prepared) all_hello_check(s);
  else dispatch(s, sl);
}

static void on_message(pt_sup_t *s, slot_t *sl, const char *line) {
  pt_proto_msg_t msg;
  pt_err_t e;
  proc_t *p = sl->proc;
  if (pt_proto_parse(line, &msg, &e) != PT_OK) {
    logf_(s, sl->gpu, "protocol error: %s", e.msg);
    kill_proc(p, "protocol error");
    return;
  }
  int expected = (msg.type == PT_PROTO_HELLO && sl->state == S_STARTING) ||
                 (msg.type == PT_PROTO_BEGIN && sl->state == S_SENT) ||
                 (msg.type == PT_PROTO_RESULT &&
                  (sl->state == S_SENT || sl->state == S_RUNNING));
  if (expected && msg.type != PT_PROTO_HELLO) {
    int64_t id = msg.type == PT_PROTO_BEGIN ? msg.id : msg.result.id;
    expected = id == sl->job.id;
  }
  if (!expected) {
    logf_(s, sl->gpu, "protocol error: unexpected message '%.80s'", line);
    pt_proto_msg_free(&msg);
    kill_proc(p, "protocol error");
    return;
  }
  if (msg.type == PT_PROTO_HELLO) {
    on_hello(s, sl, &msg.props);
  } else if (msg.type == PT_PROTO_BEGIN) {
    sl->state = S_RUNNING;
    timer_start(p, s->o->item_timeout_s > 0 ? s->o->item_timeout_s : 60.0, on_timeout);
  } else {
    uv_timer_stop(&p->timer);
    finish_result(s, sl, &msg.result);
    sl->state = S_IDLE;
    /* A worker that lost its device exits: give it nothing more, restart it. */
    if (s->stopping || msg.result.fatal) close_input(sl);
    else dispatch(s, sl);
    maybe_finish(s);
  }
  pt_proto_msg_free(&msg);
}

static void on_out(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  proc_t *p = st->data;
  slot_t *sl = p->slot;
  (void)buf;
  if (nread == 0) return;  /* EAGAIN: nothing this time */
  if (nread == UV_EOF || nread < 0) {
    if (nread != UV_EOF) logf_(sl->sup, sl->gpu, "reading its output: %s", uv_strerror((int)nread));
    uv_read_stop(st);
    p->out_eof = 1;
    if (p->exited) proc_finished(p);
    return;
  }
  pt_buf_commit(&p->outbuf, (size_t)nread);
  for (char *line; !p->killed && (line = pt_buf_next_line(&p->outbuf)) != NULL;)
    on_message(sl->sup, sl, line);
}

static void on_err(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  proc_t *p = st->data;
  slot_t *sl = p->slot;
  (void)buf;
  if (nread == 0) return;
  if (nread < 0) {  /* UV_EOF or an error: either way no more stderr */
    uv_read_stop(st);
    return;
  }
  pt_buf_commit(&p->errbuf, (size_t)nread);
  for (char *line; (line = pt_buf_next_line(&p->errbuf)) != NULL;) {
    if (line[0] == '\0') continue;
    snprintf(p->last_err, sizeof p->last_err, "%s", line);
    logf_(sl->sup, sl->gpu, "%s", line);
  }
}

static void on_proc_exit(uv_process_t *h, int64_t status, int sig) {
  proc_t *p = h->data;
  p->exited = 1;
  p->exit_status = status;
  p->term_signal = sig;
  if (p->out_eof) proc_finished(p);
}

static void describe_exit(const proc_t *p, char *buf, size_t len) {
  int n;
  if (p->term_signal != 0)
    n = snprintf(buf, len, "worker killed by signal %d", p->term_signal);
  else
    n = snprintf(buf, len, "worker exited with status %lld", (long long)p->exit_status);
  if (p->last_err[0] != '\0' && n >= 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, ": %s", p->last_err);
}

/* The process is gone and its output read: settle its item, close it. */
static void proc_finished(proc_t *p) {
  slot_t *sl = p->slot;
  pt_sup_t *s = sl->sup;
  char why[REASON_MAX];
  uv_timer_stop(&p->timer);
  if ((sl->state == S_SENT || sl->state == S_RUNNING) && s->stopping < 2 &&
      !(p->killed && s->rc != PT_OK)) {
    pt_db_measurement_t m;
    measurement_base(s, &sl->job, sl->item, &m);
    if (p->timed_out) {
      m.status = PT_DB_STATUS_TIMEOUT;
      snprintf(why, sizeof why, "no result within %g s of the first launch",
               s->o->item_timeout_s > 0 ? s->o->item_timeout_s : 60.0);
    } else {
      m.status = PT_DB_STATUS_CRASH;
      describe_exit(p, why, sizeof why);
      if (p->killed) snprintf(why + strlen(why), sizeof why - strlen(why), " (%s)", p->why);
    }
    m.reason = why;
    logf_(s, sl->gpu, "%s: %s", pt_db_status_name(m.status), why);
    finish_job(s, sl, &m);
  } else if (sl->state == S_STARTING) {
    sl->hello_fails++;
    describe_exit(p, why, sizeof why);
    logf_(s, sl->gpu, "worker for gpu %d did not start: %s", sl->gpu, why);
  } else if (sl->state != S_CLOSING || p->exit_status != 0 || p->term_signal != 0) {
    describe_exit(p, why, sizeof why);
    if (!p->killed) logf_(s, sl->gpu, "%s", why);
  }
  if (sl->state == S_SENT || sl->state == S_RUNNING) sl->state = S_PENDING;
  p->open = 5;
  uv_close((uv_handle_t *)&p->proc, proc_handle_closed);
  uv_close((uv_handle_t *)&p->in, proc_handle_closed);
  uv_close((uv_handle_t *)&p->out, proc_handle_closed);
  uv_close((uv_handle_t *)&p->err, proc_handle_closed);
  uv_close((uv_handle_t *)&p->timer, proc_handle_closed);
}

/* Items of the run neither finished nor claimed: what a restarted worker
 * could still get. Before the plan exists, everything is left. */
static size_t items_unclaimed(pt_sup_t *s) {
  if (!s->prepared) return 1;
  size_t claimed = 0;
  for (int i = 0; i < s->nslots; i++) claimed += s->slots[i].item >= 0;
  return s->total > s->done + claimed ? s->total - s->done - claimed : 0;
}

/* After the last handle of a process closed: free it, maybe respawn (not
 * when nothing is left for it: starting a device context costs seconds). */
static void proc_gone(slot_t *sl) {
  pt_sup_t *s = sl->sup;
  int had_job = sl->item >= 0;
  sl->proc = NULL;
  sl->state = S_DOWN;
  if (sl->hello_fails >= HELLO_FAILS_MAX) {
    sl->gone = 1;
    logf_(s, sl->gpu, "giving up on gpu %d", sl->gpu);
  }
  int again = s->rc == PT_OK && !s->stopping && !sl->gone &&
              (had_job || (!sl->no_more && items_unclaimed(s) > 0));
  if (again) spawn(sl);
  if (!s->prepared) all_hello_check(s);
  maybe_finish(s);
}

static void proc_handle_closed(uv_handle_t *h) {
  proc_t *p = h->data;
  if (--p->open > 0) return;
  slot_t *sl = p->slot;
  pt_buf_free(&p->outbuf);
  pt_buf_free(&p->errbuf);
  free(p);
  proc_gone(sl);
}

static void spawn(slot_t *sl) {
  pt_sup_t *s = sl->sup;
  proc_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    fail(s, PT_ENOMEM, "out of memory for a worker");
    return;
  }
  int argc = 0;
  while (s->o->worker_argv[argc] != NULL) argc++;
  char gpu[16];
  const char **argv = calloc((size_t)argc + 3, sizeof *argv);
  if (argv == NULL) {
    free(p);
    fail(s, PT_ENOMEM, "out of memory for a worker");
    return;
  }
  memcpy(argv, s->o->worker_argv, (size_t)argc * sizeof *argv);
  snprintf(gpu, sizeof gpu, "%d", sl->gpu);
  argv[argc] = "--gpu";
  argv[argc + 1] = gpu;
  p->slot = sl;
  pt_buf_init(&p->outbuf);
  pt_buf_init(&p->errbuf);
  uv_pipe_init(&s->loop, &p->in, 0);
  uv_pipe_init(&s->loop, &p->out, 0);
  uv_pipe_init(&s->loop, &p->err, 0);
  uv_timer_init(&s->loop, &p->timer);
  p->in.data = p->out.data = p->err.data = p->timer.data = p->proc.data = p;
  uv_stdio_container_t stdio[3] = {
      {UV_CREATE_PIPE | UV_READABLE_PIPE, {.stream = (uv_stream_t *)&p->in}},
      {UV_CREATE_PIPE | UV_WRITABLE_PIPE, {.stream = (uv_stream_t *)&p->out}},
      {UV_CREATE_PIPE | UV_WRITABLE_PIPE, {.stream = (uv_stream_t *)&p->err}}};
  uv_process_options_t opt = {0};
  opt.exit_cb = on_proc_exit;
  opt.file = argv[0];
  opt.args = (char **)argv;
  opt.stdio = stdio;
  opt.stdio_count = 3;
  sl->proc = p;
  sl->state = S_STARTING;
  int rc = uv_spawn(&s->loop, &p->proc, &opt);
  free(argv);
  if (rc != 0) {
    snprintf(p->last_err, sizeof p->last_err, "cannot run '%s': %s",
             s->o->worker_argv[0], uv_strerror(rc));
    p->exited = p->out_eof = 1;
    p->exit_status = 127;
    proc_finished(p);
    return;
  }
  uv_read_start((uv_stream_t *)&p->out, on_alloc, on_out);
  uv_read_start((uv_stream_t *)&p->err, on_alloc, on_err);
  double setup = s->o->setup_timeout_s > 0 ? s->o->setup_timeout_s : 600.0;
  timer_start(p, setup, on_timeout);
}

/* ---- preparing a GPU run ---- */

typedef struct done_ctx_s {
  pt_sup_t *s;
  size_t overlap;
} done_ctx_t;

static int on_done_item(void *ud, int64_t problem_id, int64_t variant_id,
                        pt_db_regime_t regime, pt_db_status_t status) {
  done_ctx_t *c = ud;
  (void)status;
  pt_db_regime_t want = c->s->o->warm ? PT_DB_REGIME_WARM : PT_DB_REGIME_COLD;
  int i = regime == want ? find_item(c->s, problem_id, variant_id) : -1;
  if (i >= 0 && !c->s->items[i].done) {
    c->s->items[i].done = 1;
    c->overlap++;
  }
  return 0;
}

static int add_jobs(pt_sup_t *s) {
  const pt_plan_t *plan = s->o->plan;
  pt_db_job_t *jobs = calloc(plan->nitems > 0 ? plan->nitems : 1, sizeof *jobs);
  if (jobs == NULL) return pt_err_set(s->err, PT_ENOMEM, "out of memory for jobs");
  for (size_t i = 0; i < plan->nitems; i++) {
    jobs[i].problem_id = s->items[i].problem_id;
    jobs[i].variant_id = s->units[s->items[i].unit].variant_id;
    jobs[i].regime = s->o->warm ? PT_DB_REGIME_WARM : PT_DB_REGIME_COLD;
    snprintf(jobs[i].arch, sizeof jobs[i].arch, "%s", s->sum->arch);
  }
  size_t ready = 0;
  int rc = pt_db_jobs_add(s->o->db, s->run_id, jobs, plan->nitems, &ready);
  free(jobs);
  if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  s->total = ready;
  return PT_OK;
}

static int check_arch(pt_sup_t *s, const slot_t **first) {
  *first = NULL;
  for (int i = 0; i < s->nslots; i++) {
    const slot_t *sl = &s->slots[i];
    if (sl->state != S_IDLE) continue;
    if (*first == NULL) *first = sl;
    else if (strcmp((*first)->props.arch, sl->props.arch) != 0)
      return pt_err_set(s->err, PT_EINVAL,
                        "gpus %d and %d differ in arch (%s, %s); tune them in "
                        "separate runs with --gpus", (*first)->gpu, sl->gpu,
                        (*first)->props.arch, sl->props.arch);
  }
  return PT_OK;
}

static int prepare(pt_sup_t *s) {
  const slot_t *first = NULL;
  pt_limits_t lim;
  int rc = check_arch(s, &first);
  if (rc != PT_OK) return rc;
  snprintf(s->sum->arch, sizeof s->sum->arch, "%s", first->props.arch);
  pt_constraints_limits_from_props(&first->props, &lim);
  /* Until the refusal below, in one transaction: a refused run leaves the
   * database byte-identical. */
  rc = pt_db_begin(s->o->db);
  if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  rc = store_plan(s);
  if (rc == PT_OK) rc = plan_units(s, s->sum->arch, &lim);
  for (int i = 0; rc == PT_OK && i < s->nslots; i++) {
    slot_t *sl = &s->slots[i];
    if (sl->state != S_IDLE) continue;
    rc = pt_db_put_device(s->o->db, s->o->host, &sl->props, &sl->device_id);
    if (rc != PT_OK) rc = pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  }
  done_ctx_t dc = {s, 0};
  if (rc == PT_OK) rc = pt_db_done(s->o->db, s->sum->arch, on_done_item, &dc);
  if (rc != PT_OK && s->err->code == PT_OK)
    rc = pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  if (rc == PT_OK && dc.overlap > 0 && !s->o->resume)
    rc = pt_err_set(s->err, PT_EINVAL,
                    "'%s' already holds results for %zu of the %zu planned "
                    "items on %s; pass --resume to skip them or use another --db",
                    pt_db_path(s->o->db), dc.overlap, s->o->plan->nitems,
                    s->sum->arch);
  int end = pt_db_end(s->o->db, rc);
  if (rc == PT_OK && end != PT_OK)
    rc = pt_err_set(s->err, end, "%s", pt_db_errmsg(s->o->db));
  if (rc != PT_OK) return rc;
  int reaped = 0;
  rc = pt_db_runs_reap(s->o->db, s->o->host, &reaped);
  if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  if (reaped > 0) logf_(s, -1, "marked %d dead run(s) of %s interrupted", reaped, s->o->host);
  s->sum->skipped = dc.overlap;
  for (size_t i = 0; i < s->o->plan->nitems; i++) {
    unit_t *u = &s->units[s->items[i].unit];
    if (s->items[i].done) continue;
    u->needed = 1;
    if (u->reduce >= 0) s->units[u->reduce].needed = 1;
  }
  for (int i = 0; i < s->nunits; i++) {
    if (s->units[i].needed && s->units[i].state == U_NEW) s->units_needed++;
    if (s->units[i].state == U_INFEASIBLE) s->sum->infeasible++;
  }
  rc = pt_db_run_begin(s->o->db, s->o->host, s->o->command, &s->run_id);
  if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  s->sum->run_id = s->run_id;
  return add_jobs(s);
}

/* ---- signals and the budget ---- */

static void on_signal(uv_signal_t *h, int signum) {
  pt_sup_t *s = h->data;
  int forced = s->stopping > 0;
  logf_(s, -1, "%s: %s", signum == SIGINT ? "interrupted" : "terminated",
        forced ? "stopping the workers now" : "finishing the items in flight");
  stop(s, forced, PT_SUP_INTERRUPTED);
}

static void on_budget(uv_timer_t *t) {
  pt_sup_t *s = t->data;
  logf_(s, -1, "budget reached: finishing the items in flight");
  stop(s, 0, PT_SUP_BUDGET);
}

static void start_controls(pt_sup_t *s) {
  if (s->o->handle_signals) {
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    s->signals_on = 1;
  }
  if (s->o->budget_s > 0) {
    uv_timer_init(&s->loop, &s->budget);
    s->budget.data = s;
    uv_timer_start(&s->budget, on_budget, (uint64_t)(s->o->budget_s * 1000.0), 0);
    s->budget_on = 1;
  }
}

/* ---- the run ---- */

static int check_opts(const pt_sup_opts_t *o, pt_err_t *err) {
  if (o->db == NULL || o->plan == NULL)
    return pt_err_set(err, PT_EINVAL, "a database and a plan are needed");
  if (o->ngpus > 0 && (o->worker_argv == NULL || o->worker_argv[0] == NULL))
    return pt_err_set(err, PT_EINVAL, "no worker command");
  if (o->ngpus == 0 && o->arch == NULL)
    return pt_err_set(err, PT_EINVAL, "compile-checking needs an arch");
  for (int i = 0; i < o->ngpus; i++)
    for (int j = 0; j < i; j++)
      if (o->gpus[i] == o->gpus[j] || o->gpus[i] < 0)
        return pt_err_set(err, PT_EINVAL, "option --gpus: gpu %d is listed twice",
                          o->gpus[i]);
  return PT_OK;
}

static int compile_only(pt_sup_t *s) {
  pt_limits_t lim;
  snprintf(s->sum->arch, sizeof s->sum->arch, "%s", s->o->arch);
  int rc = store_plan(s);
  if (rc == PT_OK) rc = pt_constraints_limits_for_arch(s->o->arch, &lim, s->err);
  if (rc == PT_OK) rc = plan_units(s, s->o->arch, &lim);
  if (rc != PT_OK) return rc;
  for (int i = 0; i < s->nunits; i++) {
    unit_t *u = &s->units[i];
    if (u->state == U_INFEASIBLE) s->sum->infeasible++;
    if (u->state != U_NEW) continue;
    u->needed = 1;
    s->units_needed++;
  }
  pump_compiles(s);
  return PT_OK;
}

static void free_sup(pt_sup_t *s) {
  free(s->units);
  free(s->items);
  free(s->index);
  free(s->problem_ids);
  free(s->best_us);
  free(s->best_unit);
  free(s->slots);
}

static int setup(pt_sup_t *s) {
  const char *routing = s->o->routing != NULL ? s->o->routing : "uniform";
  int rc = pt_routing_parse(routing, &s->routing_parsed, s->err);
  if (rc != PT_OK) return pt_err_prefix(s->err, "option --routing");
  pt_routing_format(&s->routing_parsed, s->routing, sizeof s->routing);
  rc = build_units(s);
  s->sum->planned = s->o->plan->nitems;
  s->sum->units = s->nunits;
  return rc;
}

static int start_workers(pt_sup_t *s) {
  s->nslots = s->o->ngpus;
  s->slots = calloc((size_t)s->nslots, sizeof *s->slots);
  if (s->slots == NULL) return pt_err_set(s->err, PT_ENOMEM, "out of memory");
  for (int i = 0; i < s->nslots; i++) {
    s->slots[i].sup = s;
    s->slots[i].gpu = s->o->gpus[i];
    s->slots[i].item = -1;
  }
  start_controls(s);
  for (int i = 0; i < s->nslots && s->rc == PT_OK; i++) spawn(&s->slots[i]);
  return PT_OK;
}

static void end_run(pt_sup_t *s) {
  if (s->run_id == 0) return;
  int n = 0;
  pt_db_run_status_t st = s->rc != PT_OK             ? PT_DB_RUN_FAILED
                          : s->sum->end == PT_SUP_FINISHED ? PT_DB_RUN_DONE
                                                           : PT_DB_RUN_INTERRUPTED;
  int rc = pt_db_jobs_requeue(s->o->db, s->run_id, &n);
  if (rc == PT_OK) rc = pt_db_run_finish(s->o->db, s->run_id, st);
  if (rc != PT_OK && s->rc == PT_OK) {
    s->rc = rc;
    pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  }
}

int pt_sup_run(const pt_sup_opts_t *opts, pt_sup_summary_t *sum, pt_err_t *err) {
  pt_sup_t s;
  memset(&s, 0, sizeof s);
  memset(sum, 0, sizeof *sum);
  s.o = opts;
  s.sum = sum;
  s.err = err;
  s.t_start = uv_hrtime();
  pt_err_clear(err);
  int rc = check_opts(opts, err);
  if (rc != PT_OK) return rc;
  rc = uv_loop_init(&s.loop);
  if (rc != 0) return pt_err_set(err, PT_EIO, "cannot start the event loop: %s", uv_strerror(rc));
  rc = setup(&s);
  if (rc == PT_OK) rc = opts->ngpus == 0 ? compile_only(&s) : start_workers(&s);
  if (rc != PT_OK) s.rc = rc;
  if (rc != PT_OK && opts->ngpus > 0) stop(&s, 1, PT_SUP_INTERRUPTED);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  end_run(&s);
  if (s.t_compile_first != 0 && s.t_compile_last != 0)
    sum->compile_wall_s = (double)(s.t_compile_last - s.t_compile_first) / 1e9;
  sum->wall_s = since_s(s.t_start);
  if (s.rc == PT_OK && sum->end == PT_SUP_FINISHED && opts->ngpus > 0 &&
      s.done < s.total)
    s.rc = pt_err_set(err, PT_EIO, "%zu of %zu items got no result", s.total - s.done,
                      s.total);
  uv_loop_close(&s.loop);
  free_sup(&s);
  return s.rc;
}
