/* Search strategies (see search.h). */
#include "search.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "rng.h"

static const char *const kind_names[PT_SEARCH_KIND_COUNT] = {"exhaustive", "pruned",
                                                             "adaptive", "spec"};

const char *pt_search_kind_name(pt_search_kind_t k) {
  return (unsigned)k < PT_SEARCH_KIND_COUNT ? kind_names[k] : "unknown";
}

int pt_search_kind_parse(const char *s, pt_search_kind_t *out) {
  for (int i = 0; i < PT_SEARCH_KIND_COUNT; i++)
    if (strcmp(s, kind_names[i]) == 0) {
      *out = (pt_search_kind_t)i;
      return 0;
    }
  return -1;
}

static void shuffle(pt_variant_t *v, int n, uint64_t seed) {
  for (int i = n; i > 1; i--) {
    int j = (int)(pt_rng_splitmix64(&seed) % (uint64_t)i);
    pt_variant_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

int pt_search_init(pt_search_t *s, pt_search_kind_t kind, pt_stage_t stage,
                   const char *const *specs, int nspecs, int max_evals, uint64_t seed,
                   pt_err_t *err) {
  static const char *const all[] = {"all"}, *const pruned[] = {"pruned"};
  memset(s, 0, sizeof *s);
  s->kind = kind;
  s->stage = stage;
  s->max_evals = max_evals;
  if (kind == PT_SEARCH_EXHAUSTIVE) specs = all, nspecs = 1;
  else if (kind != PT_SEARCH_SPEC) specs = pruned, nspecs = 1;
  int rc = pt_plan_variants(stage, specs, nspecs, &s->list, &s->nlist, err);
  if (rc == PT_OK && max_evals > 0) shuffle(s->list, s->nlist, seed ^ (uint64_t)stage);
  return rc;
}

void pt_search_free(pt_search_t *s) {
  free(s->list);
  free(s->c);
  memset(s, 0, sizeof *s);
}

static int known(const pt_search_t *s, const pt_variant_t *v) {
  for (int i = 0; i < s->n; i++)
    if (memcmp(&s->c[i].v, v, sizeof *v) == 0) return 1;
  return 0;
}

/* Appends v unless it is known; *room counts down the budget. */
static int propose(pt_search_t *s, const pt_variant_t *v, int *room, int *added,
                   pt_err_t *err) {
  if (*room <= 0 || known(s, v)) return PT_OK;
  if (s->n == s->cap) {
    int cap = s->cap > 0 ? s->cap * 2 : 64;
    pt_search_cand_t *p = realloc(s->c, (size_t)cap * sizeof *p);
    if (p == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for a search");
    s->c = p;
    s->cap = cap;
  }
  s->c[s->n++] = (pt_search_cand_t){*v, PT_SEARCH_PENDING, 0.0, s->rounds};
  (*room)--;
  (*added)++;
  return PT_OK;
}

/* The leaders: indexes of the fastest ok candidates, fastest first. */
static int leaders(const pt_search_t *s, int *out) {
  int n = 0;
  for (int i = 0; i < s->n; i++) {
    if (s->c[i].state != PT_SEARCH_OK) continue;
    int j = n < PT_SEARCH_LEADERS ? n++ : n;
    while (j > 0 && s->c[i].median_us < s->c[out[j - 1]].median_us) {
      if (j < PT_SEARCH_LEADERS) out[j] = out[j - 1];
      j--;
    }
    if (j < PT_SEARCH_LEADERS) out[j] = i;
  }
  return n;
}

/* Every one-knob move of v over the full space, knob table order. */
static int moves(pt_search_t *s, pt_variant_t v, int *room, int *added, pt_err_t *err) {
  int rc = PT_OK;
  for (int k = 0; rc == PT_OK && k < pt_knobs_count(); k++) {
    const pt_knob_t *kn = pt_knobs_at(k);
    if (!pt_knobs_in_stage(kn, s->stage)) continue;
    for (int i = 0; rc == PT_OK && i < kn->nvalues; i++) {
      if (kn->values[i] == pt_knobs_get(&v, kn)) continue;
      pt_variant_t m = v;
      pt_knobs_set(&m, kn, kn->values[i]);
      rc = propose(s, &m, room, added, err);
    }
  }
  return rc;
}

/* Every two-knob move of v over its two-valued knobs (both flipped): knobs
 * that only pay together (gemm2's kstages=1 with persist=1 on
 * gptoss-120b at 4096 tokens, bench/search/) are one such move away. */
static int pair_moves(pt_search_t *s, pt_variant_t v, int *room, int *added,
                      pt_err_t *err) {
  int rc = PT_OK, n = pt_knobs_count();
  for (int a = 0; rc == PT_OK && a < n; a++) {
    const pt_knob_t *ka = pt_knobs_at(a);
    if (!pt_knobs_in_stage(ka, s->stage) || ka->nvalues != 2) continue;
    for (int b = a + 1; rc == PT_OK && b < n; b++) {
      const pt_knob_t *kb = pt_knobs_at(b);
      if (!pt_knobs_in_stage(kb, s->stage) || kb->nvalues != 2) continue;
      pt_variant_t m = v;
      int va = pt_knobs_get(&v, ka), vb = pt_knobs_get(&v, kb);
      pt_knobs_set(&m, ka, ka->values[ka->values[0] == va]);
      pt_knobs_set(&m, kb, kb->values[kb->values[0] == vb]);
      rc = propose(s, &m, room, added, err);
    }
  }
  return rc;
}

int pt_search_next(pt_search_t *s, int *added, pt_err_t *err) {
  int pending = 0, rc = PT_OK;
  for (int i = 0; i < s->n; i++) pending += s->c[i].state == PT_SEARCH_PENDING;
  int room = s->max_evals > 0 ? s->max_evals - pt_search_measured(s) - pending : INT_MAX;
  *added = 0;
  while (rc == PT_OK && s->next < s->nlist && room > 0)
    rc = propose(s, &s->list[s->next++], &room, added, err);
  if (rc == PT_OK && *added == 0 && s->next == s->nlist && s->kind == PT_SEARCH_ADAPTIVE &&
      pending == 0) {
    int lead[PT_SEARCH_LEADERS];
    int nl = leaders(s, lead);
    for (int i = 0; rc == PT_OK && i < nl; i++) rc = moves(s, s->c[lead[i]].v, &room, added, err);
    /* no one-knob move left: the leaders' two-knob moves */
    for (int i = 0; rc == PT_OK && *added == 0 && i < nl; i++)
      rc = pair_moves(s, s->c[lead[i]].v, &room, added, err);
  }
  if (rc != PT_OK) return rc;
  if (*added > 0) s->rounds++;
  else if (pending == 0) s->finished = 1;
  return PT_OK;
}

void pt_search_settle(pt_search_t *s, int i, pt_search_state_t state, double median_us) {
  s->c[i].state = state;
  s->c[i].median_us = state == PT_SEARCH_OK ? median_us : 0.0;
}

int pt_search_measured(const pt_search_t *s) {
  int n = 0;
  for (int i = 0; i < s->n; i++)
    n += s->c[i].state == PT_SEARCH_OK || s->c[i].state == PT_SEARCH_FAILED;
  return n;
}

int pt_search_best(const pt_search_t *s) {
  int best = -1;
  for (int i = 0; i < s->n; i++)
    if (s->c[i].state == PT_SEARCH_OK && (best < 0 || s->c[i].median_us < s->c[best].median_us))
      best = i;
  return best;
}
