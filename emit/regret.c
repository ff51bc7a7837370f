/* A table's regret at held-out token counts (see regret.h). */
#include "regret.h"

#include <math.h>
#include <string.h>

enum { PART_G1, PART_G2, PART_PAIR, PARTS };
static const char *const part_names[PARTS] = {"gemm1", "gemm2", "pair"};

typedef struct acc_s {
  size_t points, compared, missing, failed;
  double logsum, worst;  /* of pick / best */
  int worst_tokens;
} acc_t;

/* How a pick fares at a point. */
enum { PICK_OK, PICK_MISSING, PICK_FAILED };

static const pt_query_series_t *held_series(const pt_query_set_t *h, const char *arch,
                                            const pt_emit_family_t *f, const char *stage) {
  for (size_t i = 0; i < h->nseries; i++) {
    const pt_query_series_t *s = &h->series[i];
    if (strcmp(s->arch, arch) == 0 && strcmp(s->family, f->name) == 0 &&
        strcmp(s->dtype, f->dtype) == 0 && strcmp(s->act, f->act) == 0 &&
        strcmp(s->stage, stage) == 0 && s->model_dim == f->model_dim &&
        s->inter_dim == f->inter_dim && s->experts == f->experts && s->topk == f->topk)
      return s;
  }
  return NULL;
}

static const pt_query_point_t *point_at(const pt_query_series_t *s, int tokens) {
  for (size_t i = 0; s != NULL && i < s->npoints; i++)
    if (s->points[i].tokens == tokens) return &s->points[i];
  return NULL;
}

/* Measured by the table's family in either stage. */
static int tuned_at(const pt_emit_family_t *f, int tokens) {
  return point_at(f->g1s, tokens) != NULL || point_at(f->g2s, tokens) != NULL;
}

/* The pick's median at p (PICK_OK) and the point's best in *best. */
static int pick_time(const pt_query_point_t *p, const char *spec, double *us,
                     double *best) {
  for (size_t i = 0; i < p->nvars; i++) {
    if (strcmp(p->vars[i].spec, spec) != 0) continue;
    if (i >= p->nok) return PICK_FAILED;
    *us = p->vars[i].median_us;
    *best = p->vars[0].median_us;  /* ok ones come first, fastest first */
    return PICK_OK;
  }
  return PICK_MISSING;
}

static void add(acc_t *a, int how, double pick, double best, int tokens) {
  a->points++;
  if (how == PICK_MISSING) a->missing++;
  if (how == PICK_FAILED) a->failed++;
  if (how != PICK_OK) return;
  double r = pick / best;
  a->compared++;
  a->logsum += log(r);
  if (a->compared == 1 || r > a->worst) {
    a->worst = r;
    a->worst_tokens = tokens;
  }
}

/* The next token count above after of s1 or s2, INT_MAX-free: 0 when none. */
static int next_tokens(const pt_query_series_t *s1, const pt_query_series_t *s2, int after) {
  int next = 0;
  const pt_query_series_t *s[2] = {s1, s2};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; s[k] != NULL && i < s[k]->npoints; i++) {
      int t = s[k]->points[i].tokens;
      if (t > after && (next == 0 || t < next)) next = t;
    }
  return next;
}

static void family_regret(const pt_emit_table_t *t, const pt_emit_family_t *f,
                          const pt_query_series_t *s1, const pt_query_series_t *s2,
                          acc_t acc[PARTS]) {
  for (int tok = next_tokens(s1, s2, 0); tok != 0; tok = next_tokens(s1, s2, tok)) {
    if (tuned_at(f, tok)) continue;
    const pt_emit_config_t *c = pt_emit_pick(t, f, tok);
    const pt_query_point_t *p1 = point_at(s1, tok), *p2 = point_at(s2, tok);
    double u1 = 0, b1 = 0, u2 = 0, b2 = 0;
    int h1 = p1 ? pick_time(p1, c->g1_spec, &u1, &b1) : PICK_MISSING;
    int h2 = p2 ? pick_time(p2, c->g2_spec, &u2, &b2) : PICK_MISSING;
    if (p1) add(&acc[PART_G1], h1, u1, b1, tok);
    if (p2) add(&acc[PART_G2], h2, u2, b2, tok);
    if (p1 && p2)
      add(&acc[PART_PAIR], h1 == PICK_OK ? h2 : h1, u1 + u2, b1 + b2, tok);
  }
}

static int put_rows(pt_query_table_t *tab, const char *arch, const pt_emit_family_t *f,
                    const acc_t acc[PARTS], pt_regret_stats_t *st) {
  int rc = PT_OK;
  for (int k = 0; rc == PT_OK && k < PARTS; k++) {
    const acc_t *a = &acc[k];
    double geo = a->compared ? 100.0 * (exp(a->logsum / (double)a->compared) - 1.0) : NAN;
    double worst = a->compared ? 100.0 * (a->worst - 1.0) : NAN;
    st->points += a->points;
    st->compared += a->compared;
    if (a->compared && worst > st->worst_pct) st->worst_pct = worst;
    rc = pt_query_table_str(tab, arch);
    if (rc == PT_OK) rc = pt_query_table_str(tab, f->name);
    if (rc == PT_OK) rc = pt_query_table_str(tab, f->dtype);
    if (rc == PT_OK) rc = pt_query_table_str(tab, part_names[k]);
    if (rc == PT_OK) rc = pt_query_table_int(tab, (long long)a->points);
    if (rc == PT_OK) rc = pt_query_table_int(tab, (long long)a->compared);
    if (rc == PT_OK) rc = pt_query_table_int(tab, (long long)a->missing);
    if (rc == PT_OK) rc = pt_query_table_int(tab, (long long)a->failed);
    if (rc == PT_OK) rc = pt_query_table_num(tab, geo, 3);
    if (rc == PT_OK) rc = pt_query_table_num(tab, worst, 3);
    if (rc == PT_OK)
      rc = a->compared ? pt_query_table_int(tab, a->worst_tokens) : pt_query_table_str(tab, NULL);
  }
  return rc;
}

static int fill(const pt_emit_table_t *t, const pt_query_set_t *held, pt_query_table_t *tab,
                pt_regret_stats_t *st, pt_err_t *err) {
  for (size_t a = 0; a < t->narchs; a++)
    for (size_t i = 0; i < t->archs[a].nfamilies; i++) {
      const char *arch = t->archs[a].arch;
      const pt_emit_family_t *f = &t->archs[a].families[i];
      const pt_query_series_t *s1 = held_series(held, arch, f, "gemm1");
      const pt_query_series_t *s2 = held_series(held, arch, f, "gemm2");
      if (s1 == NULL && s2 == NULL)
        return pt_err_set(err, PT_EINVAL,
                          "no results for family '%s' %s on '%s' in '%s' (regime %s, "
                          "routing %s)", f->name, f->dtype, arch, held->source,
                          held->regime, held->routing);
      acc_t acc[PARTS] = {{0}};
      family_regret(t, f, s1, s2, acc);
      if (put_rows(tab, arch, f, acc, st) != PT_OK)
        return pt_err_set(err, PT_ENOMEM, "out of memory");
    }
  if (st->points == 0)
    return pt_err_set(err, PT_EINVAL,
                      "no overlap: '%s' holds no token count that the table of '%s' was "
                      "not tuned on", held->source, t->set->source);
  return PT_OK;
}

int pt_regret_table(const pt_query_set_t *tuned, const pt_query_set_t *held,
                    pt_query_table_t **out, pt_regret_stats_t *stats, pt_err_t *err) {
  static const char *const cols[] = {"arch", "family", "dtype", "stage", "points",
                                     "compared", "pick_missing", "pick_failed",
                                     "geomean_pct", "worst_pct", "worst_tokens"};
  pt_emit_table_t *t = NULL;
  *out = NULL;
  *stats = (pt_regret_stats_t){0};
  int rc = pt_emit_build(tuned, NULL, 0, NULL, 0, &t, err);
  if (rc == PT_OK) rc = pt_query_table_new(cols, (int)(sizeof cols / sizeof *cols), out, err);
  if (rc == PT_OK) rc = fill(t, held, *out, stats, err);
  pt_emit_free(t);
  if (rc != PT_OK) {
    pt_query_table_free(*out);
    *out = NULL;
  }
  return rc;
}
