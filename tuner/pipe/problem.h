/* Problem setup (DESIGN §6.1): the seeded host tensors of one MoE problem,
 * generated once and shared by every variant measured on it, plus the byte
 * and FLOP counts its timings are reported against.
 *
 * Values: activations are normal-ish with a per-token magnitude of 2^-2 to
 * 2^2, quantized to the dtype (MXFP4 or FP8 with e8m0 block scales, or
 * bf16). Weights are uniform random e2m1 codes with e8m0 block scales chosen
 * so that each row has an RMS near 1/sqrt(K) (K the reduction length), the
 * scale of each block varied by 2^-1..2^1. So the gemm1 dot products are
 * O(1) and every product and sum stays far inside bf16/f32 range.
 * Everything is a function of (shape, tokens, routing, seed).
 */
#ifndef PT_PROBLEM_H
#define PT_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "moe.h"
#include "routing.h"

/* Byte sizes of a problem's tensors (layouts in moe.h). xs is 0 for a16w4. */
typedef struct pt_problem_sizes_s {
  size_t x, xs;
  size_t w1, w1s, w2, w2s;
  size_t topk_ids, topk_w;
  size_t out;  /* [M, H] bf16 */
} pt_problem_sizes_t;

/* Checks a shape: H and I positive multiples of 64, 1 <= K <= E,
 * K <= PT_ROUTING_TOPK_MAX, a known dtype and act. PT_EINVAL with the field
 * named otherwise. */
int pt_problem_check_shape(const pt_moe_shape_t *shape, pt_err_t *err);

void pt_problem_sizes(const pt_moe_shape_t *shape, int tokens,
                      pt_problem_sizes_t *out);

/* Bytes of n activation elements (x, or gemm1's intermediate) in dtype d's
 * activation format: e2m1 two per byte, e4m3, or bf16. n even for a4w4. */
size_t pt_problem_act_bytes(pt_dtype_t d, size_t n);

/* Allocates and fills p. tokens >= 1 and < 2^24. On failure p is left empty
 * (safe to free). The caller frees p with pt_problem_free(). */
int pt_problem_init(pt_moe_problem_t *p, const pt_moe_shape_t *shape,
                    int tokens, const pt_routing_t *routing, uint64_t seed,
                    pt_err_t *err);
void pt_problem_free(pt_moe_problem_t *p);

/* Number of distinct experts in p's routing; -1 when out of memory. */
int pt_problem_active_experts(const pt_moe_problem_t *p);

/* Bytes of the active experts' weights and scales (w1, w1s, w2, w2s): what a
 * weight-bandwidth-bound run must read at least once. */
size_t pt_problem_weight_bytes(const pt_moe_problem_t *p);

/* FLOPs of the two stages over the M*K real rows (padding excluded):
 * gemm1 2*M*K*2I*H, gemm2 2*M*K*H*I. */
void pt_problem_flops(const pt_moe_problem_t *p, double *gemm1,
                      double *gemm2);

#endif
