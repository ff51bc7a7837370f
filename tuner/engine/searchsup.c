/* The GPU tuner as a search backend (see searchsup.h). */
#include "searchsup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing.h"
#include "searches.h"

/* A round item by the keys results are read back by. */
typedef struct rbkey_s {
  int64_t problem_id;
  int stage;
  char spec[PT_KNOBS_SPEC_MAX];
  size_t item;
  int ok, failed, infeasible;  /* what the database holds for it */
  double best_us;
} rbkey_t;

typedef struct readback_s {
  rbkey_t *keys;
  size_t n;
} readback_t;

static int cmp_key(const void *a, const void *b) {
  const rbkey_t *x = a, *y = b;
  if (x->problem_id != y->problem_id) return x->problem_id < y->problem_id ? -1 : 1;
  if (x->stage != y->stage) return x->stage - y->stage;
  return strcmp(x->spec, y->spec);
}

static int on_result(void *ud, const pt_db_result_t *row) {
  readback_t *rb = ud;
  rbkey_t k = {.problem_id = row->problem_id};
  pt_stage_t st;
  if (pt_stage_parse(row->stage, &st) != 0) return 0;
  k.stage = (int)st;
  snprintf(k.spec, sizeof k.spec, "%s", row->spec);
  rbkey_t *hit = bsearch(&k, rb->keys, rb->n, sizeof k, cmp_key);
  if (hit == NULL) return 0;
  if (strcmp(row->status, "ok") == 0) {
    hit->ok = 1;
    if (row->median_us < hit->best_us) hit->best_us = row->median_us;
  } else if (strcmp(row->status, "infeasible") == 0) {
    hit->infeasible = 1;
  } else {
    hit->failed = 1;
  }
  return 0;
}

/* What the database holds for an item: a variant that failed on a device
 * never wins (the best view's rule), so failed beats ok. */
static pt_search_state_t state_of(const rbkey_t *k) {
  if (k->failed) return PT_SEARCH_FAILED;
  if (k->ok) return PT_SEARCH_OK;
  return k->infeasible ? PT_SEARCH_INFEASIBLE : PT_SEARCH_PENDING;
}

static int problem_ids(pt_searchsup_t *ss, const pt_routing_t *r, int64_t *ids, pt_err_t *err) {
  for (int i = 0; i < ss->plan->nproblems; i++) {
    pt_db_problem_t dp;
    pt_plan_db_problem(ss->plan, i, r, ss->sup.seed, &dp);
    int rc = pt_db_put_problem(ss->sup.db, &dp, &ids[i]);
    if (rc != PT_OK) return pt_err_set(err, rc, "%s", pt_db_errmsg(ss->sup.db));
  }
  return PT_OK;
}

/* Settles the items the database holds results for; *missing counts the
 * others. */
static int read_back(pt_searchsup_t *ss, pt_searchrun_item_t *items, size_t n,
                     size_t *missing, pt_err_t *err) {
  pt_routing_t r;
  int rc = pt_routing_parse(ss->sup.routing != NULL ? ss->sup.routing : "uniform", &r, err);
  int64_t *ids = calloc((size_t)ss->plan->nproblems + 1, sizeof *ids);
  readback_t rb = {calloc(n > 0 ? n : 1, sizeof *rb.keys), n};
  if (rc == PT_OK && (ids == NULL || rb.keys == NULL))
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for a round");
  if (rc == PT_OK) rc = problem_ids(ss, &r, ids, err);
  for (size_t i = 0; rc == PT_OK && i < n; i++) {
    rb.keys[i] = (rbkey_t){.problem_id = ids[items[i].problem], .stage = (int)items[i].variant.stage,
                         .item = i, .best_us = INFINITY};
    pt_knobs_format(&items[i].variant, rb.keys[i].spec, sizeof rb.keys[i].spec);
  }
  if (rc == PT_OK) {
    qsort(rb.keys, n, sizeof *rb.keys, cmp_key);
    pt_db_filter_t f = {.arch = ss->sum.arch,
                        .regime = pt_db_regime_name(ss->sup.warm ? PT_DB_REGIME_WARM
                                                                 : PT_DB_REGIME_COLD)};
    rc = pt_db_results(ss->sup.db, &f, pt_routing_kind_name(r.kind),
                       r.kind == PT_ROUTING_ZIPF ? r.zipf_s : 0.0, on_result, &rb);
    if (rc != PT_OK) rc = pt_err_set(err, rc, "%s", pt_db_errmsg(ss->sup.db));
  }
  *missing = 0;
  for (size_t i = 0; rc == PT_OK && i < n; i++) {
    pt_searchrun_item_t *it = &items[rb.keys[i].item];
    it->state = state_of(&rb.keys[i]);
    it->median_us = it->state == PT_SEARCH_OK ? rb.keys[i].best_us : 0.0;
    *missing += it->state == PT_SEARCH_PENDING;
  }
  free(ids);
  free(rb.keys);
  return rc;
}

static void add_summary(pt_sup_summary_t *to, const pt_sup_summary_t *s) {
  to->end = s->end;
  to->run_id = s->run_id;
  snprintf(to->arch, sizeof to->arch, "%s", s->arch);
  to->planned += s->planned;
  to->skipped += s->skipped;
  to->done += s->done;
  for (int i = 0; i < PT_DB_STATUS_COUNT; i++) to->by_status[i] += s->by_status[i];
  to->units += s->units;
  to->compiled += s->compiled;
  to->cached += s->cached;
  to->compile_failed += s->compile_failed;
  to->infeasible += s->infeasible;
  to->compile_wall_s += s->compile_wall_s;
  to->wall_s += s->wall_s;
  to->restarts += s->restarts;
}

static int run_round(pt_searchsup_t *ss, int round, const pt_searchrun_item_t *items, size_t n,
                     int *stop, pt_err_t *err) {
  pt_plan_item_t *pi = malloc((n > 0 ? n : 1) * sizeof *pi);
  pt_plan_t plan;
  pt_sup_summary_t sum;
  if (pi == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for a round");
  for (size_t i = 0; i < n; i++) pi[i] = (pt_plan_item_t){items[i].problem, items[i].variant};
  int rc = pt_plan_of_items(ss->plan, pi, n, &plan, err);
  free(pi);
  if (rc != PT_OK) return rc;
  pt_sup_opts_t o = ss->sup;
  o.plan = &plan;
  o.resume = round > 0 || ss->sup.resume;
  /* The budget is the whole search's: a round gets what is left. */
  if (o.budget_s > 0) o.budget_s -= ss->sum.wall_s;
  if (ss->sup.budget_s > 0 && o.budget_s <= 0) {
    pt_plan_free(&plan);
    ss->sum.end = PT_SUP_BUDGET;
    *stop = 1;
    return PT_OK;
  }
  rc = pt_sup_run(&o, &sum, err);
  add_summary(&ss->sum, &sum);
  ss->rounds_run++;
  /* Compile-checking settles nothing: the rounds cannot go on. */
  *stop = rc == PT_OK && (sum.end != PT_SUP_FINISHED || o.ngpus == 0);
  pt_plan_free(&plan);
  return rc;
}

int pt_searchsup_measure(void *ud, int round, pt_searchrun_item_t *items, size_t n,
                         int *stop, pt_err_t *err) {
  pt_searchsup_t *ss = ud;
  size_t missing = n;
  int rc = PT_OK;
  *stop = 0;
  /* The first round learns the arch from the workers. */
  if (ss->rounds_run > 0) rc = read_back(ss, items, n, &missing, err);
  if (rc == PT_OK && missing > 0) rc = run_round(ss, round, items, n, stop, err);
  if (rc == PT_OK && ss->sup.ngpus > 0) rc = read_back(ss, items, n, &missing, err);
  return rc;
}

/* The search rows of one problem, in the transaction of the caller. */
static int put_search(pt_searchsup_t *ss, int64_t problem_id, pt_stage_t stage, int rounds,
                      int proposed, int finished) {
  pt_db_search_t row = {
      .problem_id = problem_id, .stage = pt_stage_name(stage),
      .regime = ss->sup.warm ? PT_DB_REGIME_WARM : PT_DB_REGIME_COLD, .arch = ss->sum.arch,
      .strategy = pt_search_kind_name(ss->kind), .max_evals = ss->max_evals,
      .rounds = rounds, .proposed = proposed, .finished = finished,
      .run_id = ss->sum.run_id};
  return pt_db_put_search(ss->sup.db, &row);
}

/* Every search of r, or with r NULL every problem and stage of the plan
 * (one round of its nvariants). */
static int put_searches(pt_searchsup_t *ss, const pt_searchrun_t *r, const int64_t *ids) {
  int rc = PT_OK;
  if (r != NULL) {
    for (int i = 0; rc == PT_OK && i < r->n; i++) {
      const pt_search_t *s = &r->searches[i];
      rc = put_search(ss, ids[r->problem[i]], s->stage, s->rounds, s->n, s->finished);
    }
    return rc;
  }
  int finished = ss->sum.end == PT_SUP_FINISHED;
  for (int p = 0; rc == PT_OK && p < ss->plan->nproblems; p++)
    for (int st = 0; rc == PT_OK && st < PT_STAGE_COUNT; st++)
      if (ss->plan->nvariants[st] > 0)
        rc = put_search(ss, ids[p], (pt_stage_t)st, 1, ss->plan->nvariants[st], finished);
  return rc;
}

int pt_searchsup_record(pt_searchsup_t *ss, const pt_searchrun_t *r, pt_err_t *err) {
  pt_routing_t rt;
  pt_db_t *db = ss->sup.db;
  if (ss->sup.ngpus == 0 || ss->sum.arch[0] == '\0') return PT_OK;  /* nothing measured */
  int rc = pt_routing_parse(ss->sup.routing != NULL ? ss->sup.routing : "uniform", &rt, err);
  int64_t *ids = calloc((size_t)ss->plan->nproblems + 1, sizeof *ids);
  if (rc == PT_OK && ids == NULL) rc = pt_err_set(err, PT_ENOMEM, "out of memory");
  if (rc == PT_OK && (rc = pt_db_begin(db)) != PT_OK) rc = pt_err_set(err, rc, "%s", pt_db_errmsg(db));
  else if (rc == PT_OK) {
    rc = problem_ids(ss, &rt, ids, err);
    if (rc == PT_OK && (rc = put_searches(ss, r, ids)) != PT_OK)
      pt_err_set(err, rc, "%s", pt_db_errmsg(db));
    int end = pt_db_end(db, rc);
    if (rc == PT_OK && end != PT_OK) rc = pt_err_set(err, end, "%s", pt_db_errmsg(db));
  }
  free(ids);
  return rc;
}
