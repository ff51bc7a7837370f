/* The plan of the deployed pairs (see tunepairs.h). */
#include "tunepairs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "query.h"

static int pick_arch(const pt_query_set_t *set, const char *db, const char *arch,
                     const char **out, pt_err_t *err) {
  if (arch != NULL) {
    int rc = pt_query_check_held(set, "arch", arch, err);
    if (rc != PT_OK) return pt_err_prefix(err, "option --arch");
    *out = arch;
    return PT_OK;
  }
  if (set->narchs == 1) {
    *out = set->archs[0];
    return PT_OK;
  }
  if (set->narchs == 0)
    return pt_err_set(err, PT_EINVAL, "option --pairs: '%s' holds no results to take "
                      "pairs from; tune the grid first", db);
  return pt_err_set(err, PT_EINVAL, "option --pairs: '%s' holds results of %zu archs; "
                    "pick the table with --arch", db, set->narchs);
}

/* The table's pair at every problem of grid. */
static int pick_pairs(const pt_emit_table_t *t, const char *db, const char *arch,
                      const pt_plan_t *grid, pt_plan_t *out, pt_err_t *err) {
  size_t n = (size_t)grid->nproblems;
  pt_variant_t *g1 = calloc(n > 0 ? n : 1, sizeof *g1), *g2 = calloc(n > 0 ? n : 1, sizeof *g2);
  int rc = g1 != NULL && g2 != NULL ? PT_OK : pt_err_set(err, PT_ENOMEM, "out of memory");
  for (size_t i = 0; rc == PT_OK && i < n; i++) {
    const pt_plan_problem_t *p = &grid->problems[i];
    const pt_emit_family_t *fam = pt_emit_find_family(t, arch, NULL, &p->shape);
    if (fam == NULL)
      rc = pt_err_set(err, PT_EINVAL, "option --pairs: the table of '%s' on %s has no "
                      "family '%s' %s; tune its grid first", db, arch, p->family->name,
                      pt_dtype_name(p->shape.dtype));
    else {
      const pt_emit_config_t *c = pt_emit_pick(t, fam, p->tokens);
      g1[i] = c->g1;
      g2[i] = c->g2;
    }
  }
  if (rc == PT_OK) rc = pt_plan_pairs(grid, g1, g2, out, err);
  free(g1);
  free(g2);
  return rc;
}

int pt_tunepairs_plan(const char *db, const char *arch, const char *routing, int warm,
                      const pt_plan_t *grid, pt_plan_t *out, char *arch_out,
                      size_t arch_len, pt_err_t *err) {
  /* emit's default tie rule, so the pairs are those emit ships */
  pt_query_filter_t f = {.regime = warm ? "warm" : "cold", .tie_tol = PT_QUERY_TIE_AUTO};
  pt_query_set_t *set = NULL, **devsets = NULL;
  size_t ndev = 0;
  pt_emit_table_t *t = NULL;
  const char *a = NULL;
  int rc = pt_query_parse_routing(routing != NULL ? routing : "uniform", &f, err);
  if (rc == PT_OK) rc = pt_query_load(db, &f, &set, err);
  if (rc == PT_ENOENT) rc = err->code = PT_EINVAL;  /* no database to take pairs from */
  if (rc == PT_OK) rc = pick_arch(set, db, arch, &a, err);
  if (rc == PT_OK) rc = pt_emit_load_device_sets(db, &f, set, &devsets, &ndev, err);
  if (rc == PT_OK) {
    rc = pt_emit_build(set, (const pt_query_set_t *const *)devsets, ndev, &a, 1, &t, err);
    if (rc == PT_ENOENT) {  /* nothing to emit: no table to take pairs from */
      pt_err_prefix(err, "option --pairs: '%s' on %s", db, a);
      rc = err->code = PT_EINVAL;
    }
  }
  if (rc == PT_OK) rc = pick_pairs(t, db, a, grid, out, err);
  if (rc == PT_OK) snprintf(arch_out, arch_len, "%s", a);
  pt_emit_free(t);
  pt_emit_free_sets(devsets, ndev);
  pt_query_free(set);
  return rc;
}
