/* pipetune space: every variant of a stage's knob space with its verdict
 * from the constraint table for one arch (DESIGN §9). Table or JSON:
 *   {"stage": "gemm1", "variants": [{"knobs": {...}, "feasible": true,
 *    "reason": null}, ...]}
 * one variant per line. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "constraints.h"
#include "knobs.h"
#include "opts.h"

/* {"knobs": {...}, "feasible": ..., "reason": ...} on one line; 0 on
 * allocation failure. */
static int print_json_variant(const pt_variant_t *v, const pt_verdict_t *vd,
                              int first) {
  pt_knob_value_t kv[PT_KNOBS_MAX];
  int n = pt_knobs_values(v, kv);
  cJSON *o = cJSON_CreateObject();
  cJSON *knobs = o != NULL ? cJSON_AddObjectToObject(o, "knobs") : NULL;
  int ok = knobs != NULL;
  for (int i = 0; ok && i < n; i++)
    ok = (kv[i].symbol != NULL
              ? cJSON_AddStringToObject(knobs, kv[i].name, kv[i].symbol)
              : cJSON_AddNumberToObject(knobs, kv[i].name, kv[i].value)) != NULL;
  ok = ok && cJSON_AddBoolToObject(o, "feasible", vd->feasible) != NULL &&
       (vd->feasible ? cJSON_AddNullToObject(o, "reason")
                     : cJSON_AddStringToObject(o, "reason", vd->reason)) != NULL;
  char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (text == NULL) return 0;
  printf("%s\n  %s", first ? "" : ",", text);
  free(text);
  return 1;
}

static void print_table_header(pt_stage_t stage, int *width) {
  pt_variant_t v;
  pt_knob_value_t kv[PT_KNOBS_MAX];
  pt_knobs_default(stage, &v);
  int n = pt_knobs_values(&v, kv);
  for (int i = 0; i < n; i++) {
    width[i] = (int)strlen(kv[i].name) > 6 ? (int)strlen(kv[i].name) : 6;
    printf("%-*s ", width[i], kv[i].name);
  }
  printf("feasible  reason\n");
}

static void print_table_row(const pt_variant_t *v, const pt_verdict_t *vd,
                            const int *width) {
  pt_knob_value_t kv[PT_KNOBS_MAX];
  int n = pt_knobs_values(v, kv);
  for (int i = 0; i < n; i++) {
    if (kv[i].symbol != NULL)
      printf("%-*s ", width[i], kv[i].symbol);
    else
      printf("%-*d ", width[i], kv[i].value);
  }
  if (vd->feasible)
    printf("yes\n");
  else
    printf("%-8s  %s\n", "no", vd->reason);
}

/* Walks the space; prints each variant. Returns the exit status. */
static int print_space(pt_stage_t stage, pt_dtype_t dtype,
                       const pt_limits_t *lim, int json) {
  size_t n = pt_knobs_space_size(stage), feasible = 0;
  int width[PT_KNOBS_MAX];
  if (json)
    printf("{\"stage\": \"%s\", \"variants\": [", pt_stage_name(stage));
  else
    print_table_header(stage, width);
  for (size_t i = 0; i < n; i++) {
    pt_variant_t v;
    pt_verdict_t vd;
    pt_err_t err;
    pt_knobs_space_at(stage, i, &v);
    if (pt_constraints_check(&v, dtype, lim, &vd, &err) != PT_OK) {
      pt_cli_error("%s", err.msg);
      return 1;
    }
    feasible += (size_t)vd.feasible;
    if (!json) {
      print_table_row(&v, &vd, width);
    } else if (!print_json_variant(&v, &vd, i == 0)) {
      pt_cli_error("out of memory");
      return 1;
    }
  }
  if (json)
    printf("\n]}\n");
  else
    printf("# %zu %s variants for %s (%s): %zu feasible\n", n,
           pt_stage_name(stage), lim->arch, pt_dtype_name(dtype), feasible);
  return 0;
}

int cmd_space(int argc, const char **argv) {
  const char *stage_s = NULL, *arch = "sm_90", *dtype_s = "a4w4";
  const char *format = "table";
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "stage", &stage_s, "gemm1|gemm2", "the stage's knob space"),
      PT_OPT_STRING(0, "arch", &arch, "ARCH", "device limits of this arch (default: sm_90)"),
      PT_OPT_STRING(0, "dtype", &dtype_s, "DTYPE",
                    "a4w4, a8w4 or a16w4, for shared-memory sizes (default: a4w4)"),
      PT_OPT_STRING(0, "format", &format, "table|json", "output format"),
      PT_OPT_END(),
  };
  const char *usage =
      "pipetune space --stage gemm1|gemm2 [--arch ARCH] [--dtype DTYPE] "
      "[--format table|json]";
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0) return pt_opts_status(argc);
  if (argc > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  if (stage_s == NULL) {
    pt_cli_error("--stage is required");
    pt_opts_usage(opts, usage, 1);
    return 2;
  }
  pt_stage_t stage;
  if (pt_stage_parse(stage_s, &stage) != 0)
    return pt_cli_error("unknown stage '%s' (expected gemm1 or gemm2)", stage_s);
  pt_dtype_t dtype;
  if (pt_dtype_parse(dtype_s, &dtype) != 0)
    return pt_cli_error("unknown dtype '%s' (expected a4w4, a8w4 or a16w4)",
                        dtype_s);
  int json = strcmp(format, "json") == 0;
  if (!json && strcmp(format, "table") != 0)
    return pt_cli_error("unknown format '%s' (expected table or json)", format);
  pt_limits_t lim;
  pt_err_t err;
  int rc = pt_constraints_limits_for_arch(arch, &lim, &err);
  if (rc != PT_OK) {
    pt_cli_error("%s", err.msg);
    return pt_exit_status(rc);
  }
  return print_space(stage, dtype, &lim, json);
}
