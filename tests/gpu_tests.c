/* GPU layer tests on a real device: compile for the device's own arch, load,
 * launch, check results on poisoned outputs, opt into large shared memory,
 * time with events. With no GPU it prints the reason and exits 77 (skip). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

static const char *kSource =
    "extern \"C\" __global__ void saxpy(float *y, const float *x, float a, int n) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < n) y[i] = a * x[i] + y[i];\n"
    "}\n"
    "extern \"C\" __global__ void copy4(float4 *dst, const float4 *src, long n) {\n"
    "  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n;\n"
    "       i += (long)gridDim.x * blockDim.x) dst[i] = src[i];\n"
    "}\n"
    "extern \"C\" __global__ void smem_reverse(int *p, int n) {\n"
    "  extern __shared__ int buf[];\n"
    "  for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = p[i];\n"
    "  __syncthreads();\n"
    "  for (int i = threadIdx.x; i < n; i += blockDim.x) p[i] = buf[n - 1 - i];\n"
    "}\n";

typedef struct ctx_s {
  pt_gpu_t *gpu;
  pt_gpu_module_t *mod;
  int passed, failed;
} ctx_t;

#define CHECK(c, cond, ...)                                                 \
  do {                                                                      \
    if (!(cond)) {                                                          \
      printf("FAIL %s:%d: ", __func__, __LINE__);                           \
      printf(__VA_ARGS__);                                                  \
      printf("\n");                                                         \
      (c)->failed++;                                                        \
      return;                                                               \
    }                                                                       \
  } while (0)

static uint32_t rng(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}

static void test_props(ctx_t *c) {
  const pt_gpu_props_t *p = pt_gpu_props(c->gpu);
  CHECK(c, p->sm_count > 0 && p->warp_size > 0, "sm_count %d warp %d", p->sm_count, p->warp_size);
  CHECK(c, strncmp(p->arch, "sm_", 3) == 0 || strncmp(p->arch, "gfx", 3) == 0, "arch '%s'", p->arch);
  CHECK(c, p->l2_bytes > 0 && p->global_mem > 0, "l2 %zu mem %zu", p->l2_bytes, p->global_mem);
  CHECK(c, p->smem_per_block_optin >= p->smem_per_block, "smem limits");
  printf("device: %s %s, %d SMs, %.0f GiB, L2 %zu MiB, smem/block opt-in %zu KiB, %s\n",
         p->name, p->arch, p->sm_count, (double)p->global_mem / (1 << 30),
         p->l2_bytes >> 20, p->smem_per_block_optin >> 10, p->driver);
  c->passed++;
}

static void test_missing_kernel(ctx_t *c) {
  pt_gpu_kernel_t *k;
  pt_err_t err;
  int rc = pt_gpu_kernel_get(c->mod, "no_such_kernel", &k, &err);
  CHECK(c, rc == PT_ENOENT && strstr(err.msg, "no_such_kernel"), "rc %d: %s", rc, err.msg);
  c->passed++;
}

static void test_saxpy(ctx_t *c) {
  enum { N = 1 << 20, PAD = 1024 };
  pt_err_t err;
  pt_gpu_kernel_t *k;
  CHECK(c, pt_gpu_kernel_get(c->mod, "saxpy", &k, &err) == PT_OK, "%s", err.msg);
  pt_gpu_kernel_attrs_t at;
  CHECK(c, pt_gpu_kernel_attrs(k, &at, &err) == PT_OK && at.regs > 0, "attrs: %s", err.msg);
  float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * (N + PAD));
  float *got = malloc(sizeof(float) * (N + PAD));
  uint64_t s = 42;
  for (int i = 0; i < N; i++) {
    x[i] = (float)(rng(&s) % 2001) / 1000.0f - 1.0f;
    y[i] = (float)(rng(&s) % 2001) / 1000.0f - 1.0f;
  }
  memset(y + N, 0xA5, sizeof(float) * PAD);  /* poison past the end */
  pt_gpu_ptr_t dx, dy;
  CHECK(c, pt_gpu_malloc(c->gpu, sizeof(float) * N, &dx, &err) == PT_OK, "%s", err.msg);
  CHECK(c, pt_gpu_malloc(c->gpu, sizeof(float) * (N + PAD), &dy, &err) == PT_OK, "%s", err.msg);
  pt_gpu_memcpy_htod(c->gpu, dx, x, sizeof(float) * N, &err);
  pt_gpu_memcpy_htod(c->gpu, dy, y, sizeof(float) * (N + PAD), &err);
  float a = 2.5f;
  int n = N;
  void *args[] = {&dy, &dx, &a, &n};
  unsigned grid[3] = {(N + 255) / 256, 1, 1}, block[3] = {256, 1, 1};
  CHECK(c, pt_gpu_launch(k, grid, block, 0, NULL, args, &err) == PT_OK, "%s", err.msg);
  CHECK(c, pt_gpu_stream_sync(c->gpu, NULL, &err) == PT_OK, "%s", err.msg);
  CHECK(c, pt_gpu_memcpy_dtoh(c->gpu, got, dy, sizeof(float) * (N + PAD), &err) == PT_OK, "%s", err.msg);
  int bad = 0;
  /* The device may fuse a*x+y into one FMA: allow one f32 rounding. */
  for (int i = 0; i < N; i++) {
    double ref = (double)a * x[i] + y[i];
    bad += fabs(got[i] - ref) > 1e-6 * (fabs((double)a * x[i]) + fabs(y[i]));
  }
  int pad_ok = memcmp(got + N, y + N, sizeof(float) * PAD) == 0;
  pt_gpu_free(c->gpu, dx);
  pt_gpu_free(c->gpu, dy);
  free(x);
  free(y);
  free(got);
  CHECK(c, bad == 0, "%d wrong elements", bad);
  CHECK(c, pad_ok, "kernel wrote past its range");
  c->passed++;
}

static void test_big_shared_memory(ctx_t *c) {
  const pt_gpu_props_t *p = pt_gpu_props(c->gpu);
  size_t bytes = p->smem_per_block_optin / 4 * 4;
  int n = (int)(bytes / 4);
  pt_err_t err;
  pt_gpu_kernel_t *k;
  CHECK(c, pt_gpu_kernel_get(c->mod, "smem_reverse", &k, &err) == PT_OK, "%s", err.msg);
  int blocks = 0;
  CHECK(c, pt_gpu_occupancy(k, 256, bytes, &blocks, &err) == PT_OK && blocks >= 1,
        "occupancy %d: %s", blocks, err.msg);
  int *h = malloc(bytes), *back = malloc(bytes);
  for (int i = 0; i < n; i++) h[i] = i * 7 + 1;
  pt_gpu_ptr_t d;
  CHECK(c, pt_gpu_malloc(c->gpu, bytes, &d, &err) == PT_OK, "%s", err.msg);
  pt_gpu_memcpy_htod(c->gpu, d, h, bytes, &err);
  void *args[] = {&d, &n};
  unsigned grid[3] = {1, 1, 1}, block[3] = {256, 1, 1};
  int rc = pt_gpu_launch(k, grid, block, bytes, NULL, args, &err);
  if (rc == PT_OK) rc = pt_gpu_stream_sync(c->gpu, NULL, &err);
  if (rc == PT_OK) rc = pt_gpu_memcpy_dtoh(c->gpu, back, d, bytes, &err);
  int bad = 0;
  for (int i = 0; rc == PT_OK && i < n; i++) bad += back[i] != h[n - 1 - i];
  pt_gpu_free(c->gpu, d);
  free(h);
  free(back);
  CHECK(c, rc == PT_OK, "%zu bytes of shared memory: %s", bytes, err.msg);
  CHECK(c, bad == 0, "%d wrong elements", bad);
  /* One byte over the limit is refused before launch, with the reason. */
  rc = pt_gpu_launch(k, grid, block, p->smem_per_block_optin + 4, NULL, args, &err);
  CHECK(c, rc == PT_EINFEASIBLE, "over-limit launch gave %d: %s", rc, err.msg);
  printf("shared memory: %zu KiB per block opted in, %d block(s)/SM\n", bytes >> 10, blocks);
  c->passed++;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static void test_event_timing(ctx_t *c) {
  enum { REPS = 20 };
  size_t bytes = (size_t)256 << 20;
  long n4 = (long)(bytes / 16);
  pt_err_t err;
  pt_gpu_kernel_t *k;
  CHECK(c, pt_gpu_kernel_get(c->mod, "copy4", &k, &err) == PT_OK, "%s", err.msg);
  pt_gpu_ptr_t a, b;
  CHECK(c, pt_gpu_malloc(c->gpu, bytes, &a, &err) == PT_OK, "%s", err.msg);
  CHECK(c, pt_gpu_malloc(c->gpu, bytes, &b, &err) == PT_OK, "%s", err.msg);
  pt_gpu_stream_t *st;
  pt_gpu_event_t *e0, *e1;
  CHECK(c, pt_gpu_stream_create(c->gpu, &st, &err) == PT_OK, "%s", err.msg);
  pt_gpu_event_create(c->gpu, &e0, &err);
  pt_gpu_event_create(c->gpu, &e1, &err);
  pt_gpu_memset(c->gpu, a, 0x3C, bytes, st, &err);
  pt_gpu_memset(c->gpu, b, 0xFF, bytes, st, &err);
  void *args[] = {&b, &a, &n4};
  unsigned grid[3] = {(unsigned)pt_gpu_props(c->gpu)->sm_count * 8, 1, 1}, block[3] = {256, 1, 1};
  float ms[REPS];
  int rc = PT_OK;
  for (int i = 0; i < REPS && rc == PT_OK; i++) {
    rc = pt_gpu_event_record(e0, st, &err);
    if (rc == PT_OK) rc = pt_gpu_launch(k, grid, block, 0, st, args, &err);
    if (rc == PT_OK) rc = pt_gpu_event_record(e1, st, &err);
    if (rc == PT_OK) rc = pt_gpu_event_sync(e1, &err);
    if (rc == PT_OK) rc = pt_gpu_event_elapsed(e0, e1, &ms[i], &err);
  }
  unsigned char probe[64];
  if (rc == PT_OK) rc = pt_gpu_memcpy_dtoh(c->gpu, probe, b + bytes - 64, 64, &err);
  int sm = -1, temp = -1;
  pt_gpu_sample_clocks(c->gpu, &sm, &temp);
  pt_gpu_event_destroy(e0);
  pt_gpu_event_destroy(e1);
  pt_gpu_stream_destroy(st);
  pt_gpu_free(c->gpu, a);
  pt_gpu_free(c->gpu, b);
  CHECK(c, rc == PT_OK, "%s", err.msg);
  for (int i = 0; i < 64; i++) CHECK(c, probe[i] == 0x3C, "copy incomplete at byte %d", i);
  qsort(ms, REPS, sizeof ms[0], cmp_float);
  CHECK(c, ms[0] > 0 && isfinite(ms[REPS - 1]), "event times %f..%f", ms[0], ms[REPS - 1]);
  printf("copy 256 MiB: median %.3f ms, %.0f GB/s read+write (min %.3f, max %.3f ms); "
         "SM clock %d MHz, %d C\n", ms[REPS / 2], 2.0 * (double)bytes / ms[REPS / 2] / 1e6,
         ms[0], ms[REPS - 1], sm, temp);
  c->passed++;
}

int main(void) {
  ctx_t c = {0};
  pt_gpu_code_t code;
  pt_err_t err;
  int rc = pt_gpu_open_any(0, &c.gpu, &err);
  if (rc == PT_ENOGPU) {
    printf("SKIP: no GPU: %s\n", err.msg);
    return 77;
  }
  if (rc != PT_OK) {
    printf("FAIL: a GPU was found but could not be opened: %s\n", err.msg);
    return 1;
  }
  const pt_gpu_props_t *p = pt_gpu_props(c.gpu);
  pt_gpu_compile_req_t req = {.backend = p->backend, .arch = p->arch,
                              .source = kSource, .name = "gpu_tests.cu"};
  if (pt_gpu_compile(&req, &code, &err) != PT_OK ||
      pt_gpu_module_load(c.gpu, code.data, code.size, &c.mod, &err) != PT_OK) {
    printf("FAIL: compile/load for %s: %s\n", p->arch, err.msg);
    return 1;
  }
  printf("compiled for %s with %s in %.1f ms (%zu bytes)\n", p->arch, code.compiler,
         code.compile_ms, code.size);
  pt_gpu_code_free(&code);
  test_props(&c);
  test_missing_kernel(&c);
  test_saxpy(&c);
  test_big_shared_memory(&c);
  test_event_timing(&c);
  pt_gpu_module_unload(c.mod);
  pt_gpu_close(c.gpu);
  printf("gpu_tests: %d passed, %d failed\n", c.passed, c.failed);
  return c.failed ? 1 : 0;
}
