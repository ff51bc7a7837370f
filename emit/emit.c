/* The generated dispatch table (see emit.h): building it from a result set,
 * then writing it as C. Everything written comes from the table in a fixed
 * order and every string from the database goes through the escaper, so the
 * same database gives the same bytes and no stored string can end a comment
 * or a literal early. */
#include "emit.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "moe.h"

/* ---- escaping ---- */

static int safe_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != 0 && strchr(" _.,:;+=-#%&!^~|'()[]{}<>", c));
}

/* The spelling of byte c: itself, or a 3-digit octal escape (a following
 * digit can never extend it). Returns its length. */
static size_t esc_char(unsigned char c, char out[5]) {
  if (safe_char(c)) {
    out[0] = (char)c;
    out[1] = '\0';
    return 1;
  }
  snprintf(out, 5, "\\%03o", c);
  return 4;
}

size_t pt_emit_c_escape(const char *s, char *buf, size_t len) {
  size_t need = 0, w = 0;
  int full = len == 0;
  char unit[5];
  for (; *s; s++) {
    size_t u = esc_char((unsigned char)*s, unit);
    /* Whole units only: a cut escape would spell a different string. */
    if (!full && w + u < len) {
      memcpy(buf + w, unit, u);
      w += u;
    } else {
      full = 1;
    }
    need += u;
  }
  if (len) buf[w] = '\0';
  return need;
}

static void put_esc(FILE *f, const char *s) {
  char unit[5];
  for (; s && *s; s++) {
    esc_char((unsigned char)*s, unit);
    fputs(unit, f);
  }
}

/* ---- building ---- */

static void free_families(pt_emit_family_t *f, size_t n) {
  for (size_t i = 0; i < n; i++) free(f[i].intervals);
  free(f);
}

static void free_arch(pt_emit_arch_t *a) {
  free_families(a->families, a->nfamilies);
  for (size_t i = 0; i < a->ndevices; i++)
    free_families(a->devices[i].families, a->devices[i].nfamilies);
  free(a->devices);
}

void pt_emit_free(pt_emit_table_t *t) {
  if (t == NULL) return;
  for (size_t i = 0; i < t->narchs; i++) free_arch(&t->archs[i]);
  free(t->archs);
  free(t->configs);
  for (size_t i = 0; i < t->nskipped; i++) free(t->skipped[i]);
  free(t->skipped);
  free(t);
}

static int push(void *arr, size_t *n, size_t sz) {
  void *p = realloc(*(void **)arr, (*n + 1) * sz);
  if (p == NULL) return PT_ENOMEM;
  memset((char *)p + *n * sz, 0, sz);
  *(void **)arr = p;
  (*n)++;
  return PT_OK;
}

static int oom(pt_err_t *err) { return pt_err_set(err, PT_ENOMEM, "out of memory"); }

static int parse_spec(const pt_query_set_t *set, pt_stage_t st, const char *spec,
                      pt_variant_t *v, pt_err_t *err) {
  if (pt_knobs_parse(st, spec, v, err) == PT_OK) return PT_OK;
  return pt_err_prefix(err, "%s variant '%s' in '%s'", pt_stage_name(st), spec,
                       set->source);
}

/* Index of the config joining g1 and g2, added when new. */
static int config_of(pt_emit_table_t *t, const char *g1, const char *g2,
                     int *index, pt_err_t *err) {
  for (size_t i = 0; i < t->nconfigs; i++)
    if (strcmp(t->configs[i].g1_spec, g1) == 0 && strcmp(t->configs[i].g2_spec, g2) == 0) {
      *index = (int)i;
      return PT_OK;
    }
  pt_emit_config_t c = {.g1_spec = g1, .g2_spec = g2};
  int rc = parse_spec(t->set, PT_STAGE_GEMM1, g1, &c.g1, err);
  if (rc == PT_OK) rc = parse_spec(t->set, PT_STAGE_GEMM2, g2, &c.g2, err);
  if (rc != PT_OK) return rc;
  c.sbm = c.g1.bm > c.g2.bm ? c.g1.bm : c.g2.bm;
  if (push(&t->configs, &t->nconfigs, sizeof c) != PT_OK) return oom(err);
  t->configs[t->nconfigs - 1] = c;
  *index = (int)t->nconfigs - 1;
  return PT_OK;
}

/* The runs of one stage: measured points with a winner, neighbours with the
 * same winner merged; lo/hi of each run in *bounds (2 per run). */
static int stage_runs(const pt_query_series_t *s, pt_emit_run_t **runs,
                      int **bounds, size_t *nruns, size_t *npoints) {
  size_t n = 0, r = 0, cap = s->npoints ? s->npoints : 1;
  int *tok = malloc(cap * sizeof *tok);
  const char **spec = malloc(cap * sizeof *spec);
  *runs = calloc(cap, sizeof **runs);
  *bounds = calloc(2 * cap, sizeof **bounds);
  if (tok == NULL || spec == NULL || *runs == NULL || *bounds == NULL) {
    free(tok);
    free(spec);
    return PT_ENOMEM;
  }
  size_t *tie = malloc(cap * sizeof *tie);
  if (tie == NULL) {
    free(tok);
    free(spec);
    return PT_ENOMEM;
  }
  for (size_t i = 0; i < s->npoints; i++)
    if (s->points[i].pick >= 0) {
      tok[n] = s->points[i].tokens;
      tie[n] = s->points[i].pick != s->points[i].best;
      spec[n++] = s->points[i].vars[s->points[i].pick].spec;
    }
  for (size_t i = 0; i < n; i++) {
    int lo, hi;
    pt_query_interval(tok, n, i, &lo, &hi);
    if (r && strcmp((*runs)[r - 1].spec, spec[i]) == 0) {
      (*runs)[r - 1].last = tok[i];
      (*runs)[r - 1].ties += tie[i];
      (*bounds)[2 * r - 1] = hi;
      continue;
    }
    (*runs)[r] = (pt_emit_run_t){.first = tok[i], .last = tok[i], .spec = spec[i],
                                 .ties = tie[i]};
    (*bounds)[2 * r] = lo;
    (*bounds)[2 * r + 1] = hi;
    r++;
  }
  free(tok);
  free(spec);
  free(tie);
  *nruns = r;
  *npoints = n;
  return PT_OK;
}

/* Joins the two stages' runs: a new interval wherever either changes. */
static int join_runs(pt_emit_table_t *t, pt_emit_family_t *fam,
                     const pt_emit_run_t *r1, const int *b1,
                     const pt_emit_run_t *r2, const int *b2, pt_err_t *err) {
  size_t i = 0, j = 0;
  int lo = 1;
  for (;;) {
    int hi = b1[2 * i + 1] < b2[2 * j + 1] ? b1[2 * i + 1] : b2[2 * j + 1];
    if (push(&fam->intervals, &fam->nintervals, sizeof *fam->intervals) != PT_OK)
      return oom(err);
    pt_emit_interval_t *iv = &fam->intervals[fam->nintervals - 1];
    *iv = (pt_emit_interval_t){.lo = lo, .hi = hi, .g1 = r1[i], .g2 = r2[j]};
    int rc = config_of(t, r1[i].spec, r2[j].spec, &iv->config, err);
    if (rc != PT_OK || hi == INT_MAX) return rc;
    i += b1[2 * i + 1] == hi;
    j += b2[2 * j + 1] == hi;
    lo = hi + 1;
  }
}

static int family_intervals(pt_emit_table_t *t, pt_emit_family_t *fam,
                            pt_err_t *err) {
  pt_emit_run_t *r1 = NULL, *r2 = NULL;
  int *b1 = NULL, *b2 = NULL;
  size_t n1, n2;
  int rc = stage_runs(fam->g1s, &r1, &b1, &n1, &fam->g1_points);
  if (rc == PT_OK) rc = stage_runs(fam->g2s, &r2, &b2, &n2, &fam->g2_points);
  if (rc != PT_OK) rc = oom(err);
  else rc = join_runs(t, fam, r1, b1, r2, b2, err);
  free(r1);
  free(r2);
  free(b1);
  free(b2);
  return rc;
}

static int has_winner(const pt_query_series_t *s) {
  for (size_t i = 0; s && i < s->npoints; i++)
    if (s->points[i].best >= 0) return 1;
  return 0;
}

static int skip(pt_emit_table_t *t, const pt_query_series_t *s, const char *device,
                const char *why, pt_err_t *err) {
  char msg[PT_ERRMSG_MAX], dev[PT_ERRMSG_MAX / 2] = "";
  if (device) snprintf(dev, sizeof dev, " ('%s')", device);
  snprintf(msg, sizeof msg, "family '%s' %s on '%s'%s left out: %s", s->family,
           s->dtype, s->arch, dev, why);
  if (push(&t->skipped, &t->nskipped, sizeof *t->skipped) != PT_OK ||
      (t->skipped[t->nskipped - 1] = strdup(msg)) == NULL)
    return oom(err);
  return PT_OK;
}

static int same_family(const pt_query_series_t *a, const pt_query_series_t *b) {
  return strcmp(a->arch, b->arch) == 0 && strcmp(a->family, b->family) == 0 &&
         a->model_dim == b->model_dim && a->inter_dim == b->inter_dim &&
         a->experts == b->experts && a->topk == b->topk &&
         strcmp(a->dtype, b->dtype) == 0 && strcmp(a->act, b->act) == 0;
}

static pt_emit_arch_t *arch_entry(pt_emit_table_t *t, const char *arch) {
  if (t->narchs && strcmp(t->archs[t->narchs - 1].arch, arch) == 0)
    return &t->archs[t->narchs - 1];
  if (push(&t->archs, &t->narchs, sizeof *t->archs) != PT_OK) return NULL;
  t->archs[t->narchs - 1].arch = arch;
  return &t->archs[t->narchs - 1];
}

static int check_shape(const pt_emit_family_t *fams, size_t n, const char *arch,
                       const pt_emit_family_t *f, const char *source, pt_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    const pt_emit_family_t *o = &fams[i];
    if (o->model_dim == f->model_dim && o->inter_dim == f->inter_dim &&
        o->experts == f->experts && o->topk == f->topk && o->dtype_id == f->dtype_id)
      return pt_err_set(err, PT_EINVAL,
                        "families '%s' and '%s' of '%s' have the same shape and "
                        "dtype %s on '%s': the generated lookup cannot tell them "
                        "apart (emit one of them with --family)",
                        o->name, f->name, source, f->dtype, arch);
  }
  return PT_OK;
}

/* A list of families being built: an arch's or a device model's. */
typedef struct famlist_s {
  pt_emit_family_t **fams;
  size_t *n;
  const char *arch, *device;  /* device NULL: the arch's list */
} famlist_t;

/* Adds the family of series group g[0..n) (one or two stages) to the list
 * (an arch's list is found or made from the group's arch, once kept). */
static int add_family(pt_emit_table_t *t, famlist_t *L, const pt_query_series_t *g,
                      size_t n, pt_err_t *err) {
  const pt_query_series_t *s1 = NULL, *s2 = NULL;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(g[i].stage, "gemm1") == 0) s1 = &g[i];
    if (strcmp(g[i].stage, "gemm2") == 0) s2 = &g[i];
  }
  if (!has_winner(s1) || !has_winner(s2))
    return skip(t, g, L->device,
                !has_winner(s1) ? "no ok gemm1 result" : "no ok gemm2 result", err);
  pt_emit_family_t f = {.name = g->family, .dtype = g->dtype, .act = g->act,
                        .model_dim = g->model_dim, .inter_dim = g->inter_dim,
                        .experts = g->experts, .topk = g->topk, .g1s = s1, .g2s = s2};
  pt_dtype_t d;
  if (pt_dtype_parse(g->dtype, &d) != 0)
    return pt_err_set(err, PT_EINVAL, "unknown dtype '%s' of family '%s' in '%s'",
                      g->dtype, g->family, t->set->source);
  f.dtype_id = (int)d;
  if (L->device == NULL) {
    pt_emit_arch_t *a = arch_entry(t, g->arch);
    if (a == NULL) return oom(err);
    *L = (famlist_t){&a->families, &a->nfamilies, a->arch, NULL};
  }
  int rc = check_shape(*L->fams, *L->n, L->arch, &f, t->set->source, err);
  if (rc == PT_OK) rc = family_intervals(t, &f, err);
  if (rc == PT_OK && push(L->fams, L->n, sizeof f) != PT_OK) rc = oom(err);
  if (rc != PT_OK) {
    free(f.intervals);
    return rc;
  }
  (*L->fams)[*L->n - 1] = f;
  return PT_OK;
}

/* The device models of set on arch: how many, and the first. */
static size_t models_of(const pt_query_set_t *set, const char *arch, size_t *first) {
  size_t n = 0;
  for (size_t i = set->nmodels; i-- > 0;)
    if (strcmp(set->models[i].arch, arch) == 0) {
      *first = i;
      n++;
    }
  return n;
}

int pt_emit_needs_device_set(const pt_query_set_t *set, const pt_query_model_t *m) {
  size_t first = 0;
  return models_of(set, m->arch, &first) > 1;
}

int pt_emit_load_device_sets(const char *db, const pt_query_filter_t *filter,
                             const pt_query_set_t *set, pt_query_set_t ***out, size_t *n,
                             pt_err_t *err) {
  *n = 0;
  *out = calloc(set->nmodels ? set->nmodels : 1, sizeof **out);
  if (*out == NULL) return oom(err);
  int rc = PT_OK;
  for (size_t i = 0; rc == PT_OK && i < set->nmodels; i++) {
    if (!pt_emit_needs_device_set(set, &set->models[i])) continue;
    pt_query_filter_t f = *filter;
    f.device = set->models[i].name;
    rc = pt_query_load(db, &f, &(*out)[*n], err);
    if (rc == PT_OK) (*n)++;
  }
  return rc;
}

void pt_emit_free_sets(pt_query_set_t **sets, size_t n) {
  for (size_t i = 0; i < n; i++) pt_query_free(sets[i]);
  free(sets);
}

static const pt_query_set_t *device_set(const pt_query_set_t *const *devsets, size_t n,
                                        const char *name) {
  for (size_t i = 0; i < n; i++)
    if (devsets[i]->device && strcmp(devsets[i]->device, name) == 0) return devsets[i];
  return NULL;
}

/* The families of device model dev of arch a, from its own result set. */
static int device_families(pt_emit_table_t *t, const pt_emit_arch_t *a,
                           pt_emit_device_t *dev, const pt_query_set_t *ds, pt_err_t *err) {
  int rc = PT_OK;
  for (size_t s = 0, e; rc == PT_OK && s < ds->nseries; s = e) {
    for (e = s + 1; e < ds->nseries && same_family(&ds->series[s], &ds->series[e]); e++) {}
    if (strcmp(ds->series[s].arch, a->arch) != 0) continue;
    famlist_t L = {&dev->families, &dev->nfamilies, a->arch, dev->name};
    rc = add_family(t, &L, &ds->series[s], e - s, err);
  }
  return rc;
}

/* Arch a's device models: shared with the arch when it is the only one. */
static int add_devices(pt_emit_table_t *t, pt_emit_arch_t *a,
                       const pt_query_set_t *const *devsets, size_t ndevsets,
                       pt_err_t *err) {
  const pt_query_set_t *set = t->set;
  size_t first = 0, n = models_of(set, a->arch, &first);
  int rc = PT_OK;
  for (size_t i = first; rc == PT_OK && i < set->nmodels; i++) {
    const pt_query_model_t *m = &set->models[i];
    if (strcmp(m->arch, a->arch) != 0) continue;
    if (push(&a->devices, &a->ndevices, sizeof *a->devices) != PT_OK) return oom(err);
    pt_emit_device_t *dev = &a->devices[a->ndevices - 1];
    dev->name = m->name;
    dev->shared = n == 1;
    if (dev->shared) continue;
    const pt_query_set_t *ds = device_set(devsets, ndevsets, m->name);
    if (ds == NULL)
      return pt_err_set(err, PT_EINVAL, "no result set for device '%s' of '%s'", m->name,
                        set->source);
    rc = device_families(t, a, dev, ds, err);
  }
  return rc;
}

static int wanted(const char *arch, const char *const *archs, size_t narchs) {
  for (size_t i = 0; i < narchs; i++)
    if (strcmp(archs[i], arch) == 0) return 1;
  return narchs == 0;
}

static int check_archs(const pt_query_set_t *set, const char *const *archs,
                       size_t narchs, pt_err_t *err) {
  for (size_t i = 0; i < narchs; i++) {
    size_t s = 0;
    while (s < set->nseries && strcmp(set->series[s].arch, archs[i]) != 0) s++;
    if (s == set->nseries)
      return pt_err_set(err, PT_EINVAL, "no results for arch '%s' in '%s'", archs[i],
                        set->source);
  }
  return PT_OK;
}

/* Appends the points with a winner of every kept family's stage series. */
static int collect_points(const pt_emit_arch_t *a, size_t na, pt_stage_t st,
                          const pt_query_point_t ***pts, size_t *n) {
  size_t cap = 0;
  *n = 0;
  for (size_t i = 0; i < na; i++)
    for (size_t f = 0; f < a[i].nfamilies; f++) {
      const pt_query_series_t *s =
          st == PT_STAGE_GEMM1 ? a[i].families[f].g1s : a[i].families[f].g2s;
      cap += s->npoints;
    }
  *pts = malloc((cap ? cap : 1) * sizeof **pts);
  if (*pts == NULL) return PT_ENOMEM;
  for (size_t i = 0; i < na; i++)
    for (size_t f = 0; f < a[i].nfamilies; f++) {
      const pt_query_series_t *s =
          st == PT_STAGE_GEMM1 ? a[i].families[f].g1s : a[i].families[f].g2s;
      for (size_t p = 0; p < s->npoints; p++)
        if (s->points[p].best >= 0) (*pts)[(*n)++] = &s->points[p];
    }
  return PT_OK;
}

/* The fixed-variant default over the kept families of archs a[0..na). */
static int make_default(pt_emit_table_t *t, const pt_emit_arch_t *a, size_t na,
                        pt_emit_default_t *d, pt_err_t *err) {
  const pt_query_point_t **p1 = NULL, **p2 = NULL;
  size_t n1, n2;
  int rc = collect_points(a, na, PT_STAGE_GEMM1, &p1, &n1);
  if (rc == PT_OK) rc = collect_points(a, na, PT_STAGE_GEMM2, &p2, &n2);
  if (rc == PT_OK) rc = pt_query_fixed(p1, n1, NULL, &d->g1);
  if (rc == PT_OK) rc = pt_query_fixed(p2, n2, NULL, &d->g2);
  free(p1);
  free(p2);
  if (rc == PT_ENOMEM) return oom(err);
  if (rc != PT_OK)
    return pt_err_set(err, PT_ENOENT, "no default variant in '%s'", t->set->source);
  return config_of(t, d->g1.spec, d->g2.spec, &d->config, err);
}

static int build(pt_emit_table_t *t, const pt_query_set_t *const *devsets,
                 size_t ndevsets, const char *const *archs, size_t narchs,
                 pt_err_t *err) {
  const pt_query_set_t *set = t->set;
  int rc = check_archs(set, archs, narchs, err);
  for (size_t s = 0, e; rc == PT_OK && s < set->nseries; s = e) {
    for (e = s + 1; e < set->nseries && same_family(&set->series[s], &set->series[e]);
         e++) {}
    famlist_t L = {0};
    if (wanted(set->series[s].arch, archs, narchs))
      rc = add_family(t, &L, &set->series[s], e - s, err);
  }
  for (size_t i = 0; rc == PT_OK && i < t->narchs; i++)
    rc = add_devices(t, &t->archs[i], devsets, ndevsets, err);
  if (rc != PT_OK) return rc;
  if (t->narchs == 0)
    return pt_err_set(err, PT_ENOENT,
                      "nothing to emit: no family of '%s' has an ok result for both "
                      "stages (regime %s, routing %s; %zu results read, %zu failed)",
                      set->source, set->regime, set->routing, set->nrows,
                      set->nfailures);
  for (size_t i = 0; rc == PT_OK && i < t->narchs; i++)
    rc = make_default(t, &t->archs[i], 1, &t->archs[i].dflt, err);
  if (rc == PT_OK) rc = make_default(t, t->archs, t->narchs, &t->global, err);
  return rc;
}

int pt_emit_build(const pt_query_set_t *set, const pt_query_set_t *const *devsets,
                  size_t ndevsets, const char *const *archs, size_t narchs,
                  pt_emit_table_t **out, pt_err_t *err) {
  *out = NULL;
  pt_emit_table_t *t = calloc(1, sizeof *t);
  if (t == NULL) return oom(err);
  t->set = set;
  int rc = build(t, devsets, ndevsets, archs, narchs, err);
  if (rc != PT_OK) {
    pt_emit_free(t);
    return rc;
  }
  *out = t;
  return PT_OK;
}

const pt_emit_config_t *pt_emit_pick(const pt_emit_table_t *t,
                                     const pt_emit_family_t *f, int tokens) {
  size_t i = 0;
  while (i + 1 < f->nintervals && f->intervals[i].hi < tokens) i++;
  return &t->configs[f->intervals[i].config];
}

/* ---- writing ---- */

static const char rules_text[] =
    " * select_pipe_config() fills *out and returns how it found the config,\n"
    " * falling back device model -> arch -> global:\n"
    " *   PIPE_CONFIG_DEVICE (0): the family (model_dim, inter_dim, experts,\n"
    " *     topk, dtype) was tuned on this device model (device equals the name\n"
    " *     the database recorded, e.g. \"NVIDIA H200\"): its own winners.\n"
    " *   PIPE_CONFIG_ARCH (1): the family was tuned on this arch but not on this\n"
    " *     device model (or device is NULL): the winners over every model of\n"
    " *     the arch, each variant at its fastest. In both, token counts go to\n"
    " *     the measured count nearest in log scale, the smaller on a tie: each\n"
    " *     interval ends at the geometric midpoint floor(sqrt(a*b)) of two\n"
    " *     neighbouring measured counts a < b; below the smallest and above the\n"
    " *     largest measured count, that count's config. Boundaries move only\n"
    " *     where the winner changes.\n"
    " *   PIPE_CONFIG_NEAREST (2): untuned shape. The family of the same dtype on\n"
    " *     this arch nearest in shape (smallest product of the larger/smaller\n"
    " *     ratios of model_dim and inter_dim; then of experts and topk; then\n"
    " *     table order), looked up at the token count giving the same rows per\n"
    " *     expert: tokens * topk * its experts / (experts * its topk), rounded.\n"
    " *   PIPE_CONFIG_ARCH_DEFAULT (3): no family of this dtype tuned on this\n"
    " *     arch. Per stage, the variant measured at the most tuned points of the\n"
    " *     arch with the best geometric-mean time relative to each point's best.\n"
    " *   PIPE_CONFIG_GLOBAL (-1): arch not in the table. The global default:\n"
    " *     the same rule over the tuned points of every arch.\n"
    " *   PIPE_CONFIG_EINVAL (-2): arch or out NULL, a dtype other than\n"
    " *     PIPE_DTYPE_*, or a count below 1; *out is left as it was.\n"
    " * arch matches a table arch exactly, else the table arch followed by ':'\n"
    " * and target features (\"gfx90a:sramecc+:xnack-\" matches gfx90a).\n"
    " * A stage's winner at a measured count is its noise-aware pick: the\n"
    " * fastest, unless a variant within the tie tolerance of it keeps the\n"
    " * neighbouring counts' config (fewest intervals, then the most counts\n"
    " * keeping their fastest, then the config nearest the stage default).\n"
    " * sbm (the sort block) is max(g1.bm, g2.bm).\n";

/* The generated spc_exact: a family is found by its shape and dtype. */
static const pt_emit_family_t *exact(const pt_emit_family_t *fams, size_t n,
                                     const pt_moe_shape_t *sh) {
  for (size_t i = 0; i < n; i++)
    if (fams[i].dtype_id == (int)sh->dtype && fams[i].model_dim == sh->model_dim &&
        fams[i].inter_dim == sh->inter_dim && fams[i].experts == sh->experts &&
        fams[i].topk == sh->topk)
      return &fams[i];
  return NULL;
}

const pt_emit_family_t *pt_emit_find_family(const pt_emit_table_t *t, const char *arch,
                                            const char *device, const pt_moe_shape_t *shape) {
  for (size_t a = 0; a < t->narchs; a++) {
    const pt_emit_arch_t *A = &t->archs[a];
    if (strcmp(A->arch, arch) != 0) continue;
    for (size_t d = 0; device != NULL && d < A->ndevices; d++)
      if (!A->devices[d].shared && strcmp(A->devices[d].name, device) == 0) {
        const pt_emit_family_t *f = exact(A->devices[d].families, A->devices[d].nfamilies, shape);
        if (f != NULL) return f;
      }
    return exact(A->families, A->nfamilies, shape);
  }
  return NULL;
}

static void provenance(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f) {
  const pt_query_set_t *s = t->set;
  fputs("/* Generated by pipetune " PACKAGE_VERSION " from \"", f);
  put_esc(f, s->source);
  fputs("\"; do not edit.\n *\n", f);
  fprintf(f, " * database digest: xxh3-128 %s\n * devices:", s->digest);
  for (size_t i = 0; i < s->ndevices; i++) {
    fputs(i ? ", \"" : " \"", f);
    put_esc(f, s->devices[i]);
    fputs("\"", f);
  }
  fputs("\n * measured: ", f);
  put_esc(f, s->first);
  fputs(" to ", f);
  put_esc(f, s->last);
  fprintf(f, " (%zu results) by pipetune", s->nrows);
  for (size_t i = 0; i < s->ntool_versions; i++) {
    fputs(i ? ", " : " ", f);
    put_esc(f, s->tool_versions[i]);
  }
  fputs("\n * selection: regime ", f);
  put_esc(f, s->regime);
  fputs(", routing ", f);
  put_esc(f, s->routing);
  if (strcmp(s->routing, "uniform") != 0) fprintf(f, " %g", s->routing_param);
  if (s->device) {
    fputs(", device \"", f);
    put_esc(f, s->device);
    fputs("\"", f);
  }
  if (s->tie_tol == PT_QUERY_TIE_AUTO)
    fputs("\n * tie tolerance: auto (the two results' spreads, MAD x median each)", f);
  else fprintf(f, "\n * tie tolerance: %g%% of the fastest median", s->tie_tol * 100);
  fputs("\n", f);
  if (o && o->timestamp) {
    fputs(" * generated: ", f);
    put_esc(f, o->timestamp);
    fputs("\n", f);
  }
  for (size_t i = 0; i < t->nskipped; i++) {
    fputs(i ? " *   " : " * left out:\n *   ", f);
    put_esc(f, t->skipped[i]);
    fputs("\n", f);
  }
  fputs(" *\n", f);
  fputs(rules_text, f);
  fputs(" */\n", f);
}

static const char *const stage_members[PT_STAGE_COUNT] = {"g1", "g2"};

const char *pt_emit_stage_member(pt_stage_t s) {
  return (unsigned)s < PT_STAGE_COUNT ? stage_members[s] : "unknown";
}

static void put_upper(FILE *f, const char *s) {
  for (; *s; s++) fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
}

/* "/\* g2.epilog *\/ #define PIPE_EPILOG_ATOMIC 0 ...": the values of each
 * symbolic knob. */
static void symbol_defines(FILE *f) {
  for (int i = 0; i < pt_knobs_count(); i++) {
    const pt_knob_t *k = pt_knobs_at(i);
    if (k->symbols == NULL) continue;
    fputs("/* ", f);
    for (int s = 0, n = 0; s < PT_STAGE_COUNT; s++)
      if (pt_knobs_in_stage(k, (pt_stage_t)s))
        fprintf(f, "%s%s.%s", n++ ? ", " : "", pt_emit_stage_member((pt_stage_t)s),
                k->cfield);
    fputs(" */\n", f);
    for (int v = 0; v < k->nvalues; v++) {
      fputs("#define PIPE_", f);
      put_upper(f, k->cfield);
      fputc('_', f);
      put_upper(f, pt_knobs_symbol(k, k->values[v]));
      fprintf(f, " %d\n", k->values[v]);
    }
    fputs("\n", f);
  }
}

/* struct pipe_config: the sort block, then one struct of each stage's knobs. */
static void config_struct(FILE *f) {
  fputs("struct pipe_config {\n"
        "  int sbm; /* sort block rows: max(g1.bm, g2.bm) */\n", f);
  for (int s = 0; s < PT_STAGE_COUNT; s++) {
    const pt_knob_t *k[PT_KNOBS_MAX];
    int n = pt_knobs_cfields((pt_stage_t)s, k);
    fputs("  struct { int ", f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? ", " : "", k[i]->cfield);
    fprintf(f, "; } %s;\n", pt_emit_stage_member((pt_stage_t)s));
  }
  fputs("};\n\n", f);
}

static void declarations(const pt_emit_table_t *t, FILE *f) {
  fprintf(f,
          "#ifndef SELECT_PIPE_CONFIG_H\n"
          "#define SELECT_PIPE_CONFIG_H\n\n"
          "/* Bumped when struct pipe_config, the signature or the return codes change. */\n"
          "#define SELECT_PIPE_CONFIG_ABI %d\n"
          "/* The tuning database this table was generated from. */\n"
          "#define SELECT_PIPE_CONFIG_DB_DIGEST \"%s\"\n\n"
          "/* dtype argument */\n"
          "#define PIPE_DTYPE_A4W4 0\n#define PIPE_DTYPE_A8W4 1\n#define PIPE_DTYPE_A16W4 2\n\n",
          PT_EMIT_ABI, t->set->digest);
  symbol_defines(f);
  fputs("/* Return codes of select_pipe_config (see the comment above): the level\n"
        " * that answered, device model -> arch -> global. */\n"
        "#define PIPE_CONFIG_DEVICE 0\n#define PIPE_CONFIG_ARCH 1\n"
        "#define PIPE_CONFIG_NEAREST 2\n#define PIPE_CONFIG_ARCH_DEFAULT 3\n"
        "#define PIPE_CONFIG_GLOBAL (-1)\n#define PIPE_CONFIG_EINVAL (-2)\n\n", f);
  config_struct(f);
  fputs("#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
        "/* device: the device model's name as pipetune devices prints it (the\n"
        " * driver's name, e.g. \"NVIDIA H200\"), or NULL to skip that level. */\n"
        "int select_pipe_config(const char *device, const char *arch, int model_dim,\n"
        "                       int inter_dim, int experts, int topk, int dtype,\n"
        "                       int tokens, struct pipe_config *out);\n\n"
        "#ifdef __cplusplus\n}\n#endif\n\n"
        "#endif\n", f);
}

/* A plain file name: whatever else #include "..." would take (quotes,
 * backslashes, '?' of a trigraph, spaces, control bytes, '/') may mean
 * something else to the preprocessor or another file system. */
static int header_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("._-+", c) != NULL);
}

static int printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
  return 1;
}

int pt_emit_check_header_name(const char *name, pt_err_t *err) {
  const char *p = name;
  while (header_char((unsigned char)*p)) p++;
  if (*p == '\0' && name[0] != '\0' && name[0] != '.') return PT_OK;
  /* The name as typed, unless it holds bytes a terminal would act on. */
  char shown[256];
  if (printable(name)) snprintf(shown, sizeof shown, "%s", name);
  else pt_emit_c_escape(name, shown, sizeof shown);
  return pt_err_set(err, PT_EINVAL,
                    "header name '%s' cannot be #included: use a plain file name of "
                    "letters, digits, '.', '_', '-' and '+', not starting with '.'",
                    shown);
}

/* text as a comment of lines up to 80 columns, broken at spaces. */
static void put_comment(FILE *f, const char *text) {
  enum { WIDTH = 80 };
  size_t col = (size_t)fprintf(f, "/*");
  for (const char *w = text; *w;) {
    size_t len = strcspn(w, " ");
    int last = w[len] == '\0';
    if (col > 2 && col + 1 + len + (last ? 3 : 0) > WIDTH) {
      fputs("\n *", f);
      col = 2;
    }
    col += (size_t)fprintf(f, " %.*s", (int)len, w);
    w += len + !last;
  }
  fputs(" */\n", f);
}

/* "{sbm, {gemm1: bm, ...}, {gemm2: ...}}": a config's initialiser layout. */
static void config_layout(char *buf, size_t len) {
  size_t n = (size_t)snprintf(buf, len, "{sbm");
  for (int s = 0; s < PT_STAGE_COUNT && n < len; s++) {
    const pt_knob_t *k[PT_KNOBS_MAX];
    int nk = pt_knobs_cfields((pt_stage_t)s, k);
    n += (size_t)snprintf(buf + n, len - n, ", {%s:", pt_stage_name((pt_stage_t)s));
    for (int i = 0; i < nk && n < len; i++)
      n += (size_t)snprintf(buf + n, len - n, "%s %s", i ? "," : "", k[i]->cfield);
    if (n < len) n += (size_t)snprintf(buf + n, len - n, "}");
  }
  if (n < len) snprintf(buf + n, len - n, "}");
}

static void write_config(FILE *f, const pt_emit_config_t *c) {
  fprintf(f, "  {%d", c->sbm);
  const pt_variant_t *v[PT_STAGE_COUNT] = {&c->g1, &c->g2};
  for (int s = 0; s < PT_STAGE_COUNT; s++) {
    const pt_knob_t *k[PT_KNOBS_MAX];
    int nk = pt_knobs_cfields((pt_stage_t)s, k);
    fputs(", {", f);
    for (int i = 0; i < nk; i++)
      fprintf(f, "%s%d", i ? ", " : "", pt_knobs_get(v[s], k[i]));
    fputs("}", f);
  }
  fputs("},\n", f);
}

static void write_configs(const pt_emit_table_t *t, FILE *f) {
  char layout[1024], text[1100];
  config_layout(layout, sizeof layout);
  snprintf(text, sizeof text, "Every distinct config: %s.", layout);
  put_comment(f, text);
  fputs("static const struct pipe_config spc_configs[] = {\n", f);
  for (size_t i = 0; i < t->nconfigs; i++) {
    const pt_emit_config_t *c = &t->configs[i];
    fprintf(f, "  /* %zu: gemm1 ", i);
    put_esc(f, c->g1_spec);
    fputs("\n   *    gemm2 ", f);
    put_esc(f, c->g2_spec);
    fputs(" */\n", f);
    write_config(f, c);
  }
  fputs("};\n\n", f);
}

static void put_run(FILE *f, const char *stage, const pt_emit_run_t *r) {
  if (r->first == r->last) fprintf(f, "%s won at %d", stage, r->first);
  else fprintf(f, "%s won at %d..%d", stage, r->first, r->last);
  if (r->ties) fprintf(f, " (%zu by a tie)", r->ties);
}

/* The family lists in table order: per arch, its own, then those of each
 * device model that does not share them. */
typedef struct famref_s {
  const pt_emit_family_t *fams;
  size_t n;
  const char *arch, *device;
} famref_t;

static size_t family_lists(const pt_emit_table_t *t, famref_t *out) {
  size_t n = 0;
  for (size_t a = 0; a < t->narchs; a++) {
    const pt_emit_arch_t *ar = &t->archs[a];
    if (out) out[n] = (famref_t){ar->families, ar->nfamilies, ar->arch, NULL};
    n++;
    for (size_t d = 0; d < ar->ndevices; d++) {
      if (ar->devices[d].shared) continue;
      if (out)
        out[n] = (famref_t){ar->devices[d].families, ar->devices[d].nfamilies, ar->arch,
                            ar->devices[d].name};
      n++;
    }
  }
  return n;
}

static void family_comment(FILE *f, const pt_emit_family_t *fam, const famref_t *r) {
  fputs("  /* \"", f);
  put_esc(f, fam->name);
  fputs("\" ", f);
  put_esc(f, fam->dtype);
  fputs(" ", f);
  put_esc(f, fam->act);
  fputs(" on \"", f);
  put_esc(f, r->device ? r->device : r->arch);
  if (r->device) {
    fputs("\" (\"", f);
    put_esc(f, r->arch);
    fputs("\")", f);
  } else {
    fputs("\"", f);
  }
  fprintf(f, ": %zu gemm1 and %zu gemm2 token counts measured */\n",
          fam->g1_points, fam->g2_points);
}

static void write_intervals(const famref_t *lists, size_t nl, FILE *f) {
  fputs("/* Token intervals of each family: the last token count of the interval\n"
        " * and its config. */\n"
        "static const struct spc_interval spc_intervals[] = {\n", f);
  for (size_t l = 0; l < nl; l++)
    for (size_t i = 0; i < lists[l].n; i++) {
      const pt_emit_family_t *fam = &lists[l].fams[i];
      family_comment(f, fam, &lists[l]);
      for (size_t k = 0; k < fam->nintervals; k++) {
        const pt_emit_interval_t *iv = &fam->intervals[k];
        fprintf(f, "  {%d, %d}, /* tokens %d..", iv->hi, iv->config, iv->lo);
        if (iv->hi == INT_MAX) fputs("max: ", f);
        else fprintf(f, "%d: ", iv->hi);
        put_run(f, "gemm1", &iv->g1);
        fputs(", ", f);
        put_run(f, "gemm2", &iv->g2);
        fputs(" */\n", f);
      }
    }
  fputs("};\n\n", f);
}

static void write_families(const famref_t *lists, size_t nl, FILE *f) {
  int first = 0;
  fputs("/* {model_dim, inter_dim, experts, topk, dtype, first interval, count} */\n"
        "static const struct spc_family spc_families[] = {\n", f);
  for (size_t l = 0; l < nl; l++)
    for (size_t i = 0; i < lists[l].n; i++) {
      const pt_emit_family_t *fam = &lists[l].fams[i];
      family_comment(f, fam, &lists[l]);
      fprintf(f, "  {%d, %d, %d, %d, %d, %d, %zu},\n", fam->model_dim, fam->inter_dim,
              fam->experts, fam->topk, fam->dtype_id, first, fam->nintervals);
      first += (int)fam->nintervals;
    }
  fputs("};\n\n", f);
}

static void default_comment(FILE *f, const pt_emit_default_t *d) {
  fprintf(f, "gemm1 %.4fx of the best at %zu of %zu points, gemm2 %.4fx at %zu of %zu",
          d->g1.geomean, d->g1.covered, d->g1.points, d->g2.geomean, d->g2.covered,
          d->g2.points);
}

/* The first family of each list (lists in table order). */
static void list_firsts(const famref_t *lists, size_t nl, int *first) {
  int k = 0;
  for (size_t l = 0; l < nl; l++) {
    first[l] = k;
    k += (int)lists[l].n;
  }
}

static void write_archs(const pt_emit_table_t *t, const famref_t *lists, size_t nl,
                        const int *first, FILE *f) {
  fputs("/* {arch, first family, count, default config}; the default's geometric-mean\n"
        " * time relative to each tuned point's best in the comment. */\n"
        "static const struct spc_arch spc_archs[] = {\n", f);
  for (size_t a = 0, l = 0; a < t->narchs; a++, l++) {
    const pt_emit_arch_t *ar = &t->archs[a];
    while (l < nl && lists[l].device != NULL) l++;
    fputs("  {\"", f);
    put_esc(f, ar->arch);
    fprintf(f, "\", %d, %zu, %d}, /* ", first[l], ar->nfamilies, ar->dflt.config);
    default_comment(f, &ar->dflt);
    fputs(" */\n", f);
  }
  fputs("};\n\n", f);
  fputs("/* The global default, for archs not in the table:\n * ", f);
  default_comment(f, &t->global);
  fprintf(f, " */\n#define SPC_GLOBAL_DEFAULT %d\n"
             "#define SPC_NARCHS ((int)(sizeof spc_archs / sizeof spc_archs[0]))\n\n",
          t->global.config);
}

/* Each device model: its name, its arch's index, and its families (the
 * arch's own when it is the arch's only model). */
static void write_devices(const pt_emit_table_t *t, const famref_t *lists,
                          const int *first, FILE *f) {
  fputs("/* {device model, arch index, first family, count} */\n"
        "static const struct spc_device spc_devices[] = {\n", f);
  size_t l = 0;
  for (size_t a = 0; a < t->narchs; a++) {
    const pt_emit_arch_t *ar = &t->archs[a];
    size_t arch_l = l++;
    for (size_t d = 0; d < ar->ndevices; d++) {
      const pt_emit_device_t *dev = &ar->devices[d];
      size_t at = dev->shared ? arch_l : l++;
      fputs("  {\"", f);
      put_esc(f, dev->name);
      fprintf(f, "\", %zu, %d, %zu},%s\n", a, first[at], lists[at].n,
              dev->shared ? " /* the arch's only model: its families */" : "");
    }
  }
  fputs("};\n"
        "#define SPC_NDEVICES ((int)(sizeof spc_devices / sizeof spc_devices[0]))\n\n", f);
}

static const char lookup_code[] =
    "/* Whether arch names the table's arch name: equal, or name followed by\n"
    " * ':' and target features when base is set. */\n"
    "static int spc_arch_is(const char *name, const char *arch, int base)\n"
    "{\n"
    "  while (*name != '\\0' && *name == *arch) {\n"
    "    name++;\n"
    "    arch++;\n"
    "  }\n"
    "  return *name == '\\0' && (*arch == '\\0' || (base && *arch == ':'));\n"
    "}\n\n"
    "static const struct spc_arch *spc_find_arch(const char *arch)\n"
    "{\n"
    "  int base, i;\n"
    "  for (base = 0; base < 2; base++)\n"
    "    for (i = 0; i < SPC_NARCHS; i++)\n"
    "      if (spc_arch_is(spc_archs[i].name, arch, base))\n"
    "        return &spc_archs[i];\n"
    "  return 0;\n"
    "}\n\n"
    "static int spc_config_at(const struct spc_family *f, int tokens)\n"
    "{\n"
    "  int i = f->first, last = f->first + f->count - 1;\n"
    "  while (i < last && tokens > spc_intervals[i].max_tokens)\n"
    "    i++;\n"
    "  return spc_intervals[i].config;\n"
    "}\n\n"
    "static double spc_ratio(int a, int b)\n"
    "{\n"
    "  return a > b ? (double)a / b : (double)b / a;\n"
    "}\n\n"
    "/* The same rows per expert in family f: tokens * topk / experts. */\n"
    "static int spc_scaled_tokens(const struct spc_family *f, int tokens,\n"
    "                             int experts, int topk)\n"
    "{\n"
    "  double t = (double)tokens * topk * f->experts / ((double)experts * f->topk);\n"
    "  if (t < 1.0)\n"
    "    return 1;\n"
    "  if (t >= 2147483647.0)\n"
    "    return 2147483647;\n"
    "  return (int)(t + 0.5);\n"
    "}\n\n"
    "/* The family of f[0..n) with this shape and dtype, or 0. */\n"
    "static const struct spc_family *spc_exact(const struct spc_family *f, int n,\n"
    "                                          int model_dim, int inter_dim,\n"
    "                                          int experts, int topk, int dtype)\n"
    "{\n"
    "  const struct spc_family *end = f + n;\n"
    "  for (; f < end; f++)\n"
    "    if (f->dtype == dtype && f->model_dim == model_dim &&\n"
    "        f->inter_dim == inter_dim && f->experts == experts && f->topk == topk)\n"
    "      return f;\n"
    "  return 0;\n"
    "}\n\n"
    "/* The families of device model device on arch index arch, or 0. */\n"
    "static const struct spc_device *spc_find_device(const char *device, int arch)\n"
    "{\n"
    "  int i;\n"
    "  for (i = 0; device != 0 && i < SPC_NDEVICES; i++)\n"
    "    if (spc_devices[i].arch == arch && spc_arch_is(spc_devices[i].name, device, 0))\n"
    "      return &spc_devices[i];\n"
    "  return 0;\n"
    "}\n\n"
    "int select_pipe_config(const char *device, const char *arch, int model_dim,\n"
    "                       int inter_dim, int experts, int topk, int dtype,\n"
    "                       int tokens, struct pipe_config *out)\n"
    "{\n"
    "  const struct spc_arch *a;\n"
    "  const struct spc_device *d;\n"
    "  const struct spc_family *f, *end, *near = 0;\n"
    "  double dist = 0.0, tie = 0.0;\n"
    "  if (arch == 0 || out == 0 || model_dim < 1 || inter_dim < 1 || experts < 1 ||\n"
    "      topk < 1 || tokens < 1 || dtype < PIPE_DTYPE_A4W4 || dtype > PIPE_DTYPE_A16W4)\n"
    "    return PIPE_CONFIG_EINVAL;\n"
    "  a = spc_find_arch(arch);\n"
    "  if (a == 0) {\n"
    "    *out = spc_configs[SPC_GLOBAL_DEFAULT];\n"
    "    return PIPE_CONFIG_GLOBAL;\n"
    "  }\n"
    "  d = spc_find_device(device, (int)(a - spc_archs));\n"
    "  f = d == 0 ? 0 : spc_exact(spc_families + d->first, d->count, model_dim, inter_dim,\n"
    "                             experts, topk, dtype);\n"
    "  if (f != 0) {\n"
    "    *out = spc_configs[spc_config_at(f, tokens)];\n"
    "    return PIPE_CONFIG_DEVICE;\n"
    "  }\n"
    "  f = spc_exact(spc_families + a->first, a->count, model_dim, inter_dim, experts,\n"
    "                topk, dtype);\n"
    "  if (f != 0) {\n"
    "    *out = spc_configs[spc_config_at(f, tokens)];\n"
    "    return PIPE_CONFIG_ARCH;\n"
    "  }\n"
    "  end = spc_families + a->first + a->count;\n"
    "  for (f = spc_families + a->first; f < end; f++) {\n"
    "    double dd, e;\n"
    "    if (f->dtype != dtype)\n"
    "      continue;\n"
    "    dd = spc_ratio(f->model_dim, model_dim) * spc_ratio(f->inter_dim, inter_dim);\n"
    "    e = spc_ratio(f->experts, experts) * spc_ratio(f->topk, topk);\n"
    "    /* dd <= dist after dd < dist failed: a tie (no ==, for -Wfloat-equal). */\n"
    "    if (near == 0 || dd < dist || (dd <= dist && e < tie)) {\n"
    "      near = f;\n"
    "      dist = dd;\n"
    "      tie = e;\n"
    "    }\n"
    "  }\n"
    "  if (near == 0) {\n"
    "    *out = spc_configs[a->config];\n"
    "    return PIPE_CONFIG_ARCH_DEFAULT;\n"
    "  }\n"
    "  *out = spc_configs[spc_config_at(near, spc_scaled_tokens(near, tokens, experts, topk))];\n"
    "  return PIPE_CONFIG_NEAREST;\n"
    "}\n";

static int finish_write(FILE *f, pt_err_t *err) {
  if (fflush(f) != 0 || ferror(f)) return pt_err_set(err, PT_EIO, "write failed");
  return PT_OK;
}

int pt_emit_source(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                   pt_err_t *err) {
  int rc = o && o->header ? pt_emit_check_header_name(o->header, err) : PT_OK;
  if (rc != PT_OK) return rc;
  provenance(t, o, f);
  if (o && o->header) fprintf(f, "\n#include \"%s\"\n\n", o->header);
  else {
    fputs("\n", f);
    declarations(t, f);
    fputs("\n", f);
  }
  size_t nl = family_lists(t, NULL);
  famref_t *lists = malloc(nl * sizeof *lists);
  int *first = malloc(nl * sizeof *first);
  if (lists == NULL || first == NULL) {
    free(lists);
    free(first);
    return oom(err);
  }
  family_lists(t, lists);
  list_firsts(lists, nl, first);
  fputs("struct spc_interval { int max_tokens, config; };\n"
        "struct spc_family { int model_dim, inter_dim, experts, topk, dtype, first, count; };\n"
        "struct spc_arch { const char *name; int first, count, config; };\n"
        "struct spc_device { const char *name; int arch, first, count; };\n\n", f);
  write_configs(t, f);
  write_intervals(lists, nl, f);
  write_families(lists, nl, f);
  write_archs(t, lists, nl, first, f);
  write_devices(t, lists, first, f);
  fputs(lookup_code, f);
  free(lists);
  free(first);
  return finish_write(f, err);
}

int pt_emit_header(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                   pt_err_t *err) {
  provenance(t, o, f);
  fputs("\n", f);
  declarations(t, f);
  return finish_write(f, err);
}
