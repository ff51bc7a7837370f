/* Hopper atoms of the wgmma generation (sm_90a, PT_MMA == 1): mbarriers,
 * bulk copies that complete on them, the proxy fence, and warpgroup MMAs
 * with the A operand in registers and B in shared memory. Included only by
 * that generation's mainloop (pt_wgmma.cuh); the portable atoms stay in
 * pt_arch_nv.cuh. */
#ifndef PT_ARCH_SM90_CUH
#define PT_ARCH_SM90_CUH

PT_DEV unsigned pt_smem_addr(const void *p)
{
  return (unsigned)__cvta_generic_to_shared(p);
}

PT_DEV void pt_mbar_init(unsigned long long *bar, unsigned count)
{
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n"
               :: "r"(pt_smem_addr(bar)), "r"(count));
}

/* Makes the initialised barriers visible before the block barrier that
 * follows. */
PT_DEV void pt_mbar_init_fence(void)
{
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

PT_DEV void pt_mbar_arrive(unsigned long long *bar)
{
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n"
               :: "r"(pt_smem_addr(bar)) : "memory");
}

/* Arrives and announces tx bytes that bulk copies will complete. */
PT_DEV void pt_mbar_arrive_tx(unsigned long long *bar, unsigned tx)
{
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n"
               :: "r"(pt_smem_addr(bar)), "r"(tx) : "memory");
}

/* Arrives once this thread's earlier cp.async copies have landed (counted
 * in the barrier's initial count). */
PT_DEV void pt_mbar_arrive_cp(unsigned long long *bar)
{
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n"
               :: "r"(pt_smem_addr(bar)) : "memory");
}

/* Waits until the barrier's phase of the given parity has completed. */
PT_DEV void pt_mbar_wait(unsigned long long *bar, unsigned parity)
{
  unsigned a = pt_smem_addr(bar), done;
  do {
    asm volatile("{.reg .pred p;\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                 "selp.u32 %0, 1, 0, p;}\n"
                 : "=r"(done) : "r"(a), "r"(parity) : "memory");
  } while (!done);
}

/* Bulk global -> shared copy of n bytes (16-byte multiples, aligned) that
 * completes tx bytes on bar; NT marks the weights evict-first in L2, since
 * each byte is read once per tile. */
PT_DEV void pt_bulk_copy(void *smem, const void *g, unsigned n,
                         unsigned long long *bar)
{
#if PT_NT
  unsigned long long pol;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n"
               : "=l"(pol));
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes"
               ".L2::cache_hint [%0], [%1], %2, [%3], %4;\n"
               :: "r"(pt_smem_addr(smem)), "l"(g), "r"(n),
                  "r"(pt_smem_addr(bar)), "l"(pol) : "memory");
#else
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes"
               " [%0], [%1], %2, [%3];\n"
               :: "r"(pt_smem_addr(smem)), "l"(g), "r"(n),
                  "r"(pt_smem_addr(bar)) : "memory");
#endif
}

/* Orders this thread's generic-proxy shared-memory accesses with the async
 * proxy (wgmma operand reads, bulk copies). */
PT_DEV void pt_fence_proxy_async(void)
{
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

PT_DEV void pt_wgmma_fence(void)
{
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
PT_DEV void pt_wgmma_commit(void)
{
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
/* Waits until at most n (a constant) wgmma groups are pending. */
#define pt_wgmma_wait(n) \
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(n) : "memory")

/* Shared-memory matrix descriptor, no swizzle: 8-row x 16-byte core
 * matrices, lbo bytes apart along k, sbo bytes apart along n. */
PT_DEV unsigned long long pt_wgmma_desc(unsigned addr, unsigned lbo,
                                        unsigned sbo)
{
  return (unsigned long long)((addr & 0x3ffffu) >> 4) |
         (unsigned long long)(lbo >> 4) << 16 |
         (unsigned long long)(sbo >> 4) << 32;
}

/* d (64 weight rows x PT_BM tokens, f32, the m64nNk16 accumulator layout)
 * += A (64 x 16 bf16 in registers: a[0..3] as in mma.m16n8k16, warp w of
 * the warpgroup holding rows 16w..16w+15) x B (16 x PT_BM, K-major in shared
 * memory, desc). One instruction per BM: the accumulator list is written
 * out for each. */
#if PT_BM == 16
PT_DEV void pt_wgmma(float *d, const unsigned a[4], unsigned long long desc)
{
  asm volatile(
      "{.reg .pred p;\n"
      "setp.ne.b32 p, %13, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7}, "
      "{%8,%9,%10,%11}, %12, p, 1, 1, 0;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(1));
}
#endif
#if PT_BM == 32
PT_DEV void pt_wgmma(float *d, const unsigned a[4], unsigned long long desc)
{
  asm volatile(
      "{.reg .pred p;\n"
      "setp.ne.b32 p, %21, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, "
      "{%16,%17,%18,%19}, %20, p, 1, 1, 0;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(1));
}
#endif
#if PT_BM == 64
PT_DEV void pt_wgmma(float *d, const unsigned a[4], unsigned long long desc)
{
  asm volatile(
      "{.reg .pred p;\n"
      "setp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, "
      "{%32,%33,%34,%35}, %36, p, 1, 1, 0;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(1));
}
#endif
#if PT_BM == 128
PT_DEV void pt_wgmma(float *d, const unsigned a[4], unsigned long long desc)
{
  asm volatile(
      "{.reg .pred p;\n"
      "setp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, "
      "{%64,%65,%66,%67}, %68, p, 1, 1, 0;}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(1));
}
#endif

#endif
