/* The kernels' compile front end, with no GPU: the tile map is a bijection,
 * the embedded sources are the tree's, each knob changes the generated code,
 * every feasible variant of both stages compiles for sm_90 (NVRTC), and a
 * sample of them for gfx90a (hiprtc). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "constraints.h"
#include "kernel_job.h"
#include "kernels.h"
#include "knobs.h"
#include "pipeline.h"
#include "pt_sched.h"
#include "testutil.h"

/* ---- tile map ---- */

/* Plain checks inside the loops: a passing ck_assert costs a pipe write. */
static void check_bijection(int spart, int mb, int nb)
{
  int t = mb * nb;
  char *seen = calloc((size_t)t, 1);
  ck_assert_ptr_nonnull(seen);
  for (int b = 0; b < t; b++) {
    int m = -1, n = -1;
    pt_sched_tile(spart, b, mb, nb, &m, &n);
    if (m < 0 || m >= mb || n < 0 || n >= nb)
      ck_abort_msg("spart %d grid %dx%d: block %d -> (%d, %d) out of range",
                   spart, mb, nb, b, m, n);
    if (seen[m * nb + n])
      ck_abort_msg("spart %d grid %dx%d: tile (%d, %d) twice", spart, mb, nb,
                   m, n);
    seen[m * nb + n] = 1;
  }
  free(seen);
}

START_TEST(sched_bijection)
{
  static const int sparts[] = {0, 101, 102, 201, 402, 804, 1601, 6464, 303, 507};
  for (size_t i = 0; i < sizeof sparts / sizeof sparts[0]; i++)
    for (int mb = 1; mb <= 37; mb++)
      for (int nb = 1; nb <= 37; nb++)
        check_bijection(sparts[i], mb, nb);
  check_bijection(402, 1024, 45);
  check_bijection(804, 2049, 2);
}
END_TEST

/* The spatially-local map groups tiles: with G = 1 and M01 = 2 block 1 is
 * the tile below block 0, not beside it. */
START_TEST(sched_spart_layout)
{
  int m, n;
  pt_sched_tile(102, 1, 4, 4, &m, &n);
  ck_assert_int_eq(m, 1);
  ck_assert_int_eq(n, 0);
  pt_sched_tile(0, 1, 4, 4, &m, &n);
  ck_assert_int_eq(m, 0);
  ck_assert_int_eq(n, 1);
  /* two chunks dealt round-robin: block 1 starts the second chunk */
  pt_sched_tile(201, 1, 4, 4, &m, &n);
  ck_assert_int_eq(m, 2);
  ck_assert_int_eq(n, 0);
}
END_TEST

/* ---- embedded sources ---- */

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open '%s'", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *b = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  return b;
}

START_TEST(embedded_match_tree)
{
  static const char *const names[] = {"moe_gemm1.cu", "moe_gemm2.cu",
                                      "moe_reduce.cu", "pt_mainloop.cuh",
                                      "pt_sched.h", "pt_args.h"};
  ck_assert_int_ge(pt_kernels_count(), 13);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "kernelsrc/%s", names[i]);
    char *path = pt_test_src_path(rel);
    char *text = slurp(path);
    const char *emb = pt_kernels_find(names[i]);
    ck_assert_msg(emb != NULL, "'%s' not embedded", names[i]);
    ck_assert_msg(strcmp(emb, text) == 0, "'%s' differs from the tree", names[i]);
    free(text);
    free(path);
  }
  ck_assert_ptr_null(pt_kernels_find("nope.cu"));
  ck_assert_ptr_null(pt_kernels_name(-1));
}
END_TEST

START_TEST(job_defines)
{
  pt_variant_t v;
  pt_kernel_job_t job;
  pt_err_t err;
  pt_knobs_default(PT_STAGE_GEMM2, &v);
  v.bm = 64;
  v.epilog = PT_EPILOG_REDUCE;
  ck_assert_int_eq(pt_kernel_job_init(&job, &v, PT_DTYPE_A8W4,
                                       PT_ACT_SWIGLU_OAI, "sm_90", &err), PT_OK);
  int seen = 0;
  for (int i = 0; i < job.req.ndefines; i++) {
    seen += strcmp(job.req.defines[i], "PT_BM=64") == 0;
    seen += strcmp(job.req.defines[i], "PT_EPILOG=1") == 0;
    seen += strcmp(job.req.defines[i], "PT_DTYPE=1") == 0;
    seen += strcmp(job.req.defines[i], "PT_ACT=1") == 0;
    seen += strcmp(job.req.defines[i], "PT_KWAVE=1") == 0;
  }
  ck_assert_int_eq(seen, 5);
  ck_assert_str_eq(job.req.name, "moe_gemm2.cu");
  ck_assert_int_gt(job.req.nheaders, 8);
  /* bad inputs are the bad inputs themselves */
  v.bm = 48;
  ck_assert_int_eq(pt_kernel_job_init(&job, &v, PT_DTYPE_A8W4, PT_ACT_SILU,
                                       "sm_90", &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, "bm") != NULL, "%s", err.msg);
  v.bm = 32;
  ck_assert_int_eq(pt_kernel_job_init(&job, &v, PT_DTYPE_A8W4, PT_ACT_SILU,
                                       "vax780", &err), PT_EINVAL);
  ck_assert_int_eq(pt_kernel_job_init(&job, &v, (pt_dtype_t)7, PT_ACT_SILU,
                                       "sm_90", &err), PT_EINVAL);
}
END_TEST

/* ---- compiling ---- */

#ifdef PT_HAVE_CUDA
/* Two variants differing in one knob must give different cubins. */
static void check_knob_matters(pt_stage_t st, const char *a, const char *b)
{
  pt_variant_t va, vb;
  pt_err_t err;
  ck_assert_msg(pt_knobs_parse(st, a, &va, &err) == PT_OK, "%s: %s", a, err.msg);
  ck_assert_msg(pt_knobs_parse(st, b, &vb, &err) == PT_OK, "%s: %s", b, err.msg);
  pt_gpu_code_t ca, cb;
  int rc = pt_pipe_compile(&va, PT_DTYPE_A4W4, PT_ACT_SILU, "sm_90", &ca, &err);
  ck_assert_msg(rc == PT_OK, "%s %s: %s", pt_stage_name(st), a, err.msg);
  rc = pt_pipe_compile(&vb, PT_DTYPE_A4W4, PT_ACT_SILU, "sm_90", &cb, &err);
  ck_assert_msg(rc == PT_OK, "%s %s: %s", pt_stage_name(st), b, err.msg);
  printf("%s %-14s %6zu B %4.0f ms | %-14s %6zu B %4.0f ms\n", pt_stage_name(st),
         a, ca.size, ca.compile_ms, b, cb.size, cb.compile_ms);
  ck_assert_msg(ca.size != cb.size || memcmp(ca.data, cb.data, ca.size) != 0,
                "%s: %s and %s compile to the same code", pt_stage_name(st), a, b);
  pt_gpu_code_free(&ca);
  pt_gpu_code_free(&cb);
}

START_TEST(every_knob_changes_code)
{
  static const struct { pt_stage_t st; const char *a, *b; } pairs[] = {
      {PT_STAGE_GEMM1, "bm=16", "bm=32"},
      {PT_STAGE_GEMM2, "bm=32", "bm=64"},
      {PT_STAGE_GEMM1, "bn=64", "bn=128"},
      {PT_STAGE_GEMM2, "bn=128", "bn=256"},
      {PT_STAGE_GEMM1, "k_wave=1", "k_wave=2"},
      {PT_STAGE_GEMM2, "kstages=1", "kstages=2"},
      {PT_STAGE_GEMM1, "bhoist=0", "bhoist=1"},
      {PT_STAGE_GEMM2, "bhoist=0", "bhoist=1"},
      {PT_STAGE_GEMM1, "spart=0", "spart=402"},
      {PT_STAGE_GEMM2, "spart=201", "spart=804"},
      {PT_STAGE_GEMM1, "nt=0", "nt=1"},
      {PT_STAGE_GEMM2, "nt=0", "nt=1"},
      {PT_STAGE_GEMM2, "epilog=atomic", "epilog=reduce"},
      {PT_STAGE_GEMM1, "persist=0", "persist=1"},
      {PT_STAGE_GEMM2, "persist=0", "persist=1"},
      /* the wgmma generation: the generation itself, then every knob in it */
      {PT_STAGE_GEMM1, "mma=sync", "mma=wgmma"},
      {PT_STAGE_GEMM2, "mma=sync", "mma=wgmma"},
      {PT_STAGE_GEMM1, "mma=wgmma,bm=16", "mma=wgmma,bm=32"},
      {PT_STAGE_GEMM2, "mma=wgmma,bm=32", "mma=wgmma,bm=64"},
      {PT_STAGE_GEMM1, "mma=wgmma,bn=64", "mma=wgmma,bn=128"},
      {PT_STAGE_GEMM2, "mma=wgmma,bn=128", "mma=wgmma,bn=256,bm=16"},
      {PT_STAGE_GEMM1, "mma=wgmma,k_wave=1", "mma=wgmma,k_wave=2"},
      {PT_STAGE_GEMM2, "mma=wgmma,kstages=1", "mma=wgmma,kstages=2"},
      {PT_STAGE_GEMM1, "mma=wgmma,bhoist=0", "mma=wgmma,bhoist=1"},
      {PT_STAGE_GEMM2, "mma=wgmma,bhoist=0", "mma=wgmma,bhoist=1"},
      {PT_STAGE_GEMM1, "mma=wgmma,spart=0", "mma=wgmma,spart=402"},
      {PT_STAGE_GEMM2, "mma=wgmma,spart=201", "mma=wgmma,spart=804"},
      {PT_STAGE_GEMM1, "mma=wgmma,nt=0", "mma=wgmma,nt=1"},
      {PT_STAGE_GEMM2, "mma=wgmma,nt=0", "mma=wgmma,nt=1"},
      {PT_STAGE_GEMM2, "mma=wgmma,epilog=atomic", "mma=wgmma,epilog=reduce"},
      {PT_STAGE_GEMM1, "mma=wgmma,persist=0", "mma=wgmma,persist=1"},
      {PT_STAGE_GEMM2, "mma=wgmma,persist=0", "mma=wgmma,persist=1"},
      {PT_STAGE_GEMM1, "mma=wgmma,splitk=1", "mma=wgmma,splitk=2"},
      {PT_STAGE_GEMM1, "mma=wgmma,splitk=4", "mma=wgmma,splitk=8"},
      {PT_STAGE_GEMM2, "mma=wgmma,splitk=1", "mma=wgmma,splitk=2"},
      {PT_STAGE_GEMM2, "mma=wgmma,splitk=2", "mma=wgmma,splitk=4"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    check_knob_matters(pairs[i].st, pairs[i].a, pairs[i].b);
  fflush(stdout);
}
END_TEST

START_TEST(reduce_compiles)
{
  pt_gpu_code_t code;
  pt_err_t err;
  int rc = pt_pipe_compile_reduce("sm_90", &code, &err);
  ck_assert_msg(rc == PT_OK, "%s", err.msg);
  pt_gpu_code_free(&code);
}
END_TEST
#endif

/* Every feasible variant of a stage on the sm_90 limits, for each dtype,
 * compiled by two threads (CI has two cores): of the mma.sync generation
 * every stride-th, of the wgmma generation (whose NVRTC compile takes about
 * 1 s, and whose space is 8 times larger: splitk) every WG_STRIDE * stride-th,
 * a prime that walks every knob's values. */
#define WG_STRIDE 11

typedef struct sweep_s {
  pt_stage_t stage;
  const char *arch;
  size_t stride;          /* compile every stride-th variant */
  pthread_mutex_t lock;
  size_t next, total, compiled, failed, infeasible;
  double ms;
  char first_failure[1024];
} sweep_t;

static void *sweep_worker(void *arg)
{
  sweep_t *s = arg;
  pt_limits_t lim;
  pt_constraints_limits_for_arch(s->arch, &lim, NULL);
  for (;;) {
    pthread_mutex_lock(&s->lock);
    size_t i = s->next++;
    pthread_mutex_unlock(&s->lock);
    if (i >= s->total)
      return NULL;
    pt_variant_t v;
    pt_knobs_space_at(s->stage, i, &v);
    if (i % (v.mma == PT_MMA_WGMMA ? WG_STRIDE * s->stride : s->stride) != 0)
      continue;
    pt_dtype_t dt = (pt_dtype_t)(i % PT_DTYPE_COUNT);
    pt_act_t act = (pt_act_t)((i / PT_DTYPE_COUNT) % PT_ACT_COUNT);
    pt_verdict_t verdict;
    pt_err_t err;
    ck_assert_int_eq(pt_constraints_check(&v, dt, &lim, &verdict, &err), PT_OK);
    if (!verdict.feasible) {
      pthread_mutex_lock(&s->lock);
      s->infeasible++;
      pthread_mutex_unlock(&s->lock);
      continue;
    }
    pt_gpu_code_t code;
    int rc = pt_pipe_compile(&v, dt, act, s->arch, &code, &err);
    pthread_mutex_lock(&s->lock);
    s->compiled++;
    s->ms += code.compile_ms;
    if (rc != PT_OK && s->failed++ == 0) {
      char spec[PT_KNOBS_SPEC_MAX];
      pt_knobs_format(&v, spec, sizeof spec);
      snprintf(s->first_failure, sizeof s->first_failure, "%s dtype %d: %.400s",
               spec, (int)dt, err.msg);
    }
    pthread_mutex_unlock(&s->lock);
    pt_gpu_code_free(&code);
  }
}

static void sweep(pt_stage_t stage, const char *arch, size_t stride)
{
  sweep_t s = {.stage = stage, .arch = arch, .stride = stride,
               .total = pt_knobs_space_size(stage)};
  pthread_mutex_init(&s.lock, NULL);
  pthread_t th[2];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, sweep_worker, &s), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  pthread_mutex_destroy(&s.lock);
  printf("%s %s: %zu variants (every %zu-th, wgmma every %zu-th), %zu infeasible, "
         "%zu compiled, %zu failed, %.0f ms per compile, %.0f s wall\n",
         pt_stage_name(stage), arch, s.total, stride, WG_STRIDE * stride, s.infeasible,
         s.compiled,
         s.failed, s.compiled ? s.ms / (double)s.compiled : 0.0,
         (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  fflush(stdout);
  ck_assert_msg(s.failed == 0, "%zu variants failed; first: %s", s.failed,
                s.first_failure);
  ck_assert_msg(s.compiled > 0, "no feasible variant");
}

#ifdef PT_HAVE_CUDA
/* Every feasible variant unless PT_SWEEP_STRIDE asks for a sample: the test
 * command sets it for its ASan and distcheck passes, whose plain `make check`
 * pass already compiled the whole space (the sweep prints its stride). */
static size_t sweep_stride(void) {
  const char *s = getenv("PT_SWEEP_STRIDE");
  long v = s ? strtol(s, NULL, 10) : 1;
  return v > 1 ? (size_t)v : 1;
}

START_TEST(all_feasible_sm90_gemm1) { sweep(PT_STAGE_GEMM1, "sm_90", sweep_stride()); }
END_TEST
START_TEST(all_feasible_sm90_gemm2) { sweep(PT_STAGE_GEMM2, "sm_90", sweep_stride()); }
END_TEST
#endif

#ifdef PT_HAVE_HIP
/* A spread sample: a prime stride walks every knob's values. */
START_TEST(sample_gfx90a_gemm1) { sweep(PT_STAGE_GEMM1, "gfx90a", 37); }
END_TEST
START_TEST(sample_gfx90a_gemm2) { sweep(PT_STAGE_GEMM2, "gfx90a", 29); }
END_TEST
#endif

static Suite *kernels_suite(void)
{
  Suite *s = suite_create("kernels_compile");
  TCase *host = tcase_create("host");
  tcase_add_test(host, sched_bijection);
  tcase_add_test(host, sched_spart_layout);
  tcase_add_test(host, embedded_match_tree);
  tcase_add_test(host, job_defines);
  suite_add_tcase(s, host);
#ifdef PT_HAVE_CUDA
  TCase *nv = tcase_create("nvrtc");
  tcase_set_timeout(nv, 600);
  tcase_add_test(nv, every_knob_changes_code);
  tcase_add_test(nv, reduce_compiles);
  suite_add_tcase(s, nv);
  TCase *all = tcase_create("nvrtc_all");
  tcase_set_timeout(all, 3600);
  tcase_add_test(all, all_feasible_sm90_gemm1);
  tcase_add_test(all, all_feasible_sm90_gemm2);
  suite_add_tcase(s, all);
#endif
#ifdef PT_HAVE_HIP
  TCase *amd = tcase_create("hiprtc");
  tcase_set_timeout(amd, 1200);
  tcase_add_test(amd, sample_gfx90a_gemm1);
  tcase_add_test(amd, sample_gfx90a_gemm2);
  suite_add_tcase(s, amd);
#endif
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(kernels_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
