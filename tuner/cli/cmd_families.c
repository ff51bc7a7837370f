/* pipetune families: the model families known (the built-in
 * space/families.json, or --file), validated, as a table or as JSON. The
 * JSON form is itself a valid families file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "family.h"
#include "opts.h"

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

int cmd_families(int argc, const char **argv) {
  const char *file = NULL, *format = "table";
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "file", &file, "FILE",
                    "families/grid JSON file (default: the built-in families)"),
      PT_OPT_STRING(0, "format", &format, "table|json", "output format"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts,
                       "pipetune families [--file FILE] [--format table|json]");
  if (argc < 0) return pt_opts_status(argc);
  if (argc > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  int json = strcmp(format, "json") == 0;
  if (!json && strcmp(format, "table") != 0)
    return pt_cli_error("unknown format '%s' (expected table or json)", format);

  pt_family_set_t set;
  pt_err_t err;
  int rc = file != NULL ? pt_family_load_file(file, &set, &err)
                        : pt_family_load_builtin(&set, &err);
  char *text = NULL;
  if (rc == PT_OK && json) rc = pt_family_to_json(&set, &text, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    pt_family_set_free(&set);
    return pt_exit_status(rc);
  }
  if (json)
    printf("%s\n", text);
  else
    print_table(&set);
  free(text);
  pt_family_set_free(&set);
  return 0;
}
