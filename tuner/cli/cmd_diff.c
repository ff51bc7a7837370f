/* pipetune diff A.db B.db: the winners of two databases point by point, for
 * CI. Exit 0 when no point regressed by more than the threshold, 1 when some
 * did (or lost every ok result), 2 for bad input, including two databases
 * with no point in common for the selection: nothing compared is no pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "num.h"
#include "opts.h"
#include "query.h"

static const char usage_text[] =
    "pipetune diff A.db B.db [--threshold PCT] [--arch A] [--device NAME] [--family F] "
    "[--dtype D] [--stage S] [--regime R] [--routing R] [--format table|csv|json]";

/* "5", "5%" or "2.5": a percentage >= 0. */
static int load(const char *path, const pt_query_filter_t *f, pt_query_set_t **out) {
  pt_err_t err;
  int rc = pt_query_load(path, f, out, &err);
  if (rc == PT_OK) return 0;
  pt_cli_error("%s", err.msg);
  return rc == PT_ENOENT ? 2 : pt_exit_status(rc);
}

static int report(const pt_query_table_t *t, pt_query_format_t fmt,
                  const pt_query_diff_stats_t *st, double threshold, const char *a,
                  const char *b) {
  pt_err_t err;
  if (st->compared == 0)
    return pt_cli_error("'%s' and '%s' have no point in common for this selection "
                        "(%zu only in '%s', %zu only in '%s'): nothing to compare",
                        a, b, st->only_a, a, st->only_b, b);
  if (pt_query_table_print(t, fmt, stdout, &err) != PT_OK) {
    pt_cli_error("%s", err.msg);
    return 1;
  }
  fprintf(stderr, "diff: %zu regression%s over %g%% in %zu points compared", st->regressions,
          st->regressions == 1 ? "" : "s", threshold, st->compared);
  if (st->only_a || st->only_b)
    fprintf(stderr, "; not compared: %zu only in '%s' (missing), %zu only in '%s' (new)",
            st->only_a, a, st->only_b, b);
  fputc('\n', stderr);
  return st->regressions ? 1 : 0;
}

int cmd_diff(int argc, const char **argv) {
  const char *threshold_s = "5", *format = "table", *routing = "uniform";
  pt_query_filter_t f = {0};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "threshold", &threshold_s, "PCT",
                    "slowdown that counts as a regression (default 5)"),
      PT_OPT_SELECTION(f, routing),
      PT_OPT_STRING(0, "format", &format, "FORMAT", "table (default), csv or json"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts, usage_text);
  if (argc < 0) return pt_opts_status(argc);
  if (argc != 2) return pt_cli_error("expected two databases; usage: %s", usage_text);
  double threshold;
  pt_query_format_t fmt;
  pt_err_t err;
  if (pt_cli_parse_pct(threshold_s, &threshold) != 0)
    return pt_cli_error("bad threshold '%s' (expected a percentage >= 0)", threshold_s);
  if (pt_query_format_parse(format, &fmt) != 0)
    return pt_cli_error("unknown format '%s' (expected table, csv or json)", format);
  if (pt_query_parse_routing(routing, &f, &err) != PT_OK)
    return pt_cli_error("%s", err.msg);
  pt_query_set_t *a = NULL, *b = NULL;
  int status = load(argv[0], &f, &a);
  if (status == 0) status = load(argv[1], &f, &b);
  pt_query_table_t *t = NULL;
  pt_query_diff_stats_t st;
  if (status == 0 && pt_query_diff(a, b, threshold, &t, &st, &err) != PT_OK) {
    pt_cli_error("%s", err.msg);
    status = 1;
  } else if (status == 0) {
    status = report(t, fmt, &st, threshold, argv[0], argv[1]);
  }
  pt_query_table_free(t);
  pt_query_free(a);
  pt_query_free(b);
  return status;
}
