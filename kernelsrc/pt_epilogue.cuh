/* Epilogue plans. Every plan starts from the C tile in shared memory
 * (BM tokens x BN weight rows, f32), where the mainloop of either
 * generation summed its k-wave partials.
 *   gemm1: activation (silu / swiglu_oai) + requantize in 32-column groups
 *          (e8m0 scales, DESIGN §3) + store per sorted row.
 *   gemm2: out[t] += w * y with bf16 pair atomics (PT_EPILOG 0), or
 *          ybuf[t, slot] = w * y for the reduce kernel (PT_EPILOG 1).
 * Work is dealt to groups of 32 lanes (a warp, or half an AMD wave). */
#ifndef PT_EPILOGUE_CUH
#define PT_EPILOGUE_CUH

#include "pt_route.cuh"

PT_DEV float pt_act(float g, float u)
{
#if PT_ACT == 0
  return g / (1.0f + pt_exp(-g)) * u;
#else
  float gate = g < 7.0f ? g : 7.0f;
  float up = u < -7.0f ? -7.0f : u > 7.0f ? 7.0f : u;
  return gate / (1.0f + pt_exp(-1.702f * gate)) * (up + 1.0f);
#endif
}

PT_DEV float pt_max32(float v)
{
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) {
    float o = pt_shfl_xor(v, m);
    v = v > o ? v : o;
  }
  return v;
}

/* gemm1: one group of 32 lanes per (row, 32-column group). */
PT_DEV void pt_epi_gemm1(const pt_kargs_t *a, const pt_work_t *w,
                         pt_rows_t rows, const float *C)
{
  const int grps = PT_BN / 64;
  int l = threadIdx.x & 31, worker = threadIdx.x >> 5;
  for (int item = worker; item < PT_BM * grps; item += PT_THREADS / 32) {
    int r = item / grps, grp = item % grps;
    int j0 = w->n_block * (PT_BN / 2) + grp * 32;
    if (rows.arow[r] < 0 || j0 >= a->I)
      continue;
    unsigned long long prow = (unsigned long long)(w->m_block * PT_BM + r);
    int j = j0 + l;
    float h = pt_act(C[r * PT_CLD + grp * 32 + l],
                     C[r * PT_CLD + PT_BN / 2 + grp * 32 + l]);
    unsigned char *out = (unsigned char *)a->out;
#if PT_DTYPE == 2
    ((unsigned short *)out)[prow * a->I + j] = (unsigned short)pt_bf16_rne(h);
#else
    float amax = pt_max32(h < 0.0f ? -h : h);
    int e = pt_mx_exponent(amax, PT_DTYPE == 0 ? 2 : 8);
    float q = h * pt_pow2_neg(e);
    if (l == 0)
      ((unsigned char *)a->outs)[prow * (a->I / 32) + j / 32] = (unsigned char)(e + 127);
#if PT_DTYPE == 0
    unsigned c = pt_fp4_code(q);
    unsigned o = pt_f32_bits(pt_shfl_xor(pt_bits_f32(c), 1));
    if ((l & 1) == 0)
      out[prow * (a->I / 2) + j / 2] = (unsigned char)(c | o << 4);
#else
    out[prow * a->I + j] = (unsigned char)pt_fp8_code(q);
#endif
#endif
  }
}

/* gemm2: one group of 32 lanes per (row, 64 columns); each lane a bf16 pair. */
PT_DEV void pt_epi_gemm2(const pt_kargs_t *a, const pt_work_t *w,
                         pt_rows_t rows, const float *C)
{
  const int chunks = PT_BN / 64;
  int l = threadIdx.x & 31, worker = threadIdx.x >> 5;
  for (int item = worker; item < PT_BM * chunks; item += PT_THREADS / 32) {
    int r = item / chunks, c = item % chunks;
    int n = w->n_block * PT_BN + c * 64 + 2 * l;
    if (rows.arow[r] < 0 || n >= a->H)
      continue;
    float rw = rows.rw[r];
    const float *cr = C + r * PT_CLD + c * 64 + 2 * l;
    unsigned v = pt_bf16_rne(cr[0] * rw) | pt_bf16_rne(cr[1] * rw) << 16;
    unsigned long long tok = (unsigned long long)(rows.entry[r] & 0xffffff);
#if PT_EPILOG == 0
    pt_atomic_add_bf2((unsigned char *)a->out + (tok * a->H + n) * 2, v);
#else
    unsigned long long slot = (unsigned long long)((unsigned)rows.entry[r] >> 24);
    *(unsigned *)((unsigned char *)a->ybuf + ((tok * a->topk + slot) * a->H + n) * 2) = v;
#endif
  }
}

#endif
