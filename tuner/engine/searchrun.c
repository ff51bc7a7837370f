/* The rounds of the searches of a plan (see searchrun.h). */
#include "searchrun.h"

#include <stdlib.h>
#include <string.h>

int pt_searchrun_index(int problem, pt_stage_t stage, int req_stage) {
  return req_stage < 0 ? problem * PT_STAGE_COUNT + (int)stage : problem;
}

static int new_searches(const pt_searchrun_opts_t *o, pt_searchrun_t *r, pt_err_t *err) {
  int nst = o->stage < 0 ? PT_STAGE_COUNT : 1, rc = PT_OK;
  int total = o->plan->nproblems * nst;
  r->searches = calloc((size_t)(total > 0 ? total : 1), sizeof *r->searches);
  r->problem = calloc((size_t)(total > 0 ? total : 1), sizeof *r->problem);
  if (r->searches == NULL || r->problem == NULL)
    return pt_err_set(err, PT_ENOMEM, "out of memory for the searches");
  for (int p = 0; rc == PT_OK && p < o->plan->nproblems; p++)
    for (int i = 0; rc == PT_OK && i < nst; i++) {
      pt_stage_t st = o->stage < 0 ? (pt_stage_t)i : (pt_stage_t)o->stage;
      int k = pt_searchrun_index(p, st, o->stage);
      if (pt_plan_shard_of((size_t)k, o->nshards) != o->shard) continue;
      rc = pt_search_init(&r->searches[r->n], o->kind, st, o->specs, o->nspecs, o->max_evals,
                          o->seed, err);
      r->problem[r->n++] = p;
    }
  return rc;
}

/* Every search's next candidates, appended to *items. */
static int gather(pt_searchrun_t *r, pt_searchrun_item_t **items, size_t *n, pt_err_t *err) {
  size_t cap = 0;
  *items = NULL;
  *n = 0;
  for (int s = 0; s < r->n; s++) {
    pt_search_t *se = &r->searches[s];
    int added = 0, first = se->n;
    int rc = pt_search_next(se, &added, err);
    if (rc == PT_OK && *n + (size_t)added > cap) {
      cap = (*n + (size_t)added) * 2;
      pt_searchrun_item_t *p = realloc(*items, cap * sizeof *p);
      if (p == NULL) rc = pt_err_set(err, PT_ENOMEM, "out of memory for a round");
      else *items = p;
    }
    if (rc != PT_OK) return rc;
    for (int i = first; i < se->n; i++)
      (*items)[(*n)++] = (pt_searchrun_item_t){r->problem[s], se->c[i].v, PT_SEARCH_PENDING, 0.0};
  }
  return PT_OK;
}

/* Hands the round's results back to the searches, in gather's order. */
static void settle(pt_searchrun_t *r, const pt_searchrun_item_t *items) {
  size_t k = 0;
  for (int s = 0; s < r->n; s++) {
    pt_search_t *se = &r->searches[s];
    for (int i = 0; i < se->n; i++)
      if (se->c[i].state == PT_SEARCH_PENDING) {
        pt_search_settle(se, i, items[k].state, items[k].median_us);
        k++;
      }
  }
}

int pt_searchrun_run(const pt_searchrun_opts_t *o, pt_searchrun_t *out, pt_err_t *err) {
  memset(out, 0, sizeof *out);
  int rc = new_searches(o, out, err);
  while (rc == PT_OK && !out->stopped) {
    pt_searchrun_item_t *items = NULL;
    size_t n = 0;
    rc = gather(out, &items, &n, err);
    if (rc == PT_OK && n == 0) {
      free(items);
      break;
    }
    if (rc == PT_OK) rc = o->measure(o->ud, out->rounds, items, n, &out->stopped, err);
    if (rc == PT_OK) {
      settle(out, items);
      out->rounds++;
    }
    free(items);
  }
  return rc;
}

void pt_searchrun_free(pt_searchrun_t *r) {
  for (int i = 0; i < r->n; i++) pt_search_free(&r->searches[i]);
  free(r->searches);
  free(r->problem);
  memset(r, 0, sizeof *r);
}

int pt_searchrun_first(const pt_searchrun_opts_t *o, pt_plan_t *out, pt_err_t *err) {
  pt_searchrun_opts_t all = *o;
  pt_searchrun_t r;
  pt_searchrun_item_t *items = NULL;
  pt_plan_item_t *pi = NULL;
  size_t n = 0;
  all.shard = 0;
  all.nshards = 1;
  memset(&r, 0, sizeof r);
  memset(out, 0, sizeof *out);
  int rc = new_searches(&all, &r, err);
  if (rc == PT_OK) rc = gather(&r, &items, &n, err);
  if (rc == PT_OK && (pi = malloc((n > 0 ? n : 1) * sizeof *pi)) == NULL)
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for a round");
  for (size_t i = 0; rc == PT_OK && i < n; i++)
    pi[i] = (pt_plan_item_t){items[i].problem, items[i].variant};
  if (rc == PT_OK) rc = pt_plan_of_items(o->plan, pi, n, out, err);
  free(pi);
  free(items);
  pt_searchrun_free(&r);
  return rc;
}
