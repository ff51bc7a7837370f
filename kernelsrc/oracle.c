/* The host oracle (see oracle.h). Stages turn the sorted rows they compute
 * into a job list, then walk it in chunks: gather the chunk's dequantized
 * input rows, one expert-selected matmul over the chunk (the only
 * multithreaded part), and a serial epilogue per row. */
#include "oracle.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "moe_sort.h"
#include "mx.h"
#include "rng.h"
#include "routing.h"

#define CHUNK_ROWS 256  /* sorted rows per matmul call: bounds the buffers */
#define TASK_COLS 32    /* output columns per matmul task */
/* sort block of pt_oracle_moe; results do not depend on it */
#define ORACLE_SBM 32

/* ---- activation ---- */

static double sigmoid(double x) {
  return 1.0 / (1.0 + exp(-x));
}

double pt_oracle_silu(double gate, double up) {
  return gate * sigmoid(gate) * up;
}

double pt_oracle_swiglu_oai(double gate, double up) {
  /* comparisons, not fmin/fmax, so that NaN propagates */
  if (gate > PT_SWIGLU_OAI_LIMIT) gate = PT_SWIGLU_OAI_LIMIT;
  if (up > PT_SWIGLU_OAI_LIMIT) up = PT_SWIGLU_OAI_LIMIT;
  if (up < -PT_SWIGLU_OAI_LIMIT) up = -PT_SWIGLU_OAI_LIMIT;
  return gate * sigmoid(PT_SWIGLU_OAI_ALPHA * gate) * (up + 1.0);
}

double pt_oracle_act(pt_act_t act, double gate, double up) {
  return act == PT_ACT_SWIGLU_OAI ? pt_oracle_swiglu_oai(gate, up)
                                  : pt_oracle_silu(gate, up);
}

/* ---- operand rows ---- */

/* Row `row` of an activation-format matrix with `cols` columns: e2m1 pairs
 * or e4m3 bytes with e8m0 scales, or bf16 (the layouts of x and of h). */
static void act_row(pt_dtype_t dtype, const void *data, const uint8_t *scales,
                    size_t row, size_t cols, float *out) {
  const uint8_t *d = data;
  switch (dtype) {
  case PT_DTYPE_A4W4:
    pt_mx_dequantize_row(PT_MX_E2M1, d + row * cols / 2,
                         scales + row * cols / PT_MX_BLOCK, cols, out);
    break;
  case PT_DTYPE_A8W4:
    pt_mx_dequantize_row(PT_MX_E4M3, d + row * cols,
                         scales + row * cols / PT_MX_BLOCK, cols, out);
    break;
  default:
    pt_mx_bf16_to_f32_row((const uint16_t *)data + row * cols, cols, out);
    break;
  }
}

void pt_oracle_x_row(const pt_moe_problem_t *p, int t, float *out) {
  act_row(p->shape.dtype, p->x, p->xs, (size_t)t, (size_t)p->shape.model_dim, out);
}

int pt_oracle_inter_init(pt_oracle_inter_t *b, pt_dtype_t dtype, int rows,
                         int inter_dim, pt_err_t *err) {
  memset(b, 0, sizeof *b);
  if ((int)dtype < 0 || dtype >= PT_DTYPE_COUNT || rows < 0 ||
      inter_dim < PT_MX_BLOCK || inter_dim % PT_MX_BLOCK != 0)
    return pt_err_set(err, PT_EINVAL,
                      "bad intermediate buffer: dtype %d, %d rows, inter_dim %d",
                      (int)dtype, rows, inter_dim);
  size_t n = (size_t)rows * (size_t)inter_dim;
  static const size_t elem_bytes2[PT_DTYPE_COUNT] = {1, 2, 4};  /* x2 */
  b->dtype = dtype;
  b->rows = rows;
  b->inter_dim = inter_dim;
  b->h_bytes = n * elem_bytes2[dtype] / 2;
  b->hs_bytes = dtype == PT_DTYPE_A16W4 ? 0 : n / PT_MX_BLOCK;
  b->h = calloc(b->h_bytes ? b->h_bytes : 1, 1);
  b->hs = b->hs_bytes ? calloc(b->hs_bytes, 1) : NULL;
  if (b->h == NULL || (b->hs_bytes && b->hs == NULL)) {
    pt_oracle_inter_free(b);
    return pt_err_set(err, PT_ENOMEM, "out of memory for %d intermediate rows",
                      rows);
  }
  return PT_OK;
}

void pt_oracle_inter_free(pt_oracle_inter_t *b) {
  free(b->h);
  free(b->hs);
  memset(b, 0, sizeof *b);
}

void pt_oracle_h_row(const pt_oracle_inter_t *b, int r, float *out) {
  act_row(b->dtype, b->h, b->hs, (size_t)r, (size_t)b->inter_dim, out);
}

/* Requantizes one f32 row into row r of b, as gemm1's epilogue does. */
static void store_h_row(pt_oracle_inter_t *b, int r, const float *v) {
  size_t I = (size_t)b->inter_dim, row = (size_t)r;
  uint8_t *h = b->h;
  switch (b->dtype) {
  case PT_DTYPE_A4W4:
    pt_mx_quantize_row(PT_MX_E2M1, v, I, h + row * I / 2,
                       b->hs + row * I / PT_MX_BLOCK);
    break;
  case PT_DTYPE_A8W4:
    pt_mx_quantize_row(PT_MX_E4M3, v, I, h + row * I,
                       b->hs + row * I / PT_MX_BLOCK);
    break;
  default:
    pt_mx_bf16_from_f32_row(v, I, (uint16_t *)b->h + row * I);
    break;
  }
}

/* ---- a static parallel-for over tasks ---- */

typedef void task_fn(const void *ctx, int task, void *scratch);

typedef struct {
  task_fn *fn;
  const void *ctx;
  int ntasks, stride, first;
  void *scratch;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  for (int t = w->first; t < w->ntasks; t += w->stride)
    w->fn(w->ctx, t, w->scratch);
  return NULL;
}

/* Runs fn on tasks 0..ntasks-1 over up to `threads` threads, task i on
 * worker i % threads, each worker with scratch_bytes of its own. A worker
 * whose thread cannot start runs on the calling thread instead. */
static int run_tasks(task_fn *fn, const void *ctx, int ntasks, int threads,
                     size_t scratch_bytes, pt_err_t *err) {
  if (threads < 1) threads = 1;
  if (threads > ntasks) threads = ntasks;
  if (threads < 1) return PT_OK;
  worker_t *w = calloc((size_t)threads, sizeof *w);
  pthread_t *tid = calloc((size_t)threads, sizeof *tid);
  char *scratch = malloc((size_t)threads * scratch_bytes + 1);
  int rc = PT_OK;
  if (w == NULL || tid == NULL || scratch == NULL) {
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for %d oracle threads",
                    threads);
    goto out;
  }
  /* workers 1..started get threads; creation stops at the first failure */
  int started = 0;
  for (int i = 0; i < threads; i++)
    w[i] = (worker_t){fn, ctx, ntasks, threads, i,
                      scratch + (size_t)i * scratch_bytes};
  for (int i = 1; i < threads && started == i - 1; i++)
    if (pthread_create(&tid[i], NULL, worker_main, &w[i]) == 0) started = i;
  for (int i = started + 1; i < threads; i++) worker_main(&w[i]);
  worker_main(&w[0]);
  for (int i = 1; i <= started; i++) pthread_join(tid[i], NULL);
out:
  free(w);
  free(tid);
  free(scratch);
  return rc;
}

/* ---- expert-selected matmul ---- */

typedef struct {
  const float *a;
  int k, n;
  const int32_t *experts;
  const uint8_t *w, *ws;
  double *c;
  const int *group;  /* row runs of one expert: group[g]..group[g+1] */
  int colchunks;
} mmid_t;

/* Four independent partial sums: a fixed order, and no long dependency. */
static double dot(const float *a, const float *b, int k) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= k; i += 4) {
    s0 += (double)a[i] * b[i];
    s1 += (double)a[i + 1] * b[i + 1];
    s2 += (double)a[i + 2] * b[i + 2];
    s3 += (double)a[i + 3] * b[i + 3];
  }
  for (; i < k; i++) s0 += (double)a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

static void mmid_task(const void *ctx, int task, void *scratch) {
  const mmid_t *m = ctx;
  float *wrow = scratch;
  int g = task / m->colchunks;
  int j0 = task % m->colchunks * TASK_COLS;
  int j1 = j0 + TASK_COLS < m->n ? j0 + TASK_COLS : m->n;
  int r0 = m->group[g], r1 = m->group[g + 1];
  size_t k = (size_t)m->k, e = (size_t)m->experts[r0];
  for (int j = j0; j < j1; j++) {
    size_t wr = e * (size_t)m->n + (size_t)j;
    pt_mx_dequantize_row(PT_MX_E2M1, m->w + wr * k / 2,
                         m->ws + wr * k / PT_MX_BLOCK, k, wrow);
    for (int i = r0; i < r1; i++)
      m->c[(size_t)i * m->n + j] = dot(m->a + (size_t)i * k, wrow, m->k);
  }
}

int pt_oracle_mul_mat_id(const float *a, int nrows, int k,
                         const int32_t *experts, const uint8_t *w,
                         const uint8_t *ws, int n, double *c, int threads,
                         pt_err_t *err) {
  if (nrows < 0 || n < 0 || k < PT_MX_BLOCK || k % PT_MX_BLOCK != 0)
    return pt_err_set(err, PT_EINVAL,
                      "bad matmul: %d rows, k %d (a multiple of 32), n %d",
                      nrows, k, n);
  if (nrows == 0 || n == 0) return PT_OK;
  int *group = malloc(((size_t)nrows + 1) * sizeof *group);
  if (group == NULL)
    return pt_err_set(err, PT_ENOMEM, "out of memory for a matmul of %d rows",
                      nrows);
  int ngroups = 0;
  for (int i = 0; i < nrows; i++)
    if (i == 0 || experts[i] != experts[i - 1]) group[ngroups++] = i;
  group[ngroups] = nrows;
  int colchunks = (n + TASK_COLS - 1) / TASK_COLS;
  mmid_t m = {a, k, n, experts, w, ws, c, group, colchunks};
  int rc = run_tasks(mmid_task, &m, ngroups * colchunks, threads,
                     (size_t)k * sizeof(float), err);
  free(group);
  return rc;
}

/* ---- validation and job lists ---- */

typedef struct {
  int32_t row, token, slot, expert;
  float w;
} job_t;

static int check_sorted(const pt_moe_problem_t *p, const pt_moe_sorted_t *s,
                        pt_err_t *err) {
  int E = p->shape.experts, K = p->shape.topk, M = p->tokens;
  if (s->sbm < 1 || s->padded < 0 || s->padded % s->sbm != 0 ||
      s->padded > s->capacity)
    return pt_err_set(err, PT_EINVAL,
                      "bad sorted layout: sbm %d, %d rows, capacity %d", s->sbm,
                      s->padded, s->capacity);
  for (int b = 0; b < s->padded / s->sbm; b++)
    if (s->block_expert[b] < 0 || s->block_expert[b] >= E)
      return pt_err_set(err, PT_EINVAL, "block %d has expert %d outside [0, %d)",
                        b, s->block_expert[b], E);
  for (int r = 0; r < s->padded; r++)
    if (PT_SORT_TOKEN(s->sorted_ids[r]) < M &&
        PT_SORT_SLOT(s->sorted_ids[r]) >= K)
      return pt_err_set(err, PT_EINVAL, "sorted row %d has slot %d, topk is %d",
                        r, PT_SORT_SLOT(s->sorted_ids[r]), K);
  return PT_OK;
}

static int check_inter(const pt_moe_problem_t *p, const pt_moe_sorted_t *s,
                       const pt_oracle_inter_t *h, pt_err_t *err) {
  if (h->dtype != p->shape.dtype || h->inter_dim != p->shape.inter_dim ||
      h->rows < s->padded)
    return pt_err_set(err, PT_EINVAL,
                      "intermediate buffer (%s, I %d, %d rows) does not fit "
                      "the problem (%s, I %d, %d sorted rows)",
                      pt_dtype_name(h->dtype), h->inter_dim, h->rows,
                      pt_dtype_name(p->shape.dtype), p->shape.inter_dim,
                      s->padded);
  return PT_OK;
}

/* The jobs of smp's rows, or of every real row when smp is NULL. */
static int make_jobs(const pt_moe_problem_t *p, const pt_moe_sorted_t *s,
                     const pt_oracle_sample_t *smp, job_t **out, int *njobs,
                     pt_err_t *err) {
  int rc = check_sorted(p, s, err);
  if (rc != PT_OK) return rc;
  int n = smp ? smp->nrows : s->padded;
  job_t *jobs = malloc(((size_t)n + 1) * sizeof *jobs);
  if (jobs == NULL)
    return pt_err_set(err, PT_ENOMEM, "out of memory for %d oracle rows", n);
  int count = 0;
  for (int i = 0; i < n; i++) {
    int r = smp ? smp->rows[i] : i;
    if (r < 0 || r >= s->padded) {
      free(jobs);
      return pt_err_set(err, PT_EINVAL, "sampled row %d outside [0, %d)", r,
                        s->padded);
    }
    int32_t id = s->sorted_ids[r];
    if (PT_SORT_TOKEN(id) >= p->tokens) continue;
    jobs[count++] = (job_t){r, PT_SORT_TOKEN(id), PT_SORT_SLOT(id),
                            s->block_expert[r / s->sbm], s->sorted_w[r]};
  }
  *out = jobs;
  *njobs = count;
  return PT_OK;
}

/* ---- row samples ---- */

void pt_oracle_sample_free(pt_oracle_sample_t *smp) {
  free(smp->rows);
  free(smp->tokens);
  free(smp->pad_rows);
  memset(smp, 0, sizeof *smp);
}

/* Fills smp from per-row marks (1 real row picked, 2 padding row picked):
 * tokens of picked rows, then every real row of those tokens. */
static int sample_from_marks(pt_oracle_sample_t *smp, const pt_moe_sorted_t *s,
                             int M, const uint8_t *mark, pt_err_t *err) {
  int P = s->padded;
  uint8_t *tok = calloc((size_t)M + 1, 1);
  smp->rows = malloc(((size_t)P + 1) * sizeof *smp->rows);
  smp->pad_rows = malloc(((size_t)P + 1) * sizeof *smp->pad_rows);
  smp->tokens = malloc(((size_t)M + 1) * sizeof *smp->tokens);
  if (!tok || !smp->rows || !smp->pad_rows || !smp->tokens) {
    free(tok);
    pt_oracle_sample_free(smp);
    return pt_err_set(err, PT_ENOMEM, "out of memory for a sample of %d rows", P);
  }
  for (int r = 0; r < P; r++) {
    int t = PT_SORT_TOKEN(s->sorted_ids[r]);
    if (mark[r] == 1 && t < M) tok[t] = 1;
    if (mark[r] == 2 && t >= M) smp->pad_rows[smp->npad++] = r;
  }
  for (int r = 0; r < P; r++) {
    int t = PT_SORT_TOKEN(s->sorted_ids[r]);
    if (t < M && tok[t]) smp->rows[smp->nrows++] = r;
  }
  for (int t = 0; t < M; t++)
    if (tok[t]) smp->tokens[smp->ntokens++] = t;
  free(tok);
  return PT_OK;
}

int pt_oracle_sample_all(pt_oracle_sample_t *smp, const pt_moe_sorted_t *s,
                         int M, pt_err_t *err) {
  memset(smp, 0, sizeof *smp);
  uint8_t *mark = malloc((size_t)s->padded + 1);
  if (mark == NULL)
    return pt_err_set(err, PT_ENOMEM, "out of memory for a sample");
  for (int r = 0; r < s->padded; r++)
    mark[r] = PT_SORT_TOKEN(s->sorted_ids[r]) < M ? 1 : 2;
  int rc = sample_from_marks(smp, s, M, mark, err);
  free(mark);
  return rc;
}

/* Last real row of block b (every block holds at least one). */
static int last_real_row(const pt_moe_sorted_t *s, int M, int b) {
  int r = (b + 1) * s->sbm - 1;
  while (r > b * s->sbm && PT_SORT_TOKEN(s->sorted_ids[r]) >= M) r--;
  return r;
}

/* Marks count random distinct blocks of list[0..n) (shuffled in place),
 * calling how() on each. */
typedef void mark_fn(const pt_moe_sorted_t *s, int M, int b, uint8_t *mark);

static void mark_blocks(pt_rng_t *rng, int *list, int n, int count,
                        const pt_moe_sorted_t *s, int M, uint8_t *mark,
                        mark_fn *how) {
  for (int j = 0; j < count && j < n; j++) {
    int i = j + (int)pt_rng_below(rng, (uint32_t)(n - j));
    int tmp = list[j];
    list[j] = list[i];
    list[i] = tmp;
    how(s, M, list[j], mark);
  }
}

static void mark_whole(const pt_moe_sorted_t *s, int M, int b, uint8_t *mark) {
  for (int r = b * s->sbm; r < (b + 1) * s->sbm; r++) mark[r] = 1;
}

static void mark_edges(const pt_moe_sorted_t *s, int M, int b, uint8_t *mark) {
  mark[b * s->sbm] = 1;
  mark[last_real_row(s, M, b)] = 1;
}

static void mark_padding(const pt_moe_sorted_t *s, int M, int b,
                         uint8_t *mark) {
  int last = last_real_row(s, M, b);
  mark[last] = 1;
  for (int r = last + 1; r < (b + 1) * s->sbm; r++) mark[r] = 2;
}

int pt_oracle_sample_init(pt_oracle_sample_t *smp, const pt_moe_sorted_t *s,
                          int M, int nblocks, uint64_t seed, pt_err_t *err) {
  memset(smp, 0, sizeof *smp);
  if (nblocks < 1 || s->sbm < 1)
    return pt_err_set(err, PT_EINVAL, "sample of %d blocks (need >= 1)", nblocks);
  int nb = s->padded / s->sbm, npadded = 0;
  uint8_t *mark = calloc((size_t)s->padded + 1, 1);
  int *list = malloc(((size_t)nb + 1) * sizeof *list);
  int *padded = malloc(((size_t)nb + 1) * sizeof *padded);
  if (!mark || !list || !padded) {
    free(mark);
    free(list);
    free(padded);
    return pt_err_set(err, PT_ENOMEM, "out of memory for a sample");
  }
  pt_rng_t rng;
  pt_rng_init(&rng, seed, 0x5A);
  if (nb > 0) {
    mark_whole(s, M, 0, mark);
    mark_whole(s, M, nb - 1, mark);
  }
  for (int b = 0; b < nb; b++) {
    list[b] = b;
    if (PT_SORT_TOKEN(s->sorted_ids[(b + 1) * s->sbm - 1]) >= M)
      padded[npadded++] = b;
  }
  mark_blocks(&rng, list, nb, nblocks - 2, s, M, mark, mark_whole);
  mark_blocks(&rng, list, nb, 2 * nblocks, s, M, mark, mark_edges);
  mark_blocks(&rng, padded, npadded, nblocks, s, M, mark, mark_padding);
  int rc = sample_from_marks(smp, s, M, mark, err);
  free(mark);
  free(list);
  free(padded);
  return rc;
}

static int check_sample_tokens(const pt_oracle_sample_t *smp, int M,
                               pt_err_t *err) {
  for (int i = 0; smp && i < smp->ntokens; i++)
    if (smp->tokens[i] < 0 || smp->tokens[i] >= M)
      return pt_err_set(err, PT_EINVAL, "sampled token %d outside [0, %d)",
                        smp->tokens[i], M);
  return PT_OK;
}

/* ---- stages ---- */

/* Buffers of one chunk: dequantized input rows, their experts, the matmul's
 * output and one f32 row. */
typedef struct {
  float *a;
  int32_t *experts;
  double *c;
  float *row;
} chunk_t;

static void chunk_free(chunk_t *ch) {
  free(ch->a);
  free(ch->experts);
  free(ch->c);
  free(ch->row);
}

static int chunk_alloc(chunk_t *ch, int k, int n, int rowlen, pt_err_t *err) {
  ch->a = malloc((size_t)CHUNK_ROWS * (size_t)k * sizeof *ch->a);
  ch->experts = malloc(CHUNK_ROWS * sizeof *ch->experts);
  ch->c = malloc((size_t)CHUNK_ROWS * (size_t)n * sizeof *ch->c);
  ch->row = malloc((size_t)rowlen * sizeof *ch->row);
  if (ch->a && ch->experts && ch->c && ch->row) return PT_OK;
  chunk_free(ch);
  return pt_err_set(err, PT_ENOMEM, "out of memory for oracle buffers");
}

int pt_oracle_gemm1(const pt_moe_problem_t *p, const pt_moe_sorted_t *s,
                    const pt_oracle_sample_t *smp, int threads,
                    pt_oracle_inter_t *h, float *hf, pt_err_t *err) {
  int H = p->shape.model_dim, I = p->shape.inter_dim, njobs = 0;
  job_t *jobs = NULL;
  chunk_t ch = {0};
  int rc = check_inter(p, s, h, err);
  if (rc == PT_OK) rc = make_jobs(p, s, smp, &jobs, &njobs, err);
  if (rc == PT_OK) rc = chunk_alloc(&ch, H, 2 * I, I, err);
  for (int j0 = 0; rc == PT_OK && j0 < njobs; j0 += CHUNK_ROWS) {
    int n = njobs - j0 < CHUNK_ROWS ? njobs - j0 : CHUNK_ROWS;
    for (int i = 0; i < n; i++) {
      pt_oracle_x_row(p, jobs[j0 + i].token, ch.a + (size_t)i * H);
      ch.experts[i] = jobs[j0 + i].expert;
    }
    rc = pt_oracle_mul_mat_id(ch.a, n, H, ch.experts, p->w1, p->w1s, 2 * I,
                              ch.c, threads, err);
    for (int i = 0; rc == PT_OK && i < n; i++) {
      const double *gu = ch.c + (size_t)i * 2 * I;
      for (int j = 0; j < I; j++)
        ch.row[j] = (float)pt_oracle_act(p->shape.act, gu[j], gu[I + j]);
      if (hf != NULL)
        memcpy(hf + (size_t)jobs[j0 + i].row * I, ch.row, (size_t)I * sizeof *hf);
      store_h_row(h, jobs[j0 + i].row, ch.row);
    }
  }
  chunk_free(&ch);
  free(jobs);
  return rc;
}

/* Receives y[r, 0..H) of each computed gemm2 row. */
typedef void y_sink_fn(void *ctx, const job_t *job, const double *y, int H);

static int gemm2_rows(const pt_moe_problem_t *p, const pt_moe_sorted_t *s,
                      const pt_oracle_inter_t *h,
                      const pt_oracle_sample_t *smp, int threads,
                      y_sink_fn *sink, void *ctx, pt_err_t *err) {
  int H = p->shape.model_dim, I = p->shape.inter_dim, njobs = 0;
  job_t *jobs = NULL;
  chunk_t ch = {0};
  int rc = check_inter(p, s, h, err);
  if (rc == PT_OK) rc = check_sample_tokens(smp, p->tokens, err);
  if (rc == PT_OK) rc = make_jobs(p, s, smp, &jobs, &njobs, err);
  if (rc == PT_OK) rc = chunk_alloc(&ch, I, H, 1, err);
  for (int j0 = 0; rc == PT_OK && j0 < njobs; j0 += CHUNK_ROWS) {
    int n = njobs - j0 < CHUNK_ROWS ? njobs - j0 : CHUNK_ROWS;
    for (int i = 0; i < n; i++) {
      pt_oracle_h_row(h, jobs[j0 + i].row, ch.a + (size_t)i * I);
      ch.experts[i] = jobs[j0 + i].expert;
    }
    rc = pt_oracle_mul_mat_id(ch.a, n, I, ch.experts, p->w2, p->w2s, H, ch.c,
                              threads, err);
    for (int i = 0; rc == PT_OK && i < n; i++)
      sink(ctx, &jobs[j0 + i], ch.c + (size_t)i * H, H);
  }
  chunk_free(&ch);
  free(jobs);
  return rc;
}

typedef struct {
  const int32_t *slot_of;  /* token -> accumulator row, -1 if not computed */
  double *acc;             /* [computed tokens, H] */
} atomic_ctx_t;

static void atomic_sink(void *ctx, const job_t *job, const double *y, int H) {
  atomic_ctx_t *a = ctx;
  int32_t at = a->slot_of[job->token];
  if (at < 0) return;
  double *acc = a->acc + (size_t)at * H;
  for (int n = 0; n < H; n++) acc[n] += (double)job->w * y[n];
}

int pt_oracle_gemm2_atomic(const pt_moe_problem_t *p,
                           const pt_moe_sorted_t *s,
                           const pt_oracle_inter_t *h,
                           const pt_oracle_sample_t *smp, int threads,
                           float *out, pt_err_t *err) {
  int M = p->tokens, H = p->shape.model_dim;
  int ntok = smp ? smp->ntokens : M;
  int32_t *slot_of = malloc(((size_t)M + 1) * sizeof *slot_of);
  double *acc = calloc((size_t)ntok * H + 1, sizeof *acc);
  int rc = PT_OK;
  if (slot_of == NULL || acc == NULL)
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for %d output rows", ntok);
  if (rc == PT_OK) rc = check_sample_tokens(smp, M, err);
  if (rc == PT_OK) {
    for (int t = 0; t < M; t++) slot_of[t] = smp ? -1 : t;
    for (int i = 0; smp && i < ntok; i++) slot_of[smp->tokens[i]] = i;
    atomic_ctx_t ctx = {slot_of, acc};
    rc = gemm2_rows(p, s, h, smp, threads, atomic_sink, &ctx, err);
  }
  for (int i = 0; rc == PT_OK && i < ntok; i++) {
    size_t t = smp ? (size_t)smp->tokens[i] : (size_t)i;
    for (int n = 0; n < H; n++)
      out[t * H + n] = (float)acc[(size_t)i * H + n];
  }
  free(slot_of);
  free(acc);
  return rc;
}

typedef struct {
  float *ybuf;
  int K;
} reduce_ctx_t;

static void reduce_sink(void *ctx, const job_t *job, const double *y, int H) {
  reduce_ctx_t *c = ctx;
  float *dst = c->ybuf + ((size_t)job->token * c->K + job->slot) * H;
  for (int n = 0; n < H; n++) dst[n] = (float)((double)job->w * y[n]);
}

int pt_oracle_gemm2_reduce(const pt_moe_problem_t *p,
                           const pt_moe_sorted_t *s,
                           const pt_oracle_inter_t *h,
                           const pt_oracle_sample_t *smp, int threads,
                           float *ybuf, pt_err_t *err) {
  reduce_ctx_t ctx = {ybuf, p->shape.topk};
  return gemm2_rows(p, s, h, smp, threads, reduce_sink, &ctx, err);
}

int pt_oracle_reduce(const float *ybuf, int M, int K, int H,
                     const pt_oracle_sample_t *smp, float *out, pt_err_t *err) {
  if (M < 0 || K < 1 || H < 1)
    return pt_err_set(err, PT_EINVAL, "bad reduce: %d tokens, topk %d, H %d", M,
                      K, H);
  int rc = check_sample_tokens(smp, M, err);
  if (rc != PT_OK) return rc;
  int ntok = smp ? smp->ntokens : M;
  for (int i = 0; i < ntok; i++) {
    size_t t = smp ? (size_t)smp->tokens[i] : (size_t)i;
    for (int n = 0; n < H; n++) {
      double sum = 0.0;
      for (int k = 0; k < K; k++) sum += ybuf[(t * K + (size_t)k) * H + n];
      out[t * H + n] = (float)sum;
    }
  }
  return PT_OK;
}

/* ---- whole block ---- */

int pt_oracle_moe(const pt_moe_problem_t *p, int threads, float *out,
                  pt_err_t *err) {
  pt_moe_sorted_t s;
  pt_oracle_inter_t h;
  int rc = pt_sort_run(p->topk_ids, p->topk_w, p->tokens, p->shape.topk,
                       p->shape.experts, ORACLE_SBM, &s, err);
  if (rc != PT_OK) return rc;
  rc = pt_oracle_inter_init(&h, p->shape.dtype, s.padded, p->shape.inter_dim,
                            err);
  if (rc == PT_OK) rc = pt_oracle_gemm1(p, &s, NULL, threads, &h, NULL, err);
  if (rc == PT_OK)
    rc = pt_oracle_gemm2_atomic(p, &s, &h, NULL, threads, out, err);
  pt_oracle_inter_free(&h);
  pt_sort_free(&s);
  return rc;
}

int pt_oracle_ffn_block(const pt_moe_problem_t *p, const float *logits,
                        int renormalize, int threads, float *out,
                        pt_err_t *err) {
  size_t n = (size_t)p->tokens * (size_t)p->shape.topk;
  pt_moe_problem_t routed = *p;
  routed.topk_ids = malloc((n + 1) * sizeof *routed.topk_ids);
  routed.topk_w = malloc((n + 1) * sizeof *routed.topk_w);
  int rc = PT_OK;
  if (routed.topk_ids == NULL || routed.topk_w == NULL)
    rc = pt_err_set(err, PT_ENOMEM, "out of memory for the routing of %d tokens",
                    p->tokens);
  if (rc == PT_OK)
    rc = pt_routing_topk_softmax(logits, p->tokens, p->shape.experts,
                                 p->shape.topk, renormalize, routed.topk_ids,
                                 routed.topk_w, err);
  if (rc == PT_OK) rc = pt_oracle_moe(&routed, threads, out, err);
  free(routed.topk_ids);
  free(routed.topk_w);
  return rc;
}

/* ---- comparisons ---- */

static double value_at(const void *m, pt_oracle_fmt_t fmt, size_t i) {
  if (fmt == PT_ORACLE_BF16)
    return pt_mx_bf16_to_f32(((const uint16_t *)m)[i]);
  return ((const float *)m)[i];
}

/* Accumulates one element pair into d (sums kept in the caller's). */
static void diff_add(double g, double r, pt_oracle_diff_t *d, double *num,
                     double *den) {
  d->count++;
  if (!isfinite(g) || !isfinite(r)) {
    int same = (isnan(g) && isnan(r)) || g == r;
    if (!same) d->nonfinite++;
    return;
  }
  double a = fabs(g - r);
  if (a > d->max_abs) d->max_abs = a;
  d->mean_abs += a;
  *num += a * a;
  *den += r * r;
}

static void diff_finish(pt_oracle_diff_t *d, double num, double den) {
  if (d->count > 0) d->mean_abs /= (double)d->count;
  if (d->nonfinite > 0)
    d->rel_l2 = INFINITY;
  else if (den > 0.0)
    d->rel_l2 = sqrt(num / den);
  else
    d->rel_l2 = num > 0.0 ? INFINITY : 0.0;
}

void pt_oracle_diff(const void *got, pt_oracle_fmt_t got_fmt, const void *ref,
                    pt_oracle_fmt_t ref_fmt, int cols, const int32_t *rows,
                    int nrows, pt_oracle_diff_t *out) {
  double num = 0.0, den = 0.0;
  memset(out, 0, sizeof *out);
  for (int i = 0; i < nrows; i++) {
    size_t base = (size_t)(rows ? rows[i] : i) * (size_t)cols;
    for (int c = 0; c < cols; c++)
      diff_add(value_at(got, got_fmt, base + c), value_at(ref, ref_fmt, base + c),
               out, &num, &den);
  }
  diff_finish(out, num, den);
}

int pt_oracle_inter_diff(const pt_oracle_inter_t *got,
                         const pt_oracle_inter_t *ref, const int32_t *rows,
                         int nrows, pt_oracle_diff_t *out, pt_err_t *err) {
  memset(out, 0, sizeof *out);
  if (got->dtype != ref->dtype || got->inter_dim != ref->inter_dim)
    return pt_err_set(err, PT_EINVAL,
                      "intermediate buffers differ: %s I %d vs %s I %d",
                      pt_dtype_name(got->dtype), got->inter_dim,
                      pt_dtype_name(ref->dtype), ref->inter_dim);
  int I = ref->inter_dim;
  float *g = malloc((size_t)I * sizeof *g), *r = malloc((size_t)I * sizeof *r);
  if (g == NULL || r == NULL) {
    free(g);
    free(r);
    return pt_err_set(err, PT_ENOMEM, "out of memory comparing rows of %d", I);
  }
  double num = 0.0, den = 0.0;
  for (int i = 0; i < nrows; i++) {
    int row = rows ? rows[i] : i;
    pt_oracle_h_row(got, row, g);
    pt_oracle_h_row(ref, row, r);
    for (int c = 0; c < I; c++) diff_add(g[c], r[c], out, &num, &den);
  }
  diff_finish(out, num, den);
  free(g);
  free(r);
  return PT_OK;
}

/* Element code c of row `row` (sign of zero dropped), and its block scale. */
static unsigned code_at(const pt_oracle_inter_t *b, size_t row, size_t c,
                        unsigned *scale) {
  size_t I = (size_t)b->inter_dim;
  const uint8_t *h = b->h;
  *scale = b->hs ? b->hs[row * (I / PT_MX_BLOCK) + c / PT_MX_BLOCK] : 0;
  switch (b->dtype) {
  case PT_DTYPE_A4W4: {
    unsigned v = pt_mx_fp4_get(h + row * I / 2, c);
    return v == 0x8 ? 0 : v;
  }
  case PT_DTYPE_A8W4:
    return h[row * I + c] == 0x80 ? 0 : h[row * I + c];
  default: {
    unsigned v = ((const uint16_t *)b->h)[row * I + c];
    return v == 0x8000 ? 0 : v;
  }
  }
}

double pt_oracle_code_match(const pt_oracle_inter_t *got,
                            const pt_oracle_inter_t *ref, const int32_t *rows,
                            int nrows) {
  if (got->dtype != ref->dtype || got->inter_dim != ref->inter_dim) return -1.0;
  size_t same = 0, total = 0;
  for (int i = 0; i < nrows; i++) {
    size_t row = (size_t)(rows ? rows[i] : i);
    for (size_t c = 0; c < (size_t)ref->inter_dim; c++) {
      unsigned gs, rs;
      unsigned gc = code_at(got, row, c, &gs), rc = code_at(ref, row, c, &rs);
      same += gc == rc && gs == rs;
      total++;
    }
  }
  return total ? (double)same / (double)total : 1.0;
}
