/* The worker's GPU backend: measures one stage variant on a real device per
 * DESIGN §6, on top of the shared pipeline (pipeline.h): the problem's inputs
 * are generated, uploaded and checked against the oracle once and shared by
 * every variant; each variant is verified on a poisoned output before it is
 * timed with the timer (pt_pipe_time, measure.h: cold L2 unless the item
 * says warm).
 * The code objects come with the item: the worker never compiles.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "measure.h"
#include "pipeline.h"
#include "problem.h"
#include "routing.h"
#include "worker.h"

typedef struct gpu_state_s {
  pt_gpu_t *gpu;
  pt_measure_gpu_t timer;
  int threads;               /* host threads for the oracle */
  char pkey[512];            /* the problem set up on the device */
  pt_moe_problem_t prob;
  int have_prob;
  pt_pipe_t *pp;
} gpu_state_t;

static void drop_problem(gpu_state_t *s) {
  pt_pipe_free(s->pp);
  s->pp = NULL;
  if (s->have_prob) pt_problem_free(&s->prob);
  s->have_prob = 0;
  s->pkey[0] = '\0';
}

/* Sets up the item's problem unless it is the one already on the device,
 * sorted with SBM = the variant's BM: each stage is timed as it runs in a
 * pipeline whose other stage has a BM no larger (DESIGN §4); a pair runs on
 * SBM = the larger BM of its two, as the generated table runs it. */
static int ensure_problem(gpu_state_t *s, const pt_proto_item_t *it, pt_err_t *err) {
  char key[512];
  const pt_moe_shape_t *sh = &it->shape;
  snprintf(key, sizeof key, "%s/%d/%d/%d/%d/%d/%d/%d/%s/%llu", it->family, sh->model_dim,
           sh->inter_dim, sh->experts, sh->topk, (int)sh->dtype, (int)sh->act, it->tokens,
           it->routing, (unsigned long long)it->seed);
  if (s->pp != NULL && strcmp(key, s->pkey) == 0)
    return pt_pipe_sort(s->pp, pt_proto_item_sbm(it), err);
  drop_problem(s);
  pt_routing_t routing;
  int rc = pt_routing_parse(it->routing, &routing, err);
  if (rc == PT_OK) rc = pt_problem_init(&s->prob, sh, it->tokens, &routing, it->seed, err);
  if (rc != PT_OK) return rc;
  s->have_prob = 1;
  rc = pt_pipe_init(s->gpu, &s->prob, pt_proto_item_sbm(it), s->threads, it->seed, &s->pp,
                    err);
  if (rc == PT_OK) snprintf(s->pkey, sizeof s->pkey, "%s", key);
  return rc;
}

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
  double hbytes = (double)pt_problem_act_bytes(sh->dtype, (size_t)sh->inter_dim) * rows;
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

/* Verifies, then times. A negative return means the device is gone. */
static int measure_item(gpu_state_t *s, const pt_proto_item_t *it, pt_pipe_stage_t *st,
                        pt_proto_result_t *res, pt_err_t *err) {
  pt_stage_t stage = it->variant.stage;
  pt_pipe_check_t chk;
  int rc = stage == PT_STAGE_GEMM1 ? pt_pipe_verify_gemm1(s->pp, st, &chk, err)
                                   : pt_pipe_verify_gemm2(s->pp, st, &chk, err);
  if (rc != PT_OK) return rc;
  res->err_max_rel = chk.rel_l2;
  if (!chk.pass) {
    char why[256];
    pt_pipe_check_why(stage, &chk, why, sizeof why);
    set_fail(res, "verify_fail", why);
    return PT_OK;
  }
  pt_measure_opts_t o;
  pt_measure_stats_t ms;
  int g1 = stage == PT_STAGE_GEMM1;
  pt_worker_timer_opts(it, &o);
  rc = pt_pipe_time(s->pp, g1 ? st : NULL, g1 ? NULL : st, &s->timer, &o, &ms, err);
  if (rc != PT_OK) return rc;
  pt_worker_times(&ms, res);
  res->floor_us = floor_us(s, stage);
  pt_gpu_sample_clocks(s->gpu, &res->sm_clock_mhz, &res->temp_c);
  return PT_OK;
}

/* The pair: verified end to end on poisoned outputs, then timed as one
 * launch sequence (gemm1, gemm2, reduce) with the timer. */
static int measure_pair(gpu_state_t *s, const pt_proto_item_t *it, pt_pipe_stage_t *g1,
                        pt_pipe_stage_t *g2, pt_proto_result_t *res, pt_err_t *err) {
  pt_pipe_check_t inter, out;
  int rc = pt_pipe_verify_pair(s->pp, g1, g2, &inter, &out, err);
  if (rc != PT_OK) return rc;
  res->err_max_rel = out.rel_l2;
  if (!inter.pass || !out.pass) {
    char why[256];
    pt_pipe_check_why(inter.pass ? PT_STAGE_GEMM2 : PT_STAGE_GEMM1, inter.pass ? &out : &inter,
                      why, sizeof why);
    set_fail(res, "verify_fail", why);
    return PT_OK;
  }
  pt_measure_opts_t o;
  pt_measure_stats_t ms;
  pt_worker_timer_opts(it, &o);
  rc = pt_pipe_time(s->pp, g1, g2, &s->timer, &o, &ms, err);
  if (rc != PT_OK) return rc;
  pt_worker_times(&ms, res);
  pt_gpu_sample_clocks(s->gpu, &res->sm_clock_mhz, &res->temp_c);
  return PT_OK;
}

/* Loads one stage from the item's code; what the code cannot do on this
 * device is the item's result (res), not an error. */
static int load_stage(gpu_state_t *s, const pt_proto_item_t *it, const pt_variant_t *v,
                      const void *data, size_t size, pt_pipe_stage_t *st,
                      pt_proto_result_t *res) {
  pt_err_t verr;
  pt_gpu_code_t code = {.data = (void *)data, .size = size, .regs = -1,
                        .spill_bytes = -1, .smem_static = -1};
  pt_gpu_code_t rcode = {.data = it->reduce_code, .size = it->reduce_code_size,
                         .regs = -1, .spill_bytes = -1, .smem_static = -1};
  int reduce = v->stage == PT_STAGE_GEMM2 && rcode.data != NULL;
  int vrc = code.data != NULL
                ? pt_pipe_stage_load_code(s->gpu, v, it->shape.dtype, it->shape.act, &code,
                                          reduce ? &rcode : NULL, st, &verr)
                : pt_err_set(&verr, PT_EINVAL, "the item carries no code object");
  if (vrc != PT_OK) set_fail(res, vrc == PT_EINFEASIBLE ? "infeasible" : "launch_fail", verr.msg);
  return vrc;
}

static int gpu_run_pair(gpu_state_t *s, const pt_proto_item_t *it, pt_worker_begin_fn begin,
                        void *ctx, pt_proto_result_t *res, pt_err_t *err) {
  pt_pipe_stage_t g1, g2;
  memset(&g2, 0, sizeof g2);
  if (load_stage(s, it, &it->variant, it->code, it->code_size, &g1, res) != PT_OK)
    return PT_OK;
  int rc = PT_OK;
  if (load_stage(s, it, &it->pair_variant, it->pair_code, it->pair_code_size, &g2, res) ==
      PT_OK) {
    rc = begin(ctx, err);
    if (rc == PT_OK) rc = measure_pair(s, it, &g1, &g2, res, err);
  }
  pt_pipe_stage_unload(&g1);
  pt_pipe_stage_unload(&g2);
  return rc;
}

static int gpu_run(void *state, const pt_proto_item_t *it, pt_worker_begin_fn begin,
                   void *ctx, pt_proto_result_t *res, pt_err_t *err) {
  gpu_state_t *s = state;
  pt_pipe_stage_t st;
  int rc = ensure_problem(s, it, err);
  if (rc != PT_OK) return rc;
  if (it->pair) return gpu_run_pair(s, it, begin, ctx, res, err);
  if (load_stage(s, it, &it->variant, it->code, it->code_size, &st, res) != PT_OK)
    return PT_OK;
  rc = begin(ctx, err);
  if (rc == PT_OK) rc = measure_item(s, it, &st, res, err);
  pt_pipe_stage_unload(&st);
  return rc;
}

static void gpu_close(void *state) {
  gpu_state_t *s = state;
  drop_problem(s);
  pt_measure_gpu_free(&s->timer);
  if (s->gpu != NULL) pt_gpu_close(s->gpu);
  free(s);
}

static int gpu_open(int ordinal, void **state, pt_gpu_props_t *props, pt_err_t *err) {
  gpu_state_t *s = calloc(1, sizeof *s);
  if (s == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  s->threads = cpus > 1 ? (int)cpus : 1;
  int rc = pt_gpu_open_any(ordinal, &s->gpu, err);
  if (rc == PT_OK) rc = pt_measure_gpu_init(&s->timer, s->gpu, err);
  if (rc != PT_OK) {
    gpu_close(s);
    return rc;
  }
  *props = *pt_gpu_props(s->gpu);
  *state = s;
  return PT_OK;
}

const pt_worker_backend_t pt__worker_backend_gpu = {"gpu", gpu_open, gpu_run, gpu_close};
