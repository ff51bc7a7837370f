/* kbench: verifies and benchmarks the MoE kernels on a GPU (not a test).
 *
 *   kbench verify [STRIDE [FIRST [COUNT]]]
 *                            every STRIDE-th feasible variant (default 1) of
 *                            both stages, for every default family and dtype,
 *                            M in {1, 7, 128, 1000}, uniform and Zipf routing;
 *                            prints variants x pass/fail and worst errors
 *   kbench bench [MAX_M]     gptoss-120b (3 dtypes) and dsv3-tp8 at M in
 *                            {1, 16, 128, 1024, 8192}: default and best variant
 *                            found; CSV rows for bench/table.py
 *   kbench probe FAMILY DTYPE M 'STAGE|SPEC|DEF=V ...'...
 *                            verify and time single variants (experiments)
 *
 * Times come from the tuner's timer (measure.h, cold L2) with kbench's
 * screening options: the median of a fixed number of launches.
 *
 * Compiles with 16 host threads (the device machine's cores). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraints.h"
#include "family.h"
#include "gpu.h"
#include "kernel_job.h"
#include "knobs.h"
#include "measure.h"
#include "pipeline.h"
#include "problem.h"
#include "routing.h"

#define NTHREADS 16

typedef struct cand_s {
  pt_variant_t v;
  pt_pipe_stage_t st;   /* loaded once, used for every problem */
  int loaded;
  pt_dtype_t dt;
  pt_act_t act;
  pt_gpu_code_t code;
  int rc;
  char msg[256];
  /* verification summary */
  int runs, fails;
  double worst_match, worst_l2;
  char first_fail[160];
} cand_t;

typedef struct pool_s {
  cand_t *c;
  int n, next;
  const char *arch;
  pthread_mutex_t lock;
} pool_t;

static void *compile_worker(void *arg)
{
  pool_t *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->lock);
    int i = p->next++;
    pthread_mutex_unlock(&p->lock);
    if (i >= p->n)
      return NULL;
    cand_t *c = &p->c[i];
    pt_err_t err;
    c->rc = pt_pipe_compile(&c->v, c->dt, c->act, p->arch, &c->code, &err);
    if (c->rc != PT_OK)
      snprintf(c->msg, sizeof c->msg, "%.250s", err.msg);
  }
}

static void compile_all(cand_t *c, int n, const char *arch)
{
  pool_t p = {.c = c, .n = n, .arch = arch};
  pthread_t th[NTHREADS];
  pthread_mutex_init(&p.lock, NULL);
  for (int i = 0; i < NTHREADS; i++)
    pthread_create(&th[i], NULL, compile_worker, &p);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join(th[i], NULL);
  pthread_mutex_destroy(&p.lock);
}

static void compile_reduce(const char *arch, pt_gpu_code_t *code)
{
  pt_err_t err;
  if (pt_pipe_compile_reduce(arch, code, &err) != PT_OK) {
    fprintf(stderr, "kbench: reduce kernel: %s\n", err.msg);
    exit(1);
  }
}

static int feasible_list(pt_stage_t stage, pt_dtype_t dt, pt_act_t act,
                         const pt_limits_t *lim, int stride, cand_t **out)
{
  size_t total = pt_knobs_space_size(stage);
  cand_t *c = calloc(total, sizeof *c);
  int n = 0;
  for (size_t i = 0; i < total; i += (size_t)stride) {
    pt_variant_t v;
    pt_verdict_t vd;
    pt_knobs_space_at(stage, i, &v);
    if (pt_constraints_check(&v, dt, lim, &vd, NULL) != PT_OK || !vd.feasible)
      continue;
    c[n].v = v;
    c[n].dt = dt;
    c[n].act = act;
    c[n].worst_match = 1.0;
    n++;
  }
  *out = c;
  return n;
}

static void die(const char *what, const pt_err_t *err)
{
  fprintf(stderr, "kbench: %s: %s\n", what, err->msg);
  exit(1);
}

/* ---- verify ---- */

static const int kVerifyM[] = {1, 7, 128, 1000};

static void verify_combo(pt_gpu_t *gpu, const pt_family_set_t *set,
                         pt_dtype_t dt, pt_act_t act, int stride,
                         const pt_limits_t *lim)
{
  cand_t *cs[2];
  int ns[2];
  pt_err_t err;
  pt_gpu_code_t red;
  compile_reduce(pt_gpu_props(gpu)->arch, &red);
  for (int s = 0; s < 2; s++) {
    ns[s] = feasible_list((pt_stage_t)s, dt, act, lim, stride, &cs[s]);
    compile_all(cs[s], ns[s], pt_gpu_props(gpu)->arch);
    for (int i = 0; i < ns[s]; i++) {
      cand_t *c = &cs[s][i];
      if (c->rc == PT_OK)
        c->rc = pt_pipe_stage_load_code(gpu, &c->v, dt, act, &c->code, &red,
                                        &c->st, &err);
      if (c->rc != PT_OK && c->msg[0] == '\0')
        snprintf(c->msg, sizeof c->msg, "%.250s", err.msg);
      c->loaded = c->rc == PT_OK;
    }
  }
  for (int f = 0; f < set->nfamilies; f++) {
    const pt_family_t *fam = &set->families[f];
    pt_moe_shape_t shape;
    if (fam->act != act || pt_family_shape(fam, dt, &shape, NULL) != PT_OK)
      continue;
    for (int mi = 0; mi < 4; mi++)
      for (int ri = 0; ri < 2; ri++) {
        pt_routing_t r = {ri ? PT_ROUTING_ZIPF : PT_ROUTING_UNIFORM, 1.2};
        pt_moe_problem_t p;
        pt_pipe_t *pp;
        if (pt_problem_init(&p, &shape, kVerifyM[mi], &r, 1234 + mi, &err) != PT_OK)
          die("problem", &err);
        if (pt_pipe_init(gpu, &p, 128, NTHREADS, 77, &pp, &err) != PT_OK)
          die("pipe init", &err);
        for (int s = 0; s < 2; s++)
          for (int i = 0; i < ns[s]; i++) {
            cand_t *c = &cs[s][i];
            if (c->rc != PT_OK)
              continue;
            pt_pipe_check_t chk;
            int rc = s == 0 ? pt_pipe_verify_gemm1(pp, &c->st, &chk, &err)
                            : pt_pipe_verify_gemm2(pp, &c->st, &chk, &err);
            if (rc != PT_OK)
              die("verify", &err);
            c->runs++;
            if (chk.code_match < c->worst_match)
              c->worst_match = chk.code_match;
            if (chk.rel_l2 > c->worst_l2)
              c->worst_l2 = chk.rel_l2;
            if (!chk.pass && c->fails++ == 0)
              snprintf(c->first_fail, sizeof c->first_fail,
                       "%s M=%d %s match=%.4f l2=%.2e untouched=%d", fam->name,
                       kVerifyM[mi], ri ? "zipf" : "uniform", chk.code_match,
                       chk.rel_l2, chk.untouched);
          }
        pt_pipe_free(pp);
        pt_problem_free(&p);
      }
  }
  for (int s = 0; s < 2; s++) {
    int comp_fail = 0, pass = 0, fail = 0, runs = 0;
    double wm = 1.0, wl = 0.0;
    for (int i = 0; i < ns[s]; i++) {
      cand_t *c = &cs[s][i];
      char spec[PT_KNOBS_SPEC_MAX];
      pt_knobs_format(&c->v, spec, sizeof spec);
      if (c->rc != PT_OK) {
        comp_fail++;
        printf("COMPILE-FAIL %s %s %s: %s\n", pt_stage_name(c->v.stage),
               pt_dtype_name(dt), spec, c->msg);
        continue;
      }
      runs += c->runs;
      c->fails ? fail++ : pass++;
      if (c->fails)
        printf("FAIL %s %s %s: %d/%d runs failed, first %s\n",
               pt_stage_name(c->v.stage), pt_dtype_name(dt), spec, c->fails,
               c->runs, c->first_fail);
      wm = c->worst_match < wm ? c->worst_match : wm;
      wl = c->worst_l2 > wl ? c->worst_l2 : wl;
    }
    for (int i = 0; i < ns[s]; i++) {
      if (cs[s][i].loaded)
        pt_pipe_stage_unload(&cs[s][i].st);
      pt_gpu_code_free(&cs[s][i].code);
    }
    printf("SUMMARY %-5s %-6s %-10s variants %4d pass %4d fail %3d "
           "compile-fail %d runs %6d worst-code-match %.4f worst-rel-l2 %.2e\n",
           pt_stage_name((pt_stage_t)s), pt_dtype_name(dt), pt_act_name(act),
           ns[s], pass, fail, comp_fail, runs, wm, wl);
    fflush(stdout);
    free(cs[s]);
  }
  pt_gpu_code_free(&red);
}

/* The built-in families and the device's limits: what verify and bench
 * iterate over. */
static void load_families(pt_gpu_t *gpu, pt_family_set_t *set, pt_limits_t *lim)
{
  pt_err_t err;
  if (pt_family_load_builtin(set, &err) != PT_OK)
    die("families", &err);
  pt_constraints_limits_from_props(pt_gpu_props(gpu), lim);
}

static int cmd_verify(pt_gpu_t *gpu, int stride, int first_combo, int ncombos)
{
  pt_family_set_t set;
  pt_limits_t lim;
  load_families(gpu, &set, &lim);
  static const struct { pt_dtype_t dt; pt_act_t act; } combos[] = {
      {PT_DTYPE_A4W4, PT_ACT_SILU},       {PT_DTYPE_A8W4, PT_ACT_SILU},
      {PT_DTYPE_A4W4, PT_ACT_SWIGLU_OAI}, {PT_DTYPE_A8W4, PT_ACT_SWIGLU_OAI},
      {PT_DTYPE_A16W4, PT_ACT_SWIGLU_OAI},
  };
  for (size_t i = (size_t)first_combo;
       i < sizeof combos / sizeof combos[0] && (int)i < first_combo + ncombos; i++)
    verify_combo(gpu, &set, combos[i].dt, combos[i].act, stride, &lim);
  pt_family_set_free(&set);
  return 0;
}

/* ---- bench ---- */

static const int kBenchM[] = {1, 16, 128, 1024, 8192};

/* Candidates searched for the best variant (device time is scarce): every
 * bm x bn x (gemm1: k_wave 1 or 2 | gemm2: kstages 2 atomic, kstages 1
 * atomic, kstages 2 reduce), nt=1, the other knobs at their defaults. */
static int bench_cands(pt_stage_t st, pt_dtype_t dt, const pt_limits_t *lim,
                       pt_variant_t *out, int max)
{
  static const int bms[] = {16, 32, 64, 128}, bns[] = {64, 128, 256};
  int n = 0;
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 3; b++)
      for (int k = 0; k < 3 && n < max; k++) {
        pt_variant_t v;
        pt_verdict_t vd;
        pt_knobs_default(st, &v);
        v.bm = bms[a];
        v.bn = bns[b];
        v.nt = 1;
        if (st == PT_STAGE_GEMM1) {
          if (k == 2)
            continue;
          v.k_wave = 1 << k;
        } else {
          v.kstages = k == 1 ? 1 : 2;
          v.epilog = k == 2 ? PT_EPILOG_REDUCE : PT_EPILOG_ATOMIC;
        }
        if (pt_constraints_check(&v, dt, lim, &vd, NULL) == PT_OK && vd.feasible)
          out[n++] = v;
      }
  return n;
}

/* Median microseconds of reps cold launches after one warm-up, with no
 * minimum time: enough to rank candidates, cheap enough to screen many (the
 * tuner's defaults are for the numbers it records). */
static double time_us(pt_pipe_t *pp, pt_pipe_stage_t *g1, pt_pipe_stage_t *g2,
                      pt_measure_gpu_t *timer, int reps)
{
  pt_measure_opts_t o;
  pt_measure_stats_t st;
  pt_err_t err;
  pt_measure_opts_default(&o);
  o.warmup = 1;
  o.min_samples = o.max_samples = reps;
  o.min_ms = 0;
  if (pt_pipe_time(pp, g1, g2, timer, &o, &st, &err) != PT_OK)
    die("time", &err);
  return st.median;
}

static double time_stage(pt_pipe_t *pp, pt_pipe_stage_t *st,
                         pt_measure_gpu_t *timer, int reps)
{
  int g1 = st->v.stage == PT_STAGE_GEMM1;
  return time_us(pp, g1 ? st : NULL, g1 ? NULL : st, timer, reps);
}

/* Sorts the pipe for a stage or pair: the deployed SBM is the larger of the
 * two stages' BM (DESIGN §4), so each stage is timed on the sort of its own
 * BM and each pair on the sort of the larger. */
static void sort_for(pt_pipe_t *pp, int bm)
{
  pt_err_t err;
  if (pt_pipe_sort(pp, bm, &err) != PT_OK)
    die("sort", &err);
}

static void bench_point(pt_measure_gpu_t *timer, const pt_family_t *fam,
                        pt_dtype_t dt, int M, const pt_limits_t *lim)
{
  pt_gpu_t *gpu = timer->gpu;
  pt_moe_shape_t shape;
  pt_moe_problem_t p;
  pt_pipe_t *pp;
  pt_err_t err;
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  if (pt_family_shape(fam, dt, &shape, &err) != PT_OK)
    die("shape", &err);
  if (pt_problem_init(&p, &shape, M, &r, 42, &err) != PT_OK)
    die("problem", &err);
  if (pt_pipe_init(gpu, &p, 128, NTHREADS, 5, &pp, &err) != PT_OK)
    die("pipe init", &err);
  pt_variant_t best[2], def[2];
  double best_us[2], def_us[2];
  for (int s = 0; s < 2; s++) {
    pt_variant_t cands[80];
    int n = bench_cands((pt_stage_t)s, dt, lim, cands, 80);
    cand_t *cc = calloc((size_t)n, sizeof *cc);
    for (int i = 0; i < n; i++) {
      cc[i].v = cands[i];
      cc[i].dt = dt;
      cc[i].act = fam->act;
    }
    pt_knobs_default((pt_stage_t)s, &def[s]);
    pt_pipe_stage_t st;
    if (pt_pipe_stage_load(gpu, &def[s], dt, fam->act, &st, &err) != PT_OK)
      die("default", &err);
    sort_for(pp, def[s].bm);
    def_us[s] = time_stage(pp, &st, timer, 15);
    pt_pipe_stage_unload(&st);
    best[s] = def[s];
    best_us[s] = def_us[s];
    compile_all(cc, n, pt_gpu_props(gpu)->arch);
    for (int i = 0; i < n; i++) {
      pt_pipe_check_t chk;
      if (cc[i].rc != PT_OK || pt_pipe_stage_load(gpu, &cc[i].v, dt, fam->act, &st, &err) != PT_OK)
        continue;
      sort_for(pp, cc[i].v.bm);
      int ok = (s == 0 ? pt_pipe_verify_gemm1(pp, &st, &chk, &err)
                       : pt_pipe_verify_gemm2(pp, &st, &chk, &err)) == PT_OK && chk.pass;
      double us = ok ? time_stage(pp, &st, timer, 5) : 1e30;
      if (us < best_us[s]) {
        best_us[s] = time_stage(pp, &st, timer, 15);
        best[s] = cc[i].v;
      }
      pt_pipe_stage_unload(&st);
      pt_gpu_code_free(&cc[i].code);
    }
    free(cc);
  }
  /* pipeline times of default and best pairs */
  double pipe[2];
  double fl1, fl2;
  pt_problem_flops(&p, &fl1, &fl2);
  for (int b = 0; b < 2; b++) {
    pt_pipe_stage_t g1, g2;
    const pt_variant_t *v1 = b ? &best[0] : &def[0], *v2 = b ? &best[1] : &def[1];
    sort_for(pp, v1->bm > v2->bm ? v1->bm : v2->bm);
    if (pt_pipe_stage_load(gpu, v1, dt, fam->act, &g1, &err) != PT_OK ||
        pt_pipe_stage_load(gpu, v2, dt, fam->act, &g2, &err) != PT_OK)
      die("pipe stages", &err);
    pipe[b] = time_us(pp, &g1, &g2, timer, 15);
    pt_pipe_stage_unload(&g1);
    pt_pipe_stage_unload(&g2);
  }
  char s1[PT_KNOBS_SPEC_MAX], s2[PT_KNOBS_SPEC_MAX];
  pt_knobs_format(&best[0], s1, sizeof s1);
  pt_knobs_format(&best[1], s2, sizeof s2);
  printf("CSV,%s,%s,%d,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%zu,%.6e,\"%s\",\"%s\"\n",
         fam->name, pt_dtype_name(dt), M, def_us[0], def_us[1], pipe[0],
         best_us[0], best_us[1], pipe[1], pt_problem_weight_bytes(&p),
         fl1 + fl2, s1, s2);
  fflush(stdout);
  pt_pipe_free(pp);
  pt_problem_free(&p);
}

static int cmd_bench(pt_measure_gpu_t *timer, int maxm)
{
  pt_family_set_t set;
  pt_limits_t lim;
  load_families(timer->gpu, &set, &lim);
  printf("CSV,family,dtype,M,def_g1_us,def_g2_us,def_pipe_us,best_g1_us,"
         "best_g2_us,best_pipe_us,weight_bytes,flops,best_g1,best_g2\n");
  static const struct { const char *fam; pt_dtype_t dt; } pts[] = {
      {"gptoss-120b", PT_DTYPE_A16W4}, {"gptoss-120b", PT_DTYPE_A8W4},
      {"gptoss-120b", PT_DTYPE_A4W4}, {"dsv3-tp8", PT_DTYPE_A4W4},
  };
  for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
    const pt_family_t *f = pt_family_find(&set, pts[i].fam);
    for (int m = 0; m < 5; m++)
      if (f && kBenchM[m] <= maxm)
        bench_point(timer, f, pts[i].dt, kBenchM[m], &lim);
  }
  pt_family_set_free(&set);
  return 0;
}

/* ---- probe: variants on one problem, for experiments ---- */

/* One probe item "STAGE|SPEC|DEF=V DEF=V": compiled with the extra defines,
 * verified, timed (median of 15, cold L2); one line printed. */
static void probe_one(pt_measure_gpu_t *timer, pt_pipe_t *pp, const pt_family_t *fam,
                      pt_dtype_t dt, const char *item, const pt_gpu_code_t *red)
{
  pt_gpu_t *gpu = timer->gpu;
  char buf[512], *defs[8];
  int nd = 0;
  pt_stage_t stg;
  pt_variant_t v;
  pt_err_t err;
  snprintf(buf, sizeof buf, "%s", item);
  char *spec = strchr(buf, '|'), *dl = spec ? strchr(spec + 1, '|') : NULL;
  if (!spec) {
    printf("PROBE %s: want STAGE|SPEC[|DEFS]\n", item);
    return;
  }
  *spec++ = '\0';
  if (dl) {
    *dl++ = '\0';
    for (char *t = strtok(dl, " "); t && nd < 8; t = strtok(NULL, " "))
      defs[nd++] = t;
  }
  if (pt_stage_parse(buf, &stg) != 0 || pt_knobs_parse(stg, spec, &v, &err) != PT_OK) {
    printf("PROBE %s: bad stage or spec\n", item);
    return;
  }
  pt_kernel_job_t job;
  pt_gpu_code_t code;
  pt_pipe_stage_t st;
  if (pt_kernel_job_init(&job, &v, dt, fam->act, pt_gpu_props(gpu)->arch, &err) != PT_OK)
    die("job", &err);
  for (int i = 0; i < nd && job.ndefines < PT_KERNEL_JOB_DEFINES_MAX; i++)
    job.defines[job.ndefines++] = defs[i];
  job.req.ndefines = job.ndefines;
  if (pt_gpu_compile(&job.req, &code, &err) != PT_OK ||
      pt_pipe_stage_load_code(gpu, &v, dt, fam->act, &code, red, &st, &err) != PT_OK) {
    printf("PROBE %s: %s\n", item, err.msg);
    return;
  }
  pt_pipe_check_t chk;
  int rc = stg == PT_STAGE_GEMM1 ? pt_pipe_verify_gemm1(pp, &st, &chk, &err)
                                 : pt_pipe_verify_gemm2(pp, &st, &chk, &err);
  if (rc != PT_OK)
    die("verify", &err);
  double us = time_stage(pp, &st, timer, 15);
  printf("PROBE %-60s regs=%3d spill=%d blk/sm=%d match=%.4f l2=%.2e %s us=%8.2f\n",
         item, st.regs, st.spill_bytes, st.blocks_per_sm, chk.code_match,
         chk.rel_l2, chk.pass ? "pass" : "FAIL", us);
  fflush(stdout);
  pt_pipe_stage_unload(&st);
  pt_gpu_code_free(&code);
}

/* kbench probe FAMILY DTYPE M ITEM...: every item on one problem, sorted
 * with SBM = $KBENCH_SBM (default 128). */
static int cmd_probe(pt_measure_gpu_t *timer, int argc, char **argv)
{
  pt_gpu_t *gpu = timer->gpu;
  pt_family_set_t set;
  pt_err_t err;
  pt_dtype_t dt;
  if (argc < 6) {
    fprintf(stderr, "usage: kbench probe FAMILY DTYPE M 'STAGE|SPEC|DEFS'...\n");
    return 2;
  }
  if (pt_family_load_builtin(&set, &err) != PT_OK)
    die("families", &err);
  const pt_family_t *fam = pt_family_find(&set, argv[2]);
  int M = atoi(argv[4]);
  if (!fam || pt_dtype_parse(argv[3], &dt) != 0 || M < 1) {
    fprintf(stderr, "kbench probe: bad family, dtype or M\n");
    return 2;
  }
  pt_moe_shape_t shape;
  pt_moe_problem_t p;
  pt_pipe_t *pp;
  pt_routing_t r = {PT_ROUTING_UNIFORM, 0};
  if (pt_family_shape(fam, dt, &shape, &err) != PT_OK ||
      pt_problem_init(&p, &shape, M, &r, 42, &err) != PT_OK ||
      pt_pipe_init(gpu, &p, getenv("KBENCH_SBM") ? atoi(getenv("KBENCH_SBM")) : 128, NTHREADS, 5, &pp, &err) != PT_OK)
    die("problem", &err);
  pt_gpu_code_t red;
  compile_reduce(pt_gpu_props(gpu)->arch, &red);
  printf("PROBE problem %s %s M=%d weight_bytes=%zu\n", fam->name, argv[3], M,
         pt_problem_weight_bytes(&p));
  for (int i = 5; i < argc; i++)
    probe_one(timer, pp, fam, dt, argv[i], &red);
  pt_gpu_code_free(&red);
  pt_pipe_free(pp);
  pt_problem_free(&p);
  pt_family_set_free(&set);
  return 0;
}

int main(int argc, char **argv)
{
  pt_gpu_t *gpu;
  pt_measure_gpu_t timer;
  pt_err_t err;
  if (argc < 2) {
    fprintf(stderr, "usage: kbench verify [STRIDE [FIRST_COMBO [COUNT]]] | bench [MAX_M] | "
                    "probe FAMILY DTYPE M ITEM...\n");
    return 2;
  }
  if (pt_gpu_open_any(0, &gpu, &err) != PT_OK) {
    printf("SKIP: %s\n", err.msg);
    return 77;
  }
  if (pt_measure_gpu_init(&timer, gpu, &err) != PT_OK)
    die("timer", &err);
  int rc;
  if (strcmp(argv[1], "probe") == 0)
    rc = cmd_probe(&timer, argc, argv);
  else if (strcmp(argv[1], "verify") == 0)
    rc = cmd_verify(gpu, argc > 2 ? atoi(argv[2]) : 1, argc > 3 ? atoi(argv[3]) : 0,
                    argc > 4 ? atoi(argv[4]) : 5);
  else
    rc = cmd_bench(&timer, argc > 2 ? atoi(argv[2]) : 8192);
  pt_measure_gpu_free(&timer);
  pt_gpu_close(gpu);
  return rc;
}
