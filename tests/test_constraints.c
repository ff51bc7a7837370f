/* Tests of space/constraints.c: device limits, resource estimates and the
 * rule table's verdicts and reasons. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "constraints.h"

static const char *const arches[] = {"sm_80", "sm_86", "sm_89", "sm_90",
                                     "sm_90a", "sm_100", "gfx90a", "gfx942",
                                     "gfx950"};
#define NARCHES ((int)(sizeof arches / sizeof arches[0]))

static pt_variant_t variant(pt_stage_t stage, const char *spec) {
  pt_variant_t v;
  pt_err_t err;
  ck_assert_msg(pt_knobs_parse(stage, spec, &v, &err) == PT_OK, "%s", err.msg);
  return v;
}

static pt_limits_t limits(const char *arch) {
  pt_limits_t lim;
  ck_assert_int_eq(pt_constraints_limits_for_arch(arch, &lim, NULL), PT_OK);
  return lim;
}

static pt_verdict_t check(pt_stage_t stage, const char *spec, const char *arch) {
  pt_variant_t v = variant(stage, spec);
  pt_limits_t lim = limits(arch);
  pt_verdict_t out;
  ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &out, NULL), PT_OK);
  return out;
}

START_TEST(test_arch_limits) {
  pt_limits_t lim = limits("sm_90");
  ck_assert_str_eq(lim.arch, "sm_90");
  ck_assert_uint_eq(lim.smem_per_block, 232448);
  ck_assert_int_eq(lim.regs_per_sm, 65536);
  ck_assert_int_eq(lim.regs_per_thread, 255);
  ck_assert_int_eq(lim.max_threads_per_block, 1024);
  ck_assert_int_eq(lim.warp_size, 32);
  lim = limits("sm_80");
  ck_assert_uint_eq(lim.smem_per_block, 166912);
  lim = limits("gfx942");
  ck_assert_uint_eq(lim.smem_per_block, 65536);
  ck_assert_int_eq(lim.warp_size, 64);
  lim = limits("gfx90a");
  ck_assert_int_eq(lim.warp_size, 64);

  pt_limits_t def;
  pt_constraints_limits_default(&def);
  lim = limits("sm_90");
  ck_assert_mem_eq(&def, &lim, sizeof lim);
}
END_TEST

START_TEST(test_unknown_arch) {
  static const char *const bad[] = {"sm_91", "SM_90", "", "gfx90", "sm_90 "};
  for (int i = 0; i < 5; i++) {
    pt_limits_t lim;
    pt_err_t err;
    ck_assert_int_eq(pt_constraints_limits_for_arch(bad[i], &lim, &err), PT_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "unknown arch '%s' (known: ", bad[i]);
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "sm_90, "));
    ck_assert_ptr_nonnull(strstr(err.msg, "gfx942"));
  }
}
END_TEST

START_TEST(test_limits_from_props) {
  pt_gpu_props_t p;
  memset(&p, 0, sizeof p);
  p.backend = PT_GPU_HIP;
  snprintf(p.arch, sizeof p.arch, "gfx942");
  p.smem_per_block = 65536;
  p.smem_per_block_optin = 0;
  p.regs_per_sm = 65536;
  p.max_threads_per_block = 1024;
  p.warp_size = 64;
  pt_limits_t lim;
  pt_constraints_limits_from_props(&p, &lim);
  ck_assert_str_eq(lim.arch, "gfx942");
  ck_assert_uint_eq(lim.smem_per_block, 65536);
  ck_assert_int_eq(lim.regs_per_thread, 512);
  ck_assert_int_eq(lim.warp_size, 64);

  p.backend = PT_GPU_CUDA;
  p.smem_per_block = 49152;
  p.smem_per_block_optin = 232448;
  p.warp_size = 32;
  pt_constraints_limits_from_props(&p, &lim);
  ck_assert_uint_eq(lim.smem_per_block, 232448);
  ck_assert_int_eq(lim.regs_per_thread, 255);
}
END_TEST

START_TEST(test_resources) {
  /* the kernels' geometry: warps of 32 weight rows (16 from bm=64) across
   * bn, times k_wave; a ring of K-tile slots (bn rows x 64 B per k wave of
   * weights, 8 B scale windows per row and k wave, the bf16 A stage; 4
   * slots with kstages=2 on NVIDIA, 3 on AMD) or the f32 C tile, plus row
   * tables */
  pt_variant_t v = variant(PT_STAGE_GEMM1, "bm=64,bn=128,k_wave=2");
  ck_assert_int_eq(pt_constraints_threads(&v, 32), 512);
  ck_assert_int_eq(pt_constraints_threads(&v, 64), 1024);
  ck_assert_uint_eq(pt_constraints_smem_bytes(&v, PT_DTYPE_A4W4, 32),
                    4 * (128 * 128 + 128 * 2 * 8 + 64 * 256 * 2) + 64 * 12);
  /* accumulators + weight stages + 64 */
  ck_assert_int_eq(pt_constraints_regs_per_thread(&v, 32), 32 + 20 + 64);
  ck_assert_int_eq(pt_constraints_regs_per_thread(&v, 64), 16 + 10 + 64);

  v = variant(PT_STAGE_GEMM1, "bm=64,bn=128,k_wave=1");
  ck_assert_uint_eq(pt_constraints_smem_bytes(&v, PT_DTYPE_A16W4, 32),
                    4 * (128 * 64 + 128 * 8 + 64 * 128 * 2) + 64 * 12);
  ck_assert_uint_eq(pt_constraints_smem_bytes(&v, PT_DTYPE_A16W4, 64),
                    3 * (128 * 64 + 128 * 8 + 64 * 128 * 2) + 64 * 12);
  ck_assert_int_eq(pt_constraints_threads(&v, 32), 256);

  v = variant(PT_STAGE_GEMM2, "bm=16,bn=256,kstages=2");
  ck_assert_int_eq(pt_constraints_threads(&v, 32), 256);
  ck_assert_uint_eq(pt_constraints_smem_bytes(&v, PT_DTYPE_A8W4, 32),
                    4 * (256 * 64 + 256 * 8 + 16 * 128 * 2) + 16 * 12);
  ck_assert_int_eq(pt_constraints_regs_per_thread(&v, 32), 16 + 40 + 64);
  v = variant(PT_STAGE_GEMM2, "bm=16,bn=256,kstages=1");
  ck_assert_int_eq(pt_constraints_regs_per_thread(&v, 32), 16 + 20 + 64);
}
END_TEST

/* Each rule with a variant it excludes and the exact reason. */
static const struct {
  pt_stage_t stage;
  const char *spec;
  const char *arch;
  const char *rule;
  const char *reason;
} excluded[] = {
  {PT_STAGE_GEMM1, "bm=64,bn=256,k_wave=4", "sm_90", "threads",
   "2048 threads per block exceed the device limit 1024"},
  {PT_STAGE_GEMM1, "bm=128,bn=64,k_wave=1", "gfx90a", "smem",
   "shared memory 113664 B exceeds the device limit 65536 B"},
  {PT_STAGE_GEMM1, "bm=128,bn=128,k_wave=2", "sm_90", "smem",
   "shared memory 337408 B exceeds the device limit 232448 B"},
  {PT_STAGE_GEMM2, "bm=128,bn=256", "sm_90", "regs_per_block",
   "512 threads x about 148 registers = 75776 exceed the 65536 registers of "
   "an SM"},
};

START_TEST(test_excluded) {
  pt_verdict_t out = check(excluded[_i].stage, excluded[_i].spec, excluded[_i].arch);
  ck_assert_int_eq(out.feasible, 0);
  ck_assert_str_eq(out.rule, excluded[_i].rule);
  ck_assert_str_eq(out.reason, excluded[_i].reason);
}
END_TEST

START_TEST(test_feasible) {
  static const struct {
    pt_stage_t stage;
    const char *spec;
  } ok[] = {
    {PT_STAGE_GEMM1, "bm=16,k_wave=2"},
    {PT_STAGE_GEMM1, "bm=128,bn=128,k_wave=1"},
    {PT_STAGE_GEMM1, "bm=32,bn=64,k_wave=4,persist=1,spart=804"},
    {PT_STAGE_GEMM2, "bm=128,bn=128,kstages=2,epilog=reduce"},
    {PT_STAGE_GEMM2, "bm=16,bn=256"},
  };
  for (int i = 0; i < 5; i++) {
    pt_verdict_t out = check(ok[i].stage, ok[i].spec, "sm_90");
    ck_assert_msg(out.feasible, "%s: %s", ok[i].spec, out.reason);
    ck_assert_ptr_null(out.rule);
    ck_assert_str_eq(out.reason, "");
  }
}
END_TEST

/* This variant fails threads and smem on a small device: the verdict names
 * the first rule of the table. */
START_TEST(test_first_rule_wins) {
  pt_variant_t v;
  pt_limits_t lim = limits("sm_90");
  pt_verdict_t out;
  lim.max_threads_per_block = 256;
  lim.smem_per_block = 16384;
  v = variant(PT_STAGE_GEMM1, "bm=32,k_wave=4");
  ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &out, NULL), PT_OK);
  ck_assert_str_eq(out.rule, "threads");
  ck_assert_str_eq(out.reason, "512 threads per block exceed the device limit 256");

  lim = limits("sm_90");
  lim.smem_per_block = 32768;
  v = variant(PT_STAGE_GEMM2, "bm=32,bn=128,kstages=2");
  ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &out, NULL), PT_OK);
  ck_assert_str_eq(out.rule, "smem");
  ck_assert_str_eq(out.reason, "shared memory 70016 B exceeds the device limit 32768 B");
  v = variant(PT_STAGE_GEMM2, "bm=16,bn=128,kstages=1");
  ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &out, NULL), PT_OK);
  ck_assert(out.feasible);
}
END_TEST

START_TEST(test_invalid_input) {
  pt_variant_t v = variant(PT_STAGE_GEMM1, "");
  pt_limits_t lim = limits("sm_90");
  pt_verdict_t out;
  pt_err_t err;
  v.bm = 48;
  ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &out, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "knob 'bm' must be one of 16, 32, 64, 128 (got 48)");
  v.bm = 32;
  ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_COUNT, &lim, &out, &err), PT_EINVAL);
}
END_TEST

/* Over both spaces and every known arch: defaults always run, every rule
 * excludes something, only rules of the variant's stage fire, and each stage
 * keeps feasible variants on every arch. */
START_TEST(test_table_over_spaces) {
  int nrules = pt_constraints_rule_count();
  ck_assert_int_gt(nrules, 0);
  int *fired = calloc((size_t)nrules, sizeof *fired);
  ck_assert_ptr_nonnull(fired);
  for (int a = 0; a < NARCHES; a++) {
    pt_limits_t lim = limits(arches[a]);
    for (int s = 0; s < PT_STAGE_COUNT; s++) {
      pt_variant_t v;
      pt_verdict_t out;
      pt_knobs_default((pt_stage_t)s, &v);
      ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &out, NULL), PT_OK);
      ck_assert_msg(out.feasible, "%s default on %s: %s", pt_stage_name(v.stage),
                    arches[a], out.reason);
      size_t n = pt_knobs_space_size((pt_stage_t)s), feasible = 0;
      for (size_t i = 0; i < n; i++) {
        pt_knobs_space_at((pt_stage_t)s, i, &v);
        ck_assert_int_eq(pt_constraints_check(&v, PT_DTYPE_A4W4, &lim, &out, NULL),
                         PT_OK);
        if (out.feasible) {
          feasible++;
          continue;
        }
        ck_assert_int_gt((int)strlen(out.reason), 0);
        int r = 0;
        while (r < nrules && strcmp(pt_constraints_rule_name(r), out.rule) != 0) r++;
        ck_assert_int_lt(r, nrules);
        ck_assert(pt_constraints_rule_stages(r) & (1u << s));
        fired[r] = 1;
      }
      ck_assert_uint_gt(feasible, 0);
    }
  }
  /* every rule fires on a real arch */
  for (int r = 0; r < nrules; r++)
    ck_assert_msg(fired[r], "rule '%s' never fires", pt_constraints_rule_name(r));
  free(fired);
}
END_TEST

START_TEST(test_rule_table) {
  int n = pt_constraints_rule_count();
  for (int i = 0; i < n; i++) {
    ck_assert_ptr_nonnull(pt_constraints_rule_name(i));
    ck_assert_ptr_nonnull(pt_constraints_rule_summary(i));
    ck_assert_uint_ne(pt_constraints_rule_stages(i), 0);
    for (int j = 0; j < i; j++)
      ck_assert_str_ne(pt_constraints_rule_name(i), pt_constraints_rule_name(j));
  }
  ck_assert_ptr_null(pt_constraints_rule_name(n));
  ck_assert_ptr_null(pt_constraints_rule_name(-1));
}
END_TEST

static Suite *constraints_suite(void) {
  Suite *s = suite_create("constraints");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_arch_limits);
  tcase_add_test(tc, test_unknown_arch);
  tcase_add_test(tc, test_limits_from_props);
  tcase_add_test(tc, test_resources);
  tcase_add_loop_test(tc, test_excluded, 0,
                      (int)(sizeof excluded / sizeof excluded[0]));
  tcase_add_test(tc, test_feasible);
  tcase_add_test(tc, test_first_rule_wins);
  tcase_add_test(tc, test_invalid_input);
  tcase_add_test(tc, test_table_over_spaces);
  tcase_add_test(tc, test_rule_table);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(constraints_suite());
}
