/* Result sets and the query tables (see query.h).
 *
 * Loading reads through one read-only handle of the db module (the one way
 * into a database file): what the database holds (a selection must name
 * it), every row of the `results` view for the selected regime and routing
 * (checked by the db module as it reads them), then the `best` view (the one
 * definition of a point's winner). Rows arrive sorted by series, tokens and
 * spec, so series, points and variants are built in one pass.
 */
#include "query.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "escape.h"
#include "hash.h"
#include "knobs.h"
#include "num.h"
#include "routing.h"

/* ---- memory: interned strings and the set's arrays ---- */

/* Every string of a set is interned: equal strings share one pointer, so
 * keys compare by address while loading. */
typedef struct pool_s {
  char **slots;  /* open addressing, NULL = empty */
  size_t cap, n;
} pool_t;

static int pool_grow(pool_t *p) {
  size_t cap = p->cap ? p->cap * 2 : 256;
  char **slots = calloc(cap, sizeof *slots);
  if (slots == NULL) return PT_ENOMEM;
  for (size_t i = 0; i < p->cap; i++) {
    if (p->slots[i] == NULL) continue;
    size_t j = pt_hash_fnv1a_str(p->slots[i]) & (cap - 1);
    while (slots[j]) j = (j + 1) & (cap - 1);
    slots[j] = p->slots[i];
  }
  free(p->slots);
  p->slots = slots;
  p->cap = cap;
  return PT_OK;
}

/* The interned copy of s; NULL for NULL s or when out of memory (*rc). */
static const char *pool_str(pool_t *p, const char *s, int *rc) {
  if (s == NULL || *rc != PT_OK) return NULL;
  if (2 * (p->n + 1) > p->cap && (*rc = pool_grow(p)) != PT_OK) return NULL;
  size_t j = pt_hash_fnv1a_str(s) & (p->cap - 1);
  for (; p->slots[j]; j = (j + 1) & (p->cap - 1))
    if (strcmp(p->slots[j], s) == 0) return p->slots[j];
  if ((p->slots[j] = strdup(s)) == NULL) {
    *rc = PT_ENOMEM;
    return NULL;
  }
  p->n++;
  return p->slots[j];
}

static void pool_free(pool_t *p) {
  if (p == NULL) return;
  for (size_t i = 0; i < p->cap; i++) free(p->slots[i]);
  free(p->slots);
  free(p);
}

/* Makes room for one more element of size sz in *arr (n used, *cap). */
static int grow(void *arr, size_t n, size_t *cap, size_t sz) {
  if (n < *cap) return PT_OK;
  size_t c = *cap ? *cap * 2 : 8;
  void *p = realloc(*(void **)arr, c * sz);
  if (p == NULL) return PT_ENOMEM;
  *(void **)arr = p;
  *cap = c;
  return PT_OK;
}

void pt_query_free(pt_query_set_t *set) {
  if (set == NULL) return;
  for (size_t s = 0; s < set->nseries; s++) {
    for (size_t i = 0; i < set->series[s].npoints; i++)
      free(set->series[s].points[i].vars);
    free(set->series[s].points);
  }
  free(set->series);
  free(set->failures);
  free(set->pairs);
  free(set->devices);
  free(set->tool_versions);
  free(set->archs);
  free(set->families);
  free(set->dtypes);
  free(set->held_devices);
  free(set->models);
  pool_free(set->mem);
  free(set);
}

/* ---- loading ---- */

typedef struct best_s {
  const char *arch, *family, *dtype, *act, *stage, *spec;
  int model_dim, inter_dim, experts, topk, tokens;
} best_t;

typedef struct load_s {
  pt_query_set_t *set;
  pool_t *pool;
  pt_query_filter_t f;
  best_t *best;
  size_t nbest, capbest;
  size_t capseries, cappoints, capvars, capfail, capdev, captool, capmodels, cappairs;
  size_t capheld[4];
  int rc;
} load_t;

static int check_filter(const pt_query_filter_t *f, pt_err_t *err) {
  pt_db_regime_t r;
  pt_stage_t st;
  if (pt_db_regime_parse(f->regime, &r) != 0)
    return pt_err_set(err, PT_EINVAL, "unknown regime '%s' (expected cold or warm)",
                      f->regime);
  if (strcmp(f->routing, pt_routing_kind_name(PT_ROUTING_UNIFORM)) != 0 &&
      strcmp(f->routing, pt_routing_kind_name(PT_ROUTING_ZIPF)) != 0)
    return pt_err_set(err, PT_EINVAL,
                      "unknown routing '%s' (expected uniform or zipf)", f->routing);
  if (f->stage && pt_stage_parse(f->stage, &st) != 0)
    return pt_err_set(err, PT_EINVAL, "unknown stage '%s' (expected gemm1 or gemm2)",
                      f->stage);
  if (!(f->tie_tol >= 0) && f->tie_tol != PT_QUERY_TIE_AUTO)
    return pt_err_set(err, PT_EINVAL, "bad tie tolerance %g (expected >= 0)", f->tie_tol);
  if (f->dtype && strcmp(f->dtype, "a4w4") != 0 && strcmp(f->dtype, "a8w4") != 0 &&
      strcmp(f->dtype, "a16w4") != 0)
    return pt_err_set(err, PT_EINVAL,
                      "unknown dtype '%s' (expected a4w4, a8w4 or a16w4)", f->dtype);
  return PT_OK;
}

static int on_best(void *ud, const pt_db_best_t *r) {
  load_t *L = ud;
  if (strcmp(r->routing, L->f.routing) != 0 ||
      r->routing_param != L->f.routing_param)
    return 0;
  if ((L->rc = grow(&L->best, L->nbest, &L->capbest, sizeof *L->best)) != PT_OK)
    return 1;
  best_t *b = &L->best[L->nbest++];
  b->arch = pool_str(L->pool, r->arch, &L->rc);
  b->family = pool_str(L->pool, r->family, &L->rc);
  b->dtype = pool_str(L->pool, r->dtype, &L->rc);
  b->act = pool_str(L->pool, r->act, &L->rc);
  b->stage = pool_str(L->pool, r->stage, &L->rc);
  b->spec = pool_str(L->pool, r->spec, &L->rc);
  b->model_dim = r->model_dim;
  b->inter_dim = r->inter_dim;
  b->experts = r->experts;
  b->topk = r->topk;
  b->tokens = r->tokens;
  return L->rc != PT_OK;
}

/* Maps a walk's return to a code: a callback's stop (> 0) was out of memory. */
static int walked(load_t *L, pt_db_t *db, int rc, pt_err_t *err) {
  if (rc != PT_OK && L->rc != PT_OK) return pt_err_set(err, L->rc, "out of memory");
  if (rc != PT_OK) return pt_err_set(err, pt_db_errcode(db), "%s", pt_db_errmsg(db));
  return PT_OK;
}

/* Digest and winners. The results were read (and checked) first, so the
 * best view's rows are known to be sound. The view ranks over every device
 * of an arch: a set of one device model takes its points' first ok variant
 * instead (finish), which the view's order gives. */
static int read_best(load_t *L, pt_db_t *db, pt_err_t *err) {
  int rc = pt_db_digest(db, L->set->digest);
  pt_db_filter_t f = {.arch = L->f.arch, .family = L->f.family,
                      .dtype = L->f.dtype, .stage = L->f.stage,
                      .regime = L->f.regime};
  if (rc == PT_OK && L->f.device == NULL) rc = pt_db_best(db, &f, on_best, L);
  return walked(L, db, rc, err);
}

/* ---- what the database holds: a selection must name it ---- */

enum { NHELD = 4 };
static const pt_db_held_t held_kinds[NHELD] = {PT_DB_HELD_ARCH, PT_DB_HELD_FAMILY,
                                               PT_DB_HELD_DTYPE, PT_DB_HELD_DEVICE};
static const char *const held_names[NHELD] = {"arch", "family", "dtype", "device"};

typedef struct held_ctx_s {
  load_t *L;
  int k;
} held_ctx_t;

static const char ***held_list(pt_query_set_t *set, int k, size_t **n) {
  const char ***lists[NHELD] = {&set->archs, &set->families, &set->dtypes,
                                &set->held_devices};
  size_t *counts[NHELD] = {&set->narchs, &set->nfamilies, &set->ndtypes,
                           &set->nheld_devices};
  *n = counts[k];
  return lists[k];
}

static int on_held(void *ud, const char *value) {
  held_ctx_t *c = ud;
  load_t *L = c->L;
  size_t *n;
  const char ***list = held_list(L->set, c->k, &n);
  const char *s = pool_str(L->pool, value, &L->rc);
  if (L->rc == PT_OK) L->rc = grow(list, *n, &L->capheld[c->k], sizeof **list);
  if (L->rc == PT_OK) (*list)[(*n)++] = s;
  return L->rc != PT_OK;
}

int pt_query_check_held(const pt_query_set_t *set, const char *what,
                        const char *value, pt_err_t *err) {
  int k = 0;
  while (k < NHELD && strcmp(held_names[k], what) != 0) k++;
  if (k == NHELD || value == NULL) return PT_OK;
  size_t *n;
  const char **list = *held_list((pt_query_set_t *)set, k, &n);
  char names[600] = "";
  for (size_t i = 0; i < *n; i++) {
    if (strcmp(list[i], value) == 0) return PT_OK;
    size_t len = strlen(names);
    if (len + strlen(list[i]) + 8 < sizeof names)
      snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", list[i]);
    else if (len + 6 < sizeof names && strstr(names, ", ...") == NULL)
      snprintf(names + len, sizeof names - len, ", ...");
  }
  return pt_err_set(err, PT_EINVAL, "no results for %s '%s' in '%s' (%s%s)", what, value,
                    set->source, *n ? "it holds " : "it holds no results", names);
}

static int read_held(load_t *L, pt_db_t *db, pt_err_t *err) {
  int rc = PT_OK;
  for (int k = 0; rc == PT_OK && k < NHELD; k++) {
    held_ctx_t c = {L, k};
    rc = walked(L, db, pt_db_held(db, held_kinds[k], on_held, &c), err);
  }
  const char *wanted[NHELD] = {L->f.arch, L->f.family, L->f.dtype, L->f.device};
  for (int k = 0; rc == PT_OK && k < NHELD; k++)
    rc = pt_query_check_held(L->set, held_names[k], wanted[k], err);
  return rc;
}

/* ---- series, points and variants from the results rows ---- */

static int same_series(const pt_query_series_t *s, const pt_query_series_t *k) {
  return s->arch == k->arch && s->family == k->family && s->dtype == k->dtype &&
         s->act == k->act && s->stage == k->stage &&
         s->model_dim == k->model_dim && s->inter_dim == k->inter_dim &&
         s->experts == k->experts && s->topk == k->topk;
}

static pt_query_series_t *row_series(load_t *L, const pt_db_result_t *r) {
  pt_query_set_t *set = L->set;
  pt_query_series_t k = {
      .arch = pool_str(L->pool, r->arch, &L->rc),
      .family = pool_str(L->pool, r->family, &L->rc),
      .dtype = pool_str(L->pool, r->dtype, &L->rc),
      .act = pool_str(L->pool, r->act, &L->rc),
      .stage = pool_str(L->pool, r->stage, &L->rc),
      .model_dim = r->model_dim, .inter_dim = r->inter_dim,
      .experts = r->experts, .topk = r->topk};
  if (L->rc != PT_OK) return NULL;
  if (set->nseries && same_series(&set->series[set->nseries - 1], &k))
    return &set->series[set->nseries - 1];
  if ((L->rc = grow(&set->series, set->nseries, &L->capseries,
                    sizeof *set->series)) != PT_OK)
    return NULL;
  L->cappoints = 0;
  set->series[set->nseries] = k;
  return &set->series[set->nseries++];
}

static pt_query_point_t *row_point(load_t *L, pt_query_series_t *s, int tokens) {
  if (s->npoints && s->points[s->npoints - 1].tokens == tokens)
    return &s->points[s->npoints - 1];
  if ((L->rc = grow(&s->points, s->npoints, &L->cappoints, sizeof *s->points)) !=
      PT_OK)
    return NULL;
  L->capvars = 0;
  s->points[s->npoints] = (pt_query_point_t){.tokens = tokens, .best = -1};
  return &s->points[s->npoints++];
}

/* The interned strings of a row that a variant keeps. */
typedef struct row_strs_s {
  const char *status, *reason, *device;
} row_strs_t;

static void var_take(pt_query_var_t *v, const row_strs_t *s, const pt_db_result_t *r) {
  int ok = strcmp(s->status, "ok") == 0;
  v->status = s->status;
  v->reason = ok ? NULL : s->reason;
  v->device = s->device;
  v->median_us = r->median_us;
  v->min_us = r->min_us;
  v->p90_us = r->p90_us;
  v->spread = r->spread;
  v->floor_us = r->floor_us;
  v->samples = ok ? r->samples : 0;
}

/* Folds one more result of the same variant at the same point into v: a
 * verification failure anywhere disqualifies it (the best view's rule);
 * otherwise the fastest ok result is kept. */
static void var_merge(pt_query_var_t *v, const row_strs_t *s, const pt_db_result_t *r) {
  if (strcmp(v->status, "verify_fail") == 0) return;
  if (strcmp(s->status, "verify_fail") == 0) {
    var_take(v, s, r);
    return;
  }
  if (strcmp(s->status, "ok") != 0) return;
  if (strcmp(v->status, "ok") != 0 || r->median_us < v->median_us ||
      (r->median_us == v->median_us && r->min_us < v->min_us))
    var_take(v, s, r);
}

static int add_unique(const char ***arr, size_t *n, size_t *cap, const char *s) {
  for (size_t i = 0; i < *n; i++)
    if ((*arr)[i] == s) return PT_OK;
  int rc = grow(arr, *n, cap, sizeof **arr);
  if (rc == PT_OK) (*arr)[(*n)++] = s;
  return rc;
}

static int add_model(load_t *L, const char *name, const char *arch) {
  pt_query_set_t *set = L->set;
  for (size_t i = 0; i < set->nmodels; i++)
    if (set->models[i].name == name && set->models[i].arch == arch) return PT_OK;
  int rc = grow(&set->models, set->nmodels, &L->capmodels, sizeof *set->models);
  if (rc == PT_OK) set->models[set->nmodels++] = (pt_query_model_t){name, arch};
  return rc;
}

static void note_row(load_t *L, const pt_db_result_t *r) {
  pt_query_set_t *set = L->set;
  char dev[512];
  snprintf(dev, sizeof dev, "%s (%s)", r->device, r->arch);
  const char *model = pool_str(L->pool, r->device, &L->rc);
  const char *arch = pool_str(L->pool, r->arch, &L->rc);
  if (L->rc == PT_OK) L->rc = add_model(L, model, arch);
  const char *d = pool_str(L->pool, dev, &L->rc);
  const char *tool = pool_str(L->pool, r->tool_version, &L->rc);
  const char *created = pool_str(L->pool, r->created, &L->rc);
  if (L->rc != PT_OK) return;
  L->rc = add_unique(&set->devices, &set->ndevices, &L->capdev, d);
  if (L->rc == PT_OK)
    L->rc = add_unique(&set->tool_versions, &set->ntool_versions, &L->captool, tool);
  if (set->first == NULL || strcmp(created, set->first) < 0) set->first = created;
  if (set->last == NULL || strcmp(created, set->last) > 0) set->last = created;
  set->nrows++;
}

static int add_failure(load_t *L, const pt_query_series_t *s, const pt_query_point_t *p,
                       const char *spec, const row_strs_t *rs) {
  pt_query_set_t *set = L->set;
  if ((L->rc = grow(&set->failures, set->nfailures, &L->capfail,
                    sizeof *set->failures)) != PT_OK)
    return L->rc;
  /* The series pointer is fixed up once the series array stops moving. */
  set->failures[set->nfailures++] = (pt_query_failure_t){
      .series = (const pt_query_series_t *)(uintptr_t)(s - set->series),
      .tokens = p->tokens, .spec = spec, .status = rs->status, .reason = rs->reason,
      .device = rs->device};
  return PT_OK;
}

static int add_row(void *ud, const pt_db_result_t *r) {
  load_t *L = ud;
  note_row(L, r);
  pt_query_series_t *s = row_series(L, r);
  pt_query_point_t *p = s ? row_point(L, s, r->tokens) : NULL;
  const char *spec = pool_str(L->pool, r->spec, &L->rc);
  row_strs_t rs = {pool_str(L->pool, r->status, &L->rc),
                   pool_str(L->pool, r->reason, &L->rc),
                   pool_str(L->pool, r->device, &L->rc)};
  if (p == NULL || L->rc != PT_OK) return 1;
  if (p->nvars && p->vars[p->nvars - 1].spec == spec) {
    var_merge(&p->vars[p->nvars - 1], &rs, r);
  } else {
    if ((L->rc = grow(&p->vars, p->nvars, &L->capvars, sizeof *p->vars)) != PT_OK)
      return 1;
    pt_query_var_t *v = &p->vars[p->nvars++];
    v->spec = spec;
    var_take(v, &rs, r);
  }
  if (strcmp(rs.status, "ok") == 0) return 0;
  return add_failure(L, s, p, spec, &rs) != PT_OK;
}

/* Every results row of the selection, checked by the db module. */
static int read_results(load_t *L, pt_db_t *db, pt_err_t *err) {
  pt_db_filter_t f = {.arch = L->f.arch, .family = L->f.family,
                      .dtype = L->f.dtype, .stage = L->f.stage,
                      .regime = L->f.regime, .device = L->f.device,
                      .with_holdout = L->f.with_holdout};
  int rc = pt_db_results(db, &f, L->f.routing, L->f.routing_param, add_row, L);
  return walked(L, db, rc, err);
}

static int add_pair(void *ud, const pt_db_pair_row_t *r) {
  load_t *L = ud;
  pt_query_set_t *set = L->set;
  if ((L->rc = grow(&set->pairs, set->npairs, &L->cappairs, sizeof *set->pairs)) != PT_OK)
    return 1;
  pool_t *P = L->pool;
  set->pairs[set->npairs++] = (pt_query_pair_t){
      .arch = pool_str(P, r->arch, &L->rc), .device = pool_str(P, r->device, &L->rc),
      .family = pool_str(P, r->family, &L->rc), .dtype = pool_str(P, r->dtype, &L->rc),
      .act = pool_str(P, r->act, &L->rc), .model_dim = r->model_dim,
      .inter_dim = r->inter_dim, .experts = r->experts, .topk = r->topk,
      .tokens = r->tokens, .sbm = r->sbm, .g1_spec = pool_str(P, r->g1_spec, &L->rc),
      .g2_spec = pool_str(P, r->g2_spec, &L->rc), .status = pool_str(P, r->status, &L->rc),
      .reason = pool_str(P, r->reason, &L->rc), .median_us = r->median_us,
      .min_us = r->min_us, .p90_us = r->p90_us, .spread = r->spread, .samples = r->samples};
  return L->rc != PT_OK;
}

/* The pair timings of the selection (none before schema version 5). */
static int read_pairs(load_t *L, pt_db_t *db, pt_err_t *err) {
  pt_db_filter_t f = {.arch = L->f.arch, .family = L->f.family,
                      .dtype = L->f.dtype, .regime = L->f.regime,
                      .device = L->f.device};
  int rc = pt_db_pair_results(db, &f, L->f.routing, L->f.routing_param, add_pair, L);
  return walked(L, db, rc, err);
}

static int var_cmp(const void *pa, const void *pb) {
  const pt_query_var_t *a = pa, *b = pb;
  int aok = strcmp(a->status, "ok") == 0, bok = strcmp(b->status, "ok") == 0;
  if (aok != bok) return bok - aok;
  if (aok && a->median_us != b->median_us) return a->median_us < b->median_us ? -1 : 1;
  if (aok && a->min_us != b->min_us) return a->min_us < b->min_us ? -1 : 1;
  return strcmp(a->spec, b->spec);
}

static int model_cmp(const void *pa, const void *pb) {
  const pt_query_model_t *a = pa, *b = pb;
  int c = strcmp(a->arch, b->arch);
  return c ? c : strcmp(a->name, b->name);
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static pt_query_point_t *find_point(pt_query_set_t *set, const best_t *b) {
  for (size_t s = 0; s < set->nseries; s++) {
    pt_query_series_t *k = &set->series[s];
    if (k->arch != b->arch || k->family != b->family || k->dtype != b->dtype ||
        k->act != b->act || k->stage != b->stage || k->model_dim != b->model_dim ||
        k->inter_dim != b->inter_dim || k->experts != b->experts ||
        k->topk != b->topk)
      continue;
    for (size_t i = 0; i < k->npoints; i++)
      if (k->points[i].tokens == b->tokens) return &k->points[i];
  }
  return NULL;
}

/* Sorts each point's variants and marks the best view's winner. */
static int finish(load_t *L, const char *path, pt_err_t *err) {
  pt_query_set_t *set = L->set;
  for (size_t s = 0; s < set->nseries; s++)
    for (size_t i = 0; i < set->series[s].npoints; i++) {
      pt_query_point_t *p = &set->series[s].points[i];
      qsort(p->vars, p->nvars, sizeof *p->vars, var_cmp);
      for (p->nok = 0; p->nok < p->nvars; p->nok++)
        if (strcmp(p->vars[p->nok].status, "ok") != 0) break;
      if (L->f.device && p->nok) p->best = 0;
    }
  if (set->nmodels) qsort(set->models, set->nmodels, sizeof *set->models, model_cmp);
  for (size_t f = 0; f < set->nfailures; f++)
    set->failures[f].series = set->series + (uintptr_t)set->failures[f].series;
  /* qsort() must not be handed the NULL of an empty array. */
  if (set->ndevices) qsort(set->devices, set->ndevices, sizeof *set->devices, str_cmp);
  if (set->ntool_versions)
    qsort(set->tool_versions, set->ntool_versions, sizeof *set->tool_versions, str_cmp);
  for (size_t b = 0; b < L->nbest; b++) {
    pt_query_point_t *p = find_point(set, &L->best[b]);
    size_t v = 0;
    while (p && v < p->nok && p->vars[v].spec != L->best[b].spec) v++;
    if (p == NULL || v == p->nok)
      return pt_err_set(err, PT_EINVAL,
                        "'%s': the best view names '%s' for '%s' %s %s at %d tokens "
                        "but the results view has no such ok result",
                        path, L->best[b].spec, L->best[b].family, L->best[b].dtype,
                        L->best[b].stage, L->best[b].tokens);
    p->best = (int)v;
  }
  return PT_OK;
}

static void set_source(load_t *L, const char *path) {
  const char *slash = strrchr(path, '/');
  L->set->source = pool_str(L->pool, slash ? slash + 1 : path, &L->rc);
}

/* Everything a set holds, read through one read-only handle. */
static int read_all(load_t *L, const char *path, pt_err_t *err) {
  pt_db_t *db = NULL;
  int rc = pt_db_open(path, PT_DB_READONLY, &db, err);
  if (rc == PT_OK) rc = read_held(L, db, err);
  if (rc == PT_OK) rc = read_results(L, db, err);
  if (rc == PT_OK) rc = read_best(L, db, err);
  if (rc == PT_OK) rc = read_pairs(L, db, err);
  pt_db_close(db);
  return rc;
}

int pt_query_load(const char *path, const pt_query_filter_t *f,
                  pt_query_set_t **out, pt_err_t *err) {
  *out = NULL;
  load_t L = {.rc = PT_OK};
  if (f) L.f = *f;
  if (L.f.regime == NULL) L.f.regime = "cold";
  if (L.f.routing == NULL) L.f.routing = "uniform";
  int rc = check_filter(&L.f, err);
  if (rc != PT_OK) return rc;
  L.set = calloc(1, sizeof *L.set);
  L.pool = calloc(1, sizeof *L.pool);
  if (L.set == NULL || L.pool == NULL) {
    free(L.set);
    free(L.pool);
    return pt_err_set(err, PT_ENOMEM, "out of memory");
  }
  L.set->mem = L.pool;
  set_source(&L, path);
  L.set->regime = pool_str(L.pool, L.f.regime, &L.rc);
  L.set->routing = pool_str(L.pool, L.f.routing, &L.rc);
  L.set->routing_param = L.f.routing_param;
  L.set->device = pool_str(L.pool, L.f.device, &L.rc);
  L.set->tie_tol = L.f.tie_tol;
  if (L.rc != PT_OK) rc = pt_err_set(err, L.rc, "out of memory");
  if (rc == PT_OK) rc = read_all(&L, path, err);
  if (rc == PT_OK) rc = finish(&L, path, err);
  if (rc == PT_OK) rc = pt_query_picks(L.set, L.f.tie_tol, err);
  free(L.best);
  if (rc != PT_OK) {
    pt_query_free(L.set);
    return rc;
  }
  *out = L.set;
  return PT_OK;
}

int pt_query_parse_routing(const char *s, pt_query_filter_t *f, pt_err_t *err) {
  pt_routing_t r;
  int rc = pt_routing_parse(s, &r, err);
  if (rc != PT_OK) return rc;
  f->routing = pt_routing_kind_name(r.kind);
  f->routing_param = r.zipf_s;
  return PT_OK;
}

int pt_query_parse_tie_tol(const char *s, pt_query_filter_t *f, pt_err_t *err) {
  const char *end = NULL;
  double x = 0.0;
  if (s && strcmp(s, "auto") == 0) {
    f->tie_tol = PT_QUERY_TIE_AUTO;
    return PT_OK;
  }
  if (s == NULL || pt_num_parse_double(s, &end, &x) != 0 ||
      (*end != '\0' && strcmp(end, "%") != 0) || !(x >= 0) || x > 100)
    return pt_err_set(err, PT_EINVAL, "bad tie tolerance '%s' (expected auto or a "
                      "percentage from 0 to 100)", s ? s : "");
  f->tie_tol = x / 100;
  return PT_OK;
}

/* ---- analysis ---- */

int pt_query_geo_mid(int a, int b) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  uint64_t r = (uint64_t)sqrt((double)p);
  while (r * r > p) r--;
  while ((r + 1) * (r + 1) <= p) r++;
  return (int)r;
}

void pt_query_interval(const int *t, size_t n, size_t i, int *lo, int *hi) {
  *lo = i == 0 ? 1 : pt_query_geo_mid(t[i - 1], t[i]) + 1;
  *hi = i + 1 >= n ? INT_MAX : pt_query_geo_mid(t[i], t[i + 1]);
}

typedef struct cand_s {
  const char *spec;
  size_t covered;
  double logsum;
} cand_t;

static int cand_cmp(const void *a, const void *b) {
  return strcmp(((const cand_t *)a)->spec, ((const cand_t *)b)->spec);
}

/* The distinct ok specs of pts, sorted, with zeroed tallies. */
static int candidates(const pt_query_point_t *const *pts, size_t n,
                      cand_t **out, size_t *nout) {
  size_t total = 0, k = 0;
  for (size_t i = 0; i < n; i++) total += pts[i]->nok;
  cand_t *c = calloc(total ? total : 1, sizeof *c);
  if (c == NULL) return PT_ENOMEM;
  for (size_t i = 0; i < n; i++)
    for (size_t v = 0; v < pts[i]->nok; v++) c[k++].spec = pts[i]->vars[v].spec;
  qsort(c, k, sizeof *c, cand_cmp);
  size_t u = 0;
  for (size_t i = 0; i < k; i++)
    if (u == 0 || strcmp(c[u - 1].spec, c[i].spec) != 0) c[u++] = c[i];
  *out = c;
  *nout = u;
  return PT_OK;
}

int pt_query_fixed(const pt_query_point_t *const *pts, size_t n,
                   const char *exclude, pt_query_fixed_t *out) {
  cand_t *c;
  size_t nc;
  *out = (pt_query_fixed_t){0};
  if (candidates(pts, n, &c, &nc) != PT_OK) return PT_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const pt_query_point_t *p = pts[i];
    if (p->best < 0) continue;
    out->points++;
    for (size_t v = 0; v < p->nok; v++) {
      cand_t key = {.spec = p->vars[v].spec};
      cand_t *hit = bsearch(&key, c, nc, sizeof *c, cand_cmp);
      hit->covered++;
      hit->logsum += log(p->vars[v].median_us / p->vars[p->best].median_us);
    }
  }
  const cand_t *pick = NULL;
  for (size_t i = 0; i < nc; i++) {
    if (c[i].covered == 0 || (exclude && strcmp(c[i].spec, exclude) == 0)) continue;
    /* Candidates are sorted by spec: on a full tie the first one stays. */
    if (pick == NULL || c[i].covered > pick->covered ||
        (c[i].covered == pick->covered &&
         c[i].logsum / (double)c[i].covered < pick->logsum / (double)pick->covered))
      pick = &c[i];
  }
  if (pick) {
    out->spec = pick->spec;
    out->covered = pick->covered;
    out->geomean = exp(pick->logsum / (double)pick->covered);
  }
  free(c);
  return pick ? PT_OK : PT_ENOENT;
}

/* ---- noise-aware picks ---- */

/* How far v's median may exceed the fastest's (b) and still tie with it. */
static double tie_room(const pt_query_var_t *v, const pt_query_var_t *b, double tol) {
  if (tol != PT_QUERY_TIE_AUTO) return tol * b->median_us;
  double sv = isnan(v->spread) ? 0 : v->spread, sb = isnan(b->spread) ? 0 : b->spread;
  return sv * v->median_us + sb * b->median_us;
}

/* A tying variant of one point, and the best path of picks ending in it. */
typedef struct node_s {
  int var;                /* index in the point's vars */
  long long cost[3];      /* runs, points not picking their fastest, distance */
  int back;               /* node of the previous point on the path; -1 */
} node_t;

typedef struct layer_s {
  pt_query_point_t *p;
  node_t *nodes;
  int n;
} layer_t;

/* The tying variants of p with the first costs of a path through them. */
static int tie_layer(pt_query_point_t *p, pt_stage_t st, double tol, layer_t *l,
                     pt_err_t *err) {
  const pt_query_var_t *b = &p->vars[p->best];
  l->p = p;
  l->n = 0;
  l->nodes = malloc(p->nok * sizeof *l->nodes);
  if (l->nodes == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  for (size_t v = 0; v < p->nok; v++) {
    const pt_query_var_t *x = &p->vars[v];
    double room = tie_room(x, b, tol);
    if ((int)v != p->best && !(room > 0 && x->median_us - b->median_us <= room)) continue;
    pt_variant_t var;
    if (pt_knobs_parse(st, x->spec, &var, err) != PT_OK)
      return pt_err_prefix(err, "stored %s variant", pt_stage_name(st));
    l->nodes[l->n++] = (node_t){.var = (int)v, .back = -1,
                                .cost = {1, (int)v != p->best, pt_knobs_distance(&var)}};
  }
  return PT_OK;
}

static int cost_less(const long long *a, const long long *b) {
  for (int i = 0; i < 3; i++)
    if (a[i] != b[i]) return a[i] < b[i];
  return 0;
}

/* Extends every node of l by its cheapest predecessor in prev (the first
 * one on equal cost: the points' variant order). */
static void tie_step(const layer_t *prev, layer_t *l) {
  for (int k = 0; k < l->n; k++) {
    node_t *nd = &l->nodes[k];
    const char *spec = l->p->vars[nd->var].spec;
    long long best[3] = {0}, own[3] = {nd->cost[0], nd->cost[1], nd->cost[2]};
    for (int j = 0; j < prev->n; j++) {
      const node_t *pj = &prev->nodes[j];
      long long c[3] = {pj->cost[0] + (prev->p->vars[pj->var].spec != spec),
                        pj->cost[1] + own[1], pj->cost[2] + own[2]};
      if (nd->back < 0 || cost_less(c, best)) {
        memcpy(best, c, sizeof best);
        nd->back = j;
      }
    }
    memcpy(nd->cost, best, sizeof best);
  }
}

static int series_picks(pt_query_series_t *s, double tol, pt_err_t *err) {
  pt_stage_t st;
  if (pt_stage_parse(s->stage, &st) != 0)
    return pt_err_set(err, PT_EINVAL, "unknown stage '%s'", s->stage);
  layer_t *ls = calloc(s->npoints ? s->npoints : 1, sizeof *ls);
  if (ls == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  int n = 0, rc = PT_OK;
  for (size_t i = 0; i < s->npoints && rc == PT_OK; i++) {
    if (s->points[i].best < 0) continue;
    rc = tie_layer(&s->points[i], st, tol, &ls[n], err);
    if (rc == PT_OK && n > 0) tie_step(&ls[n - 1], &ls[n]);
    n++;
  }
  int k = 0;
  for (int j = 1; rc == PT_OK && n > 0 && j < ls[n - 1].n; j++)
    if (cost_less(ls[n - 1].nodes[j].cost, ls[n - 1].nodes[k].cost)) k = j;
  for (int i = n - 1; rc == PT_OK && i >= 0; i--) {
    ls[i].p->pick = ls[i].nodes[k].var;
    k = ls[i].nodes[k].back;
  }
  for (int i = 0; i < n; i++) free(ls[i].nodes);
  free(ls);
  return rc;
}

int pt_query_picks(pt_query_set_t *set, double tie_tol, pt_err_t *err) {
  int rc = PT_OK;
  for (size_t s = 0; s < set->nseries; s++)
    for (size_t i = 0; i < set->series[s].npoints; i++)
      set->series[s].points[i].pick = set->series[s].points[i].best;
  for (size_t s = 0; rc == PT_OK && tie_tol != 0 && s < set->nseries; s++)
    rc = series_picks(&set->series[s], tie_tol, err);
  return rc;
}

size_t pt_query_ties(const pt_query_series_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->npoints; i++) n += s->points[i].pick != s->points[i].best;
  return n;
}

/* ---- tables ---- */

enum { CELL_NULL, CELL_STR, CELL_INT, CELL_NUM };

typedef struct cell_s {
  int type, prec;
  char *s;
  long long i;
  double d;
} cell_t;

struct pt_query_table_s {
  const char *const *cols;
  int ncols;
  cell_t *cells;
  size_t n, cap;
  int rc;  /* first append failure, reported by print */
};

int pt_query_format_parse(const char *s, pt_query_format_t *out) {
  static const char *const names[] = {"table", "csv", "json"};
  for (int i = 0; i < 3; i++)
    if (s && strcmp(s, names[i]) == 0) {
      *out = (pt_query_format_t)i;
      return 0;
    }
  return -1;
}

int pt_query_table_new(const char *const *cols, int ncols,
                       pt_query_table_t **out, pt_err_t *err) {
  *out = calloc(1, sizeof **out);
  if (*out == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  (*out)->cols = cols;
  (*out)->ncols = ncols;
  return PT_OK;
}

void pt_query_table_free(pt_query_table_t *t) {
  if (t == NULL) return;
  for (size_t i = 0; i < t->n; i++) free(t->cells[i].s);
  free(t->cells);
  free(t);
}

size_t pt_query_table_rows(const pt_query_table_t *t) {
  return t->n / (size_t)t->ncols;
}

static cell_t *new_cell(pt_query_table_t *t) {
  if (t->rc != PT_OK) return NULL;
  if ((t->rc = grow(&t->cells, t->n, &t->cap, sizeof *t->cells)) != PT_OK) return NULL;
  cell_t *c = &t->cells[t->n++];
  *c = (cell_t){.type = CELL_NULL};
  return c;
}

int pt_query_table_str(pt_query_table_t *t, const char *s) {
  cell_t *c = new_cell(t);
  if (c && s) {
    if ((c->s = strdup(s)) == NULL) return t->rc = PT_ENOMEM;
    c->type = CELL_STR;
  }
  return t->rc;
}

int pt_query_table_int(pt_query_table_t *t, long long v) {
  cell_t *c = new_cell(t);
  if (c) *c = (cell_t){.type = CELL_INT, .i = v};
  return t->rc;
}

int pt_query_table_num(pt_query_table_t *t, double v, int prec) {
  cell_t *c = new_cell(t);
  if (c && !isnan(v)) *c = (cell_t){.type = CELL_NUM, .d = v, .prec = prec};
  return t->rc;
}

static const char *cell_text(const cell_t *c, char *buf, size_t len) {
  switch (c->type) {
  case CELL_STR: return c->s;
  case CELL_INT: snprintf(buf, len, "%lld", c->i); return buf;
  case CELL_NUM: snprintf(buf, len, "%.*f", c->prec, c->d); return buf;
  default: return "";
  }
}

const char *pt_query_table_cell(const pt_query_table_t *t, size_t r, int c,
                                char *buf, size_t len) {
  return cell_text(&t->cells[r * (size_t)t->ncols + (size_t)c], buf, len);
}

/* A cell as the aligned table shows it: control bytes escaped (names come
 * from files and databases; see escape.h), malloc'd or NULL. */
static char *shown(const cell_t *cl, char *buf, size_t len) {
  return pt_escape_ctl_dup(cl->type == CELL_NULL ? "-" : cell_text(cl, buf, len), 0);
}

static void print_aligned(const pt_query_table_t *t, FILE *f) {
  size_t w[64] = {0}, rows = pt_query_table_rows(t);
  char buf[64];
  int nc = t->ncols < 64 ? t->ncols : 64;
  for (int c = 0; c < nc; c++) w[c] = strlen(t->cols[c]);
  for (size_t i = 0; i < t->n; i++) {
    char *s = shown(&t->cells[i], buf, sizeof buf);
    size_t len = s != NULL ? strlen(s) : 0;
    if (len > w[i % (size_t)t->ncols]) w[i % (size_t)t->ncols] = len;
    free(s);
  }
  for (int c = 0; c < nc; c++) {
    if (c + 1 < nc) fprintf(f, "%-*s  ", (int)w[c], t->cols[c]);
    else fprintf(f, "%s\n", t->cols[c]);
  }
  for (size_t r = 0; r < rows; r++)
    for (int c = 0; c < nc; c++) {
      const cell_t *cl = &t->cells[r * (size_t)t->ncols + (size_t)c];
      char *s = shown(cl, buf, sizeof buf);
      int right = cl->type == CELL_INT || cl->type == CELL_NUM;
      /* The last column is not padded on the right: no trailing blanks. */
      int width = right || c + 1 < nc ? (int)w[c] : 0;
      fprintf(f, right ? "%*s" : "%-*s", width, s != NULL ? s : "?");
      fputs(c + 1 < nc ? "  " : "\n", f);
      free(s);
    }
}

static void csv_field(FILE *f, const char *s) {
  if (strpbrk(s, ",\"\r\n") == NULL && s[0] != ' ' &&
      (s[0] == '\0' || s[strlen(s) - 1] != ' ')) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void print_csv(const pt_query_table_t *t, FILE *f) {
  char buf[64];
  for (int c = 0; c < t->ncols; c++) {
    csv_field(f, t->cols[c]);
    fputs(c + 1 < t->ncols ? "," : "\r\n", f);
  }
  for (size_t i = 0; i < t->n; i++) {
    csv_field(f, cell_text(&t->cells[i], buf, sizeof buf));
    fputs((i + 1) % (size_t)t->ncols ? "," : "\r\n", f);
  }
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

static void print_json(const pt_query_table_t *t, FILE *f) {
  char buf[64];
  size_t rows = pt_query_table_rows(t);
  fputs("[", f);
  for (size_t r = 0; r < rows; r++) {
    fputs(r ? ",\n  {" : "\n  {", f);
    for (int c = 0; c < t->ncols; c++) {
      const cell_t *cl = &t->cells[r * (size_t)t->ncols + (size_t)c];
      if (c) fputs(", ", f);
      json_str(f, t->cols[c]);
      fputs(": ", f);
      if (cl->type == CELL_STR) json_str(f, cl->s);
      else if (cl->type == CELL_NULL || !isfinite(cl->d)) fputs("null", f);
      else fputs(cell_text(cl, buf, sizeof buf), f);
    }
    fputs("}", f);
  }
  fputs(rows ? "\n]\n" : "]\n", f);
}

int pt_query_table_print(const pt_query_table_t *t, pt_query_format_t fmt,
                         FILE *f, pt_err_t *err) {
  if (t->rc != PT_OK) return pt_err_set(err, t->rc, "out of memory");
  if (fmt == PT_QUERY_CSV) print_csv(t, f);
  else if (fmt == PT_QUERY_JSON) print_json(t, f);
  else print_aligned(t, f);
  if (ferror(f)) return pt_err_set(err, PT_EIO, "writing the table failed");
  return PT_OK;
}

/* ---- the query commands' tables ---- */

static int finish_table(pt_query_table_t *t, pt_query_table_t **out, pt_err_t *err) {
  if (t->rc != PT_OK) {
    pt_query_table_free(t);
    return pt_err_set(err, PT_ENOMEM, "out of memory");
  }
  *out = t;
  return PT_OK;
}

static void key_cells(pt_query_table_t *t, const pt_query_series_t *s) {
  pt_query_table_str(t, s->arch);
  pt_query_table_str(t, s->family);
  pt_query_table_str(t, s->dtype);
  pt_query_table_str(t, s->stage);
}

int pt_query_best(const pt_query_set_t *set, pt_query_table_t **out,
                  pt_err_t *err) {
  static const char *const cols[] = {
      "arch", "family", "dtype", "stage", "tokens", "winner", "median_us",
      "min_us", "p90_us", "spread", "floor_us", "ok", "failed", "device", "pick",
      "tie_pct"};
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 16, &t, err);
  if (rc != PT_OK) return rc;
  for (size_t s = 0; s < set->nseries; s++)
    for (size_t i = 0; i < set->series[s].npoints; i++) {
      const pt_query_point_t *p = &set->series[s].points[i];
      if (p->best < 0) continue;
      const pt_query_var_t *v = &p->vars[p->best];
      key_cells(t, &set->series[s]);
      pt_query_table_int(t, p->tokens);
      pt_query_table_str(t, v->spec);
      pt_query_table_num(t, v->median_us, 3);
      pt_query_table_num(t, v->min_us, 3);
      pt_query_table_num(t, v->p90_us, 3);
      pt_query_table_num(t, v->spread, 4);
      pt_query_table_num(t, v->floor_us, 3);
      pt_query_table_int(t, (long long)p->nok);
      pt_query_table_int(t, (long long)(p->nvars - p->nok));
      pt_query_table_str(t, v->device);
      const pt_query_var_t *pk = &p->vars[p->pick];
      pt_query_table_str(t, pk->spec);
      pt_query_table_num(t, p->pick != p->best ? (pk->median_us / v->median_us - 1) * 100
                                               : NAN, 2);
    }
  return finish_table(t, out, err);
}

/* Appends the crossover rows of one series. */
static int series_crossovers(pt_query_table_t *t, const pt_query_series_t *s) {
  size_t n = 0;
  int *tok = malloc((s->npoints ? s->npoints : 1) * sizeof *tok);
  const pt_query_point_t **pts = malloc((s->npoints ? s->npoints : 1) * sizeof *pts);
  if (tok == NULL || pts == NULL) {
    free(tok);
    free(pts);
    return t->rc = PT_ENOMEM;
  }
  for (size_t i = 0; i < s->npoints; i++)
    if (s->points[i].best >= 0) {
      pts[n] = &s->points[i];
      tok[n++] = s->points[i].tokens;
    }
  for (size_t a = 0, b; a < n; a = b) {
    const char *win = pts[a]->vars[pts[a]->pick].spec;
    size_t ties = pts[a]->pick != pts[a]->best;
    for (b = a + 1; b < n && pts[b]->vars[pts[b]->pick].spec == win; b++)
      ties += pts[b]->pick != pts[b]->best;
    int lo, hi, unused;
    pt_query_interval(tok, n, a, &lo, &unused);
    pt_query_interval(tok, n, b - 1, &unused, &hi);
    pt_query_fixed_t ru;
    int have = pt_query_fixed(pts + a, b - a, win, &ru) == PT_OK;
    key_cells(t, s);
    pt_query_table_int(t, tok[a]);
    pt_query_table_int(t, tok[b - 1]);
    pt_query_table_int(t, (long long)(b - a));
    pt_query_table_int(t, lo);
    if (hi == INT_MAX) pt_query_table_str(t, NULL);
    else pt_query_table_int(t, hi);
    pt_query_table_str(t, win);
    pt_query_table_str(t, have ? ru.spec : NULL);
    pt_query_table_num(t, have ? (ru.geomean - 1) * 100 : NAN, 1);
    pt_query_table_int(t, have ? (long long)ru.covered : 0);
    pt_query_table_int(t, (long long)ties);
  }
  free(tok);
  free(pts);
  return t->rc;
}

int pt_query_crossovers(const pt_query_set_t *set, pt_query_table_t **out,
                        pt_err_t *err) {
  static const char *const cols[] = {
      "arch", "family", "dtype", "stage", "tokens_first", "tokens_last",
      "points", "interval_lo", "interval_hi", "winner", "runner_up",
      "margin_pct", "runner_up_points", "ties"};
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 14, &t, err);
  if (rc != PT_OK) return rc;
  for (size_t s = 0; s < set->nseries && t->rc == PT_OK; s++)
    series_crossovers(t, &set->series[s]);
  return finish_table(t, out, err);
}

static const pt_query_var_t *find_var(const pt_query_point_t *p, const char *spec) {
  for (size_t v = 0; v < p->nvars; v++)
    if (strcmp(p->vars[v].spec, spec) == 0) return &p->vars[v];
  return NULL;
}

/* spec in canonical form for stage; 0 on success. */
static int canonical(const char *stage, const char *spec, char *buf, pt_err_t *err) {
  pt_stage_t st;
  pt_variant_t v;
  if (pt_stage_parse(stage, &st) != 0) return -1;
  if (pt_knobs_parse(st, spec, &v, err) != PT_OK) return -1;
  return pt_knobs_format(&v, buf, PT_KNOBS_SPEC_MAX) < 0 ? -1 : 0;
}

static void compare_point(pt_query_table_t *t, const pt_query_series_t *s,
                          const pt_query_point_t *p, const char *a, const char *b) {
  const pt_query_var_t *va = find_var(p, a), *vb = find_var(p, b);
  if (va == NULL && vb == NULL) return;
  key_cells(t, s);
  pt_query_table_int(t, p->tokens);
  pt_query_table_num(t, va ? va->median_us : NAN, 3);
  pt_query_table_num(t, vb ? vb->median_us : NAN, 3);
  pt_query_table_num(t, va && vb ? vb->median_us / va->median_us : NAN, 3);
  pt_query_table_str(t, va ? va->status : "absent");
  pt_query_table_str(t, vb ? vb->status : "absent");
  pt_query_table_num(t, p->best >= 0 ? p->vars[p->best].median_us : NAN, 3);
}

int pt_query_compare(const pt_query_set_t *set, const char *a, const char *b,
                     pt_query_table_t **out, pt_err_t *err) {
  static const char *const cols[] = {"arch", "family", "dtype", "stage", "tokens",
                                     "a_median_us", "b_median_us", "b_over_a",
                                     "a_status", "b_status", "best_us"};
  char ca[2][PT_KNOBS_SPEC_MAX], cb[2][PT_KNOBS_SPEC_MAX];
  int ok[2], oka = 0, okb = 0;
  pt_err_t ea, eb;
  pt_err_clear(&ea);
  pt_err_clear(&eb);
  for (int st = 0; st < 2; st++) {
    const char *name = pt_stage_name((pt_stage_t)st);
    int in_a = canonical(name, a, ca[st], &ea) == 0;
    int in_b = canonical(name, b, cb[st], &eb) == 0;
    ok[st] = in_a && in_b;
    oka |= in_a;
    okb |= in_b;
  }
  if (!oka || !okb)
    return pt_err_set(err, PT_EINVAL, "variant '%s' is valid for neither gemm1 nor "
                      "gemm2: %s", oka ? b : a, oka ? eb.msg : ea.msg);
  if (!ok[0] && !ok[1])
    return pt_err_set(err, PT_EINVAL, "variants '%s' and '%s' are not both valid "
                      "for one stage", a, b);
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 11, &t, err);
  if (rc != PT_OK) return rc;
  for (size_t s = 0; s < set->nseries; s++) {
    pt_stage_t st;
    const pt_query_series_t *k = &set->series[s];
    if (pt_stage_parse(k->stage, &st) != 0 || !ok[st]) continue;
    for (size_t i = 0; i < k->npoints; i++)
      compare_point(t, k, &k->points[i], ca[st], cb[st]);
  }
  return finish_table(t, out, err);
}

int pt_query_failures(const pt_query_set_t *set, pt_query_table_t **out,
                      pt_err_t *err) {
  static const char *const cols[] = {"arch", "family", "dtype", "stage", "tokens",
                                     "spec", "status", "reason", "device"};
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 9, &t, err);
  if (rc != PT_OK) return rc;
  for (size_t i = 0; i < set->nfailures; i++) {
    const pt_query_failure_t *f = &set->failures[i];
    key_cells(t, f->series);
    pt_query_table_int(t, f->tokens);
    pt_query_table_str(t, f->spec);
    pt_query_table_str(t, f->status);
    pt_query_table_str(t, f->reason);
    pt_query_table_str(t, f->device);
  }
  return finish_table(t, out, err);
}

/* The median of the stage's pick at the pair's point (the variant the
 * generated table ships there, pt_query_picks); NaN when none. */
static double winner_us(const pt_query_set_t *set, const pt_query_pair_t *p,
                        const char *stage) {
  for (size_t i = 0; i < set->nseries; i++) {
    const pt_query_series_t *s = &set->series[i];
    if (strcmp(s->arch, p->arch) != 0 || strcmp(s->family, p->family) != 0 ||
        strcmp(s->dtype, p->dtype) != 0 || strcmp(s->act, p->act) != 0 ||
        strcmp(s->stage, stage) != 0 || s->model_dim != p->model_dim ||
        s->inter_dim != p->inter_dim || s->experts != p->experts || s->topk != p->topk)
      continue;
    for (size_t j = 0; j < s->npoints; j++)
      if (s->points[j].tokens == p->tokens && s->points[j].pick >= 0)
        return s->points[j].vars[s->points[j].pick].median_us;
  }
  return NAN;
}

int pt_query_pairs(const pt_query_set_t *set, pt_query_table_t **out, pt_err_t *err) {
  static const char *const cols[] = {
      "arch", "family", "dtype", "tokens", "sbm", "gemm1", "gemm2", "status", "pair_us",
      "spread", "g1_best_us", "g2_best_us", "stage_sum_us", "pair_vs_sum", "device"};
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 15, &t, err);
  if (rc != PT_OK) return rc;
  for (size_t i = 0; i < set->npairs; i++) {
    const pt_query_pair_t *p = &set->pairs[i];
    double g1 = winner_us(set, p, "gemm1"), g2 = winner_us(set, p, "gemm2");
    pt_query_table_str(t, p->arch);
    pt_query_table_str(t, p->family);
    pt_query_table_str(t, p->dtype);
    pt_query_table_int(t, p->tokens);
    pt_query_table_int(t, p->sbm);
    pt_query_table_str(t, p->g1_spec);
    pt_query_table_str(t, p->g2_spec);
    pt_query_table_str(t, p->status);
    pt_query_table_num(t, p->median_us, 3);
    pt_query_table_num(t, p->spread, 4);
    pt_query_table_num(t, g1, 3);
    pt_query_table_num(t, g2, 3);
    pt_query_table_num(t, g1 + g2, 3);
    pt_query_table_num(t, p->median_us / (g1 + g2), 4);
    pt_query_table_str(t, p->device);
  }
  return finish_table(t, out, err);
}

/* Orders series as the loader does (SQLite's BINARY collation is strcmp's). */
static int series_cmp(const pt_query_series_t *a, const pt_query_series_t *b) {
  int c;
  if ((c = strcmp(a->arch, b->arch)) || (c = strcmp(a->family, b->family))) return c;
  if (a->model_dim != b->model_dim) return a->model_dim < b->model_dim ? -1 : 1;
  if (a->inter_dim != b->inter_dim) return a->inter_dim < b->inter_dim ? -1 : 1;
  if (a->experts != b->experts) return a->experts < b->experts ? -1 : 1;
  if (a->topk != b->topk) return a->topk < b->topk ? -1 : 1;
  if ((c = strcmp(a->dtype, b->dtype)) || (c = strcmp(a->act, b->act))) return c;
  return strcmp(a->stage, b->stage);
}

static const char *verdict(const pt_query_point_t *pa, const pt_query_point_t *pb,
                           double threshold, double *change) {
  *change = NAN;
  if (pb == NULL) return pa->best >= 0 ? "missing" : NULL;
  if (pa == NULL) return pb->best >= 0 ? "new" : NULL;
  if (pa->best < 0) return pb->best >= 0 ? "new" : NULL;
  if (pb->best < 0) return "lost";
  *change = (pb->vars[pb->best].median_us / pa->vars[pa->best].median_us - 1) * 100;
  if (*change > threshold) return "regression";
  if (*change < -threshold) return "improvement";
  return "same";
}

static void diff_row(pt_query_table_t *t, const pt_query_series_t *s,
                     const pt_query_point_t *pa, const pt_query_point_t *pb,
                     double threshold, pt_query_diff_stats_t *st) {
  double change;
  const char *v = verdict(pa, pb, threshold, &change);
  if (v == NULL) return;
  st->compared += pa && pb;
  st->only_a += pb == NULL;
  st->only_b += pa == NULL;
  const pt_query_var_t *wa = pa && pa->best >= 0 ? &pa->vars[pa->best] : NULL;
  const pt_query_var_t *wb = pb && pb->best >= 0 ? &pb->vars[pb->best] : NULL;
  key_cells(t, s);
  pt_query_table_int(t, pa ? pa->tokens : pb->tokens);
  pt_query_table_str(t, wa ? wa->spec : NULL);
  pt_query_table_num(t, wa ? wa->median_us : NAN, 3);
  pt_query_table_str(t, wb ? wb->spec : NULL);
  pt_query_table_num(t, wb ? wb->median_us : NAN, 3);
  pt_query_table_num(t, change, 1);
  pt_query_table_str(t, v);
  if (strcmp(v, "regression") == 0 || strcmp(v, "lost") == 0) st->regressions++;
}

/* Walks the points of two matching series (either may be NULL) by tokens. */
static void diff_series(pt_query_table_t *t, const pt_query_series_t *a,
                        const pt_query_series_t *b, double threshold,
                        pt_query_diff_stats_t *st) {
  size_t i = 0, j = 0, na = a ? a->npoints : 0, nb = b ? b->npoints : 0;
  while (i < na || j < nb) {
    const pt_query_point_t *pa = i < na ? &a->points[i] : NULL;
    const pt_query_point_t *pb = j < nb ? &b->points[j] : NULL;
    if (pa && pb && pa->tokens != pb->tokens) {
      if (pa->tokens < pb->tokens) pb = NULL;
      else pa = NULL;
    }
    diff_row(t, a ? a : b, pa, pb, threshold, st);
    i += pa != NULL;
    j += pb != NULL;
  }
}

int pt_query_diff(const pt_query_set_t *a, const pt_query_set_t *b,
                  double threshold_pct, pt_query_table_t **out,
                  pt_query_diff_stats_t *stats, pt_err_t *err) {
  static const char *const cols[] = {"arch", "family", "dtype", "stage", "tokens",
                                     "a_winner", "a_us", "b_winner", "b_us",
                                     "change_pct", "verdict"};
  *stats = (pt_query_diff_stats_t){0};
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 11, &t, err);
  if (rc != PT_OK) return rc;
  size_t i = 0, j = 0;
  while (i < a->nseries || j < b->nseries) {
    const pt_query_series_t *sa = i < a->nseries ? &a->series[i] : NULL;
    const pt_query_series_t *sb = j < b->nseries ? &b->series[j] : NULL;
    if (sa && sb) {
      int c = series_cmp(sa, sb);
      if (c < 0) sb = NULL;
      else if (c > 0) sa = NULL;
    }
    diff_series(t, sa, sb, threshold_pct, stats);
    i += sa != NULL;
    j += sb != NULL;
  }
  return finish_table(t, out, err);
}

/* ---- two runs ---- */

typedef struct runs_ctx_s {
  pt_query_table_t *t;
  pt_query_runs_stats_t *st;
  double logsum;
} runs_ctx_t;

static int on_run_pair(void *ud, const pt_db_run_pair_t *r) {
  runs_ctx_t *c = ud;
  double ratio = r->median_b_us / r->median_a_us;  /* NaN unless both ok */
  c->st->items++;
  if (!isnan(ratio)) {
    c->st->compared++;
    c->logsum += log(ratio);
    if (c->st->compared == 1 || ratio < c->st->min) c->st->min = ratio;
    if (c->st->compared == 1 || ratio > c->st->max) c->st->max = ratio;
  }
  const char *text[] = {r->arch, r->family, r->dtype};
  int rc = PT_OK;
  for (int i = 0; rc == PT_OK && i < 3; i++) rc = pt_query_table_str(c->t, text[i]);
  if (rc == PT_OK) rc = pt_query_table_int(c->t, r->tokens);
  if (rc == PT_OK) rc = pt_query_table_str(c->t, r->stage);
  if (rc == PT_OK) rc = pt_query_table_str(c->t, r->spec);
  if (rc == PT_OK) rc = pt_query_table_str(c->t, r->device);
  if (rc == PT_OK) rc = pt_query_table_str(c->t, r->status_a);
  if (rc == PT_OK) rc = pt_query_table_num(c->t, r->median_a_us, 2);
  if (rc == PT_OK) rc = pt_query_table_str(c->t, r->status_b);
  if (rc == PT_OK) rc = pt_query_table_num(c->t, r->median_b_us, 2);
  if (rc == PT_OK) rc = pt_query_table_num(c->t, ratio, 4);
  return rc != PT_OK;
}

int pt_query_runs(const char *path, const pt_query_filter_t *f, int64_t a, int64_t b,
                  pt_query_table_t **out, pt_query_runs_stats_t *st, pt_err_t *err) {
  static const char *const cols[] = {"arch", "family", "dtype", "tokens", "stage",
                                     "spec", "device", "status_a", "median_a_us",
                                     "status_b", "median_b_us", "ratio"};
  pt_db_t *db = NULL;
  runs_ctx_t c = {NULL, st, 0.0};
  *out = NULL;
  *st = (pt_query_runs_stats_t){.geomean = NAN, .min = NAN, .max = NAN};
  pt_db_filter_t df = {0};
  if (f != NULL)
    df = (pt_db_filter_t){.arch = f->arch, .family = f->family, .dtype = f->dtype,
                          .stage = f->stage, .regime = f->regime};
  int rc = pt_query_table_new(cols, (int)(sizeof cols / sizeof *cols), &c.t, err);
  if (rc == PT_OK) rc = pt_db_open(path, PT_DB_READONLY, &db, err);
  if (rc == PT_OK) {
    rc = pt_db_run_pairs(db, &df, &a, &b, on_run_pair, &c);
    if (rc > 0) rc = pt_err_set(err, PT_ENOMEM, "out of memory");
    else if (rc != PT_OK) rc = pt_err_set(err, pt_db_errcode(db), "%s", pt_db_errmsg(db));
  }
  pt_db_close(db);
  st->a = a;
  st->b = b;
  if (st->compared) st->geomean = exp(c.logsum / (double)st->compared);
  if (rc != PT_OK) {
    pt_query_table_free(c.t);
    return rc;
  }
  *out = c.t;
  return PT_OK;
}
