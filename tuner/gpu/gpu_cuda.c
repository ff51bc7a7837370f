/* CUDA backend: NVRTC for compilation (linked; works with no GPU) and the
 * CUDA driver API for everything else. The driver (libcuda.so.1) is loaded
 * with dlopen so that the same binary runs, and compiles kernels, on machines
 * without an NVIDIA driver; NVML is loaded the same way for clocks. */
#include "config.h"

#include "gpu_impl.h"

#include <cuda.h>
#include <dlfcn.h>
#include <nvrtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cuda.h maps many names to versioned symbols (cuMemAlloc -> cuMemAlloc_v2);
 * stringizing after expansion looks up the same symbol the header means. */
#define PT__STR_(x) #x
#define PT__STR(x) PT__STR_(x)

#define CUDA_API(XX)                                                        \
  XX(cuInit) XX(cuDriverGetVersion) XX(cuDeviceGetCount) XX(cuDeviceGet)    \
  XX(cuDeviceGetName) XX(cuDeviceGetAttribute) XX(cuDeviceTotalMem)         \
  XX(cuDeviceGetPCIBusId) XX(cuDevicePrimaryCtxRetain)                      \
  XX(cuDevicePrimaryCtxRelease) XX(cuCtxSetCurrent) XX(cuCtxSynchronize)    \
  XX(cuModuleLoadData) XX(cuModuleUnload) XX(cuModuleGetFunction)           \
  XX(cuFuncGetAttribute) XX(cuFuncSetAttribute)                             \
  XX(cuOccupancyMaxActiveBlocksPerMultiprocessor) XX(cuLaunchKernel)        \
  XX(cuMemAlloc) XX(cuMemFree) XX(cuMemcpyHtoD) XX(cuMemcpyDtoH)            \
  XX(cuMemcpyDtoDAsync) XX(cuMemsetD8Async) XX(cuStreamCreate)              \
  XX(cuStreamDestroy) XX(cuStreamSynchronize) XX(cuEventCreate)             \
  XX(cuEventDestroy) XX(cuEventRecord) XX(cuEventSynchronize)               \
  XX(cuEventElapsedTime) XX(cuGetErrorString)

typedef struct cuda_api_s {
  void *lib;
#define PT__FIELD(name) __typeof__(name) *name;
  CUDA_API(PT__FIELD)
#undef PT__FIELD
} cuda_api_t;

/* NVML is optional: declared here because its header is not in the toolkit. */
typedef int (*nvml_init_fn)(void);
typedef int (*nvml_by_pci_fn)(const char *, void **);
typedef int (*nvml_clock_fn)(void *, int, unsigned *);
typedef int (*nvml_temp_fn)(void *, int, unsigned *);

typedef struct cuda_state_s {
  cuda_api_t api;
  CUdevice dev;
  CUcontext ctx;
  void *nvml_lib;
  void *nvml_dev;
  nvml_clock_fn nvml_clock;
  nvml_temp_fn nvml_temp;
} cuda_state_t;

static void api_unload(cuda_api_t *api) {
  if (api->lib) dlclose(api->lib);
  memset(api, 0, sizeof *api);
}

static int api_load(cuda_api_t *api, pt_err_t *err) {
  memset(api, 0, sizeof *api);
  api->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (api->lib == NULL)
    return pt_err_set(err, PT_ENOGPU,
                      "no NVIDIA driver found (libcuda.so.1 could not be loaded)");
#define PT__LOAD(name)                                                      \
  if ((api->name = (__typeof__(name) *)dlsym(api->lib, PT__STR(name))) == NULL) { \
    api_unload(api);                                                        \
    return pt_err_set(err, PT_EGPU, "NVIDIA driver lacks '%s'", PT__STR(name)); \
  }
  CUDA_API(PT__LOAD)
#undef PT__LOAD
  CUresult r = api->cuInit(0);
  if (r != CUDA_SUCCESS) {
    api_unload(api);
    return pt_err_set(err, PT_ENOGPU, "cuInit failed (error %d): no usable NVIDIA GPU", (int)r);
  }
  return PT_OK;
}

static int cu_fail(const cuda_api_t *api, CUresult r, const char *what,
                   pt_err_t *err) {
  const char *s = NULL;
  if (api->cuGetErrorString) api->cuGetErrorString(r, &s);
  return pt_err_set(err, PT_EGPU, "%s failed: %s (CUDA error %d)", what,
                    s ? s : "unknown", (int)r);
}

#define CU_CALL(api, call, err)                                            \
  do {                                                                      \
    CUresult r_ = (api)->call;                                              \
    if (r_ != CUDA_SUCCESS) return cu_fail((api), r_, #call, (err));        \
  } while (0)

static cuda_state_t *state(pt_gpu_t *gpu) { return gpu->backend; }
static cuda_api_t *api_of(pt_gpu_t *gpu) { return &state(gpu)->api; }

static int cuda_count(int *count, pt_err_t *err) {
  cuda_api_t api;
  int rc = api_load(&api, err);
  if (rc) return rc;
  CUresult r = api.cuDeviceGetCount(count);
  api_unload(&api);
  if (r != CUDA_SUCCESS || *count == 0) {
    *count = 0;
    return pt_err_set(err, PT_ENOGPU, "the NVIDIA driver sees no GPU");
  }
  return PT_OK;
}

static int attr(cuda_api_t *api, CUdevice dev, CUdevice_attribute a) {
  int v = 0;
  if (api->cuDeviceGetAttribute(&v, a, dev) != CUDA_SUCCESS) return 0;
  return v;
}

static int fill_props(cuda_api_t *api, int ordinal, pt_gpu_props_t *p,
                      pt_err_t *err) {
  CUdevice dev;
  size_t mem = 0;
  int drv = 0;
  CU_CALL(api, cuDeviceGet(&dev, ordinal), err);
  CU_CALL(api, cuDeviceGetName(p->name, (int)sizeof p->name, dev), err);
  CU_CALL(api, cuDeviceTotalMem(&mem, dev), err);
  api->cuDeviceGetPCIBusId(p->pci_bus_id, (int)sizeof p->pci_bus_id, dev);
  api->cuDriverGetVersion(&drv);
  snprintf(p->driver, sizeof p->driver, "cuda %d.%d", drv / 1000, drv % 1000 / 10);
  snprintf(p->arch, sizeof p->arch, "sm_%d%d",
           attr(api, dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
           attr(api, dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
  p->global_mem = mem;
  p->sm_count = attr(api, dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  p->warp_size = attr(api, dev, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
  p->max_threads_per_block = attr(api, dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
  p->max_threads_per_sm = attr(api, dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR);
  p->regs_per_block = attr(api, dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
  p->regs_per_sm = attr(api, dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR);
  p->smem_per_block = (size_t)attr(api, dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
  p->smem_per_block_optin = (size_t)attr(api, dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  p->smem_per_sm = (size_t)attr(api, dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
  p->l2_bytes = (size_t)attr(api, dev, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
  p->clock_khz = attr(api, dev, CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
  p->mem_clock_khz = attr(api, dev, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
  p->mem_bus_bits = attr(api, dev, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
  return PT_OK;
}

static int cuda_props(int ordinal, pt_gpu_props_t *out, pt_err_t *err) {
  cuda_api_t api;
  int rc = api_load(&api, err);
  if (rc) return rc;
  rc = fill_props(&api, ordinal, out, err);
  api_unload(&api);
  return rc;
}

static int nvrtc_fail(nvrtcResult r, const char *what, pt_err_t *err) {
  return pt_err_set(err, PT_ECOMPILE, "%s failed: %s", what, nvrtcGetErrorString(r));
}

static char *program_log(nvrtcProgram prog) {
  size_t n = 0;
  if (nvrtcGetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) n = 1;
  char *log = calloc(1, n + 1);
  if (log && n > 1) nvrtcGetProgramLog(prog, log);
  return log;
}

static int take_cubin(nvrtcProgram prog, pt_gpu_code_t *out, pt_err_t *err) {
  size_t n = 0;
  nvrtcResult r = nvrtcGetCUBINSize(prog, &n);
  if (r != NVRTC_SUCCESS || n == 0)
    return pt_err_set(err, PT_ECOMPILE,
                      "NVRTC produced no cubin (is the arch a real sm_NN target?)");
  out->data = malloc(n);
  if (out->data == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  r = nvrtcGetCUBIN(prog, out->data);
  if (r != NVRTC_SUCCESS) return nvrtc_fail(r, "nvrtcGetCUBIN", err);
  out->size = n;
  return PT_OK;
}

static int cuda_compile(const pt_gpu_compile_req_t *req, pt_gpu_code_t *out,
                        pt_err_t *err) {
  char archopt[64];
  snprintf(archopt, sizeof archopt, "--gpu-architecture=%s", req->arch);
  const char *base[] = {archopt, "-std=c++17", "--ptxas-options=-v",
                        "-DPT_BACKEND_CUDA=1"};
  int argc = 0;
  char **argv = pt__gpu_build_argv(req, base, 4, &argc);
  if (argv == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  pt_gpu_compiler_version(PT_GPU_CUDA, out->compiler, sizeof out->compiler, NULL);
  nvrtcProgram prog;
  nvrtcResult r = nvrtcCreateProgram(&prog, req->source,
                                     req->name ? req->name : "kernel.cu",
                                     req->nheaders, req->headers,
                                     req->header_names);
  if (r != NVRTC_SUCCESS) {
    pt__gpu_free_argv(argv, argc);
    return nvrtc_fail(r, "nvrtcCreateProgram", err);
  }
  r = nvrtcCompileProgram(prog, argc, (const char *const *)argv);
  pt__gpu_free_argv(argv, argc);
  out->log = program_log(prog);
  int rc = PT_OK;
  if (r != NVRTC_SUCCESS)
    rc = pt_err_set(err, PT_ECOMPILE, "nvrtc: compiling '%s' for %s failed: %s",
                    req->name ? req->name : "kernel.cu", req->arch,
                    out->log ? out->log : nvrtcGetErrorString(r));
  else
    rc = take_cubin(prog, out, err);
  nvrtcDestroyProgram(&prog);
  return rc;
}

/* NVRTC's list of real archs; the arch-specific "a" targets (wgmma,
 * setmaxnreg) exist from sm_90 on. */
static int cuda_targets(char *buf, size_t len, pt_err_t *err) {
  int n = 0;
  nvrtcResult r = nvrtcGetNumSupportedArchs(&n);
  if (r != NVRTC_SUCCESS) return nvrtc_fail(r, "nvrtcGetNumSupportedArchs", err);
  int *archs = calloc((size_t)n + 1, sizeof *archs);
  if (archs == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  r = nvrtcGetSupportedArchs(archs);
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; r == NVRTC_SUCCESS && i < n && used < len; i++) {
    used += (size_t)snprintf(buf + used, len - used, "%ssm_%d", used ? ", " : "", archs[i]);
    if (archs[i] >= 90 && used < len)
      used += (size_t)snprintf(buf + used, len - used, ", sm_%da", archs[i]);
  }
  free(archs);
  return r == NVRTC_SUCCESS ? PT_OK : nvrtc_fail(r, "nvrtcGetSupportedArchs", err);
}

static int cuda_compiler_version(char *buf, size_t len, pt_err_t *err) {
  int maj = 0, min = 0;
  nvrtcResult r = nvrtcVersion(&maj, &min);
  if (r != NVRTC_SUCCESS) return nvrtc_fail(r, "nvrtcVersion", err);
  snprintf(buf, len, "nvrtc %d.%d", maj, min);
  return PT_OK;
}

static void nvml_open(cuda_state_t *st, const char *pci_bus_id) {
  st->nvml_lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (st->nvml_lib == NULL) return;
  nvml_init_fn init = (nvml_init_fn)dlsym(st->nvml_lib, "nvmlInit_v2");
  nvml_by_pci_fn by_pci =
      (nvml_by_pci_fn)dlsym(st->nvml_lib, "nvmlDeviceGetHandleByPciBusId_v2");
  st->nvml_clock = (nvml_clock_fn)dlsym(st->nvml_lib, "nvmlDeviceGetClockInfo");
  st->nvml_temp = (nvml_temp_fn)dlsym(st->nvml_lib, "nvmlDeviceGetTemperature");
  if (!init || !by_pci || !st->nvml_clock || !st->nvml_temp || init() != 0 ||
      by_pci(pci_bus_id, &st->nvml_dev) != 0)
    st->nvml_dev = NULL;
}

static void cuda_close(pt_gpu_t *gpu) {
  cuda_state_t *st = state(gpu);
  if (st == NULL) return;
  if (st->ctx) st->api.cuDevicePrimaryCtxRelease(st->dev);
  if (st->nvml_lib) dlclose(st->nvml_lib);
  api_unload(&st->api);
  free(st);
  gpu->backend = NULL;
}

static int cuda_open(pt_gpu_t *gpu, int ordinal, pt_err_t *err) {
  cuda_state_t *st = calloc(1, sizeof *st);
  if (st == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  gpu->backend = st;
  int rc = api_load(&st->api, err);
  if (rc) return rc;
  CU_CALL(&st->api, cuDeviceGet(&st->dev, ordinal), err);
  CU_CALL(&st->api, cuDevicePrimaryCtxRetain(&st->ctx, st->dev), err);
  CU_CALL(&st->api, cuCtxSetCurrent(st->ctx), err);
  char bus[32] = "";
  st->api.cuDeviceGetPCIBusId(bus, (int)sizeof bus, st->dev);
  nvml_open(st, bus);
  return PT_OK;
}

static int cuda_module_load(pt_gpu_module_t *m, const void *code, size_t size,
                            pt_err_t *err) {
  (void)size;
  CUmodule mod;
  CU_CALL(api_of(m->gpu), cuModuleLoadData(&mod, code), err);
  m->handle = mod;
  return PT_OK;
}

static void cuda_module_unload(pt_gpu_module_t *m) {
  api_of(m->gpu)->cuModuleUnload((CUmodule)m->handle);
}

static int cuda_kernel_get(pt_gpu_kernel_t *k, const char *name, pt_err_t *err) {
  CUfunction f;
  CUresult r = api_of(k->mod->gpu)->cuModuleGetFunction(&f, (CUmodule)k->mod->handle, name);
  if (r == CUDA_ERROR_NOT_FOUND)
    return pt_err_set(err, PT_ENOENT, "no kernel named '%s' in the module", name);
  if (r != CUDA_SUCCESS) return cu_fail(api_of(k->mod->gpu), r, "cuModuleGetFunction", err);
  k->handle = f;
  return PT_OK;
}

static int cuda_kernel_attrs(pt_gpu_kernel_t *k, pt_gpu_kernel_attrs_t *out,
                             pt_err_t *err) {
  cuda_api_t *api = api_of(k->mod->gpu);
  CUfunction f = k->handle;
  CU_CALL(api, cuFuncGetAttribute(&out->regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f), err);
  CU_CALL(api, cuFuncGetAttribute(&out->smem_static, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f), err);
  CU_CALL(api, cuFuncGetAttribute(&out->local_bytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, f), err);
  CU_CALL(api, cuFuncGetAttribute(&out->max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f), err);
  return PT_OK;
}

static int cuda_occupancy(pt_gpu_kernel_t *k, int threads, size_t smem,
                          int *blocks, pt_err_t *err) {
  CU_CALL(api_of(k->mod->gpu),
          cuOccupancyMaxActiveBlocksPerMultiprocessor(blocks, k->handle, threads, smem), err);
  return PT_OK;
}

static int cuda_smem_optin(pt_gpu_kernel_t *k, size_t smem, pt_err_t *err) {
  CU_CALL(api_of(k->mod->gpu),
          cuFuncSetAttribute(k->handle, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem),
          err);
  return PT_OK;
}

static int cuda_launch(pt_gpu_kernel_t *k, const unsigned grid[3],
                       const unsigned block[3], size_t smem, void *stream,
                       void **args, pt_err_t *err) {
  CU_CALL(api_of(k->mod->gpu),
          cuLaunchKernel(k->handle, grid[0], grid[1], grid[2], block[0], block[1],
                         block[2], (unsigned)smem, stream, args, NULL),
          err);
  return PT_OK;
}

static int cuda_alloc(pt_gpu_t *gpu, size_t bytes, pt_gpu_ptr_t *out, pt_err_t *err) {
  CUdeviceptr p;
  CU_CALL(api_of(gpu), cuMemAlloc(&p, bytes), err);
  *out = (pt_gpu_ptr_t)p;
  return PT_OK;
}

static void cuda_free(pt_gpu_t *gpu, pt_gpu_ptr_t ptr) {
  api_of(gpu)->cuMemFree((CUdeviceptr)ptr);
}

static int cuda_htod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, const void *src,
                     size_t bytes, pt_err_t *err) {
  CU_CALL(api_of(gpu), cuMemcpyHtoD((CUdeviceptr)dst, src, bytes), err);
  return PT_OK;
}

static int cuda_dtoh(pt_gpu_t *gpu, void *dst, pt_gpu_ptr_t src, size_t bytes,
                     pt_err_t *err) {
  CU_CALL(api_of(gpu), cuMemcpyDtoH(dst, (CUdeviceptr)src, bytes), err);
  return PT_OK;
}

static int cuda_dtod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, pt_gpu_ptr_t src,
                     size_t bytes, void *stream, pt_err_t *err) {
  CU_CALL(api_of(gpu), cuMemcpyDtoDAsync((CUdeviceptr)dst, (CUdeviceptr)src, bytes, stream), err);
  return PT_OK;
}

static int cuda_memset8(pt_gpu_t *gpu, pt_gpu_ptr_t dst, uint8_t byte,
                        size_t bytes, void *stream, pt_err_t *err) {
  CU_CALL(api_of(gpu), cuMemsetD8Async((CUdeviceptr)dst, byte, bytes, stream), err);
  return PT_OK;
}

static int cuda_stream_create(pt_gpu_t *gpu, void **out, pt_err_t *err) {
  CUstream s;
  CU_CALL(api_of(gpu), cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), err);
  *out = s;
  return PT_OK;
}

static void cuda_stream_destroy(pt_gpu_t *gpu, void *s) {
  api_of(gpu)->cuStreamDestroy(s);
}

static int cuda_stream_sync(pt_gpu_t *gpu, void *s, pt_err_t *err) {
  if (s == NULL) CU_CALL(api_of(gpu), cuCtxSynchronize(), err);
  else CU_CALL(api_of(gpu), cuStreamSynchronize(s), err);
  return PT_OK;
}

static int cuda_event_create(pt_gpu_t *gpu, void **out, pt_err_t *err) {
  CUevent e;
  CU_CALL(api_of(gpu), cuEventCreate(&e, CU_EVENT_DEFAULT), err);
  *out = e;
  return PT_OK;
}

static void cuda_event_destroy(pt_gpu_t *gpu, void *e) {
  api_of(gpu)->cuEventDestroy(e);
}

static int cuda_event_record(pt_gpu_t *gpu, void *e, void *s, pt_err_t *err) {
  CU_CALL(api_of(gpu), cuEventRecord(e, s), err);
  return PT_OK;
}

static int cuda_event_sync(pt_gpu_t *gpu, void *e, pt_err_t *err) {
  CU_CALL(api_of(gpu), cuEventSynchronize(e), err);
  return PT_OK;
}

static int cuda_event_elapsed(pt_gpu_t *gpu, void *a, void *b, float *ms,
                              pt_err_t *err) {
  CU_CALL(api_of(gpu), cuEventElapsedTime(ms, a, b), err);
  return PT_OK;
}

static void cuda_clocks(pt_gpu_t *gpu, int *sm_mhz, int *temp_c) {
  cuda_state_t *st = state(gpu);
  unsigned v;
  if (st->nvml_dev == NULL) return;
  if (st->nvml_clock(st->nvml_dev, 1 /* NVML_CLOCK_SM */, &v) == 0) *sm_mhz = (int)v;
  if (st->nvml_temp(st->nvml_dev, 0 /* NVML_TEMPERATURE_GPU */, &v) == 0) *temp_c = (int)v;
}

const pt__gpu_ops_t pt__gpu_cuda_ops = {
    .backend = PT_GPU_CUDA,
    .count = cuda_count,
    .props = cuda_props,
    .compile = cuda_compile,
    .compiler_version = cuda_compiler_version,
    .targets = cuda_targets,
    .open = cuda_open,
    .close = cuda_close,
    .module_load = cuda_module_load,
    .module_unload = cuda_module_unload,
    .kernel_get = cuda_kernel_get,
    .kernel_attrs = cuda_kernel_attrs,
    .occupancy = cuda_occupancy,
    .smem_optin = cuda_smem_optin,
    .launch = cuda_launch,
    .mem_alloc = cuda_alloc,
    .mem_free = cuda_free,
    .htod = cuda_htod,
    .dtoh = cuda_dtoh,
    .dtod = cuda_dtod,
    .memset8 = cuda_memset8,
    .stream_create = cuda_stream_create,
    .stream_destroy = cuda_stream_destroy,
    .stream_sync = cuda_stream_sync,
    .event_create = cuda_event_create,
    .event_destroy = cuda_event_destroy,
    .event_record = cuda_event_record,
    .event_sync = cuda_event_sync,
    .event_elapsed = cuda_event_elapsed,
    .clocks = cuda_clocks,
};
