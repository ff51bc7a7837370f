/* Host plumbing of the MoE pipeline: buffers, launches, verification and
 * timing of stage variants (see pipeline.h). */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "constraints.h"
#include "kernel_job.h"
#include "kernels.h"
#include "moe_sort.h"
#include "oracle.h"
#include "problem.h"
#include "pt_args.h"
#include "repack.h"

#define SAMPLE_ALL_ROWS 1024

#define MAX_SORTS 4               /* one per BM of the space */

/* Device buffers of the problem, shared by all its sorts. */
typedef struct pbufs_s {
  pt_gpu_ptr_t x, xs, w1, w1s, w2, w2s;
  pt_gpu_ptr_t out, ybuf;
  pt_gpu_ptr_t wp[2], wsp[2];        /* repacked w1 / w2 (mma=wgmma), lazily */
  pt_gpu_ptr_t part, cnt;            /* gemm1 split-K partials and counters */
} pbufs_t;

/* Device buffers laid out by one sort. */
typedef struct sbufs_s {
  pt_gpu_ptr_t ids, sw, bexp;        /* sorted routing */
  pt_gpu_ptr_t hq, hs;               /* gemm1 output (GPU's) */
  pt_gpu_ptr_t rq, rs;               /* oracle intermediate, gemm2's input */
} sbufs_t;

/* What depends on the sort block: the sort, the rows the references cover,
 * the references themselves and the buffers in sorted-row order. */
typedef struct sorting_s {
  pt_moe_sorted_t sorted;
  pt_oracle_sample_t smp;
  pt_oracle_inter_t ref_h;           /* oracle intermediate (sampled rows) */
  float *ref_out;                    /* oracle out [M, H] (sampled tokens) */
  sbufs_t d;
} sorting_t;

struct pt_pipe_s {
  pt_gpu_t *gpu;
  const pt_moe_problem_t *p;
  int threads;                       /* for the oracle of a new sort */
  unsigned long long seed;
  size_t out_bytes;                  /* (M + 1) x H bf16: a guard row */
  pbufs_t d;
  sorting_t sorts[MAX_SORTS];        /* made so far, oldest first */
  int nsorts;
  sorting_t *s;                      /* the one launches use */
  double repack_ms[2];               /* host repack + upload of w1, w2 */
  size_t part_bytes, cnt_bytes;      /* sizes of d.part, d.cnt */
};

int pt_pipe_padded(const pt_pipe_t *pp) { return pp->s->sorted.padded; }

/* ---- stages ---- */

int pt_pipe_compile(const pt_variant_t *v, pt_dtype_t dtype, pt_act_t act,
                    const char *arch, pt_gpu_code_t *code, pt_err_t *err)
{
  pt_kernel_job_t job;
  memset(code, 0, sizeof *code);
  int rc = pt_kernel_job_init(&job, v, dtype, act, arch, err);
  return rc == PT_OK ? pt_gpu_compile(&job.req, code, err) : rc;
}

int pt_pipe_compile_reduce(const char *arch, pt_gpu_code_t *code, pt_err_t *err)
{
  pt_kernel_job_t job;
  memset(code, 0, sizeof *code);
  int rc = pt_kernel_job_reduce(&job, arch, err);
  return rc == PT_OK ? pt_gpu_compile(&job.req, code, err) : rc;
}

int pt_pipe_stage_load(pt_gpu_t *gpu, const pt_variant_t *v, pt_dtype_t dtype,
                       pt_act_t act, pt_pipe_stage_t *out, pt_err_t *err)
{
  const char *arch = pt_gpu_props(gpu)->arch;
  int reduce = v->stage == PT_STAGE_GEMM2 && v->epilog == PT_EPILOG_REDUCE;
  pt_gpu_code_t code, rcode = {0};
  memset(out, 0, sizeof *out);
  int rc = pt_pipe_compile(v, dtype, act, arch, &code, err);
  if (rc == PT_OK && reduce)
    rc = pt_pipe_compile_reduce(arch, &rcode, err);
  if (rc == PT_OK)
    rc = pt_pipe_stage_load_code(gpu, v, dtype, act, &code,
                                 reduce ? &rcode : NULL, out, err);
  pt_gpu_code_free(&code);
  pt_gpu_code_free(&rcode);
  return rc;
}

static int module_of(pt_gpu_t *gpu, const pt_gpu_code_t *code,
                     const char *entry, pt_gpu_module_t **mod,
                     pt_gpu_kernel_t **k, pt_err_t *err)
{
  int rc = pt_gpu_module_load(gpu, code->data, code->size, mod, err);
  return rc == PT_OK ? pt_gpu_kernel_get(*mod, entry, k, err) : rc;
}

int pt_pipe_stage_load_code(pt_gpu_t *gpu, const pt_variant_t *v,
                            pt_dtype_t dtype, pt_act_t act,
                            const pt_gpu_code_t *code,
                            const pt_gpu_code_t *reduce_code,
                            pt_pipe_stage_t *out, pt_err_t *err)
{
  const pt_gpu_props_t *props = pt_gpu_props(gpu);
  memset(out, 0, sizeof *out);
  out->v = *v;
  out->dtype = dtype;
  out->act = act;
  out->threads = (unsigned)pt_constraints_threads(v, props->warp_size);
  out->smem = pt_constraints_smem_bytes(v, dtype, props->warp_size);
  out->regs = code->regs;
  out->spill_bytes = code->spill_bytes;
  out->code_bytes = code->size;
  out->compile_ms = code->compile_ms;
  int reduce = v->stage == PT_STAGE_GEMM2 && v->epilog == PT_EPILOG_REDUCE;
  int rc = module_of(gpu, code, pt_kernel_job_entry(v->stage), &out->mod, &out->k, err);
  if (rc == PT_OK && reduce && reduce_code == NULL)
    rc = pt_err_set(err, PT_EINVAL, "reduce epilog without the reduce kernel");
  if (rc == PT_OK && reduce)
    rc = module_of(gpu, reduce_code, PT_KERNEL_JOB_REDUCE_ENTRY, &out->rmod,
                   &out->rk, err);
  if (rc == PT_OK)
    rc = pt_gpu_occupancy(out->k, (int)out->threads, out->smem,
                          &out->blocks_per_sm, err);
  if (rc == PT_OK && out->blocks_per_sm < 1)
    rc = pt_err_set(err, PT_EINFEASIBLE, "no block of %u threads and %zu B "
                    "shared memory fits an SM", out->threads, out->smem);
  if (rc != PT_OK)
    pt_pipe_stage_unload(out);
  return rc;
}

void pt_pipe_stage_unload(pt_pipe_stage_t *st)
{
  if (st->mod)
    pt_gpu_module_unload(st->mod);
  if (st->rmod)
    pt_gpu_module_unload(st->rmod);
  st->mod = st->rmod = NULL;
  st->k = st->rk = NULL;
}

/* ---- problem setup ---- */

static int upload(pt_gpu_t *gpu, pt_gpu_ptr_t *d, const void *h, size_t n,
                  pt_err_t *err)
{
  int rc = pt_gpu_malloc(gpu, n ? n : 16, d, err);
  if (rc == PT_OK && h != NULL && n > 0)
    rc = pt_gpu_memcpy_htod(gpu, *d, h, n, err);
  return rc;
}

static void free_bufs(pt_gpu_t *gpu, pt_gpu_ptr_t *all, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (all[i])
      pt_gpu_free(gpu, all[i]);
  memset(all, 0, n * sizeof *all);
}

static int references(const pt_pipe_t *pp, sorting_t *so, pt_err_t *err)
{
  const pt_moe_problem_t *p = pp->p;
  int M = p->tokens, H = p->shape.model_dim;
  int rc = M * p->shape.topk <= SAMPLE_ALL_ROWS
               ? pt_oracle_sample_all(&so->smp, &so->sorted, M, err)
               : pt_oracle_sample_init(&so->smp, &so->sorted, M, 8, pp->seed, err);
  if (rc == PT_OK)
    rc = pt_oracle_inter_init(&so->ref_h, p->shape.dtype, so->sorted.padded,
                              p->shape.inter_dim, err);
  if (rc == PT_OK)
    rc = pt_oracle_gemm1(p, &so->sorted, &so->smp, pp->threads, &so->ref_h, NULL, err);
  if (rc == PT_OK && (so->ref_out = calloc((size_t)M * H, sizeof(float))) == NULL)
    rc = pt_err_set(err, PT_ENOMEM, "oracle output of %d x %d", M, H);
  if (rc == PT_OK)
    rc = pt_oracle_gemm2_atomic(p, &so->sorted, &so->ref_h, &so->smp, pp->threads,
                                so->ref_out, err);
  return rc;
}

static int upload_problem(pt_pipe_t *pp, pt_err_t *err)
{
  const pt_moe_problem_t *p = pp->p;
  const pt_moe_shape_t *sh = &p->shape;
  pt_gpu_t *g = pp->gpu;
  pbufs_t *d = &pp->d;
  pt_problem_sizes_t z;
  pt_problem_sizes(sh, p->tokens, &z);
  int rc = upload(g, &d->x, p->x, z.x, err);
  if (rc == PT_OK)
    rc = upload(g, &d->xs, p->xs, z.xs, err);
  if (rc == PT_OK)
    rc = upload(g, &d->w1, p->w1, z.w1, err);
  if (rc == PT_OK)
    rc = upload(g, &d->w1s, p->w1s, z.w1s, err);
  if (rc == PT_OK)
    rc = upload(g, &d->w2, p->w2, z.w2, err);
  if (rc == PT_OK)
    rc = upload(g, &d->w2s, p->w2s, z.w2s, err);
  if (rc == PT_OK)
    rc = upload(g, &d->out, NULL, pp->out_bytes, err);
  if (rc == PT_OK)
    rc = upload(g, &d->ybuf, NULL, z.out * (size_t)sh->topk, err);
  return rc;
}

static int upload_sorting(pt_pipe_t *pp, sorting_t *so, pt_err_t *err)
{
  const pt_moe_shape_t *sh = &pp->p->shape;
  pt_gpu_t *g = pp->gpu;
  sbufs_t *d = &so->d;
  size_t cap = (size_t)so->sorted.capacity, P = (size_t)so->sorted.padded;
  int rc = upload(g, &d->ids, so->sorted.sorted_ids, cap * 4, err);
  if (rc == PT_OK)
    rc = upload(g, &d->sw, so->sorted.sorted_w, cap * 4, err);
  if (rc == PT_OK)
    rc = upload(g, &d->bexp, so->sorted.block_expert,
                cap / (size_t)so->sorted.sbm * 4, err);
  if (rc == PT_OK)
    rc = upload(g, &d->hq, NULL, so->ref_h.h_bytes, err);
  if (rc == PT_OK)
    rc = upload(g, &d->hs, NULL, P * (size_t)sh->inter_dim / 32, err);
  if (rc == PT_OK)
    rc = upload(g, &d->rq, so->ref_h.h, so->ref_h.h_bytes, err);
  if (rc == PT_OK)
    rc = upload(g, &d->rs, so->ref_h.hs, so->ref_h.hs_bytes, err);
  return rc;
}

static void sorting_free(pt_gpu_t *gpu, sorting_t *so)
{
  free_bufs(gpu, (pt_gpu_ptr_t *)&so->d, sizeof so->d / sizeof(pt_gpu_ptr_t));
  pt_sort_free(&so->sorted);
  pt_oracle_sample_free(&so->smp);
  pt_oracle_inter_free(&so->ref_h);
  free(so->ref_out);
  memset(so, 0, sizeof *so);
}

static int sorting_make(pt_pipe_t *pp, int sbm, sorting_t *so, pt_err_t *err)
{
  const pt_moe_problem_t *p = pp->p;
  memset(so, 0, sizeof *so);
  int rc = pt_sort_run(p->topk_ids, p->topk_w, p->tokens, p->shape.topk,
                       p->shape.experts, sbm, &so->sorted, err);
  if (rc == PT_OK)
    rc = references(pp, so, err);
  if (rc == PT_OK)
    rc = upload_sorting(pp, so, err);
  if (rc != PT_OK)
    sorting_free(pp->gpu, so);
  return rc;
}

int pt_pipe_sort(pt_pipe_t *pp, int sbm, pt_err_t *err)
{
  for (int i = 0; i < pp->nsorts; i++)
    if (pp->sorts[i].sorted.sbm == sbm) {
      pp->s = &pp->sorts[i];
      return PT_OK;
    }
  if (pp->nsorts == MAX_SORTS) {  /* the oldest goes */
    sorting_free(pp->gpu, &pp->sorts[0]);
    memmove(&pp->sorts[0], &pp->sorts[1], (MAX_SORTS - 1) * sizeof pp->sorts[0]);
    pp->nsorts--;
  }
  int rc = sorting_make(pp, sbm, &pp->sorts[pp->nsorts], err);
  if (rc == PT_OK)
    pp->s = &pp->sorts[pp->nsorts++];
  else if (pp->nsorts > 0)
    pp->s = &pp->sorts[pp->nsorts - 1];
  return rc;
}

int pt_pipe_init(pt_gpu_t *gpu, const pt_moe_problem_t *p, int sbm,
                 int threads, unsigned long long seed, pt_pipe_t **out,
                 pt_err_t *err)
{
  pt_pipe_t *pp = calloc(1, sizeof *pp);
  *out = NULL;
  if (pp == NULL)
    return pt_err_set(err, PT_ENOMEM, "pipeline state");
  pp->gpu = gpu;
  pp->p = p;
  pp->threads = threads;
  pp->seed = seed;
  pp->out_bytes = ((size_t)p->tokens + 1) * (size_t)p->shape.model_dim * 2;
  int rc = upload_problem(pp, err);
  if (rc == PT_OK)
    rc = pt_pipe_sort(pp, sbm, err);
  if (rc != PT_OK) {
    pt_pipe_free(pp);
    return rc;
  }
  *out = pp;
  return PT_OK;
}

void pt_pipe_free(pt_pipe_t *pp)
{
  if (pp == NULL)
    return;
  for (int i = 0; i < pp->nsorts; i++)
    sorting_free(pp->gpu, &pp->sorts[i]);
  free_bufs(pp->gpu, (pt_gpu_ptr_t *)&pp->d, sizeof pp->d / sizeof(pt_gpu_ptr_t));
  free(pp);
}

/* ---- launches ---- */

/* The stage's weights as v's generation reads them: canonical, or repacked
 * once (timed apart, never inside a measured launch: the first launch of a
 * variant is its verification). */
static int stage_weights(pt_pipe_t *pp, const pt_variant_t *v, pt_kargs_t *a,
                         pt_err_t *err)
{
  int i = v->stage == PT_STAGE_GEMM1 ? 0 : 1;
  a->w = i == 0 ? pp->d.w1 : pp->d.w2;
  a->ws = i == 0 ? pp->d.w1s : pp->d.w2s;
  if (v->mma != PT_MMA_WGMMA)
    return PT_OK;
  if (pp->d.wp[i] == 0) {
    const pt_moe_problem_t *p = pp->p;
    pt_repack_stage_t rs = i == 0 ? PT_REPACK_GEMM1 : PT_REPACK_GEMM2;
    size_t wb, sb;
    pt_repack_sizes(&p->shape, rs, &wb, &sb);
    double t0 = (double)uv_hrtime() / 1e6;
    uint8_t *hw = malloc(wb), *hs = malloc(sb);
    int rc = hw && hs ? PT_OK
                      : pt_err_set(err, PT_ENOMEM, "repacked weights of %zu B", wb);
    if (rc == PT_OK) {
      pt_repack_wgmma(&p->shape, rs, i == 0 ? p->w1 : p->w2,
                      i == 0 ? p->w1s : p->w2s, hw, hs);
      rc = upload(pp->gpu, &pp->d.wp[i], hw, wb, err);
    }
    if (rc == PT_OK)
      rc = upload(pp->gpu, &pp->d.wsp[i], hs, sb, err);
    free(hw);
    free(hs);
    if (rc != PT_OK)
      return rc;
    pp->repack_ms[i] = (double)uv_hrtime() / 1e6 - t0;
  }
  a->w = pp->d.wp[i];
  a->ws = pp->d.wsp[i];
  return PT_OK;
}

double pt_pipe_repack_ms(const pt_pipe_t *pp, pt_stage_t stage)
{
  return pp->repack_ms[stage == PT_STAGE_GEMM1 ? 0 : 1];
}

static void base_args(const pt_pipe_t *pp, pt_kargs_t *a)
{
  memset(a, 0, sizeof *a);
  a->sorted_ids = pp->s->d.ids;
  a->sorted_w = pp->s->d.sw;
  a->block_expert = pp->s->d.bexp;
  a->M = pp->p->tokens;
  a->P = pp->s->sorted.padded;
  a->H = pp->p->shape.model_dim;
  a->I = pp->p->shape.inter_dim;
  a->topk = pp->p->shape.topk;
  a->sbm = pp->s->sorted.sbm;
}

/* gemm1 split-K's workspace for tiles output tiles: the partial C tiles
 * and a counter per tile, zeroed when (re)allocated; the kernels leave the
 * counters at zero. */
static int splitk_space(pt_pipe_t *pp, const pt_variant_t *v, int tiles,
                        pt_kargs_t *a, pt_gpu_stream_t *s, pt_err_t *err)
{
  if (v->stage != PT_STAGE_GEMM1 || v->splitk <= 1)
    return PT_OK;
  size_t part = (size_t)tiles * (size_t)v->splitk * (size_t)v->bm * (size_t)v->bn * 4;
  size_t cnt = (size_t)tiles * 4;
  int rc = PT_OK;
  if (part > pp->part_bytes) {
    if (pp->d.part) pt_gpu_free(pp->gpu, pp->d.part);
    pp->d.part = 0;
    pp->part_bytes = 0;
    rc = pt_gpu_malloc(pp->gpu, part, &pp->d.part, err);
    if (rc == PT_OK) pp->part_bytes = part;
  }
  if (rc == PT_OK && cnt > pp->cnt_bytes) {
    if (pp->d.cnt) pt_gpu_free(pp->gpu, pp->d.cnt);
    pp->d.cnt = 0;
    pp->cnt_bytes = 0;
    rc = pt_gpu_malloc(pp->gpu, cnt, &pp->d.cnt, err);
    if (rc == PT_OK) rc = pt_gpu_memset(pp->gpu, pp->d.cnt, 0, cnt, s, err);
    if (rc == PT_OK) pp->cnt_bytes = cnt;
  }
  a->part = pp->d.part;
  a->cnt = pp->d.cnt;
  return rc;
}

static int launch(pt_pipe_t *pp, pt_pipe_stage_t *st, pt_kargs_t *a,
                  int ncols, pt_gpu_stream_t *s, pt_err_t *err)
{
  int bm = st->v.bm, bn = st->v.stage == PT_STAGE_GEMM1 ? st->v.bn / 2 : st->v.bn;
  if (pp->s->sorted.sbm % bm != 0)
    return pt_err_set(err, PT_EINVAL, "bm %d does not divide the sort block %d",
                      bm, pp->s->sorted.sbm);
  a->nblk_n = (ncols + bn - 1) / bn;
  int tiles = a->P / bm * a->nblk_n;
  a->ntiles = tiles * st->v.splitk;
  int rc = splitk_space(pp, &st->v, tiles, a, s, err);
  if (rc != PT_OK)
    return rc;
  unsigned grid = (unsigned)a->ntiles;
  if (st->v.persist) {
    unsigned cap = (unsigned)(pt_gpu_props(pp->gpu)->sm_count * st->blocks_per_sm);
    grid = grid < cap ? grid : cap;
  }
  if (grid == 0)
    return PT_OK;
  unsigned g3[3] = {grid, 1, 1}, b3[3] = {st->threads, 1, 1};
  void *args[] = {a};
  return pt_gpu_launch(st->k, g3, b3, st->smem, s, args, err);
}

int pt_pipe_gemm1(pt_pipe_t *pp, pt_pipe_stage_t *st, pt_gpu_stream_t *s,
                  pt_err_t *err)
{
  pt_kargs_t a;
  base_args(pp, &a);
  a.a = pp->d.x;
  a.as = pp->d.xs;
  a.out = pp->s->d.hq;
  a.outs = pp->s->d.hs;
  int rc = stage_weights(pp, &st->v, &a, err);
  return rc == PT_OK ? launch(pp, st, &a, a.I, s, err) : rc;
}

static int gemm2_on(pt_pipe_t *pp, pt_pipe_stage_t *st, pt_gpu_ptr_t hq,
                    pt_gpu_ptr_t hs, pt_gpu_stream_t *s, pt_err_t *err)
{
  pt_kargs_t a;
  base_args(pp, &a);
  a.a = hq;
  a.as = hs;
  a.out = pp->d.out;
  a.ybuf = pp->d.ybuf;
  size_t out_real = (size_t)a.M * (size_t)a.H * 2;
  int rc = stage_weights(pp, &st->v, &a, err);
  if (rc == PT_OK && st->v.epilog == PT_EPILOG_ATOMIC)
    rc = pt_gpu_memset(pp->gpu, pp->d.out, 0, out_real, s, err);
  if (rc == PT_OK)
    rc = launch(pp, st, &a, a.H, s, err);
  if (rc == PT_OK && st->v.epilog == PT_EPILOG_REDUCE) {
    long long n = (long long)a.M * (a.H / 8);
    unsigned g3[3] = {(unsigned)((n + PT_KERNEL_JOB_REDUCE_THREADS - 1) / PT_KERNEL_JOB_REDUCE_THREADS), 1, 1};
    unsigned b3[3] = {PT_KERNEL_JOB_REDUCE_THREADS, 1, 1};
    void *args[] = {&a};
    rc = pt_gpu_launch(st->rk, g3, b3, 0, s, args, err);
  }
  return rc;
}

int pt_pipe_gemm2(pt_pipe_t *pp, pt_pipe_stage_t *st, pt_gpu_stream_t *s,
                  pt_err_t *err)
{
  return gemm2_on(pp, st, pp->s->d.rq, pp->s->d.rs, s, err);
}

int pt_pipe_run(pt_pipe_t *pp, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                pt_gpu_stream_t *s, pt_err_t *err)
{
  int rc = pt_pipe_gemm1(pp, g1, s, err);
  return rc == PT_OK ? gemm2_on(pp, g2, pp->s->d.hq, pp->s->d.hs, s, err) : rc;
}

/* ---- verification ---- */

int pt_pipe_output_ok(double rel_l2, size_t nonfinite)
{
  return rel_l2 <= PT_PIPE_REL_L2_MAX && nonfinite == 0;
}

void pt_pipe_check_why(pt_stage_t stage, const pt_pipe_check_t *c, char *buf,
                       size_t len)
{
  char nf[48] = "";
  if (c->nonfinite > 0)
    snprintf(nf, sizeof nf, ", %zu non-finite values", c->nonfinite);
  if (stage == PT_STAGE_GEMM1)
    snprintf(buf, len, "code match %.4f (needs >= %.2f), relative L2 %.3g%s%s",
             c->code_match, PT_PIPE_MATCH_MIN, c->rel_l2, nf,
             c->untouched ? "" : ", wrote padding rows");
  else
    snprintf(buf, len, "relative L2 %.3g (needs <= %.2g)%s%s", c->rel_l2,
             PT_PIPE_REL_L2_MAX, nf, c->untouched ? "" : ", wrote past out");
}

static int all_bytes(const unsigned char *b, size_t n, unsigned char v)
{
  for (size_t i = 0; i < n; i++)
    if (b[i] != v)
      return 0;
  return 1;
}

/* Padding rows near sampled ones must keep the poison. */
static int pads_untouched(const pt_pipe_t *pp, const pt_oracle_inter_t *got)
{
  size_t hrow = got->h_bytes / (size_t)got->rows;
  size_t srow = got->hs ? got->hs_bytes / (size_t)got->rows : 0;
  for (int i = 0; i < pp->s->smp.npad; i++) {
    size_t r = (size_t)pp->s->smp.pad_rows[i];
    if (!all_bytes((const unsigned char *)got->h + r * hrow, hrow, PT_PIPE_POISON) ||
        (srow && !all_bytes(got->hs + r * srow, srow, PT_PIPE_POISON)))
      return 0;
  }
  return 1;
}

/* Fills the GPU's intermediate with the poison. */
static int poison_inter(pt_pipe_t *pp, pt_err_t *err) {
  const pt_oracle_inter_t *r = &pp->s->ref_h;
  int rc = pt_gpu_memset(pp->gpu, pp->s->d.hq, PT_PIPE_POISON, r->h_bytes, NULL, err);
  if (rc == PT_OK && r->hs_bytes)
    rc = pt_gpu_memset(pp->gpu, pp->s->d.hs, PT_PIPE_POISON, r->hs_bytes, NULL, err);
  return rc;
}

/* Reads the GPU's intermediate back into got (initialized here). */
static int read_inter(pt_pipe_t *pp, pt_oracle_inter_t *got, pt_err_t *err) {
  const pt_moe_shape_t *sh = &pp->p->shape;
  int rc = pt_oracle_inter_init(got, sh->dtype, pp->s->sorted.padded, sh->inter_dim, err);
  if (rc == PT_OK) rc = pt_gpu_memcpy_dtoh(pp->gpu, got->h, pp->s->d.hq, got->h_bytes, err);
  if (rc == PT_OK && got->hs_bytes)
    rc = pt_gpu_memcpy_dtoh(pp->gpu, got->hs, pp->s->d.hs, got->hs_bytes, err);
  return rc;
}

/* gemm1's criteria on got against the oracle's intermediate. */
static int check_inter(pt_pipe_t *pp, const pt_oracle_inter_t *got, pt_pipe_check_t *out,
                       pt_err_t *err) {
  pt_oracle_diff_t diff;
  out->code_match = pt_oracle_code_match(got, &pp->s->ref_h, pp->s->smp.rows,
                                         pp->s->smp.nrows);
  int rc = pt_oracle_inter_diff(got, &pp->s->ref_h, pp->s->smp.rows, pp->s->smp.nrows,
                                &diff, err);
  out->rel_l2 = diff.rel_l2;
  out->nonfinite = diff.nonfinite;
  out->untouched = pads_untouched(pp, got);
  out->pass = out->code_match >= PT_PIPE_MATCH_MIN && out->untouched && diff.nonfinite == 0;
  return rc;
}

/* The output criteria on got ((M + 1) x H bf16 read back) against ref. */
static void check_out(const pt_pipe_t *pp, const unsigned char *got, const float *ref,
                      pt_pipe_check_t *out) {
  int M = pp->p->tokens, H = pp->p->shape.model_dim;
  size_t real = (size_t)M * H * 2;
  pt_oracle_diff_t diff;
  pt_oracle_diff(got, PT_ORACLE_BF16, ref, PT_ORACLE_F32, H, pp->s->smp.tokens,
                 pp->s->smp.ntokens, &diff);
  out->rel_l2 = diff.rel_l2;
  out->nonfinite = diff.nonfinite;
  out->untouched = all_bytes(got + real, pp->out_bytes - real, PT_PIPE_POISON);
  out->pass = pt_pipe_output_ok(diff.rel_l2, diff.nonfinite) && out->untouched;
}

int pt_pipe_verify_gemm1(pt_pipe_t *pp, pt_pipe_stage_t *st,
                         pt_pipe_check_t *out, pt_err_t *err)
{
  pt_oracle_inter_t got;
  memset(out, 0, sizeof *out);
  memset(&got, 0, sizeof got);
  int rc = poison_inter(pp, err);
  if (rc == PT_OK)
    rc = pt_pipe_gemm1(pp, st, NULL, err);
  if (rc == PT_OK)
    rc = pt_gpu_stream_sync(pp->gpu, NULL, err);
  if (rc == PT_OK)
    rc = read_inter(pp, &got, err);
  if (rc == PT_OK)
    rc = check_inter(pp, &got, out, err);
  pt_oracle_inter_free(&got);
  return rc;
}

int pt_pipe_verify_gemm2(pt_pipe_t *pp, pt_pipe_stage_t *st,
                         pt_pipe_check_t *out, pt_err_t *err)
{
  unsigned char *got = malloc(pp->out_bytes);
  memset(out, 0, sizeof *out);
  if (got == NULL)
    return pt_err_set(err, PT_ENOMEM, "out readback");
  int rc = pt_gpu_memset(pp->gpu, pp->d.out, PT_PIPE_POISON, pp->out_bytes, NULL, err);
  if (rc == PT_OK)
    rc = pt_pipe_gemm2(pp, st, NULL, err);
  if (rc == PT_OK)
    rc = pt_gpu_stream_sync(pp->gpu, NULL, err);
  if (rc == PT_OK)
    rc = pt_gpu_memcpy_dtoh(pp->gpu, got, pp->d.out, pp->out_bytes, err);
  if (rc == PT_OK) {
    check_out(pp, got, pp->s->ref_out, out);
    out->code_match = 1.0;
  }
  free(got);
  return rc;
}

/* The output of the pair against the oracle's gemm2 on the GPU's own
 * intermediate (so gemm1's rounding differences do not count twice). */
static int check_pair_out(pt_pipe_t *pp, const pt_oracle_inter_t *h,
                          const unsigned char *got, pt_pipe_check_t *out, pt_err_t *err) {
  size_t n = (size_t)pp->p->tokens * (size_t)pp->p->shape.model_dim;
  float *ref = calloc(n, sizeof *ref);
  if (ref == NULL)
    return pt_err_set(err, PT_ENOMEM, "oracle output of the pair");
  int rc = pt_oracle_gemm2_atomic(pp->p, &pp->s->sorted, h, &pp->s->smp, pp->threads,
                                  ref, err);
  if (rc == PT_OK)
    check_out(pp, got, ref, out);
  free(ref);
  return rc;
}

int pt_pipe_verify_pair(pt_pipe_t *pp, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                        pt_pipe_check_t *inter, pt_pipe_check_t *out, pt_err_t *err)
{
  pt_oracle_inter_t h;
  unsigned char *got = malloc(pp->out_bytes);
  memset(inter, 0, sizeof *inter);
  memset(out, 0, sizeof *out);
  memset(&h, 0, sizeof h);
  if (got == NULL)
    return pt_err_set(err, PT_ENOMEM, "out readback");
  int rc = poison_inter(pp, err);
  if (rc == PT_OK)
    rc = pt_gpu_memset(pp->gpu, pp->d.out, PT_PIPE_POISON, pp->out_bytes, NULL, err);
  if (rc == PT_OK)
    rc = pt_pipe_run(pp, g1, g2, NULL, err);
  if (rc == PT_OK)
    rc = pt_gpu_stream_sync(pp->gpu, NULL, err);
  if (rc == PT_OK)
    rc = read_inter(pp, &h, err);
  if (rc == PT_OK)
    rc = pt_gpu_memcpy_dtoh(pp->gpu, got, pp->d.out, pp->out_bytes, err);
  if (rc == PT_OK)
    rc = check_inter(pp, &h, inter, err);
  if (rc == PT_OK)
    rc = check_pair_out(pp, &h, got, out, err);
  pt_oracle_inter_free(&h);
  free(got);
  return rc;
}

/* ---- timing ---- */

typedef struct timed_s {
  pt_pipe_t *pp;
  pt_pipe_stage_t *g1, *g2;
} timed_t;

static int launch_timed(void *ud, pt_gpu_stream_t *s, pt_err_t *err)
{
  timed_t *t = ud;
  if (t->g1 && t->g2)
    return pt_pipe_run(t->pp, t->g1, t->g2, s, err);
  return t->g1 ? pt_pipe_gemm1(t->pp, t->g1, s, err)
               : pt_pipe_gemm2(t->pp, t->g2, s, err);
}

int pt_pipe_time(pt_pipe_t *pp, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                 pt_measure_gpu_t *m, const pt_measure_opts_t *o,
                 pt_measure_stats_t *out, pt_err_t *err)
{
  timed_t t = {pp, g1, g2};
  if (g1 == NULL && g2 == NULL)
    return pt_err_set(err, PT_EINVAL, "no stage to time");
  if (m->gpu != pp->gpu)
    return pt_err_set(err, PT_EINVAL, "the timer belongs to another GPU");
  return pt_measure_gpu_run(m, o, launch_timed, &t, out, err);
}

/* ---- introspection ---- */

void pt_pipe_buffer(const pt_pipe_t *pp, pt_pipe_buf_t which,
                    pt_gpu_ptr_t *ptr, size_t *bytes)
{
  const pt_moe_shape_t *sh = &pp->p->shape;
  size_t cap = (size_t)pp->s->sorted.capacity;
  pt_problem_sizes_t z;
  pt_problem_sizes(sh, pp->p->tokens, &z);
  const pbufs_t *d = &pp->d;
  const sbufs_t *sd = &pp->s->d;
  switch (which) {
  case PT_PIPE_BUF_X: *ptr = d->x; *bytes = z.x; break;
  case PT_PIPE_BUF_XS: *ptr = d->xs; *bytes = z.xs; break;
  case PT_PIPE_BUF_W1: *ptr = d->w1; *bytes = z.w1; break;
  case PT_PIPE_BUF_W1S: *ptr = d->w1s; *bytes = z.w1s; break;
  case PT_PIPE_BUF_W2: *ptr = d->w2; *bytes = z.w2; break;
  case PT_PIPE_BUF_W2S: *ptr = d->w2s; *bytes = z.w2s; break;
  case PT_PIPE_BUF_SORTED_IDS: *ptr = sd->ids; *bytes = cap * 4; break;
  case PT_PIPE_BUF_SORTED_W: *ptr = sd->sw; *bytes = cap * 4; break;
  case PT_PIPE_BUF_BLOCK_EXPERT:
    *ptr = sd->bexp;
    *bytes = cap / (size_t)pp->s->sorted.sbm * 4;
    break;
  case PT_PIPE_BUF_H: *ptr = sd->hq; *bytes = pp->s->ref_h.h_bytes; break;
  case PT_PIPE_BUF_HS: *ptr = sd->hs; *bytes = pp->s->ref_h.hs_bytes; break;
  case PT_PIPE_BUF_OUT: *ptr = d->out; *bytes = pp->out_bytes; break;
  default: *ptr = d->ybuf; *bytes = z.out * (size_t)sh->topk; break;
  }
}

const pt_moe_sorted_t *pt_pipe_sorted(const pt_pipe_t *pp) { return &pp->s->sorted; }

const pt_oracle_sample_t *pt_pipe_sample(const pt_pipe_t *pp) { return &pp->s->smp; }

const pt_oracle_inter_t *pt_pipe_ref_inter(const pt_pipe_t *pp) { return &pp->s->ref_h; }
