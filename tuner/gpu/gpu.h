/* The GPU layer: one small interface over two backends, CUDA (driver API +
 * NVRTC, gpu_cuda.c) and HIP (HIP runtime + hiprtc, gpu_hip.c).
 *
 * Compilation needs no device: pt_gpu_compile() turns a source string into a
 * code object (cubin for sm_*, HSA code object for gfx*). Everything else
 * works on an open device (pt_gpu_t). Device pointers are opaque 64-bit
 * values. Every call returns PT_OK or a negative PT_E* code and fills err.
 */
#ifndef PT_GPU_H
#define PT_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum {
  PT_GPU_CUDA = 1,
  PT_GPU_HIP = 2,
} pt_gpu_backend_t;

/* Bit mask of the backends this binary was built with (1 << backend). */
unsigned pt_gpu_backends_built(void);
const char *pt_gpu_backend_name(pt_gpu_backend_t b);  /* "cuda", "hip" */
/* The backend that compiles for an arch string: sm_* -> CUDA, gfx* -> HIP.
 * PT_EINVAL for anything else, PT_ENOTSUP if that backend was not built. */
int pt_gpu_backend_for_arch(const char *arch, pt_gpu_backend_t *out,
                            pt_err_t *err);

typedef struct pt_gpu_props_s {
  pt_gpu_backend_t backend;
  int ordinal;
  char name[256];
  char arch[32];            /* "sm_90", "gfx942" */
  char pci_bus_id[32];
  char driver[64];          /* driver / runtime version */
  int sm_count;             /* SMs or CUs */
  int warp_size;
  int max_threads_per_block;
  int max_threads_per_sm;
  int regs_per_block;
  int regs_per_sm;
  size_t smem_per_block;        /* default static+dynamic limit */
  size_t smem_per_block_optin;  /* with the opt-in attribute */
  size_t smem_per_sm;
  size_t l2_bytes;
  size_t global_mem;
  int clock_khz;            /* SM clock; 0 where unknown */
  int mem_clock_khz;
  int mem_bus_bits;
} pt_gpu_props_t;

/* Number of devices of a backend: PT_ENOGPU (count 0) when the driver or
 * runtime is absent or sees no device. */
int pt_gpu_count(pt_gpu_backend_t b, int *count, pt_err_t *err);
int pt_gpu_get_props(pt_gpu_backend_t b, int ordinal, pt_gpu_props_t *out,
                     pt_err_t *err);

/* ---- runtime compilation (no device needed) ---- */

typedef struct pt_gpu_compile_req_s {
  pt_gpu_backend_t backend;
  const char *arch;             /* "sm_90", "gfx90a" */
  const char *source;           /* NUL-terminated kernel source */
  const char *name;             /* file name shown in compiler messages */
  const char *const *headers;   /* optional include-able sources: contents */
  const char *const *header_names;  /* and their names (#include "name") */
  int nheaders;
  const char *const *defines;   /* "NAME=VALUE" or "NAME" */
  int ndefines;
  const char *const *options;   /* extra compiler options */
  int noptions;
} pt_gpu_compile_req_t;

typedef struct pt_gpu_code_s {
  void *data;          /* code object, malloc'd */
  size_t size;
  char *log;           /* compiler log, malloc'd, may be empty, never NULL */
  char compiler[64];   /* "nvrtc 13.0", "hiprtc 5.2" */
  double compile_ms;
  int regs;            /* registers per thread, -1 where not reported */
  int spill_bytes;     /* spill stores + loads bytes, -1 where not reported */
  int smem_static;     /* static shared memory bytes, -1 where not reported */
} pt_gpu_code_t;

/* Compiles req into out. On a compile error returns PT_ECOMPILE with the
 * compiler's log in err->msg (truncated) and in out->log (whole). The caller
 * frees out with pt_gpu_code_free() in every case. */
int pt_gpu_compile(const pt_gpu_compile_req_t *req, pt_gpu_code_t *out,
                   pt_err_t *err);
void pt_gpu_code_free(pt_gpu_code_t *code);
/* Compiler name and version of a backend, e.g. "nvrtc 13.0". */
/* The archs the installed compiler of the backend can target ("sm_90,
 * sm_90a, ..." from NVRTC; "gfx90a, ..." from the comgr behind hiprtc),
 * ", "-separated, in buf. */
int pt_gpu_compile_targets(pt_gpu_backend_t b, char *buf, size_t len,
                           pt_err_t *err);
/* PT_OK when some built backend's installed compiler can target arch;
 * else PT_EINVAL naming the archs it can (Debian's hiprtc 5.2 aborts the
 * process on an arch its LLVM lacks, e.g. gfx942: ask before compiling). */
int pt_gpu_arch_check(const char *arch, pt_err_t *err);

int pt_gpu_compiler_version(pt_gpu_backend_t b, char *buf, size_t len,
                            pt_err_t *err);

/* ---- devices, modules, launches ---- */

typedef struct pt_gpu_s pt_gpu_t;
typedef struct pt_gpu_module_s pt_gpu_module_t;
typedef struct pt_gpu_kernel_s pt_gpu_kernel_t;   /* owned by its module */
typedef struct pt_gpu_stream_s pt_gpu_stream_t;
typedef struct pt_gpu_event_s pt_gpu_event_t;
typedef uint64_t pt_gpu_ptr_t;

int pt_gpu_open(pt_gpu_backend_t b, int ordinal, pt_gpu_t **out, pt_err_t *err);
/* The backend whose devices pipetune uses, and its device count: the first
 * built backend, CUDA then HIP, whose driver sees a device. PT_ENOGPU when
 * none does, err listing each backend's reason ("cuda: ...; hip: ...", or
 * "no gpu backend built"). */
int pt_gpu_first_backend(pt_gpu_backend_t *b, int *count, pt_err_t *err);
/* Opens device `ordinal` of pt_gpu_first_backend's backend: how every
 * program finds its GPU. PT_ENOGPU as above, or naming the backend and its
 * device count when it has no device `ordinal`. */
int pt_gpu_open_any(int ordinal, pt_gpu_t **out, pt_err_t *err);
void pt_gpu_close(pt_gpu_t *gpu);
const pt_gpu_props_t *pt_gpu_props(const pt_gpu_t *gpu);

int pt_gpu_module_load(pt_gpu_t *gpu, const void *code, size_t size,
                       pt_gpu_module_t **out, pt_err_t *err);
void pt_gpu_module_unload(pt_gpu_module_t *mod);
int pt_gpu_kernel_get(pt_gpu_module_t *mod, const char *name,
                      pt_gpu_kernel_t **out, pt_err_t *err);

typedef struct pt_gpu_kernel_attrs_s {
  int regs;
  int smem_static;
  int local_bytes;       /* per-thread local memory (spills, stack) */
  int max_threads;
} pt_gpu_kernel_attrs_t;
int pt_gpu_kernel_attrs(pt_gpu_kernel_t *k, pt_gpu_kernel_attrs_t *out,
                        pt_err_t *err);
/* Resident blocks per SM for a block size and dynamic shared memory. */
int pt_gpu_occupancy(pt_gpu_kernel_t *k, int block_threads, size_t smem_dyn,
                     int *blocks_per_sm, pt_err_t *err);

/* Launches k; args is an array of pointers to each argument's value, as in
 * cuLaunchKernel. Dynamic shared memory above the default limit is opted in. */
int pt_gpu_launch(pt_gpu_kernel_t *k, const unsigned grid[3],
                  const unsigned block[3], size_t smem_dyn,
                  pt_gpu_stream_t *stream, void **args, pt_err_t *err);

int pt_gpu_malloc(pt_gpu_t *gpu, size_t bytes, pt_gpu_ptr_t *out, pt_err_t *err);
void pt_gpu_free(pt_gpu_t *gpu, pt_gpu_ptr_t ptr);
int pt_gpu_memcpy_htod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, const void *src,
                       size_t bytes, pt_err_t *err);
int pt_gpu_memcpy_dtoh(pt_gpu_t *gpu, void *dst, pt_gpu_ptr_t src,
                       size_t bytes, pt_err_t *err);
int pt_gpu_memcpy_dtod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, pt_gpu_ptr_t src,
                       size_t bytes, pt_gpu_stream_t *stream, pt_err_t *err);
int pt_gpu_memset(pt_gpu_t *gpu, pt_gpu_ptr_t dst, uint8_t byte, size_t bytes,
                  pt_gpu_stream_t *stream, pt_err_t *err);

/* stream NULL means the default stream. */
int pt_gpu_stream_create(pt_gpu_t *gpu, pt_gpu_stream_t **out, pt_err_t *err);
void pt_gpu_stream_destroy(pt_gpu_stream_t *s);
int pt_gpu_stream_sync(pt_gpu_t *gpu, pt_gpu_stream_t *s, pt_err_t *err);

int pt_gpu_event_create(pt_gpu_t *gpu, pt_gpu_event_t **out, pt_err_t *err);
void pt_gpu_event_destroy(pt_gpu_event_t *e);
int pt_gpu_event_record(pt_gpu_event_t *e, pt_gpu_stream_t *s, pt_err_t *err);
int pt_gpu_event_sync(pt_gpu_event_t *e, pt_err_t *err);
/* Milliseconds between two recorded, completed events. */
int pt_gpu_event_elapsed(pt_gpu_event_t *start, pt_gpu_event_t *stop,
                         float *ms, pt_err_t *err);

/* Current SM clock (MHz) and temperature (C) where the backend exposes them;
 * -1 otherwise. Never fails. */
void pt_gpu_sample_clocks(pt_gpu_t *gpu, int *sm_mhz, int *temp_c);

#endif
