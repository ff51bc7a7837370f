/* Embedded kernel sources and the compile requests of stage variants. The
 * geometry below is the host mirror of pt_tile.cuh: change both together. */
#include "kernels.h"

#include <stdio.h>
#include <string.h>

/* Written by build-aux/embed.sh into kernels_embed.c. */
extern const char *const pt__kernels_names[];
extern const char *const pt__kernels_texts[];
extern const int pt__kernels_count;

int pt_kernels_count(void) { return pt__kernels_count; }

const char *pt_kernels_name(int i)
{
  return i >= 0 && i < pt__kernels_count ? pt__kernels_names[i] : NULL;
}

const char *pt_kernels_text(int i)
{
  return i >= 0 && i < pt__kernels_count ? pt__kernels_texts[i] : NULL;
}

const char *pt_kernels_find(const char *name)
{
  for (int i = 0; i < pt__kernels_count; i++)
    if (strcmp(pt__kernels_names[i], name) == 0)
      return pt__kernels_texts[i];
  return NULL;
}

const char *pt_kernels_entry(pt_stage_t stage)
{
  return stage == PT_STAGE_GEMM1 ? "pt_moe_gemm1" : "pt_moe_gemm2";
}

static int is_header(const char *name)
{
  size_t n = strlen(name);
  return n > 3 && strcmp(name + n - 3, ".cu") != 0;
}

/* The embedded headers (every file that is not a translation unit). */
static int header_list(const char **names, const char **texts)
{
  int n = 0;
  for (int i = 0; i < pt__kernels_count && n < PT_KERNELS_HEADERS_MAX; i++)
    if (is_header(pt__kernels_names[i])) {
      names[n] = pt__kernels_names[i];
      texts[n] = pt__kernels_texts[i];
      n++;
    }
  return n;
}

static void add_define(pt_kernels_job_t *job, const char *name, int value)
{
  if (job->ndefines >= PT_KERNELS_DEFINES_MAX)
    return;
  snprintf(job->text[job->ndefines], sizeof job->text[0], "%s=%d", name, value);
  job->defines[job->ndefines] = job->text[job->ndefines];
  job->ndefines++;
}

static int job_base(pt_kernels_job_t *job, const char *source,
                    const char *arch, pt_err_t *err)
{
  pt_gpu_backend_t backend;
  int rc = pt_gpu_backend_for_arch(arch, &backend, err);
  if (rc != PT_OK)
    return rc;
  memset(job, 0, sizeof *job);
  job->req.backend = backend;
  job->req.arch = arch;
  job->req.source = pt_kernels_find(source);
  job->req.name = source;
  job->req.nheaders = header_list(job->header_names, job->header_texts);
  job->req.headers = job->header_texts;
  job->req.header_names = job->header_names;
  job->req.defines = job->defines;
  if (job->req.source == NULL)
    return pt_err_set(err, PT_ENOENT, "kernel source '%s' not embedded", source);
  return PT_OK;
}

int pt_kernels_job_init(pt_kernels_job_t *job, const pt_variant_t *v,
                        pt_dtype_t dtype, pt_act_t act, const char *arch,
                        pt_err_t *err)
{
  int rc = pt_knobs_validate(v, err);
  if (rc != PT_OK)
    return rc;
  if ((unsigned)dtype >= PT_DTYPE_COUNT || (unsigned)act >= PT_ACT_COUNT)
    return pt_err_set(err, PT_EINVAL, "unknown dtype %d or act %d", (int)dtype,
                      (int)act);
  int g1 = v->stage == PT_STAGE_GEMM1;
  rc = job_base(job, g1 ? "moe_gemm1.cu" : "moe_gemm2.cu", arch, err);
  if (rc != PT_OK)
    return rc;
  add_define(job, "PT_BM", v->bm);
  add_define(job, "PT_BN", v->bn);
  add_define(job, "PT_KWAVE", g1 ? v->k_wave : 1);
  add_define(job, "PT_KSTAGES", g1 ? 2 : v->kstages);
  add_define(job, "PT_BHOIST", v->bhoist);
  add_define(job, "PT_SPART", v->spart);
  add_define(job, "PT_NT", v->nt);
  add_define(job, "PT_EPILOG", g1 ? 0 : v->epilog);
  add_define(job, "PT_PERSIST", v->persist);
  add_define(job, "PT_DTYPE", (int)dtype);
  add_define(job, "PT_ACT", (int)act);
  job->req.ndefines = job->ndefines;
  return PT_OK;
}

int pt_kernels_job_reduce(pt_kernels_job_t *job, const char *arch,
                          pt_err_t *err)
{
  return job_base(job, "moe_reduce.cu", arch, err);
}

/* Mirrors PT_WROWS: 32 weight rows per warp, 16 once BM >= 64. */
static int warp_rows(const pt_variant_t *v) { return v->bm >= 64 ? 16 : 32; }

static int k_wave(const pt_variant_t *v)
{
  return v->stage == PT_STAGE_GEMM1 ? v->k_wave : 1;
}

int pt_kernels_threads(const pt_variant_t *v, int warp_size)
{
  return warp_size * (v->bn / warp_rows(v)) * k_wave(v);
}

size_t pt_kernels_smem(const pt_variant_t *v, int warp_size)
{
  size_t ksup = (size_t)128 * k_wave(v);
  int kstages = v->stage == PT_STAGE_GEMM1 ? 2 : v->kstages;
  size_t slot = v->bn * ksup / 2 + (size_t)v->bn * k_wave(v) * 8 +
                (size_t)v->bm * ksup * 2;
  size_t ring = (size_t)(warp_size == 64 ? kstages + 1 : 2 * kstages) * slot;
  size_t ctile = (size_t)v->bm * (v->bn + 4) * 4;
  return (ring > ctile ? ring : ctile) + (size_t)v->bm * 12;
}

int pt_kernels_acc_regs(const pt_variant_t *v, int warp_size)
{
  /* rows x tokens of a warp's C block spread over its lanes */
  return warp_rows(v) * v->bm / warp_size;
}

int pt_kernels_regs_estimate(const pt_variant_t *v, int warp_size)
{
  /* weight registers: 16-byte chunk + scale per held row and stage (the
   * ring is in shared memory, but the compiler keeps about as many live) */
  int lrows = warp_size == 32 ? 2 : 1;
  int stages = v->stage == PT_STAGE_GEMM1 ? 2 : v->kstages;
  int wregs = stages * (warp_rows(v) / 16) * lrows * 5;
  return pt_kernels_acc_regs(v, warp_size) + wregs + 64;
}
