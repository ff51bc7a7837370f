/* Which variants can run on a device, and why not (DESIGN §5).
 *
 * One declarative table of rules in constraints.c: each has a name, the
 * stages it applies to, and a predicate that, when it excludes a variant,
 * writes the human reason. Inputs are the variant, the dtype and the device
 * limits; rules see the kernels' resource estimates below.
 */
#ifndef PT_CONSTRAINTS_H
#define PT_CONSTRAINTS_H

#include <stddef.h>

#include "error.h"
#include "gpu.h"
#include "knobs.h"
#include "moe.h"

/* What a device allows one block. */
typedef struct pt_limits_s {
  char arch[32];              /* "sm_90", "gfx942" */
  size_t smem_per_block;      /* bytes, with the opt-in attribute */
  int regs_per_sm;            /* 32-bit registers of one SM / CU */
  int regs_per_thread;        /* most a thread may use */
  int max_threads_per_block;
  int warp_size;              /* 32, or 64 for AMD waves */
} pt_limits_t;

/* Limits of a known arch string from a built-in table (sm_80, sm_86, sm_89,
 * sm_90, sm_90a, sm_100, gfx90a, gfx942, gfx950). PT_EINVAL for any other. */
int pt_constraints_limits_for_arch(const char *arch, pt_limits_t *out,
                                   pt_err_t *err);
/* The sm_90 limits: the default when no device or arch is given. */
void pt_constraints_limits_default(pt_limits_t *out);
/* Limits read from an open device. */
void pt_constraints_limits_from_props(const pt_gpu_props_t *props,
                                      pt_limits_t *out);

/* Whether arch has Hopper's warpgroup MMA (sm_90, sm_90a), and the target
 * a variant compiles for on a device of arch (sm_90a for mma=wgmma on
 * sm_90, else arch itself). */
int pt_constraints_has_wgmma(const char *arch);
const char *pt_constraints_compile_arch(const pt_variant_t *v,
                                        const char *arch);

/* ---- resource estimates: the kernels' contract ----
 * These mirror what the kernels in kernelsrc/ allocate and launch; whoever
 * changes a kernel's shared memory, block size or register use updates the
 * matching function here. */

/* Threads per block (warp_size from the limits: 4 warps/waves per group). */
int pt_constraints_threads(const pt_variant_t *v, int warp_size);
/* Shared memory bytes per block (warp_size 64: AMD's shallower ring). */
size_t pt_constraints_smem_bytes(const pt_variant_t *v, pt_dtype_t dtype,
                                 int warp_size);
/* Registers per thread, estimated before compiling (accumulators plus the
 * addressing and dequantization working set). */
int pt_constraints_regs_per_thread(const pt_variant_t *v, int warp_size);

/* ---- the rules ---- */

#define PT_CONSTRAINTS_REASON_MAX 256

typedef struct pt_verdict_s {
  int feasible;
  const char *rule;   /* name of the first failing rule; NULL if feasible */
  char reason[PT_CONSTRAINTS_REASON_MAX];  /* empty if feasible */
} pt_verdict_t;

/* Runs the rules of v's stage in table order; out says feasible or names the
 * first rule that excludes v with its reason. PT_EINVAL (and no verdict) if v
 * itself is not a valid variant. */
int pt_constraints_check(const pt_variant_t *v, pt_dtype_t dtype,
                         const pt_limits_t *lim, pt_verdict_t *out,
                         pt_err_t *err);

/* The rule table, for documentation and tests: count, name, stage mask
 * (bit 1 << pt_stage_t) and a one-line summary. */
int pt_constraints_rule_count(void);
const char *pt_constraints_rule_name(int i);
unsigned pt_constraints_rule_stages(int i);
const char *pt_constraints_rule_summary(int i);

#endif
