/* The stage kernel assembled from its parts: tile scheduler (one tile per
 * block, or a persistent loop over tiles), operand routing, the mainloop of
 * the generation (PT_MMA) and the stage's epilogue plan. Entry points:
 * pt_moe_gemm1, pt_moe_gemm2. */
#ifndef PT_KERNEL_CUH
#define PT_KERNEL_CUH

#include "pt_epilogue.cuh"
#if PT_MMA == 1
#include "pt_wgmma.cuh"
#else
#include "pt_mainloop.cuh"
#endif

#if PT_STAGE == 1
#define PT_ENTRY pt_moe_gemm1
#define PT_EPI pt_epi_gemm1
#else
#define PT_ENTRY pt_moe_gemm2
#define PT_EPI pt_epi_gemm2
#endif

#if PT_MMA == 0
PT_DEV void pt_tile_run(const pt_kargs_t *a, int b, pt_rows_t rows, int wn,
                        int kw, int lane)
{
  pt_work_t w = pt_work_of(a, b);
  if (!w.valid)
    return;  /* uniform over the block */
  __syncthreads();  /* the previous tile's epilogue is done with smem */
  pt_rows_fill(a, &w, rows);
  __syncthreads();
  pt_wsrc_t src;
  pt_wsrc_init(&src, a, &w, wn, lane);
  pt_acc_t acc;
  pt_mainloop(&acc, a, &src, rows, pt_smem_base(), wn, kw, lane);
  float *C = (float *)pt_smem_base();
  pt_acc_to_ctile(&acc, C, wn, kw, lane);
  PT_EPI(a, &w, rows, C);
}

extern "C" __global__ void __launch_bounds__(PT_THREADS) PT_ENTRY(pt_kargs_t a)
{
  int warp = (int)threadIdx.x / PT_WARP, lane = pt_lane();
  int kw = warp / PT_WN, wn = warp % PT_WN;
  pt_rows_t rows = pt_rows_at(pt_smem_base());
#if PT_PERSIST
  for (int b = (int)blockIdx.x; b < a.ntiles; b += (int)gridDim.x)
    pt_tile_run(&a, b, rows, wn, kw, lane);
#else
  if ((int)blockIdx.x < a.ntiles)
    pt_tile_run(&a, (int)blockIdx.x, rows, wn, kw, lane);
#endif
}

#else
/* wgmma generation: warpgroup 0 produces, 1..KWAVE consume; the block
 * meets at barriers only between tiles and in the epilogue. */
PT_DEV void pt_tile_run(const pt_kargs_t *a, int b, pt_rows_t rows,
                        unsigned long long *bars, int *it)
{
  pt_work_t w = pt_work_of(a, b);
  if (!w.valid)
    return;  /* uniform over the block */
  unsigned char *smem = pt_smem_base();
  int wg = (int)threadIdx.x >> 7, wtid = (int)threadIdx.x & 127;
  int nks = (pt_wg_chunks(a) + PT_KWAVE - 1) / PT_KWAVE;
  __syncthreads();  /* the previous tile's epilogue is done with smem */
  pt_rows_fill(a, &w, rows);
  __syncthreads();
  pt_acc_t acc;
  if (wg == 0)
    pt_wg_produce(a, &w, rows, smem, bars, *it, nks, wtid);
  else
    pt_wg_consume(&acc, a, smem, bars, *it, nks, wg - 1, wtid);
  *it += nks;
  float *C = (float *)(smem + PT_NS * PT_SLOT_BYTES);
  pt_wg_acc_to_ctile(&acc, C, wg - 1, wtid);
  PT_EPI(a, &w, rows, C);
}

extern "C" __global__ void __launch_bounds__(PT_THREADS, 1) PT_ENTRY(pt_kargs_t a)
{
  unsigned char *smem = pt_smem_base();
  pt_rows_t rows = pt_rows_at(smem);
  unsigned long long *bars = (unsigned long long *)(smem + PT_BARS_OFF);
  if (threadIdx.x < PT_NS) {
    pt_mbar_init(&bars[threadIdx.x], 128 + 1);              /* full */
    pt_mbar_init(&bars[PT_NS + threadIdx.x], 128 * PT_KWAVE);  /* empty */
  }
  pt_mbar_init_fence();
  __syncthreads();
  int it = 0;
#if PT_PERSIST
  for (int b = (int)blockIdx.x; b < a.ntiles; b += (int)gridDim.x)
    pt_tile_run(&a, b, rows, bars, &it);
#else
  if ((int)blockIdx.x < a.ntiles)
    pt_tile_run(&a, (int)blockIdx.x, rows, bars, &it);
#endif
}
#endif

#endif
