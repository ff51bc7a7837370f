/* Mainloop: weights streamed from global memory straight into registers
 * (16-byte loads, one MX block each), dequantized there and fed to the MMA
 * on its M side; activations staged in shared memory on the N side. Knobs:
 *   PT_KWAVE   warps splitting each block step along k (partials summed by
 *              the epilogue plan)
 *   PT_KSTAGES 1: a step's weights are loaded in that step; 2: the next
 *              step's weights are in flight while this one computes
 *   PT_BHOIST  weight loads issued before the block barrier instead of after
 *   PT_NT      streaming loads (in the arch header) */
#ifndef PT_MAINLOOP_CUH
#define PT_MAINLOOP_CUH

#include "pt_route.cuh"

typedef struct pt_wregs_s {
  pt_u4 q[PT_MB16][PT_LROWS];
  unsigned s[PT_MB16][PT_LROWS];
} pt_wregs_t;

typedef struct pt_acc_s {
  float v[PT_MB16][PT_NB][4];
} pt_acc_t;

/* Weights of block step ks for this lane: k chunk owned by (wave, lane t). */
PT_DEV void pt_w_load(pt_wregs_t *wr, const pt_wsrc_t *src, int ks, int kw,
                      int lane, int K)
{
  int k = ks * PT_KSUP + kw * PT_KT + 32 * pt_lane_t(lane);
  pt_u4 z = {0, 0, 0, 0};
#pragma unroll
  for (int m = 0; m < PT_MB16; m++)
#pragma unroll
    for (int i = 0; i < PT_LROWS; i++) {
      int ok = src->q[m][i] != 0 && k < K;
      wr->q[m][i] = ok ? pt_ldg_w16(src->q[m][i] + k / 2) : z;
      wr->s[m][i] = ok ? pt_ldg_u8(src->s[m][i] + k / 32) : 127u;
    }
}

/* One block step for this warp: 8 MMA k-steps over its 128-k slice. */
PT_DEV void pt_w_compute(pt_acc_t *acc, const pt_wregs_t *wr,
                         const unsigned char *stage, int kw, int lane)
{
  int t = pt_lane_t(lane), col = pt_lane_col(lane);
#pragma unroll
  for (int jj = 0; jj < 4; jj++) {
    unsigned wf[2][PT_MB16][PT_LROWS][2];
#pragma unroll
    for (int m = 0; m < PT_MB16; m++)
#pragma unroll
      for (int i = 0; i < PT_LROWS; i++) {
        unsigned word = pt_u4_word(wr->q[m][i], jj);
        unsigned s2 = pt_e8m0_bf2(wr->s[m][i]);
#pragma unroll
        for (int h = 0; h < 2; h++) {
          wf[h][m][i][0] = pt_fp4x2_dequant((word >> (16 * h)) & 0xffu, s2);
          wf[h][m][i][1] = pt_fp4x2_dequant((word >> (16 * h + 8)) & 0xffu, s2);
        }
      }
#pragma unroll
    for (int nb = 0; nb < PT_NB; nb++) {
      pt_u4 b = pt_lds16(stage + pt_a_off(nb * PT_MMA_N + col,
                                          kw * (PT_KT / 8) + 4 * t + jj));
      unsigned b0[2] = {b.x, b.y}, b1[2] = {b.z, b.w};
#pragma unroll
      for (int m = 0; m < PT_MB16; m++) {
        pt_mma16(acc->v[m][nb], wf[0][m], b0);
        pt_mma16(acc->v[m][nb], wf[1][m], b1);
      }
    }
  }
}

/* Runs the whole K range of one tile; leaves the partial sums of this
 * warp's k slices in acc. Ends with every warp past its last stage read. */
PT_DEV void pt_mainloop(pt_acc_t *acc, const pt_kargs_t *a, const pt_wsrc_t *src,
                        pt_rows_t rows, unsigned char *smem, int kw, int lane)
{
  int K = pt_stage_k(a);
  int nks = (K + PT_KSUP - 1) / PT_KSUP;
  pt_wregs_t wcur, wnext;

#pragma unroll
  for (int m = 0; m < PT_MB16; m++)
#pragma unroll
    for (int nb = 0; nb < PT_NB; nb++)
#pragma unroll
      for (int i = 0; i < 4; i++)
        acc->v[m][nb][i] = 0.0f;

  pt_a_stage_load(a, rows, 0, smem);
  if (PT_KSTAGES == 2)
    pt_w_load(&wnext, src, 0, kw, lane, K);
  for (int ks = 0; ks < nks; ks++) {
    int more = ks + 1 < nks;
    if (PT_KSTAGES == 2)
      wcur = wnext;
    if (PT_BHOIST) {
      if (PT_KSTAGES == 2 && more)
        pt_w_load(&wnext, src, ks + 1, kw, lane, K);
      if (PT_KSTAGES == 1)
        pt_w_load(&wcur, src, ks, kw, lane, K);
    }
    pt_cp_wait_all();
    __syncthreads();
    if (!PT_BHOIST) {
      if (PT_KSTAGES == 2 && more)
        pt_w_load(&wnext, src, ks + 1, kw, lane, K);
      if (PT_KSTAGES == 1)
        pt_w_load(&wcur, src, ks, kw, lane, K);
    }
    unsigned char *cur = smem + (ks & 1) * PT_ASTAGE_BYTES;
    unsigned char *nxt = smem + ((ks + 1) & 1) * PT_ASTAGE_BYTES;
    if (PT_DTYPE == 2 && more)
      pt_a_stage_load(a, rows, ks + 1, nxt);
    pt_w_compute(acc, &wcur, cur, kw, lane);
    if (PT_DTYPE != 2 && more)
      pt_a_stage_load(a, rows, ks + 1, nxt);
  }
  pt_cp_wait_all();
  __syncthreads();
}

#endif
