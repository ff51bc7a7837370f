/* pipetune families: the model families known (the built-in
 * space/families.json, or --grid), validated, as a table or as JSON. The
 * JSON form is itself a valid families file. With --from-config, the family
 * of a Hugging Face config.json under a TP/EP layout (space/hfconfig.h),
 * written as a grid file that tune and verify take with --grid. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "family.h"
#include "hfconfig.h"
#include "opts.h"
#include "outfile.h"

#define UNSET INT_MIN  /* an INT option not given */

typedef struct args_s {
  const char *grid, *format, *config, *shared, *name, *out;
  int tp, ep;
  pt_strlist_t dtypes;
} args_t;

#define NCOLS 8

/* The cells of one row; tokens read "first..last (count)". */
static void row_cells(const pt_family_t *f, char cells[NCOLS][96]) {
  snprintf(cells[0], 96, "%s", f->name);
  snprintf(cells[1], 96, "%d", f->model_dim);
  snprintf(cells[2], 96, "%d", f->inter_dim);
  snprintf(cells[3], 96, "%d", f->experts);
  snprintf(cells[4], 96, "%d", f->topk);
  size_t n = 0;
  cells[5][0] = '\0';
  for (int i = 0; i < f->ndtypes; i++)
    n += (size_t)snprintf(cells[5] + n, 96 - n, "%s%s", i ? "," : "",
                          pt_dtype_name(f->dtypes[i]));
  snprintf(cells[6], 96, "%s", pt_act_name(f->act));
  if (f->ntokens == 1)
    snprintf(cells[7], 96, "%d", f->tokens[0]);
  else
    snprintf(cells[7], 96, "%d..%d (%d)", f->tokens[0],
             f->tokens[f->ntokens - 1], f->ntokens);
}

static void print_row(char cells[NCOLS][96], const int *width) {
  for (int c = 0; c < NCOLS; c++) {
    /* names and words left-aligned, numbers right-aligned */
    int left = c == 0 || c >= 5;
    if (c == NCOLS - 1)
      printf("%s\n", cells[c]);
    else
      printf(left ? "%-*s  " : "%*s  ", width[c], cells[c]);
  }
}

static void print_table(const pt_family_set_t *set) {
  static const char *const head[NCOLS] = {"name", "model_dim", "inter_dim",
                                          "experts", "topk", "dtypes", "act",
                                          "tokens"};
  char cells[NCOLS][96];
  int width[NCOLS];
  for (int c = 0; c < NCOLS; c++) width[c] = (int)strlen(head[c]);
  for (int i = 0; i < set->nfamilies; i++) {
    row_cells(&set->families[i], cells);
    for (int c = 0; c < NCOLS; c++)
      if ((int)strlen(cells[c]) > width[c]) width[c] = (int)strlen(cells[c]);
  }
  for (int c = 0; c < NCOLS; c++) snprintf(cells[c], 96, "%s", head[c]);
  print_row(cells, width);
  for (int i = 0; i < set->nfamilies; i++) {
    row_cells(&set->families[i], cells);
    print_row(cells, width);
  }
}

static int write_text(FILE *f, const void *ctx, pt_err_t *err) {
  if (fprintf(f, "%s\n", (const char *)ctx) < 0)
    return pt_err_set(err, PT_EIO, "write failed");
  return PT_OK;
}

/* Prints set in the format, or fails: the exit status. */
static int show(const pt_family_set_t *set, int json) {
  char *text = NULL;
  pt_err_t err;
  if (!json) {
    print_table(set);
    return 0;
  }
  int rc = pt_family_to_json(set, &text, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return pt_exit_status(rc);
  }
  printf("%s\n", text);
  free(text);
  return 0;
}

/* The format asked for, table or json: 1 for json, -1 (error printed) for
 * anything else. */
static int want_json(const char *format) {
  if (strcmp(format, "json") == 0) return 1;
  if (strcmp(format, "table") == 0) return 0;
  pt_cli_error("unknown format '%s' (expected table or json)", format);
  return -1;
}

static int list(const args_t *a) {
  const char *only = a->tp != UNSET ? "--tp" : a->ep != UNSET ? "--ep"
                     : a->shared ? "--shared" : a->dtypes.n ? "--dtype"
                     : a->name ? "--name" : a->out ? "-o" : NULL;
  if (only != NULL) return pt_cli_error("option %s needs --from-config", only);
  int json = want_json(a->format ? a->format : "table");
  if (json < 0) return 2;
  pt_family_set_t set;
  pt_err_t err;
  int rc = a->grid != NULL ? pt_family_load_file(a->grid, &set, &err)
                           : pt_family_load_builtin(&set, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return pt_exit_status(rc);
  }
  int status = show(&set, json);
  pt_family_set_free(&set);
  return status;
}

/* The layout from the options: 2 (error printed) on bad input. */
static int layout_of(const args_t *a, pt_hfconfig_layout_t *l) {
  pt_hfconfig_layout_default(l);
  if (a->tp != UNSET) l->tp = a->tp;
  if (a->ep != UNSET) l->ep = a->ep;
  l->name = a->name;
  if (a->shared != NULL && pt_hfconfig_shared_parse(a->shared, &l->shared) != 0)
    return pt_cli_error("unknown --shared mode '%s' (expected fused or separate)",
                        a->shared);
  if (a->dtypes.n > PT_DTYPE_COUNT)
    return pt_cli_error("--dtype given %d times (there are %d dtypes)",
                        a->dtypes.n, PT_DTYPE_COUNT);
  for (int i = 0; i < a->dtypes.n; i++)
    if (pt_dtype_parse(a->dtypes.items[i], &l->dtypes[l->ndtypes++]) != 0)
      return pt_cli_error("unknown dtype '%s' (expected a4w4, a8w4 or a16w4)",
                          a->dtypes.items[i]);
  return 0;
}

/* set as a grid file at path, then where its numbers came from. */
static int write_grid(const pt_hfconfig_model_t *m, const pt_hfconfig_layout_t *l,
                      const pt_family_set_t *set, const char *path) {
  char *text = NULL, line[1024];
  pt_err_t err;
  int rc = pt_family_to_json(set, &text, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return pt_exit_status(rc);
  }
  int status = pt_outfile_write(path, write_text, text);
  free(text);
  if (status != 0) return status;
  pt_hfconfig_describe(m, l, &set->families[0], line, sizeof line);
  printf("%s\nwrote '%s'\n", line, path);
  return 0;
}

static int from_config(const args_t *a) {
  if (a->grid != NULL)
    return pt_cli_error("--from-config and --grid cannot be combined");
  if (a->out != NULL && a->format != NULL)
    return pt_cli_error("option -o writes JSON: leave out --format");
  int json = want_json(a->format ? a->format : "json");
  pt_hfconfig_layout_t l;
  if (json < 0 || layout_of(a, &l) != 0) return 2;
  pt_hfconfig_model_t m;
  pt_family_set_t set;
  pt_err_t err;
  int rc = pt_hfconfig_load(a->config, &m, &err);
  if (rc == PT_OK) rc = pt_hfconfig_grid(&m, &l, &set, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return pt_exit_status(rc);
  }
  int status = a->out != NULL ? write_grid(&m, &l, &set, a->out) : show(&set, json);
  pt_family_set_free(&set);
  return status;
}

int cmd_families(int argc, const char **argv) {
  args_t a = {.tp = UNSET, .ep = UNSET};
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "grid", &a.grid, "FILE",
                    "families/grid JSON file (default: the built-in families)"),
      PT_OPT_STRING(0, "file", &a.grid, "FILE", "the same as --grid"),
      PT_OPT_STRING(0, "format", &a.format, "table|json",
                    "output format (default: table; json with --from-config)"),
      PT_OPT_STRING(0, "from-config", &a.config, "CONFIG",
                    "a Hugging Face config.json: its MoE layer as one family"),
      PT_OPT_INT(0, "tp", &a.tp, "N", "tensor parallel: I split N ways (default 1)"),
      PT_OPT_INT(0, "ep", &a.ep, "N", "expert parallel: experts split N ways (default 1)"),
      PT_OPT_STRING(0, "shared", &a.shared, "fused|separate",
                    "shared experts as always-selected experts (default) or "
                    "left to a dense MLP"),
      PT_OPT_LIST(0, "dtype", &a.dtypes, "D",
                  "a4w4, a8w4 or a16w4, repeatable (default: all three for an "
                  "MXFP4 checkpoint, else a4w4)"),
      PT_OPT_STRING(0, "name", &a.name, "NAME",
                    "family name (default: model type and layout, e.g. "
                    "deepseek_v3-tp8)"),
      PT_OPT_STRING('o', "output", &a.out, "FILE",
                    "write the grid file here instead of stdout"),
      PT_OPT_END(),
  };
  const char *usage =
      "pipetune families [--grid FILE] [--format table|json]\n"
      "   or: pipetune families --from-config CONFIG [--tp N] [--ep N] "
      "[--shared fused|separate]\n"
      "                         [--dtype D]... [--name NAME] [-o FILE | "
      "--format table|json]";
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0) {
    pt_strlist_free(&a.dtypes);
    return pt_opts_status(argc);
  }
  int status = argc > 0       ? pt_cli_error("unexpected argument '%s'", argv[0])
               : a.config != NULL ? from_config(&a)
                                  : list(&a);
  pt_strlist_free(&a.dtypes);
  return status;
}
