/* Result databases for the output tests (see emitdb.h). */
#include "emitdb.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "knobs.h"
#include "testutil.h"

typedef struct fam_s {
  const char *name, *dtype, *act;
  int h, i, e, k;
  const char *arch;  /* where it is measured */
  int step;          /* token grid: 1, step, step^2, ... up to 4096 */
  int gemm2;         /* gemm2 measured too */
} fam_t;

static const fam_t fams[] = {
    {"dsv3-tp8", "a4w4", "silu", 7168, 256, 257, 9, "sm_90", 2, 1},
    {"gptoss-120b", "a4w4", "swiglu_oai", 2880, 2880, 128, 4, "sm_90", 4, 1},
    {"gptoss-120b", "a8w4", "swiglu_oai", 2880, 2880, 128, 4, "sm_90", 4, 1},
    {"kimik2-tp8", "a4w4", "silu", 7168, 256, 384, 8, "sm_90", 2, 0},
    {"gptoss-120b", "a16w4", "swiglu_oai", 2880, 2880, 128, 4, "gfx942", 4, 1},
};
#define NFAMS ((int)(sizeof fams / sizeof fams[0]))
static const fam_t twin = {"dsv3-twin", "a4w4", "silu", 7168, 256, 257, 9, "sm_90", 16, 1};

static const char *const g1_specs[] = {
    "bm=16,bn=64,k_wave=2,nt=1",  "bm=16,bn=128,k_wave=1",
    "bm=16,bn=128,k_wave=4,nt=1", "bm=32,bn=128,k_wave=2,bhoist=1,nt=1",
    "bm=32,bn=64,k_wave=1",       "bm=64,bn=128,k_wave=1,spart=402",
    "bm=64,bn=256,k_wave=2",      "bm=128,bn=128,k_wave=1,spart=804",
    "bm=128,bn=256,k_wave=1,persist=1", "bm=128,bn=256,k_wave=4"};
static const char *const g2_specs[] = {
    "bm=16,bn=64,kstages=2,epilog=atomic",  "bm=16,bn=128,kstages=2,nt=1",
    "bm=32,bn=128,kstages=2,bhoist=1",      "bm=32,bn=128,kstages=1,epilog=reduce",
    "bm=64,bn=128,kstages=2,epilog=reduce", "bm=64,bn=256,kstages=2,spart=402",
    "bm=128,bn=128,kstages=2,epilog=reduce,persist=1",
    "bm=128,bn=256,kstages=1"};
#define NG1 ((int)(sizeof g1_specs / sizeof g1_specs[0]))
#define NG2 ((int)(sizeof g2_specs / sizeof g2_specs[0]))

typedef struct ctx_s {
  pt_db_t *db;
  const pt_emitdb_opts_t *o;
  int64_t run, dev[3], g1[NG1], g2[NG2];
  char src[PT_DB_HASH_HEX];
  pt_variant_t v1[NG1], v2[NG2];
} ctx_t;

static int fail(ctx_t *c, int rc) {
  if (rc != PT_OK) fprintf(stderr, "emitdb: %s\n", pt_db_errmsg(c->db));
  return rc;
}

static int put_variants(ctx_t *c) {
  int rc = PT_OK;
  for (int s = 0; s < 2 && rc == PT_OK; s++) {
    int n = s ? NG2 : NG1;
    for (int i = 0; i < n && rc == PT_OK; i++) {
      pt_variant_t *v = s ? &c->v2[i] : &c->v1[i];
      char spec[PT_KNOBS_SPEC_MAX];
      pt_err_t err;
      if (pt_knobs_parse(s ? PT_STAGE_GEMM2 : PT_STAGE_GEMM1,
                         s ? g2_specs[i] : g1_specs[i], v, &err) != PT_OK) {
        fprintf(stderr, "emitdb: %s\n", err.msg);
        return PT_EINVAL;
      }
      pt_knobs_format(v, spec, sizeof spec);
      rc = fail(c, pt_db_put_variant(c->db, v, spec, s ? &c->g2[i] : &c->g1[i]));
    }
  }
  return rc;
}

/* Deterministic jitter in [-2%, +2%] from the point and variant. */
static double jitter(int f, int tokens, int stage, int v) {
  uint32_t x = (uint32_t)(f * 7919 + tokens * 104729 + stage * 15485863 + v * 32452843);
  x ^= x >> 16;
  x *= 0x7feb352d;
  x ^= x >> 15;
  x *= 0x846ca68b;
  x ^= x >> 16;
  return 1.0 + ((double)(x % 4001) / 4000.0 - 0.5) * 0.04;
}

/* Roofline time in us of variant v of a stage at tokens on arch. */
static double model_us(const ctx_t *c, const fam_t *f, int tokens, const pt_variant_t *v) {
  int hip = strcmp(f->arch, "gfx942") == 0;
  double nv_bw = c->o->sm90_bw > 0 ? c->o->sm90_bw : 3.0e6;
  double rows = (double)tokens * f->k;
  double active = f->e * (1.0 - pow(1.0 - 1.0 / f->e, rows));
  double per_expert = rows / active;
  double padded = active * ceil(per_expert / v->bm) * v->bm;
  double n = v->stage == PT_STAGE_GEMM1 ? 2.0 * f->i : f->h;
  double kd = v->stage == PT_STAGE_GEMM1 ? f->h : f->i;
  double wbytes = active * n * kd / 2 * (1 + 1.0 / 16);
  double abytes = strcmp(f->dtype, "a16w4") == 0 ? 2 : strcmp(f->dtype, "a8w4") == 0 ? 1 : 0.5;
  double bw = (hip ? 4.2e6 : nv_bw) *
              (0.55 + 0.08 * v->nt + 0.04 * v->bhoist + 0.05 * (v->bn == 128) +
               (v->stage == PT_STAGE_GEMM1 ? 0.06 * (v->k_wave == 2) : 0.06 * (v->kstages == 2)));
  double rate = (hip ? 650e6 : 400e6) *
                (0.30 + 0.12 * log2(v->bm / 16.0) + 0.05 * (v->bn == 256) +
                 0.03 * (v->spart != 0) + 0.02 * v->persist -
                 (v->stage == PT_STAGE_GEMM1 ? 0.04 * (v->k_wave - 1) : 0));
  double t = fmax((wbytes + padded * kd * abytes) / bw, 2 * padded * n * kd / rate);
  double extra = 4.0 + 1.5 * (v->bm >= 64) - 1.0 * v->persist;
  if (v->stage == PT_STAGE_GEMM2 && v->epilog == PT_EPILOG_REDUCE)
    extra += 3.0 + rows * f->h * 4 / bw;
  if (v->stage == PT_STAGE_GEMM2 && v->epilog == PT_EPILOG_ATOMIC)
    extra += rows * f->h * 2 / (bw * 0.35);
  return t + extra;
}

static int put_problem(ctx_t *c, const fam_t *f, int tokens, int64_t *id) {
  const char *name = f->name;
  if (c->o->odd_family && strcmp(name, "gptoss-120b") == 0) name = c->o->odd_family;
  pt_db_problem_t p = {name, f->h, f->i, f->e, f->k, f->dtype, f->act, tokens,
                       "uniform", 0.0, 1};
  return fail(c, pt_db_put_problem(c->db, &p, id));
}

typedef struct res_s {
  int dev;
  int64_t var;
  pt_db_status_t status;
  double median;
  const char *reason;
} res_t;

static int put_result(ctx_t *c, int64_t prob, const res_t *r, int hip) {
  pt_db_measurement_t m;
  pt_db_measurement_init(&m);
  m.run_id = c->run;
  m.device_id = c->dev[r->dev];
  m.problem_id = prob;
  m.variant_id = r->var;
  m.regime = PT_DB_REGIME_COLD;
  m.status = c->o->failed_only && r->status == PT_DB_STATUS_OK ? PT_DB_STATUS_TIMEOUT
                                                                : r->status;
  if (m.status == PT_DB_STATUS_OK) {
    m.median_us = r->median;
    m.min_us = r->median * 0.97;
    m.p90_us = r->median * 1.04;
    m.spread = 0.012;
    m.samples = 40;
    m.floor_us = r->median * 0.6;
    m.err_max_abs = 0.004;
  } else {
    m.reason = r->reason ? r->reason : "item timed out after 30 s";
  }
  m.compiler = hip ? "hiprtc 6.2" : "nvrtc 13.0";
  m.source_hash = c->src;
  return fail(c, pt_db_put_measurement(c->db, &m, NULL));
}

/* Every variant of one stage at one point, plus the special cases. */
static int put_point(ctx_t *c, int fi, int tokens, pt_stage_t st) {
  const fam_t *f = fi < NFAMS ? &fams[fi] : &twin;
  int hip = strcmp(f->arch, "gfx942") == 0, nv = st ? NG2 : NG1;
  double scale = c->o->scale > 0 && tokens >= c->o->scale_from ? c->o->scale : 1;
  int64_t prob;
  int rc = put_problem(c, f, tokens, &prob);
  for (int v = 0; v < nv && rc == PT_OK; v++) {
    const pt_variant_t *var = st ? &c->v2[v] : &c->v1[v];
    res_t r = {hip ? 2 : 0, st ? c->g2[v] : c->g1[v], PT_DB_STATUS_OK,
               model_us(c, f, tokens, var) * jitter(fi, tokens, st, v) * scale, NULL};
    if (st == PT_STAGE_GEMM1 && v == NG1 - 1) {
      r.status = PT_DB_STATUS_INFEASIBLE;
      r.reason = "needs 240 KiB of shared memory per block; the device allows 227 KiB";
    } else if (st == PT_STAGE_GEMM2 && v == 5 && tokens == 64) {
      r.status = PT_DB_STATUS_COMPILE_FAIL;
      r.reason = "nvrtc: error: \"too many resources requested\", line 7";
    }
    rc = put_result(c, prob, &r, hip);
  }
  if (rc != PT_OK || hip || fi != 0) return rc;
  /* dsv3-tp8 on the second H100: at 16 tokens the first gemm1 variant is
   * fastest there but fails verification, so it cannot win on sm_90; at 4
   * tokens gemm2's first variant is faster than on the first H100. */
  if (st == PT_STAGE_GEMM1 && tokens == 16) {
    res_t fast = {0, c->g1[0], PT_DB_STATUS_OK, 1.0, NULL};  /* replaces its result */
    res_t bad = {1, c->g1[0], PT_DB_STATUS_VERIFY_FAIL, NAN,
                 "max abs error 3.5 at row 17, col 2 (tolerance 0.05)"};
    rc = put_result(c, prob, &fast, 0);
    if (rc == PT_OK) rc = put_result(c, prob, &bad, 0);
  }
  if (st == PT_STAGE_GEMM2 && tokens == 4) {
    res_t r = {1, c->g2[0], PT_DB_STATUS_OK, 0.5 * model_us(c, f, tokens, &c->v2[0]) * scale,
               NULL};
    rc = put_result(c, prob, &r, 0);
  }
  return rc;
}

/* Family fi of fams, or the twin for fi == NFAMS. */
static int put_family(ctx_t *c, int fi) {
  const fam_t *f = fi < NFAMS ? &fams[fi] : &twin;
  int rc = PT_OK;
  if (c->o->only_family && strcmp(f->name, c->o->only_family) != 0) return PT_OK;
  for (int t = 1; t <= 4096 && rc == PT_OK; t *= f->step) {
    rc = put_point(c, fi, t, PT_STAGE_GEMM1);
    if (rc == PT_OK && f->gemm2 && !c->o->gemm1_only)
      rc = put_point(c, fi, t, PT_STAGE_GEMM2);
  }
  return rc;
}

static int begin(ctx_t *c) {
  static const char source[] = "extern \"C\" __global__ void moe_gemm() {}\n";
  const char *amd = c->o->odd_arch ? c->o->odd_arch : "gfx942";
  const char *nv = c->o->sm90_model ? c->o->sm90_model : "NVIDIA H100 80GB HBM3";
  pt_gpu_props_t p[3] = {
      pt_test_gpu_props(PT_GPU_CUDA, nv, "sm_90", "0000:19:00.0"),
      pt_test_gpu_props(PT_GPU_CUDA, nv, "sm_90", "0000:3b:00.0"),
      pt_test_gpu_props(PT_GPU_HIP, "AMD Instinct MI300X", amd, "0000:05:00.0")};
  int rc = fail(c, pt_db_run_begin(c->db, "lab1", "pipetune tune --all", &c->run));
  for (int i = 0; i < 3 && rc == PT_OK; i++)
    rc = fail(c, pt_db_put_device(c->db, "lab1", &p[i], &c->dev[i]));
  if (rc == PT_OK)
    rc = fail(c, pt_db_put_source(c->db, "moe.cu", source, sizeof source - 1, c->src));
  return rc == PT_OK ? put_variants(c) : rc;
}

int pt_emitdb_build(const char *path, const pt_emitdb_opts_t *o) {
  static const pt_emitdb_opts_t none = {0};
  ctx_t c = {.o = o ? o : &none};
  pt_err_t err;
  if (pt_db_open(path, PT_DB_CREATE, &c.db, &err) != PT_OK) {
    fprintf(stderr, "emitdb: %s\n", err.msg);
    return -1;
  }
  int rc = begin(&c);
  for (int f = 0; f < NFAMS + (c.o->twin != 0) && rc == PT_OK; f++) rc = put_family(&c, f);
  if (rc == PT_OK) rc = fail(&c, pt_db_run_finish(c.db, c.run, PT_DB_RUN_DONE));
  pt_db_close(c.db);
  return rc == PT_OK ? 0 : -1;
}
