/* Operand routing: which activation rows a tile gathers (through sorted_ids
 * in gemm1, the sorted rows themselves in gemm2), which weight rows of which
 * expert each lane streams, and the A-stage loader that dequantizes
 * activations (e2m1/e4m3 x e8m0, or bf16 as is) into shared memory.
 *
 * PT_STAGE (1 or 2) picks the stage's routing. Stage geometry:
 *   gemm1: rows of w1 (2I), K = H, A = x gathered by token.
 *   gemm2: rows of w2 (H),  K = I, A = hq by sorted row. */
#ifndef PT_ROUTE_CUH
#define PT_ROUTE_CUH

#include "pt_tile.cuh"
#include "pt_sched.h"

/* Per-tile row tables in shared memory, after the main area. */
typedef struct pt_rows_s {
  int *arow;     /* A row to read, -1 for padding (token >= M) */
  int *entry;    /* sorted_ids entry (token | slot << 24) */
  float *rw;     /* routing weight (gemm2) */
} pt_rows_t;

PT_DEV pt_rows_t pt_rows_at(unsigned char *smem)
{
  pt_rows_t r;
  r.arow = (int *)(smem + PT_MAIN_BYTES);
  r.entry = r.arow + PT_BM;
  r.rw = (float *)(r.entry + PT_BM);
  return r;
}

PT_DEV int pt_stage_k(const pt_kargs_t *a) { return PT_STAGE == 1 ? a->H : a->I; }
PT_DEV int pt_stage_n(const pt_kargs_t *a) { return PT_STAGE == 1 ? 2 * a->I : a->H; }
/* Output columns per tile along the stage's n: gemm1 tiles cover BN/2
 * intermediate columns (gate and up), gemm2 BN model columns. */
#define PT_TILE_COLS (PT_STAGE == 1 ? PT_BN / 2 : PT_BN)

/* Work descriptor of linear work index b. */
PT_DEV pt_work_t pt_work_of(const pt_kargs_t *a, int b)
{
  pt_work_t w;
  int m_blocks = a->P / PT_BM;
  w.valid = b < a->ntiles;
  pt_sched_tile(PT_SPART, w.valid ? b : 0, m_blocks, a->nblk_n, &w.m_block,
                &w.n_block);
  w.expert = ((const int *)a->block_expert)[w.m_block * PT_BM / a->sbm];
  /* an expert's padding sits after its rows: a block starting on padding
   * is all padding and loads no weights */
  if ((((const int *)a->sorted_ids)[w.m_block * PT_BM] & 0xffffff) >= a->M)
    w.valid = 0;
  w.k_begin = 0;
  w.k_end = pt_stage_k(a);
  return w;
}

PT_DEV void pt_rows_fill(const pt_kargs_t *a, const pt_work_t *w, pt_rows_t rows)
{
  for (int r = threadIdx.x; r < PT_BM; r += PT_THREADS) {
    int prow = w->m_block * PT_BM + r;
    int e = ((const int *)a->sorted_ids)[prow];
    int tok = e & 0xffffff;
    rows.entry[r] = e;
    if (PT_STAGE == 1)
      rows.arow[r] = tok < a->M ? tok : -1;
    else
      rows.arow[r] = tok < a->M ? prow : -1;
    rows.rw[r] = PT_STAGE == 2 ? ((const float *)a->sorted_w)[prow] : 0.0f;
  }
}

/* Eight activations (k .. k+7 of A row ar) as bf16, dequantized exactly. */
PT_DEV pt_u4 pt_a_dequant8(const pt_kargs_t *a, int ar, int k, int K)
{
  pt_u4 r;
  unsigned h[8];
  unsigned long long row = (unsigned long long)ar;
  float s = pt_e8m0_f32(pt_ldg_u8((const unsigned char *)a->as + row * (K / 32) + k / 32));
  if (PT_DTYPE == 0) {
    unsigned q = pt_ldg_u32((const unsigned *)((const unsigned char *)a->a + row * (K / 2) + k / 2));
#pragma unroll
    for (int i = 0; i < 8; i++)
      h[i] = pt_f32_bits(pt_fp4_f32(q >> (4 * i)) * s) >> 16;
  } else {
    unsigned long long q = pt_ldg_u64((const unsigned long long *)((const unsigned char *)a->a + row * K + k));
#pragma unroll
    for (int i = 0; i < 8; i++)
      h[i] = pt_f32_bits(pt_fp8_f32((unsigned)(q >> (8 * i)) & 0xffu) * s) >> 16;
  }
  r.x = h[0] | h[1] << 16;
  r.y = h[2] | h[3] << 16;
  r.z = h[4] | h[5] << 16;
  r.w = h[6] | h[7] << 16;
  return r;
}

#endif
