/* pipetune compile: compile a kernel source for one arch and report the code
 * object's size, the compile time and the registers/spills the compiler
 * reports. Needs no GPU: NVRTC for sm_*, hiprtc for gfx*. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "gpu.h"
#include "opts.h"

static char *read_file(const char *path, pt_err_t *err) {
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

static int write_file(const char *path, const void *data, size_t n, pt_err_t *err) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return pt_err_set(err, PT_EIO, "cannot create '%s'", path);
  size_t put = fwrite(data, 1, n, f);
  if (fclose(f) != 0 || put != n)
    return pt_err_set(err, PT_EIO, "cannot write '%s'", path);
  return PT_OK;
}

int cmd_compile(int argc, const char **argv) {
  const char *arch = NULL, *source = NULL, *output = NULL;
  pt_strlist_t defines = {0};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "arch", &arch, "ARCH", "target: sm_NN (NVRTC) or gfxNNN (hiprtc)"),
      PT_OPT_STRING(0, "source", &source, "FILE", "kernel source file"),
      PT_OPT_LIST('D', NULL, &defines, "NAME[=VALUE]", "preprocessor define (repeatable)"),
      PT_OPT_STRING('o', "output", &output, "FILE", "write the code object here"),
      PT_OPT_END(),
  };
  const char *usage = "pipetune compile --arch ARCH --source FILE [-D NAME=VALUE]... [-o FILE]";
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
  if (arch == NULL || source == NULL) {
    pt_cli_error("--arch and --source are required");
    pt_opts_usage(opts, usage, 1);
    goto out;
  }
  if ((src = read_file(source, &err)) == NULL ||
      pt_gpu_backend_for_arch(arch, &backend, &err) != PT_OK) {
    status = pt_cli_error("%s", err.msg) == 2 ? pt_exit_status(err.code) : 1;
    goto out;
  }
  pt_gpu_compile_req_t req = {.backend = backend, .arch = arch, .source = src,
                              .name = source, .defines = defines.items,
                              .ndefines = defines.n};
  int rc = pt_gpu_compile(&req, &code, &err);
  if (rc == PT_OK && output) rc = write_file(output, code.data, code.size, &err);
  if (rc != PT_OK) {
    fprintf(stderr, "error: %s\n", err.msg);
    status = 1;
    goto out;
  }
  printf("%s: %s %zu bytes, %.1f ms, %s, registers %d, spill bytes %d\n", source,
         arch, code.size, code.compile_ms, code.compiler, code.regs, code.spill_bytes);
  status = 0;
out:
  pt_gpu_code_free(&code);
  free(src);
  pt_strlist_free(&defines);
  return status;
}
