/* The device kernels as the host sees them: the sources embedded in the
 * binary at build time (build-aux/embed.sh), the compile request of one
 * stage variant (knob, dtype and activation defines for NVRTC or hiprtc),
 * the entry points, and the launch geometry each variant needs. The
 * geometry functions mirror pt_tile.cuh; space/constraints uses them. */
#ifndef PT_KERNELS_H
#define PT_KERNELS_H

#include <stddef.h>

#include "error.h"
#include "gpu.h"
#include "knobs.h"
#include "moe.h"

/* Embedded sources: count, base name and text of each ("moe_gemm1.cu"). */
int pt_kernels_count(void);
const char *pt_kernels_name(int i);
const char *pt_kernels_text(int i);
/* Text of an embedded source by name, NULL if there is none. */
const char *pt_kernels_find(const char *name);

/* Entry points. */
const char *pt_kernels_entry(pt_stage_t stage);  /* "pt_moe_gemm1", ... */
#define PT_KERNELS_REDUCE_ENTRY "pt_moe_reduce"
#define PT_KERNELS_REDUCE_THREADS 256

#define PT_KERNELS_DEFINES_MAX 16
#define PT_KERNELS_HEADERS_MAX 32

/* A ready compile request and the storage it points into. */
typedef struct pt_kernels_job_s {
  pt_gpu_compile_req_t req;
  int ndefines;
  char text[PT_KERNELS_DEFINES_MAX][40];
  const char *defines[PT_KERNELS_DEFINES_MAX];
  const char *header_names[PT_KERNELS_HEADERS_MAX];
  const char *header_texts[PT_KERNELS_HEADERS_MAX];
} pt_kernels_job_t;

/* Fills job with the compile request of variant v of its stage for dtype,
 * act and arch ("sm_90", "gfx90a"): every knob define (PT_BM, ...,
 * PT_PERSIST), PT_DTYPE, PT_ACT, and the fixed knobs of the stage (gemm1
 * always prefetches weights two steps deep; gemm2 has one k wave). PT_EINVAL
 * for an invalid variant or an arch that no backend compiles. */
int pt_kernels_job_init(pt_kernels_job_t *job, const pt_variant_t *v,
                        pt_dtype_t dtype, pt_act_t act, const char *arch,
                        pt_err_t *err);
/* The reduce kernel of gemm2's reduce epilog (no knobs). */
int pt_kernels_job_reduce(pt_kernels_job_t *job, const char *arch,
                          pt_err_t *err);

/* Launch geometry of a variant (warp_size 32 on NVIDIA, 64 on AMD). */
int pt_kernels_threads(const pt_variant_t *v, int warp_size);
size_t pt_kernels_smem(const pt_variant_t *v, int warp_size);
/* Accumulator registers per thread (f32): the part of the register budget
 * that grows with the tile. */
int pt_kernels_acc_regs(const pt_variant_t *v, int warp_size);
/* Registers per thread before compiling: accumulators, weight stages and
 * a fixed working set (measured: 135 for gemm1 bm=32,bn=128 on sm_90). */
int pt_kernels_regs_estimate(const pt_variant_t *v, int warp_size);

#endif
