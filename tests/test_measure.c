/* Timing statistics and the sampling loop's rules, on a simulated clock; on
 * a machine with a GPU also the device binding (cold L2 slower than warm). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "measure.h"
#include "testutil.h"

START_TEST(stats_of_known_samples) {
  const double odd[] = {5, 1, 4, 2, 3};
  pt_measure_stats_t st;
  ck_assert_int_eq(pt_measure_stats(odd, 5, &st, NULL), PT_OK);
  ck_assert_int_eq(st.samples, 5);
  ck_assert_double_eq(st.median, 3);
  ck_assert_double_eq(st.min, 1);
  ck_assert_double_eq(st.max, 5);
  ck_assert_double_eq(st.mean, 3);
  ck_assert_double_eq_tol(st.p90, 4.6, 1e-12);
  ck_assert_double_eq_tol(st.spread, 1.0 / 3.0, 1e-12);  /* MAD 1 over median 3 */
  ck_assert_double_eq(odd[0], 5);                         /* input left as given */
  const double even[] = {10, 40, 20, 30};
  ck_assert_int_eq(pt_measure_stats(even, 4, &st, NULL), PT_OK);
  ck_assert_double_eq(st.median, 25);
  ck_assert_double_eq_tol(st.p90, 37, 1e-12);
  const double one[] = {7};
  ck_assert_int_eq(pt_measure_stats(one, 1, &st, NULL), PT_OK);
  ck_assert_double_eq(st.median, 7);
  ck_assert_double_eq(st.p90, 7);
  ck_assert_double_eq(st.spread, 0);
}
END_TEST

START_TEST(stats_refuse_bad_samples) {
  pt_measure_stats_t st;
  pt_err_t err;
  const double nan_s[] = {1, NAN}, neg[] = {1, -2}, inf[] = {INFINITY};
  ck_assert_int_eq(pt_measure_stats(nan_s, 0, &st, &err), PT_EINVAL);
  ck_assert_int_eq(pt_measure_stats(nan_s, 2, &st, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "sample 1"));
  ck_assert_int_eq(pt_measure_stats(neg, 2, &st, &err), PT_EINVAL);
  ck_assert_int_eq(pt_measure_stats(inf, 1, &st, &err), PT_EINVAL);
}
END_TEST

/* A simulated device: each launch takes us microseconds of the clock, each
 * flush 0.5 ms; it counts what it was asked to do. */
typedef struct sim_s {
  double clock_ms, us;
  int flushes, samples, fail_at;
  int flush_before_each;  /* every sample was preceded by a flush */
  int flushed;
} sim_t;

static int sim_flush(void *ud, pt_err_t *err) {
  sim_t *s = ud;
  (void)err;
  s->flushes++;
  s->flushed = 1;
  s->clock_ms += 0.5;
  return PT_OK;
}

static int sim_sample(void *ud, double *us, pt_err_t *err) {
  sim_t *s = ud;
  if (++s->samples == s->fail_at) return pt_err_set(err, PT_EGPU, "launch failed");
  if (!s->flushed) s->flush_before_each = 0;
  s->flushed = 0;
  *us = s->us + (s->samples % 3);
  s->clock_ms += *us / 1000.0;
  return PT_OK;
}

static double sim_now(void *ud) { return ((sim_t *)ud)->clock_ms; }

static const pt_measure_ops_t sim_ops = {sim_flush, sim_sample, sim_now};

START_TEST(loop_needs_both_count_and_time) {
  pt_measure_opts_t o;
  pt_measure_stats_t st;
  double *v = NULL;
  pt_measure_opts_default(&o);
  ck_assert_int_eq(o.min_samples, 25);
  ck_assert_double_eq(o.min_ms, 200);
  ck_assert_int_eq(o.cold, 1);
  /* A 10 ms launch: 25 samples take 262.5 ms, the count decides. */
  sim_t slow = {.us = 10000, .flush_before_each = 1};
  ck_assert_int_eq(pt_measure_run(&o, &sim_ops, &slow, &st, &v, NULL), PT_OK);
  ck_assert_int_eq(st.samples, 25);
  ck_assert_int_eq(slow.samples, 25 + o.warmup);
  ck_assert_int_eq(slow.flushes, 25 + o.warmup);
  ck_assert(slow.flush_before_each);
  ck_assert_double_eq(v[0], 10000 + (o.warmup + 1) % 3);
  free(v);
  /* A 0.5 ms launch after a 0.5 ms flush: 200 ms of sampling is 200 samples. */
  sim_t mid = {.us = 499, .flush_before_each = 1};
  ck_assert_int_eq(pt_measure_run(&o, &sim_ops, &mid, &st, NULL, NULL), PT_OK);
  ck_assert_int_ge(st.samples, 199);
  ck_assert_int_le(st.samples, 201);
  ck_assert_double_eq(st.min, 499);
  /* A launch that takes no time: the sample cap ends it. */
  o.cold = 0;
  sim_t fast = {.us = 0, .flush_before_each = 1};
  ck_assert_int_eq(pt_measure_run(&o, &sim_ops, &fast, &st, NULL, NULL), PT_OK);
  ck_assert_int_eq(st.samples, o.max_samples);
  ck_assert_int_eq(fast.flushes, 0);  /* warm: never flushed */
}
END_TEST

START_TEST(loop_stops_on_failure_and_checks_options) {
  pt_measure_opts_t o;
  pt_measure_stats_t st;
  pt_err_t err;
  pt_measure_opts_default(&o);
  sim_t s = {.us = 100, .fail_at = 10};
  ck_assert_int_eq(pt_measure_run(&o, &sim_ops, &s, &st, NULL, &err), PT_EGPU);
  ck_assert_str_eq(err.msg, "launch failed");
  ck_assert_int_eq(s.samples, 10);
  const struct { int field; double value; const char *why; } bad[] = {
      {0, -1, "warm-up"}, {1, 0, "minimum samples"}, {2, -1, "minimum time"},
      {2, NAN, "minimum time"}, {3, 10, "maximum samples"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pt_measure_opts_default(&o);
    if (bad[i].field == 0) o.warmup = (int)bad[i].value;
    if (bad[i].field == 1) o.min_samples = (int)bad[i].value;
    if (bad[i].field == 2) o.min_ms = bad[i].value;
    if (bad[i].field == 3) o.max_samples = (int)bad[i].value;
    sim_t t = {.us = 1};
    ck_assert_int_eq(pt_measure_run(&o, &sim_ops, &t, &st, NULL, &err), PT_EINVAL);
    ck_assert_msg(strstr(err.msg, bad[i].why), "%s", err.msg);
    ck_assert_int_eq(t.samples, 0);
  }
}
END_TEST

/* The flush policy: four L2s' worth, never under 64 MiB. */
START_TEST(flush_is_sized_from_the_l2) {
  const size_t MiB = (size_t)1 << 20;
  ck_assert_uint_eq(pt_measure_flush_bytes(50 * MiB), 200 * MiB);   /* H100, H200 */
  ck_assert_uint_eq(pt_measure_flush_bytes(40 * MiB), 160 * MiB);   /* A100 */
  ck_assert_uint_eq(pt_measure_flush_bytes(4 * MiB), 64 * MiB);     /* MI300X's L2 */
  ck_assert_uint_eq(pt_measure_flush_bytes(0), 64 * MiB);           /* not reported */
  for (size_t l2 = MiB; l2 <= 512 * MiB; l2 *= 2)
    ck_assert_uint_ge(pt_measure_flush_bytes(l2), 2 * l2);
}
END_TEST

/* ---- on a GPU ---- */

static const char read_src[] =
    "extern \"C\" __global__ void rd(const float4 *x, float *out, int n) {\n"
    "  float s = 0.f;\n"
    "  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {\n"
    "    float4 v = x[i]; s += v.x + v.y + v.z + v.w; }\n"
    "  if (s == 12345.f) out[0] = s;\n"
    "}\n";

typedef struct rd_s {
  pt_gpu_kernel_t *k;
  pt_gpu_ptr_t x, out;
  int n;
  unsigned blocks;
} rd_t;

static int launch_rd(void *ud, pt_gpu_stream_t *stream, pt_err_t *err) {
  rd_t *r = ud;
  void *args[] = {&r->x, &r->out, &r->n};
  const unsigned grid[3] = {r->blocks, 1, 1}, block[3] = {256, 1, 1};
  return pt_gpu_launch(r->k, grid, block, 0, stream, args, err);
}

/* Reading a 16 MiB buffer (a third of the H100's L2) is faster from a warm
 * L2 than after the flush, and both regimes give sane statistics. */
START_TEST(gpu_cold_is_slower_than_warm) {
  pt_err_t err;
  pt_gpu_t *gpu = NULL;
  pt_gpu_code_t code = {0};
  pt_gpu_module_t *mod = NULL;
  rd_t r = {.n = (16 << 20) / 16};
  ck_assert_msg(pt_gpu_open_any(0, &gpu, &err) == PT_OK, "%s", err.msg);
  pt_gpu_compile_req_t req = {.backend = pt_gpu_props(gpu)->backend, .arch = pt_gpu_props(gpu)->arch,
                              .source = read_src, .name = "rd.cu"};
  ck_assert_msg(pt_gpu_compile(&req, &code, &err) == PT_OK, "%s", err.msg);
  ck_assert_int_eq(pt_gpu_module_load(gpu, code.data, code.size, &mod, &err), PT_OK);
  ck_assert_int_eq(pt_gpu_kernel_get(mod, "rd", &r.k, &err), PT_OK);
  ck_assert_int_eq(pt_gpu_malloc(gpu, (size_t)r.n * 16, &r.x, &err), PT_OK);
  ck_assert_int_eq(pt_gpu_malloc(gpu, 64, &r.out, &err), PT_OK);
  ck_assert_int_eq(pt_gpu_memset(gpu, r.x, 0, (size_t)r.n * 16, NULL, &err), PT_OK);
  r.blocks = (unsigned)pt_gpu_props(gpu)->sm_count * 4;
  double median[2];
  for (int cold = 0; cold < 2; cold++) {
    pt_measure_gpu_t m;
    pt_measure_opts_t o;
    pt_measure_stats_t st;
    pt_measure_opts_default(&o);
    o.cold = cold;
    o.min_ms = 50;
    ck_assert_msg(pt_measure_gpu_init(&m, gpu, &err) == PT_OK, "%s", err.msg);
    ck_assert_uint_eq(m.flush_buf, 0);  /* nothing held before a cold run */
    ck_assert_msg(pt_measure_gpu_run(&m, &o, launch_rd, &r, &st, &err) == PT_OK, "%s",
                  err.msg);
    /* only a cold run makes the flush buffer, of the policy's size */
    ck_assert_uint_eq(m.flush_bytes,
                      cold ? pt_measure_flush_bytes(pt_gpu_props(gpu)->l2_bytes) : 0);
    ck_assert_uint_ge(m.flush_bytes, cold ? 2 * pt_gpu_props(gpu)->l2_bytes : 0);
    ck_assert_int_ge(st.samples, 25);
    ck_assert(st.min > 0 && st.min <= st.median && st.median <= st.p90);
    median[cold] = st.median;
    pt_measure_gpu_free(&m);
  }
  ck_assert_msg(median[1] > median[0], "cold %.2f us is not slower than warm %.2f us",
                median[1], median[0]);
  pt_gpu_free(gpu, r.x);
  pt_gpu_free(gpu, r.out);
  pt_gpu_module_unload(mod);
  pt_gpu_code_free(&code);
  pt_gpu_close(gpu);
}
END_TEST

int main(void) {
  Suite *s = suite_create("measure");
  TCase *tc = tcase_create("measure");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, stats_of_known_samples);
  tcase_add_test(tc, stats_refuse_bad_samples);
  tcase_add_test(tc, loop_needs_both_count_and_time);
  tcase_add_test(tc, loop_stops_on_failure_and_checks_options);
  tcase_add_test(tc, flush_is_sized_from_the_l2);
  suite_add_tcase(s, tc);
  if (pt_test_have_gpu()) {
    TCase *g = tcase_create("gpu");
    tcase_set_timeout(g, 60);
    tcase_add_test(g, gpu_cold_is_slower_than_warm);
    suite_add_tcase(s, g);
  } else {
    printf("note: no GPU: the device timing case is left out\n");
  }
  return pt_test_run_suite(s);
}
