/* Seeded MoE problems (see problem.h). Every tensor row draws from its own
 * PRNG stream (tensor tag, row), so a row's values do not depend on the
 * other dimensions or on generation order. */
#include "problem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "mx.h"
#include "rng.h"

enum { STREAM_X = 3, STREAM_W1 = 4, STREAM_W2 = 5 };

static uint64_t stream_id(int tag, size_t row) {
  return (uint64_t)tag << 40 | (uint64_t)row;
}

int pt_problem_check_shape(const pt_moe_shape_t *s, pt_err_t *err) {
  if (s->model_dim < PT_FAMILY_DIM_ALIGN || s->model_dim % PT_FAMILY_DIM_ALIGN != 0)
    return pt_err_set(err, PT_EINVAL, "model_dim %d is not a positive multiple of %d",
                      s->model_dim, PT_FAMILY_DIM_ALIGN);
  if (s->inter_dim < PT_FAMILY_DIM_ALIGN || s->inter_dim % PT_FAMILY_DIM_ALIGN != 0)
    return pt_err_set(err, PT_EINVAL, "inter_dim %d is not a positive multiple of %d",
                      s->inter_dim, PT_FAMILY_DIM_ALIGN);
  if (s->experts < 1)
    return pt_err_set(err, PT_EINVAL, "experts %d below 1", s->experts);
  if (s->topk < 1 || s->topk > s->experts || s->topk > PT_ROUTING_TOPK_MAX)
    return pt_err_set(err, PT_EINVAL, "topk %d outside [1, min(experts %d, %d)]",
                      s->topk, s->experts, PT_ROUTING_TOPK_MAX);
  if ((int)s->dtype < 0 || s->dtype >= PT_DTYPE_COUNT)
    return pt_err_set(err, PT_EINVAL, "unknown dtype %d", (int)s->dtype);
  if ((int)s->act < 0 || s->act >= PT_ACT_COUNT)
    return pt_err_set(err, PT_EINVAL, "unknown act %d", (int)s->act);
  return PT_OK;
}

size_t pt_problem_act_bytes(pt_dtype_t d, size_t n) {
  return d == PT_DTYPE_A4W4 ? n / 2 : d == PT_DTYPE_A8W4 ? n : 2 * n;
}

void pt_problem_sizes(const pt_moe_shape_t *s, int tokens,
                      pt_problem_sizes_t *out) {
  size_t M = (size_t)tokens, H = (size_t)s->model_dim;
  size_t I = (size_t)s->inter_dim, E = (size_t)s->experts;
  size_t K = (size_t)s->topk;
  out->x = pt_problem_act_bytes(s->dtype, M * H);
  out->xs = s->dtype == PT_DTYPE_A16W4 ? 0 : M * H / PT_MX_BLOCK;
  out->w1 = E * 2 * I * H / 2;
  out->w1s = E * 2 * I * H / PT_MX_BLOCK;
  out->w2 = E * H * I / 2;
  out->w2s = E * H * I / PT_MX_BLOCK;
  out->topk_ids = M * K * sizeof(int32_t);
  out->topk_w = M * K * sizeof(float);
  out->out = M * H * sizeof(uint16_t);
}

void pt_problem_free(pt_moe_problem_t *p) {
  free(p->x);
  free(p->xs);
  free(p->w1);
  free(p->w1s);
  free(p->w2);
  free(p->w2s);
  free(p->topk_ids);
  free(p->topk_w);
  memset(p, 0, sizeof *p);
}

/* One activation row: normal-ish values times 2^-2..2^2 per token. */
static void fill_x_row(pt_moe_problem_t *p, int t, uint64_t seed, float *v) {
  size_t H = (size_t)p->shape.model_dim;
  pt_rng_t rng;
  pt_rng_init(&rng, seed, stream_id(STREAM_X, (size_t)t));
  float mag = ldexpf(1.0f, (int)pt_rng_below(&rng, 5) - 2);
  for (size_t k = 0; k < H; k++)
    v[k] = mag * (float)pt_rng_normalish(&rng);
  switch (p->shape.dtype) {
  case PT_DTYPE_A4W4:
  case PT_DTYPE_A8W4: {
    pt_mx_elem_t fmt = p->shape.dtype == PT_DTYPE_A4W4 ? PT_MX_E2M1 : PT_MX_E4M3;
    pt_mx_quantize_row(fmt, v, H, (uint8_t *)p->x + t * pt_mx_row_bytes(fmt, H),
                       p->xs + t * H / PT_MX_BLOCK);
    break;
  }
  default:
    pt_mx_bf16_from_f32_row(v, H, (uint16_t *)p->x + t * H);
    break;
  }
}

/* Scale exponent giving uniform e2m1 codes (RMS sqrt(68.5/8) = 2.93) a row
 * RMS of 1/sqrt(k). */
static int weight_exponent(int k) {
  return (int)lrint(-log2(sqrt((double)k) * sqrt(68.5 / 8.0)));
}

/* rows x k MXFP4 weights: random code bytes, block scales base-1..base+1. */
static void fill_weights(uint8_t *w, uint8_t *ws, size_t rows, int k, int tag,
                         uint64_t seed) {
  size_t bytes = (size_t)k / 2, nscales = (size_t)k / PT_MX_BLOCK;
  int base = weight_exponent(k);
  for (size_t r = 0; r < rows; r++) {
    pt_rng_t rng;
    pt_rng_init(&rng, seed, stream_id(tag, r));
    uint8_t *row = w + r * bytes;
    for (size_t i = 0; i < bytes; i += 8) {
      uint64_t x = pt_rng_next(&rng);
      memcpy(row + i, &x, 8);  /* k is a multiple of 64: whole words */
    }
    for (size_t b = 0; b < nscales; b++)
      ws[r * nscales + b] =
          pt_mx_e8m0_encode(base + (int)pt_rng_below(&rng, 3) - 1);
  }
}

int pt_problem_init(pt_moe_problem_t *p, const pt_moe_shape_t *shape,
                    int tokens, const pt_routing_t *routing, uint64_t seed,
                    pt_err_t *err) {
  memset(p, 0, sizeof *p);
  int rc = pt_problem_check_shape(shape, err);
  if (rc != PT_OK) return rc;
  if (tokens < 1 || tokens >= (1 << 24))
    return pt_err_set(err, PT_EINVAL, "token count %d outside [1, 2^24)", tokens);
  pt_problem_sizes_t sz;
  pt_problem_sizes(shape, tokens, &sz);
  p->shape = *shape;
  p->tokens = tokens;
  p->x = malloc(sz.x);
  p->xs = sz.xs ? malloc(sz.xs) : NULL;
  p->w1 = malloc(sz.w1);
  p->w1s = malloc(sz.w1s);
  p->w2 = malloc(sz.w2);
  p->w2s = malloc(sz.w2s);
  p->topk_ids = malloc(sz.topk_ids);
  p->topk_w = malloc(sz.topk_w);
  float *row = malloc((size_t)shape->model_dim * sizeof *row);
  if (!p->x || (sz.xs && !p->xs) || !p->w1 || !p->w1s || !p->w2 || !p->w2s ||
      !p->topk_ids || !p->topk_w || !row) {
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for a problem of %d tokens",
                    tokens);
    goto out;
  }
  for (int t = 0; t < tokens; t++) fill_x_row(p, t, seed, row);
  size_t E = (size_t)shape->experts;
  fill_weights(p->w1, p->w1s, E * 2 * (size_t)shape->inter_dim,
               shape->model_dim, STREAM_W1, seed);
  fill_weights(p->w2, p->w2s, E * (size_t)shape->model_dim, shape->inter_dim,
               STREAM_W2, seed);
  rc = pt_routing_topk(routing, tokens, shape->experts, shape->topk, seed,
                       p->topk_ids, p->topk_w, err);
out:
  free(row);
  if (rc != PT_OK) pt_problem_free(p);
  return rc;
}

int pt_problem_active_experts(const pt_moe_problem_t *p) {
  uint8_t *seen = calloc((size_t)p->shape.experts, 1);
  int n = 0;
  if (seen == NULL) return -1;
  for (size_t i = 0; i < (size_t)p->tokens * p->shape.topk; i++)
    if (!seen[p->topk_ids[i]]) {
      seen[p->topk_ids[i]] = 1;
      n++;
    }
  free(seen);
  return n;
}

size_t pt_problem_weight_bytes(const pt_moe_problem_t *p) {
  size_t H = (size_t)p->shape.model_dim, I = (size_t)p->shape.inter_dim;
  size_t per_expert = 2 * I * H / 2 + 2 * I * H / PT_MX_BLOCK + H * I / 2 +
                      H * I / PT_MX_BLOCK;
  int active = pt_problem_active_experts(p);
  return active > 0 ? (size_t)active * per_expert : 0;
}

void pt_problem_flops(const pt_moe_problem_t *p, double *gemm1,
                      double *gemm2) {
  double rows = (double)p->tokens * p->shape.topk;
  double H = p->shape.model_dim, I = p->shape.inter_dim;
  *gemm1 = 2.0 * rows * 2.0 * I * H;
  *gemm2 = 2.0 * rows * H * I;
}
