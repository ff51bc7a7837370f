/* The work plan: problems, candidate variants, interleaving, shards. */
#include "plan.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "num.h"
#include "rng.h"

/* ---- variant specs ---- */

#define SPEC_ITEMS_MAX 32
#define SPEC_VALUES_MAX 16
#define EXPAND_MAX 100000
#define SPEC_SHOWN 160  /* characters of a spec quoted in a message */
#define PT_PLAN_MIDPOINTS_MAX 4096  /* token counts of a grid with --holdout */

typedef struct vlist_s {
  pt_variant_t *v;
  int n, cap;
} vlist_t;

static int vlist_add(vlist_t *l, const pt_variant_t *v, pt_err_t *err) {
  for (int i = 0; i < l->n; i++)
    if (memcmp(&l->v[i], v, sizeof *v) == 0) return PT_OK;
  if (l->n == l->cap) {
    int cap = l->cap > 0 ? l->cap * 2 : 32;
    pt_variant_t *p = realloc(l->v, (size_t)cap * sizeof *p);
    if (p == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for variants");
    l->v = p;
    l->cap = cap;
  }
  l->v[l->n++] = *v;
  return PT_OK;
}

/* Does key (a knob's name or alias) name a knob of stage? */
static int stage_has_knob(pt_stage_t stage, const char *key, size_t len) {
  const pt_knob_t *k = pt_knobs_find(key, len);
  return k != NULL && pt_knobs_in_stage(k, stage);
}

/* One "key=a|b" item of a spec, split in place. */
typedef struct spec_item_s {
  const char *key;
  const char *values[SPEC_VALUES_MAX];
  int nvalues;
} spec_item_t;

static int split_item(char *text, spec_item_t *it, pt_err_t *err) {
  char *eq = strchr(text, '=');
  if (eq == NULL || eq == text)
    return pt_err_set(err, PT_EINVAL, "item '%s' is not key=value", text);
  *eq = '\0';
  it->key = text;
  it->nvalues = 0;
  for (char *v = eq + 1, *bar;; v = bar + 1) {
    bar = strchr(v, '|');
    if (bar != NULL) *bar = '\0';
    if (*v == '\0')
      return pt_err_set(err, PT_EINVAL, "knob '%s' has an empty value", it->key);
    if (it->nvalues == SPEC_VALUES_MAX)
      return pt_err_set(err, PT_EINVAL, "knob '%s' has more than %d values", it->key,
                        SPEC_VALUES_MAX);
    it->values[it->nvalues++] = v;
    if (bar == NULL) return PT_OK;
  }
}

/* Splits spec (a writable copy) into items; *applies says whether every key
 * is a knob of stage (keys of neither stage are left to pt_knobs_parse). */
static int split_spec(pt_stage_t stage, char *spec, spec_item_t *items, int *n,
                      int *applies, pt_err_t *err) {
  pt_stage_t other = stage == PT_STAGE_GEMM1 ? PT_STAGE_GEMM2 : PT_STAGE_GEMM1;
  *n = 0;
  *applies = 1;
  if (*spec == '\0') return PT_OK;
  for (char *p = spec, *comma;; p = comma + 1) {
    comma = strchr(p, ',');
    if (comma != NULL) *comma = '\0';
    if (*n == SPEC_ITEMS_MAX)
      return pt_err_set(err, PT_EINVAL, "more than %d knobs", SPEC_ITEMS_MAX);
    int rc = split_item(p, &items[*n], err);
    if (rc != PT_OK) return rc;
    const char *k = items[*n].key;
    if (!stage_has_knob(stage, k, strlen(k)) && stage_has_knob(other, k, strlen(k)))
      *applies = 0;
    (*n)++;
    if (comma == NULL) return PT_OK;
  }
}

/* The product of the items' value counts, saturated just above EXPAND_MAX:
 * 16 knobs of 16 values is 2^64, which would wrap a long to 0. */
static long expand_count(const spec_item_t *items, int n) {
  long total = 1;
  for (int i = 0; i < n && total <= EXPAND_MAX; i++) total *= items[i].nvalues;
  return total > EXPAND_MAX ? EXPAND_MAX + 1L : total;
}

/* Adds the product of items' values, odometer order (last knob fastest). */
static int expand(pt_stage_t stage, const spec_item_t *items, int n,
                  vlist_t *out, pt_err_t *err) {
  int idx[SPEC_ITEMS_MAX] = {0};
  long total = expand_count(items, n);
  if (total > EXPAND_MAX)
    return pt_err_set(err, PT_EINVAL,
                      "expands to more than %d variants (the limit of one spec)", EXPAND_MAX);
  for (long c = 0; c < total; c++) {
    char text[512];
    size_t len = 0;
    text[0] = '\0';
    for (int i = 0; i < n && len < sizeof text; i++)
      len += (size_t)snprintf(text + len, sizeof text - len, "%s%s=%s", i ? "," : "",
                              items[i].key, items[i].values[idx[i]]);
    if (len >= sizeof text) return pt_err_set(err, PT_EINVAL, "spec too long");
    pt_variant_t v;
    int rc = pt_knobs_parse(stage, text, &v, err);
    if (rc == PT_OK) rc = vlist_add(out, &v, err);
    if (rc != PT_OK) return rc;
    for (int i = n - 1; i >= 0 && ++idx[i] == items[i].nvalues; i--) idx[i] = 0;
  }
  return PT_OK;
}

/* The knobs measured to move the time (bench/NOTES.md): tile shape, the
 * weights' cache policy (nt, up to 20% at M=128), k_wave and the epilog. */
static int add_pruned(pt_stage_t stage, vlist_t *out, pt_err_t *err) {
  static const char *const pruned[PT_STAGE_COUNT] = {
      "bm=16|32|64|128,bn=64|128,k_wave=1|2,nt=0|1",
      "bm=16|32|64|128,bn=64|128,nt=0|1,epilog=atomic|reduce"};
  char copy[128];
  spec_item_t items[SPEC_ITEMS_MAX];
  int n = 0, applies = 0;
  snprintf(copy, sizeof copy, "%s", pruned[stage]);
  int rc = split_spec(stage, copy, items, &n, &applies, err);
  return rc == PT_OK ? expand(stage, items, n, out, err) : rc;
}

static int add_all(pt_stage_t stage, vlist_t *out, pt_err_t *err) {
  size_t n = pt_knobs_space_size(stage);
  int rc = PT_OK;
  for (size_t i = 0; rc == PT_OK && i < n; i++) {
    pt_variant_t v;
    pt_knobs_space_at(stage, i, &v);
    rc = vlist_add(out, &v, err);
  }
  return rc;
}

static int add_spec(pt_stage_t stage, const char *spec, vlist_t *out,
                    pt_err_t *err) {
  if (strcmp(spec, "pruned") == 0) return add_pruned(stage, out, err);
  if (strcmp(spec, "all") == 0) return add_all(stage, out, err);
  spec_item_t items[SPEC_ITEMS_MAX];
  int n = 0, applies = 0;
  char *copy = strdup(spec);
  if (copy == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for a spec");
  int rc = split_spec(stage, copy, items, &n, &applies, err);
  if (rc == PT_OK && applies) rc = expand(stage, items, n, out, err);
  free(copy);
  return rc;
}

int pt_plan_variants(pt_stage_t stage, const char *const *specs, int nspecs,
                     pt_variant_t **out, int *n, pt_err_t *err) {
  static const char *const deflt[] = {"pruned"};
  vlist_t l = {0};
  int rc = PT_OK;
  if (specs == NULL) {
    specs = deflt;
    nspecs = 1;
  }
  for (int i = 0; rc == PT_OK && i < nspecs; i++) {
    rc = add_spec(stage, specs[i], &l, err);
    /* A long spec is cut so the message keeps its reason. */
    if (rc != PT_OK)
      pt_err_prefix(err, "variant spec '%.*s%s'", SPEC_SHOWN, specs[i],
                    strlen(specs[i]) > SPEC_SHOWN ? "..." : "");
  }
  if (rc != PT_OK) {
    free(l.v);
    l.v = NULL;
    l.n = 0;
  }
  *out = l.v;
  *n = l.n;
  return rc;
}

/* ---- tokens and shards ---- */

int pt_plan_parse_tokens(const char *list, int **out, int *n, pt_err_t *err) {
  int cap = 0, cnt = 0;
  int *v = NULL;
  const char *p = list;
  *out = NULL;
  *n = 0;
  for (;;) {
    const char *end = NULL;
    long t = 0;
    if (pt_num_parse_long(p, &end, 1, PT_FAMILY_TOKENS_MAX, &t) != 0 ||
        (*end != ',' && *end != '\0')) {
      free(v);
      size_t len = strcspn(p, ",");
      return pt_err_set(err, PT_EINVAL,
                        "token count '%.*s' in '%s' is not an integer in [1, %d]",
                        (int)len, p, list, PT_FAMILY_TOKENS_MAX);
    }
    if (cnt > 0 && t <= v[cnt - 1]) {
      free(v);
      return pt_err_set(err, PT_EINVAL,
                        "token counts in '%s' are not strictly increasing at %ld",
                        list, t);
    }
    if (cnt == cap) {
      cap = cap ? cap * 2 : 16;
      int *q = realloc(v, (size_t)cap * sizeof *q);
      if (q == NULL) {
        free(v);
        return pt_err_set(err, PT_ENOMEM, "out of memory for token counts");
      }
      v = q;
    }
    v[cnt++] = (int)t;
    if (*end == '\0') break;
    p = end + 1;
  }
  *out = v;
  *n = cnt;
  return PT_OK;
}

int pt_plan_shard_of(size_t k, int nshards) { return (int)(k % (size_t)nshards); }

int pt_plan_parse_shard(const char *s, int *shard, int *nshards, pt_err_t *err) {
  const char *end = NULL;
  long i = 0, n = 0;
  if (pt_num_parse_long(s, &end, 0, INT_MAX, &i) != 0 || *end != '/' ||
      pt_num_parse_long(end + 1, NULL, 1, INT_MAX, &n) != 0 || i >= n)
    return pt_err_set(err, PT_EINVAL, "shard '%s' is not i/N with 0 <= i < N", s);
  *shard = (int)i;
  *nshards = (int)n;
  return PT_OK;
}

/* ---- the plan ---- */

void pt_plan_req_smoke(pt_plan_req_t *req) {
  static const int tokens[] = {1, 16, 128, 1024};
  memset(req, 0, sizeof *req);
  req->family = "gptoss-120b";
  req->dtype = PT_DTYPE_A16W4;
  req->tokens = tokens;
  req->ntokens = (int)(sizeof tokens / sizeof tokens[0]);
  req->stage = -1;
  req->shard = 0;
  req->nshards = 1;
}

/* Seed of a problem's shuffle: its family name, dtype and token count. */
static uint64_t problem_seed(const pt_plan_problem_t *p) {
  uint64_t h = pt_hash_fnv1a_str(p->family->name);
  h = pt_hash_fnv1a_mix(h, (uint64_t)p->shape.dtype);
  return pt_hash_fnv1a_mix(h, (uint64_t)p->tokens);
}

static void shuffle(pt_plan_item_t *v, size_t n, uint64_t seed) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(pt_rng_splitmix64(&seed) % i);
    pt_plan_item_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

static int check_req(const pt_family_set_t *set, const pt_plan_req_t *req,
                     const pt_family_t **only, pt_err_t *err) {
  *only = NULL;
  if (req->family != NULL && pt_family_lookup(set, req->family, only, err) != PT_OK)
    return pt_err_prefix(err, "option --family");
  if (req->dtype >= PT_DTYPE_COUNT || req->dtype < -1)
    return pt_err_set(err, PT_EINVAL, "option --dtype: no dtype %d", req->dtype);
  if (req->stage >= PT_STAGE_COUNT || req->stage < -1)
    return pt_err_set(err, PT_EINVAL, "option --stage: no stage %d", req->stage);
  if (req->nshards < 1 || req->shard < 0 || req->shard >= req->nshards)
    return pt_err_set(err, PT_EINVAL, "option --shard: %d/%d is not i/N with 0 <= i < N",
                      req->shard, req->nshards);
  for (int i = 0; i < req->ntokens; i++)
    if (req->tokens[i] < 1 || req->tokens[i] > PT_FAMILY_TOKENS_MAX ||
        (i > 0 && req->tokens[i] <= req->tokens[i - 1]))
      return pt_err_set(err, PT_EINVAL,
                        "option --tokens: %d is not a strictly increasing count in [1, %d]",
                        req->tokens[i], PT_FAMILY_TOKENS_MAX);
  return PT_OK;
}

static int in_grid(const int *t, int n, int v) {
  for (int i = 0; i < n; i++)
    if (t[i] == v) return 1;
  return 0;
}

void pt_plan_midpoints(const int *t, int n, int *out, int *nout) {
  *nout = 0;
  for (int i = 0; i + 1 < n; i++) {
    uint64_t p = (uint64_t)t[i] * (uint64_t)t[i + 1], r = (uint64_t)sqrt((double)p);
    while (r * r > p) r--;
    while ((r + 1) * (r + 1) <= p) r++;
    int m = (int)(p > r * r + r ? r + 1 : r);  /* sqrt(p) >= r + 1/2 */
    if (!in_grid(t, n, m) && (*nout == 0 || out[*nout - 1] != m)) out[(*nout)++] = m;
  }
}

/* Appends the problems of family f (all its dtypes or req->dtype). */
static int add_problems(const pt_family_t *f, const pt_plan_req_t *req,
                        pt_plan_t *plan, int *cap, pt_err_t *err) {
  const int *tok = req->tokens != NULL ? req->tokens : f->tokens;
  int ntok = req->tokens != NULL ? req->ntokens : f->ntokens;
  int mid[PT_PLAN_MIDPOINTS_MAX];
  if (req->holdout) {
    if (ntok > PT_PLAN_MIDPOINTS_MAX)
      return pt_err_set(err, PT_EINVAL, "option --holdout: more than %d token counts",
                        PT_PLAN_MIDPOINTS_MAX);
    pt_plan_midpoints(tok, ntok, mid, &ntok);
    tok = mid;
  }
  int found = req->dtype < 0;
  for (int d = 0; d < f->ndtypes; d++) {
    if (req->dtype >= 0 && (int)f->dtypes[d] != req->dtype) continue;
    found = 1;
    for (int t = 0; t < ntok; t++) {
      if (plan->nproblems == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        pt_plan_problem_t *p = realloc(plan->problems, (size_t)*cap * sizeof *p);
        if (p == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for the plan");
        plan->problems = p;
      }
      pt_plan_problem_t *p = &plan->problems[plan->nproblems++];
      p->family = f;
      p->tokens = tok[t];
      int rc = pt_family_shape(f, f->dtypes[d], &p->shape, err);
      if (rc != PT_OK) return rc;
    }
  }
  if (!found && req->family != NULL)
    return pt_err_set(err, PT_EINVAL, "option --dtype: family '%s' has no dtype '%s'",
                      f->name, pt_dtype_name((pt_dtype_t)req->dtype));
  return PT_OK;
}

/* Items of every problem, each problem's candidates shuffled, then the
 * shard's share kept. */
static int add_items(pt_plan_t *plan, pt_variant_t *const *vars,
                     const pt_plan_req_t *req, pt_err_t *err) {
  size_t per = (size_t)plan->nvariants[0] + (size_t)plan->nvariants[1];
  plan->ntotal = per * (size_t)plan->nproblems;
  plan->items = malloc((per > 0 ? per : 1) * sizeof *plan->items);
  pt_plan_item_t *buf = malloc((per > 0 ? per : 1) * sizeof *buf);
  size_t cap = per, k = 0;
  int rc = plan->items && buf ? PT_OK : pt_err_set(err, PT_ENOMEM, "out of memory for the plan");
  for (int p = 0; rc == PT_OK && p < plan->nproblems; p++) {
    size_t m = 0;
    for (int s = 0; s < PT_STAGE_COUNT; s++)
      for (int v = 0; v < plan->nvariants[s]; v++)
        buf[m++] = (pt_plan_item_t){p, vars[s][v]};
    shuffle(buf, m, problem_seed(&plan->problems[p]));
    for (size_t i = 0; rc == PT_OK && i < m; i++, k++) {
      if (pt_plan_shard_of(k, req->nshards) != req->shard) continue;
      if (plan->nitems == cap) {
        pt_plan_item_t *q = realloc(plan->items, (cap *= 2) * sizeof *q);
        if (q == NULL) rc = pt_err_set(err, PT_ENOMEM, "out of memory for the plan");
        else plan->items = q;
      }
      if (rc == PT_OK) plan->items[plan->nitems++] = buf[i];
    }
  }
  free(buf);
  return rc;
}

int pt_plan_build(const pt_family_set_t *set, const pt_plan_req_t *req,
                  pt_plan_t *out, pt_err_t *err) {
  const pt_family_t *only = NULL;
  pt_variant_t *vars[PT_STAGE_COUNT] = {NULL, NULL};
  int cap = 0;
  memset(out, 0, sizeof *out);
  int rc = check_req(set, req, &only, err);
  for (int f = 0; rc == PT_OK && f < set->nfamilies; f++)
    if (only == NULL || only == &set->families[f])
      rc = add_problems(&set->families[f], req, out, &cap, err);
  for (int s = 0; rc == PT_OK && s < PT_STAGE_COUNT; s++)
    if (req->stage < 0 || req->stage == s)
      rc = pt_plan_variants((pt_stage_t)s, req->variants, req->nvariants, &vars[s],
                            &out->nvariants[s], err);
  if (rc == PT_OK && (out->nproblems == 0 || out->nvariants[0] + out->nvariants[1] == 0))
    rc = pt_err_set(err, PT_EINVAL, "the plan is empty: %s",
                    out->nproblems == 0 ? "no family, dtype and tokens match"
                                        : "no variant matches the stage");
  if (rc == PT_OK) rc = add_items(out, vars, req, err);
  for (int s = 0; s < PT_STAGE_COUNT; s++) free(vars[s]);
  if (rc != PT_OK) pt_plan_free(out);
  return rc;
}

int pt_plan_of_items(const pt_plan_t *base, const pt_plan_item_t *items, size_t n,
                     pt_plan_t *out, pt_err_t *err) {
  memset(out, 0, sizeof *out);
  size_t np = (size_t)base->nproblems;
  out->problems = malloc((np > 0 ? np : 1) * sizeof *out->problems);
  out->items = malloc((n > 0 ? n : 1) * sizeof *out->items);
  if (out->problems == NULL || out->items == NULL) {
    pt_plan_free(out);
    return pt_err_set(err, PT_ENOMEM, "out of memory for the plan");
  }
  memcpy(out->problems, base->problems, np * sizeof *out->problems);
  out->nproblems = base->nproblems;
  for (int p = 0; p < base->nproblems; p++) {
    size_t first = out->nitems;
    for (size_t i = 0; i < n; i++)
      if (items[i].problem == p) out->items[out->nitems++] = items[i];
    shuffle(out->items + first, out->nitems - first, problem_seed(&out->problems[p]));
  }
  out->ntotal = out->nitems;
  return PT_OK;
}

void pt_plan_db_problem(const pt_plan_t *plan, int i, const pt_routing_t *r,
                        uint64_t seed, pt_db_problem_t *out) {
  const pt_plan_problem_t *pr = &plan->problems[i];
  int zipf = r->kind == PT_ROUTING_ZIPF;
  *out = (pt_db_problem_t){pr->family->name, pr->shape.model_dim, pr->shape.inter_dim,
                           pr->shape.experts, pr->shape.topk, pt_dtype_name(pr->shape.dtype),
                           pt_act_name(pr->shape.act), pr->tokens, pt_routing_kind_name(r->kind),
                           zipf ? r->zipf_s : 0.0, (int64_t)seed};
}

void pt_plan_free(pt_plan_t *plan) {
  free(plan->problems);
  free(plan->items);
  memset(plan, 0, sizeof *plan);
}

int pt_plan_pairs(const pt_plan_t *grid, const pt_variant_t *g1, const pt_variant_t *g2,
                  pt_plan_t *out, pt_err_t *err) {
  size_t n = (size_t)grid->nproblems;
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++)
    if (g1[i].stage != PT_STAGE_GEMM1 || g2[i].stage != PT_STAGE_GEMM2)
      return pt_err_set(err, PT_EINVAL, "pair %zu is not a gemm1 and a gemm2 variant", i);
  out->problems = malloc((n > 0 ? n : 1) * sizeof *out->problems);
  out->items = malloc((n > 0 ? 2 * n : 1) * sizeof *out->items);
  if (out->problems == NULL || out->items == NULL) {
    pt_plan_free(out);
    return pt_err_set(err, PT_ENOMEM, "out of memory for the pairs");
  }
  memcpy(out->problems, grid->problems, n * sizeof *out->problems);
  for (size_t i = 0; i < n; i++) {
    out->items[2 * i] = (pt_plan_item_t){(int)i, g1[i]};
    out->items[2 * i + 1] = (pt_plan_item_t){(int)i, g2[i]};
  }
  out->nproblems = grid->nproblems;
  out->nitems = out->ntotal = 2 * n;
  out->nvariants[PT_STAGE_GEMM1] = out->nvariants[PT_STAGE_GEMM2] = 1;
  out->pairs = 1;
  return PT_OK;
}
