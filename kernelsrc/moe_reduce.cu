/* Reduce epilog of gemm2: out[t, n] = sum over the topk slots of
 * ybuf[t, slot, n] (bf16), summed in f32 in slot order, rounded once. One
 * thread per 8 columns of a token. */
#include "pt_common.cuh"

#define PT_REDUCE_THREADS 256

extern "C" __global__ void __launch_bounds__(PT_REDUCE_THREADS)
pt_moe_reduce(pt_kargs_t a)
{
  int per_tok = a.H / 8;
  long long idx = (long long)blockIdx.x * PT_REDUCE_THREADS + threadIdx.x;
  if (idx >= (long long)a.M * per_tok)
    return;
  unsigned long long t = (unsigned long long)(idx / per_tok);
  int n = (int)(idx % per_tok) * 8;
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const unsigned char *y = (const unsigned char *)a.ybuf;
  for (int k = 0; k < a.topk; k++) {
    pt_u4 v = pt_ldg16(y + ((t * a.topk + k) * a.H + n) * 2);
#pragma unroll
    for (int i = 0; i < 4; i++) {
      unsigned wd = pt_u4_word(v, i);
      s[2 * i] += pt_bf16_f32(wd & 0xffffu);
      s[2 * i + 1] += pt_bf16_f32(wd >> 16);
    }
  }
  pt_u4 o;
  o.x = pt_bf16_rne(s[0]) | pt_bf16_rne(s[1]) << 16;
  o.y = pt_bf16_rne(s[2]) | pt_bf16_rne(s[3]) << 16;
  o.z = pt_bf16_rne(s[4]) | pt_bf16_rne(s[5]) << 16;
  o.w = pt_bf16_rne(s[6]) | pt_bf16_rne(s[7]) << 16;
  *(pt_u4 *)((unsigned char *)a.out + (t * a.H + n) * 2) = o;
}
