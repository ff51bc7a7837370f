/* Compile requests of stage variants and of the reduce kernel. */
#include "kernel_job.h"

#include <stdio.h>
#include <string.h>

#include "constraints.h"
#include "kernels.h"

const char *pt_kernel_job_entry(pt_stage_t stage)
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
  for (int i = 0; i < pt_kernels_count() && n < PT_KERNEL_JOB_HEADERS_MAX; i++)
    if (is_header(pt_kernels_name(i))) {
      names[n] = pt_kernels_name(i);
      texts[n] = pt_kernels_text(i);
      n++;
    }
  return n;
}

static void add_define(pt_kernel_job_t *job, const char *name, int value)
{
  if (job->ndefines >= PT_KERNEL_JOB_DEFINES_MAX)
    return;
  snprintf(job->text[job->ndefines], sizeof job->text[0], "%s=%d", name, value);
  job->defines[job->ndefines] = job->text[job->ndefines];
  job->ndefines++;
}

static int job_base(pt_kernel_job_t *job, const char *source,
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

int pt_kernel_job_init(pt_kernel_job_t *job, const pt_variant_t *v,
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
  rc = job_base(job, g1 ? "moe_gemm1.cu" : "moe_gemm2.cu",
                pt_constraints_compile_arch(v, arch), err);
  if (rc != PT_OK)
    return rc;
  pt_knobs_defines_t knobs;
  pt_knobs_defines(v, &knobs);
  for (int i = 0; i < knobs.n; i++) {
    snprintf(job->text[i], sizeof job->text[0], "%s", knobs.text[i]);
    job->defines[i] = job->text[i];
  }
  job->ndefines = knobs.n;
  add_define(job, "PT_DTYPE", (int)dtype);
  add_define(job, "PT_ACT", (int)act);
  job->req.ndefines = job->ndefines;
  return PT_OK;
}

int pt_kernel_job_reduce(pt_kernel_job_t *job, const char *arch,
                         pt_err_t *err)
{
  return job_base(job, "moe_reduce.cu", arch, err);
}
