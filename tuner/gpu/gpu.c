/* The GPU layer's backend-independent half: handle allocation, dispatch to
 * the backend's operation table, and helpers shared by the compile paths. */
#include "config.h"

#include "gpu_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const pt__gpu_ops_t *ops_for(pt_gpu_backend_t b) {
  switch (b) {
#ifdef PT_HAVE_CUDA
  case PT_GPU_CUDA: return &pt__gpu_cuda_ops;
#endif
#ifdef PT_HAVE_HIP
  case PT_GPU_HIP: return &pt__gpu_hip_ops;
#endif
  default: return NULL;
  }
}

static int need_ops(pt_gpu_backend_t b, const pt__gpu_ops_t **ops,
                    pt_err_t *err) {
  *ops = ops_for(b);
  if (*ops == NULL)
    return pt_err_set(err, PT_ENOTSUP, "this pipetune was built without the %s backend",
                      pt_gpu_backend_name(b));
  return PT_OK;
}

unsigned pt_gpu_backends_built(void) {
  unsigned mask = 0;
  if (ops_for(PT_GPU_CUDA)) mask |= 1u << PT_GPU_CUDA;
  if (ops_for(PT_GPU_HIP)) mask |= 1u << PT_GPU_HIP;
  return mask;
}

const char *pt_gpu_backend_name(pt_gpu_backend_t b) {
  switch (b) {
  case PT_GPU_CUDA: return "cuda";
  case PT_GPU_HIP: return "hip";
  }
  return "unknown";
}

int pt_gpu_backend_for_arch(const char *arch, pt_gpu_backend_t *out,
                            pt_err_t *err) {
  const pt__gpu_ops_t *ops;
  if (strncmp(arch, "sm_", 3) == 0 && arch[3] >= '0' && arch[3] <= '9')
    *out = PT_GPU_CUDA;
  else if (strncmp(arch, "gfx", 3) == 0 && arch[3] != '\0')
    *out = PT_GPU_HIP;
  else
    return pt_err_set(err, PT_EINVAL,
                      "unknown arch '%s' (expected sm_NN or gfxNNN)", arch);
  return need_ops(*out, &ops, err);
}

int pt_gpu_compile_targets(pt_gpu_backend_t b, char *buf, size_t len,
                           pt_err_t *err) {
  const pt__gpu_ops_t *ops;
  int rc = need_ops(b, &ops, err);
  return rc ? rc : ops->targets(buf, len, err);
}

/* Is name (up to a ':' feature suffix, "gfx90a:xnack-") in the list? */
static int listed(const char *list, const char *name) {
  size_t n = strcspn(name, ":");
  for (const char *p = list; *p != '\0';) {
    size_t m = strcspn(p, ",");
    if (m == n && strncmp(p, name, n) == 0) return 1;
    p += m;
    p += strspn(p, ", ");
  }
  return 0;
}

int pt_gpu_arch_check(const char *arch, pt_err_t *err) {
  pt_gpu_backend_t b;
  int rc = pt_gpu_backend_for_arch(arch, &b, err);
  char targets[2048], version[64] = "";
  if (rc == PT_OK) rc = pt_gpu_compile_targets(b, targets, sizeof targets, err);
  if (rc != PT_OK || listed(targets, arch)) return rc;
  pt_gpu_compiler_version(b, version, sizeof version, NULL);
  return pt_err_set(err, PT_EINVAL, "%s cannot compile for '%.64s' (it targets: %s)",
                    version, arch, targets);
}

int pt_gpu_count(pt_gpu_backend_t b, int *count, pt_err_t *err) {
  const pt__gpu_ops_t *ops;
  *count = 0;
  int rc = need_ops(b, &ops, err);
  return rc ? rc : ops->count(count, err);
}

int pt_gpu_get_props(pt_gpu_backend_t b, int ordinal, pt_gpu_props_t *out,
                     pt_err_t *err) {
  const pt__gpu_ops_t *ops;
  int rc = need_ops(b, &ops, err);
  if (rc) return rc;
  memset(out, 0, sizeof *out);
  out->backend = b;
  out->ordinal = ordinal;
  return ops->props(ordinal, out, err);
}

int pt_gpu_compile(const pt_gpu_compile_req_t *req, pt_gpu_code_t *out,
                   pt_err_t *err) {
  const pt__gpu_ops_t *ops;
  memset(out, 0, sizeof *out);
  out->regs = out->spill_bytes = out->smem_static = -1;
  int rc = need_ops(req->backend, &ops, err);
  if (rc == PT_OK) rc = pt_gpu_arch_check(req->arch, err);
  if (rc) return rc;
  double t0 = pt__gpu_now_ms();
  rc = ops->compile(req, out, err);
  out->compile_ms = pt__gpu_now_ms() - t0;
  if (out->log == NULL) out->log = calloc(1, 1);
  if (out->log == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  pt__gpu_parse_resource_log(out->log, out);
  return rc;
}

void pt_gpu_code_free(pt_gpu_code_t *code) {
  free(code->data);
  free(code->log);
  code->data = NULL;
  code->log = NULL;
  code->size = 0;
}

int pt_gpu_compiler_version(pt_gpu_backend_t b, char *buf, size_t len,
                            pt_err_t *err) {
  const pt__gpu_ops_t *ops;
  int rc = need_ops(b, &ops, err);
  return rc ? rc : ops->compiler_version(buf, len, err);
}

int pt_gpu_open(pt_gpu_backend_t b, int ordinal, pt_gpu_t **out,
                pt_err_t *err) {
  const pt__gpu_ops_t *ops;
  *out = NULL;
  int rc = need_ops(b, &ops, err);
  if (rc) return rc;
  pt_gpu_t *gpu = calloc(1, sizeof *gpu);
  if (gpu == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  gpu->ops = ops;
  gpu->props.backend = b;
  gpu->props.ordinal = ordinal;
  rc = ops->open(gpu, ordinal, err);
  if (rc == PT_OK) rc = ops->props(ordinal, &gpu->props, err);
  if (rc) {
    pt_gpu_close(gpu);
    return rc;
  }
  *out = gpu;
  return PT_OK;
}

int pt_gpu_first_backend(pt_gpu_backend_t *b, int *count, pt_err_t *err) {
  static const pt_gpu_backend_t order[] = {PT_GPU_CUDA, PT_GPU_HIP};
  char why[PT_ERRMSG_MAX] = "";
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    pt_err_t e;
    if (ops_for(order[i]) == NULL) continue;
    int rc = pt_gpu_count(order[i], count, &e);
    if (rc == PT_OK && *count > 0) {
      *b = order[i];
      return PT_OK;
    }
    size_t used = strlen(why);
    snprintf(why + used, sizeof why - used, "%s%s: %.400s", used ? "; " : "",
             pt_gpu_backend_name(order[i]), rc == PT_OK ? "no device" : e.msg);
  }
  *count = 0;
  return pt_err_set(err, PT_ENOGPU, "%s", why[0] ? why : "no gpu backend built");
}

int pt_gpu_open_any(int ordinal, pt_gpu_t **out, pt_err_t *err) {
  pt_gpu_backend_t b;
  int n = 0;
  *out = NULL;
  int rc = pt_gpu_first_backend(&b, &n, err);
  if (rc != PT_OK) return rc;
  if (ordinal < 0 || ordinal >= n)
    return pt_err_set(err, PT_ENOGPU, "no gpu %d (%s has %d)", ordinal,
                      pt_gpu_backend_name(b), n);
  return pt_gpu_open(b, ordinal, out, err);
}

void pt_gpu_close(pt_gpu_t *gpu) {
  if (gpu == NULL) return;
  gpu->ops->close(gpu);
  free(gpu);
}

const pt_gpu_props_t *pt_gpu_props(const pt_gpu_t *gpu) { return &gpu->props; }

int pt_gpu_module_load(pt_gpu_t *gpu, const void *code, size_t size,
                       pt_gpu_module_t **out, pt_err_t *err) {
  pt_gpu_module_t *m = calloc(1, sizeof *m);
  *out = NULL;
  if (m == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  m->gpu = gpu;
  int rc = gpu->ops->module_load(m, code, size, err);
  if (rc) {
    free(m);
    return rc;
  }
  *out = m;
  return PT_OK;
}

void pt_gpu_module_unload(pt_gpu_module_t *m) {
  if (m == NULL) return;
  while (m->kernels) {
    pt_gpu_kernel_t *k = m->kernels;
    m->kernels = k->next;
    free(k);
  }
  m->gpu->ops->module_unload(m);
  free(m);
}

int pt_gpu_kernel_get(pt_gpu_module_t *m, const char *name,
                      pt_gpu_kernel_t **out, pt_err_t *err) {
  pt_gpu_kernel_t *k = calloc(1, sizeof *k);
  *out = NULL;
  if (k == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  k->mod = m;
  int rc = m->gpu->ops->kernel_get(k, name, err);
  if (rc) {
    free(k);
    return rc;
  }
  k->next = m->kernels;
  m->kernels = k;
  *out = k;
  return PT_OK;
}

int pt_gpu_kernel_attrs(pt_gpu_kernel_t *k, pt_gpu_kernel_attrs_t *out,
                        pt_err_t *err) {
  return k->mod->gpu->ops->kernel_attrs(k, out, err);
}

static int raise_smem(pt_gpu_kernel_t *k, size_t smem, pt_err_t *err) {
  const pt_gpu_props_t *p = &k->mod->gpu->props;
  if (smem <= p->smem_per_block || smem <= k->smem_optin) return PT_OK;
  if (smem > p->smem_per_block_optin)
    return pt_err_set(err, PT_EINFEASIBLE,
                      "%zu bytes of dynamic shared memory exceed the device limit %zu",
                      smem, p->smem_per_block_optin);
  int rc = k->mod->gpu->ops->smem_optin(k, smem, err);
  if (rc == PT_OK) k->smem_optin = smem;
  return rc;
}

int pt_gpu_occupancy(pt_gpu_kernel_t *k, int block_threads, size_t smem_dyn,
                     int *blocks_per_sm, pt_err_t *err) {
  int rc = raise_smem(k, smem_dyn, err);
  return rc ? rc : k->mod->gpu->ops->occupancy(k, block_threads, smem_dyn,
                                               blocks_per_sm, err);
}

int pt_gpu_launch(pt_gpu_kernel_t *k, const unsigned grid[3],
                  const unsigned block[3], size_t smem_dyn,
                  pt_gpu_stream_t *stream, void **args, pt_err_t *err) {
  int rc = raise_smem(k, smem_dyn, err);
  return rc ? rc : k->mod->gpu->ops->launch(k, grid, block, smem_dyn,
                                            stream ? stream->handle : NULL,
                                            args, err);
}

int pt_gpu_malloc(pt_gpu_t *gpu, size_t bytes, pt_gpu_ptr_t *out,
                  pt_err_t *err) {
  return gpu->ops->mem_alloc(gpu, bytes, out, err);
}

void pt_gpu_free(pt_gpu_t *gpu, pt_gpu_ptr_t ptr) {
  if (ptr) gpu->ops->mem_free(gpu, ptr);
}

int pt_gpu_memcpy_htod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, const void *src,
                       size_t bytes, pt_err_t *err) {
  return gpu->ops->htod(gpu, dst, src, bytes, err);
}

int pt_gpu_memcpy_dtoh(pt_gpu_t *gpu, void *dst, pt_gpu_ptr_t src,
                       size_t bytes, pt_err_t *err) {
  return gpu->ops->dtoh(gpu, dst, src, bytes, err);
}

int pt_gpu_memcpy_dtod(pt_gpu_t *gpu, pt_gpu_ptr_t dst, pt_gpu_ptr_t src,
                       size_t bytes, pt_gpu_stream_t *stream, pt_err_t *err) {
  return gpu->ops->dtod(gpu, dst, src, bytes, stream ? stream->handle : NULL,
                        err);
}

int pt_gpu_memset(pt_gpu_t *gpu, pt_gpu_ptr_t dst, uint8_t byte, size_t bytes,
                  pt_gpu_stream_t *stream, pt_err_t *err) {
  return gpu->ops->memset8(gpu, dst, byte, bytes,
                           stream ? stream->handle : NULL, err);
}

int pt_gpu_stream_create(pt_gpu_t *gpu, pt_gpu_stream_t **out, pt_err_t *err) {
  pt_gpu_stream_t *s = calloc(1, sizeof *s);
  *out = NULL;
  if (s == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  s->gpu = gpu;
  int rc = gpu->ops->stream_create(gpu, &s->handle, err);
  if (rc) {
    free(s);
    return rc;
  }
  *out = s;
  return PT_OK;
}

void pt_gpu_stream_destroy(pt_gpu_stream_t *s) {
  if (s == NULL) return;
  s->gpu->ops->stream_destroy(s->gpu, s->handle);
  free(s);
}

int pt_gpu_stream_sync(pt_gpu_t *gpu, pt_gpu_stream_t *s, pt_err_t *err) {
  return gpu->ops->stream_sync(gpu, s ? s->handle : NULL, err);
}

int pt_gpu_event_create(pt_gpu_t *gpu, pt_gpu_event_t **out, pt_err_t *err) {
  pt_gpu_event_t *e = calloc(1, sizeof *e);
  *out = NULL;
  if (e == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  e->gpu = gpu;
  int rc = gpu->ops->event_create(gpu, &e->handle, err);
  if (rc) {
    free(e);
    return rc;
  }
  *out = e;
  return PT_OK;
}

void pt_gpu_event_destroy(pt_gpu_event_t *e) {
  if (e == NULL) return;
  e->gpu->ops->event_destroy(e->gpu, e->handle);
  free(e);
}

int pt_gpu_event_record(pt_gpu_event_t *e, pt_gpu_stream_t *s, pt_err_t *err) {
  return e->gpu->ops->event_record(e->gpu, e->handle, s ? s->handle : NULL,
                                   err);
}

int pt_gpu_event_sync(pt_gpu_event_t *e, pt_err_t *err) {
  return e->gpu->ops->event_sync(e->gpu, e->handle, err);
}

int pt_gpu_event_elapsed(pt_gpu_event_t *start, pt_gpu_event_t *stop,
                         float *ms, pt_err_t *err) {
  return start->gpu->ops->event_elapsed(start->gpu, start->handle,
                                        stop->handle, ms, err);
}

void pt_gpu_sample_clocks(pt_gpu_t *gpu, int *sm_mhz, int *temp_c) {
  *sm_mhz = -1;
  *temp_c = -1;
  gpu->ops->clocks(gpu, sm_mhz, temp_c);
}

double pt__gpu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *dup_str(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  if (s == NULL) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

char **pt__gpu_build_argv(const pt_gpu_compile_req_t *req,
                          const char *const *base, int nbase, int *n_out) {
  int n = nbase + req->ndefines + req->noptions;
  char **argv = calloc((size_t)n + 1, sizeof *argv);
  if (argv == NULL) return NULL;
  int k = 0;
  for (int i = 0; i < nbase; i++) argv[k++] = dup_str("", base[i]);
  for (int i = 0; i < req->ndefines; i++) argv[k++] = dup_str("-D", req->defines[i]);
  for (int i = 0; i < req->noptions; i++) argv[k++] = dup_str("", req->options[i]);
  for (int i = 0; i < n; i++)
    if (argv[i] == NULL) {
      pt__gpu_free_argv(argv, n);
      return NULL;
    }
  *n_out = n;
  return argv;
}

void pt__gpu_free_argv(char **argv, int n) {
  if (argv == NULL) return;
  for (int i = 0; i < n; i++) free(argv[i]);
  free(argv);
}

/* ptxas -v prints, per kernel: "Used 40 registers, used 1 barriers, 16384
 * bytes smem" and "0 bytes stack frame, 8 bytes spill stores, 8 bytes spill
 * loads". The largest figure over all kernels is kept. */
void pt__gpu_parse_resource_log(const char *log, pt_gpu_code_t *out) {
  for (const char *p = log; (p = strstr(p, "Used ")) != NULL; p++) {
    int regs;
    if (sscanf(p, "Used %d registers", &regs) == 1 && regs > out->regs)
      out->regs = regs;
    const char *s = strstr(p, "bytes smem");
    const char *nl = strchr(p, '\n');
    if (s && (nl == NULL || s < nl)) {
      const char *b = s;
      while (b > p && b[-1] == ' ') b--;
      while (b > p && b[-1] >= '0' && b[-1] <= '9') b--;
      int smem = atoi(b);
      if (smem > out->smem_static) out->smem_static = smem;
    }
  }
  for (const char *p = log; (p = strstr(p, "bytes spill stores")) != NULL; p++) {
    const char *b = p;
    while (b > log && b[-1] == ' ') b--;
    while (b > log && b[-1] >= '0' && b[-1] <= '9') b--;
    int st = atoi(b), ld = 0;
    const char *q = strstr(p, "spill stores, ");
    if (q) sscanf(q, "spill stores, %d bytes spill loads", &ld);
    if (st + ld > out->spill_bytes) out->spill_bytes = st + ld;
  }
}
