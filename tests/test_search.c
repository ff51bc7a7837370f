/* The search strategies (tuner/engine/search.h) replayed against recorded
 * measurements: a measuring backend that answers from the CSV an
 * exhaustive tune exported (bench/search-csv) instead of a GPU worker,
 * driving the same pt_searchrun rounds `pipetune tune` runs. Checks the
 * issue-12 bar (adaptive regret <= 1% at every point against the
 * exhaustive winner, with <= 15% of the exhaustive measurements, geomean
 * over the points), determinism, resume after a stop, shards and the
 * measurement budget. The replay table goes to the test's log. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "family.h"
#include "plan.h"
#include "searchrun.h"

/* The recorded exhaustive tunes: one CSV each (bench/search/README.md). */
static const char *const recorded[] = {
    "bench/search/dsv3-tp8-a4w4.csv",
    "bench/search/gptoss-120b-a16w4.csv",
};
#define NRECORDED ((int)(sizeof recorded / sizeof recorded[0]))

#define KEY_MAX 512
#define REGRET_MAX 0.01
#define EVALS_MAX 0.15

typedef struct row_s {
  char key[KEY_MAX];   /* family|dtype|tokens|stage|spec */
  double median_us;
  int measured;        /* times the replay was asked for it */
} row_t;

typedef struct table_s {
  row_t *rows;
  size_t n;
  char family[64], dtype[16];
  int tokens[64], ntokens;
} table_t;

static int cmp_row(const void *a, const void *b) {
  return strcmp(((const row_t *)a)->key, ((const row_t *)b)->key);
}

/* One CSV field at *p (quoted or not) into out; *p moves past its comma. */
static void field(const char **p, char *out, size_t len) {
  size_t n = 0;
  int quoted = **p == '"';
  if (quoted) (*p)++;
  while (**p && (quoted ? **p != '"' : **p != ',' && **p != '\n')) {
    if (n + 1 < len) out[n++] = **p;
    (*p)++;
  }
  if (quoted && **p == '"') (*p)++;
  if (**p == ',') (*p)++;
  out[n] = '\0';
}

static void add_tokens(table_t *t, int tokens) {
  for (int i = 0; i < t->ntokens; i++)
    if (t->tokens[i] == tokens) return;
  ck_assert_int_lt(t->ntokens, 64);
  int i = t->ntokens++;
  for (; i > 0 && t->tokens[i - 1] > tokens; i--) t->tokens[i] = t->tokens[i - 1];
  t->tokens[i] = tokens;
}

static void load(const char *rel, table_t *t) {
  char path[1024], line[1024];
  const char *src = getenv("PT_SRCDIR");
  snprintf(path, sizeof path, "%s/%s", src != NULL ? src : ".", rel);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  memset(t, 0, sizeof *t);
  size_t cap = 0;
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
  ck_assert_str_eq(line, "family,dtype,tokens,stage,spec,median_us,spread\n");
  while (fgets(line, sizeof line, f) != NULL) {
    char fam[64], dt[16], tok[16], st[16], spec[PT_KNOBS_SPEC_MAX], med[32];
    const char *p = line;
    field(&p, fam, sizeof fam);
    field(&p, dt, sizeof dt);
    field(&p, tok, sizeof tok);
    field(&p, st, sizeof st);
    field(&p, spec, sizeof spec);
    field(&p, med, sizeof med);
    if (t->n == cap) {
      cap = cap ? cap * 2 : 4096;
      t->rows = realloc(t->rows, cap * sizeof *t->rows);
      ck_assert_ptr_nonnull(t->rows);
    }
    /* Recorded before a knob existed, a spec leaves it at what the kernels
     * compiled then (mma=sync): the canonical spelling names it. */
    pt_stage_t stage;
    pt_variant_t v;
    char canon[PT_KNOBS_SPEC_MAX];
    ck_assert_int_eq(pt_stage_parse(st, &stage), 0);
    ck_assert_int_eq(pt_knobs_parse(stage, spec, &v, NULL), PT_OK);
    ck_assert_int_gt(pt_knobs_format(&v, canon, sizeof canon), 0);
    row_t *r = &t->rows[t->n++];
    snprintf(r->key, sizeof r->key, "%s|%s|%s|%s|%s", fam, dt, tok, st, canon);
    r->median_us = atof(med);
    r->measured = 0;
    ck_assert_msg(r->median_us > 0, "%s: bad median in %s", rel, line);
    snprintf(t->family, sizeof t->family, "%s", fam);
    snprintf(t->dtype, sizeof t->dtype, "%s", dt);
    add_tokens(t, atoi(tok));
  }
  fclose(f);
  qsort(t->rows, t->n, sizeof *t->rows, cmp_row);
}

static void row_key(const pt_plan_t *plan, int problem, const pt_variant_t *v, char *key) {
  char spec[PT_KNOBS_SPEC_MAX];
  const pt_plan_problem_t *p = &plan->problems[problem];
  ck_assert_int_gt(pt_knobs_format(v, spec, sizeof spec), 0);
  snprintf(key, KEY_MAX, "%s|%s|%d|%s|%s", p->family->name, pt_dtype_name(p->shape.dtype),
           p->tokens, pt_stage_name(v->stage), spec);
}

static row_t *lookup(table_t *t, const char *key) {
  row_t k;
  snprintf(k.key, sizeof k.key, "%s", key);
  return bsearch(&k, t->rows, t->n, sizeof k, cmp_row);
}

/* The replay backend. A variant without a row is infeasible; with
 * stop_after > 0 the run stops after that many rounds (a kill). */
typedef struct replay_s {
  table_t *t;
  const pt_plan_t *plan;
  int stop_after;
  size_t fresh;        /* measurements not answered by an earlier run */
} replay_t;

static int replay(void *ud, int round, pt_searchrun_item_t *items, size_t n, int *stop,
                  pt_err_t *err) {
  replay_t *r = ud;
  (void)err;
  for (size_t i = 0; i < n; i++) {
    char key[KEY_MAX];
    row_key(r->plan, items[i].problem, &items[i].variant, key);
    row_t *row = lookup(r->t, key);
    items[i].state = row != NULL ? PT_SEARCH_OK : PT_SEARCH_INFEASIBLE;
    items[i].median_us = row != NULL ? row->median_us : 0.0;
    if (row != NULL && row->measured++ == 0) r->fresh++;
  }
  *stop = r->stop_after > 0 && round + 1 >= r->stop_after;
  return PT_OK;
}

static void plan_of(const table_t *t, pt_family_set_t *set, pt_plan_t *plan) {
  pt_plan_req_t req;
  pt_dtype_t d;
  ck_assert_int_eq(pt_family_load_builtin(set, NULL), PT_OK);
  ck_assert_int_eq(pt_dtype_parse(t->dtype, &d), 0);
  pt_plan_req_smoke(&req);
  req.family = t->family;
  req.dtype = (int)d;
  req.tokens = t->tokens;
  req.ntokens = t->ntokens;
  ck_assert_int_eq(pt_plan_build(set, &req, plan, NULL), PT_OK);
}

static void search(table_t *t, const pt_plan_t *plan, pt_search_kind_t kind, int max_evals,
                   int shard, int nshards, int stop_after, pt_searchrun_t *out) {
  replay_t r = {t, plan, stop_after, 0};
  pt_searchrun_opts_t o = {.plan = plan, .kind = kind, .stage = -1, .max_evals = max_evals,
                           .seed = 1, .shard = shard, .nshards = nshards,
                           .measure = replay, .ud = &r};
  pt_err_t err;
  ck_assert_int_eq(pt_searchrun_run(&o, out, &err), PT_OK);
}

static void forget(table_t *t) {
  for (size_t i = 0; i < t->n; i++) t->rows[i].measured = 0;
}

static double best_us(const pt_search_t *s) {
  int b = pt_search_best(s);
  ck_assert_int_ge(b, 0);
  return s->c[b].median_us;
}

/* The bar, and the replay table on stdout. */
START_TEST(adaptive_meets_the_bar) {
  table_t t;
  pt_family_set_t set;
  pt_plan_t plan;
  load(recorded[_i], &t);
  plan_of(&t, &set, &plan);
  pt_searchrun_t ex, ad, pr;
  search(&t, &plan, PT_SEARCH_EXHAUSTIVE, 0, 0, 1, 0, &ex);
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 0, 1, 0, &ad);
  search(&t, &plan, PT_SEARCH_PRUNED, 0, 0, 1, 0, &pr);
  ck_assert_int_eq(ex.n, ad.n);
  double logsum = 0.0, logpoint = 0.0;
  int na_point = 0, ne_point = 0, npoints = 0;
  printf("%s\n%-26s %-5s %10s %10s %8s %6s %6s %6s %8s\n", recorded[_i], "point", "stage",
         "exh_us", "adapt_us", "regret%", "evals", "exh", "rounds", "pruned%");
  for (int i = 0; i < ex.n; i++) {
    const pt_plan_problem_t *p = &plan.problems[ex.problem[i]];
    double e = best_us(&ex.searches[i]), a = best_us(&ad.searches[i]);
    double pv = best_us(&pr.searches[i]);
    int ne = pt_search_measured(&ex.searches[i]), na = pt_search_measured(&ad.searches[i]);
    printf("%-14s %-4s t=%-4d %-5s %10.3f %10.3f %8.2f %6d %6d %6d %8.2f\n", p->family->name,
           pt_dtype_name(p->shape.dtype), p->tokens, pt_stage_name(ex.searches[i].stage), e, a,
           100.0 * (a / e - 1.0), na, ne, ad.searches[i].rounds, 100.0 * (pv / e - 1.0));
    char won[PT_KNOBS_SPEC_MAX] = "";
    int b = pt_search_best(&ad.searches[i]);
    if (b >= 0) pt_knobs_format(&ad.searches[i].c[b].v, won, sizeof won);
    ck_assert_msg(a <= e * (1.0 + REGRET_MAX), "%s t=%d %s: regret %.2f%% (adaptive: %s)",
                  recorded[_i], p->tokens, pt_stage_name(ex.searches[i].stage),
                  100.0 * (a / e - 1.0), won);
    ck_assert_int_gt(ne, 0);
    logsum += log((double)na / ne);
    /* Both stages of a token count together: the points. */
    na_point += na;
    ne_point += ne;
    if (i + 1 == ex.n || ex.problem[i + 1] != ex.problem[i]) {
      logpoint += log((double)na_point / ne_point);
      npoints++;
      na_point = ne_point = 0;
    }
  }
  double geo_point = exp(logpoint / npoints);
  printf("adaptive measurements: %.1f%% of exhaustive (geomean over %d token counts, "
         "both stages)\n", 100.0 * geo_point, npoints);
  ck_assert_msg(geo_point <= EVALS_MAX, "%s: %.1f%% of the exhaustive measurements",
                recorded[_i], 100.0 * geo_point);
  double geo = exp(logsum / ex.n);
  printf("adaptive measurements: %.1f%% of exhaustive (geomean over %d points and stages)\n",
         100.0 * geo, ex.n);
  ck_assert_msg(geo <= EVALS_MAX, "%s: %.1f%% of the exhaustive measurements", recorded[_i],
                100.0 * geo);
  pt_searchrun_free(&ex);
  pt_searchrun_free(&ad);
  pt_searchrun_free(&pr);
  pt_plan_free(&plan);
  pt_family_set_free(&set);
  free(t.rows);
}
END_TEST

static int same_searches(const pt_searchrun_t *a, const pt_searchrun_t *b) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++) {
    const pt_search_t *x = &a->searches[i], *y = &b->searches[i];
    if (x->n != y->n || a->problem[i] != b->problem[i]) return 0;
    for (int j = 0; j < x->n; j++)
      if (memcmp(&x->c[j].v, &y->c[j].v, sizeof x->c[j].v) != 0 ||
          x->c[j].state != y->c[j].state || x->c[j].round != y->c[j].round)
        return 0;
  }
  return 1;
}

/* Same results, same rounds; a run stopped after two rounds and started
 * again ends where one run ends, measuring nothing twice. */
START_TEST(deterministic_and_resumes) {
  table_t t;
  pt_family_set_t set;
  pt_plan_t plan;
  load(recorded[0], &t);
  plan_of(&t, &set, &plan);
  pt_searchrun_t one, two, cut, rest;
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 0, 1, 0, &one);
  size_t fresh_one = 0;
  for (size_t i = 0; i < t.n; i++) fresh_one += t.rows[i].measured > 0;
  forget(&t);
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 0, 1, 0, &two);
  ck_assert(same_searches(&one, &two));
  forget(&t);
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 0, 1, 2, &cut);
  ck_assert(cut.stopped);
  ck_assert_int_eq(cut.rounds, 2);
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 0, 1, 0, &rest);
  ck_assert(same_searches(&one, &rest));
  size_t fresh = 0, twice = 0;
  for (size_t i = 0; i < t.n; i++) fresh += t.rows[i].measured > 0;
  ck_assert_uint_eq(fresh, fresh_one);
  for (int i = 0; i < rest.n; i++) twice += rest.searches[i].rounds;
  ck_assert_uint_gt(twice, 2);
  pt_searchrun_free(&one);
  pt_searchrun_free(&two);
  pt_searchrun_free(&cut);
  pt_searchrun_free(&rest);
  pt_plan_free(&plan);
  pt_family_set_free(&set);
  free(t.rows);
}
END_TEST

/* Shards 0/2 and 1/2 together are the one-host searches. */
START_TEST(shards_find_what_one_host_finds) {
  table_t t;
  pt_family_set_t set;
  pt_plan_t plan;
  load(recorded[0], &t);
  plan_of(&t, &set, &plan);
  pt_searchrun_t all, s0, s1;
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 0, 1, 0, &all);
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 0, 2, 0, &s0);
  search(&t, &plan, PT_SEARCH_ADAPTIVE, 0, 1, 2, 0, &s1);
  ck_assert_int_eq(s0.n + s1.n, all.n);
  for (int i = 0; i < all.n; i++) {
    const pt_searchrun_t *sh = i % 2 == 0 ? &s0 : &s1;
    const pt_search_t *a = &all.searches[i], *b = &sh->searches[i / 2];
    ck_assert_int_eq(all.problem[i], sh->problem[i / 2]);
    ck_assert_int_eq(a->n, b->n);
    ck_assert_int_eq(pt_search_best(a), pt_search_best(b));
  }
  pt_searchrun_free(&all);
  pt_searchrun_free(&s0);
  pt_searchrun_free(&s1);
  pt_plan_free(&plan);
  pt_family_set_free(&set);
  free(t.rows);
}
END_TEST

/* --max-evals N: at most N variants run per problem and stage, by every
 * strategy; infeasible candidates do not count. */
START_TEST(max_evals_caps_every_strategy) {
  table_t t;
  pt_family_set_t set;
  pt_plan_t plan;
  load(recorded[0], &t);
  plan_of(&t, &set, &plan);
  const pt_search_kind_t kinds[] = {PT_SEARCH_ADAPTIVE, PT_SEARCH_EXHAUSTIVE, PT_SEARCH_PRUNED};
  for (int k = 0; k < 3; k++) {
    pt_searchrun_t r;
    search(&t, &plan, kinds[k], 40, 0, 1, 0, &r);
    for (int i = 0; i < r.n; i++) {
      ck_assert_int_le(pt_search_measured(&r.searches[i]), 40);
      if (kinds[k] == PT_SEARCH_PRUNED)
        ck_assert_int_le(pt_search_measured(&r.searches[i]), 32);
      else
        ck_assert_int_eq(pt_search_measured(&r.searches[i]), 40);
      ck_assert(r.searches[i].finished);
    }
    pt_searchrun_free(&r);
  }
  pt_plan_free(&plan);
  pt_family_set_free(&set);
  free(t.rows);
}
END_TEST

START_TEST(kind_names_round_trip) {
  for (int k = 0; k < PT_SEARCH_KIND_COUNT; k++) {
    pt_search_kind_t back;
    ck_assert_int_eq(pt_search_kind_parse(pt_search_kind_name((pt_search_kind_t)k), &back), 0);
    ck_assert_int_eq((int)back, k);
  }
  pt_search_kind_t x;
  ck_assert_int_eq(pt_search_kind_parse("random", &x), -1);
  ck_assert_int_eq(pt_search_kind_parse("", &x), -1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("search");
  TCase *tc = tcase_create("replay");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, adaptive_meets_the_bar, 0, NRECORDED);
  tcase_add_test(tc, deterministic_and_resumes);
  tcase_add_test(tc, shards_find_what_one_host_finds);
  tcase_add_test(tc, max_evals_caps_every_strategy);
  tcase_add_test(tc, kind_names_round_trip);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
