/* Mainloop of the wgmma generation (PT_MMA == 1, sm_90a). Weights come in
 * the repacked layout of kernelsrc/repack.h: per (expert, 64-row group,
 * 128-k chunk) one contiguous 4 KiB block, row r's 64 bytes holding in
 * slot t (16 bytes) exactly the e2m1 pairs lane t of the row's warp needs
 * for the 8 k16 steps of the chunk, and a 256-byte block of scale words.
 *
 * Warpgroup 0 produces: per ring stage, one thread announces the bytes and
 * issues one bulk copy per (k wave, fragment) for weights and scales; all
 * 128 threads gather the tile's activation rows (bf16 by cp.async, a4w4 /
 * a8w4 dequantized through registers) in wgmma's no-swizzle K-major layout
 * and arrive on the stage's full barrier. Warpgroup 1 + kw consumes chunk
 * kw of every step: dequantizes its weight rows into the A registers and
 * issues m64 x BM x k16 wgmmas with the tokens as B; it frees the stage on
 * its empty barrier. No block barrier inside the K loop. Knobs:
 *   PT_KWAVE   consumer warpgroups splitting each step along k
 *   PT_KSTAGES ring of 2 or 4 stages
 *   PT_BHOIST  per k16 step: dequantize step j+1 while the wgmma of step j
 *              runs (two A register sets), instead of the whole chunk first
 *   PT_NT      weight copies marked evict-first in L2 (pt_arch_sm90.cuh) */
#ifndef PT_WGMMA_CUH
#define PT_WGMMA_CUH

#include "pt_route.cuh"
#include "pt_arch_sm90.cuh"

#define PT_WG_CHUNK_W 4096  /* 64 rows x 64 bytes */
#define PT_WG_CHUNK_S 256   /* 64 rows x 4 scale bytes */

typedef struct pt_acc_s {
  float v[PT_WG_NF][PT_BM / 2];  /* wgmma accumulator order, per fragment */
} pt_acc_t;

/* The repacked rows of a stage: 64-row groups, chunks of 128 k. */
PT_DEV int pt_wg_chunks(const pt_kargs_t *a) { return (pt_stage_k(a) + 127) / 128; }
PT_DEV int pt_wg_groups(const pt_kargs_t *a) { return pt_stage_n(a) / 64; }

/* Whether 64-row group q holds rows of the stage (gemm1: 32 gate and 32 up
 * rows of intermediate columns 32q..32q+31). */
PT_DEV int pt_wg_group_ok(const pt_kargs_t *a, int q)
{
  return PT_STAGE == 1 ? 32 * q < a->I : 64 * q < a->H;
}

/* Byte offset in a stage's activation area of 16-byte unit v (k 8v..8v+7)
 * of token row r, chunk kw: 8-row x 16-byte core matrices, 128 bytes apart
 * along k, 2048 apart along the tokens. */
PT_DEV int pt_wg_a_off(int kw, int r, int v)
{
  return PT_WG_WBYTES + PT_WG_SBYTES + kw * PT_BM * 256 + (r >> 3) * 2048 +
         v * 128 + (r & 7) * 16;
}

/* ---- producer (warpgroup 0) ---- */

PT_DEV void pt_wg_issue_weights(const pt_kargs_t *a, const pt_work_t *w,
                                unsigned char *slot, unsigned long long *full,
                                int ks)
{
  int nc = pt_wg_chunks(a), ng = pt_wg_groups(a);
  unsigned tx = 0;
#pragma unroll
  for (int kw = 0; kw < PT_KWAVE; kw++)
#pragma unroll
    for (int f = 0; f < PT_WG_NF; f++)
      if (ks * PT_KWAVE + kw < nc && pt_wg_group_ok(a, w->n_block * PT_WG_NF + f))
        tx += PT_WG_CHUNK_W + PT_WG_CHUNK_S;
  pt_mbar_arrive_tx(full, tx);
#pragma unroll
  for (int kw = 0; kw < PT_KWAVE; kw++)
#pragma unroll
    for (int f = 0; f < PT_WG_NF; f++) {
      int c = ks * PT_KWAVE + kw, q = w->n_block * PT_WG_NF + f;
      if (c >= nc || !pt_wg_group_ok(a, q))
        continue;
      unsigned long long blk = ((unsigned long long)w->expert * ng + q) * nc + c;
      int i = kw * PT_WG_NF + f;
      pt_bulk_copy(slot + i * PT_WG_CHUNK_W,
                   (const unsigned char *)a->w + blk * PT_WG_CHUNK_W,
                   PT_WG_CHUNK_W, full);
      pt_bulk_copy(slot + PT_WG_WBYTES + i * PT_WG_CHUNK_S,
                   (const unsigned char *)a->ws + blk * PT_WG_CHUNK_S,
                   PT_WG_CHUNK_S, full);
    }
}

/* Gathers step ks's activation units: lanes walk 8 rows x 4 units, so each
 * row's 64 bytes come from 4 lanes and 8 lanes fill one core matrix.
 * Past K and on padding rows the units are zero. */
PT_DEV void pt_wg_issue_acts(const pt_kargs_t *a, pt_rows_t rows,
                             unsigned char *slot, int ks, int tid)
{
  int K = pt_stage_k(a);
  const int units = PT_KWAVE * PT_BM * 16;
  for (int u = tid; u < units; u += 128) {
    int r = (u & 7) + 8 * ((u >> 5) % (PT_BM / 8));
    int v = ((u >> 3) & 3) + 4 * ((u >> 5) / (PT_BM / 8) % 4);
    int kw = (u >> 5) / (PT_BM / 8) / 4;
    int k = (ks * PT_KWAVE + kw) * 128 + v * 8;
    int ar = rows.arow[r];
    int ok = ar >= 0 && k < K;
    unsigned char *d = slot + pt_wg_a_off(kw, r, v);
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

PT_DEV void pt_wg_produce(const pt_kargs_t *a, const pt_work_t *w,
                          pt_rows_t rows, unsigned char *smem,
                          unsigned long long *bars, int it, int nks, int tid)
{
  for (int ks = 0; ks < nks; ks++) {
    int n = it + ks, s = n % PT_NS;
    unsigned char *slot = smem + s * PT_SLOT_BYTES;
    pt_mbar_wait(&bars[PT_NS + s], ((n / PT_NS) & 1) ^ 1);
    if (tid == 0)
      pt_wg_issue_weights(a, w, slot, &bars[s], ks);
    pt_wg_issue_acts(a, rows, slot, ks, tid);
    if (PT_DTYPE == 2) {
      pt_mbar_arrive_cp(&bars[s]);
    } else {
      pt_fence_proxy_async();
      pt_mbar_arrive(&bars[s]);
    }
  }
}

/* ---- consumers (warpgroups 1..KWAVE) ---- */

/* The bf16 pair of nibbles p and p + 4 of word x times the pair scale f:
 * the 3 magnitude bits land in the low exponent and top mantissa bits
 * (value x 2^-126), the sign on top; f = 2^(s-1) restores the scale. */
PT_DEV unsigned pt_wg_pair(unsigned x, int p, unsigned f)
{
  unsigned y = p == 0 ? x << 6 : p == 1 ? x << 2 : p == 2 ? x >> 2 : x >> 6;
  unsigned raw = (y & 0x01c001c0u) | ((y << 6) & 0x80008000u);
  return pt_bf2_mul(raw, f);
}

/* Pair scale of one scale byte s <= 128 (every real weight scale): 2^(s-1)
 * as a bf16 pair, the 2^126 of the raw pairs folded in. */
PT_DEV unsigned pt_wg_scale(unsigned s)
{
  unsigned h = (s + 126u) << 7;
  return h | h << 16;
}

/* A registers of k16 step j from the fragment's two held rows (q[h] =
 * 16 bytes of row g + 8h, f[h][i] the pair scale of its word i). */
PT_DEV void pt_wg_deq(unsigned A[4], const pt_u4 q[2], const unsigned f[2][4],
                      int j)
{
  int i = j >> 1, p0 = 2 * (j & 1);
#pragma unroll
  for (int h = 0; h < 2; h++) {
    unsigned x = pt_u4_word(q[h], i);
    A[h] = pt_wg_pair(x, p0, f[h][i]);
    A[2 + h] = pt_wg_pair(x, p0 + 1, f[h][i]);
  }
}

/* Scales above 2^1 (s > 128) do not fold into one bf16 factor: the rare
 * chunk that has one takes two exact products (2^126, then the scale). */
PT_DEV void pt_wg_deq_wide(unsigned A[4], const pt_u4 q[2],
                           const unsigned sc[2], int j)
{
  int i = j >> 1, p0 = 2 * (j & 1);
#pragma unroll
  for (int h = 0; h < 2; h++) {
    unsigned x = pt_u4_word(q[h], i);
    unsigned g = pt_e8m0_bf2((sc[h] >> (8 * i)) & 0xffu);
    A[h] = pt_bf2_mul(pt_wg_pair(x, p0, PT_BF2_2P126), g);
    A[2 + h] = pt_bf2_mul(pt_wg_pair(x, p0 + 1, PT_BF2_2P126), g);
  }
}

PT_DEV unsigned long long pt_wg_bdesc(const unsigned char *slot, int kw, int j)
{
  return pt_wgmma_desc(pt_smem_addr(slot + pt_wg_a_off(kw, 0, 2 * j)), 128, 2048);
}

/* One chunk: the fragments' rows from the stage, then 8 k16 steps. */
PT_DEV void pt_wg_chunk(pt_acc_t *acc, const unsigned char *slot, int kw,
                        int wtid)
{
  int warp = wtid >> 5, lane = wtid & 31;
  int row = 16 * warp + (lane >> 2), t = lane & 3;
  pt_u4 q[PT_WG_NF][2];
  unsigned sc[PT_WG_NF][2], fs[PT_WG_NF][2][4], wide = 0;
#pragma unroll
  for (int f = 0; f < PT_WG_NF; f++)
#pragma unroll
    for (int h = 0; h < 2; h++) {
      int i = kw * PT_WG_NF + f, r = row + 8 * h;
      q[f][h] = pt_lds16(slot + i * PT_WG_CHUNK_W + r * 64 + t * 16);
      sc[f][h] = *(const unsigned *)(slot + PT_WG_WBYTES + i * PT_WG_CHUNK_S + r * 4);
      wide |= __vcmpgtu4(sc[f][h], 0x80808080u);
#pragma unroll
      for (int b = 0; b < 4; b++)
        fs[f][h][b] = pt_wg_scale((sc[f][h] >> (8 * b)) & 0xffu);
    }
#if PT_BHOIST
  unsigned A[2][PT_WG_NF][4];
#pragma unroll
  for (int j = 0; j < 8; j++) {
    if (j >= 2)
      pt_wgmma_wait(PT_WG_NF);  /* step j-2 is done with A[j & 1] */
#pragma unroll
    for (int f = 0; f < PT_WG_NF; f++)
      if (wide)
        pt_wg_deq_wide(A[j & 1][f], q[f], sc[f], j);
      else
        pt_wg_deq(A[j & 1][f], q[f], fs[f], j);
    pt_wgmma_fence();
#pragma unroll
    for (int f = 0; f < PT_WG_NF; f++) {
      pt_wgmma(acc->v[f], A[j & 1][f], pt_wg_bdesc(slot, kw, j));
      pt_wgmma_commit();
    }
  }
#else
  unsigned A[8][PT_WG_NF][4];
#pragma unroll
  for (int j = 0; j < 8; j++)
#pragma unroll
    for (int f = 0; f < PT_WG_NF; f++)
      if (wide)
        pt_wg_deq_wide(A[j][f], q[f], sc[f], j);
      else
        pt_wg_deq(A[j][f], q[f], fs[f], j);
  pt_wgmma_fence();
#pragma unroll
  for (int j = 0; j < 8; j++)
#pragma unroll
    for (int f = 0; f < PT_WG_NF; f++)
      pt_wgmma(acc->v[f], A[j][f], pt_wg_bdesc(slot, kw, j));
  pt_wgmma_commit();
#endif
  pt_wgmma_wait(0);
}

PT_DEV void pt_wg_consume(pt_acc_t *acc, const pt_kargs_t *a,
                          unsigned char *smem, unsigned long long *bars,
                          int it, int nks, int kw, int wtid)
{
  int nc = pt_wg_chunks(a);
#pragma unroll
  for (int f = 0; f < PT_WG_NF; f++)
#pragma unroll
    for (int i = 0; i < PT_BM / 2; i++)
      acc->v[f][i] = 0.0f;
  for (int ks = 0; ks < nks; ks++) {
    int n = it + ks, s = n % PT_NS;
    const unsigned char *slot = smem + s * PT_SLOT_BYTES;
    pt_mbar_wait(&bars[s], (n / PT_NS) & 1);
    pt_fence_proxy_async();  /* cp.async writes -> wgmma's operand reads */
    if (ks * PT_KWAVE + kw < nc)
      pt_wg_chunk(acc, slot, kw, wtid);
    pt_mbar_arrive(&bars[PT_NS + s]);
  }
}

/* C column of accumulator row rr (0..BN-1) of the tile: gemm1's 64-row
 * groups hold 32 gate then 32 up rows; the epilogue wants gate columns
 * first, then up. */
PT_DEV int pt_wg_ccol(int rr)
{
  if (PT_STAGE == 2)
    return rr;
  int f = rr >> 6, i = rr & 63;
  return i < 32 ? 32 * f + i : PT_BN / 2 + 32 * f + (i - 32);
}

/* Sums the consumer warpgroups' partials into C in k-wave order; every
 * thread of the block passes the same barriers. */
PT_DEV void pt_wg_acc_to_ctile(const pt_acc_t *acc, float *C, int kw, int wtid)
{
  int warp = wtid >> 5, lane = wtid & 31;
#pragma unroll 1
  for (int w = 0; w < PT_KWAVE; w++) {
    if (kw == w) {
#pragma unroll
      for (int f = 0; f < PT_WG_NF; f++)
#pragma unroll
        for (int nb = 0; nb < PT_BM / 8; nb++)
#pragma unroll
          for (int i = 0; i < 4; i++) {
            int row, col;
            pt_acc_pos(lane, i, &row, &col);
            int rr = 64 * f + 16 * warp + row;
            float *c = C + (nb * 8 + col) * PT_CLD + pt_wg_ccol(rr);
            float v = acc->v[f][4 * nb + i];
            *c = w == 0 ? v : *c + v;
          }
    }
    __syncthreads();
  }
}

#endif
