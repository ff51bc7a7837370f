/* Host plumbing of the MoE pipeline on one GPU: uploads a problem and its
 * host-sorted routing, compiles and loads stage variants, launches gemm1,
 * gemm2 (zeroing out for the atomic epilog, running the reduce kernel for
 * the reduce epilog), verifies each stage against the host oracle
 * (DESIGN §6) and times stages and pairs with the timer (measure.h).
 *
 * Verification reference: gemm1 is compared with the oracle's requantized
 * intermediate; gemm2 runs on the oracle's intermediate (uploaded), so both
 * references are computed once per problem and sort block and shared by
 * every variant. Large problems are checked on a deterministic row sample. */
#ifndef PT_PIPELINE_H
#define PT_PIPELINE_H

#include <stddef.h>

#include "error.h"
#include "gpu.h"
#include "knobs.h"
#include "measure.h"
#include "moe.h"

typedef struct pt_pipe_s pt_pipe_t;

/* The byte outputs are filled with before a verified launch: rows a stage
 * must not write keep it. */
#define PT_PIPE_POISON 0xa5

/* A compiled and loaded stage variant. */
typedef struct pt_pipe_stage_s {
  pt_variant_t v;
  pt_dtype_t dtype;
  pt_act_t act;
  pt_gpu_module_t *mod, *rmod;     /* rmod: reduce kernel (reduce epilog) */
  pt_gpu_kernel_t *k, *rk;
  unsigned threads;
  size_t smem;
  int blocks_per_sm;
  int regs, spill_bytes;           /* as the compiler reports them */
  size_t code_bytes;
  double compile_ms;
} pt_pipe_stage_t;

/* Compiles v (or the reduce kernel) for arch: no GPU needed. PT_ECOMPILE
 * with the log in err. */
int pt_pipe_compile(const pt_variant_t *v, pt_dtype_t dtype, pt_act_t act,
                    const char *arch, pt_gpu_code_t *code, pt_err_t *err);
int pt_pipe_compile_reduce(const char *arch, pt_gpu_code_t *code, pt_err_t *err);

/* Compiles v for the device's arch and loads it (pt_pipe_compile, then
 * pt_pipe_stage_load_code). PT_ECOMPILE with the log in err,
 * PT_EINFEASIBLE when the device cannot run one block of it. */
int pt_pipe_stage_load(pt_gpu_t *gpu, const pt_variant_t *v, pt_dtype_t dtype,
                       pt_act_t act, pt_pipe_stage_t *out, pt_err_t *err);
/* The same from code compiled beforehand (pt_kernel_job_init for v, and
 * for the reduce epilog pt_kernel_job_reduce): no compile here. */
int pt_pipe_stage_load_code(pt_gpu_t *gpu, const pt_variant_t *v,
                            pt_dtype_t dtype, pt_act_t act,
                            const pt_gpu_code_t *code,
                            const pt_gpu_code_t *reduce_code,
                            pt_pipe_stage_t *out, pt_err_t *err);
void pt_pipe_stage_unload(pt_pipe_stage_t *st);

/* Uploads p (which must outlive the pipe), then pt_pipe_sort(sbm). The
 * oracle references use `threads` host threads and cover every row when
 * M*K <= 1024, else a sample of 8 sort blocks (seeded by seed). */
int pt_pipe_init(pt_gpu_t *gpu, const pt_moe_problem_t *p, int sbm,
                 int threads, unsigned long long seed, pt_pipe_t **out,
                 pt_err_t *err);
/* Makes the routing sorted with sort block sbm (a multiple of the BM of
 * every stage launched on it) the one launches, verification and
 * introspection use, with its own oracle references. The weights are
 * uploaded once per pipe; the last 4 sorts are kept, so switching between
 * the BMs of the space re-sorts nothing. */
int pt_pipe_sort(pt_pipe_t *pp, int sbm, pt_err_t *err);
void pt_pipe_free(pt_pipe_t *pp);
int pt_pipe_padded(const pt_pipe_t *pp);   /* P of the sort */
/* Milliseconds the host repack and upload of the stage's weights took for
 * the wgmma generation (kernelsrc/repack.h); 0 until a wgmma variant of the
 * stage first ran. */
double pt_pipe_repack_ms(const pt_pipe_t *pp, pt_stage_t stage);

/* Launch one stage on stream s (NULL: default). gemm1 writes the GPU's
 * intermediate; gemm2 reads the oracle's (see above) and writes out. */
int pt_pipe_gemm1(pt_pipe_t *pp, pt_pipe_stage_t *st, pt_gpu_stream_t *s,
                  pt_err_t *err);
int pt_pipe_gemm2(pt_pipe_t *pp, pt_pipe_stage_t *st, pt_gpu_stream_t *s,
                  pt_err_t *err);
/* gemm1 then gemm2 on gemm1's own output. */
int pt_pipe_run(pt_pipe_t *pp, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                pt_gpu_stream_t *s, pt_err_t *err);

/* DESIGN §6's pass criteria, defined here once: every check (this module,
 * verify.c) compares with them and every message citing them formats them. */
#define PT_PIPE_MATCH_MIN 0.99    /* gemm1: fraction of identical codes, at least */
#define PT_PIPE_REL_L2_MAX 1e-2   /* gemm2, reduce: relative L2 of the output, at most */

/* An output passes: relative L2 at most PT_PIPE_REL_L2_MAX, no non-finite
 * element where the reference has none. */
int pt_pipe_output_ok(double rel_l2, size_t nonfinite);

typedef struct pt_pipe_check_s {
  double code_match;   /* gemm1: fraction of identical codes (sampled rows) */
  double rel_l2;       /* gemm1: of the dequantized intermediate; gemm2: of out */
  size_t nonfinite;    /* elements non-finite on one side only */
  int untouched;       /* padding rows / the guard row past out kept the poison */
  int pass;            /* all of DESIGN §6's criteria */
} pt_pipe_check_t;

/* Why a check of stage failed, citing the criteria it missed, e.g.
 * "code match 0.9812 (needs >= 0.99), relative L2 0.031, wrote padding rows". */
void pt_pipe_check_why(pt_stage_t stage, const pt_pipe_check_t *c, char *buf,
                       size_t len);

/* Poisons the outputs, runs the stage, compares with the oracle. A failed
 * comparison is not an error: it is reported in out->pass. */
int pt_pipe_verify_gemm1(pt_pipe_t *pp, pt_pipe_stage_t *st,
                         pt_pipe_check_t *out, pt_err_t *err);
int pt_pipe_verify_gemm2(pt_pipe_t *pp, pt_pipe_stage_t *st,
                         pt_pipe_check_t *out, pt_err_t *err);

/* The pair as it ships: poisons the intermediate and out, runs gemm1 then
 * gemm2 on gemm1's output (pt_pipe_run) on the current sort, and checks
 * the intermediate by gemm1's criteria (inter) and out against the
 * oracle's gemm2 on the GPU's own intermediate (out). A failed comparison
 * is not an error: the pair passes when inter->pass && out->pass. */
int pt_pipe_verify_pair(pt_pipe_t *pp, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                        pt_pipe_check_t *inter, pt_pipe_check_t *out, pt_err_t *err);

/* Times gemm1 alone (g2 NULL), gemm2 alone (g1 NULL) or the pipeline,
 * gemm1 then gemm2 on gemm1's output (both), with the timer m of pp's GPU
 * per o (measure.h): the statistics of per-launch times in microseconds. */
int pt_pipe_time(pt_pipe_t *pp, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                 pt_measure_gpu_t *m, const pt_measure_opts_t *o,
                 pt_measure_stats_t *out, pt_err_t *err);

/* ---- introspection, for `pipetune verify` ---- */

typedef enum {
  PT_PIPE_BUF_X, PT_PIPE_BUF_XS, PT_PIPE_BUF_W1, PT_PIPE_BUF_W1S,
  PT_PIPE_BUF_W2, PT_PIPE_BUF_W2S,
  PT_PIPE_BUF_SORTED_IDS, PT_PIPE_BUF_SORTED_W, PT_PIPE_BUF_BLOCK_EXPERT,
  PT_PIPE_BUF_H, PT_PIPE_BUF_HS,    /* the GPU's gemm1 output */
  PT_PIPE_BUF_OUT,                  /* (M + 1) x H bf16: the last row a guard */
  PT_PIPE_BUF_YBUF,                 /* [M, K, H] bf16 (reduce epilog) */
} pt_pipe_buf_t;

/* Device address and meaningful byte size of one of pp's buffers (0 bytes
 * for xs and hs with a16w4). */
void pt_pipe_buffer(const pt_pipe_t *pp, pt_pipe_buf_t which,
                    pt_gpu_ptr_t *ptr, size_t *bytes);
/* The host sort pp uploaded, the rows its references cover and the oracle
 * intermediate on those rows; owned by pp. */
const pt_moe_sorted_t *pt_pipe_sorted(const pt_pipe_t *pp);
const struct pt_oracle_sample_s *pt_pipe_sample(const pt_pipe_t *pp);
const struct pt_oracle_inter_s *pt_pipe_ref_inter(const pt_pipe_t *pp);

#endif
