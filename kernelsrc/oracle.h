/* The host oracle (DESIGN §4 "Oracle"): THE definition of what the GPU
 * kernels compute, composed of small primitives. Inputs are dequantized
 * exactly (mx.h), dot products accumulate in double, stage outputs are
 * rounded once: gemm1's activation to f32 and then requantized like the
 * kernel's epilogue, gemm2's sums to f32.
 *
 * Stages take the sorted layout (moe_sort.h) and an optional row sample:
 * NULL computes every real row (token < M) and every token; a sample
 * (pt_oracle_sample_init) computes only its rows and writes only its tokens,
 * so large problems can be verified on a deterministic subset. Every output
 * element is computed by one thread in a fixed order: results are bitwise
 * independent of the thread count and of the sample.
 *
 * gemm2 reads the intermediate buffer as given, so it can be re-seeded from
 * the GPU's own gemm1 output; the reduce step likewise reads ybuf as given.
 * threads < 1 means 1. Functions return PT_OK or a negative PT_E* code
 * (PT_EINVAL for inconsistent inputs, PT_ENOMEM) with err filled.
 */
#ifndef PT_ORACLE_H
#define PT_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "moe.h"

/* ---- activation: h = act(gate, up) ---- */

double pt_oracle_silu(double gate, double up);        /* gate*sigmoid(gate)*up */
/* GPT-OSS: gate=min(gate,7), up=clamp(up,-7,7), gate*sigmoid(1.702*gate)*(up+1);
 * NaN propagates. */
double pt_oracle_swiglu_oai(double gate, double up);
double pt_oracle_act(pt_act_t act, double gate, double up);

/* ---- dequantized operand rows ---- */

/* Activation row t of p, exactly dequantized: out[H]. */
void pt_oracle_x_row(const pt_moe_problem_t *p, int t, float *out);

/* ---- intermediate buffer (gemm1 output, gemm2 input), layout per dtype ---- */

typedef struct pt_oracle_inter_s {
  pt_dtype_t dtype;
  int rows;         /* rows allocated, >= P of the sort it is used with */
  int inter_dim;    /* I */
  void *h;          /* a4w4 [rows, I/2] e2m1 bytes (low nibble = even column),
                       a8w4 [rows, I] e4m3, a16w4 [rows, I] bf16 (uint16_t) */
  uint8_t *hs;      /* [rows, I/32] e8m0; NULL for a16w4 */
  size_t h_bytes;   /* sizes of h and hs (hs_bytes 0 for a16w4) */
  size_t hs_bytes;
} pt_oracle_inter_t;

/* Allocates a zero-filled buffer of rows x inter_dim (a multiple of 32). */
int pt_oracle_inter_init(pt_oracle_inter_t *b, pt_dtype_t dtype, int rows,
                         int inter_dim, pt_err_t *err);
void pt_oracle_inter_free(pt_oracle_inter_t *b);
/* Row r, exactly dequantized: out[I]. */
void pt_oracle_h_row(const pt_oracle_inter_t *b, int r, float *out);

/* ---- expert-selected matmul ---- */

/* c[i*n + j] = sum_k a[i*k + kk] * w[experts[i], j, kk] for i < nrows, j < n,
 * with w MXFP4 in the canonical layout ([E, n, k/2] bytes, [E, n, k/32]
 * scales; k a multiple of 32), a f32 rows, f64 accumulation. experts[] must
 * be valid ids of w; rows with equal experts should be adjacent (weight rows
 * are dequantized once per run of equal experts). */
int pt_oracle_mul_mat_id(const float *a, int nrows, int k,
                         const int32_t *experts, const uint8_t *w,
                         const uint8_t *ws, int n, double *c, int threads,
                         pt_err_t *err);

/* ---- row samples ---- */

typedef struct pt_oracle_sample_s {
  int nrows;
  int32_t *rows;      /* sorted rows computed (real rows), ascending */
  int ntokens;
  int32_t *tokens;    /* tokens whose K rows are all in rows, ascending */
  int npad;
  int32_t *pad_rows;  /* padding rows near sampled ones: kernels must leave
                         them untouched (compare them with the poison) */
} pt_oracle_sample_t;

/* Deterministic sample of sorted s (M tokens) for seed: every row of the
 * first, the last and nblocks-2 more random sbm-blocks; the first and last
 * real rows of 2*nblocks random blocks; the last real row and the padding
 * rows of nblocks random padded blocks; then closed over tokens (all rows of
 * each token touched), so out rows of the listed tokens are complete.
 * nblocks >= 1. */
int pt_oracle_sample_init(pt_oracle_sample_t *smp, const pt_moe_sorted_t *s,
                          int M, int nblocks, uint64_t seed, pt_err_t *err);
/* The sample of everything: every real row, every token, every padding row. */
int pt_oracle_sample_all(pt_oracle_sample_t *smp, const pt_moe_sorted_t *s,
                         int M, pt_err_t *err);
void pt_oracle_sample_free(pt_oracle_sample_t *smp);

/* ---- the two stages ---- */

/* gemm1: for each computed sorted row r (token t, block expert e),
 * g_j = x[t].w1[e,j], u_j = x[t].w1[e,I+j], h[r,j] = act(g_j, u_j) rounded to
 * f32, then requantized in 32-column groups into h (rows >= P, p's dtype).
 * Other rows of h (padding, unsampled) are untouched. hf, if not NULL,
 * [h->rows, I] f32, gets the values before requantization. */
int pt_oracle_gemm1(const pt_moe_problem_t *p, const pt_moe_sorted_t *s,
                    const pt_oracle_sample_t *smp, int threads,
                    pt_oracle_inter_t *h, float *hf, pt_err_t *err);

/* gemm2, atomic semantics: out[t, n] = sum over t's rows r of
 * sorted_w[r] * (h[r].w2[e, n]), summed in f64 in sorted-row order, for each
 * computed token (out [M, H] f32; other tokens untouched). */
int pt_oracle_gemm2_atomic(const pt_moe_problem_t *p,
                           const pt_moe_sorted_t *s,
                           const pt_oracle_inter_t *h,
                           const pt_oracle_sample_t *smp, int threads,
                           float *out, pt_err_t *err);

/* gemm2, reduce semantics: ybuf[t, slot, n] = f32(sorted_w[r] * y[r, n]) for
 * each computed row (ybuf [M, K, H] f32; other entries untouched). */
int pt_oracle_gemm2_reduce(const pt_moe_problem_t *p,
                           const pt_moe_sorted_t *s,
                           const pt_oracle_inter_t *h,
                           const pt_oracle_sample_t *smp, int threads,
                           float *ybuf, pt_err_t *err);

/* The reduce step: out[t, n] = sum over slots of ybuf[t, slot, n] (f64, slot
 * order) for each computed token (smp NULL: all M). */
int pt_oracle_reduce(const float *ybuf, int M, int K, int H,
                     const pt_oracle_sample_t *smp, float *out, pt_err_t *err);

/* ---- whole block ---- */

/* Sort, gemm1 and gemm2 of p with its own routing: out [M, H] f32. */
int pt_oracle_moe(const pt_moe_problem_t *p, int threads, float *out,
                  pt_err_t *err);

/* The MoE FFN block from router logits [M, E]: top-k and softmax weights
 * (pt_routing_topk_softmax, renormalize as there) replace p's routing, then
 * pt_oracle_moe. */
int pt_oracle_ffn_block(const pt_moe_problem_t *p, const float *logits,
                        int renormalize, int threads, float *out,
                        pt_err_t *err);

/* ---- comparisons ---- */

typedef enum {
  PT_ORACLE_F32 = 0,
  PT_ORACLE_BF16 = 1,  /* uint16_t bits */
} pt_oracle_fmt_t;

typedef struct pt_oracle_diff_s {
  double rel_l2;    /* ||got - ref|| / ||ref|| (0 when both are all zero);
                       INFINITY when nonfinite > 0 */
  double max_abs;
  double mean_abs;
  size_t count;     /* elements compared */
  size_t nonfinite; /* elements where exactly one side, or both with
                       different values, is NaN or infinite */
} pt_oracle_diff_t;

/* Compares rows of two [*, cols] matrices: rows[0..nrows) if rows is not
 * NULL, else rows 0..nrows-1. */
void pt_oracle_diff(const void *got, pt_oracle_fmt_t got_fmt, const void *ref,
                    pt_oracle_fmt_t ref_fmt, int cols, const int32_t *rows,
                    int nrows, pt_oracle_diff_t *out);

/* The same on dequantized intermediate buffers of equal dtype and I;
 * PT_EINVAL otherwise. */
int pt_oracle_inter_diff(const pt_oracle_inter_t *got,
                         const pt_oracle_inter_t *ref, const int32_t *rows,
                         int nrows, pt_oracle_diff_t *out, pt_err_t *err);

/* Fraction of elements of the listed rows whose requantized value is
 * identical: same element code (+0 and -0 equal) and, for a4w4/a8w4, same
 * block scale; for a16w4 the same bf16 bits (+0 and -0 equal). -1 if the
 * buffers differ in dtype or I; 1 for no rows. */
double pt_oracle_code_match(const pt_oracle_inter_t *got,
                            const pt_oracle_inter_t *ref, const int32_t *rows,
                            int nrows);

#endif
