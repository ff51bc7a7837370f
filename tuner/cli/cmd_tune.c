/* pipetune tune: plan, compile and measure variants over a shape grid into a
 * database (DESIGN §6, §7). Every option is checked before any worker
 * starts; with no GPU it compile-checks the plan, then exits 1 saying that
 * timing needs one (exit 0 with --compile-only). Progress goes to stderr: on
 * a terminal one live line with rate and ETA (compiling, then measuring) and
 * a line per failure; otherwise a log line per event, each starting with its
 * UTC time in the database's format (ISO 8601 with milliseconds), so that a
 * log lines up with the runs and jobs of the database. The summary goes to
 * stdout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "builtin.h"
#include "db.h"
#include "family.h"
#include "num.h"
#include "opts.h"
#include "plan.h"
#include "query.h"
#include "regretout.h"
#include "runs.h"
#include "searchsup.h"
#include "supervisor.h"
#include "tuneopts.h"
#include "tunepairs.h"

#define GPUS_MAX 64

typedef struct progress_s {
  int tty;
  int line_shown;
  size_t compiled, compile_total;
} progress_t;

/* "0,1,3": distinct device ordinals into gpus[]. */
static int parse_gpus(const char *s, int *gpus, int *n, pt_err_t *err) {
  int cnt = 0;
  for (const char *p = s;; cnt++) {
    const char *end = NULL;
    long v = 0;
    if (pt_num_parse_long(p, &end, 0, 1024, &v) != 0 || (*end != ',' && *end != '\0') ||
        cnt == GPUS_MAX)
      return pt_err_set(err, PT_EINVAL,
                        "option --gpus: '%s' is not a list of device ordinals like 0,1", s);
    for (int i = 0; i < cnt; i++)
      if (gpus[i] == (int)v)
        return pt_err_set(err, PT_EINVAL, "option --gpus: gpu %ld is listed twice", v);
    gpus[cnt] = (int)v;
    if (*end == '\0') break;
    p = end + 1;
  }
  *n = cnt + 1;
  return PT_OK;
}

/* The devices this host has (gpu.h's rule: CUDA first, else HIP). */
static int count_gpus(int *gpus) {
  pt_gpu_backend_t b;
  int n = 0;
  if (pt_gpu_first_backend(&b, &n, NULL) != PT_OK) return 0;
  if (n > GPUS_MAX) n = GPUS_MAX;
  for (int i = 0; i < n; i++) gpus[i] = i;
  return n;
}

static const char *default_arch(void) {
  return pt_gpu_backends_built() & (1u << PT_GPU_CUDA) ? "sm_90" : "gfx90a";
}

/* ---- progress ---- */

static void clear_line(progress_t *pg) {
  if (pg->tty && pg->line_shown) fputs("\r\033[K", stderr);
  pg->line_shown = 0;
}

/* Starts a log line: off a terminal, with the time now in UTC as the
 * database writes it (2026-11-21T10:00:00.123Z). */
static void log_start(const progress_t *pg) {
  char when[32];
  if (pg->tty) return;
  pt_cli_utc_now(when, sizeof when, 1);
  fprintf(stderr, "%s ", when);
}

/* "12.5/s ETA 1:20" for done of total at that rate. */
static void fmt_rate(size_t done, size_t total, double elapsed_s, char *buf, size_t len) {
  char eta[32] = "-";
  double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0.0;
  if (rate > 0) pt_cli_duration((double)(total - done) / rate, eta, sizeof eta);
  snprintf(buf, len, "%.1f/s ETA %s", rate, eta);
}

static void show_result(progress_t *pg, const pt_sup_event_t *ev) {
  const pt_plan_problem_t *pr = ev->problem;
  char rate[64], best[96] = "";
  fmt_rate(ev->done, ev->total, ev->elapsed_s, rate, sizeof rate);
  if (ev->best_spec != NULL && !ev->pair)
    snprintf(best, sizeof best, "best %.1f us %s", ev->best_us, ev->best_spec);
  char spec[512];
  const char *stage = ev->pair ? "pair" : pt_stage_name(ev->stage);
  snprintf(spec, sizeof spec, "%s%s%s", ev->spec, ev->pair ? " + " : "",
           ev->pair ? ev->spec2 : "");
  if (pg->tty) {
    clear_line(pg);
    fprintf(stderr, "[%zu/%zu] %s | %s %s %s t=%d %s", ev->done, ev->total, rate,
            pr->family->name, pt_dtype_name(pr->shape.dtype), stage,
            pr->tokens, best[0] ? best : ev->pair ? spec : "no result yet");
    pg->line_shown = 1;
    /* A line per failure; an infeasible item (never run) is no failure: the
     * summary counts them. */
    pt_db_status_t st;
    if (pt_db_status_parse(ev->status, &st) != 0 || pt_db_runs_failure(st)) {
      clear_line(pg);
      fprintf(stderr, "%s %s t=%d %s: %s%s%s\n", pr->family->name,
              stage, pr->tokens, spec, ev->status,
              ev->msg ? ": " : "", ev->msg ? ev->msg : "");
    }
  } else {
    char med[32] = "";
    if (strcmp(ev->status, "ok") == 0) snprintf(med, sizeof med, " %.2f us", ev->median_us);
    log_start(pg);
    fprintf(stderr, "[%zu/%zu] %s %s %s t=%d %s: %s%s%s%s (%s)\n", ev->done, ev->total,
            pr->family->name, pt_dtype_name(pr->shape.dtype), stage,
            pr->tokens, spec, ev->status, med, ev->msg ? ": " : "",
            ev->msg ? ev->msg : "", best[0] ? best : ev->pair ? "pair" : "no result yet");
  }
  fflush(stderr);
}

static void on_event(void *ud, const pt_sup_event_t *ev) {
  progress_t *pg = ud;
  if (ev->type == PT_SUP_EV_LOG) {
    clear_line(pg);
    log_start(pg);
    if (ev->gpu >= 0) fprintf(stderr, "gpu %d: %s\n", ev->gpu, ev->msg);
    else fprintf(stderr, "%s\n", ev->msg);
  } else if (ev->type == PT_SUP_EV_COMPILED) {
    if (pg->tty) {
      char rate[64];
      fmt_rate((size_t)ev->compiled, (size_t)ev->compile_total, ev->elapsed_s, rate,
               sizeof rate);
      clear_line(pg);
      fprintf(stderr, "compiling %d/%d %s | %s", ev->compiled, ev->compile_total, rate,
              ev->spec);
      pg->line_shown = 1;
    }
    if (!ev->compile_ok || !pg->tty) {
      clear_line(pg);
      log_start(pg);
      fprintf(stderr, "compile %d/%d %s: %s%s%s\n", ev->compiled, ev->compile_total,
              ev->spec, ev->compile_ok ? "ok" : "failed", ev->cached ? " (cached)" : "",
              ev->msg ? ev->msg : "");
    }
  } else {
    show_result(pg, ev);
  }
  fflush(stderr);
}

/* ---- the command ---- */

static char *command_line(int argc, const char **argv) {
  size_t n = strlen("pipetune") + 1;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
  char *s = malloc(n), *p = s;
  if (s == NULL) return NULL;
  p += sprintf(p, "pipetune");
  for (int i = 0; i < argc; i++) p += sprintf(p, " %s", argv[i]);
  return s;
}

/* "results: 8 ok, 3 failed (1 verify_fail, 2 crash)": infeasible items
 * never ran, so they are neither measured nor failed. */
static void print_results(const pt_sup_summary_t *s) {
  size_t failed = 0;
  const char *sep = " (";
  for (int i = 0; i < PT_DB_STATUS_COUNT; i++)
    if (pt_db_runs_failure((pt_db_status_t)i)) failed += s->by_status[i];
  printf("results: %zu ok, %zu failed", s->by_status[PT_DB_STATUS_OK], failed);
  for (int i = 0; i < PT_DB_STATUS_COUNT; i++) {
    if (!pt_db_runs_failure((pt_db_status_t)i) || s->by_status[i] == 0) continue;
    printf("%s%zu %s", sep, s->by_status[i], pt_db_status_name((pt_db_status_t)i));
    sep = ", ";
  }
  printf("%s\n", failed > 0 ? ")" : "");
}

static void print_summary(const pt_sup_opts_t *o, const pt_sup_summary_t *s,
                          int compile_only) {
  if (o->ngpus == 0) {
    printf("%scompile-checked %d variants for %s: %d compiled, %d cached, "
           "%d failed, %d infeasible, in %.1f s\n", compile_only ? "" : "no GPU found: ",
           s->units, s->arch, s->compiled, s->cached, s->compile_failed, s->infeasible,
           s->wall_s);
    if (s->compiled > 0 && s->compile_wall_s > 0)
      printf("compile rate %.1f variants/s\n", s->compiled / s->compile_wall_s);
    return;
  }
  size_t infeasible = s->by_status[PT_DB_STATUS_INFEASIBLE];
  printf("tune: %zu of %zu planned %s measured on %d gpu(s) (%s), %zu already in '%s'",
         s->done - infeasible, s->planned, o->plan->pairs ? "pairs" : "items", o->ngpus,
         s->arch, s->skipped, pt_db_path(o->db));
  if (infeasible > 0) printf(", %zu infeasible (not run)", infeasible);
  printf("\n");
  print_results(s);
  printf("compiles: %d units, %d compiled", s->units, s->compiled);
  if (s->compiled > 0 && s->compile_wall_s > 0)
    printf(" (%.1f/s)", s->compiled / s->compile_wall_s);
  printf(", %d cached, %d failed, %d infeasible\n", s->cached, s->compile_failed,
         s->infeasible);
  printf("wall %.1f s, %d worker restart(s), run %lld\n", s->wall_s, s->restarts,
         (long long)s->run_id);
}

/* --pairs: the options that pick stage variants do not apply. */
static int check_pairs(const pt_tuneopts_t *a, pt_err_t *err) {
  const char *bad = a->variants.n > 0 ? "--variants" : a->stage != NULL ? "--stage"
                    : a->shard != NULL ? "--shard" : a->holdout ? "--holdout"
                    : a->retune ? "--retune" : NULL;
  if (bad != NULL)
    return pt_err_set(err, PT_EINVAL, "option %s does not apply to --pairs (the table "
                      "picks the variants)", bad);
  return PT_OK;
}

/* Replaces the grid plan by the table's pair at each of its problems and
 * says which pair each problem gets. */
static int plan_pairs(const pt_tuneopts_t *a, pt_plan_t *plan, char *arch, size_t len,
                      pt_err_t *err) {
  pt_plan_t pairs;
  int rc = pt_tunepairs_plan(a->db, a->arch, a->routing, a->warm, plan, &pairs, arch, len, err);
  if (rc != PT_OK) return rc;
  pt_plan_free(plan);
  *plan = pairs;
  for (size_t i = 0; i + 1 < plan->nitems; i += 2) {
    char s1[PT_KNOBS_SPEC_MAX], s2[PT_KNOBS_SPEC_MAX];
    const pt_plan_problem_t *p = &plan->problems[plan->items[i].problem];
    pt_knobs_format(&plan->items[i].variant, s1, sizeof s1);
    pt_knobs_format(&plan->items[i + 1].variant, s2, sizeof s2);
    fprintf(stderr, "pair %s %s t=%d on %s: gemm1 %s + gemm2 %s\n", p->family->name,
            pt_dtype_name(p->shape.dtype), p->tokens, arch, s1, s2);
  }
  return PT_OK;
}

/* The held-out plan of --holdout: the grid's midpoints (built before
 * anything runs, so that a grid without midpoints is refused up front). */
static int holdout_plan(const pt_tuneopts_t *a, const pt_family_set_t *set,
                        const pt_plan_req_t *req, pt_plan_t *out, pt_err_t *err) {
  if (!a->holdout) return PT_OK;
  pt_plan_req_t h = *req;
  h.holdout = 1;
  int rc = pt_plan_build(set, &h, out, err);
  return rc == PT_OK ? rc : pt_err_prefix(err, "option --holdout");
}

/* The table's regret at the held-out points just measured, printed as
 * `query regret --db DB --holdout DB` prints it (both stages: a table
 * needs them, also after a --stage run). */
static int print_regret(const pt_tuneopts_t *a) {
  pt_regretout_req_t r = {.tuned = a->db, .held = a->db, .fmt = PT_QUERY_TABLE,
                          .max_regret_pct = -1.0,
                          .f = {.family = a->family, .dtype = a->dtype,
                                .regime = a->warm ? "warm" : "cold",
                                .tie_tol = PT_QUERY_TIE_AUTO}};
  pt_err_t err;
  if (pt_query_parse_routing(a->routing != NULL ? a->routing : "uniform", &r.f, &err) != PT_OK)
    return pt_cli_error("%s", err.msg);
  printf("regret of the table at the held-out token counts:\n");
  fflush(stdout);
  return pt_regretout_run(&r);
}

/* "search: adaptive, 6 searches (6 finished) in 5 rounds, 611 variants run" */
static void print_search(const pt_searchsup_t *ss, const pt_searchrun_t *r) {
  int finished = 0, run = 0;
  for (int i = 0; i < r->n; i++) {
    finished += r->searches[i].finished;
    run += pt_search_measured(&r->searches[i]);
  }
  printf("search: %s, %d searches (%d finished) in %d rounds (%d run on the gpus), "
         "%d variants run\n", pt_search_kind_name(ss->kind), r->n, finished, r->rounds,
         ss->rounds_run, run);
}

/* Runs the plan as one supervisor run, or in search rounds, and records
 * the searches. */
static int run_search(const pt_tuneopts_t *a, const pt_plan_req_t *req, pt_searchsup_t *ss,
                      pt_sup_summary_t *sum, pt_err_t *err) {
  pt_search_kind_t kind;
  int rounds = 0, rc = pt_tuneopts_search(a, &kind, &rounds, err);
  ss->kind = kind;
  ss->max_evals = a->max_evals;
  if (rc == PT_OK && !rounds) {
    rc = pt_sup_run(&ss->sup, &ss->sum, err);
    if (rc == PT_OK) rc = pt_searchsup_record(ss, NULL, err);
    *sum = ss->sum;
    return rc;
  }
  pt_searchrun_t r = {0};
  pt_searchrun_opts_t so = {.plan = ss->plan, .kind = kind, .specs = req->variants,
                            .nspecs = req->nvariants, .stage = req->stage,
                            .max_evals = a->max_evals, .seed = (uint64_t)a->seed,
                            .shard = req->shard, .nshards = req->nshards,
                            .measure = pt_searchsup_measure, .ud = ss};
  if (rc == PT_OK) rc = pt_searchrun_run(&so, &r, err);
  if (rc == PT_OK) rc = pt_searchsup_record(ss, &r, err);
  if (rc == PT_OK && ss->sup.ngpus > 0) print_search(ss, &r);
  pt_searchrun_free(&r);
  *sum = ss->sum;
  return rc;
}

static int run_tune(const pt_tuneopts_t *a, int pairs, char *cmdline) {
  pt_family_set_t set = {0};
  pt_plan_req_t req;
  pt_plan_t plan = {0}, held = {0};
  pt_db_t *db = NULL;
  int *tokens = NULL, gpus[GPUS_MAX], ngpus = 0;
  double budget = 0.0;
  char pairs_arch[32] = "";
  pt_err_t err;
  pt_err_clear(&err);
  int rc = pt_tuneopts_request(a, &set, &req, &tokens, &budget, &err);
  if (rc == PT_OK && pairs) rc = check_pairs(a, &err);
  if (rc == PT_OK && a->gpus != NULL) rc = parse_gpus(a->gpus, gpus, &ngpus, &err);
  if (rc == PT_OK) rc = pt_plan_build(&set, &req, &plan, &err);
  if (rc == PT_OK && pairs) rc = plan_pairs(a, &plan, pairs_arch, sizeof pairs_arch, &err);
  if (rc == PT_OK) rc = holdout_plan(a, &set, &req, &held, &err);
  if (rc == PT_OK && pt_db_open(a->db, PT_DB_CREATE, &db, &err) != PT_OK)
    rc = err.code;
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    free(tokens);
    pt_plan_free(&plan);
    pt_plan_free(&held);
    pt_family_set_free(&set);
    return pt_exit_status(rc);
  }
  if (a->compile_only) ngpus = 0;
  else if (a->gpus == NULL) ngpus = count_gpus(gpus);
  char exe[4096], host[256] = "unknown";
  size_t exe_len = sizeof exe, host_len = sizeof host;
  if (uv_exepath(exe, &exe_len) != 0) snprintf(exe, sizeof exe, "%s", "/proc/self/exe");
  uv_os_gethostname(host, &host_len);
  const char *worker_argv[] = {exe, "worker", NULL};
  progress_t pg = {.tty = isatty(STDERR_FILENO)};
  pt_sup_opts_t o = {
      .db = db, .plan = &plan, .gpus = gpus, .ngpus = ngpus, .worker_argv = worker_argv,
      .arch = pairs ? pairs_arch : a->arch != NULL ? a->arch : default_arch(), .host = host,
      .command = cmdline != NULL ? cmdline : "pipetune tune", .routing = a->routing,
      .seed = (uint64_t)a->seed, .warm = a->warm, .min_samples = a->min_samples,
      .min_ms = a->min_ms > 0 ? a->min_ms : -1.0, .resume = a->resume, .jobs = a->jobs,
      .retune = a->retune,
      .budget_s = budget, .item_timeout_s = a->timeout, .handle_signals = 1,
      .on_event = on_event, .event_ud = &pg};
  if (ngpus == 0 && !a->compile_only) {
    log_start(&pg);
    fprintf(stderr, "no GPU found: compile-checking the plan for %s (timing needs a GPU)\n",
            o.arch);
  }
  pt_sup_summary_t sum;
  pt_searchsup_t ss = {.sup = o, .plan = &plan};
  /* the pairs are the table's: no search chooses them */
  rc = pairs ? pt_sup_run(&o, &sum, &err) : run_search(a, &req, &ss, &sum, &err);
  clear_line(&pg);
  int measure_held = a->holdout && ngpus > 0 && rc == PT_OK && sum.end == PT_SUP_FINISHED;
  if (measure_held) {
    /* The grid's results are in: the midpoints go on in a run of their own,
     * in the grid's retune when there is one. */
    print_summary(&o, &sum, a->compile_only);
    log_start(&pg);
    fprintf(stderr, "holdout: measuring %d held-out token count problem(s)\n",
            held.nproblems);
    o.plan = &held;
    o.holdout = 1;
    o.retune_of = sum.retune_of;
    rc = pt_sup_run(&o, &sum, &err);
    clear_line(&pg);
  }
  int status = 0;
  if (rc != PT_OK) {
    status = pt_cli_error("%s", err.msg) == 2 ? pt_exit_status(rc) : 1;
  } else {
    print_summary(&o, &sum, a->compile_only);
    if (sum.end != PT_SUP_FINISHED) log_start(&pg);
    if (sum.end == PT_SUP_INTERRUPTED) {
      fprintf(stderr, "interrupted: %zu %s left; run again with --resume to finish\n",
              sum.planned - sum.skipped - sum.done, pairs ? "pairs" : "items");
      status = 128 + SIGINT;
    } else if (sum.end == PT_SUP_BUDGET) {
      fprintf(stderr, "budget reached: %zu %s left; run again with --resume to finish\n",
              sum.planned - sum.skipped - sum.done, pairs ? "pairs" : "items");
    } else if (ngpus == 0 && !a->compile_only) {
      /* Measuring was asked for: `tune && emit` must stop here, not at emit. */
      fprintf(stderr, "error: no GPU found: nothing was measured (timing needs a GPU; "
                      "--compile-only asks for the compile check alone)\n");
      status = 1;
    } else if (ngpus == 0 && sum.compile_failed > 0) {
      status = 1;
    }
  }
  pt_db_close(db);
  if (status == 0 && measure_held && sum.end == PT_SUP_FINISHED) status = print_regret(a);
  free(tokens);
  pt_plan_free(&plan);
  pt_plan_free(&held);
  pt_family_set_free(&set);
  return status;
}

int cmd_tune(int argc, const char **argv) {
  pt_tuneopts_t a;
  pt_tuneopts_init(&a);
  char *cmdline = command_line(argc, argv);  /* before parsing reorders argv */
  int pairs = 0;
  pt_opt_t opts[PT_TUNEOPTS_COUNT + 2] = {PT_OPT_END()};
  pt_tuneopts_table(&a, opts);
  opts[PT_TUNEOPTS_COUNT] = (pt_opt_t)PT_OPT_FLAG(
      0, "pairs", &pairs, "time the table's (gemm1, gemm2) pair at each token count as it ships");
  opts[PT_TUNEOPTS_COUNT + 1] = (pt_opt_t)PT_OPT_END();
  const char *usage =
      "pipetune tune [--family F|--grid FILE] [--dtype D] [--tokens LIST] [--stage S]\n"
      "       [--search S | --variants SPEC...] [--max-evals N] --db FILE [--gpus LIST]\n"
      "       [--jobs N] [--budget DURATION] [--resume] [--retune] [--holdout]\n"
      "       [--shard i/N] [--warm] [--pairs [--arch A]]";
  int nargs = pt_opts_parse(argc, argv, opts, usage);
  if (nargs < 0) {
    pt_tuneopts_free(&a);
    free(cmdline);
    return pt_opts_status(nargs);
  }
  int status;
  if (nargs > 0) status = pt_cli_error("unexpected argument '%s'", argv[0]);
  else if (a.db == NULL) status = pt_cli_error("option --db FILE is required");
  else {
    if (a.jobs == 0) a.jobs = (int)uv_available_parallelism();
    /* The thread pool reads its size once, at its first use. */
    char pool[16];
    snprintf(pool, sizeof pool, "%d", a.jobs > 4 ? a.jobs : 4);
    setenv("UV_THREADPOOL_SIZE", pool, 0);
    signal(SIGPIPE, SIG_IGN);
    status = run_tune(&a, pairs, cmdline);
  }
  pt_tuneopts_free(&a);
  free(cmdline);
  return status;
}
