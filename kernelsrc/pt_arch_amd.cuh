/* AMD arch atoms (gfx90a, gfx942): wave64 geometry, the bf16 MFMA
 * (v_mfma_f32_16x16x16bf16_1k), non-temporal weight loads, packed bf16 math
 * in f32 and bf16 pair atomics by compare-and-swap. Same names and contracts
 * as pt_arch_nv.cuh; room for gfx950's scaled MFMA as another header. */
#ifndef PT_ARCH_AMD_CUH
#define PT_ARCH_AMD_CUH

#define PT_DEV __device__ __forceinline__
#define PT_WARP 64
#define PT_MMA_N 16  /* tokens per MFMA */
#define PT_LROWS 1   /* weight rows per lane per 16-row block */

/* Dynamic shared memory of the launch. */
PT_DEV unsigned char *pt_smem_base(void)
{
  extern __shared__ __attribute__((aligned(16))) unsigned char pt_smem[];
  return pt_smem;
}

typedef struct __attribute__((aligned(16))) { unsigned x, y, z, w; } pt_u4;
typedef short pt_v4s __attribute__((ext_vector_type(4)));
typedef float pt_v4f __attribute__((ext_vector_type(4)));
typedef unsigned pt_v4u __attribute__((ext_vector_type(4)));

PT_DEV int pt_lane(void) { return (int)(threadIdx.x & 63); }
PT_DEV int pt_lane_t(int lane) { return lane >> 4; }
PT_DEV int pt_lane_row(int lane, int i) { return lane & 15; }
PT_DEV int pt_lane_col(int lane) { return lane & 15; }

/* C[row = 4 * (lane / 16) + i][col = lane % 16] for the 16x16 MFMA. */
PT_DEV void pt_acc_pos(int lane, int i, int *row, int *col)
{
  *row = 4 * (lane >> 4) + i;
  *col = lane & 15;
}

PT_DEV void pt_mma16(float acc[4], const unsigned w[PT_LROWS][2],
                     const unsigned b[2])
{
  pt_v4s a, bb;
  pt_v4f c = {acc[0], acc[1], acc[2], acc[3]};
  a[0] = (short)(w[0][0] & 0xffff); a[1] = (short)(w[0][0] >> 16);
  a[2] = (short)(w[0][1] & 0xffff); a[3] = (short)(w[0][1] >> 16);
  bb[0] = (short)(b[0] & 0xffff); bb[1] = (short)(b[0] >> 16);
  bb[2] = (short)(b[1] & 0xffff); bb[3] = (short)(b[1] >> 16);
  c = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a, bb, c, 0, 0, 0);
  acc[0] = c[0]; acc[1] = c[1]; acc[2] = c[2]; acc[3] = c[3];
}

PT_DEV unsigned char pt_ldg_u8(const unsigned char *p) { return *p; }
PT_DEV unsigned pt_ldg_u32(const unsigned *p) { return *p; }
PT_DEV unsigned long long pt_ldg_u64(const unsigned long long *p) { return *p; }
PT_DEV pt_u4 pt_ldg16(const void *p) { return *(const pt_u4 *)p; }

/* No asynchronous copy engine used on AMD: plain copies, zero when !valid;
 * NT weight copies are non-temporal loads. */
PT_DEV void pt_cp16(void *smem, const void *g, int valid)
{
  pt_u4 z = {0, 0, 0, 0};
  *(pt_u4 *)smem = valid ? *(const pt_u4 *)g : z;
}
PT_DEV void pt_cp16_w(void *smem, const void *g, int valid)
{
#if PT_NT
  pt_v4u z = {0, 0, 0, 0};
  *(pt_v4u *)smem = valid ? __builtin_nontemporal_load((const pt_v4u *)g) : z;
#else
  pt_cp16(smem, g, valid);
#endif
}
PT_DEV void pt_cp4(void *smem, const void *g, int n)
{
  for (int i = 0; i < 4; i++)
    ((unsigned char *)smem)[i] = i < n ? ((const unsigned char *)g)[i] : 0;
}
PT_DEV void pt_cp_commit(void) {}
#define pt_cp_wait(n) ((void)0)

PT_DEV pt_u4 pt_lds16(const void *smem) { return *(const pt_u4 *)smem; }
PT_DEV void pt_sts16(void *smem, pt_u4 v) { *(pt_u4 *)smem = v; }

PT_DEV float pt_bits_f32(unsigned u) { return __uint_as_float(u); }
PT_DEV unsigned pt_f32_bits(float f) { return __float_as_uint(f); }

/* gfx90a has no packed bf16 multiply: products of the exact dequant are
 * representable, so f32 math and truncation give the same bits. */
PT_DEV unsigned pt_bf2_mul(unsigned a, unsigned b)
{
  float lo = pt_bits_f32(a << 16) * pt_bits_f32(b << 16);
  float hi = pt_bits_f32(a & 0xffff0000u) * pt_bits_f32(b & 0xffff0000u);
  return (pt_f32_bits(lo) >> 16) | (pt_f32_bits(hi) & 0xffff0000u);
}

PT_DEV unsigned pt__bf16_rne(float f)
{
  unsigned u = pt_f32_bits(f);
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

PT_DEV void pt_atomic_add_bf2(void *addr, unsigned v)
{
  unsigned *p = (unsigned *)addr;
  unsigned old = *p, assumed;
  do {
    assumed = old;
    float lo = pt_bits_f32(assumed << 16) + pt_bits_f32(v << 16);
    float hi = pt_bits_f32(assumed & 0xffff0000u) + pt_bits_f32(v & 0xffff0000u);
    unsigned nv = pt__bf16_rne(lo) | (pt__bf16_rne(hi) << 16);
    old = atomicCAS(p, assumed, nv);
  } while (old != assumed);
}

PT_DEV float pt_shfl_xor(float v, int m) { return __shfl_xor(v, m, 64); }
PT_DEV float pt_exp(float x) { return expf(x); }

#endif
