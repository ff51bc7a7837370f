/* The options of `pipetune tune` (see tuneopts.h). */
#include "tuneopts.h"

#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "num.h"
#include "routing.h"

void pt_tuneopts_init(pt_tuneopts_t *a) {
  memset(a, 0, sizeof *a);
  a->seed = 1;
}

void pt_tuneopts_table(pt_tuneopts_t *a, pt_opt_t *opts) {
  const pt_opt_t t[PT_TUNEOPTS_COUNT] = {
      PT_OPT_STRING(0, "family", &a->family, "F", "family to tune (default: the smoke plan)"),
      PT_OPT_STRING(0, "grid", &a->grid, "FILE", "families and token grid (JSON)"),
      PT_OPT_STRING(0, "dtype", &a->dtype, "D", "a4w4, a8w4 or a16w4 (default: each family's)"),
      PT_OPT_STRING(0, "tokens", &a->tokens, "LIST", "token counts, e.g. 1,16,128"),
      PT_OPT_STRING(0, "stage", &a->stage, "S", "gemm1 or gemm2 (default: both)"),
      PT_OPT_LIST(0, "variants", &a->variants, "SPEC",
                  "pruned (default), all, or knobs like bm=16|32,bn=128 (repeatable)"),
      PT_OPT_STRING(0, "db", &a->db, "FILE", "result database (created if missing)"),
      PT_OPT_STRING(0, "gpus", &a->gpus, "LIST", "device ordinals (default: every GPU)"),
      PT_OPT_INT(0, "jobs", &a->jobs, "N", "compiles at once (default: CPU count)"),
      PT_OPT_STRING(0, "budget", &a->budget, "DURATION", "stop starting items after, e.g. 8h"),
      PT_OPT_FLAG(0, "resume", &a->resume, "skip items the database already holds"),
      PT_OPT_FLAG(0, "retune", &a->retune,
                  "measure the plan again, keeping the earlier results as history"),
      PT_OPT_FLAG(0, "holdout", &a->holdout,
                  "then measure the grid's midpoints, held out, and print the table's regret"),
      PT_OPT_STRING(0, "shard", &a->shard, "i/N", "this host's share of the plan"),
      PT_OPT_FLAG(0, "warm", &a->warm, "time with a warm L2 (default: cold)"),
      PT_OPT_FLAG(0, "compile-only", &a->compile_only, "compile-check the plan, measure nothing"),
      PT_OPT_STRING(0, "arch", &a->arch, "ARCH", "compile-check target (default sm_90)"),
      PT_OPT_STRING(0, "routing", &a->routing, "R", "uniform (default) or zipf:S"),
      PT_OPT_INT(0, "seed", &a->seed, "N", "seed of the problems' inputs (default 1)"),
      PT_OPT_INT(0, "timeout", &a->timeout, "SECONDS", "per-item limit once kernels run (default 60)"),
      PT_OPT_INT(0, "min-samples", &a->min_samples, "N", "timed launches at least (default 25)"),
      PT_OPT_INT(0, "min-ms", &a->min_ms, "MS", "timed milliseconds at least (default 200)"),
  };
  memcpy(opts, t, sizeof t);
}

void pt_tuneopts_free(pt_tuneopts_t *a) { pt_strlist_free(&a->variants); }

/* "8h", "90m", "1h30m", "45s", "600" (seconds). */
static int parse_duration(const char *s, double *out, pt_err_t *err) {
  double total = 0.0;
  const char *p = s;
  if (*p == '\0') return pt_err_set(err, PT_EINVAL, "option --budget: empty duration");
  while (*p != '\0') {
    const char *end = NULL;
    double v = 0.0;
    if (pt_num_parse_double(p, &end, &v) != 0 || !(v >= 0.0))
      return pt_err_set(err, PT_EINVAL,
                        "option --budget: '%s' is not a duration like 8h, 90m, 1h30m or 45s", s);
    double unit = 1.0;
    if (*end == 'h') unit = 3600.0;
    else if (*end == 'm') unit = 60.0;
    else if (*end == 's') unit = 1.0;
    else if (*end != '\0' || p != s)
      return pt_err_set(err, PT_EINVAL,
                        "option --budget: '%s' is not a duration like 8h, 90m, 1h30m or 45s", s);
    total += v * unit;
    p = *end != '\0' ? end + 1 : end;
  }
  if (total <= 0.0)
    return pt_err_set(err, PT_EINVAL, "option --budget: '%s' is not a positive duration", s);
  *out = total;
  return PT_OK;
}

static int build_request(const pt_tuneopts_t *a, pt_family_set_t *set, pt_plan_req_t *req,
                         int **tokens, pt_err_t *err) {
  int rc = a->grid != NULL ? pt_family_load_file(a->grid, set, err)
                           : pt_family_load_builtin(set, err);
  if (rc != PT_OK) return a->grid != NULL ? pt_err_prefix(err, "option --grid") : rc;
  pt_plan_req_smoke(req);
  if (a->family != NULL || a->grid != NULL) {
    req->family = a->family;
    req->dtype = -1;
    req->tokens = NULL;
    req->ntokens = 0;
  }
  pt_dtype_t d;
  pt_stage_t st;
  if (a->dtype != NULL) {
    if (pt_dtype_parse(a->dtype, &d) != 0)
      return pt_err_set(err, PT_EINVAL, "option --dtype: unknown dtype '%s' (a4w4, a8w4, a16w4)",
                        a->dtype);
    req->dtype = (int)d;
  }
  if (a->stage != NULL) {
    if (pt_stage_parse(a->stage, &st) != 0)
      return pt_err_set(err, PT_EINVAL, "option --stage: unknown stage '%s' (gemm1, gemm2)",
                        a->stage);
    req->stage = (int)st;
  }
  if (a->tokens != NULL) {
    rc = pt_plan_parse_tokens(a->tokens, tokens, &req->ntokens, err);
    if (rc != PT_OK) return pt_err_prefix(err, "option --tokens");
    req->tokens = *tokens;
  }
  if (a->variants.n > 0) {
    req->variants = a->variants.items;
    req->nvariants = a->variants.n;
  }
  if (a->shard != NULL &&
      pt_plan_parse_shard(a->shard, &req->shard, &req->nshards, err) != PT_OK)
    return pt_err_prefix(err, "option --shard");
  return PT_OK;
}

static int check_numbers(const pt_tuneopts_t *a, double *budget, pt_err_t *err) {
  pt_routing_t r;
  *budget = 0.0;
  if (a->jobs < 0) return pt_err_set(err, PT_EINVAL, "option --jobs: %d is not a count", a->jobs);
  if (a->timeout < 0)
    return pt_err_set(err, PT_EINVAL, "option --timeout: %d is not a count of seconds", a->timeout);
  if (a->min_samples < 0 || a->min_ms < 0)
    return pt_err_set(err, PT_EINVAL, "options --min-samples and --min-ms take counts >= 0");
  if (a->seed < 0) return pt_err_set(err, PT_EINVAL, "option --seed: %d is negative", a->seed);
  if (a->routing != NULL && pt_routing_parse(a->routing, &r, err) != PT_OK)
    return pt_err_prefix(err, "option --routing");
  if (a->arch != NULL && pt_gpu_arch_check(a->arch, err) != PT_OK)
    return pt_err_prefix(err, "option --arch");
  return a->budget != NULL ? parse_duration(a->budget, budget, err) : PT_OK;
}

int pt_tuneopts_request(const pt_tuneopts_t *a, pt_family_set_t *set, pt_plan_req_t *req,
                        int **tokens, double *budget, pt_err_t *err) {
  int rc = check_numbers(a, budget, err);
  return rc == PT_OK ? build_request(a, set, req, tokens, err) : rc;
}
