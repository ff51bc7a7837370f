/* pipetune verify's library part: config spec, stage-by-stage run against
 * the oracle, buffer dump (see verify.h). */
#include "verify.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "moe_sort.h"
#include "mx.h"
#include "pipeline.h"


/* ---- config spec ---- */

/* The stage a "g1:"/"gemm1:" prefix names; the knobs start at *rest. */
static int part_stage(const char *part, size_t len, pt_stage_t *st,
                      const char **rest)
{
  static const struct { const char *prefix; pt_stage_t st; } pre[] = {
      {"g1:", PT_STAGE_GEMM1}, {"g2:", PT_STAGE_GEMM2},
      {"gemm1:", PT_STAGE_GEMM1}, {"gemm2:", PT_STAGE_GEMM2}};
  for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
    size_t n = strlen(pre[i].prefix);
    if (len >= n && strncmp(part, pre[i].prefix, n) == 0) {
      *st = pre[i].st;
      *rest = part + n;
      return 0;
    }
  }
  return -1;
}

int pt_verify_parse_config(const char *spec, pt_verify_config_t *out,
                           pt_err_t *err)
{
  int seen[PT_STAGE_COUNT] = {0};
  pt_knobs_default(PT_STAGE_GEMM1, &out->g1);
  pt_knobs_default(PT_STAGE_GEMM2, &out->g2);
  for (const char *part = spec; *part != '\0';) {
    const char *semi = strchr(part, ';');
    size_t len = semi ? (size_t)(semi - part) : strlen(part);
    pt_stage_t st;
    const char *knobs;
    char buf[256];
    if (part_stage(part, len, &st, &knobs) != 0)
      return pt_err_set(err, PT_EINVAL, "config part '%.*s' does not start "
                        "with 'g1:' or 'g2:'", (int)len, part);
    if (seen[st]++)
      return pt_err_set(err, PT_EINVAL, "config names %s twice",
                        pt_stage_name(st));
    size_t klen = len - (size_t)(knobs - part);
    if (klen >= sizeof buf)
      return pt_err_set(err, PT_EINVAL, "config part '%.*s' is too long",
                        (int)len, part);
    memcpy(buf, knobs, klen);
    buf[klen] = '\0';
    int rc = pt_knobs_parse(st, buf, st == PT_STAGE_GEMM1 ? &out->g1 : &out->g2,
                            err);
    if (rc != PT_OK)
      return pt_err_prefix(err, "config %s", pt_stage_name(st));
    part = semi ? semi + 1 : part + len;
  }
  return PT_OK;
}

int pt_verify_sbm(const pt_verify_config_t *c)
{
  return c->g1.bm > c->g2.bm ? c->g1.bm : c->g2.bm;
}

/* ---- steps ---- */

static void step_init(pt_verify_step_t *s, const char *name,
                      const char *reference)
{
  memset(s, 0, sizeof *s);
  s->name = name;
  s->reference = reference;
  s->match = -1;
  s->untouched = 1;
}

static void step_diff(pt_verify_step_t *s, const pt_oracle_diff_t *d)
{
  s->ran = 1;
  s->max_abs = d->max_abs;
  s->mean_abs = d->mean_abs;
  s->rel_l2 = d->rel_l2;
  s->count = d->count;
  s->nonfinite = d->nonfinite;
}

static int readback(pt_verify_t *v, pt_pipe_buf_t which, void *dst,
                    pt_err_t *err)
{
  pt_gpu_ptr_t ptr;
  size_t bytes;
  pt_pipe_buffer(v->pp, which, &ptr, &bytes);
  return bytes ? pt_gpu_memcpy_dtoh(v->gpu, dst, ptr, bytes, err) : PT_OK;
}

static int alloc_sorted(pt_moe_sorted_t *s, const pt_moe_sorted_t *like,
                        pt_err_t *err)
{
  *s = *like;
  s->sorted_ids = malloc((size_t)like->capacity * sizeof(int32_t));
  s->sorted_w = malloc((size_t)like->capacity * sizeof(float));
  s->block_expert = malloc((size_t)(like->capacity / like->sbm) * sizeof(int32_t));
  if (!s->sorted_ids || !s->sorted_w || !s->block_expert)
    return pt_err_set(err, PT_ENOMEM, "sorted routing readback");
  return PT_OK;
}

static size_t count_equal(const void *a, const void *b, size_t n, size_t sz)
{
  size_t same = 0;
  for (size_t i = 0; i < n; i++)
    same += memcmp((const char *)a + i * sz, (const char *)b + i * sz, sz) == 0;
  return same;
}

/* Sorting is host-only: check what the kernels read (the device copy)
 * against an independent run of the sort. */
static int step_sort(pt_verify_t *v, int sbm, pt_err_t *err)
{
  const pt_moe_problem_t *p = v->p;
  pt_verify_step_t *s = &v->steps[PT_VERIFY_SORT];
  int rc = pt_sort_run(p->topk_ids, p->topk_w, p->tokens, p->shape.topk,
                       p->shape.experts, sbm, &v->host_sorted, err);
  if (rc == PT_OK)
    rc = alloc_sorted(&v->dev_sorted, &v->host_sorted, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_SORTED_IDS, v->dev_sorted.sorted_ids, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_SORTED_W, v->dev_sorted.sorted_w, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_BLOCK_EXPERT, v->dev_sorted.block_expert, err);
  if (rc != PT_OK)
    return rc;
  const pt_moe_sorted_t *a = &v->dev_sorted, *b = &v->host_sorted;
  size_t cap = (size_t)b->capacity, nb = cap / (size_t)b->sbm;
  size_t same = count_equal(a->sorted_ids, b->sorted_ids, cap, 4) +
                count_equal(a->sorted_w, b->sorted_w, cap, 4) +
                count_equal(a->block_expert, b->block_expert, nb, 4);
  pt_oracle_diff_t d;
  pt_oracle_diff(a->sorted_w, PT_ORACLE_F32, b->sorted_w, PT_ORACLE_F32,
                 (int)cap, NULL, 1, &d);
  step_diff(s, &d);
  s->count = 2 * cap + nb;
  s->match = (double)same / (double)s->count;
  s->pass = same == s->count && a->padded == pt_pipe_padded(v->pp);
  return PT_OK;
}

static int step_gemm1(pt_verify_t *v, pt_pipe_stage_t *g1, pt_err_t *err)
{
  const pt_oracle_sample_t *smp = pt_pipe_sample(v->pp);
  pt_verify_step_t *s = &v->steps[PT_VERIFY_GEMM1];
  pt_pipe_check_t chk;
  pt_oracle_diff_t d;
  int rc = pt_pipe_verify_gemm1(v->pp, g1, &chk, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_H, v->h.h, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_HS, v->h.hs, err);
  if (rc == PT_OK)
    rc = pt_oracle_inter_diff(&v->h, pt_pipe_ref_inter(v->pp), smp->rows,
                              smp->nrows, &d, err);
  if (rc == PT_OK) {
    step_diff(s, &d);
    s->match = chk.code_match;
    s->untouched = chk.untouched;
    s->pass = chk.pass;
  }
  return rc;
}

static float *nan_floats(size_t n)
{
  float *f = malloc((n ? n : 1) * sizeof *f);
  for (size_t i = 0; f && i < n; i++)
    f[i] = NAN;
  return f;
}

static int poison(pt_verify_t *v, pt_pipe_buf_t which, pt_err_t *err)
{
  pt_gpu_ptr_t ptr;
  size_t bytes;
  pt_pipe_buffer(v->pp, which, &ptr, &bytes);
  return pt_gpu_memset(v->gpu, ptr, PT_PIPE_POISON, bytes, NULL, err);
}

static int guard_untouched(const pt_verify_t *v)
{
  size_t H = (size_t)v->p->shape.model_dim;
  const unsigned char *g = (const unsigned char *)(v->out + (size_t)v->p->tokens * H);
  for (size_t i = 0; i < 2 * H; i++)
    if (g[i] != PT_PIPE_POISON)
      return 0;
  return 1;
}

/* Rows t*K + slot of ybuf for the sample's real sorted rows. */
static int32_t *ybuf_rows(const pt_verify_t *v, int *n)
{
  const pt_oracle_sample_t *smp = pt_pipe_sample(v->pp);
  const pt_moe_sorted_t *srt = pt_pipe_sorted(v->pp);
  int32_t *rows = malloc(((size_t)smp->nrows + 1) * sizeof *rows);
  *n = 0;
  for (int i = 0; rows && i < smp->nrows; i++) {
    int32_t id = srt->sorted_ids[smp->rows[i]];
    if (PT_SORT_TOKEN(id) < v->p->tokens)
      rows[(*n)++] = PT_SORT_TOKEN(id) * v->p->shape.topk + PT_SORT_SLOT(id);
  }
  return rows;
}

static int check_ybuf(pt_verify_t *v, int threads, pt_err_t *err)
{
  const pt_moe_problem_t *p = v->p;
  pt_verify_step_t *s = &v->steps[PT_VERIFY_GEMM2];
  size_t n = (size_t)p->tokens * p->shape.topk * p->shape.model_dim;
  int nrows;
  int32_t *rows = ybuf_rows(v, &nrows);
  int rc = PT_OK;
  if (rows == NULL || (v->ref_ybuf = nan_floats(n)) == NULL)
    rc = pt_err_set(err, PT_ENOMEM, "oracle ybuf");
  if (rc == PT_OK)
    rc = pt_oracle_gemm2_reduce(p, pt_pipe_sorted(v->pp), &v->h,
                                pt_pipe_sample(v->pp), threads, v->ref_ybuf, err);
  if (rc == PT_OK) {
    pt_oracle_diff_t d;
    pt_oracle_diff(v->ybuf, PT_ORACLE_BF16, v->ref_ybuf, PT_ORACLE_F32,
                   p->shape.model_dim, rows, nrows, &d);
    step_diff(s, &d);
    s->pass = pt_pipe_output_ok(d.rel_l2, d.nonfinite);
  }
  free(rows);
  return rc;
}

static int check_out_atomic(pt_verify_t *v, int threads, pt_err_t *err)
{
  const pt_moe_problem_t *p = v->p;
  const pt_oracle_sample_t *smp = pt_pipe_sample(v->pp);
  pt_verify_step_t *s = &v->steps[PT_VERIFY_GEMM2];
  int rc = pt_oracle_gemm2_atomic(p, pt_pipe_sorted(v->pp), &v->h, smp,
                                  threads, v->ref_out, err);
  if (rc == PT_OK) {
    pt_oracle_diff_t d;
    pt_oracle_diff(v->out, PT_ORACLE_BF16, v->ref_out, PT_ORACLE_F32,
                   p->shape.model_dim, smp->tokens, smp->ntokens, &d);
    step_diff(s, &d);
    s->untouched = guard_untouched(v);
    s->pass = pt_pipe_output_ok(d.rel_l2, d.nonfinite) && s->untouched;
  }
  return rc;
}

/* The oracle's reduce of the GPU's own ybuf, on the checked tokens only
 * (gathered, so a large M needs no full f32 copy of ybuf). */
static int check_reduce(pt_verify_t *v, pt_err_t *err)
{
  const pt_moe_problem_t *p = v->p;
  const pt_oracle_sample_t *smp = pt_pipe_sample(v->pp);
  pt_verify_step_t *s = &v->steps[PT_VERIFY_REDUCE];
  size_t H = (size_t)p->shape.model_dim, K = (size_t)p->shape.topk;
  size_t nt = (size_t)smp->ntokens;
  float *y = malloc((nt * K * H + 1) * sizeof *y);
  float *o = malloc((nt * H + 1) * sizeof *o);
  uint16_t *got = malloc((nt * H + 1) * sizeof *got);
  int rc = y && o && got ? PT_OK : pt_err_set(err, PT_ENOMEM, "reduce check");
  for (size_t i = 0; rc == PT_OK && i < nt; i++) {
    size_t t = (size_t)smp->tokens[i];
    pt_mx_bf16_to_f32_row(v->ybuf + t * K * H, K * H, y + i * K * H);
    memcpy(got + i * H, v->out + t * H, H * sizeof *got);
  }
  if (rc == PT_OK)
    rc = pt_oracle_reduce(y, (int)nt, (int)K, (int)H, NULL, o, err);
  if (rc == PT_OK) {
    pt_oracle_diff_t d;
    pt_oracle_diff(got, PT_ORACLE_BF16, o, PT_ORACLE_F32, (int)H, NULL, (int)nt, &d);
    for (size_t i = 0; i < nt; i++)
      memcpy(v->ref_out + (size_t)smp->tokens[i] * H, o + i * H, H * sizeof *o);
    step_diff(s, &d);
    s->untouched = guard_untouched(v);
    s->pass = pt_pipe_output_ok(d.rel_l2, d.nonfinite) && s->untouched;
  }
  free(y);
  free(o);
  free(got);
  return rc;
}

/* gemm1 then gemm2 on gemm1's own output; h is read back after, so the
 * oracle's gemm2 sees exactly what the GPU's gemm2 read. */
static int step_gemm2(pt_verify_t *v, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                      int threads, pt_err_t *err)
{
  const pt_moe_problem_t *p = v->p;
  int reduce = g2->v.epilog == PT_EPILOG_REDUCE;
  size_t MH = (size_t)p->tokens * p->shape.model_dim;
  size_t ny = MH * p->shape.topk;
  int rc = PT_OK;
  v->out = malloc((MH + p->shape.model_dim) * sizeof *v->out);
  v->ref_out = nan_floats(MH);
  if (reduce)
    v->ybuf = malloc(ny * sizeof *v->ybuf);
  if (!v->out || !v->ref_out || (reduce && !v->ybuf))
    rc = pt_err_set(err, PT_ENOMEM, "gemm2 readback");
  if (rc == PT_OK)
    rc = poison(v, PT_PIPE_BUF_OUT, err);
  if (rc == PT_OK && reduce)
    rc = poison(v, PT_PIPE_BUF_YBUF, err);
  if (rc == PT_OK)
    rc = pt_pipe_run(v->pp, g1, g2, NULL, err);
  if (rc == PT_OK)
    rc = pt_gpu_stream_sync(v->gpu, NULL, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_H, v->h.h, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_HS, v->h.hs, err);
  if (rc == PT_OK)
    rc = readback(v, PT_PIPE_BUF_OUT, v->out, err);
  if (rc == PT_OK && reduce)
    rc = readback(v, PT_PIPE_BUF_YBUF, v->ybuf, err);
  if (rc == PT_OK && reduce)
    rc = check_ybuf(v, threads, err);
  if (rc == PT_OK && reduce)
    rc = check_reduce(v, err);
  if (rc == PT_OK && !reduce)
    rc = check_out_atomic(v, threads, err);
  return rc;
}

static int load_stage(pt_gpu_t *gpu, const pt_variant_t *var,
                      const pt_moe_shape_t *sh, pt_pipe_stage_t *st,
                      pt_err_t *err)
{
  int rc = pt_pipe_stage_load(gpu, var, sh->dtype, sh->act, st, err);
  if (rc != PT_OK) {
    char spec[PT_KNOBS_SPEC_MAX];
    pt_knobs_format(var, spec, sizeof spec);
    pt_err_prefix(err, "%s '%s'", pt_stage_name(var->stage), spec);
  }
  return rc;
}

int pt_verify_run(pt_gpu_t *gpu, const pt_moe_problem_t *p,
                  const pt_verify_config_t *cfg, int threads,
                  unsigned long long seed, pt_verify_t *out, pt_err_t *err)
{
  pt_pipe_stage_t g1 = {0}, g2 = {0};
  memset(out, 0, sizeof *out);
  out->gpu = gpu;
  out->p = p;
  step_init(&out->steps[PT_VERIFY_SORT], "sort", "pt_sort_run (host sort; device copy read back)");
  step_init(&out->steps[PT_VERIFY_GEMM1], "gemm1", "oracle gemm1");
  step_init(&out->steps[PT_VERIFY_GEMM2], "gemm2", "oracle gemm2 on the GPU's own h");
  step_init(&out->steps[PT_VERIFY_REDUCE], "reduce", "oracle reduce of the GPU's own ybuf");
  int sbm = pt_verify_sbm(cfg);
  int rc = load_stage(gpu, &cfg->g1, &p->shape, &g1, err);
  if (rc == PT_OK)
    rc = load_stage(gpu, &cfg->g2, &p->shape, &g2, err);
  if (rc == PT_OK)
    rc = pt_pipe_init(gpu, p, sbm, threads, seed, &out->pp, err);
  if (rc == PT_OK)
    rc = pt_oracle_inter_init(&out->h, p->shape.dtype, pt_pipe_padded(out->pp),
                              p->shape.inter_dim, err);
  if (rc == PT_OK)
    rc = step_sort(out, sbm, err);
  if (rc == PT_OK)
    rc = step_gemm1(out, &g1, err);
  if (rc == PT_OK)
    rc = step_gemm2(out, &g1, &g2, threads, err);
  pt_pipe_stage_unload(&g1);
  pt_pipe_stage_unload(&g2);
  return rc;
}

void pt_verify_free(pt_verify_t *v)
{
  pt_pipe_free(v->pp);
  pt_sort_free(&v->host_sorted);
  free(v->dev_sorted.sorted_ids);
  free(v->dev_sorted.sorted_w);
  free(v->dev_sorted.block_expert);
  pt_oracle_inter_free(&v->h);
  free(v->ybuf);
  free(v->ref_ybuf);
  free(v->out);
  free(v->ref_out);
  memset(v, 0, sizeof *v);
}

int pt_verify_passed(const pt_verify_t *v)
{
  for (int i = 0; i < PT_VERIFY_NSTEPS; i++)
    if (v->steps[i].ran && !v->steps[i].pass)
      return 0;
  return 1;
}

/* ---- buffers ---- */

static const struct {
  const char *name;
  size_t size;
} kDtypes[] = {
    [PT_VERIFY_E2M1X2] = {"e2m1x2", 1}, [PT_VERIFY_E4M3] = {"e4m3", 1},
    [PT_VERIFY_E8M0] = {"e8m0", 1},     [PT_VERIFY_BF16] = {"bf16", 2},
    [PT_VERIFY_F32] = {"f32", 4},       [PT_VERIFY_I32] = {"i32", 4},
};

const char *pt_verify_dtype_name(pt_verify_dtype_t d)
{
  return (unsigned)d < sizeof kDtypes / sizeof kDtypes[0] ? kDtypes[d].name : "?";
}

static pt_verify_buf_t buf2(const char *name, pt_verify_dtype_t dt,
                            long long d0, long long d1, const char *layout,
                            const void *data)
{
  pt_verify_buf_t b = {name, dt, 2, {d0, d1, 0, 0}, layout, data,
                       (size_t)(d0 * d1) * kDtypes[dt].size};
  return b;
}

static pt_verify_buf_t buf3(const char *name, pt_verify_dtype_t dt,
                            long long d0, long long d1, long long d2,
                            const char *layout, const void *data)
{
  pt_verify_buf_t b = {name, dt, 3, {d0, d1, d2, 0}, layout, data,
                       (size_t)(d0 * d1 * d2) * kDtypes[dt].size};
  return b;
}

/* An activation-like buffer of the dtype: [rows, cols] logical. */
static pt_verify_buf_t act_buf(const char *name, pt_dtype_t dt, long long rows,
                               long long cols, const char *layout,
                               const void *data)
{
  if (dt == PT_DTYPE_A4W4)
    return buf2(name, PT_VERIFY_E2M1X2, rows, cols / 2, layout, data);
  return buf2(name, dt == PT_DTYPE_A8W4 ? PT_VERIFY_E4M3 : PT_VERIFY_BF16,
              rows, cols, layout, data);
}

int pt_verify_problem_bufs(const pt_moe_problem_t *p, pt_verify_buf_t *out)
{
  const pt_moe_shape_t *sh = &p->shape;
  long long M = p->tokens, H = sh->model_dim, I = sh->inter_dim;
  long long E = sh->experts, K = sh->topk;
  int n = 0;
  out[n++] = act_buf("x", sh->dtype, M, H, "[M, H] activations, row-major", p->x);
  if (p->xs)
    out[n++] = buf2("xs", PT_VERIFY_E8M0, M, H / 32, "[M, H/32] scales of x: "
                    "element j of row t scaled by xs[t, j/32]", p->xs);
  out[n++] = buf3("w1", PT_VERIFY_E2M1X2, E, 2 * I, H / 2, "[E, 2I, H] mxfp4: "
                  "rows 0..I-1 gate, I..2I-1 up", p->w1);
  out[n++] = buf3("w1s", PT_VERIFY_E8M0, E, 2 * I, H / 32, "[E, 2I, H/32] "
                  "scales of w1", p->w1s);
  out[n++] = buf3("w2", PT_VERIFY_E2M1X2, E, H, I / 2, "[E, H, I] mxfp4", p->w2);
  out[n++] = buf3("w2s", PT_VERIFY_E8M0, E, H, I / 32, "[E, H, I/32] scales "
                  "of w2", p->w2s);
  out[n++] = buf2("topk_ids", PT_VERIFY_I32, M, K, "[M, K] expert of each "
                  "token's slot, distinct per token", p->topk_ids);
  out[n++] = buf2("topk_w", PT_VERIFY_F32, M, K, "[M, K] routing weights",
                  p->topk_w);
  return n;
}

static pt_verify_buf_t buf1(const char *name, pt_verify_dtype_t dt, long long d0,
                            const char *layout, const void *data)
{
  pt_verify_buf_t b = {name, dt, 1, {d0, 0, 0, 0}, layout, data,
                       (size_t)d0 * kDtypes[dt].size};
  return b;
}

static int inter_bufs(const pt_oracle_inter_t *h, const char *hname,
                      const char *sname, const char *layout,
                      pt_verify_buf_t *out)
{
  int n = 0;
  out[n++] = act_buf(hname, h->dtype, h->rows, h->inter_dim, layout, h->h);
  if (h->hs)
    out[n++] = buf2(sname, PT_VERIFY_E8M0, h->rows, h->inter_dim / 32,
                    "[P, I/32] scales of the intermediate", h->hs);
  return n;
}

int pt_verify_run_bufs(const pt_verify_t *v, pt_verify_buf_t *out)
{
  const pt_moe_problem_t *p = v->p;
  const pt_moe_sorted_t *s = &v->dev_sorted;
  const pt_oracle_sample_t *smp = pt_pipe_sample(v->pp);
  long long M = p->tokens, H = p->shape.model_dim, K = p->shape.topk;
  int n = pt_verify_problem_bufs(p, out);
  out[n++] = buf1("sorted_ids", PT_VERIFY_I32, s->capacity, "[capacity] "
                  "token | slot << 24 per sorted row; the first 'padded' "
                  "entries used; padding holds token M", s->sorted_ids);
  out[n++] = buf1("sorted_w", PT_VERIFY_F32, s->capacity, "[capacity] "
                  "routing weight per sorted row, 0 on padding", s->sorted_w);
  out[n++] = buf1("block_expert", PT_VERIFY_I32, s->capacity / s->sbm,
                  "[capacity/sbm] expert of each sbm-row block, -1 past "
                  "padded/sbm", s->block_expert);
  n += inter_bufs(&v->h, "h", "hs", "[P, I] the GPU's gemm1 output per sorted "
                  "row; padding rows hold the 0xa5 poison", out + n);
  n += inter_bufs(pt_pipe_ref_inter(v->pp), "ref_h", "ref_hs", "[P, I] the "
                  "oracle's gemm1 output; rows not in sample_rows are zero",
                  out + n);
  if (v->ybuf) {
    out[n++] = buf3("ybuf", PT_VERIFY_BF16, M, K, H, "[M, K, H] the GPU's "
                    "weighted gemm2 rows per (token, slot)", v->ybuf);
    out[n++] = buf3("ref_ybuf", PT_VERIFY_F32, M, K, H, "[M, K, H] the "
                    "oracle's gemm2 on h; NaN for rows not checked", v->ref_ybuf);
  }
  out[n++] = buf2("out", PT_VERIFY_BF16, M, H, "[M, H] the GPU's output", v->out);
  out[n++] = buf2("ref_out", PT_VERIFY_F32, M, H, v->ybuf ? "[M, H] the "
                  "oracle's reduce of ybuf; NaN for tokens not checked"
                  : "[M, H] the oracle's gemm2 on h; NaN for tokens not "
                  "checked", v->ref_out);
  out[n++] = buf1("sample_rows", PT_VERIFY_I32, smp->nrows, "sorted rows "
                  "checked, ascending", smp->rows);
  out[n++] = buf1("sample_tokens", PT_VERIFY_I32, smp->ntokens, "tokens "
                  "checked, ascending", smp->tokens);
  return n;
}

/* ---- dump ---- */

static int check_buf(const pt_verify_buf_t *b, const pt_verify_buf_t *all,
                     int i, pt_err_t *err)
{
  size_t len = b->name ? strlen(b->name) : 0;
  if (len == 0 || strspn(b->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
    return pt_err_set(err, PT_EINVAL, "bad buffer name '%s'",
                      b->name ? b->name : "");
  for (int j = 0; j < i; j++)
    if (strcmp(all[j].name, b->name) == 0)
      return pt_err_set(err, PT_EINVAL, "buffer '%s' listed twice", b->name);
  if ((unsigned)b->dtype >= sizeof kDtypes / sizeof kDtypes[0] ||
      b->ndim < 1 || b->ndim > PT_VERIFY_NDIM_MAX)
    return pt_err_set(err, PT_EINVAL, "buffer '%s': bad dtype or rank", b->name);
  size_t elems = 1;
  for (int d = 0; d < b->ndim; d++) {
    if (b->shape[d] < 0)
      return pt_err_set(err, PT_EINVAL, "buffer '%s': negative dimension",
                        b->name);
    elems *= (size_t)b->shape[d];
  }
  if (elems * kDtypes[b->dtype].size != b->bytes)
    return pt_err_set(err, PT_EINVAL, "buffer '%s': %zu bytes, but its shape "
                      "holds %zu", b->name, b->bytes,
                      elems * kDtypes[b->dtype].size);
  if (b->bytes > 0 && b->data == NULL)
    return pt_err_set(err, PT_EINVAL, "buffer '%s' has no data", b->name);
  return PT_OK;
}

static int write_raw(const char *path, const void *data, size_t n, pt_err_t *err)
{
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    return pt_err_set(err, PT_EIO, "cannot create '%s': %s", path, strerror(errno));
  size_t put = n ? fwrite(data, 1, n, f) : 0;
  if (fclose(f) != 0 || put != n)
    return pt_err_set(err, PT_EIO, "cannot write '%s'", path);
  return PT_OK;
}

static cJSON *meta_json(const pt_verify_meta_t *m)
{
  char seed[32];
  cJSON *j = cJSON_CreateObject();
  snprintf(seed, sizeof seed, "%llu", m->seed);
  cJSON_AddStringToObject(j, "format", "pipetune-verify-dump");
  cJSON_AddNumberToObject(j, "version", 1);
  cJSON_AddStringToObject(j, "byte_order", "little");
  cJSON_AddStringToObject(j, "family", m->family);
  cJSON_AddStringToObject(j, "dtype", pt_dtype_name(m->shape.dtype));
  cJSON_AddStringToObject(j, "act", pt_act_name(m->shape.act));
  cJSON_AddNumberToObject(j, "model_dim", m->shape.model_dim);
  cJSON_AddNumberToObject(j, "inter_dim", m->shape.inter_dim);
  cJSON_AddNumberToObject(j, "experts", m->shape.experts);
  cJSON_AddNumberToObject(j, "topk", m->shape.topk);
  cJSON_AddNumberToObject(j, "tokens", m->tokens);
  cJSON_AddStringToObject(j, "routing", m->routing);
  cJSON_AddStringToObject(j, "seed", seed);  /* 64-bit: exact as a string */
  cJSON_AddNumberToObject(j, "sbm", m->sbm);
  cJSON_AddNumberToObject(j, "padded", m->padded);
  cJSON_AddStringToObject(j, "gemm1", m->gemm1);
  cJSON_AddStringToObject(j, "gemm2", m->gemm2);
  if (m->device)
    cJSON_AddStringToObject(j, "device", m->device);
  return j;
}

/* Non-finite numbers are written as null: JSON has no NaN. */
static void add_num(cJSON *o, const char *k, double v)
{
  if (isfinite(v))
    cJSON_AddNumberToObject(o, k, v);
  else
    cJSON_AddNullToObject(o, k);
}

static cJSON *steps_json(const pt_verify_step_t *steps, int n)
{
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    const pt_verify_step_t *s = &steps[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "step", s->name);
    cJSON_AddStringToObject(o, "reference", s->reference);
    cJSON_AddBoolToObject(o, "ran", s->ran);
    if (s->ran) {
      add_num(o, "max_abs", s->max_abs);
      add_num(o, "mean_abs", s->mean_abs);
      add_num(o, "rel_l2", s->rel_l2);
      if (s->match >= 0)
        add_num(o, "match", s->match);
      cJSON_AddNumberToObject(o, "count", (double)s->count);
      cJSON_AddNumberToObject(o, "nonfinite", (double)s->nonfinite);
      cJSON_AddBoolToObject(o, "untouched", s->untouched);
      cJSON_AddBoolToObject(o, "pass", s->pass);
    }
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static cJSON *buf_json(const pt_verify_buf_t *b, const char *file)
{
  cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
  cJSON_AddStringToObject(o, "file", file);
  cJSON_AddStringToObject(o, "dtype", kDtypes[b->dtype].name);
  for (int d = 0; d < b->ndim; d++)
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)b->shape[d]));
  cJSON_AddItemToObject(o, "shape", shape);
  cJSON_AddStringToObject(o, "layout", b->layout ? b->layout : "");
  cJSON_AddNumberToObject(o, "bytes", (double)b->bytes);
  return o;
}

static int host_is_little_endian(void)
{
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 1;
}

static int write_manifest(const char *dir, cJSON *j, pt_err_t *err)
{
  char path[4096];
  char *text = cJSON_Print(j);
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  int rc = text ? write_raw(path, text, strlen(text), err)
                : pt_err_set(err, PT_ENOMEM, "manifest text");
  free(text);
  return rc;
}

int pt_verify_dump(const char *dir, const pt_verify_meta_t *meta,
                   const pt_verify_step_t *steps, int nsteps,
                   const pt_verify_buf_t *bufs, int nbufs, pt_err_t *err)
{
  if (!host_is_little_endian())
    return pt_err_set(err, PT_ENOTSUP, "dumps are written on little-endian hosts only");
  for (int i = 0; i < nbufs; i++) {
    int rc = check_buf(&bufs[i], bufs, i, err);
    if (rc != PT_OK)
      return rc;
  }
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return pt_err_set(err, PT_EIO, "cannot create directory '%s': %s", dir,
                      strerror(errno));
  cJSON *j = meta_json(meta), *all = cJSON_CreateObject();
  if (steps)
    cJSON_AddItemToObject(j, "steps", steps_json(steps, nsteps));
  cJSON_AddItemToObject(j, "buffers", all);
  int rc = PT_OK;
  for (int i = 0; rc == PT_OK && i < nbufs; i++) {
    char file[128], path[4096];
    snprintf(file, sizeof file, "%s.bin", bufs[i].name);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    rc = write_raw(path, bufs[i].data, bufs[i].bytes, err);
    cJSON_AddItemToObject(all, bufs[i].name, buf_json(&bufs[i], file));
  }
  if (rc == PT_OK)
    rc = write_manifest(dir, j, err);
  cJSON_Delete(j);
  return rc;
}
