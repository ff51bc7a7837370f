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

/* Mirrors PT_WROWS in pt_tile.cuh: 32 weight rows per warp, 16 once
 * BM >= 64. Everything below mirrors the kernels: change both together. */
static int warp_rows(const pt_variant_t *v) { return v->bm >= 64 ? 16 : 32; }

static int k_wave(const pt_variant_t *v) {
  return v->stage == PT_STAGE_GEMM1 ? v->k_wave : 1;
}

/* gemm1 fixes kstages at 2 (knobs.c's fixed value); gemm2 tunes it. */
static int kstages(const pt_variant_t *v) {
  return v->stage == PT_STAGE_GEMM1 ? 2 : v->kstages;
}

int pt_constraints_has_wgmma(const char *arch) {
  return strcmp(arch, "sm_90") == 0 || strcmp(arch, "sm_90a") == 0;
}

/* wgmma exists only in the arch-specific sm_90a target, which an sm_90
 * device runs. */
const char *pt_constraints_compile_arch(const pt_variant_t *v,
                                        const char *arch) {
  return v->mma == PT_MMA_WGMMA && strcmp(arch, "sm_90") == 0 ? "sm_90a"
                                                                : arch;
}

/* The wgmma generation (kernelsrc/pt_tile.cuh, PT_MMA == 1): a producer
 * warpgroup and k_wave consumer warpgroups; 64 weight rows per fragment. */
static int wg_frags(const pt_variant_t *v) { return v->bn / 64; }

int pt_constraints_threads(const pt_variant_t *v, int warp_size) {
  if (v->mma == PT_MMA_WGMMA) return 128 * (k_wave(v) + 1);
  return warp_size * (v->bn / warp_rows(v)) * k_wave(v);
}

/* The ring of K-tile slots (weights, scale windows, bf16 A stage) or the
 * f32 C tile, whichever is larger, plus the per-row tables. */
size_t pt_constraints_smem_bytes(const pt_variant_t *v, pt_dtype_t dtype,
                                 int warp_size) {
  (void)dtype;
  size_t ctile = (size_t)v->bm * (v->bn + 4) * 4;
  if (v->mma == PT_MMA_WGMMA) {
    /* per stage and k wave: 4 KiB of weights and 256 B of scales per
     * fragment, 256 B of bf16 per token; then C tile, rows, mbarriers */
    size_t stage = (size_t)k_wave(v) *
                   ((size_t)wg_frags(v) * (4096 + 256) + (size_t)v->bm * 256);
    size_t ns = 2 * (size_t)kstages(v);
    return ns * stage + ctile + (size_t)v->bm * 12 + ns * 16;
  }
  size_t ksup = (size_t)128 * k_wave(v);
  size_t slot = v->bn * ksup / 2 + (size_t)v->bn * k_wave(v) * 8 +
                (size_t)v->bm * ksup * 2;
  size_t ring = (size_t)(warp_size == 64 ? kstages(v) + 1 : 2 * kstages(v)) * slot;
  return (ring > ctile ? ring : ctile) + (size_t)v->bm * 12;
}

/* Accumulators (a warp's rows x tokens of C over its lanes), weight
 * registers (16-byte chunk + scale per held row and stage: the ring is in
 * shared memory, but the compiler keeps about as many live) and a fixed
 * working set (measured: 135 for gemm1 bm=32,bn=128 on sm_90). */
int pt_constraints_regs_per_thread(const pt_variant_t *v, int warp_size) {
  if (v->mma == PT_MMA_WGMMA) {
    /* per fragment: BM/2 accumulators, the A registers of one k16 step x 2
     * (bhoist) or of all 8, the rows' 16-byte chunks and scale words; and a
     * working set (measured on sm_90a: 142 for gemm1 bm=32,bn=128) */
    int a = v->bhoist ? 8 : 32;
    return wg_frags(v) * (v->bm / 2 + a + 10) + 40;
  }
  int acc = warp_rows(v) * v->bm / warp_size;
  int lrows = warp_size == 32 ? 2 : 1;
  int stages = v->stage == PT_STAGE_GEMM1 ? 2 : v->kstages;
  int wregs = stages * (warp_rows(v) / 16) * lrows * 5;
  return acc + wregs + 64;
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

static int wgmma_arch(const ctx_t *c, char *reason, size_t len) {
  if (c->v->mma != PT_MMA_WGMMA || pt_constraints_has_wgmma(c->lim->arch))
    return 0;
  snprintf(reason, len, "mma=wgmma needs Hopper's warpgroup MMA (sm_90a); "
           "%s has none", c->lim->arch);
  return 1;
}

static int regs_thread_limit(const ctx_t *c, char *reason, size_t len) {
  if (c->regs <= c->lim->regs_per_thread) return 0;
  snprintf(reason, len, "about %d registers per thread exceed the limit %d",
           c->regs, c->lim->regs_per_thread);
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
  {"wgmma", G1 | G2, "mma=wgmma only on archs with warpgroup MMA (sm_90a)",
   wgmma_arch},
  {"threads", G1 | G2, "threads per block within the device limit",
   threads_limit},
  {"smem", G1 | G2, "shared memory per block within the opt-in limit",
   smem_limit},
  {"regs_per_thread", G1 | G2, "registers per thread within the limit",
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
             pt_constraints_smem_bytes(v, dtype, lim->warp_size),
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
