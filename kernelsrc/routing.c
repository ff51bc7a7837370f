/* Seeded routings (see routing.h). Everything is integer arithmetic or IEEE
 * double in a fixed order, so a seed gives the same routing everywhere. */
#include "routing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"
#include "rng.h"

/* The valid exponents: NaN fails both comparisons. */
static int zipf_exponent_ok(double s) { return s > 0 && isfinite(s); }

int pt_routing_parse(const char *spec, pt_routing_t *out, pt_err_t *err) {
  if (spec != NULL && strcmp(spec, "uniform") == 0) {
    *out = (pt_routing_t){PT_ROUTING_UNIFORM, 0.0};
    return PT_OK;
  }
  if (spec == NULL || strncmp(spec, "zipf:", 5) != 0)
    return pt_err_set(err, PT_EINVAL,
                      "unknown routing '%s' (expected 'uniform' or 'zipf:S')",
                      spec ? spec : "");
  double s = 0.0;
  if (pt_num_parse_double(spec + 5, NULL, &s) != 0 || !zipf_exponent_ok(s))
    return pt_err_set(err, PT_EINVAL,
                      "bad routing '%s' (the zipf exponent must be "
                      "a finite number > 0)",
                      spec);
  *out = (pt_routing_t){PT_ROUTING_ZIPF, s};
  return PT_OK;
}

const char *pt_routing_kind_name(pt_routing_kind_t kind) {
  return kind == PT_ROUTING_ZIPF ? "zipf" : "uniform";
}

char *pt_routing_format(const pt_routing_t *r, char *buf, size_t len) {
  if (r->kind == PT_ROUTING_ZIPF)
    snprintf(buf, len, "%s:%g", pt_routing_kind_name(r->kind), r->zipf_s);
  else
    snprintf(buf, len, "%s", pt_routing_kind_name(r->kind));
  return buf;
}

/* Softmax of n logits (double, fixed order) into w. */
static void softmax(const double *logit, int n, float *w) {
  double mx = logit[0], sum = 0.0;
  for (int i = 1; i < n; i++)
    if (logit[i] > mx) mx = logit[i];
  for (int i = 0; i < n; i++) sum += exp(logit[i] - mx);
  for (int i = 0; i < n; i++) w[i] = (float)(exp(logit[i] - mx) / sum);
}

/* Partial Fisher-Yates over a persistent permutation: after any number of
 * tokens perm is still a permutation, so each draw stays uniform. */
static void draw_uniform(pt_rng_t *rng, int32_t *perm, int E, int K,
                         int32_t *ids) {
  for (int j = 0; j < K; j++) {
    int i = j + (int)pt_rng_below(rng, (uint32_t)(E - j));
    int32_t tmp = perm[j];
    perm[j] = perm[i];
    perm[i] = tmp;
    ids[j] = perm[j];
  }
}

/* Sequential draws without replacement from the rank weights wt[],
 * skipping chosen ranks; the remaining mass is summed afresh for each draw
 * so that it never drifts. When it underflows to 0 (huge S) the most popular
 * free rank is taken, the limit of the distribution. */
static int draw_rank(pt_rng_t *rng, const double *wt,
                     const uint8_t *chosen, int E) {
  double rem = 0.0, acc = 0.0;
  int first = -1, last = -1;
  for (int r = 0; r < E; r++)
    if (!chosen[r]) rem += wt[r];
  double u = pt_rng_uniform(rng) * rem;
  for (int r = 0; r < E; r++) {
    if (chosen[r]) continue;
    if (first < 0) first = r;
    last = r;
    acc += wt[r];
    if (u < acc) return r;
  }
  return rem > 0.0 ? last : first;  /* last: u rounded up to the total */
}

static void draw_zipf(pt_rng_t *rng, const double *wt,
                      const int32_t *expert_of_rank, uint8_t *chosen, int E,
                      int K, int32_t *ids) {
  int rank[K];
  for (int j = 0; j < K; j++) {
    rank[j] = draw_rank(rng, wt, chosen, E);
    chosen[rank[j]] = 1;
    ids[j] = expert_of_rank[rank[j]];
  }
  for (int j = 0; j < K; j++) chosen[rank[j]] = 0;
}

static int check_dims(int M, int E, int K, pt_err_t *err) {
  if (M < 0 || E < 1 || K < 1 || K > E || K > PT_ROUTING_TOPK_MAX)
    return pt_err_set(err, PT_EINVAL,
                      "bad routing dimensions: tokens %d, experts %d, topk %d "
                      "(need 1 <= topk <= experts, topk <= %d)",
                      M, E, K, PT_ROUTING_TOPK_MAX);
  return PT_OK;
}

int pt_routing_topk(const pt_routing_t *r, int M, int E, int K, uint64_t seed,
                    int32_t *ids, float *w, pt_err_t *err) {
  int rc = check_dims(M, E, K, err);
  if (rc != PT_OK) return rc;
  if (r->kind == PT_ROUTING_ZIPF && !zipf_exponent_ok(r->zipf_s))
    return pt_err_set(err, PT_EINVAL, "bad zipf exponent %g", r->zipf_s);
  pt_rng_t rng, lrng;
  pt_rng_init(&rng, seed, 1);
  pt_rng_init(&lrng, seed, 2);
  int32_t *perm = malloc((size_t)E * sizeof *perm);
  double *wt = malloc((size_t)E * sizeof *wt);
  uint8_t *chosen = calloc((size_t)E, 1);
  if (perm == NULL || wt == NULL || chosen == NULL) {
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for routing of %d experts", E);
    goto out;
  }
  for (int e = 0; e < E; e++) {
    perm[e] = e;
    wt[e] = pow(e + 1.0, -r->zipf_s);
  }
  if (r->kind == PT_ROUTING_ZIPF)  /* which expert holds which rank */
    draw_uniform(&rng, perm, E, E, perm);
  for (int t = 0; t < M; t++) {
    int32_t *tid = ids + (size_t)t * K;
    double logit[K];
    if (r->kind == PT_ROUTING_ZIPF)
      draw_zipf(&rng, wt, perm, chosen, E, K, tid);
    else
      draw_uniform(&rng, perm, E, K, tid);
    for (int j = 0; j < K; j++) logit[j] = pt_rng_normalish(&lrng);
    softmax(logit, K, w + (size_t)t * K);
  }
out:
  free(perm);
  free(wt);
  free(chosen);
  return rc;
}

/* The K largest logits of one token (ties to the lower id), descending. */
static void top_logits(const float *l, int E, int K, int32_t *ids,
                       double *logit) {
  for (int j = 0; j < K; j++) {
    int best = -1;
    for (int e = 0; e < E; e++) {
      int taken = 0;
      for (int i = 0; i < j; i++) taken |= ids[i] == e;
      if (!taken && (best < 0 || l[e] > l[best])) best = e;
    }
    ids[j] = best;
    logit[j] = l[best];
  }
}

int pt_routing_topk_softmax(const float *logits, int M, int E, int K,
                            int renormalize, int32_t *ids, float *w,
                            pt_err_t *err) {
  int rc = check_dims(M, E, K, err);
  if (rc != PT_OK) return rc;
  for (size_t i = 0; i < (size_t)M * E; i++)
    if (isnan(logits[i]))
      return pt_err_set(err, PT_EINVAL,
                        "nan router logit of token %zu, expert %zu",
                        i / (size_t)E, i % (size_t)E);
  double *all = malloc((size_t)E * sizeof *all);
  float *p = malloc((size_t)E * sizeof *p);
  if (all == NULL || p == NULL) {
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for router of %d experts", E);
    goto out;
  }
  for (int t = 0; t < M; t++) {
    const float *l = logits + (size_t)t * E;
    int32_t *tid = ids + (size_t)t * K;
    float *tw = w + (size_t)t * K;
    double logit[K];
    top_logits(l, E, K, tid, logit);
    if (renormalize) {
      softmax(logit, K, tw);
      continue;
    }
    for (int e = 0; e < E; e++) all[e] = l[e];
    softmax(all, E, p);
    for (int j = 0; j < K; j++) tw[j] = p[tid[j]];
  }
out:
  free(all);
  free(p);
  return rc;
}
