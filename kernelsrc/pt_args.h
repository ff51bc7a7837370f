/* Kernel arguments shared by the host (pipeline.c) and the device sources:
 * one struct passed by value to every stage kernel, so host and device agree
 * on one layout. Plain C with no headers: NVRTC and hiprtc see it unchanged. */
#ifndef PT_ARGS_H
#define PT_ARGS_H

typedef struct pt_kargs_s {
  /* device addresses (0 where a stage does not use one) */
  unsigned long long a;             /* gemm1: x; gemm2: intermediate hq */
  unsigned long long as;            /* scales of a (e8m0), 0 for bf16 */
  unsigned long long w;             /* w1 or w2, MXFP4 bytes */
  unsigned long long ws;            /* their e8m0 scales */
  unsigned long long sorted_ids;    /* int32 [P] */
  unsigned long long sorted_w;      /* f32 [P] */
  unsigned long long block_expert;  /* int32 [P / sbm] */
  unsigned long long out;           /* gemm1: hq; gemm2: out bf16 [M, H] */
  unsigned long long outs;          /* gemm1: hs (e8m0); unused otherwise */
  unsigned long long ybuf;          /* gemm2 reduce epilog: bf16 [M, topk, H] */
  unsigned long long part;          /* gemm1 split-K: f32 partial C tiles
                                       [tiles][splitk][BM * BN] */
  unsigned long long cnt;           /* gemm1 split-K: int per tile, zero
                                       between launches (the last split
                                       resets it) */
  int M;       /* tokens */
  int P;       /* padded sorted rows */
  int H;       /* model_dim */
  int I;       /* inter_dim */
  int topk;
  int sbm;     /* sort block */
  int ntiles;  /* work items of this launch (m-blocks x n-blocks x splitk) */
  int nblk_n;  /* n-blocks */
} pt_kargs_t;

#endif
