/* Feasibility rules of the variant space (see constraints.h). */
#include "constraints.h"

#include <stdio.h>
#include <string.h>

#define G1 (1u << PT_STAGE_GEMM1)
#define G2 (1u << PT_STAGE_GEMM2)
#define NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- device limits ---- */

/* NVIDIA: CUDA programming guide, "technical specifications per compute
 * capability". AMD: 64 KiB LDS (160 KiB on gfx950) and 4 SIMDs x 64 lanes x
 * 512 unified VGPRs per CU, up to 512 (VGPR + AGPR) per lane. */
static const pt_limits_t arch_limits[] = {
  {"sm_80", 166912, 65536, 255, 1024, 32},
  {"sm_86", 101376, 65536, 255, 1024, 32},
  {"sm_89", 101376, 65536, 255, 1024, 32},
  {"sm_90", 232448, 65536, 255, 1024, 32},
  {"sm_90a", 232448, 65536, 255, 1024, 32},
  {"sm_100", 232448, 65536, 255, 1024, 32},
  {"gfx90a", 65536, 131072, 512, 1024, 64},
  {"gfx942", 65536, 131072, 512, 1024, 64},
  {"gfx950", 163840, 131072, 512, 1024, 64},
};

int pt_constraints_limits_for_arch(const char *arch, pt_limits_t *out,
                                   pt_err_t *err) {
  for (int i = 0; i < NELEMS(arch_limits); i++) {
    if (strcmp(arch, arch_limits[i].arch) == 0) {
      *out = arch_limits[i];
      return PT_OK;
    }
  }
  char known[256];
  size_t n = 0;
  for (int i = 0; i < NELEMS(arch_limits); i++)
    n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
                          arch_limits[i].arch);
  return pt_err_set(err, PT_EINVAL, "unknown arch '%.64s' (known: %s)", arch,
                    known);
}

void pt_constraints_limits_default(pt_limits_t *out) {
  pt_constraints_limits_for_arch("sm_90", out, NULL);
}

void pt_constraints_limits_from_props(const pt_gpu_props_t *props,
                                      pt_limits_t *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->arch, sizeof out->arch, "%s", props->arch);
  out->smem_per_block = props->smem_per_block_optin > props->smem_per_block
                            ? props->smem_per_block_optin
                            : props->smem_per_block;
  out->regs_per_sm = props->regs_per_sm;
  out->regs_per_thread = props->backend == PT_GPU_HIP ? 512 : 255;
  out->max_threads_per_block = props->max_threads_per_block;
  out->warp_size = props->warp_size;
}

/* ---- resource estimates (the kernels' contract) ---- */

enum {
  WARPS_PER_GROUP = 4,  /* warps of one K-slice group, and of gemm2's block */
  K_STEP = 32,          /* K elements per shared-memory step (one MX block) */
  REGS_OVERHEAD = 40,   /* addressing, loop state, dequantized fragments */
};

/* Bytes per element of A as staged in shared memory. The MMA is bf16 for
 * every dtype, so FP4/FP8 activations are dequantized on their way in. */
static size_t staged_a_bytes(pt_dtype_t dtype) {
  static const size_t bytes[PT_DTYPE_COUNT] = {2, 2, 2};
  return (unsigned)dtype < PT_DTYPE_COUNT ? bytes[dtype] : 2;
}

int pt_constraints_threads(const pt_variant_t *v, int warp_size) {
  int groups = v->stage == PT_STAGE_GEMM1 ? v->k_wave : 1;
  return warp_size * WARPS_PER_GROUP * groups;
}

/* A tile + B tile (dequantized weights, bf16) per prefetch stage + the k_wave
 * partial sums (f32) when K is split. */
size_t pt_constraints_smem_bytes(const pt_variant_t *v, pt_dtype_t dtype) {
  size_t stages = v->stage == PT_STAGE_GEMM2 ? (size_t)v->kstages : 1;
  size_t a = (size_t)v->bm * K_STEP * staged_a_bytes(dtype);
  size_t b = (size_t)v->bn * K_STEP * 2 * stages;
  size_t red = v->stage == PT_STAGE_GEMM1 && v->k_wave > 1
                   ? (size_t)v->bm * v->bn * 4
                   : 0;
  return a + b + red;
}

/* Each K-slice group holds the whole bm x bn f32 tile over its lanes. */
int pt_constraints_regs_per_thread(const pt_variant_t *v, int warp_size) {
  int lanes = warp_size * WARPS_PER_GROUP;
  return (v->bm * v->bn + lanes - 1) / lanes + REGS_OVERHEAD;
}

/* ---- the rules ---- */

typedef struct ctx_s {
  const pt_variant_t *v;
  const pt_limits_t *lim;
  int threads;
  size_t smem;
  int regs;
} ctx_t;

typedef struct rule_s {
  const char *name;
  unsigned stages;
  const char *summary;
  /* Nonzero when the rule excludes the variant; then reason is written. */
  int (*excludes)(const ctx_t *c, char *reason, size_t len);
} rule_t;

/* After the K split each group reduces and stores bm/k_wave rows; an MMA
 * accumulator fragment spans 8 rows, so fewer leaves warps idle. */
static int kwave_rows(const ctx_t *c, char *reason, size_t len) {
  if (c->v->bm / c->v->k_wave >= 8) return 0;
  snprintf(reason, len,
           "k_wave=%d with bm=%d leaves warps without MMA rows (%d rows per "
           "K-slice group, an accumulator fragment spans 8)",
           c->v->k_wave, c->v->bm, c->v->bm / c->v->k_wave);
  return 1;
}

static int threads_limit(const ctx_t *c, char *reason, size_t len) {
  if (c->threads <= c->lim->max_threads_per_block) return 0;
  snprintf(reason, len, "%d threads per block exceed the device limit %d",
           c->threads, c->lim->max_threads_per_block);
  return 1;
}

static int smem_limit(const ctx_t *c, char *reason, size_t len) {
  if (c->smem <= c->lim->smem_per_block) return 0;
  snprintf(reason, len, "shared memory %zu B exceeds the device limit %zu B",
           c->smem, c->lim->smem_per_block);
  return 1;
}

static int regs_thread_limit(const ctx_t *c, char *reason, size_t len) {
  if (c->regs <= c->lim->regs_per_thread) return 0;
  snprintf(reason, len,
           "about %d registers per thread exceed the limit %d (a %dx%d f32 "
           "accumulator tile over %d lanes)",
           c->regs, c->lim->regs_per_thread, c->v->bm, c->v->bn,
           WARPS_PER_GROUP * c->lim->warp_size);
  return 1;
}

static int regs_block_limit(const ctx_t *c, char *reason, size_t len) {
  long need = (long)c->threads * c->regs;
  if (need <= c->lim->regs_per_sm) return 0;
  snprintf(reason, len,
           "%d threads x about %d registers = %ld exceed the %d registers of "
           "an SM",
           c->threads, c->regs, need, c->lim->regs_per_sm);
  return 1;
}

static const rule_t rules[] = {
  {"kwave_rows", G1, "every K-slice group keeps at least one 8-row MMA fragment",
   kwave_rows},
  {"threads", G1 | G2, "threads per block within the device limit",
   threads_limit},
  {"smem", G1 | G2, "shared memory per block within the opt-in limit",
   smem_limit},
  {"regs_per_thread", G1 | G2, "accumulators fit a thread's registers",
   regs_thread_limit},
  {"regs_per_block", G1 | G2, "one block's registers fit an SM",
   regs_block_limit},
};

int pt_constraints_check(const pt_variant_t *v, pt_dtype_t dtype,
                         const pt_limits_t *lim, pt_verdict_t *out,
                         pt_err_t *err) {
  int rc = pt_knobs_validate(v, err);
  if (rc != PT_OK) return rc;
  if ((unsigned)dtype >= PT_DTYPE_COUNT)
    return pt_err_set(err, PT_EINVAL, "unknown dtype %d", (int)dtype);
  ctx_t c = {v, lim, pt_constraints_threads(v, lim->warp_size),
             pt_constraints_smem_bytes(v, dtype),
             pt_constraints_regs_per_thread(v, lim->warp_size)};
  memset(out, 0, sizeof *out);
  out->feasible = 1;
  for (int i = 0; i < NELEMS(rules); i++) {
    if (!(rules[i].stages & (1u << v->stage))) continue;
    if (rules[i].excludes(&c, out->reason, sizeof out->reason)) {
      out->feasible = 0;
      out->rule = rules[i].name;
      break;
    }
  }
  return PT_OK;
}

int pt_constraints_rule_count(void) { return NELEMS(rules); }

const char *pt_constraints_rule_name(int i) {
  return i >= 0 && i < NELEMS(rules) ? rules[i].name : NULL;
}

unsigned pt_constraints_rule_stages(int i) {
  return i >= 0 && i < NELEMS(rules) ? rules[i].stages : 0;
}

const char *pt_constraints_rule_summary(int i) {
  return i >= 0 && i < NELEMS(rules) ? rules[i].summary : NULL;
}
