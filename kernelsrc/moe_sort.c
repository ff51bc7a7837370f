/* Sorted routing (see moe_sort.h): a counting sort by expert, stable in
 * token order, then per-expert padding to whole sbm-blocks. */
#include "moe_sort.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "routing.h"

#define TOKEN_LIMIT (1 << 24)  /* tokens must fit the 24-bit field */

int pt_sort_capacity(int M, int K, int E, int sbm) {
  if (M < 0 || K < 1 || E < 1 || sbm < 1) return -1;
  int64_t pairs = (int64_t)M * K;
  int64_t active = pairs < E ? pairs : E;
  int64_t cap = pairs + active * (sbm - 1);
  cap = (cap + sbm - 1) / sbm * sbm;
  return cap > INT_MAX ? -1 : (int)cap;
}

void pt_sort_free(pt_moe_sorted_t *s) {
  free(s->sorted_ids);
  free(s->sorted_w);
  free(s->block_expert);
  memset(s, 0, sizeof *s);
}

static int check_args(const int32_t *ids, int M, int K, int E, int sbm,
                      pt_err_t *err) {
  if (M < 0 || M >= TOKEN_LIMIT)
    return pt_err_set(err, PT_EINVAL, "token count %d outside [0, 2^24)", M);
  if (K < 1 || K > PT_ROUTING_TOPK_MAX)
    return pt_err_set(err, PT_EINVAL, "topk %d outside [1, %d]", K,
                      PT_ROUTING_TOPK_MAX);
  if (E < 1 || sbm < 1)
    return pt_err_set(err, PT_EINVAL, "bad experts %d or sort block %d", E, sbm);
  if (pt_sort_capacity(M, K, E, sbm) < 0)
    return pt_err_set(err, PT_EINVAL, "sort of %d tokens x %d too large", M, K);
  for (size_t i = 0; i < (size_t)M * K; i++)
    if (ids[i] < 0 || ids[i] >= E)
      return pt_err_set(err, PT_EINVAL,
                        "expert id %d of token %zu slot %zu outside [0, %d)",
                        ids[i], i / (size_t)K, i % (size_t)K, E);
  return PT_OK;
}

static int alloc_sorted(pt_moe_sorted_t *s, int cap, int sbm, pt_err_t *err) {
  size_t n = cap > 0 ? (size_t)cap : 1;
  s->sbm = sbm;
  s->capacity = cap;
  s->sorted_ids = malloc(n * sizeof *s->sorted_ids);
  s->sorted_w = malloc(n * sizeof *s->sorted_w);
  s->block_expert = malloc((n / (size_t)sbm + 1) * sizeof *s->block_expert);
  if (s->sorted_ids && s->sorted_w && s->block_expert) return PT_OK;
  pt_sort_free(s);
  return pt_err_set(err, PT_ENOMEM, "out of memory for %d sorted rows", cap);
}

int pt_sort_run(const int32_t *topk_ids, const float *topk_w, int M, int K,
                int E, int sbm, pt_moe_sorted_t *out, pt_err_t *err) {
  memset(out, 0, sizeof *out);
  int rc = check_args(topk_ids, M, K, E, sbm, err);
  if (rc != PT_OK) return rc;
  rc = alloc_sorted(out, pt_sort_capacity(M, K, E, sbm), sbm, err);
  if (rc != PT_OK) return rc;
  int *start = calloc((size_t)E + 1, sizeof *start);
  if (start == NULL) {
    pt_sort_free(out);
    return pt_err_set(err, PT_ENOMEM, "out of memory for %d experts", E);
  }
  /* start[e]: first row of expert e, each expert padded to whole blocks */
  for (size_t i = 0; i < (size_t)M * K; i++) start[topk_ids[i] + 1]++;
  for (int e = 0; e < E; e++)
    start[e + 1] = start[e] + (start[e + 1] + sbm - 1) / sbm * sbm;
  out->padded = start[E];
  for (int r = 0; r < out->capacity; r++) {
    out->sorted_ids[r] = M;
    out->sorted_w[r] = 0.0f;
  }
  for (int b = 0; b < out->capacity / sbm; b++) out->block_expert[b] = -1;
  for (int e = 0; e < E; e++)
    for (int r = start[e]; r < start[e + 1]; r += sbm)
      out->block_expert[r / sbm] = e;
  /* token-major scan keeps each expert's pairs in token order */
  for (int t = 0; t < M; t++)
    for (int k = 0; k < K; k++) {
      int e = topk_ids[(size_t)t * K + k];
      int r = start[e]++;
      out->sorted_ids[r] = (int32_t)((uint32_t)t | (uint32_t)k << 24);
      out->sorted_w[r] = topk_w[(size_t)t * K + k];
    }
  free(start);
  return PT_OK;
}

int pt_sort_block_experts(const pt_moe_sorted_t *s, int bm, int32_t *out,
                          pt_err_t *err) {
  if (bm < 1 || s->sbm % bm != 0)
    return pt_err_set(err, PT_EINVAL,
                      "stage block %d does not divide the sort block %d", bm,
                      s->sbm);
  for (int j = 0; j < s->padded / bm; j++)
    out[j] = s->block_expert[(size_t)j * bm / s->sbm];
  return PT_OK;
}
