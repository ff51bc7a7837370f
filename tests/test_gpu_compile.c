/* The GPU layer's compile path, which needs no GPU: NVRTC for sm_90 and
 * hiprtc for gfx90a, compile errors carrying the compiler's log, defines. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "checkmain.h"
#include "gpu.h"

#if defined(PT_HAVE_CUDA) || defined(PT_HAVE_HIP)
static const char *kSaxpy =
    "extern \"C\" __global__ void saxpy(float *y, const float *x, float a, int n) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < n) y[i] = a * x[i] + y[i] + OFFSET;\n"
    "}\n";

static const char *kBroken =
    "extern \"C\" __global__ void broken(float *y) {\n"
    "  y[threadIdx.x] = undeclared_thing + ;\n"
    "}\n";

static int compile(pt_gpu_backend_t b, const char *arch, const char *src,
                   const char *define, pt_gpu_code_t *code, pt_err_t *err) {
  const char *defs[] = {define};
  pt_gpu_compile_req_t req = {.backend = b, .arch = arch, .source = src,
                              .name = "test.cu", .defines = defs,
                              .ndefines = define ? 1 : 0};
  return pt_gpu_compile(&req, code, err);
}

static void check_compiles(pt_gpu_backend_t b, const char *arch) {
  pt_gpu_code_t code;
  pt_err_t err;
  int rc = compile(b, arch, kSaxpy, "OFFSET=1.0f", &code, &err);
  ck_assert_msg(rc == PT_OK, "%s: %s", arch, err.msg);
  ck_assert_uint_gt(code.size, 64);
  ck_assert_ptr_nonnull(code.data);
  ck_assert_ptr_nonnull(code.log);
  ck_assert_msg(code.compile_ms > 0, "compile time not measured");
  ck_assert_msg(strstr(code.compiler, b == PT_GPU_CUDA ? "nvrtc" : "hiprtc"),
                "compiler '%s'", code.compiler);
  pt_gpu_code_free(&code);
}

static void check_error_log(pt_gpu_backend_t b, const char *arch) {
  pt_gpu_code_t code;
  pt_err_t err;
  int rc = compile(b, arch, kBroken, NULL, &code, &err);
  ck_assert_int_eq(rc, PT_ECOMPILE);
  ck_assert_msg(strstr(err.msg, "undeclared_thing") != NULL,
                "compiler log missing from the error: %s", err.msg);
  ck_assert_msg(strstr(code.log, "undeclared_thing") != NULL, "log: %s", code.log);
  ck_assert_ptr_null(code.data);
  pt_gpu_code_free(&code);
}

static void check_defines_matter(pt_gpu_backend_t b, const char *arch) {
  pt_gpu_code_t a, c;
  pt_err_t err;
  ck_assert_int_eq(compile(b, arch, kSaxpy, "OFFSET=1.0f", &a, &err), PT_OK);
  ck_assert_int_eq(compile(b, arch, kSaxpy, "OFFSET=2.0f", &c, &err), PT_OK);
  ck_assert_msg(a.size != c.size || memcmp(a.data, c.data, a.size) != 0,
                "two different defines gave identical code");
  pt_gpu_code_free(&a);
  pt_gpu_code_free(&c);
  /* A missing define is a compile error, not silently zero. */
  ck_assert_int_eq(compile(b, arch, kSaxpy, NULL, &a, &err), PT_ECOMPILE);
  pt_gpu_code_free(&a);
}

#ifdef PT_HAVE_CUDA
START_TEST(nvrtc_sm90) { check_compiles(PT_GPU_CUDA, "sm_90"); }
END_TEST
START_TEST(nvrtc_error_log) { check_error_log(PT_GPU_CUDA, "sm_90"); }
END_TEST
START_TEST(nvrtc_defines) { check_defines_matter(PT_GPU_CUDA, "sm_90"); }
END_TEST
START_TEST(nvrtc_regs_reported) {
  pt_gpu_code_t code;
  pt_err_t err;
  ck_assert_int_eq(compile(PT_GPU_CUDA, "sm_90", kSaxpy, "OFFSET=1.0f", &code, &err), PT_OK);
  ck_assert_msg(code.regs > 0 && code.spill_bytes == 0, "regs %d spills %d\nlog: %s",
                code.regs, code.spill_bytes, code.log);
  pt_gpu_code_free(&code);
}
END_TEST
#endif
#ifdef PT_HAVE_HIP
START_TEST(hiprtc_gfx90a) { check_compiles(PT_GPU_HIP, "gfx90a"); }
END_TEST
START_TEST(hiprtc_error_log) { check_error_log(PT_GPU_HIP, "gfx90a"); }
END_TEST
START_TEST(hiprtc_defines) { check_defines_matter(PT_GPU_HIP, "gfx90a"); }
END_TEST
#endif
#endif

#if defined(PT_HAVE_CUDA) || defined(PT_HAVE_HIP)
/* An arch the installed compiler lacks is refused before compiling, naming
 * what it can target (hiprtc 5.2 would abort the process on gfx942). */
static void check_targets(pt_gpu_backend_t b, const char *good, const char *bad) {
  char targets[2048];
  pt_err_t err;
  ck_assert_int_eq(pt_gpu_compile_targets(b, targets, sizeof targets, &err), PT_OK);
  ck_assert_msg(strstr(targets, good) != NULL, "%s not in %s", good, targets);
  ck_assert_int_eq(pt_gpu_arch_check(good, &err), PT_OK);
  ck_assert_int_eq(pt_gpu_arch_check(bad, &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, bad) && strstr(err.msg, good), "%s", err.msg);
  pt_gpu_code_t code;
  ck_assert_int_eq(compile(b, bad, kSaxpy, "OFFSET=1.0f", &code, &err), PT_EINVAL);
  pt_gpu_code_free(&code);
}
#endif

#ifdef PT_HAVE_CUDA
START_TEST(nvrtc_targets) {
  check_targets(PT_GPU_CUDA, "sm_90a", "sm_99999");
  pt_err_t err;
  ck_assert_int_eq(pt_gpu_arch_check("sm_90", &err), PT_OK);
}
END_TEST
#endif
#ifdef PT_HAVE_HIP
START_TEST(hiprtc_targets) {
  check_targets(PT_GPU_HIP, "gfx90a", "gfx942");
  pt_err_t err;
  ck_assert_int_eq(pt_gpu_arch_check("gfx90a:xnack-", &err), PT_OK);
  /* the probe leaves hiprtc usable in the same process */
  check_compiles(PT_GPU_HIP, "gfx90a");
}
END_TEST
#endif

START_TEST(arch_to_backend) {
  pt_gpu_backend_t b;
  pt_err_t err;
  unsigned built = pt_gpu_backends_built();
  ck_assert_int_eq(pt_gpu_backend_for_arch("x86_64", &b, &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, "'x86_64'"), "%s", err.msg);
  ck_assert_int_eq(pt_gpu_backend_for_arch("sm_", &b, &err), PT_EINVAL);
  int rc = pt_gpu_backend_for_arch("sm_90", &b, &err);
  ck_assert_int_eq(rc, built & (1u << PT_GPU_CUDA) ? PT_OK : PT_ENOTSUP);
  ck_assert_int_eq(b, PT_GPU_CUDA);
  rc = pt_gpu_backend_for_arch("gfx942", &b, &err);
  ck_assert_int_eq(rc, built & (1u << PT_GPU_HIP) ? PT_OK : PT_ENOTSUP);
  ck_assert_int_eq(b, PT_GPU_HIP);
}
END_TEST

int main(void) {
  Suite *s = suite_create("gpu_compile");
  TCase *common = tcase_create("common");
  tcase_add_test(common, arch_to_backend);
  suite_add_tcase(s, common);
#ifdef PT_HAVE_CUDA
  TCase *nv = tcase_create("nvrtc");
  tcase_set_timeout(nv, 120);
  tcase_add_test(nv, nvrtc_sm90);
  tcase_add_test(nv, nvrtc_error_log);
  tcase_add_test(nv, nvrtc_defines);
  tcase_add_test(nv, nvrtc_regs_reported);
  tcase_add_test(nv, nvrtc_targets);
  suite_add_tcase(s, nv);
#endif
#ifdef PT_HAVE_HIP
  TCase *amd = tcase_create("hiprtc");
  tcase_set_timeout(amd, 120);
  tcase_add_test(amd, hiprtc_gfx90a);
  tcase_add_test(amd, hiprtc_error_log);
  tcase_add_test(amd, hiprtc_defines);
  tcase_add_test(amd, hiprtc_targets);
  suite_add_tcase(s, amd);
#endif
  return pt_test_run_suite(s);
}
