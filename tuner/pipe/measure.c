/* Timing statistics and the sampling loop (see measure.h). */
#include "measure.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

void pt_measure_opts_default(pt_measure_opts_t *o) {
  o->warmup = 3;
  o->min_samples = 25;
  o->min_ms = 200.0;
  o->max_samples = 5000;
  o->cold = 1;
}

int pt_measure_opts_check(const pt_measure_opts_t *o, pt_err_t *err) {
  if (o->warmup < 0)
    return pt_err_set(err, PT_EINVAL, "warm-up count %d is negative", o->warmup);
  if (o->min_samples < 1)
    return pt_err_set(err, PT_EINVAL, "minimum samples %d is below 1", o->min_samples);
  if (!(o->min_ms >= 0.0) || !isfinite(o->min_ms))
    return pt_err_set(err, PT_EINVAL, "minimum time %g ms is not a duration", o->min_ms);
  if (o->max_samples < o->min_samples)
    return pt_err_set(err, PT_EINVAL, "maximum samples %d is below the minimum %d",
                      o->max_samples, o->min_samples);
  return PT_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n) with linear interpolation (type 7). */
static double quantile(const double *v, int n, double q) {
  double pos = q * (n - 1);
  int lo = (int)floor(pos);
  int hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

int pt_measure_stats(const double *samples, int n, pt_measure_stats_t *out,
                     pt_err_t *err) {
  if (n < 1) return pt_err_set(err, PT_EINVAL, "no samples");
  for (int i = 0; i < n; i++)
    if (!isfinite(samples[i]) || samples[i] < 0.0)
      return pt_err_set(err, PT_EINVAL, "sample %d is %g, not a duration", i,
                        samples[i]);
  double *v = malloc((size_t)n * sizeof *v);
  if (v == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for samples");
  memcpy(v, samples, (size_t)n * sizeof *v);
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double sum = 0.0;
  for (int i = 0; i < n; i++) sum += v[i];
  out->samples = n;
  out->min = v[0];
  out->max = v[n - 1];
  out->mean = sum / n;
  out->median = quantile(v, n, 0.5);
  out->p90 = quantile(v, n, 0.9);
  for (int i = 0; i < n; i++) v[i] = fabs(v[i] - out->median);
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double mad = quantile(v, n, 0.5);
  out->spread = out->median > 0.0 ? mad / out->median : 0.0;
  free(v);
  return PT_OK;
}

static double hrtime_ms(void *ud) {
  (void)ud;
  return (double)uv_hrtime() / 1e6;
}

/* Appends one sample, doubling the array as needed. */
static int push(double **v, int *n, int *cap, double x, pt_err_t *err) {
  if (*n == *cap) {
    int c = *cap > 0 ? *cap * 2 : 64;
    double *p = realloc(*v, (size_t)c * sizeof *p);
    if (p == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for samples");
    *v = p;
    *cap = c;
  }
  (*v)[(*n)++] = x;
  return PT_OK;
}

static int one_launch(const pt_measure_opts_t *o, const pt_measure_ops_t *ops,
                      void *ud, double *us, pt_err_t *err) {
  int rc = o->cold ? ops->flush(ud, err) : PT_OK;
  return rc == PT_OK ? ops->sample(ud, us, err) : rc;
}

int pt_measure_run(const pt_measure_opts_t *o, const pt_measure_ops_t *ops,
                   void *ud, pt_measure_stats_t *out, double **samples,
                   pt_err_t *err) {
  double (*now)(void *) = ops->now_ms != NULL ? ops->now_ms : hrtime_ms;
  double *v = NULL, us = 0.0;
  int n = 0, cap = 0;
  int rc = pt_measure_opts_check(o, err);
  for (int i = 0; rc == PT_OK && i < o->warmup; i++)
    rc = one_launch(o, ops, ud, &us, err);
  double t0 = now(ud);
  while (rc == PT_OK && n < o->max_samples &&
         (n < o->min_samples || now(ud) - t0 < o->min_ms)) {
    rc = one_launch(o, ops, ud, &us, err);
    if (rc == PT_OK) rc = push(&v, &n, &cap, us, err);
  }
  if (rc == PT_OK) rc = pt_measure_stats(v, n, out, err);
  if (rc == PT_OK && samples != NULL) {
    *samples = v;
    v = NULL;
  }
  free(v);
  return rc;
}

/* ---- on a device ---- */

size_t pt_measure_flush_bytes(size_t l2_bytes) {
  const size_t floor = (size_t)64 << 20;
  return 4 * l2_bytes > floor ? 4 * l2_bytes : floor;
}

int pt_measure_gpu_init(pt_measure_gpu_t *m, pt_gpu_t *gpu, pt_err_t *err) {
  memset(m, 0, sizeof *m);
  m->gpu = gpu;
  int rc = pt_gpu_stream_create(gpu, &m->stream, err);
  if (rc == PT_OK) rc = pt_gpu_event_create(gpu, &m->start, err);
  if (rc == PT_OK) rc = pt_gpu_event_create(gpu, &m->stop, err);
  return rc;
}

void pt_measure_gpu_free(pt_measure_gpu_t *m) {
  if (m->flush_buf != 0) pt_gpu_free(m->gpu, m->flush_buf);
  if (m->stop != NULL) pt_gpu_event_destroy(m->stop);
  if (m->start != NULL) pt_gpu_event_destroy(m->start);
  if (m->stream != NULL) pt_gpu_stream_destroy(m->stream);
  memset(m, 0, sizeof *m);
}

typedef struct gpu_ctx_s {
  pt_measure_gpu_t *m;
  pt_measure_launch_fn launch;
  void *ud;
} gpu_ctx_t;

static int gpu_flush(void *ud, pt_err_t *err) {
  pt_measure_gpu_t *m = ((gpu_ctx_t *)ud)->m;
  if (m->flush_buf == 0) {
    size_t bytes = pt_measure_flush_bytes(pt_gpu_props(m->gpu)->l2_bytes);
    pt_gpu_ptr_t buf = 0;
    int rc = pt_gpu_malloc(m->gpu, bytes, &buf, err);
    if (rc != PT_OK) return rc;
    m->flush_buf = buf;
    m->flush_bytes = bytes;
  }
  m->flush_byte = (m->flush_byte + 1) & 0xff;
  return pt_gpu_memset(m->gpu, m->flush_buf, (uint8_t)m->flush_byte,
                       m->flush_bytes, m->stream, err);
}

static int gpu_sample(void *ud, double *us, pt_err_t *err) {
  gpu_ctx_t *c = ud;
  pt_measure_gpu_t *m = c->m;
  float ms = 0.0f;
  int rc = pt_gpu_event_record(m->start, m->stream, err);
  if (rc == PT_OK) rc = c->launch(c->ud, m->stream, err);
  if (rc == PT_OK) rc = pt_gpu_event_record(m->stop, m->stream, err);
  if (rc == PT_OK) rc = pt_gpu_event_sync(m->stop, err);
  if (rc == PT_OK) rc = pt_gpu_event_elapsed(m->start, m->stop, &ms, err);
  *us = (double)ms * 1000.0;
  return rc;
}

int pt_measure_gpu_run(pt_measure_gpu_t *m, const pt_measure_opts_t *o,
                       pt_measure_launch_fn launch, void *ud,
                       pt_measure_stats_t *out, pt_err_t *err) {
  gpu_ctx_t c = {m, launch, ud};
  const pt_measure_ops_t ops = {gpu_flush, gpu_sample, NULL};
  return pt_measure_run(o, &ops, &c, out, NULL, err);
}
