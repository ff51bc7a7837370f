/* NVIDIA arch atoms (sm_80+): warp geometry, the bf16 MMA (mma.sync
 * m16n8k16), weight loads with or without streaming hints, cp.async, packed
 * bf16 math and bf16 pair atomics. Everything arch-specific of the kernels
 * lives here or in pt_arch_amd.cuh; the rest is written against these names.
 *
 * MMA geometry seen by the mainloop: one "mma16" computes a 16 x PT_MMA_N
 * block of C (16 weight rows x PT_MMA_N tokens) over 16 k. Lane roles:
 * pt_lane_t() picks which 32-element k chunk of a 128-k slice the lane owns
 * (its 16-byte weight load), pt_lane_row(i) the weight rows it holds,
 * pt_lane_col() the token column whose activations it feeds. */
#ifndef PT_ARCH_NV_CUH
#define PT_ARCH_NV_CUH

#define PT_DEV __device__ __forceinline__
#define PT_WARP 32
#define PT_MMA_N 8   /* tokens per MMA */
#define PT_LROWS 2   /* weight rows per lane per 16-row block: g and g+8 */

/* Dynamic shared memory of the launch. */
PT_DEV unsigned char *pt_smem_base(void)
{
  extern __shared__ __align__(16) unsigned char pt_smem[];
  return pt_smem;
}

typedef struct __align__(16) { unsigned x, y, z, w; } pt_u4;

PT_DEV int pt_lane(void) { return (int)(threadIdx.x & 31); }
PT_DEV int pt_lane_t(int lane) { return lane & 3; }
PT_DEV int pt_lane_row(int lane, int i) { return (lane >> 2) + 8 * i; }
PT_DEV int pt_lane_col(int lane) { return lane >> 2; }

/* Position in the 16 x 8 C block of accumulator element i (0..3). */
PT_DEV void pt_acc_pos(int lane, int i, int *row, int *col)
{
  *row = (lane >> 2) + 8 * (i >> 1);
  *col = 2 * (lane & 3) + (i & 1);
}

/* acc += W (16 x 16, w[r][0] = k pair 0-1, w[r][1] = k pair 2-3 of the
 * lane's row r) x B (16 x 8, b[0], b[1] = the lane's four k of its column).
 * The k order inside a step is a fixed permutation shared by both operands,
 * which leaves the dot products unchanged. */
PT_DEV void pt_mma16(float acc[4], const unsigned w[PT_LROWS][2],
                     const unsigned b[2])
{
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(w[0][0]), "r"(w[1][0]), "r"(w[0][1]), "r"(w[1][1]),
        "r"(b[0]), "r"(b[1]));
}

PT_DEV unsigned char pt_ldg_u8(const unsigned char *p) { return __ldg(p); }
PT_DEV unsigned pt_ldg_u32(const unsigned *p) { return __ldg(p); }
PT_DEV unsigned long long pt_ldg_u64(const unsigned long long *p)
{
  return __ldg(p);
}
PT_DEV pt_u4 pt_ldg16(const void *p)
{
  pt_u4 v;
  asm volatile("ld.global.nc.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

/* Asynchronous 16-byte global-to-shared copy; zero-fills when !valid. */
PT_DEV void pt_cp16(void *smem, const void *g, int valid)
{
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
               :: "r"(s), "l"(g), "r"(n));
}

/* The same for weights: NT streams them past L1 (.cg, no allocation),
 * since each weight byte is read once per tile; without it they are cached
 * in L1 on the way (.ca). */
PT_DEV void pt_cp16_w(void *smem, const void *g, int valid)
{
#if PT_NT
  pt_cp16(smem, g, valid);
#else
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  int n = valid ? 16 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n"
               :: "r"(s), "l"(g), "r"(n));
#endif
}

/* Asynchronous copy of the first n (0..4) bytes of a 4-aligned word, the
 * rest of the 4 zero-filled. */
PT_DEV void pt_cp4(void *smem, const void *g, int n)
{
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n"
               :: "r"(s), "l"(g), "r"(n));
}
PT_DEV void pt_cp_commit(void) { asm volatile("cp.async.commit_group;\n"); }
/* Waits until at most n (a constant) copy groups are pending. */
#define pt_cp_wait(n) asm volatile("cp.async.wait_group %0;\n" :: "n"(n))

PT_DEV pt_u4 pt_lds16(const void *smem) { return *(const pt_u4 *)smem; }
PT_DEV void pt_sts16(void *smem, pt_u4 v) { *(pt_u4 *)smem = v; }

/* Packed bf16 product, exact when the product is representable. */
PT_DEV unsigned pt_bf2_mul(unsigned a, unsigned b)
{
  unsigned d;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;\n"
      : "=r"(d) : "r"(a), "r"(b), "r"(0x80008000u));
  return d;
}

/* out[0..1] += v (two bf16), one hardware reduction. */
PT_DEV void pt_atomic_add_bf2(void *addr, unsigned v)
{
  asm volatile("red.global.add.noftz.bf16x2 [%0], %1;\n"
               :: "l"(addr), "r"(v) : "memory");
}

PT_DEV float pt_shfl_xor(float v, int m)
{
  return __shfl_xor_sync(0xffffffffu, v, m);
}

PT_DEV float pt_bits_f32(unsigned u) { return __uint_as_float(u); }
PT_DEV unsigned pt_f32_bits(float f) { return __float_as_uint(f); }
PT_DEV float pt_exp(float x) { return expf(x); }

#endif
