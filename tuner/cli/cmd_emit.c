/* pipetune emit: the generated select_pipe_config.c (and .h, JSON, CSV) from
 * a result database (DESIGN §8). Each output is written to a temporary file
 * next to it and renamed into place, so a failure never leaves a partial
 * file. Exit 0 on success, 2 for bad input (options, a missing or foreign
 * database), 1 when the database has nothing to emit (no family with an ok
 * result for both stages) or writing fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "emit.h"
#include "export.h"
#include "opts.h"
#include "outfile.h"
#include "query.h"

static const char usage_text[] =
    "pipetune emit --db FILE [--arch ARCH]... [--device NAME] -o select_pipe_config.c "
    "[--header select_pipe_config.h] [--json FILE] [--csv FILE] [--tie-tol auto|PCT]";

typedef int (*writer_fn)(const pt_emit_table_t *t, const pt_emit_opts_t *o,
                         FILE *f, pt_err_t *err);

static int write_csv(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                     pt_err_t *err) {
  (void)o;
  return pt_export_csv(t, f, err);
}

typedef struct emit_job_s {
  writer_fn fn;
  const pt_emit_table_t *t;
  const pt_emit_opts_t *o;
} emit_job_t;

static int write_job(FILE *f, const void *ctx, pt_err_t *err) {
  const emit_job_t *j = ctx;
  return j->fn(j->t, j->o, f, err);
}

static int write_file(const char *path, writer_fn fn, const pt_emit_table_t *t,
                      const pt_emit_opts_t *o) {
  emit_job_t j = {fn, t, o};
  return pt_outfile_write(path, write_job, &j);
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

typedef struct eargs_s {
  const char *db, *out, *header, *json, *csv, *routing, *tie_tol;
  int timestamp;
  pt_strlist_t archs;
  pt_query_filter_t f;
} eargs_t;

static int write_all(const eargs_t *a, const pt_emit_table_t *t) {
  char stamp[32];
  pt_emit_opts_t o = {.header = a->header ? base_name(a->header) : NULL};
  if (a->timestamp) {
    pt_cli_utc_now(stamp, sizeof stamp, 0);
    o.timestamp = stamp;
  }
  int status = 0;
  if (a->header) status = write_file(a->header, pt_emit_header, t, &o);
  if (status == 0) status = write_file(a->out, pt_emit_source, t, &o);
  if (status == 0 && a->json) status = write_file(a->json, pt_export_json, t, &o);
  if (status == 0 && a->csv) status = write_file(a->csv, write_csv, t, &o);
  return status;
}

static int summary(const pt_emit_table_t *t, const char *out) {
  size_t fams = 0, ivs = 0, models = 0, own = 0;
  for (size_t i = 0; i < t->narchs; i++) {
    for (size_t j = 0; j < t->archs[i].nfamilies; j++, fams++)
      ivs += t->archs[i].families[j].nintervals;
    models += t->archs[i].ndevices;
    for (size_t d = 0; d < t->archs[i].ndevices; d++) own += t->archs[i].devices[d].nfamilies;
  }
  printf("wrote '%s': %zu arch%s, %zu famil%s, %zu token intervals, %zu configs; "
         "%zu device model%s, %zu famil%s of their own\n", out,
         t->narchs, t->narchs == 1 ? "" : "s", fams, fams == 1 ? "y" : "ies", ivs,
         t->nconfigs, models, models == 1 ? "" : "s", own, own == 1 ? "y" : "ies");
  return 0;
}

/* No output may land on the database it is made from. */
static int check_outputs(const eargs_t *a) {
  const char *outs[] = {a->out, a->header, a->json, a->csv};
  int status = 0;
  for (int i = 0; status == 0 && i < 4; i++) status = pt_outfile_check(outs[i], a->db);
  return status;
}

/* Each --arch must be one the database holds. */
static int check_archs(const eargs_t *a, const pt_query_set_t *set, pt_err_t *err) {
  int rc = PT_OK;
  for (int i = 0; rc == PT_OK && i < a->archs.n; i++)
    rc = pt_query_check_held(set, "arch", a->archs.items[i], err);
  return rc;
}

static int run(eargs_t *a) {
  pt_err_t err;
  if (pt_query_parse_routing(a->routing, &a->f, &err) != PT_OK ||
      pt_query_parse_tie_tol(a->tie_tol, &a->f, &err) != PT_OK)
    return pt_cli_error("%s", err.msg);
  if (a->header && pt_emit_check_header_name(base_name(a->header), &err) != PT_OK)
    return pt_cli_error("%s", err.msg);
  int status = check_outputs(a);
  if (status != 0) return status;
  pt_query_set_t *set = NULL, **devsets = NULL;
  size_t ndev = 0;
  int rc = pt_query_load(a->db, &a->f, &set, &err);
  if (rc == PT_OK) rc = check_archs(a, set, &err);
  if (rc == PT_OK) rc = pt_emit_load_device_sets(a->db, &a->f, set, &devsets, &ndev, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    pt_emit_free_sets(devsets, ndev);
    pt_query_free(set);
    return rc == PT_ENOENT ? 2 : pt_exit_status(rc);
  }
  pt_emit_table_t *t = NULL;
  rc = pt_emit_build(set, (const pt_query_set_t *const *)devsets, ndev, a->archs.items,
                     (size_t)a->archs.n, &t, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    status = rc == PT_ENOENT ? 1 : pt_exit_status(rc);
  } else {
    for (size_t i = 0; i < t->nskipped; i++) pt_cli_warning("%s", t->skipped[i]);
    status = write_all(a, t);
    if (status == 0) summary(t, a->out);
  }
  pt_emit_free(t);
  pt_emit_free_sets(devsets, ndev);
  pt_query_free(set);
  return status;
}

int cmd_emit(int argc, const char **argv) {
  eargs_t a = {.routing = "uniform", .tie_tol = "auto"};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "db", &a.db, "FILE", "result database"),
      PT_OPT_LIST(0, "arch", &a.archs, "ARCH", "only this arch (repeatable; default all)"),
      PT_OPT_DEVICE(a.f),
      PT_OPT_STRING('o', "output", &a.out, "FILE", "the generated C source"),
      PT_OPT_STRING(0, "header", &a.header, "FILE",
                    "also write the declarations there; the source includes it"),
      PT_OPT_STRING(0, "json", &a.json, "FILE", "also export the table as JSON"),
      PT_OPT_STRING(0, "csv", &a.csv, "FILE", "also export the table as CSV"),
      PT_OPT_STRING(0, "family", &a.f.family, "NAME", "only this family"),
      PT_OPT_STRING(0, "regime", &a.f.regime, "REGIME", "cold (default) or warm"),
      PT_OPT_STRING(0, "routing", &a.routing, "ROUTING", "uniform (default) or zipf:S"),
      PT_OPT_TIE_TOL(a.tie_tol),
      PT_OPT_FLAG(0, "timestamp", &a.timestamp,
                  "record the generation time (the output then differs per run)"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts, usage_text);
  int status;
  if (argc < 0) status = pt_opts_status(argc);
  else if (argc > 0) status = pt_cli_error("unexpected argument '%s'", argv[0]);
  else if (a.db == NULL) status = pt_cli_error("missing --db FILE; usage: %s", usage_text);
  else if (a.out == NULL) status = pt_cli_error("missing -o FILE; usage: %s", usage_text);
  else status = run(&a);
  pt_strlist_free(&a.archs);
  return status;
}
