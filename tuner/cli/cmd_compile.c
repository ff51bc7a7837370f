/* pipetune compile: compile one stage variant of the embedded MoE kernels
 * (--stage S --config SPEC [--dtype D] [--act A]), or a raw kernel source
 * (--source FILE), for one arch and report the code object's size, the
 * compile time and the registers/spills the compiler reports. Needs no GPU:
 * NVRTC for sm_*, hiprtc for gfx*. A variant the arch cannot run (the
 * constraints table) still compiles, says why, and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "constraints.h"
#include "gpu.h"
#include "kernel_job.h"
#include "knobs.h"
#include "moe.h"
#include "opts.h"

static char *read_file(const char *path, pt_err_t *err) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    pt_err_set(err, PT_EINVAL, "'%s' is a directory, not a kernel source", path);
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    pt_err_set(err, PT_EINVAL, "cannot open '%s'", path);
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (n + 1 == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (bigger == NULL) free(buf);
      buf = bigger;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (buf == NULL || bad) {
    free(buf);
    pt_err_set(err, PT_EIO, "cannot read '%s'", path);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

static void print_code(const char *label, const char *arch, const pt_gpu_code_t *code) {
  printf("%s: %s %zu bytes, %.1f ms, %s", label, arch, code->size, code->compile_ms,
         code->compiler);
  /* -1: the compiler did not say (hiprtc reports no resource usage) */
  if (code->regs >= 0) printf(", registers %d", code->regs);
  if (code->spill_bytes >= 0) printf(", spill bytes %d", code->spill_bytes);
  printf("\n");
}

/* 0, or 1 after saying why the arch cannot run the variant (what tune
 * would record as infeasible). Unknown archs have no limits to check. */
static int feasible_on(const pt_variant_t *v, pt_dtype_t dtype, const char *arch) {
  pt_limits_t lim;
  pt_verdict_t verdict;
  if (pt_constraints_limits_for_arch(arch, &lim, NULL) != PT_OK ||
      pt_constraints_check(v, dtype, &lim, &verdict, NULL) != PT_OK ||
      verdict.feasible)
    return 0;
  fprintf(stderr, "infeasible on %s: %s (rule '%s'); tune records it as infeasible\n",
          arch, verdict.reason, verdict.rule);
  return 1;
}

static int write_file(const char *path, const void *data, size_t n, pt_err_t *err) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return pt_err_set(err, PT_EIO, "cannot create '%s'", path);
  size_t put = fwrite(data, 1, n, f);
  if (fclose(f) != 0 || put != n)
    return pt_err_set(err, PT_EIO, "cannot write '%s'", path);
  return PT_OK;
}

/* The compile request of --stage/--config/--dtype/--act into job, the
 * variant into v and its dtype into dt. */
static int variant_job(const char *stage, const char *config, const char *dtype,
                       const char *act, const char *arch, pt_kernel_job_t *job,
                       pt_variant_t *v, pt_dtype_t *dt, char *label, size_t len,
                       pt_err_t *err) {
  pt_stage_t st;
  pt_act_t ac = PT_ACT_SILU;
  *dt = PT_DTYPE_A4W4;
  if (pt_stage_parse(stage, &st) != 0)
    return pt_err_set(err, PT_EINVAL, "unknown stage '%s' (gemm1, gemm2)", stage);
  if (dtype && pt_dtype_parse(dtype, dt) != 0)
    return pt_err_set(err, PT_EINVAL, "unknown dtype '%s' (a4w4, a8w4, a16w4)", dtype);
  if (act && pt_act_parse(act, &ac) != 0)
    return pt_err_set(err, PT_EINVAL, "unknown act '%s' (silu, swiglu_oai)", act);
  int rc = pt_knobs_parse(st, config ? config : "", v, err);
  if (rc != PT_OK)
    return pt_err_prefix(err, "--config");
  char spec[PT_KNOBS_SPEC_MAX];
  pt_knobs_format(v, spec, sizeof spec);
  snprintf(label, len, "%s %s %s %s", pt_stage_name(st), spec,
           pt_dtype_name(*dt), pt_act_name(ac));
  return pt_kernel_job_init(job, v, *dt, ac, arch, err);
}

int cmd_compile(int argc, const char **argv) {
  const char *arch = NULL, *source = NULL, *output = NULL;
  const char *stage = NULL, *config = NULL, *dtype = NULL, *act = NULL;
  pt_strlist_t defines = {0};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "arch", &arch, "ARCH", "target: sm_NN (NVRTC) or gfxNNN (hiprtc)"),
      PT_OPT_STRING(0, "stage", &stage, "S", "gemm1 or gemm2: compile a variant"),
      PT_OPT_STRING(0, "config", &config, "SPEC", "variant knobs, e.g. bm=32,bn=128"),
      PT_OPT_STRING(0, "dtype", &dtype, "D", "a4w4 (default), a8w4 or a16w4"),
      PT_OPT_STRING(0, "act", &act, "A", "silu (default) or swiglu_oai"),
      PT_OPT_STRING(0, "source", &source, "FILE", "compile a raw kernel source instead"),
      PT_OPT_LIST('D', NULL, &defines, "NAME[=VALUE]", "preprocessor define (repeatable)"),
      PT_OPT_STRING('o', "output", &output, "FILE", "write the code object here"),
      PT_OPT_END(),
  };
  const char *usage =
      "pipetune compile --stage S [--config SPEC] [--dtype D] [--act A] --arch ARCH [-o FILE]\n"
      "   or: pipetune compile --source FILE --arch ARCH [-D NAME=VALUE]... [-o FILE]";
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0) return pt_opts_status(argc);
  int status = 2;
  char *src = NULL;
  pt_gpu_code_t code = {0};
  pt_err_t err;
  pt_gpu_backend_t backend;
  if (argc > 0) {
    pt_cli_error("unexpected argument '%s'", argv[0]);
    goto out;
  }
  if (arch == NULL || (source == NULL) == (stage == NULL)) {
    pt_cli_error("--arch and one of --stage or --source are required");
    pt_opts_usage(opts, usage, 1);
    goto out;
  }
  pt_kernel_job_t job;
  pt_variant_t v;
  pt_dtype_t dt;
  char label[PT_KNOBS_SPEC_MAX + 64];
  pt_gpu_compile_req_t req;
  if (stage != NULL) {
    if (variant_job(stage, config, dtype, act, arch, &job, &v, &dt, label, sizeof label,
                    &err) != PT_OK) {
      status = pt_cli_error("%s", err.msg) == 2 ? pt_exit_status(err.code) : 1;
      goto out;
    }
    req = job.req;
  } else {
    if ((src = read_file(source, &err)) == NULL ||
        pt_gpu_backend_for_arch(arch, &backend, &err) != PT_OK) {
      status = pt_cli_error("%s", err.msg) == 2 ? pt_exit_status(err.code) : 1;
      goto out;
    }
    req = (pt_gpu_compile_req_t){.backend = backend, .arch = arch, .source = src,
                                 .name = source, .defines = defines.items,
                                 .ndefines = defines.n};
    snprintf(label, sizeof label, "%s", source);
  }
  int rc = pt_gpu_compile(&req, &code, &err);
  if (rc == PT_OK && output) rc = write_file(output, code.data, code.size, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    status = pt_exit_status(rc);
    goto out;
  }
  print_code(label, arch, &code);
  status = stage != NULL ? feasible_on(&v, dt, arch) : 0;
out:
  pt_gpu_code_free(&code);
  free(src);
  pt_strlist_free(&defines);
  return status;
}
