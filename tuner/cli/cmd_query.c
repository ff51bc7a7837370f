/* pipetune query best|crossovers|compare|failures|pairs|regret|runs|searches:
 * the database's results as an aligned table, CSV or JSON (DESIGN §8). The
 * first five dispatch through a table and read the same result set
 * (db/query.h); pairs shows the table's pairs timed as they ship next to the
 * stage winners' sum; regret reads two (regretout.h), runs the run history,
 * searches the searches table. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "num.h"
#include "opts.h"
#include "query.h"
#include "regretout.h"
#include "searches.h"

typedef struct qargs_s {
  const char *db, *format, *routing, *tie_tol;
  pt_query_filter_t f;
} qargs_t;

typedef struct verb_s {
  const char *name;
  int nargs;  /* positional arguments after the options */
  const char *usage;
} verb_t;

static const verb_t verbs[] = {
    {"best", 0, "pipetune query best --db FILE [options]"},
    {"crossovers", 0, "pipetune query crossovers --db FILE [options]"},
    {"compare", 2, "pipetune query compare --db FILE [options] SPEC_A SPEC_B"},
    {"failures", 0, "pipetune query failures --db FILE [options]"},
    {"pairs", 0, "pipetune query pairs --db FILE [options]"},
    {"searches", 0, "pipetune query searches --db FILE [options]"},
};
#define NVERBS ((int)(sizeof verbs / sizeof verbs[0]))

static void usage(FILE *f) {
  fprintf(f, "usage: pipetune query <verb> --db FILE [--arch A] [--device NAME] "
             "[--family F] [--dtype D] [--stage S]\n"
             "                      [--regime cold|warm] [--routing uniform|zipf:S] "
             "[--tie-tol auto|PCT] [--format table|csv|json]\n\nverbs:\n"
             "   best         the winner of every measured point, the table's pick, ties\n"
             "   crossovers   runs of token counts with one winner: runner-up and margin\n"
             "   compare      two variants side by side: compare SPEC_A SPEC_B\n"
             "   failures     every result that is not ok, with its reason\n"
             "   pairs        the table's pairs timed as they ship (tune --pairs) next to\n"
             "                the sum of the two stage winners' times\n"
             "   regret       the table's picks at held-out token counts vs the best\n"
             "                measured there: regret --db TUNED --holdout HELD "
             "[--max-regret PCT]\n"
             "   runs         two runs item by item: runs --db FILE [--runs A,B]\n"
             "   searches     per point: the strategy and the variants it measured\n");
}

/* Exit status for a failed load: a missing database is bad input. */
static int load_failed(int rc, const pt_err_t *err) {
  pt_cli_error("%s", err->msg);
  return rc == PT_ENOENT ? 2 : pt_exit_status(rc);
}

/* The searches come from their own view, not from the result set. */
static int run_searches(const qargs_t *q, const pt_query_filter_t *f, pt_query_format_t fmt) {
  pt_query_table_t *t = NULL;
  pt_err_t err;
  int rc = pt_query_searches(q->db, f, &t, &err);
  if (rc != PT_OK) return load_failed(rc, &err);
  rc = pt_query_table_print(t, fmt, stdout, &err);
  if (rc == PT_OK && pt_query_table_rows(t) == 0 && fmt == PT_QUERY_TABLE)
    fprintf(stderr, "no rows: '%s' has no results for this selection (regime %s, routing %s)\n",
            q->db, f->regime != NULL ? f->regime : "cold", q->routing);
  pt_query_table_free(t);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return pt_exit_status(rc);
  }
  return 0;
}

static int run_verb(int v, const qargs_t *q, const char **args) {
  pt_query_format_t fmt;
  pt_err_t err;
  if (pt_query_format_parse(q->format, &fmt) != 0)
    return pt_cli_error("unknown format '%s' (expected table, csv or json)", q->format);
  pt_query_filter_t f = q->f;
  if (pt_query_parse_routing(q->routing, &f, &err) != PT_OK ||
      pt_query_parse_tie_tol(q->tie_tol, &f, &err) != PT_OK)
    return pt_cli_error("%s", err.msg);
  if (v == 5) return run_searches(q, &f, fmt);
  pt_query_set_t *set = NULL;
  int rc = pt_query_load(q->db, &f, &set, &err);
  if (rc != PT_OK) return load_failed(rc, &err);
  pt_query_table_t *t = NULL;
  switch (v) {
  case 0: rc = pt_query_best(set, &t, &err); break;
  case 1: rc = pt_query_crossovers(set, &t, &err); break;
  case 2: rc = pt_query_compare(set, args[0], args[1], &t, &err); break;
  case 3: rc = pt_query_failures(set, &t, &err); break;
  default: rc = pt_query_pairs(set, &t, &err); break;
  }
  if (rc == PT_OK) rc = pt_query_table_print(t, fmt, stdout, &err);
  if (rc == PT_OK && pt_query_table_rows(t) == 0 && fmt == PT_QUERY_TABLE)
    fprintf(stderr, "no rows: '%s' has no %s results for this selection "
                    "(regime %s, routing %s)\n",
            q->db, v == 3 ? "failed" : v == 4 ? "pair" : "ok", set->regime, q->routing);
  pt_query_table_free(t);
  pt_query_free(set);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return pt_exit_status(rc);
  }
  return 0;
}

/* The common options' values checked: format and routing. */
static int check_common(const char *format, const char *routing, pt_query_format_t *fmt,
                        pt_query_filter_t *f) {
  pt_err_t err;
  if (pt_query_format_parse(format, fmt) != 0)
    return pt_cli_error("unknown format '%s' (expected table, csv or json)", format);
  if (pt_query_parse_routing(routing, f, &err) != PT_OK) return pt_cli_error("%s", err.msg);
  return 0;
}

static int query_regret(int argc, const char **argv) {
  static const char usage_text[] =
      "pipetune query regret --db TUNED --holdout HELD [--max-regret PCT] [options]";
  /* the table as emit builds it: ties resolved with emit's default */
  qargs_t q = {.format = "table", .routing = "uniform", .tie_tol = "auto"};
  const char *held = NULL, *max = NULL;
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "db", &q.db, "FILE", "the tuned database (its table)"),
      PT_OPT_STRING(0, "holdout", &held, "FILE",
                    "results at other token counts (may be the same file)"),
      PT_OPT_STRING(0, "max-regret", &max, "PCT", "exit 1 when a worst regret is above"),
      PT_OPT_SELECTION(q.f, q.routing),
      PT_OPT_TIE_TOL(q.tie_tol),
      PT_OPT_STRING(0, "format", &q.format, "FORMAT", "table (default), csv or json"),
      PT_OPT_END(),
  };
  int n = pt_opts_parse(argc, argv, opts, usage_text);
  if (n < 0) return pt_opts_status(n);
  if (n > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  if (q.db == NULL || held == NULL)
    return pt_cli_error("missing --%s FILE; usage: %s", q.db == NULL ? "db" : "holdout",
                        usage_text);
  pt_regretout_req_t r = {.tuned = q.db, .held = held, .max_regret_pct = -1.0};
  if (max != NULL && pt_cli_parse_pct(max, &r.max_regret_pct) != 0)
    return pt_cli_error("option --max-regret: bad percentage '%s' (expected a number >= 0)",
                        max);
  int status = check_common(q.format, q.routing, &r.fmt, &q.f);
  if (status != 0) return status;
  pt_err_t err;
  if (pt_query_parse_tie_tol(q.tie_tol, &q.f, &err) != PT_OK) return pt_cli_error("%s", err.msg);
  r.f = q.f;
  return pt_regretout_run(&r);
}

/* "A,B": two run ids, A before B. */
static int parse_runs(const char *s, int64_t *a, int64_t *b) {
  const char *end = NULL;
  long x = 0, y = 0;
  if (pt_num_parse_long(s, &end, 1, INT32_MAX, &x) != 0 || *end != ',' ||
      pt_num_parse_long(end + 1, NULL, 1, INT32_MAX, &y) != 0 || x == y)
    return pt_cli_error("option --runs: '%s' is not two run ids like 1,2", s);
  *a = x;
  *b = y;
  return 0;
}

static int query_runs(int argc, const char **argv) {
  static const char usage_text[] = "pipetune query runs --db FILE [--runs A,B] [options]";
  qargs_t q = {.format = "table", .routing = "uniform"};
  const char *runs = NULL;
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "db", &q.db, "FILE", "result database"),
      PT_OPT_STRING(0, "runs", &runs, "A,B",
                    "the runs (default: the newest and the newest earlier one it overlaps)"),
      PT_OPT_SELECTION(q.f, q.routing),
      PT_OPT_STRING(0, "format", &q.format, "FORMAT", "table (default), csv or json"),
      PT_OPT_END(),
  };
  int n = pt_opts_parse(argc, argv, opts, usage_text);
  if (n < 0) return pt_opts_status(n);
  if (n > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  if (q.db == NULL) return pt_cli_error("missing --db FILE; usage: %s", usage_text);
  int64_t a = 0, b = 0;
  pt_query_format_t fmt;
  int status = runs != NULL ? parse_runs(runs, &a, &b) : 0;
  if (status == 0) status = check_common(q.format, q.routing, &fmt, &q.f);
  if (status != 0) return status;
  pt_query_table_t *t = NULL;
  pt_query_runs_stats_t st;
  pt_err_t err;
  int rc = pt_query_runs(q.db, &q.f, a, b, &t, &st, &err);
  if (rc == PT_OK) rc = pt_query_table_print(t, fmt, stdout, &err);
  pt_query_table_free(t);
  if (rc != PT_OK) return load_failed(rc, &err);
  fprintf(stderr, "runs %" PRId64 " -> %" PRId64 ": %zu items in both, %zu ok in both",
          st.a, st.b, st.items, st.compared);
  if (st.compared)
    fprintf(stderr, "; ratio b/a geomean %.4f, min %.4f, max %.4f", st.geomean, st.min,
            st.max);
  fputc('\n', stderr);
  return 0;
}

int cmd_query(int argc, const char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "regret") == 0) return query_regret(argc - 1, argv + 1);
  if (strcmp(argv[1], "runs") == 0) return query_runs(argc - 1, argv + 1);
  int v = 0;
  while (v < NVERBS && strcmp(verbs[v].name, argv[1]) != 0) v++;
  if (v == NVERBS)
    return pt_cli_error("unknown verb '%s' (expected best, crossovers, compare, "
                        "failures, pairs, regret, runs or searches)", argv[1]);
  qargs_t q = {.format = "table", .routing = "uniform", .tie_tol = "auto"};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "db", &q.db, "FILE", "result database"),
      PT_OPT_SELECTION(q.f, q.routing),
      PT_OPT_TIE_TOL(q.tie_tol),
      PT_OPT_STRING(0, "format", &q.format, "FORMAT", "table (default), csv or json"),
      PT_OPT_END(),
  };
  int n = pt_opts_parse(argc - 1, argv + 1, opts, verbs[v].usage);
  if (n < 0) return pt_opts_status(n);
  const char **args = argv + 1;
  if (n != verbs[v].nargs) {
    if (n > verbs[v].nargs) return pt_cli_error("unexpected argument '%s'", args[verbs[v].nargs]);
    return pt_cli_error("'%s' needs %d variant specs; usage: %s", verbs[v].name,
                        verbs[v].nargs, verbs[v].usage);
  }
  if (q.db == NULL) return pt_cli_error("missing --db FILE; usage: %s", verbs[v].usage);
  return run_verb(v, &q, args);
}
