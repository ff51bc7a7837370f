/* Mainloop: each block step's weights (16-byte MX blocks) and scales go
 * global -> shared memory with asynchronous copies through a ring of K-tile
 * slots, several steps ahead; each lane copies the chunks it later reads,
 * dequantizes them in registers and feeds the MMA on its M side;
 * activations sit in the same slot on the N side. Knobs:
 *   PT_KWAVE   warps splitting each block step along k (partials summed by
 *              the epilogue plan)
 *   PT_KSTAGES ring of 2 (one step in flight while one computes) or 4 slots
 *   PT_BHOIST  a step's copies issued before the block barrier instead of
 *              after (one step less ahead)
 *   PT_NT      weight copies bypass L1 (in the arch header) */
#ifndef PT_MAINLOOP_CUH
#define PT_MAINLOOP_CUH

#include "pt_route.cuh"

/* Global weight row of tile-local row i, or -1 past the stage's n. */
PT_DEV int pt_weight_row(const pt_kargs_t *a, const pt_work_t *w, int i)
{
  if (PT_STAGE == 1) {
    int half = PT_BN / 2;
    int j = w->n_block * half + (i < half ? i : i - half);
    if (j >= a->I)
      return -1;
    return i < half ? j : a->I + j;
  }
  int n = w->n_block * PT_BN + i;
  return n < a->H ? n : -1;
}

/* Where a lane's weight rows start: bytes and scales of each held row. */
typedef struct pt_wsrc_s {
  const unsigned char *q[PT_MB16][PT_LROWS];
  const unsigned char *s[PT_MB16][PT_LROWS];
  const unsigned char *any;  /* a valid address for zero-filling copies */
} pt_wsrc_t;

PT_DEV void pt_wsrc_init(pt_wsrc_t *src, const pt_kargs_t *a,
                         const pt_work_t *w, int wn, int lane)
{
  int K = pt_stage_k(a);
  unsigned long long nrows = (unsigned long long)pt_stage_n(a);
  src->any = (const unsigned char *)a->w;
#pragma unroll
  for (int m = 0; m < PT_MB16; m++)
#pragma unroll
    for (int i = 0; i < PT_LROWS; i++) {
      int row = pt_weight_row(a, w, wn * PT_WROWS + m * 16 + pt_lane_row(lane, i));
      unsigned long long g = (unsigned long long)w->expert * nrows +
                             (unsigned long long)row;
      src->q[m][i] = row < 0 ? 0 : (const unsigned char *)a->w + g * (K / 2);
      src->s[m][i] = row < 0 ? 0 : (const unsigned char *)a->ws + g * (K / 32);
    }
}

/* Byte offset in an A stage of 16-byte unit v (8 bf16 along k) of tile row r.
 * XOR swizzle inside each 128-k slice keeps the MMA's 16-byte reads (lanes
 * of t = 0..3 and two adjacent rows) on distinct banks. */
PT_DEV int pt_a_off(int r, int v)
{
  int vv = v & 15;
  vv ^= ((vv >> 3) & 1) << 1;
  vv ^= r & 1;
  return r * (PT_KSUP * 2) + ((v & ~15) | vv) * 16;
}

/* Loads the A stage of block step ks into stage buffer dst: bf16 through
 * asynchronous copies (the caller closes the group), e2m1/e4m3 dequantized
 * through registers. Columns past K and padding rows are zero. */
PT_DEV void pt_a_stage_load(const pt_kargs_t *a, pt_rows_t rows, int ks,
                            unsigned char *dst)
{
  int K = pt_stage_k(a);
  const int upr = PT_KSUP / 8;
  for (int u = threadIdx.x; u < PT_BM * upr; u += PT_THREADS) {
    int r = u / upr, v = u % upr;
    int k = ks * PT_KSUP + v * 8;
    int ar = rows.arow[r];
    int ok = ar >= 0 && k < K;
    unsigned char *d = dst + pt_a_off(r, v);
    if (PT_DTYPE == 2) {
      const unsigned char *g = (const unsigned char *)a->a +
                               ((unsigned long long)(ok ? ar : 0) * K + (ok ? k : 0)) * 2;
      pt_cp16(d, g, ok);
    } else {
      pt_u4 z = {0, 0, 0, 0};
      pt_sts16(d, ok ? pt_a_dequant8(a, ar, k, K) : z);
    }
  }
}


typedef struct pt_wregs_s {
  pt_u4 q[PT_MB16][PT_LROWS];
  unsigned s[PT_MB16][PT_LROWS];
} pt_wregs_t;

typedef struct pt_acc_s {
  float v[PT_MB16][PT_NB][4];
} pt_acc_t;

/* Tile-local weight row of the lane's held row (m, i). */
PT_DEV int pt_w_row(int wn, int m, int i, int lane)
{
  return wn * PT_WROWS + m * 16 + pt_lane_row(lane, i);
}

/* Byte offset in a slot's weight area of 16-byte chunk c of tile row r;
 * odd rows move by 64 bytes when rows are 128 bytes or longer, so the eight
 * rows a warp reads at once fall on distinct banks. */
PT_DEV int pt_w_off(int r, int c)
{
  return r * PT_WROW_BYTES + (c ^ (PT_KSUP >= 256 ? (r & 1) << 2 : 0)) * 16;
}

/* Offset of the scale window of tile row r, k wave kw in a slot. */
PT_DEV int pt_s_off(int r, int kw)
{
  return PT_WSLOT_BYTES + (r * PT_KWAVE + kw) * PT_SWIN;
}

/* Issues the copies of block step ks's weights and scales held by this lane
 * into slot: its 16-byte chunk per held row (zero past K or past the stage's
 * rows) and, from lanes t = 0 and 1, the two 4-byte words of the row's scale
 * window (clamped at the row's end). */
PT_DEV void pt_w_issue(const pt_wsrc_t *src, unsigned char *slot, int ks,
                       int wn, int kw, int lane, int K)
{
  int t = pt_lane_t(lane);
  int k = ks * PT_KSUP + kw * PT_KT + 32 * t;
  int sb = (ks * PT_KSUP + kw * PT_KT) / 32;
#pragma unroll
  for (int m = 0; m < PT_MB16; m++)
#pragma unroll
    for (int i = 0; i < PT_LROWS; i++) {
      int r = pt_w_row(wn, m, i, lane);
      const unsigned char *q = src->q[m][i];
      int ok = q != 0 && k < K;
      pt_cp16_w(slot + pt_w_off(r, kw * 4 + t), ok ? q + k / 2 : src->any, ok);
      if (t < 2) {
        const unsigned char *s = src->s[m][i];
        const unsigned char *wd = s ? (const unsigned char *)
            (((unsigned long long)(s + sb) & ~3ull) + 4 * t) : src->any;
        long long left = s ? (long long)(s + K / 32 - wd) : 0;
        int n = left <= 0 ? 0 : left >= 4 ? 4 : (int)left;
        pt_cp4(slot + pt_s_off(r, kw) + 4 * t, n ? wd : src->any, n);
      }
    }
}

/* This lane's weights and scales of the step in slot, into registers. */
PT_DEV void pt_w_fetch(pt_wregs_t *wr, const pt_wsrc_t *src,
                       const unsigned char *slot, int wn, int kw, int lane)
{
  int t = pt_lane_t(lane);
#pragma unroll
  for (int m = 0; m < PT_MB16; m++)
#pragma unroll
    for (int i = 0; i < PT_LROWS; i++) {
      int r = pt_w_row(wn, m, i, lane);
      int off = (int)((unsigned long long)src->s[m][i] & 3u);
      wr->q[m][i] = pt_lds16(slot + pt_w_off(r, kw * 4 + t));
      wr->s[m][i] = slot[pt_s_off(r, kw) + off + t];
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

/* Issues block step ks's copies into its ring slot (bf16 activations go
 * with the weights) and closes the copy group; past the last step the group
 * is empty, which keeps the wait counts uniform. */
PT_DEV void pt_step_issue(const pt_kargs_t *a, pt_rows_t rows,
                          const pt_wsrc_t *src, unsigned char *smem, int ks,
                          int nks, int wn, int kw, int lane)
{
  if (ks < nks) {
    unsigned char *slot = smem + (ks % PT_NS) * PT_SLOT_BYTES;
    pt_w_issue(src, slot, ks, wn, kw, lane, pt_stage_k(a));
    if (PT_DTYPE == 2)
      pt_a_stage_load(a, rows, ks, slot + PT_WSLOT_BYTES + PT_SSLOT_BYTES);
  }
  pt_cp_commit();
}

/* Runs the whole K range of one tile; leaves the partial sums of this
 * warp's k slices in acc. Ends with every warp past its last slot read. */
PT_DEV void pt_mainloop(pt_acc_t *acc, const pt_kargs_t *a, const pt_wsrc_t *src,
                        pt_rows_t rows, unsigned char *smem, int wn, int kw,
                        int lane)
{
  const int aoff = PT_WSLOT_BYTES + PT_SSLOT_BYTES;
  int K = pt_stage_k(a);
  int nks = (K + PT_KSUP - 1) / PT_KSUP;

#pragma unroll
  for (int m = 0; m < PT_MB16; m++)
#pragma unroll
    for (int nb = 0; nb < PT_NB; nb++)
#pragma unroll
      for (int i = 0; i < 4; i++)
        acc->v[m][nb][i] = 0.0f;

  if (PT_DTYPE != 2)
    pt_a_stage_load(a, rows, 0, smem + aoff);
  for (int j = 0; j < PT_WDEPTH; j++)
    pt_step_issue(a, rows, src, smem, j, nks, wn, kw, lane);
  for (int ks = 0; ks < nks; ks++) {
    if (PT_BHOIST)
      pt_step_issue(a, rows, src, smem, ks + PT_WDEPTH, nks, wn, kw, lane);
    pt_cp_wait(PT_BHOIST ? PT_WDEPTH : PT_WDEPTH - 1);
    __syncthreads();
    if (!PT_BHOIST)
      pt_step_issue(a, rows, src, smem, ks + PT_WDEPTH, nks, wn, kw, lane);
    unsigned char *slot = smem + (ks % PT_NS) * PT_SLOT_BYTES;
    pt_wregs_t wr;
    pt_w_fetch(&wr, src, slot, wn, kw, lane);
    pt_w_compute(acc, &wr, slot + aoff, kw, lane);
    if (PT_DTYPE != 2 && ks + 1 < nks)
      pt_a_stage_load(a, rows, ks + 1, smem + ((ks + 1) % PT_NS) * PT_SLOT_BYTES + aoff);
  }
  pt_cp_wait(0);
  __syncthreads();
}

/* Sums the warps' partials into C: k-wave 0 stores, the others add in turn
 * (deterministic order). */
PT_DEV void pt_acc_to_ctile(const pt_acc_t *acc, float *C, int wn, int kw,
                            int lane)
{
#pragma unroll 1
  for (int w = 0; w < PT_KWAVE; w++) {
    if (kw == w) {
#pragma unroll
      for (int m = 0; m < PT_MB16; m++)
#pragma unroll
        for (int nb = 0; nb < PT_NB; nb++)
#pragma unroll
          for (int i = 0; i < 4; i++) {
            int row, col;
            pt_acc_pos(lane, i, &row, &col);
            float *c = C + (nb * PT_MMA_N + col) * PT_CLD + wn * PT_WROWS + m * 16 + row;
            *c = w == 0 ? acc->v[m][nb][i] : *c + acc->v[m][nb][i];
          }
    }
    __syncthreads();
  }
}

#endif
