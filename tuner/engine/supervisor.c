/* The tuning supervisor (see supervisor.h): the dispatch between the plan's
 * compile units (units.h), the worker pool (pool.h) and the run in the DB
 * (record.h), plus the progress events, the budget and the signals.
 *
 * Everything runs on the loop thread except the compiler calls. A slot
 * claims jobs in plan order; an item whose unit is infeasible or failed to
 * compile is recorded at once, one whose code is not compiled yet waits in
 * its slot (claimed) until a compile returns and the pool is kicked.
 */
#include "supervisor.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "constraints.h"
#include "pool.h"
#include "proto.h"
#include "record.h"
#include "routing.h"

#define REASON_MAX 1280

/* The supervisor's side of a pool slot. */
typedef struct slot_s {
  int gpu;
  int64_t device_id;
  pt_db_job_t job;       /* while item >= 0 */
  int item;              /* claimed: sent, or waiting for its code; else -1 */
  int no_more;           /* no job left to claim */
} slot_t;

typedef struct pt_sup_s {
  const pt_sup_opts_t *o;
  pt_sup_summary_t *sum;
  pt_err_t *err;
  int rc;                /* first fatal error */
  uv_loop_t loop;
  char routing[32];
  pt_routing_t routing_parsed;
  pt_units_opts_t units_opts;
  pt_units_t *units;
  pt_record_t *rec;
  pt_pool_t *pool;
  unsigned char *skip;   /* [item] already in the DB (skipped) */
  double *best_us;       /* [problem][stage] */
  int *best_unit;
  slot_t *slots;
  int nslots;
  int prepared;
  int stopping;          /* 1 graceful, 2 forced */
  int64_t run_id;
  size_t total, done;
  uint64_t t_start, t_first_send, t_compile;
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

static void first_error(pt_sup_t *s, int rc, const char *msg) {
  if (s->rc != PT_OK) return;
  s->rc = rc;
  pt_err_set(s->err, rc, "%s", msg);
}

/* Records the first fatal error and stops everything. */
static void fail(pt_sup_t *s, int rc, const char *msg) {
  first_error(s, rc, msg);
  stop(s, 1, PT_SUP_INTERRUPTED);
}

static double since_s(uint64_t t0) {
  return t0 == 0 ? 0.0 : (double)(uv_hrtime() - t0) / 1e9;
}

/* Once nothing compiles and no worker is left, the signal and budget
 * handles close and the loop ends. */
static void maybe_finish(pt_sup_t *s) {
  if (s->units != NULL && pt_units_busy(s->units)) return;
  if (s->pool != NULL && pt_pool_busy(s->pool)) return;
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
  if (s->units != NULL) pt_units_stop(s->units);
  if (s->pool != NULL) pt_pool_stop(s->pool, forced);
  maybe_finish(s);
}

/* ---- compile units ---- */

static void on_settled(void *ud, const pt_units_event_t *ev) {
  pt_sup_t *s = ud;
  pt_sup_event_t e = {.type = PT_SUP_EV_COMPILED, .gpu = -1, .spec = ev->label,
                      .cached = ev->cached, .compile_ok = ev->ok,
                      .compiled = ev->settled, .compile_total = ev->needed,
                      .msg = ev->reason, .elapsed_s = since_s(s->t_compile)};
  emit(s, &e);
}

static void start_units(pt_sup_t *s) {
  s->t_compile = uv_hrtime();
  pt_units_start(s->units);
}

static void on_returned(void *ud) {
  pt_sup_t *s = ud;
  if (s->pool != NULL) pt_pool_kick(s->pool);
  maybe_finish(s);
}

static void on_units_failed(void *ud, int rc, const char *msg) { fail(ud, rc, msg); }

/* ---- recording ---- */

static int unit_of(const pt_sup_t *s, int item) {
  return pt_units_of_item(s->units, (size_t)item);
}

static void result_event(pt_sup_t *s, const slot_t *sl, int item, const pt_db_measurement_t *m) {
  const pt_plan_t *p = s->o->plan;
  const pt_plan_item_t *it = &p->items[item];
  int unit = pt_units_of_item(s->units, (size_t)item);
  int b = it->problem * PT_STAGE_COUNT + (int)it->variant.stage;
  if (m->status == PT_DB_STATUS_OK && m->median_us < s->best_us[b]) {
    s->best_us[b] = m->median_us;
    s->best_unit[b] = unit;
  }
  pt_sup_event_t ev = {
      .type = PT_SUP_EV_RESULT, .gpu = sl->gpu, .spec = pt_units_spec(s->units, unit),
      .problem = &p->problems[it->problem], .stage = it->variant.stage,
      .status = pt_db_status_name(m->status), .median_us = m->median_us,
      .msg = m->reason != NULL && m->reason[0] != '\0' ? m->reason : NULL,
      .best_us = s->best_us[b],
      .best_spec = s->best_unit[b] >= 0 ? pt_units_spec(s->units, s->best_unit[b]) : NULL,
      .done = s->done, .total = s->total, .elapsed_s = since_s(s->t_first_send),
      .pair = p->pairs, .spec2 = p->pairs ? pt_units_spec(s->units, unit_of(s, item + 1)) : NULL};
  emit(s, &ev);
}

static void measurement_base(pt_sup_t *s, int item, pt_db_measurement_t *m) {
  pt_db_measurement_init(m);
  pt_units_stamp(s->units, pt_units_of_item(s->units, (size_t)item), m);
}

/* A pair plan's result: m's outcome with both stages' provenance. */
static void pair_of(const pt_sup_t *s, int item, const pt_db_measurement_t *m,
                    pt_db_pair_t *p) {
  pt_db_measurement_t m2;
  pt_db_measurement_init(&m2);
  pt_units_stamp(s->units, unit_of(s, item + 1), &m2);
  pt_db_pair_init(p);
  p->status = m->status;
  p->median_us = m->median_us;
  p->min_us = m->min_us;
  p->p90_us = m->p90_us;
  p->spread = m->spread;
  p->samples = m->samples;
  p->err_max_rel = m->err_max_rel;
  p->sm_clock_mhz = m->sm_clock_mhz;
  p->temp_c = m->temp_c;
  p->reason = m->reason;
  p->compiler = m->compiler;
  p->g1_source_hash = m->source_hash;
  p->g2_source_hash = m2.source_hash;
}

/* Files m as the result of the slot's job (or pair); m then says what was
 * filed. */
static int file_result(pt_sup_t *s, slot_t *sl, int item, pt_db_measurement_t *m,
                       pt_err_t *e) {
  if (!s->o->plan->pairs) return pt_record_finish(s->rec, &sl->job, sl->device_id, m, e);
  pt_db_pair_t p;
  pair_of(s, item, m, &p);
  int rc = pt_record_pair_finish(s->rec, item, sl->device_id, &p, e);
  m->status = p.status;
  m->reason = p.reason;
  return rc;
}

/* Files the slot's job and clears its item: settled, nothing for a
 * restarted worker to redo. */
static void finish_job(pt_sup_t *s, slot_t *sl, pt_db_measurement_t *m) {
  pt_err_t e;
  int item = sl->item;
  sl->item = -1;
  if (file_result(s, sl, item, m, &e) != PT_OK) {
    fail(s, e.code, e.msg);
    return;
  }
  s->done++;
  s->sum->done++;
  s->sum->by_status[m->status]++;
  result_event(s, sl, item, m);
}

/* An item settled without a worker: infeasible or compile_fail. */
static void finish_static(pt_sup_t *s, slot_t *sl, pt_db_status_t status,
                          const char *reason) {
  pt_db_measurement_t m;
  measurement_base(s, sl->item, &m);
  m.status = status;
  m.reason = reason;
  finish_job(s, sl, &m);
}

/* ---- the pool's callbacks ---- */

static void all_hello_check(pt_sup_t *s);

/* Claims the slot's next job: PT_OK, PT_ENOENT when none is left, or a
 * failure (the run stops). */
static int claim(pt_sup_t *s, slot_t *sl) {
  pt_err_t e;
  int rc = s->o->plan->pairs ? pt_record_claim_pair(s->rec, &sl->job, &sl->item)
                             : pt_record_claim(s->rec, sl->device_id, &sl->job, &sl->item, &e);
  if (rc != PT_OK && rc != PT_ENOENT) fail(s, rc, e.msg);
  return rc;
}

static void item_message(pt_sup_t *s, const slot_t *sl, pt_proto_item_t *it) {
  const pt_plan_t *plan = s->o->plan;
  const pt_plan_item_t *pi = &plan->items[sl->item];
  const pt_plan_problem_t *pr = &plan->problems[pi->problem];
  memset(it, 0, sizeof *it);
  it->id = sl->job.id;
  it->variant = pi->variant;
  snprintf(it->family, sizeof it->family, "%s", pr->family->name);
  it->shape = pr->shape;
  it->tokens = pr->tokens;
  snprintf(it->routing, sizeof it->routing, "%s", s->routing);
  it->seed = s->o->seed;
  it->warm = s->o->warm;
  snprintf(it->arch, sizeof it->arch, "%s", s->sum->arch);
  it->min_samples = s->o->min_samples > 0 ? s->o->min_samples : 25;
  it->min_ms = s->o->min_ms >= 0.0 ? s->o->min_ms : 200.0;
  it->pair = plan->pairs;
  if (plan->pairs) it->pair_variant = plan->items[sl->item + 1].variant;
}

static void free_codes(pt_db_code_t *a, pt_db_code_t *b, pt_db_code_t *c, pt_db_code_t *d) {
  pt_db_code_free(a);
  pt_db_code_free(b);
  pt_db_code_free(c);
  pt_db_code_free(d);
}

/* The slot's claimed item as a task, with its code from the compile cache. */
static pt_pool_next_t make_task(pt_sup_t *s, slot_t *sl, pt_pool_task_t *task) {
  pt_db_code_t code = {0}, rcode = {0}, code2 = {0}, rcode2 = {0};
  pt_proto_item_t it;
  pt_err_t e;
  int pairs = s->o->plan->pairs;
  int rc = pt_units_code(s->units, unit_of(s, sl->item), &code, &rcode, &e);
  if (rc == PT_OK && pairs)
    rc = pt_units_code(s->units, unit_of(s, sl->item + 1), &code2, &rcode2, &e);
  if (rc != PT_OK) {
    free_codes(&code, &rcode, &code2, &rcode2);
    fail(s, e.code, e.msg);
    return PT_POOL_WAIT;
  }
  item_message(s, sl, &it);
  it.code = code.data;
  it.code_size = code.size;
  /* A pair's reduce kernel is its gemm2's. */
  it.reduce_code = pairs ? rcode2.data : rcode.data;
  it.reduce_code_size = pairs ? rcode2.size : rcode.size;
  it.pair_code = code2.data;
  it.pair_code_size = code2.size;
  task->id = sl->job.id;
  task->line = pt_proto_item(&it);
  free_codes(&code, &rcode, &code2, &rcode2);
  if (s->t_first_send == 0) s->t_first_send = uv_hrtime();
  return PT_POOL_TASK;
}

/* Whether an item's code (both codes of a pair) is ready; a pair settles
 * as its first unit that cannot run. */
static pt_units_ready_t item_ready(const pt_sup_t *s, int item, pt_db_status_t *status,
                                   const char **why) {
  pt_units_ready_t r = pt_units_ready(s->units, unit_of(s, item), status, why);
  if (!s->o->plan->pairs || r == PT_UNITS_SETTLED) return r;
  pt_units_ready_t r2 = pt_units_ready(s->units, unit_of(s, item + 1), status, why);
  return r2 == PT_UNITS_SETTLED ? r2 : r == PT_UNITS_READY ? r2 : r;
}

/* An idle slot's next item: claims jobs in plan order, settles the ones no
 * worker needs, hands out the first whose code is ready. */
static pt_pool_next_t next_task(void *ud, int slot, pt_pool_task_t *task) {
  pt_sup_t *s = ud;
  slot_t *sl = &s->slots[slot];
  pt_db_status_t status;
  const char *why;
  if (!s->prepared) all_hello_check(s);
  while (s->prepared && s->rc == PT_OK && !s->stopping) {
    int rc = sl->item < 0 ? claim(s, sl) : PT_OK;
    if (rc == PT_ENOENT) {
      sl->no_more = 1;
      return PT_POOL_NONE;
    }
    if (rc != PT_OK) break;
    pt_units_ready_t ready = item_ready(s, sl->item, &status, &why);
    if (ready == PT_UNITS_READY) return make_task(s, sl, task);
    if (ready == PT_UNITS_WAIT) break;
    finish_static(s, sl, status, why);
  }
  return PT_POOL_WAIT;
}

static void task_done(void *ud, int slot, const pt_pool_done_t *d) {
  pt_sup_t *s = ud;
  slot_t *sl = &s->slots[slot];
  pt_db_measurement_t m;
  char why[REASON_MAX];
  if (d->end == PT_POOL_CANCELLED) return;  /* still claimed: sent again or requeued */
  measurement_base(s, sl->item, &m);
  if (d->end == PT_POOL_RESULT) {
    pt_record_from_result(&m, d->result, why, sizeof why);
  } else {
    m.status = d->end == PT_POOL_TIMEOUT ? PT_DB_STATUS_TIMEOUT : PT_DB_STATUS_CRASH;
    m.reason = d->reason;
    logf_(s, sl->gpu, "%s: %s", pt_db_status_name(m.status), d->reason);
  }
  finish_job(s, sl, &m);
}

/* Items of the run neither finished nor claimed: what a restarted worker
 * could still get. Before the plan exists, everything is left. */
static size_t items_unclaimed(const pt_sup_t *s) {
  if (!s->prepared) return 1;
  size_t claimed = 0;
  for (int i = 0; i < s->nslots; i++) claimed += s->slots[i].item >= 0;
  return s->total > s->done + claimed ? s->total - s->done - claimed : 0;
}

/* A slot's worker is gone: start another unless nothing is left for it
 * (starting a device context costs seconds). */
static void on_exited(void *ud, int slot) {
  pt_sup_t *s = ud;
  const slot_t *sl = &s->slots[slot];
  pt_err_t e;
  int again = s->rc == PT_OK && !s->stopping &&
              (sl->item >= 0 || (!sl->no_more && items_unclaimed(s) > 0));
  if (again && pt_pool_start(s->pool, slot, &e) != PT_OK) fail(s, e.code, e.msg);
  if (!s->prepared) all_hello_check(s);
  maybe_finish(s);
}

static void on_log(void *ud, int slot, const char *msg) {
  pt_sup_t *s = ud;
  logf_(s, s->slots[slot].gpu, "%s", msg);
}

/* ---- preparing a GPU run ---- */

static int check_arch(pt_sup_t *s, int *first) {
  *first = -1;
  for (int i = 0; i < s->nslots; i++) {
    if (pt_pool_state(s->pool, i) != PT_POOL_IDLE) continue;
    const char *arch = pt_pool_props(s->pool, i)->arch;
    if (s->o->plan->pairs && s->o->arch != NULL && strcmp(arch, s->o->arch) != 0)
      return pt_err_set(s->err, PT_EINVAL,
                        "the pairs come from the table of %s but gpu %d is %s; pick "
                        "the table with --arch", s->o->arch, s->slots[i].gpu, arch);
    if (*first < 0) {
      *first = i;
      continue;
    }
    const char *a = pt_pool_props(s->pool, *first)->arch, *b = pt_pool_props(s->pool, i)->arch;
    if (strcmp(a, b) != 0)
      return pt_err_set(s->err, PT_EINVAL,
                        "gpus %d and %d differ in arch (%s, %s); tune them in "
                        "separate runs with --gpus", s->slots[*first].gpu, s->slots[i].gpu,
                        a, b);
  }
  return PT_OK;
}

static int put_devices(pt_sup_t *s) {
  for (int i = 0; i < s->nslots; i++) {
    if (pt_pool_state(s->pool, i) != PT_POOL_IDLE) continue;
    int rc = pt_db_put_device(s->o->db, s->o->host, pt_pool_props(s->pool, i),
                              &s->slots[i].device_id);
    if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  }
  return PT_OK;
}

/* Items already measured are refused, or skipped with resume; the units of
 * the others are needed. */
static int skip_measured(pt_sup_t *s) {
  int pairs = s->o->plan->pairs;
  size_t n = s->o->plan->nitems, overlap = 0;
  unsigned char *done = s->skip = calloc(n > 0 ? n : 1, 1);
  if (done == NULL) return pt_err_set(s->err, PT_ENOMEM, "out of memory");
  int rc = pairs ? pt_record_pairs_measured(s->rec, s->sum->arch, done, &overlap, s->err)
                 : pt_record_measured(s->rec, s->sum->arch, done, &overlap, s->err);
  if (rc == PT_OK && overlap > 0 && !s->o->resume)
    rc = pt_err_set(s->err, PT_EINVAL,
                    "'%s' already holds results for %zu of the %zu planned "
                    "%s on %s; pass --resume to skip them or use another --db",
                    pt_db_path(s->o->db), overlap, s->sum->planned,
                    pairs ? "pairs" : "items", s->sum->arch);
  if (rc == PT_OK) {
    s->sum->skipped = overlap;
    pt_units_need(s->units, done);
  }
  return rc;
}

/* The plan's sources, variants and problems in the database, and the index
 * from their ids to items. */
static int store_plan(pt_sup_t *s) {
  const pt_plan_t *p = s->o->plan;
  int rc = pt_units_store(s->units, s->err);
  int64_t *variant_ids = malloc((p->nitems > 0 ? p->nitems : 1) * sizeof *variant_ids);
  if (rc == PT_OK && variant_ids == NULL) rc = pt_err_set(s->err, PT_ENOMEM, "out of memory");
  for (size_t i = 0; rc == PT_OK && i < p->nitems; i++)
    variant_ids[i] = pt_units_variant_id(s->units, pt_units_of_item(s->units, i));
  if (rc == PT_OK) rc = pt_record_store(s->rec, variant_ids, s->err);
  free(variant_ids);
  return rc;
}

/* The retune this run belongs to: the one named, else with resume the
 * newest, else a new one (nothing measured before it counts). */
static int find_retune(pt_sup_t *s) {
  int64_t of = s->o->retune_of;
  if (!s->o->retune) return PT_OK;
  if (of <= 0 && s->o->resume) {
    int rc = pt_db_retune_latest(s->o->db, &of);
    if (rc != PT_OK && rc != PT_ENOENT)
      return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
    if (rc == PT_ENOENT) of = 0;
  }
  pt_record_retune(s->rec, of > 0 ? of : 0, of > 0 ? of : INT64_MAX);
  return PT_OK;
}

/* Everything up to the refusal of measured items in one transaction: a
 * refused run leaves the database byte-identical. */
static int store_and_check(pt_sup_t *s, const pt_limits_t *lim) {
  int rc = pt_db_begin(s->o->db);
  if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  rc = store_plan(s);
  if (rc == PT_OK) rc = find_retune(s);
  if (rc == PT_OK) rc = pt_units_target(s->units, s->sum->arch, lim, s->err);
  if (rc == PT_OK) rc = put_devices(s);
  if (rc == PT_OK) rc = skip_measured(s);
  int end = pt_db_end(s->o->db, rc);
  if (rc == PT_OK && end != PT_OK) rc = pt_err_set(s->err, end, "%s", pt_db_errmsg(s->o->db));
  return rc;
}

/* Runs of this host whose process is gone are marked interrupted. */
static int reap_dead_runs(pt_sup_t *s) {
  int reaped = 0;
  int rc = pt_db_runs_reap(s->o->db, s->o->host, &reaped);
  if (rc != PT_OK) return pt_err_set(s->err, rc, "%s", pt_db_errmsg(s->o->db));
  if (reaped > 0) logf_(s, -1, "marked %d dead run(s) of %s interrupted", reaped, s->o->host);
  return PT_OK;
}

static int prepare(pt_sup_t *s) {
  int first;
  pt_limits_t lim;
  int rc = check_arch(s, &first);
  if (rc != PT_OK) return rc;
  const pt_gpu_props_t *props = pt_pool_props(s->pool, first);
  snprintf(s->sum->arch, sizeof s->sum->arch, "%s", props->arch);
  pt_constraints_limits_from_props(props, &lim);
  rc = store_and_check(s, &lim);
  if (rc == PT_OK) rc = reap_dead_runs(s);
  if (rc == PT_OK && s->o->plan->pairs)
    rc = pt_record_begin_pairs(s->rec, s->o->host, s->o->command, s->skip, &s->run_id,
                               &s->total, s->err);
  else if (rc == PT_OK)
    rc = pt_record_begin(s->rec, s->o->host, s->o->command, s->sum->arch, &s->run_id,
                         &s->total, s->err);
  s->sum->run_id = s->run_id;
  s->sum->retune_of = pt_record_retune_of(s->rec);
  return rc;
}

/* Once every worker said hello or was given up: the plan meets the
 * devices, compiles start and the slots get their items. */
static void all_hello_check(pt_sup_t *s) {
  if (s->prepared || s->rc != PT_OK) return;
  int ready = 0;
  for (int i = 0; i < s->nslots; i++) {
    pt_pool_state_t st = pt_pool_state(s->pool, i);
    if (st == PT_POOL_STARTING) return;
    ready += st == PT_POOL_IDLE;
  }
  if (ready == 0) {
    if (!s->stopping) fail(s, PT_ENOGPU, "no worker could open its gpu");
    return;
  }
  s->prepared = 1;
  int rc = prepare(s);
  if (rc != PT_OK) {
    s->rc = rc;
    stop(s, 1, PT_SUP_INTERRUPTED);
    return;
  }
  start_units(s);
  pt_pool_kick(s->pool);
  maybe_finish(s);
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
  if (rc == PT_OK) rc = pt_units_target(s->units, s->o->arch, &lim, s->err);
  if (rc != PT_OK) return rc;
  pt_units_need(s->units, NULL);
  start_units(s);
  return PT_OK;
}

static int new_units(pt_sup_t *s) {
  const pt_sup_opts_t *o = s->o;
  s->units_opts = (pt_units_opts_t){
      .db = o->db, .loop = &s->loop, .compile = o->compile, .compile_ud = o->compile_ud,
      .compiler = o->compiler, .jobs = o->jobs, .settled = on_settled,
      .returned = on_returned, .failed = on_units_failed, .ud = s};
  return pt_units_new(&s->units_opts, o->plan, &s->units, s->err);
}

static int new_record(pt_sup_t *s) {
  pt_record_opts_t ro = {s->o->db, s->o->plan, &s->routing_parsed, s->o->seed,
                         s->o->warm ? PT_DB_REGIME_WARM : PT_DB_REGIME_COLD,
                         .holdout = s->o->holdout, .retune_of = -1};
  return pt_record_new(&ro, &s->rec, s->err);
}

static int new_best(pt_sup_t *s) {
  size_t n = (size_t)s->o->plan->nproblems * PT_STAGE_COUNT;
  s->best_us = malloc((n > 0 ? n : 1) * sizeof *s->best_us);
  s->best_unit = malloc((n > 0 ? n : 1) * sizeof *s->best_unit);
  if (s->best_us == NULL || s->best_unit == NULL)
    return pt_err_set(s->err, PT_ENOMEM, "out of memory for problems");
  for (size_t i = 0; i < n; i++) {
    s->best_us[i] = INFINITY;
    s->best_unit[i] = -1;
  }
  return PT_OK;
}

static int setup(pt_sup_t *s) {
  const char *routing = s->o->routing != NULL ? s->o->routing : "uniform";
  int rc = pt_routing_parse(routing, &s->routing_parsed, s->err);
  if (rc != PT_OK) return pt_err_prefix(s->err, "option --routing");
  pt_routing_format(&s->routing_parsed, s->routing, sizeof s->routing);
  rc = new_units(s);
  if (rc == PT_OK) rc = new_record(s);
  if (rc == PT_OK) rc = new_best(s);
  s->sum->planned = s->o->plan->pairs ? s->o->plan->nitems / 2 : s->o->plan->nitems;
  return rc;
}

static int start_workers(pt_sup_t *s) {
  const pt_sup_opts_t *o = s->o;
  s->nslots = o->ngpus;
  s->slots = calloc((size_t)s->nslots, sizeof *s->slots);
  if (s->slots == NULL) return pt_err_set(s->err, PT_ENOMEM, "out of memory");
  for (int i = 0; i < s->nslots; i++) s->slots[i] = (slot_t){.gpu = o->gpus[i], .item = -1};
  pt_pool_opts_t po = {
      .loop = &s->loop, .argv = o->worker_argv, .gpus = o->gpus, .nslots = s->nslots,
      .item_timeout_s = o->item_timeout_s, .setup_timeout_s = o->setup_timeout_s,
      .next_task = next_task, .task_done = task_done, .exited = on_exited,
      .log = on_log, .ud = s};
  int rc = pt_pool_new(&po, &s->pool, s->err);
  if (rc != PT_OK) return rc;
  start_controls(s);
  for (int i = 0; i < s->nslots && s->rc == PT_OK; i++) {
    pt_err_t e;
    if (pt_pool_start(s->pool, i, &e) != PT_OK) fail(s, e.code, e.msg);
  }
  return PT_OK;
}

static void end_run(pt_sup_t *s) {
  pt_err_t e;
  pt_db_run_status_t st = s->rc != PT_OK                  ? PT_DB_RUN_FAILED
                          : s->sum->end == PT_SUP_FINISHED ? PT_DB_RUN_DONE
                                                           : PT_DB_RUN_INTERRUPTED;
  int rc = pt_record_end(s->rec, st, &e);
  if (rc != PT_OK) first_error(s, rc, e.msg);
}

static void summarize(pt_sup_t *s) {
  pt_units_stats_t st = {0};
  if (s->units != NULL) pt_units_stats(s->units, &st);
  s->sum->units = st.units;
  s->sum->compiled = st.compiled;
  s->sum->cached = st.cached;
  s->sum->compile_failed = st.failed;
  s->sum->infeasible = st.infeasible;
  s->sum->compile_wall_s = st.wall_s;
  s->sum->restarts = s->pool != NULL ? pt_pool_restarts(s->pool) : 0;
  s->sum->wall_s = since_s(s->t_start);
}

static void free_sup(pt_sup_t *s) {
  pt_units_free(s->units);
  pt_record_free(s->rec);
  pt_pool_free(s->pool);
  free(s->skip);
  free(s->best_us);
  free(s->best_unit);
  free(s->slots);
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
  summarize(&s);
  if (s.rc == PT_OK && sum->end == PT_SUP_FINISHED && opts->ngpus > 0 && s.done < s.total)
    s.rc = pt_err_set(err, PT_EIO, "%zu of %zu items got no result", s.total - s.done,
                      s.total);
  uv_loop_close(&s.loop);
  free_sup(&s);
  return s.rc;
}
