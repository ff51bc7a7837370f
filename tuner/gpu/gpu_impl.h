/* Internal to the GPU layer: the objects behind gpu.h's opaque handles and
 * the table of operations each backend (gpu_cuda.c, gpu_hip.c) provides.
 * gpu.c allocates the objects and dispatches; a backend fills `handle`s. */
#ifndef PT_GPU_IMPL_H
#define PT_GPU_IMPL_H

#include "gpu.h"

typedef struct pt__gpu_ops_s pt__gpu_ops_t;

struct pt_gpu_s {
  const pt__gpu_ops_t *ops;
  pt_gpu_props_t props;
  void *backend;  /* backend state: loaded driver API, context */
};

struct pt_gpu_module_s {
  pt_gpu_t *gpu;
  void *handle;
  pt_gpu_kernel_t *kernels;  /* looked-up kernels, freed with the module */
};

struct pt_gpu_kernel_s {
  pt_gpu_module_t *mod;
  void *handle;
  size_t smem_optin;  /* dynamic shared memory limit already raised to */
  pt_gpu_kernel_t *next;
};

struct pt_gpu_stream_s {
  pt_gpu_t *gpu;
  void *handle;
};

struct pt_gpu_event_s {
  pt_gpu_t *gpu;
  void *handle;
};

struct pt__gpu_ops_s {
  pt_gpu_backend_t backend;
  int (*count)(int *count, pt_err_t *err);
  int (*props)(int ordinal, pt_gpu_props_t *out, pt_err_t *err);
  int (*compile)(const pt_gpu_compile_req_t *req, pt_gpu_code_t *out,
                 pt_err_t *err);
  int (*compiler_version)(char *buf, size_t len, pt_err_t *err);
  /* The archs the installed compiler can target, ", "-separated. */
  int (*targets)(char *buf, size_t len, pt_err_t *err);
  int (*open)(pt_gpu_t *gpu, int ordinal, pt_err_t *err);
  void (*close)(pt_gpu_t *gpu);
  int (*module_load)(pt_gpu_module_t *m, const void *code, size_t size,
                     pt_err_t *err);
  void (*module_unload)(pt_gpu_module_t *m);
  int (*kernel_get)(pt_gpu_kernel_t *k, const char *name, pt_err_t *err);
  int (*kernel_attrs)(pt_gpu_kernel_t *k, pt_gpu_kernel_attrs_t *out,
                      pt_err_t *err);
  int (*occupancy)(pt_gpu_kernel_t *k, int threads, size_t smem, int *blocks,
                   pt_err_t *err);
  int (*smem_optin)(pt_gpu_kernel_t *k, size_t smem, pt_err_t *err);
  int (*launch)(pt_gpu_kernel_t *k, const unsigned grid[3],
                const unsigned block[3], size_t smem, void *stream,
                void **args, pt_err_t *err);
  int (*mem_alloc)(pt_gpu_t *gpu, size_t bytes, pt_gpu_ptr_t *out,
                   pt_err_t *err);
  void (*mem_free)(pt_gpu_t *gpu, pt_gpu_ptr_t ptr);
  int (*htod)(pt_gpu_t *gpu, pt_gpu_ptr_t dst, const void *src, size_t bytes,
              pt_err_t *err);
  int (*dtoh)(pt_gpu_t *gpu, void *dst, pt_gpu_ptr_t src, size_t bytes,
              pt_err_t *err);
  int (*dtod)(pt_gpu_t *gpu, pt_gpu_ptr_t dst, pt_gpu_ptr_t src, size_t bytes,
              void *stream, pt_err_t *err);
  int (*memset8)(pt_gpu_t *gpu, pt_gpu_ptr_t dst, uint8_t byte, size_t bytes,
                 void *stream, pt_err_t *err);
  int (*stream_create)(pt_gpu_t *gpu, void **out, pt_err_t *err);
  void (*stream_destroy)(pt_gpu_t *gpu, void *stream);
  int (*stream_sync)(pt_gpu_t *gpu, void *stream, pt_err_t *err);
  int (*event_create)(pt_gpu_t *gpu, void **out, pt_err_t *err);
  void (*event_destroy)(pt_gpu_t *gpu, void *event);
  int (*event_record)(pt_gpu_t *gpu, void *event, void *stream, pt_err_t *err);
  int (*event_sync)(pt_gpu_t *gpu, void *event, pt_err_t *err);
  int (*event_elapsed)(pt_gpu_t *gpu, void *start, void *stop, float *ms,
                       pt_err_t *err);
  void (*clocks)(pt_gpu_t *gpu, int *sm_mhz, int *temp_c);
};

#ifdef PT_HAVE_CUDA
extern const pt__gpu_ops_t pt__gpu_cuda_ops;
#endif
#ifdef PT_HAVE_HIP
extern const pt__gpu_ops_t pt__gpu_hip_ops;
#endif

/* Shared by both backends' compile paths. */
double pt__gpu_now_ms(void);
/* Joins "-D" + each define and the extra options into one argv-style array
 * (malloc'd; strings malloc'd too); free with pt__gpu_free_argv. */
char **pt__gpu_build_argv(const pt_gpu_compile_req_t *req,
                          const char *const *base, int nbase, int *n_out);
void pt__gpu_free_argv(char **argv, int n);
/* Reads "registers", "spill" and "smem" figures from a ptxas -v style log. */
void pt__gpu_parse_resource_log(const char *log, pt_gpu_code_t *out);

#endif
