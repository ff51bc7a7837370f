/* pipetune report: one self-contained HTML page (inline SVG, no network) of
 * a result database (DESIGN §8). The page is written through a temporary
 * file and renamed into place. Exit 0, 2 for bad input (options, a missing
 * or foreign database), 1 when writing fails. */
#include <stdio.h>

#include "builtin.h"
#include "opts.h"
#include "outfile.h"
#include "query.h"
#include "report.h"

static const char usage_text[] =
    "pipetune report --db FILE -o report.html [--arch A] [--device NAME] [--family F] "
    "[--dtype D] [--stage S] [--regime R] [--routing R] [--tie-tol auto|PCT] [--variants N]";

typedef struct page_s {
  const pt_query_set_t *set;
  const pt_report_opts_t *o;
} page_t;

static int write_page(FILE *f, const void *ctx, pt_err_t *err) {
  const page_t *p = ctx;
  return pt_report_write(p->set, p->o, f, err);
}

int cmd_report(int argc, const char **argv) {
  const char *db = NULL, *out = NULL, *routing = "uniform", *tie_tol = "auto";
  int variants = 6, timestamp = 0;
  pt_query_filter_t f = {0};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "db", &db, "FILE", "result database"),
      PT_OPT_STRING('o', "output", &out, "FILE", "the HTML page to write"),
      PT_OPT_SELECTION(f, routing),
      PT_OPT_TIE_TOL(tie_tol),
      PT_OPT_INT(0, "variants", &variants, "N", "lines per plot, winners first (default 6)"),
      PT_OPT_FLAG(0, "timestamp", &timestamp, "show the generation time"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts, usage_text);
  if (argc < 0) return pt_opts_status(argc);
  if (argc > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  if (db == NULL || out == NULL)
    return pt_cli_error("missing %s; usage: %s", db ? "-o FILE" : "--db FILE", usage_text);
  if (variants < 1 || variants > 32)
    return pt_cli_error("--variants must be 1 to 32 (got %d)", variants);
  pt_err_t err;
  if (pt_query_parse_routing(routing, &f, &err) != PT_OK ||
      pt_query_parse_tie_tol(tie_tol, &f, &err) != PT_OK)
    return pt_cli_error("%s", err.msg);
  int status = pt_outfile_check(out, db);
  if (status != 0) return status;
  pt_query_set_t *set = NULL;
  int rc = pt_query_load(db, &f, &set, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return rc == PT_ENOENT ? 2 : pt_exit_status(rc);
  }
  char stamp[32];
  pt_report_opts_t o = {.max_variants = variants};
  if (timestamp) {
    pt_cli_utc_now(stamp, sizeof stamp, 0);
    o.timestamp = stamp;
  }
  page_t page = {set, &o};
  status = pt_outfile_write(out, write_page, &page);
  if (status == 0)
    printf("wrote '%s': %zu series, %zu results, %zu failed, %zu infeasible (not run)\n",
           out, set->nseries, set->nrows, pt_report_count(set, NULL, 0),
           pt_report_count(set, NULL, 1));
  pt_query_free(set);
  return status;
}
