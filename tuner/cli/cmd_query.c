/* pipetune query best|crossovers|compare|failures: the database's results as
 * an aligned table, CSV or JSON (DESIGN §8). The verbs dispatch through a
 * table; all of them read the same result set (db/query.h). `pairs` shows
 * the table's pairs timed as they ship next to the stage winners' sum. */
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "opts.h"
#include "query.h"

typedef struct qargs_s {
  const char *db, *format, *routing;
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
};
#define NVERBS ((int)(sizeof verbs / sizeof verbs[0]))

static void usage(FILE *f) {
  fprintf(f, "usage: pipetune query <verb> --db FILE [--arch A] [--family F] "
             "[--dtype D] [--stage S]\n"
             "                      [--regime cold|warm] [--routing uniform|zipf:S] "
             "[--format table|csv|json]\n\nverbs:\n"
             "   best         the winner of every measured point\n"
             "   crossovers   runs of token counts with one winner: runner-up and margin\n"
             "   compare      two variants side by side: compare SPEC_A SPEC_B\n"
             "   failures     every result that is not ok, with its reason\n"
             "   pairs        the table's pairs timed as they ship (tune --pairs) next to\n"
             "                the sum of the two stage winners' times\n");
}

/* Exit status for a failed load: a missing database is bad input. */
static int load_failed(int rc, const pt_err_t *err) {
  pt_cli_error("%s", err->msg);
  return rc == PT_ENOENT ? 2 : pt_exit_status(rc);
}

static int run_verb(int v, const qargs_t *q, const char **args) {
  pt_query_format_t fmt;
  pt_err_t err;
  if (pt_query_format_parse(q->format, &fmt) != 0)
    return pt_cli_error("unknown format '%s' (expected table, csv or json)", q->format);
  pt_query_filter_t f = q->f;
  if (pt_query_parse_routing(q->routing, &f, &err) != PT_OK)
    return pt_cli_error("%s", err.msg);
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

int cmd_query(int argc, const char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  int v = 0;
  while (v < NVERBS && strcmp(verbs[v].name, argv[1]) != 0) v++;
  if (v == NVERBS)
    return pt_cli_error("unknown verb '%s' (expected best, crossovers, compare, "
                        "failures or pairs)", argv[1]);
  qargs_t q = {.format = "table", .routing = "uniform"};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "db", &q.db, "FILE", "result database"),
      PT_OPT_SELECTION(q.f, q.routing),
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
