/* The compile request of one stage variant (knob, dtype and activation
 * defines for NVRTC or hiprtc, over the embedded sources) and the kernels'
 * entry points. */
#ifndef PT_KERNEL_JOB_H
#define PT_KERNEL_JOB_H

#include <stddef.h>

#include "error.h"
#include "gpu.h"
#include "knobs.h"
#include "moe.h"

/* Entry points. */
const char *pt_kernel_job_entry(pt_stage_t stage);  /* "pt_moe_gemm1", ... */
#define PT_KERNEL_JOB_REDUCE_ENTRY "pt_moe_reduce"
#define PT_KERNEL_JOB_REDUCE_THREADS 256

#define PT_KERNEL_JOB_DEFINES_MAX (PT_KNOBS_MAX + 2) /* knobs, dtype, act */
#define PT_KERNEL_JOB_HEADERS_MAX 32

/* A ready compile request and the storage it points into. */
typedef struct pt_kernel_job_s {
  pt_gpu_compile_req_t req;
  int ndefines;
  char text[PT_KERNEL_JOB_DEFINES_MAX][40];
  const char *defines[PT_KERNEL_JOB_DEFINES_MAX];
  const char *header_names[PT_KERNEL_JOB_HEADERS_MAX];
  const char *header_texts[PT_KERNEL_JOB_HEADERS_MAX];
} pt_kernel_job_t;

/* Fills job with the compile request of variant v of its stage for dtype,
 * act and arch ("sm_90", "gfx90a"): the define of every knob of the table
 * (pt_knobs_defines: PT_BM, ..., PT_PERSIST, knobs the stage does not tune at
 * their fixed value), then PT_DTYPE and PT_ACT. PT_EINVAL for an invalid
 * variant or an arch that no backend compiles. */
int pt_kernel_job_init(pt_kernel_job_t *job, const pt_variant_t *v,
                       pt_dtype_t dtype, pt_act_t act, const char *arch,
                       pt_err_t *err);
/* The reduce kernel of gemm2's reduce epilog (no knobs). */
int pt_kernel_job_reduce(pt_kernel_job_t *job, const char *arch,
                         pt_err_t *err);

#endif
