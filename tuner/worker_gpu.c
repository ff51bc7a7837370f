/* The worker's GPU backend: measures one stage variant on a real device per
 * DESIGN §6: the problem's inputs are generated once and shared by every
 * variant, the variant is verified against the host oracle on a poisoned
 * output before it is timed, and it is timed with the measure.h rules.
 *
 * Each item is one stage in isolation, sorted at its own BM (SBM = BM).
 * gemm2 reads an intermediate buffer of seeded random values: its time does
 * not depend on them, and the oracle re-seeded from the same buffer checks
 * it. Oracle references are cached per (problem, BM), since the shuffled
 * plan visits each block size of a problem many times.
 *
 * The launch geometry follows the kernel ABI of kernelsrc/pt_args.h and the
 * sizes of kernels.h; this launcher is the tuner's until a shared pipeline
 * module takes its place.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"
#include "measure.h"
#include "moe_sort.h"
#include "oracle.h"
#include "problem.h"
#include "pt_args.h"
#include "routing.h"
#include "worker.h"

#define REFS_MAX 8          /* cached oracle references */
#define SAMPLE_BLOCKS 4     /* sort blocks a large problem is verified on */
#define SAMPLE_ALL_ROWS 512 /* up to this many padded rows: verify every row */

/* An oracle reference for one (stage, BM) of the current problem. */
typedef struct ref_s {
  int used, stage, bm;
  pt_oracle_sample_t smp;
  pt_oracle_inter_t h;      /* gemm1: expected output; gemm2: its input */
  float *out;               /* gemm2: expected out [M, H] on sampled tokens */
} ref_t;

typedef struct gpu_state_s {
  pt_gpu_t *gpu;
  pt_measure_gpu_t cold, warm;
  int threads;              /* host threads for the oracle */
  char pkey[512];           /* the problem on the device */
  pt_moe_problem_t prob;
  int have_prob;
  pt_gpu_ptr_t x, xs, w1, w1s, w2, w2s;
  int sbm;                  /* the sort on the device */
  pt_moe_sorted_t sorted;
  pt_gpu_ptr_t sids, sw, bexp, hq, hs, out, ybuf;
  ref_t refs[REFS_MAX];
  int next_ref;
} gpu_state_t;

/* One item's launches. */
typedef struct launch_s {
  gpu_state_t *s;
  pt_gpu_kernel_t *k, *reduce;
  pt_kargs_t args;
  unsigned grid, block, reduce_grid;
  size_t smem;
  int zero_out;             /* gemm2 atomic: out starts at zero */
} launch_t;

static void gpu_free_ptr(gpu_state_t *s, pt_gpu_ptr_t *p) {
  if (*p != 0) pt_gpu_free(s->gpu, *p);
  *p = 0;
}

static void drop_refs(gpu_state_t *s) {
  for (int i = 0; i < REFS_MAX; i++) {
    ref_t *r = &s->refs[i];
    if (!r->used) continue;
    pt_oracle_sample_free(&r->smp);
    pt_oracle_inter_free(&r->h);
    free(r->out);
    memset(r, 0, sizeof *r);
  }
}

static void drop_sort(gpu_state_t *s) {
  pt_gpu_ptr_t *p[] = {&s->sids, &s->sw, &s->bexp, &s->hq, &s->hs, &s->out, &s->ybuf};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) gpu_free_ptr(s, p[i]);
  if (s->sbm > 0) pt_sort_free(&s->sorted);
  s->sbm = 0;
}

static void drop_problem(gpu_state_t *s) {
  drop_refs(s);
  drop_sort(s);
  pt_gpu_ptr_t *p[] = {&s->x, &s->xs, &s->w1, &s->w1s, &s->w2, &s->w2s};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) gpu_free_ptr(s, p[i]);
  if (s->have_prob) pt_problem_free(&s->prob);
  s->have_prob = 0;
  s->pkey[0] = '\0';
}

static int upload(gpu_state_t *s, const void *host, size_t n, pt_gpu_ptr_t *dev,
                  pt_err_t *err) {
  if (n == 0 || host == NULL) return PT_OK;
  int rc = pt_gpu_malloc(s->gpu, n, dev, err);
  return rc == PT_OK ? pt_gpu_memcpy_htod(s->gpu, *dev, host, n, err) : rc;
}

static int ensure_problem(gpu_state_t *s, const pt_proto_item_t *it, pt_err_t *err) {
  char key[512];
  const pt_moe_shape_t *sh = &it->shape;
  snprintf(key, sizeof key, "%s/%d/%d/%d/%d/%d/%d/%d/%s/%llu", it->family, sh->model_dim,
           sh->inter_dim, sh->experts, sh->topk, (int)sh->dtype, (int)sh->act, it->tokens,
           it->routing, (unsigned long long)it->seed);
  if (s->have_prob && strcmp(key, s->pkey) == 0) return PT_OK;
  drop_problem(s);
  pt_routing_t routing;
  int rc = pt_routing_parse(it->routing, &routing, err);
  if (rc == PT_OK) rc = pt_problem_init(&s->prob, sh, it->tokens, &routing, it->seed, err);
  if (rc != PT_OK) return rc;
  s->have_prob = 1;
  pt_problem_sizes_t z;
  pt_problem_sizes(sh, it->tokens, &z);
  rc = upload(s, s->prob.x, z.x, &s->x, err);
  if (rc == PT_OK) rc = upload(s, s->prob.xs, z.xs, &s->xs, err);
  if (rc == PT_OK) rc = upload(s, s->prob.w1, z.w1, &s->w1, err);
  if (rc == PT_OK) rc = upload(s, s->prob.w1s, z.w1s, &s->w1s, err);
  if (rc == PT_OK) rc = upload(s, s->prob.w2, z.w2, &s->w2, err);
  if (rc == PT_OK) rc = upload(s, s->prob.w2s, z.w2s, &s->w2s, err);
  if (rc == PT_OK) snprintf(s->pkey, sizeof s->pkey, "%s", key);
  return rc;
}

/* Bytes per intermediate row (h) and of its scales (hs) for a dtype. */
static size_t h_row_bytes(pt_dtype_t d, int I) {
  return d == PT_DTYPE_A4W4 ? (size_t)I / 2 : d == PT_DTYPE_A8W4 ? (size_t)I : (size_t)I * 2;
}

static int ensure_sort(gpu_state_t *s, int sbm, pt_err_t *err) {
  if (s->sbm == sbm) return PT_OK;
  drop_sort(s);
  const pt_moe_problem_t *p = &s->prob;
  const pt_moe_shape_t *sh = &p->shape;
  int rc = pt_sort_run(p->topk_ids, p->topk_w, p->tokens, sh->topk, sh->experts, sbm,
                       &s->sorted, err);
  if (rc != PT_OK) return rc;
  s->sbm = sbm;
  size_t cap = (size_t)s->sorted.capacity;
  rc = upload(s, s->sorted.sorted_ids, cap * 4, &s->sids, err);
  if (rc == PT_OK) rc = upload(s, s->sorted.sorted_w, cap * 4, &s->sw, err);
  if (rc == PT_OK) rc = upload(s, s->sorted.block_expert, cap / (size_t)sbm * 4, &s->bexp, err);
  if (rc == PT_OK)
    rc = pt_gpu_malloc(s->gpu, cap * h_row_bytes(sh->dtype, sh->inter_dim), &s->hq, err);
  if (rc == PT_OK && sh->dtype != PT_DTYPE_A16W4)
    rc = pt_gpu_malloc(s->gpu, cap * (size_t)sh->inter_dim / 32, &s->hs, err);
  if (rc == PT_OK)
    rc = pt_gpu_malloc(s->gpu, (size_t)p->tokens * (size_t)sh->model_dim * 2, &s->out, err);
  if (rc == PT_OK)
    rc = pt_gpu_malloc(s->gpu, (size_t)p->tokens * (size_t)sh->topk * (size_t)sh->model_dim * 2,
                       &s->ybuf, err);
  return rc;
}

/* A gemm2 input of seeded random values in the dtype's layout. */
static void fill_inter(pt_oracle_inter_t *h, uint64_t seed) {
  pt_routing_rng_t rng;
  pt_routing_rng_init(&rng, seed, 0x6d32);
  uint8_t *b = h->h;
  for (size_t i = 0; i < h->h_bytes; i++) {
    uint32_t r = (uint32_t)pt_routing_rng_next(&rng);
    if (h->dtype == PT_DTYPE_A16W4 && i % 2 == 1)
      b[i] = (uint8_t)(0x3c + (r & 3) + (r & 0x80));  /* bf16 high byte: +-[0.0078, 2) */
    else if (h->dtype == PT_DTYPE_A8W4 && (r & 0x7f) == 0x7f)
      b[i] = (uint8_t)(r & 0x80);                    /* no e4m3 NaN */
    else
      b[i] = (uint8_t)r;
  }
  for (size_t i = 0; i < h->hs_bytes; i++)
    h->hs[i] = (uint8_t)(126 + pt_routing_rng_below(&rng, 3));
}

static ref_t *find_ref(gpu_state_t *s, int stage, int bm) {
  for (int i = 0; i < REFS_MAX; i++)
    if (s->refs[i].used && s->refs[i].stage == stage && s->refs[i].bm == bm) return &s->refs[i];
  return NULL;
}

/* The oracle's answer for the current problem and sort, computed once. */
static int ensure_ref(gpu_state_t *s, pt_stage_t stage, ref_t **out, pt_err_t *err) {
  if ((*out = find_ref(s, (int)stage, s->sbm)) != NULL) return PT_OK;
  ref_t *r = &s->refs[s->next_ref];
  s->next_ref = (s->next_ref + 1) % REFS_MAX;
  if (r->used) {
    pt_oracle_sample_free(&r->smp);
    pt_oracle_inter_free(&r->h);
    free(r->out);
    memset(r, 0, sizeof *r);
  }
  const pt_moe_problem_t *p = &s->prob;
  const pt_moe_shape_t *sh = &p->shape;
  int rc = s->sorted.padded <= SAMPLE_ALL_ROWS
               ? pt_oracle_sample_all(&r->smp, &s->sorted, p->tokens, err)
               : pt_oracle_sample_init(&r->smp, &s->sorted, p->tokens, SAMPLE_BLOCKS,
                                       0x5eed + (uint64_t)s->sbm, err);
  if (rc == PT_OK)
    rc = pt_oracle_inter_init(&r->h, sh->dtype, s->sorted.capacity, sh->inter_dim, err);
  r->used = 1;
  r->stage = (int)stage;
  r->bm = s->sbm;
  if (rc == PT_OK && stage == PT_STAGE_GEMM1)
    rc = pt_oracle_gemm1(p, &s->sorted, &r->smp, s->threads, &r->h, NULL, err);
  if (rc == PT_OK && stage == PT_STAGE_GEMM2) {
    fill_inter(&r->h, 0x1234 + (uint64_t)s->sbm);
    r->out = calloc((size_t)p->tokens * (size_t)sh->model_dim, sizeof *r->out);
    rc = r->out != NULL ? PT_OK : pt_err_set(err, PT_ENOMEM, "out of memory for the oracle");
    if (rc == PT_OK)
      rc = pt_oracle_gemm2_atomic(p, &s->sorted, &r->h, &r->smp, s->threads, r->out, err);
  }
  *out = r;
  return rc;
}

/* ---- launching ---- */

static int launch(void *ud, pt_gpu_stream_t *stream, pt_err_t *err) {
  launch_t *l = ud;
  gpu_state_t *s = l->s;
  void *args[] = {&l->args};
  const unsigned block[3] = {l->block, 1, 1}, grid[3] = {l->grid, 1, 1};
  int rc = PT_OK;
  if (l->zero_out)
    rc = pt_gpu_memset(s->gpu, l->args.out, 0,
                       (size_t)l->args.M * (size_t)l->args.H * 2, stream, err);
  if (rc == PT_OK) rc = pt_gpu_launch(l->k, grid, block, l->smem, stream, args, err);
  if (rc == PT_OK && l->reduce != NULL) {
    pt_kargs_t ra = l->args;
    void *rargs[] = {&ra};
    const unsigned rblock[3] = {PT_KERNELS_REDUCE_THREADS, 1, 1};
    const unsigned rgrid[3] = {l->reduce_grid, 1, 1};
    ra.out = s->out;
    rc = pt_gpu_launch(l->reduce, rgrid, rblock, 0, stream, rargs, err);
  }
  return rc;
}

/* Fills l for item it from the loaded kernels: arguments and grid. */
static int setup_launch(gpu_state_t *s, const pt_proto_item_t *it, launch_t *l,
                        pt_err_t *err) {
  const pt_variant_t *v = &it->variant;
  const pt_moe_shape_t *sh = &it->shape;
  const pt_gpu_props_t *pr = pt_gpu_props(s->gpu);
  int g1 = v->stage == PT_STAGE_GEMM1;
  pt_kargs_t *a = &l->args;
  memset(a, 0, sizeof *a);
  a->a = g1 ? s->x : s->hq;
  a->as = g1 ? s->xs : s->hs;
  a->w = g1 ? s->w1 : s->w2;
  a->ws = g1 ? s->w1s : s->w2s;
  a->sorted_ids = s->sids;
  a->sorted_w = s->sw;
  a->block_expert = s->bexp;
  a->out = g1 ? s->hq : s->out;
  a->outs = g1 ? s->hs : 0;
  a->ybuf = !g1 && v->epilog == PT_EPILOG_REDUCE ? s->ybuf : 0;
  a->M = it->tokens;
  a->P = s->sorted.padded;
  a->H = sh->model_dim;
  a->I = sh->inter_dim;
  a->topk = sh->topk;
  a->sbm = s->sbm;
  int cols = g1 ? v->bn / 2 : v->bn, n = g1 ? sh->inter_dim : sh->model_dim;
  a->nblk_n = (n + cols - 1) / cols;
  a->ntiles = a->P / v->bm * a->nblk_n;
  l->s = s;
  l->block = (unsigned)pt_kernels_threads(v, pr->warp_size);
  l->smem = pt_kernels_smem(v);
  l->zero_out = !g1 && v->epilog == PT_EPILOG_ATOMIC;
  l->grid = (unsigned)(a->ntiles > 0 ? a->ntiles : 1);
  l->reduce_grid = (unsigned)(((long long)it->tokens * sh->model_dim / 8 +
                               PT_KERNELS_REDUCE_THREADS - 1) / PT_KERNELS_REDUCE_THREADS);
  if (v->persist) {
    int per_sm = 0;
    int rc = pt_gpu_occupancy(l->k, (int)l->block, l->smem, &per_sm, err);
    if (rc != PT_OK) return rc;
    if (per_sm < 1) return pt_err_set(err, PT_EINFEASIBLE, "no block fits on an SM");
    long long cap = (long long)pr->sm_count * per_sm;
    if (cap < l->grid) l->grid = (unsigned)cap;
  }
  return PT_OK;
}

/* Loads a code object and its entry: a failure is the variant's (launch_fail). */
static int load_kernel(gpu_state_t *s, const void *code, size_t size, const char *entry,
                       pt_gpu_module_t **mod, pt_gpu_kernel_t **k, pt_err_t *err) {
  if (code == NULL) return pt_err_set(err, PT_EINVAL, "the item carries no code object");
  int rc = pt_gpu_module_load(s->gpu, code, size, mod, err);
  return rc == PT_OK ? pt_gpu_kernel_get(*mod, entry, k, err) : rc;
}

/* ---- verifying ---- */

/* Largest relative L2 error accepted: bf16 keeps 8 bits; FP8 and FP4
 * intermediates may flip a code at a rounding boundary, which costs more. */
static double tolerance(pt_stage_t stage, pt_dtype_t d) {
  if (stage == PT_STAGE_GEMM2) return 0.02;
  return d == PT_DTYPE_A16W4 ? 0.01 : d == PT_DTYPE_A8W4 ? 0.05 : 0.12;
}

static int verify_gemm1(gpu_state_t *s, launch_t *l, const ref_t *r,
                        pt_oracle_diff_t *d, char *why, size_t len, pt_err_t *err) {
  const pt_moe_shape_t *sh = &s->prob.shape;
  pt_oracle_inter_t got;
  int rc = pt_oracle_inter_init(&got, sh->dtype, s->sorted.capacity, sh->inter_dim, err);
  if (rc != PT_OK) return rc;
  rc = pt_gpu_memset(s->gpu, s->hq, 0xff, got.h_bytes, NULL, err);
  if (rc == PT_OK && got.hs_bytes > 0) rc = pt_gpu_memset(s->gpu, s->hs, 0xff, got.hs_bytes, NULL, err);
  if (rc == PT_OK) rc = launch(l, NULL, err);
  if (rc == PT_OK) rc = pt_gpu_stream_sync(s->gpu, NULL, err);
  if (rc == PT_OK) rc = pt_gpu_memcpy_dtoh(s->gpu, got.h, s->hq, got.h_bytes, err);
  if (rc == PT_OK && got.hs_bytes > 0)
    rc = pt_gpu_memcpy_dtoh(s->gpu, got.hs, s->hs, got.hs_bytes, err);
  if (rc == PT_OK) rc = pt_oracle_inter_diff(&got, &r->h, r->smp.rows, r->smp.nrows, d, err);
  size_t row = h_row_bytes(sh->dtype, sh->inter_dim);
  for (int i = 0; rc == PT_OK && i < r->smp.npad && why[0] == '\0'; i++) {
    const uint8_t *p = (const uint8_t *)got.h + (size_t)r->smp.pad_rows[i] * row;
    for (size_t b = 0; b < row; b++)
      if (p[b] != 0xff) {
        snprintf(why, len, "padding row %d was written", r->smp.pad_rows[i]);
        break;
      }
  }
  pt_oracle_inter_free(&got);
  return rc;
}

static int verify_gemm2(gpu_state_t *s, launch_t *l, const ref_t *r,
                        pt_oracle_diff_t *d, pt_err_t *err) {
  const pt_moe_shape_t *sh = &s->prob.shape;
  size_t n = (size_t)s->prob.tokens * (size_t)sh->model_dim;
  uint16_t *got = malloc(n * 2);
  if (got == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for gemm2's output");
  int rc = pt_gpu_memcpy_htod(s->gpu, s->hq, r->h.h, r->h.h_bytes, err);
  if (rc == PT_OK && r->h.hs_bytes > 0)
    rc = pt_gpu_memcpy_htod(s->gpu, s->hs, r->h.hs, r->h.hs_bytes, err);
  /* Poison: what the kernel leaves alone stays NaN (atomic zeroes it first). */
  if (rc == PT_OK) rc = pt_gpu_memset(s->gpu, s->out, 0xff, n * 2, NULL, err);
  if (rc == PT_OK && l->args.ybuf != 0)
    rc = pt_gpu_memset(s->gpu, s->ybuf, 0xff, n * 2 * (size_t)sh->topk, NULL, err);
  if (rc == PT_OK) rc = launch(l, NULL, err);
  if (rc == PT_OK) rc = pt_gpu_stream_sync(s->gpu, NULL, err);
  if (rc == PT_OK) rc = pt_gpu_memcpy_dtoh(s->gpu, got, s->out, n * 2, err);
  if (rc == PT_OK)
    pt_oracle_diff(got, PT_ORACLE_BF16, r->out, PT_ORACLE_F32, sh->model_dim,
                   r->smp.tokens, r->smp.ntokens, d);
  free(got);
  return rc;
}

/* ---- the backend ---- */

/* max(bytes / memory bandwidth, flops / matrix rate) where the arch's
 * matrix rate is known; NAN otherwise. */
static double floor_us(gpu_state_t *s, pt_stage_t stage) {
  const pt_gpu_props_t *pr = pt_gpu_props(s->gpu);
  const pt_moe_shape_t *sh = &s->prob.shape;
  double per_clk = strncmp(pr->arch, "sm_90", 5) == 0 ? 4096 : strcmp(pr->arch, "sm_80") == 0 ? 2048 : 0;
  double bw = (double)pr->mem_clock_khz * 1e3 * pr->mem_bus_bits / 8 * 2;
  if (per_clk == 0 || bw <= 0 || pr->clock_khz <= 0) return NAN;
  double f1 = 0, f2 = 0;
  pt_problem_flops(&s->prob, &f1, &f2);
  double e = pt_problem_active_experts(&s->prob), H = sh->model_dim, I = sh->inter_dim;
  double rows = (double)s->prob.tokens * sh->topk;
  double hbytes = (double)h_row_bytes(sh->dtype, sh->inter_dim) * rows;
  double bytes = stage == PT_STAGE_GEMM1 ? e * 2 * I * (H / 2 + H / 32) + hbytes
                                         : e * H * (I / 2 + I / 32) + hbytes +
                                               (double)s->prob.tokens * H * 2;
  double flops = stage == PT_STAGE_GEMM1 ? f1 : f2;
  double rate = (double)pr->sm_count * pr->clock_khz * 1e3 * per_clk;
  double t = fmax(bytes / bw, flops / rate);
  return t * 1e6;
}

static void set_fail(pt_proto_result_t *res, const char *status, const char *why) {
  snprintf(res->status, sizeof res->status, "%s", status);
  snprintf(res->reason, sizeof res->reason, "%.500s", why);
}

static int measure_item(gpu_state_t *s, const pt_proto_item_t *it, launch_t *l,
                        pt_worker_begin_fn begin, void *ctx, pt_proto_result_t *res,
                        pt_err_t *err) {
  pt_stage_t stage = it->variant.stage;
  ref_t *ref = NULL;
  int rc = ensure_ref(s, stage, &ref, err);
  if (rc == PT_OK) rc = begin(ctx, err);
  if (rc != PT_OK) return rc;
  pt_oracle_diff_t d;
  char why[256] = "";
  memset(&d, 0, sizeof d);
  rc = stage == PT_STAGE_GEMM1 ? verify_gemm1(s, l, ref, &d, why, sizeof why, err)
                               : verify_gemm2(s, l, ref, &d, err);
  if (rc != PT_OK) return rc;  /* a launch or copy failed: the context is gone */
  res->err_max_abs = d.max_abs;
  res->err_mean_abs = d.mean_abs;
  res->err_max_rel = d.rel_l2;
  double tol = tolerance(stage, it->shape.dtype);
  if (why[0] == '\0' && (d.nonfinite > 0 || !(d.rel_l2 <= tol)))
    snprintf(why, sizeof why, "relative L2 error %.3g over %zu elements exceeds %g (%zu non-finite)",
             d.rel_l2, d.count, tol, d.nonfinite);
  if (why[0] != '\0') {
    set_fail(res, "verify_fail", why);
    return PT_OK;
  }
  pt_measure_opts_t o;
  pt_measure_stats_t st;
  pt_measure_opts_default(&o);
  o.cold = !it->warm;
  o.min_samples = it->min_samples;
  o.min_ms = it->min_ms;
  if (o.max_samples < o.min_samples) o.max_samples = o.min_samples;
  rc = pt_measure_gpu_run(it->warm ? &s->warm : &s->cold, &o, launch, l, &st, err);
  if (rc != PT_OK) return rc;
  res->median_us = st.median;
  res->min_us = st.min;
  res->p90_us = st.p90;
  res->spread = st.spread;
  res->samples = st.samples;
  res->floor_us = floor_us(s, stage);
  pt_gpu_sample_clocks(s->gpu, &res->sm_clock_mhz, &res->temp_c);
  return PT_OK;
}

static int gpu_run(void *state, const pt_proto_item_t *it, pt_worker_begin_fn begin,
                   void *ctx, pt_proto_result_t *res, pt_err_t *err) {
  gpu_state_t *s = state;
  launch_t l;
  pt_gpu_module_t *mod = NULL, *rmod = NULL;
  pt_err_t verr;
  memset(&l, 0, sizeof l);
  int rc = ensure_problem(s, it, err);
  if (rc == PT_OK) rc = ensure_sort(s, it->variant.bm, err);
  if (rc != PT_OK) return rc;
  /* What the variant's code does wrong is its result, not the worker's end. */
  int vrc = load_kernel(s, it->code, it->code_size, pt_kernels_entry(it->variant.stage),
                        &mod, &l.k, &verr);
  if (vrc == PT_OK && it->variant.stage == PT_STAGE_GEMM2 &&
      it->variant.epilog == PT_EPILOG_REDUCE)
    vrc = load_kernel(s, it->reduce_code, it->reduce_code_size, PT_KERNELS_REDUCE_ENTRY,
                      &rmod, &l.reduce, &verr);
  if (vrc == PT_OK) vrc = setup_launch(s, it, &l, &verr);
  if (vrc == PT_OK && l.smem > pt_gpu_props(s->gpu)->smem_per_block_optin)
    vrc = pt_err_set(&verr, PT_EINFEASIBLE, "needs %zu bytes of shared memory, the device allows %zu",
                     l.smem, pt_gpu_props(s->gpu)->smem_per_block_optin);
  if (vrc != PT_OK) set_fail(res, "launch_fail", verr.msg);
  else rc = measure_item(s, it, &l, begin, ctx, res, err);
  if (rmod != NULL) pt_gpu_module_unload(rmod);
  if (mod != NULL) pt_gpu_module_unload(mod);
  return rc;
}

static void gpu_close(void *state) {
  gpu_state_t *s = state;
  drop_problem(s);
  pt_measure_gpu_free(&s->cold);
  pt_measure_gpu_free(&s->warm);
  if (s->gpu != NULL) pt_gpu_close(s->gpu);
  free(s);
}

static int gpu_open(int ordinal, void **state, pt_gpu_props_t *props, pt_err_t *err) {
  const pt_gpu_backend_t order[] = {PT_GPU_CUDA, PT_GPU_HIP};
  int rc = pt_err_set(err, PT_ENOGPU, "no gpu backend was built");
  for (int b = 0; b < 2; b++) {
    int n = 0;
    if (!(pt_gpu_backends_built() & (1u << order[b]))) continue;
    if ((rc = pt_gpu_count(order[b], &n, err)) != PT_OK) continue;
    if (ordinal >= n) {
      rc = pt_err_set(err, PT_ENOGPU, "no gpu %d (%s sees %d)", ordinal,
                      pt_gpu_backend_name(order[b]), n);
      continue;
    }
    gpu_state_t *s = calloc(1, sizeof *s);
    if (s == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = cpus > 1 ? (int)cpus : 1;
    rc = pt_gpu_open(order[b], ordinal, &s->gpu, err);
    if (rc == PT_OK) rc = pt_measure_gpu_init(&s->cold, s->gpu, 1, err);
    if (rc == PT_OK) rc = pt_measure_gpu_init(&s->warm, s->gpu, 0, err);
    if (rc != PT_OK) {
      gpu_close(s);
      return rc;
    }
    *props = *pt_gpu_props(s->gpu);
    *state = s;
    return PT_OK;
  }
  return rc;
}

const pt_worker_backend_t pt__worker_backend_gpu = {"gpu", gpu_open, gpu_run, gpu_close};
