/* HIP backend: hiprtc for compilation (works with no GPU, e.g. for gfx90a
 * in CI) and the HIP runtime's module API for everything else. */
#include "config.h"

#include "gpu_impl.h"

#include <dlfcn.h>
#include <hip/hip_runtime_api.h>
#include <hip/hip_version.h>
#include <hip/hiprtc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hip_fail(hipError_t r, const char *what, pt_err_t *err) {
  return pt_err_set(err, PT_EGPU, "%s failed: %s (HIP error %d)", what,
                    hipGetErrorString(r), (int)r);
}

#define HIP_CALL(call, err)                                                 \
  do {                                                                      \
    hipError_t r_ = (call);                                                 \
    if (r_ != hipSuccess) return hip_fail(r_, #call, (err));                \
  } while (0)

static int hip_count(int *count, pt_err_t *err) {
  if (hipGetDeviceCount(count) != hipSuccess || *count <= 0) {
    *count = 0;
    return pt_err_set(err, PT_ENOGPU, "the HIP runtime sees no GPU");
  }
  return PT_OK;
}

static int hip_props(int ordinal, pt_gpu_props_t *p, pt_err_t *err) {
  hipDeviceProp_t d;
  int drv = 0, optin = 0;
  HIP_CALL(hipGetDeviceProperties(&d, ordinal), err);
  hipDriverGetVersion(&drv);
  snprintf(p->name, sizeof p->name, "%s", d.name);
  /* gcnArchName reads "gfx90a:sramecc+:xnack-": the arch is its first field. */
  snprintf(p->arch, sizeof p->arch, "%.*s", (int)strcspn(d.gcnArchName, ":"),
           d.gcnArchName);
  snprintf(p->pci_bus_id, sizeof p->pci_bus_id, "%04x:%02x:%02x.0",
           (unsigned)d.pciDomainID, (unsigned)d.pciBusID, (unsigned)d.pciDeviceID);
  snprintf(p->driver, sizeof p->driver, "hip %d", drv);
  hipDeviceGetAttribute(&optin, hipDeviceAttributeSharedMemPerBlockOptin, ordinal);
  p->global_mem = d.totalGlobalMem;
  p->sm_count = d.multiProcessorCount;
  p->warp_size = d.warpSize;
  p->max_threads_per_block = d.maxThreadsPerBlock;
  p->max_threads_per_sm = d.maxThreadsPerMultiProcessor;
  p->regs_per_block = d.regsPerBlock;
  p->regs_per_sm = d.regsPerBlock;
  p->smem_per_block = d.sharedMemPerBlock;
  p->smem_per_block_optin = optin > 0 ? (size_t)optin : d.sharedMemPerBlock;
  p->smem_per_sm = d.maxSharedMemoryPerMultiProcessor;
  p->l2_bytes = (size_t)d.l2CacheSize;
  p->clock_khz = d.clockRate;
  p->mem_clock_khz = d.memoryClockRate;
  p->mem_bus_bits = d.memoryBusWidth;
  return PT_OK;
}

/* hiprtc 5.2 is not thread-safe: concurrent compiles race in LLVM's target
 * registry ("Cannot choose between targets amdgcn and amdgcn"), so the one
 * process-wide compiler is serialized. */
static pthread_mutex_t hiprtc_lock = PTHREAD_MUTEX_INITIALIZER;

static char *program_log(hiprtcProgram prog) {
  size_t n = 0;
  /* hiprtc reports a size of 0 (and writes nothing) for an empty log. */
  if (hiprtcGetProgramLogSize(prog, &n) != HIPRTC_SUCCESS || n == 0) n = 1;
  char *log = calloc(1, n + 1);
  if (log && n > 1) hiprtcGetProgramLog(prog, log);
  return log;
}

static int take_code(hiprtcProgram prog, pt_gpu_code_t *out, pt_err_t *err) {
  size_t n = 0;
  if (hiprtcGetCodeSize(prog, &n) != HIPRTC_SUCCESS || n == 0)
    return pt_err_set(err, PT_ECOMPILE, "hiprtc produced no code object");
  out->data = malloc(n);
  if (out->data == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  if (hiprtcGetCode(prog, out->data) != HIPRTC_SUCCESS)
    return pt_err_set(err, PT_ECOMPILE, "hiprtcGetCode failed");
  out->size = n;
  return PT_OK;
}

static int hip_compile(const pt_gpu_compile_req_t *req, pt_gpu_code_t *out,
                       pt_err_t *err) {
  char archopt[64];
  snprintf(archopt, sizeof archopt, "--offload-arch=%s", req->arch);
  const char *base[] = {archopt, "-O3", "-std=c++17", "-DPT_BACKEND_HIP=1"};
  int argc = 0;
  char **argv = pt__gpu_build_argv(req, base, 4, &argc);
  if (argv == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  pt_gpu_compiler_version(PT_GPU_HIP, out->compiler, sizeof out->compiler, NULL);
  hiprtcProgram prog;
  hiprtcResult r = hiprtcCreateProgram(&prog, req->source,
                                       req->name ? req->name : "kernel.hip",
                                       req->nheaders, (const char **)req->headers,
                                       (const char **)req->header_names);
  if (r != HIPRTC_SUCCESS) {
    pt__gpu_free_argv(argv, argc);
    return pt_err_set(err, PT_ECOMPILE, "hiprtcCreateProgram failed: %s",
                      hiprtcGetErrorString(r));
  }
  pthread_mutex_lock(&hiprtc_lock);
  r = hiprtcCompileProgram(prog, argc, (const char **)argv);
  pthread_mutex_unlock(&hiprtc_lock);
  pt__gpu_free_argv(argv, argc);
  out->log = program_log(prog);
  int rc = PT_OK;
  if (r != HIPRTC_SUCCESS)
    rc = pt_err_set(err, PT_ECOMPILE, "hiprtc: compiling '%s' for %s failed: %s",
                    req->name ? req->name : "kernel.hip", req->arch,
                    out->log && out->log[0] ? out->log : hiprtcGetErrorString(r));
  else
    rc = take_code(prog, out, err);
  hiprtcDestroyProgram(&prog);
  return rc;
}

/* hiprtc compiles through comgr; comgr's ISA list is what its LLVM can
 * target ("amdgcn-amd-amdhsa--gfx90a"). Asked through dlopen: Debian ships
 * the library without its header. */
static int hip_targets(char *buf, size_t len, pt_err_t *err) {
  /* NODELETE: comgr carries LLVM, whose options register once per load;
   * hiprtc loads the same library later. */
  void *lib = dlopen("libamd_comgr.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (lib == NULL) return pt_err_set(err, PT_ENOTSUP, "cannot load comgr: %s", dlerror());
  int (*count)(size_t *) = (int (*)(size_t *))dlsym(lib, "amd_comgr_get_isa_count");
  int (*name)(size_t, const char **) =
      (int (*)(size_t, const char **))dlsym(lib, "amd_comgr_get_isa_name");
  size_t n = 0, used = 0;
  buf[0] = '\0';
  int ok = count != NULL && name != NULL && count(&n) == 0;
  for (size_t i = 0; ok && i < n && used < len; i++) {
    const char *isa = NULL;
    if (name(i, &isa) != 0 || isa == NULL) continue;
    const char *gfx = strstr(isa, "--");
    used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                             gfx != NULL ? gfx + 2 : isa);
  }
  dlclose(lib);
  return ok ? PT_OK : pt_err_set(err, PT_ENOTSUP, "comgr does not list its ISAs");
}

static int hip_compiler_version(char *buf, size_t len, pt_err_t *err) {
  (void)err;
  /* hiprtcVersion reports the bundled clang's version; the HIP release
   * identifies the compiler better. */
  snprintf(buf, len, "hiprtc %d.%d.%d", HIP_VERSION_MAJOR, HIP_VERSION_MINOR,
           HIP_VERSION_PATCH);
  return PT_OK;
}

static int hip_open(pt_gpu_t *gpu, int ordinal, pt_err_t *err) {
  int count = 0;
  int rc = hip_count(&count, err);
  if (rc) return rc;
  if (ordinal < 0 || ordinal >= count)
    return pt_err_set(err, PT_EINVAL, "no HIP device %d (found %d)", ordinal, count);
  HIP_CALL(hipSetDevice(ordinal), err);
  gpu->backend = NULL;
  return PT_OK;
}

static void hip_close(pt_gpu_t *gpu) { (void)gpu; }

static int hip_module_load(pt_gpu_module_t *m, const void *code, size_t size,
                           pt_err_t *err) {
  (void)size;
  hipModule_t mod;
  HIP_CALL(hipModuleLoadData(&mod, code), err);
  m->handle = mod;
  return PT_OK;
}

static void hip_module_unload(pt_gpu_module_t *m) { hipModuleUnload(m->handle); }

static int hip_kernel_get(pt_gpu_kernel_t *k, const char *name, pt_err_t *err) {
  hipFunction_t f;
  hipError_t r = hipModuleGetFunction(&f, k->mod->handle, name);
  if (r == hipErrorNotFound)
    return pt_err_set(err, PT_ENOENT, "no kernel named '%s' in the module", name);
  if (r != hipSuccess) return hip_fail(r, "hipModuleGetFunction", err);
  k->handle = f;
  return PT_OK;
}

static int hip_kernel_attrs(pt_gpu_kernel_t *k, pt_gpu_kernel_attrs_t *out,
                            pt_err_t *err) {
  hipFunction_t f = k->handle;
  HIP_CALL(hipFuncGetAttribute(&out->regs, HIP_FUNC_ATTRIBUTE_NUM_REGS, f), err);
  HIP_CALL(hipFuncGetAttribute(&out->smem_static, HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f), err);
  HIP_CALL(hipFuncGetAttribute(&out->local_bytes, HIP_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, f), err);
  HIP_CALL(hipFuncGetAttribute(&out->max_threads, HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f), err);
  return PT_OK;
}

static int hip_occupancy(pt_gpu_kernel_t *k, int threads, size_t smem,
                         int *blocks, pt_err_t *err) {
  HIP_CALL(hipModuleOccupancyMaxActiveBlocksPerMultiprocessor(blocks, k->handle, threads, smem), err);
  return PT_OK;
}

/* AMD kernels take their whole LDS without an opt-in step. */
static int hip_smem_optin(pt_gpu_kernel_t *k, size_t smem, pt_err_t *err) {
  (void)k;
  (void)smem;
  (void)err;
  return PT_OK;
}

static int hip_launch(pt_gpu_kernel_t *k, const unsigned grid[3],
                      const unsigned block[3], size_t smem, void *stream,
                      void **args, pt_err_t *err) {
  HIP_CALL(hipModuleLaunchKernel(k->handle, grid[0], grid[1], grid[2], block[0],
                                 block[1], block[2], (unsigned)smem, stream, args, NULL),
           err);
  return PT_OK;
}

static int hip_alloc(pt_gpu_t *gpu, size_t bytes, pt_gpu_ptr_t *out, pt_err_t *err) {
  (void)gpu;
  void *p;
  HIP_CALL(hipMalloc(&p, bytes), err);
  *out = (pt_gpu_ptr_t)(uintptr_t)p;
  return PT_OK;
}

static void *dptr(pt_gpu_ptr_t p) { return (void *)(uintptr_t)p; }

static void hip_free(pt_gpu_t *gpu, pt_gpu_ptr_t ptr) {
  (void)gpu;
  hipFree(dptr(ptr));
}

static int hip_htod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, const void *src,
                    size_t bytes, pt_err_t *err) {
  (void)gpu;
  HIP_CALL(hipMemcpy(dptr(dst), src, bytes, hipMemcpyHostToDevice), err);
  return PT_OK;
}

static int hip_dtoh(pt_gpu_t *gpu, void *dst, pt_gpu_ptr_t src, size_t bytes,
                    pt_err_t *err) {
  (void)gpu;
  HIP_CALL(hipMemcpy(dst, dptr(src), bytes, hipMemcpyDeviceToHost), err);
  return PT_OK;
}

static int hip_dtod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, pt_gpu_ptr_t src,
                    size_t bytes, void *stream, pt_err_t *err) {
  (void)gpu;
  HIP_CALL(hipMemcpyAsync(dptr(dst), dptr(src), bytes, hipMemcpyDeviceToDevice, stream), err);
  return PT_OK;
}

static int hip_memset8(pt_gpu_t *gpu, pt_gpu_ptr_t dst, uint8_t byte,
                       size_t bytes, void *stream, pt_err_t *err) {
  (void)gpu;
  HIP_CALL(hipMemsetAsync(dptr(dst), byte, bytes, stream), err);
  return PT_OK;
}

static int hip_stream_create(pt_gpu_t *gpu, void **out, pt_err_t *err) {
  (void)gpu;
  hipStream_t s;
  HIP_CALL(hipStreamCreateWithFlags(&s, hipStreamNonBlocking), err);
  *out = s;
  return PT_OK;
}

static void hip_stream_destroy(pt_gpu_t *gpu, void *s) {
  (void)gpu;
  hipStreamDestroy(s);
}

static int hip_stream_sync(pt_gpu_t *gpu, void *s, pt_err_t *err) {
  (void)gpu;
  if (s == NULL) HIP_CALL(hipDeviceSynchronize(), err);
  else HIP_CALL(hipStreamSynchronize(s), err);
  return PT_OK;
}

static int hip_event_create(pt_gpu_t *gpu, void **out, pt_err_t *err) {
  (void)gpu;
  hipEvent_t e;
  HIP_CALL(hipEventCreate(&e), err);
  *out = e;
  return PT_OK;
}

static void hip_event_destroy(pt_gpu_t *gpu, void *e) {
  (void)gpu;
  hipEventDestroy(e);
}

static int hip_event_record(pt_gpu_t *gpu, void *e, void *s, pt_err_t *err) {
  (void)gpu;
  HIP_CALL(hipEventRecord(e, s), err);
  return PT_OK;
}

static int hip_event_sync(pt_gpu_t *gpu, void *e, pt_err_t *err) {
  (void)gpu;
  HIP_CALL(hipEventSynchronize(e), err);
  return PT_OK;
}

static int hip_event_elapsed(pt_gpu_t *gpu, void *a, void *b, float *ms,
                             pt_err_t *err) {
  (void)gpu;
  HIP_CALL(hipEventElapsedTime(ms, a, b), err);
  return PT_OK;
}

/* The HIP runtime exposes no clock or temperature reading (rocm-smi does). */
static void hip_clocks(pt_gpu_t *gpu, int *sm_mhz, int *temp_c) {
  (void)gpu;
  (void)sm_mhz;
  (void)temp_c;
}

const pt__gpu_ops_t pt__gpu_hip_ops = {
    .backend = PT_GPU_HIP,
    .count = hip_count,
    .props = hip_props,
    .compile = hip_compile,
    .compiler_version = hip_compiler_version,
    .targets = hip_targets,
    .open = hip_open,
    .close = hip_close,
    .module_load = hip_module_load,
    .module_unload = hip_module_unload,
    .kernel_get = hip_kernel_get,
    .kernel_attrs = hip_kernel_attrs,
    .occupancy = hip_occupancy,
    .smem_optin = hip_smem_optin,
    .launch = hip_launch,
    .mem_alloc = hip_alloc,
    .mem_free = hip_free,
    .htod = hip_htod,
    .dtoh = hip_dtoh,
    .dtod = hip_dtod,
    .memset8 = hip_memset8,
    .stream_create = hip_stream_create,
    .stream_destroy = hip_stream_destroy,
    .stream_sync = hip_stream_sync,
    .event_create = hip_event_create,
    .event_destroy = hip_event_destroy,
    .event_record = hip_event_record,
    .event_sync = hip_event_sync,
    .event_elapsed = hip_event_elapsed,
    .clocks = hip_clocks,
};
