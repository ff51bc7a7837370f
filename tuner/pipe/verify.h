/* The library part of `pipetune verify` (DESIGN §8): the pipeline config
 * spec, one configuration run stage by stage on a GPU and compared with the
 * oracle, each step re-seeded from the GPU's own inputs so errors do not
 * accumulate, and the buffer dump with its JSON manifest.
 *
 * Steps: sort (host-only in pipetune: the buffers read back from the device
 * against a fresh pt_sort_run), gemm1 (against the oracle's gemm1, the
 * tuner's own check), gemm2 (the oracle's gemm2 on the GPU's own gemm1
 * output), reduce (epilog=reduce: the oracle's reduce on the GPU's own
 * ybuf). Rows checked are the pipeline's: all when M*K <= 1024, else its
 * deterministic sample (pipeline.h).
 */
#ifndef PT_VERIFY_H
#define PT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gpu.h"
#include "knobs.h"
#include "moe.h"
#include "oracle.h"

/* ---- config spec ---- */

typedef struct pt_verify_config_s {
  pt_variant_t g1, g2;
} pt_verify_config_t;

/* Parses "g1:KNOBS;g2:KNOBS" (either part may be left out and takes the
 * stage's defaults; "gemm1:"/"gemm2:" are accepted too; the empty string is
 * both defaults). KNOBS is a knobs.h spec. PT_EINVAL naming the part. */
int pt_verify_parse_config(const char *spec, pt_verify_config_t *out,
                           pt_err_t *err);
/* The sort block of a config: the larger BM (both are powers of two). */
int pt_verify_sbm(const pt_verify_config_t *c);

/* ---- stage-by-stage run ---- */

typedef enum {
  PT_VERIFY_SORT = 0,
  PT_VERIFY_GEMM1,
  PT_VERIFY_GEMM2,
  PT_VERIFY_REDUCE,
  PT_VERIFY_NSTEPS
} pt_verify_step_id_t;

typedef struct pt_verify_step_s {
  const char *name;       /* "sort", "gemm1", "gemm2", "reduce" */
  const char *reference;  /* what the step is compared with, in words */
  int ran;                /* reduce runs with epilog=reduce only */
  double max_abs, mean_abs, rel_l2;
  double match;           /* sort: identical entries; gemm1: identical
                             codes; -1 where it does not apply */
  size_t count;           /* elements compared */
  size_t nonfinite;
  int untouched;          /* padding rows / out's guard row kept the poison */
  int pass;
} pt_verify_step_t;

typedef struct pt_verify_s {
  pt_gpu_t *gpu;
  const pt_moe_problem_t *p;
  struct pt_pipe_s *pp;              /* the pipeline: sort, sample, refs */
  pt_verify_step_t steps[PT_VERIFY_NSTEPS];
  pt_moe_sorted_t dev_sorted;        /* routing read back from the device */
  pt_moe_sorted_t host_sorted;       /* a fresh pt_sort_run */
  pt_oracle_inter_t h;               /* the GPU's gemm1 output, as gemm2 read it */
  uint16_t *ybuf;                    /* GPU [M, K, H] bf16 (epilog reduce) */
  float *ref_ybuf;                   /* oracle [M, K, H] on h; NaN unchecked */
  uint16_t *out;                     /* GPU [M + 1, H] bf16, last row guard */
  float *ref_out;                    /* oracle [M, H]; NaN unchecked tokens */
} pt_verify_t;

/* Loads both stages of cfg on gpu, uploads p (which must outlive out) and
 * runs the four steps into out->steps. A failed comparison is not an error.
 * threads: host threads for the oracle; seed: the row sample's. The caller
 * frees out with pt_verify_free() in every case (gpu still open). */
int pt_verify_run(pt_gpu_t *gpu, const pt_moe_problem_t *p,
                  const pt_verify_config_t *cfg, int threads,
                  unsigned long long seed, pt_verify_t *out, pt_err_t *err);
void pt_verify_free(pt_verify_t *v);
/* 1 when every step that ran passed. */
int pt_verify_passed(const pt_verify_t *v);

/* ---- dump ---- */

typedef enum {
  PT_VERIFY_E2M1X2 = 0,  /* two e2m1 per byte, low nibble the even element */
  PT_VERIFY_E4M3,
  PT_VERIFY_E8M0,
  PT_VERIFY_BF16,
  PT_VERIFY_F32,
  PT_VERIFY_I32,
} pt_verify_dtype_t;

const char *pt_verify_dtype_name(pt_verify_dtype_t d);  /* "e2m1x2", ... */

#define PT_VERIFY_NDIM_MAX 4
#define PT_VERIFY_BUFS_MAX 32

/* One host buffer to dump: shape in elements of dtype (e2m1x2: bytes, so
 * the last dimension is half the logical one); bytes must equal their
 * product times the element size. */
typedef struct pt_verify_buf_s {
  const char *name;       /* [a-z0-9_]+: key and file stem */
  pt_verify_dtype_t dtype;
  int ndim;
  long long shape[PT_VERIFY_NDIM_MAX];
  const char *layout;     /* notes for a loader */
  const void *data;
  size_t bytes;
} pt_verify_buf_t;

/* What the manifest says about the run. */
typedef struct pt_verify_meta_s {
  const char *family;
  pt_moe_shape_t shape;
  int tokens;
  const char *routing;        /* "uniform", "zipf:1.2" */
  unsigned long long seed;
  int sbm, padded;
  const char *gemm1, *gemm2;  /* canonical knob specs */
  const char *device;         /* NULL: not recorded */
} pt_verify_meta_t;

/* The problem's input buffers (x, xs unless a16w4, w1, w1s, w2, w2s,
 * topk_ids, topk_w) into out[0..n), pointing into p; returns n. */
int pt_verify_problem_bufs(const pt_moe_problem_t *p, pt_verify_buf_t *out);
/* Every buffer of a run: the problem's, the device's sorted routing, the
 * GPU's and the oracle's h/hs, ybuf (epilog reduce) and out, and the rows
 * and tokens checked. Returns n (<= PT_VERIFY_BUFS_MAX). */
int pt_verify_run_bufs(const pt_verify_t *v, pt_verify_buf_t *out);

/* Writes each buffer raw (little-endian) to dir/<name>.bin and then
 * dir/manifest.json describing meta, steps (may be NULL) and every buffer
 * (file, dtype, shape, layout, bytes). Creates dir if needed. PT_EINVAL for
 * a bad name, a repeated name or bytes that disagree with the shape; PT_EIO
 * naming the file when writing fails. */
int pt_verify_dump(const char *dir, const pt_verify_meta_t *meta,
                   const pt_verify_step_t *steps, int nsteps,
                   const pt_verify_buf_t *bufs, int nbufs, pt_err_t *err);

#endif
