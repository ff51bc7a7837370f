/* A tuning run in the database (see record.h). */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 1280

typedef struct index_s {
  int64_t problem_id, variant_id;
  int item;
} index_t;

struct pt_record_s {
  pt_record_opts_t o;
  int64_t *problem_ids;  /* [problem] */
  index_t *items;        /* [item], in plan order */
  index_t *index;        /* the same, sorted by ids */
  int64_t run_id;
  unsigned char *pair_taken;  /* pair plans: [pair] done or claimed */
  size_t next_pair;
  char why[REASON_MAX];
};

static int db_fail(const pt_record_t *r, int rc, pt_err_t *err) {
  return pt_err_set(err, rc, "%s", pt_db_errmsg(r->o.db));
}

static int put_problems(pt_record_t *r, pt_err_t *err) {
  const pt_plan_t *p = r->o.plan;
  for (int i = 0; i < p->nproblems; i++) {
    pt_db_problem_t dp;
    pt_plan_db_problem(p, i, r->o.routing, r->o.seed, &dp);
    int rc = pt_db_put_problem(r->o.db, &dp, &r->problem_ids[i]);
    if (rc != PT_OK) return db_fail(r, rc, err);
  }
  return PT_OK;
}

static int cmp_index(const void *a, const void *b) {
  const index_t *x = a, *y = b;
  if (x->problem_id != y->problem_id) return x->problem_id < y->problem_id ? -1 : 1;
  return (x->variant_id > y->variant_id) - (x->variant_id < y->variant_id);
}

static void build_index(pt_record_t *r, const int64_t *variant_ids) {
  const pt_plan_t *p = r->o.plan;
  for (size_t i = 0; i < p->nitems; i++)
    r->items[i] = (index_t){r->problem_ids[p->items[i].problem], variant_ids[i], (int)i};
  memcpy(r->index, r->items, p->nitems * sizeof *r->index);
  qsort(r->index, p->nitems, sizeof *r->index, cmp_index);
}

static int find_item(const pt_record_t *r, int64_t problem_id, int64_t variant_id) {
  index_t k = {problem_id, variant_id, 0};
  index_t *hit = bsearch(&k, r->index, r->o.plan->nitems, sizeof k, cmp_index);
  return hit != NULL ? hit->item : -1;
}

int pt_record_new(const pt_record_opts_t *o, pt_record_t **out, pt_err_t *err) {
  size_t n = o->plan->nitems > 0 ? o->plan->nitems : 1;
  pt_record_t *r = calloc(1, sizeof *r);
  *out = NULL;
  if (r == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for problems");
  r->o = *o;
  r->problem_ids = calloc((size_t)o->plan->nproblems + 1, sizeof *r->problem_ids);
  r->items = calloc(n, sizeof *r->items);
  r->index = calloc(n, sizeof *r->index);
  if (r->problem_ids == NULL || r->items == NULL || r->index == NULL) {
    pt_record_free(r);
    return pt_err_set(err, PT_ENOMEM, "out of memory for problems");
  }
  *out = r;
  return PT_OK;
}

int pt_record_store(pt_record_t *r, const int64_t *variant_ids, pt_err_t *err) {
  int rc = put_problems(r, err);
  if (rc == PT_OK) build_index(r, variant_ids);
  return rc;
}

void pt_record_free(pt_record_t *r) {
  if (r == NULL) return;
  free(r->problem_ids);
  free(r->items);
  free(r->index);
  free(r->pair_taken);
  free(r);
}

typedef struct done_ctx_s {
  pt_record_t *r;
  unsigned char *done;
  size_t overlap;
} done_ctx_t;

static int on_done_item(void *ud, int64_t problem_id, int64_t variant_id,
                        pt_db_regime_t regime, pt_db_status_t status) {
  done_ctx_t *c = ud;
  (void)status;
  int i = regime == c->r->o.regime ? find_item(c->r, problem_id, variant_id) : -1;
  if (i >= 0 && !c->done[i]) {
    c->done[i] = 1;
    c->overlap++;
  }
  return 0;
}

int pt_record_measured(pt_record_t *r, const char *arch, unsigned char *done,
                       size_t *n, pt_err_t *err) {
  done_ctx_t c = {r, done, 0};
  int rc = pt_db_done(r->o.db, arch, r->o.since_run, on_done_item, &c);
  *n = c.overlap;
  return rc != PT_OK ? db_fail(r, rc, err) : PT_OK;
}

void pt_record_retune(pt_record_t *r, int64_t of, int64_t since_run) {
  r->o.retune_of = of;
  r->o.since_run = since_run;
}

int64_t pt_record_retune_of(const pt_record_t *r) {
  if (r == NULL || r->o.retune_of < 0) return 0;
  return r->o.retune_of > 0 ? r->o.retune_of : r->run_id;
}

static int add_jobs(pt_record_t *r, const char *arch, size_t *ready, pt_err_t *err) {
  size_t n = r->o.plan->nitems;
  pt_db_job_t *jobs = calloc(n > 0 ? n : 1, sizeof *jobs);
  if (jobs == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for jobs");
  for (size_t i = 0; i < n; i++) {
    jobs[i].problem_id = r->items[i].problem_id;
    jobs[i].variant_id = r->items[i].variant_id;
    jobs[i].regime = r->o.regime;
    snprintf(jobs[i].arch, sizeof jobs[i].arch, "%s", arch);
  }
  int rc = pt_db_jobs_add(r->o.db, r->run_id, jobs, n, ready);
  free(jobs);
  return rc != PT_OK ? db_fail(r, rc, err) : PT_OK;
}

int pt_record_begin(pt_record_t *r, const char *host, const char *command,
                    const char *arch, int64_t *run_id, size_t *ready, pt_err_t *err) {
  int rc = pt_db_run_begin(r->o.db, host, command, &r->run_id);
  if (rc == PT_OK && r->o.retune_of >= 0)
    rc = pt_db_run_set_retune(r->o.db, r->run_id,
                              r->o.retune_of > 0 ? r->o.retune_of : r->run_id);
  if (rc != PT_OK) return db_fail(r, rc, err);
  *run_id = r->run_id;
  return add_jobs(r, arch, ready, err);
}

int pt_record_claim(pt_record_t *r, int64_t device_id, pt_db_job_t *job, int *item,
                    pt_err_t *err) {
  int rc = pt_db_job_claim(r->o.db, r->run_id, device_id, job);
  if (rc == PT_ENOENT) return rc;
  if (rc != PT_OK) return db_fail(r, rc, err);
  *item = find_item(r, job->problem_id, job->variant_id);
  if (*item < 0) return pt_err_set(err, PT_EDB, "a claimed job is not in the plan");
  return PT_OK;
}

void pt_record_from_result(pt_db_measurement_t *m, const pt_proto_result_t *res,
                           char *why, size_t len) {
  if (pt_db_status_parse(res->status, &m->status) != 0 ||
      m->status == PT_DB_STATUS_COMPILE_FAIL) {
    snprintf(why, len, "worker reported status '%s'", res->status);
    m->status = PT_DB_STATUS_CRASH;
    m->reason = why;
    return;
  }
  m->median_us = res->median_us;
  m->min_us = res->min_us;
  m->p90_us = res->p90_us;
  m->spread = res->spread;
  m->samples = res->samples;
  m->floor_us = res->floor_us;
  m->err_max_abs = res->err_max_abs;
  m->err_mean_abs = res->err_mean_abs;
  m->err_max_rel = res->err_max_rel;
  m->sm_clock_mhz = res->sm_clock_mhz;
  m->temp_c = res->temp_c;
  m->reason = res->reason[0] != '\0' ? res->reason : NULL;
}

/* Where m is filed: the run, device, problem, variant and regime. */
static void file_as(const pt_record_t *r, const pt_db_job_t *job, int64_t device_id,
                    pt_db_measurement_t *m) {
  m->run_id = r->run_id;
  m->device_id = device_id;
  m->problem_id = job->problem_id;
  m->variant_id = job->variant_id;
  m->regime = r->o.regime;
  m->holdout = r->o.holdout;
}

/* m as a crash with the DB's reason for refusing it, same provenance. */
static void refused(pt_record_t *r, const pt_db_job_t *job, int64_t device_id,
                    pt_db_measurement_t *m) {
  pt_db_measurement_t c;
  snprintf(r->why, sizeof r->why, "result refused: %s", pt_db_errmsg(r->o.db));
  pt_db_measurement_init(&c);
  file_as(r, job, device_id, &c);
  c.compiler = m->compiler;
  c.source_hash = m->source_hash;
  c.compile_key = m->compile_key;
  c.status = PT_DB_STATUS_CRASH;
  c.reason = r->why;
  *m = c;
}

int pt_record_finish(pt_record_t *r, const pt_db_job_t *job, int64_t device_id,
                     pt_db_measurement_t *m, pt_err_t *err) {
  file_as(r, job, device_id, m);
  int rc = pt_db_job_finish(r->o.db, job->id, m, NULL);
  if (rc == PT_EINVAL && m->status != PT_DB_STATUS_CRASH) {
    refused(r, job, device_id, m);
    rc = pt_db_job_finish(r->o.db, job->id, m, NULL);
  }
  return rc != PT_OK ? db_fail(r, rc, err) : PT_OK;
}

int pt_record_end(pt_record_t *r, pt_db_run_status_t status, pt_err_t *err) {
  int n = 0;
  if (r == NULL || r->run_id == 0) return PT_OK;
  int rc = pt_db_jobs_requeue(r->o.db, r->run_id, &n);
  if (rc == PT_OK) rc = pt_db_run_finish(r->o.db, r->run_id, status);
  return rc != PT_OK ? db_fail(r, rc, err) : PT_OK;
}

/* ---- a plan of pairs ---- */

typedef struct pairs_ctx_s {
  pt_record_t *r;
  unsigned char *done;
  size_t overlap;
} pairs_ctx_t;

static int on_done_pair(void *ud, int64_t problem_id, int64_t g1_id, int64_t g2_id,
                        pt_db_regime_t regime) {
  pairs_ctx_t *c = ud;
  const pt_record_t *r = c->r;
  int i = regime == r->o.regime ? find_item(r, problem_id, g1_id) : -1;
  if (i < 0 || i % 2 != 0 || r->items[i + 1].variant_id != g2_id || c->done[i]) return 0;
  c->done[i] = c->done[i + 1] = 1;
  c->overlap++;
  return 0;
}

int pt_record_pairs_measured(pt_record_t *r, const char *arch, unsigned char *done,
                             size_t *n, pt_err_t *err) {
  pairs_ctx_t c = {r, done, 0};
  int rc = pt_db_pairs_done(r->o.db, arch, on_done_pair, &c);
  *n = c.overlap;
  return rc != PT_OK ? db_fail(r, rc, err) : PT_OK;
}

int pt_record_begin_pairs(pt_record_t *r, const char *host, const char *command,
                          const unsigned char *done, int64_t *run_id, size_t *ready,
                          pt_err_t *err) {
  size_t npairs = r->o.plan->nitems / 2;
  r->pair_taken = calloc(npairs > 0 ? npairs : 1, 1);
  if (r->pair_taken == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for pairs");
  *ready = 0;
  for (size_t k = 0; k < npairs; k++) {
    r->pair_taken[k] = done[2 * k];
    *ready += !done[2 * k];
  }
  int rc = pt_db_run_begin(r->o.db, host, command, &r->run_id);
  if (rc != PT_OK) return db_fail(r, rc, err);
  *run_id = r->run_id;
  return PT_OK;
}

int pt_record_claim_pair(pt_record_t *r, pt_db_job_t *job, int *item) {
  size_t npairs = r->o.plan->nitems / 2;
  while (r->next_pair < npairs && r->pair_taken[r->next_pair]) r->next_pair++;
  if (r->next_pair == npairs) return PT_ENOENT;
  size_t k = r->next_pair++;
  r->pair_taken[k] = 1;
  memset(job, 0, sizeof *job);
  job->id = (int64_t)k + 1;
  job->run_id = r->run_id;
  job->problem_id = r->items[2 * k].problem_id;
  job->variant_id = r->items[2 * k].variant_id;
  job->regime = r->o.regime;
  *item = (int)(2 * k);
  return PT_OK;
}

static void pair_file_as(const pt_record_t *r, int item, int64_t device_id, pt_db_pair_t *p) {
  const pt_plan_t *plan = r->o.plan;
  const pt_variant_t *g1 = &plan->items[item].variant, *g2 = &plan->items[item + 1].variant;
  p->run_id = r->run_id;
  p->device_id = device_id;
  p->problem_id = r->items[item].problem_id;
  p->g1_variant_id = r->items[item].variant_id;
  p->g2_variant_id = r->items[item + 1].variant_id;
  p->sbm = g1->bm > g2->bm ? g1->bm : g2->bm;
  p->regime = r->o.regime;
}

int pt_record_pair_finish(pt_record_t *r, int item, int64_t device_id, pt_db_pair_t *p,
                          pt_err_t *err) {
  pair_file_as(r, item, device_id, p);
  int rc = pt_db_put_pair(r->o.db, p, NULL);
  if (rc == PT_EINVAL && p->status != PT_DB_STATUS_CRASH) {
    pt_db_pair_t c;
    snprintf(r->why, sizeof r->why, "result refused: %s", pt_db_errmsg(r->o.db));
    pt_db_pair_init(&c);
    pair_file_as(r, item, device_id, &c);
    c.compiler = p->compiler;
    c.g1_source_hash = p->g1_source_hash;
    c.g2_source_hash = p->g2_source_hash;
    c.status = PT_DB_STATUS_CRASH;
    c.reason = r->why;
    *p = c;
    rc = pt_db_put_pair(r->o.db, p, NULL);
  }
  return rc != PT_OK ? db_fail(r, rc, err) : PT_OK;
}
