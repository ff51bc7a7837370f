/* GPU test of the MoE kernels: on a small shape with partial tiles in N and
 * K (H = 320, I = 192), every dtype, both activations' families, M = 1, 7
 * and 130, the default variants and variants that flip each knob verify
 * against the oracle (DESIGN §6). At M = 1 and 7 each runs on the sort of
 * its own BM (switching the pipe's sort between variants), at M = 130 on
 * sort block 128 (a stage whose partner has the larger BM).
 * Exits 77 ("SKIP: <reason>") without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraints.h"
#include "gpu.h"
#include "knobs.h"
#include "moe_sort.h"
#include "pipeline.h"
#include "problem.h"
#include "routing.h"

static int failures;

static void check(int ok, const char *what, const char *spec, int M,
                  const pt_pipe_check_t *c)
{
  if (!ok) {
    failures++;
    printf("FAIL %s %s M=%d match=%.4f rel_l2=%.3e untouched=%d\n", what,
           spec, M, c->code_match, c->rel_l2, c->untouched);
  }
}

static void run_variant(pt_gpu_t *gpu, pt_pipe_t *pp, pt_stage_t st,
                        const char *spec, pt_dtype_t dt, pt_act_t act, int M,
                        int own_sort)
{
  pt_variant_t v;
  pt_pipe_stage_t s;
  pt_pipe_check_t c = {0};
  pt_err_t err;
  if (pt_knobs_parse(st, spec, &v, &err) != PT_OK ||
      pt_pipe_sort(pp, own_sort ? v.bm : 128, &err) != PT_OK ||
      pt_pipe_stage_load(gpu, &v, dt, act, &s, &err) != PT_OK) {
    printf("FAIL %s '%s': %s\n", pt_stage_name(st), spec, err.msg);
    failures++;
    return;
  }
  if (pt_pipe_sorted(pp)->sbm != (own_sort ? v.bm : 128)) {
    printf("FAIL %s '%s': sorted with block %d\n", pt_stage_name(st), spec,
           pt_pipe_sorted(pp)->sbm);
    failures++;
  }
  int rc = st == PT_STAGE_GEMM1 ? pt_pipe_verify_gemm1(pp, &s, &c, &err)
                                : pt_pipe_verify_gemm2(pp, &s, &c, &err);
  if (rc != PT_OK) {
    printf("FAIL %s '%s': %s\n", pt_stage_name(st), spec, err.msg);
    failures++;
  } else {
    check(c.pass, pt_stage_name(st), spec, M, &c);
  }
  pt_pipe_stage_unload(&s);
}

static const char *const kG1[] = {
    "", "bm=16,bn=64", "bm=64,bn=256", "bm=128,bn=128", "k_wave=2",
    "k_wave=4,bm=16", "bhoist=1", "spart=402", "nt=1", "persist=1",
    "persist=1,spart=201,bm=16,bn=64"};
static const char *const kG2[] = {
    "", "bm=16,bn=64", "bm=64,bn=256", "bm=128,bn=128", "kstages=1",
    "bhoist=1", "spart=804", "nt=1", "epilog=reduce", "persist=1",
    "persist=1,epilog=reduce,bm=16"};
/* The wgmma generation (Hopper only): the same flips where feasible. */
static const char *const kG1wg[] = {
    "mma=wgmma", "mma=wgmma,bm=16,bn=64", "mma=wgmma,bm=32,bn=256,bhoist=1",
    "mma=wgmma,bm=128,bn=64,bhoist=1", "mma=wgmma,k_wave=2",
    "mma=wgmma,k_wave=4,bm=16,bn=64,bhoist=1", "mma=wgmma,bhoist=1",
    "mma=wgmma,spart=402", "mma=wgmma,nt=1", "mma=wgmma,persist=1",
    "mma=wgmma,persist=1,spart=201,bm=16,bn=64", "mma=wgmma,splitk=2",
    "mma=wgmma,splitk=4,bm=16,bn=64,bhoist=1", "mma=wgmma,splitk=8,persist=1"};
static const char *const kG2wg[] = {
    "mma=wgmma", "mma=wgmma,bm=16,bn=64", "mma=wgmma,bm=64,bn=256,bhoist=1",
    "mma=wgmma,bm=128,bn=128,bhoist=1,kstages=1", "mma=wgmma,kstages=1",
    "mma=wgmma,bhoist=1", "mma=wgmma,spart=804", "mma=wgmma,nt=1",
    "mma=wgmma,epilog=reduce", "mma=wgmma,persist=1",
    "mma=wgmma,persist=1,epilog=reduce,bm=16", "mma=wgmma,splitk=2",
    "mma=wgmma,splitk=4,bm=16,bn=64,bhoist=1", "mma=wgmma,splitk=8,persist=1"};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
  pt_gpu_t *gpu;
  pt_err_t err;
  if (pt_gpu_open_any(0, &gpu, &err) != PT_OK) {
    printf("SKIP: %s\n", err.msg);
    return 77;
  }
  static const int Ms[] = {1, 7, 130};
  int runs = 0, wg = pt_constraints_has_wgmma(pt_gpu_props(gpu)->arch);
  if (!wg)
    printf("note: %s has no wgmma: the mma=wgmma variants are not run\n",
           pt_gpu_props(gpu)->arch);
  for (int dt = 0; dt < PT_DTYPE_COUNT; dt++)
    for (int act = 0; act < PT_ACT_COUNT; act++)
      for (int mi = 0; mi < 3; mi++) {
        pt_moe_shape_t sh = {320, 192, 9, 3, (pt_dtype_t)dt, (pt_act_t)act};
        pt_routing_t r = {mi == 2 ? PT_ROUTING_ZIPF : PT_ROUTING_UNIFORM, 1.1};
        pt_moe_problem_t p;
        pt_pipe_t *pp;
        if (pt_problem_init(&p, &sh, Ms[mi], &r, 99 + (uint64_t)mi, &err) != PT_OK ||
            pt_pipe_init(gpu, &p, 128, 4, 7, &pp, &err) != PT_OK) {
          printf("FAIL setup: %s\n", err.msg);
          return 1;
        }
        /* Sorts past the 4 a pipe keeps: the variants' own sorts evict. */
        if (mi == 0 && (pt_pipe_sort(pp, 256, &err) != PT_OK ||
                        pt_pipe_sort(pp, 512, &err) != PT_OK)) {
          printf("FAIL sort: %s\n", err.msg);
          return 1;
        }
        for (size_t i = 0; i < NELEMS(kG1); i++, runs++)
          run_variant(gpu, pp, PT_STAGE_GEMM1, kG1[i], (pt_dtype_t)dt, (pt_act_t)act, Ms[mi],
                      mi < 2);
        for (size_t i = 0; i < NELEMS(kG2); i++, runs++)
          run_variant(gpu, pp, PT_STAGE_GEMM2, kG2[i], (pt_dtype_t)dt, (pt_act_t)act, Ms[mi],
                      mi < 2);
        for (size_t i = 0; wg && i < NELEMS(kG1wg); i++, runs++)
          run_variant(gpu, pp, PT_STAGE_GEMM1, kG1wg[i], (pt_dtype_t)dt, (pt_act_t)act, Ms[mi],
                      mi < 2);
        for (size_t i = 0; wg && i < NELEMS(kG2wg); i++, runs++)
          run_variant(gpu, pp, PT_STAGE_GEMM2, kG2wg[i], (pt_dtype_t)dt, (pt_act_t)act, Ms[mi],
                      mi < 2);
        pt_pipe_free(pp);
        pt_problem_free(&p);
      }
  printf("gpu_kernels: %d runs, %d failures\n", runs, failures);
  pt_gpu_close(gpu);
  return failures ? 1 : 0;
}
