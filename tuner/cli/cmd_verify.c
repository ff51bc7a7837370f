/* pipetune verify: run one pipeline configuration on a GPU stage by stage
 * (sort, gemm1, gemm2, reduce), compare each step with the oracle, each
 * re-seeded from the GPU's own inputs, print a row per step, and optionally
 * dump every buffer with a JSON manifest. Bad input is checked before any
 * GPU work (exit 2); a failed step exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "family.h"
#include "gpu.h"
#include "knobs.h"
#include "opts.h"
#include "pipeline.h"
#include "problem.h"
#include "routing.h"
#include "verify.h"

typedef struct args_s {
  const char *family, *grid, *dtype, *config, *routing, *dump;
  int tokens, seed, gpu;
} args_t;

typedef struct input_s {
  pt_family_set_t set;
  const pt_family_t *fam;
  pt_moe_shape_t shape;
  pt_routing_t routing;
  pt_verify_config_t cfg;
} input_t;

static int check_input(const args_t *a, input_t *in, pt_err_t *err)
{
  pt_dtype_t dt;
  if (a->family == NULL || a->dtype == NULL || a->tokens == 0)
    return pt_err_set(err, PT_EINVAL, "--family, --dtype and --tokens are required");
  if (a->tokens < 1 || a->tokens > PT_FAMILY_TOKENS_MAX)
    return pt_err_set(err, PT_EINVAL, "--tokens %d out of range (1..%d)",
                      a->tokens, PT_FAMILY_TOKENS_MAX);
  if (a->seed < 0)
    return pt_err_set(err, PT_EINVAL, "--seed %d is negative", a->seed);
  if (a->gpu < 0)
    return pt_err_set(err, PT_EINVAL, "--gpu %d is negative", a->gpu);
  int rc = a->grid != NULL ? pt_family_load_file(a->grid, &in->set, err)
                           : pt_family_load_builtin(&in->set, err);
  if (rc != PT_OK)
    return a->grid != NULL ? pt_err_prefix(err, "option --grid") : rc;
  rc = pt_family_lookup(&in->set, a->family, &in->fam, err);
  if (rc == PT_OK && pt_dtype_parse(a->dtype, &dt) != 0)
    rc = pt_err_set(err, PT_EINVAL, "unknown dtype '%s' (a4w4, a8w4, a16w4)",
                    a->dtype);
  if (rc == PT_OK)
    rc = pt_family_shape(in->fam, dt, &in->shape, err);
  if (rc == PT_OK)
    rc = pt_routing_parse(a->routing, &in->routing, err);
  if (rc == PT_OK && (rc = pt_verify_parse_config(a->config, &in->cfg, err)) != PT_OK)
    pt_err_prefix(err, "--config '%s'", a->config);
  return rc;
}

/* Opens device a->gpu (gpu.h's rule); no device is said as verify's need. */
static int open_gpu(int ordinal, pt_gpu_t **gpu, pt_err_t *err)
{
  int rc = pt_gpu_open_any(ordinal, gpu, err);
  if (rc == PT_ENOGPU) {
    char why[PT_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", err->msg);
    pt_err_set(err, rc, "verify needs a GPU (%.1000s)", why);
  }
  return rc;
}

static void print_step(const pt_verify_step_t *s)
{
  if (!s->ran) {
    printf("%-7s %-44s %10s %10s %10s %10s %8s  %s\n", s->name, s->reference,
           "-", "-", "-", "-", "-", "skipped (epilog atomic)");
    return;
  }
  char match[16] = "-";
  if (s->match >= 0)
    snprintf(match, sizeof match, "%.4f", s->match);
  printf("%-7s %-44s %10zu %10.3e %10.3e %10.3e %8s  %s%s%s\n", s->name,
         s->reference, s->count, s->max_abs, s->mean_abs, s->rel_l2, match,
         s->pass ? "pass" : "FAIL", s->untouched ? "" : " (poison overwritten)",
         s->nonfinite ? " (non-finite values)" : "");
}

static void print_table(const args_t *a, const input_t *in, const pt_gpu_t *gpu,
                        const pt_verify_t *v)
{
  char s1[PT_KNOBS_SPEC_MAX], s2[PT_KNOBS_SPEC_MAX];
  pt_knobs_format(&in->cfg.g1, s1, sizeof s1);
  pt_knobs_format(&in->cfg.g2, s2, sizeof s2);
  printf("verify %s %s M=%d routing=%s seed=%d on %s (%s)\n", in->fam->name,
         pt_dtype_name(in->shape.dtype), a->tokens, a->routing, a->seed,
         pt_gpu_props(gpu)->name, pt_gpu_props(gpu)->arch);
  printf("gemm1 %s\ngemm2 %s\n", s1, s2);
  printf("sort block %d, padded rows %d of %d real\n\n", v->dev_sorted.sbm,
         v->dev_sorted.padded, a->tokens * in->shape.topk);
  printf("%-7s %-44s %10s %10s %10s %10s %8s  %s\n", "step", "reference",
         "elements", "max-abs", "mean-abs", "rel-l2", "match", "result");
  for (int i = 0; i < PT_VERIFY_NSTEPS; i++)
    print_step(&v->steps[i]);
  printf("\nthresholds: sort identical; gemm1 >= %.0f%% identical codes (the "
         "tuner's check); gemm2, reduce rel-l2 <= %.0e\n",
         100 * PT_PIPE_MATCH_MIN, PT_PIPE_REL_L2_MAX);
}

static int dump(const char *dir, const args_t *a, const input_t *in,
                const pt_gpu_t *gpu, const pt_verify_t *v, pt_err_t *err)
{
  char s1[PT_KNOBS_SPEC_MAX], s2[PT_KNOBS_SPEC_MAX], routing[64];
  pt_verify_buf_t bufs[PT_VERIFY_BUFS_MAX];
  pt_knobs_format(&in->cfg.g1, s1, sizeof s1);
  pt_knobs_format(&in->cfg.g2, s2, sizeof s2);
  pt_routing_format(&in->routing, routing, sizeof routing);
  pt_verify_meta_t meta = {
      .family = in->fam->name, .shape = in->shape, .tokens = a->tokens,
      .routing = routing, .seed = (unsigned long long)a->seed,
      .sbm = v->dev_sorted.sbm, .padded = v->dev_sorted.padded,
      .gemm1 = s1, .gemm2 = s2, .device = pt_gpu_props(gpu)->name};
  int n = pt_verify_run_bufs(v, bufs);
  return pt_verify_dump(dir, &meta, v->steps, PT_VERIFY_NSTEPS, bufs, n, err);
}

static int run(const args_t *a, input_t *in, pt_err_t *err)
{
  pt_gpu_t *gpu = NULL;
  pt_moe_problem_t p;
  pt_verify_t v;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int rc = open_gpu(a->gpu, &gpu, err);
  if (rc != PT_OK)
    return rc;
  rc = pt_problem_init(&p, &in->shape, a->tokens, &in->routing,
                       (uint64_t)a->seed, err);
  if (rc != PT_OK) {
    pt_gpu_close(gpu);
    return rc;
  }
  rc = pt_verify_run(gpu, &p, &in->cfg, ncpu > 0 ? (int)ncpu : 1,
                     (unsigned long long)a->seed, &v, err);
  if (rc == PT_OK)
    print_table(a, in, gpu, &v);
  if (rc == PT_OK && a->dump) {
    rc = dump(a->dump, a, in, gpu, &v, err);
    if (rc == PT_OK)
      printf("dumped the buffers and manifest.json to '%s'\n", a->dump);
  }
  if (rc == PT_OK && !pt_verify_passed(&v))
    rc = PT_EVERIFY;
  pt_verify_free(&v);
  pt_problem_free(&p);
  pt_gpu_close(gpu);
  return rc;
}

int cmd_verify(int argc, const char **argv)
{
  args_t a = {.config = "", .routing = "uniform", .seed = 1};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "family", &a.family, "F", "model family (pipetune families)"),
      PT_OPT_STRING(0, "grid", &a.grid, "FILE",
                    "families and token grid (JSON) to find F in (default: the built-in)"),
      PT_OPT_STRING(0, "dtype", &a.dtype, "D", "a4w4, a8w4 or a16w4 (one of the family's)"),
      PT_OPT_INT(0, "tokens", &a.tokens, "M", "token count, >= 1"),
      PT_OPT_STRING(0, "config", &a.config, "SPEC",
                    "'g1:KNOBS;g2:KNOBS', e.g. 'g1:bm=32,bn=128;g2:bm=64,epilog=reduce'; "
                    "knobs or parts left out take the defaults"),
      PT_OPT_STRING(0, "routing", &a.routing, "R", "uniform (default) or zipf:S"),
      PT_OPT_INT(0, "seed", &a.seed, "N", "problem and row-sample seed (default 1)"),
      PT_OPT_INT(0, "gpu", &a.gpu, "N", "device ordinal (default 0)"),
      PT_OPT_STRING(0, "dump", &a.dump, "DIR",
                    "write every buffer (raw little-endian) and manifest.json here"),
      PT_OPT_END(),
  };
  const char *usage =
      "pipetune verify --family F [--grid FILE] --dtype D --tokens M [--config SPEC]\n"
      "       [--routing R] [--seed N] [--gpu N] [--dump DIR]\n\n"
      "Runs sort, gemm1, gemm2 and reduce one step at a time and compares each\n"
      "with the oracle: gemm2 on the GPU's own gemm1 output, reduce on the GPU's\n"
      "own ybuf. Exit 0 when every step passes, 1 when one fails, 2 for bad input";
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0)
    return pt_opts_status(argc);
  if (argc > 0)
    return pt_cli_error("unexpected argument '%s'", argv[0]);
  input_t in;
  pt_err_t err;
  memset(&in, 0, sizeof in);
  int rc = check_input(&a, &in, &err);
  if (rc == PT_OK)
    rc = run(&a, &in, &err);
  pt_family_set_free(&in.set);
  if (rc == PT_EVERIFY)
    return 1;
  if (rc != PT_OK)
    pt_cli_error("%s", err.msg);
  return pt_exit_status(rc);
}
