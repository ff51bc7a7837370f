/* Result sets and the query tables (see query.h).
 *
 * Loading reads two things: the `best` view through the db module (the one
 * definition of a point's winner) and every row of the `results` view for
 * the selected regime and routing through a second, read-only SQLite
 * connection (the view is part of the schema's contract; the db module has
 * no row-by-row walk of it). Rows arrive sorted by series, tokens and spec,
 * so series, points and variants are built in one pass.
 */
#include "query.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hash.h"
#include "knobs.h"
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
  free(set->devices);
  free(set->tool_versions);
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
  size_t capseries, cappoints, capvars, capfail, capdev, captool;
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

/* Digest and winners, through the db module. */
static int read_db(load_t *L, const char *path, pt_err_t *err) {
  pt_db_t *db = NULL;
  int rc = pt_db_open(path, PT_DB_READONLY, &db, err);
  if (rc != PT_OK) return rc;
  rc = pt_db_digest(db, L->set->digest);
  pt_db_filter_t f = {.arch = L->f.arch, .family = L->f.family,
                      .dtype = L->f.dtype, .stage = L->f.stage,
                      .regime = L->f.regime};
  if (rc == PT_OK) rc = pt_db_best(db, &f, on_best, L);
  if (rc != PT_OK && L->rc != PT_OK) rc = pt_err_set(err, L->rc, "out of memory");
  else if (rc != PT_OK) rc = pt_err_set(err, rc, "%s", pt_db_errmsg(db));
  pt_db_close(db);
  return rc;
}

enum {
  C_ARCH, C_DEVICE, C_FAMILY, C_H, C_I, C_E, C_K, C_DTYPE, C_ACT, C_STAGE,
  C_TOKENS, C_SPEC, C_STATUS, C_REASON, C_MEDIAN, C_MIN, C_P90, C_SPREAD,
  C_FLOOR, C_SAMPLES, C_CREATED, C_TOOL
};

static const char results_sql[] =
    "SELECT arch, device, family, model_dim, inter_dim, experts, topk, dtype,"
    " act, stage, tokens, spec, status, reason, median_us, min_us, p90_us,"
    " spread, floor_us, samples, created, tool_version FROM results"
    " WHERE regime = ?1 AND routing = ?2 AND routing_param = ?3"
    " AND (?4 IS NULL OR arch = ?4) AND (?5 IS NULL OR family = ?5)"
    " AND (?6 IS NULL OR dtype = ?6) AND (?7 IS NULL OR stage = ?7)"
    " ORDER BY arch, family, model_dim, inter_dim, experts, topk, dtype, act,"
    " stage, tokens, spec, device, measurement_id";

static const char *col_str(load_t *L, sqlite3_stmt *st, int c) {
  return pool_str(L->pool, (const char *)sqlite3_column_text(st, c), &L->rc);
}

static double col_num(sqlite3_stmt *st, int c) {
  return sqlite3_column_type(st, c) == SQLITE_NULL ? NAN
                                                   : sqlite3_column_double(st, c);
}

static int same_series(const pt_query_series_t *s, const pt_query_series_t *k) {
  return s->arch == k->arch && s->family == k->family && s->dtype == k->dtype &&
         s->act == k->act && s->stage == k->stage &&
         s->model_dim == k->model_dim && s->inter_dim == k->inter_dim &&
         s->experts == k->experts && s->topk == k->topk;
}

static pt_query_series_t *row_series(load_t *L, sqlite3_stmt *st) {
  pt_query_set_t *set = L->set;
  pt_query_series_t k = {
      .arch = col_str(L, st, C_ARCH), .family = col_str(L, st, C_FAMILY),
      .dtype = col_str(L, st, C_DTYPE), .act = col_str(L, st, C_ACT),
      .stage = col_str(L, st, C_STAGE),
      .model_dim = sqlite3_column_int(st, C_H),
      .inter_dim = sqlite3_column_int(st, C_I),
      .experts = sqlite3_column_int(st, C_E), .topk = sqlite3_column_int(st, C_K)};
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

static void var_take(pt_query_var_t *v, const char *status, const char *reason,
                     const char *device, sqlite3_stmt *st) {
  int ok = strcmp(status, "ok") == 0;
  v->status = status;
  v->reason = ok ? NULL : reason;
  v->device = device;
  v->median_us = ok ? col_num(st, C_MEDIAN) : NAN;
  v->min_us = ok ? col_num(st, C_MIN) : NAN;
  v->p90_us = ok ? col_num(st, C_P90) : NAN;
  v->spread = ok ? col_num(st, C_SPREAD) : NAN;
  v->floor_us = col_num(st, C_FLOOR);
  v->samples = ok ? sqlite3_column_int(st, C_SAMPLES) : 0;
}

/* Folds one more result of the same variant at the same point into v: a
 * verification failure anywhere disqualifies it (the best view's rule);
 * otherwise the fastest ok result is kept. */
static void var_merge(pt_query_var_t *v, const char *status, const char *reason,
                      const char *device, sqlite3_stmt *st) {
  if (strcmp(v->status, "verify_fail") == 0) return;
  if (strcmp(status, "verify_fail") == 0) {
    var_take(v, status, reason, device, st);
    return;
  }
  if (strcmp(status, "ok") != 0) return;
  double med = col_num(st, C_MEDIAN), mn = col_num(st, C_MIN);
  if (strcmp(v->status, "ok") != 0 || med < v->median_us ||
      (med == v->median_us && mn < v->min_us))
    var_take(v, status, reason, device, st);
}

static int add_unique(const char ***arr, size_t *n, size_t *cap, const char *s) {
  for (size_t i = 0; i < *n; i++)
    if ((*arr)[i] == s) return PT_OK;
  int rc = grow(arr, *n, cap, sizeof **arr);
  if (rc == PT_OK) (*arr)[(*n)++] = s;
  return rc;
}

static void note_row(load_t *L, sqlite3_stmt *st) {
  pt_query_set_t *set = L->set;
  char dev[512];
  snprintf(dev, sizeof dev, "%s (%s)", sqlite3_column_text(st, C_DEVICE),
           sqlite3_column_text(st, C_ARCH));
  const char *d = pool_str(L->pool, dev, &L->rc);
  const char *tool = col_str(L, st, C_TOOL);
  const char *created = col_str(L, st, C_CREATED);
  if (L->rc != PT_OK) return;
  L->rc = add_unique(&set->devices, &set->ndevices, &L->capdev, d);
  if (L->rc == PT_OK)
    L->rc = add_unique(&set->tool_versions, &set->ntool_versions, &L->captool, tool);
  if (set->first == NULL || strcmp(created, set->first) < 0) set->first = created;
  if (set->last == NULL || strcmp(created, set->last) > 0) set->last = created;
  set->nrows++;
}

static int add_row(load_t *L, sqlite3_stmt *st) {
  note_row(L, st);
  pt_query_series_t *s = row_series(L, st);
  pt_query_point_t *p = s ? row_point(L, s, sqlite3_column_int(st, C_TOKENS)) : NULL;
  const char *spec = col_str(L, st, C_SPEC), *status = col_str(L, st, C_STATUS);
  const char *reason = col_str(L, st, C_REASON), *device = col_str(L, st, C_DEVICE);
  if (p == NULL || L->rc != PT_OK) return L->rc;
  if (p->nvars && p->vars[p->nvars - 1].spec == spec) {
    var_merge(&p->vars[p->nvars - 1], status, reason, device, st);
  } else {
    if ((L->rc = grow(&p->vars, p->nvars, &L->capvars, sizeof *p->vars)) != PT_OK)
      return L->rc;
    pt_query_var_t *v = &p->vars[p->nvars++];
    v->spec = spec;
    var_take(v, status, reason, device, st);
  }
  if (strcmp(status, "ok") == 0) return PT_OK;
  pt_query_set_t *set = L->set;
  if ((L->rc = grow(&set->failures, set->nfailures, &L->capfail,
                    sizeof *set->failures)) != PT_OK)
    return L->rc;
  /* The series pointer is fixed up once the series array stops moving. */
  set->failures[set->nfailures++] = (pt_query_failure_t){
      .series = (const pt_query_series_t *)(uintptr_t)(s - set->series),
      .tokens = p->tokens, .spec = spec, .status = status, .reason = reason,
      .device = device};
  return PT_OK;
}

static int bind_opt(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Every results row of the selection, through its own read-only connection. */
static int read_results(load_t *L, const char *path, pt_err_t *err) {
  sqlite3 *conn = NULL;
  sqlite3_stmt *st = NULL;
  int src = sqlite3_open_v2(path, &conn, SQLITE_OPEN_READONLY, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_prepare_v2(conn, results_sql, -1, &st, NULL);
  if (src == SQLITE_OK) {
    sqlite3_bind_text(st, 1, L->f.regime, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, L->f.routing, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, L->f.routing_param);
    bind_opt(st, 4, L->f.arch);
    bind_opt(st, 5, L->f.family);
    bind_opt(st, 6, L->f.dtype);
    bind_opt(st, 7, L->f.stage);
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
      if (add_row(L, st) != PT_OK) break;
    if (src == SQLITE_DONE) src = SQLITE_OK;
  }
  int rc = PT_OK;
  if (L->rc != PT_OK)
    rc = pt_err_set(err, L->rc, "out of memory reading '%s'", path);
  else if (src != SQLITE_OK)
    rc = pt_err_set(err, PT_EDB, "reading results of '%s': %s", path,
                    conn ? sqlite3_errmsg(conn) : sqlite3_errstr(src));
  sqlite3_finalize(st);
  sqlite3_close(conn);
  return rc;
}

static int var_cmp(const void *pa, const void *pb) {
  const pt_query_var_t *a = pa, *b = pb;
  int aok = strcmp(a->status, "ok") == 0, bok = strcmp(b->status, "ok") == 0;
  if (aok != bok) return bok - aok;
  if (aok && a->median_us != b->median_us) return a->median_us < b->median_us ? -1 : 1;
  return strcmp(a->spec, b->spec);
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
    }
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
      return pt_err_set(err, PT_EDB,
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
  if (L.rc != PT_OK) rc = pt_err_set(err, L.rc, "out of memory");
  if (rc == PT_OK) rc = read_db(&L, path, err);
  if (rc == PT_OK) rc = read_results(&L, path, err);
  if (rc == PT_OK) rc = finish(&L, path, err);
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

static void print_aligned(const pt_query_table_t *t, FILE *f) {
  size_t w[64] = {0}, rows = pt_query_table_rows(t);
  char buf[64];
  int nc = t->ncols < 64 ? t->ncols : 64;
  for (int c = 0; c < nc; c++) w[c] = strlen(t->cols[c]);
  for (size_t i = 0; i < t->n; i++) {
    const cell_t *cl = &t->cells[i];
    size_t len = cl->type == CELL_NULL ? 1 : strlen(cell_text(cl, buf, sizeof buf));
    if (len > w[i % (size_t)t->ncols]) w[i % (size_t)t->ncols] = len;
  }
  for (int c = 0; c < nc; c++) {
    if (c + 1 < nc) fprintf(f, "%-*s  ", (int)w[c], t->cols[c]);
    else fprintf(f, "%s\n", t->cols[c]);
  }
  for (size_t r = 0; r < rows; r++)
    for (int c = 0; c < nc; c++) {
      const cell_t *cl = &t->cells[r * (size_t)t->ncols + (size_t)c];
      const char *s = cl->type == CELL_NULL ? "-" : cell_text(cl, buf, sizeof buf);
      int right = cl->type == CELL_INT || cl->type == CELL_NUM;
      /* The last column is not padded on the right: no trailing blanks. */
      int width = right || c + 1 < nc ? (int)w[c] : 0;
      fprintf(f, right ? "%*s" : "%-*s", width, s);
      fputs(c + 1 < nc ? "  " : "\n", f);
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
      "min_us", "p90_us", "spread", "floor_us", "ok", "failed", "device"};
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 14, &t, err);
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
    const char *win = pts[a]->vars[pts[a]->best].spec;
    for (b = a + 1; b < n && pts[b]->vars[pts[b]->best].spec == win; b++) {}
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
      "margin_pct", "runner_up_points"};
  pt_query_table_t *t;
  int rc = pt_query_table_new(cols, 13, &t, err);
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
  int ok[2];
  pt_err_t e1, e2;
  for (int st = 0; st < 2; st++) {
    const char *name = pt_stage_name((pt_stage_t)st);
    ok[st] = canonical(name, a, ca[st], &e1) == 0 && canonical(name, b, cb[st], &e2) == 0;
  }
  if (!ok[0] && !ok[1])
    return pt_err_set(err, PT_EINVAL, "variants '%s' and '%s' are not both valid "
                      "for one stage: %s", a, b, e1.code ? e1.msg : e2.msg);
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
                     double threshold, size_t *regressions) {
  double change;
  const char *v = verdict(pa, pb, threshold, &change);
  if (v == NULL) return;
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
  if (strcmp(v, "regression") == 0 || strcmp(v, "lost") == 0) (*regressions)++;
}

/* Walks the points of two matching series (either may be NULL) by tokens. */
static void diff_series(pt_query_table_t *t, const pt_query_series_t *a,
                        const pt_query_series_t *b, double threshold,
                        size_t *regressions) {
  size_t i = 0, j = 0, na = a ? a->npoints : 0, nb = b ? b->npoints : 0;
  while (i < na || j < nb) {
    const pt_query_point_t *pa = i < na ? &a->points[i] : NULL;
    const pt_query_point_t *pb = j < nb ? &b->points[j] : NULL;
    if (pa && pb && pa->tokens != pb->tokens) {
      if (pa->tokens < pb->tokens) pb = NULL;
      else pa = NULL;
    }
    diff_row(t, a ? a : b, pa, pb, threshold, regressions);
    i += pa != NULL;
    j += pb != NULL;
  }
}

int pt_query_diff(const pt_query_set_t *a, const pt_query_set_t *b,
                  double threshold_pct, pt_query_table_t **out,
                  size_t *regressions, pt_err_t *err) {
  static const char *const cols[] = {"arch", "family", "dtype", "stage", "tokens",
                                     "a_winner", "a_us", "b_winner", "b_us",
                                     "change_pct", "verdict"};
  *regressions = 0;
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
    diff_series(t, sa, sb, threshold_pct, regressions);
    i += sa != NULL;
    j += sb != NULL;
  }
  return finish_table(t, out, err);
}
