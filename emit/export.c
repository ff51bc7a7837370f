/* JSON and CSV exports of the generated table (see export.h). JSON is
 * written directly, one interval or config per line so that two exports diff
 * well; CSV goes through the query module's table printer, which does the
 * RFC 4180 quoting. */
#include "export.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "query.h"

/* ---- JSON ---- */

static void jstr(FILE *f, const char *s) {
  if (s == NULL) {
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void jstrings(FILE *f, const char *const *s, size_t n) {
  fputc('[', f);
  for (size_t i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    jstr(f, s[i]);
  }
  fputc(']', f);
}

static void jknobs(FILE *f, const pt_variant_t *v, const char *spec) {
  pt_knob_value_t kv[PT_KNOBS_MAX];
  int n = pt_knobs_values(v, kv);
  fputs("{\"spec\": ", f);
  jstr(f, spec);
  for (int i = 0; i < n; i++) {
    fprintf(f, ", \"%s\": ", kv[i].name);
    if (kv[i].symbol) jstr(f, kv[i].symbol);
    else fprintf(f, "%d", kv[i].value);
  }
  fputc('}', f);
}

static void jfixed(FILE *f, const char *name, const pt_query_fixed_t *x) {
  fprintf(f, "\"%s\": {\"spec\": ", name);
  jstr(f, x->spec);
  fprintf(f, ", \"geomean_vs_best\": %.6f, \"points_measured\": %zu, \"points\": %zu}",
          x->geomean, x->covered, x->points);
}

static void jdefault(FILE *f, const pt_emit_default_t *d) {
  fprintf(f, "{\"config\": %d, ", d->config);
  jfixed(f, "gemm1", &d->g1);
  fputs(", ", f);
  jfixed(f, "gemm2", &d->g2);
  fputc('}', f);
}

static void jfamily(FILE *f, const pt_emit_family_t *fam, int last) {
  fputs("        {\"name\": ", f);
  jstr(f, fam->name);
  fprintf(f, ", \"model_dim\": %d, \"inter_dim\": %d, \"experts\": %d, \"topk\": %d, "
             "\"dtype\": ", fam->model_dim, fam->inter_dim, fam->experts, fam->topk);
  jstr(f, fam->dtype);
  fputs(", \"act\": ", f);
  jstr(f, fam->act);
  fputs(",\n         \"intervals\": [\n", f);
  for (size_t i = 0; i < fam->nintervals; i++) {
    const pt_emit_interval_t *iv = &fam->intervals[i];
    fprintf(f, "           {\"tokens_lo\": %d, \"tokens_hi\": ", iv->lo);
    if (iv->hi == INT_MAX) fputs("null", f);
    else fprintf(f, "%d", iv->hi);
    fprintf(f, ", \"config\": %d, \"gemm1_won_at\": [%d, %d], \"gemm2_won_at\": [%d, %d], "
               "\"gemm1_ties\": %zu, \"gemm2_ties\": %zu}%s\n",
            iv->config, iv->g1.first, iv->g1.last, iv->g2.first, iv->g2.last, iv->g1.ties,
            iv->g2.ties, i + 1 < fam->nintervals ? "," : "");
  }
  fprintf(f, "         ]}%s\n", last ? "" : ",");
}

/* The device models of an arch; a model that shares the arch's families
 * says so instead of repeating them. */
static void jdevices(FILE *f, const pt_emit_arch_t *a) {
  fputs(",\n     \"devices\": [\n", f);
  for (size_t d = 0; d < a->ndevices; d++) {
    const pt_emit_device_t *dev = &a->devices[d];
    fputs("      {\"name\": ", f);
    jstr(f, dev->name);
    fprintf(f, ", \"same_as_arch\": %s, \"families\": [%s", dev->shared ? "true" : "false",
            dev->nfamilies ? "\n" : "");
    for (size_t i = 0; i < dev->nfamilies; i++)
      jfamily(f, &dev->families[i], i + 1 == dev->nfamilies);
    fprintf(f, "%s]}%s\n", dev->nfamilies ? "        " : "", d + 1 < a->ndevices ? "," : "");
  }
  fputs("     ]", f);
}

static void jhead(FILE *f, const pt_emit_table_t *t, const pt_emit_opts_t *o) {
  const pt_query_set_t *s = t->set;
  fprintf(f, "{\n  \"generator\": \"pipetune %s\",\n  \"abi\": %d,\n  \"source\": ",
          PACKAGE_VERSION, PT_EMIT_ABI);
  jstr(f, s->source);
  fprintf(f, ",\n  \"digest\": \"%s\",\n", s->digest);
  if (o && o->timestamp) {
    fputs("  \"generated\": ", f);
    jstr(f, o->timestamp);
    fputs(",\n", f);
  }
  fputs("  \"devices\": ", f);
  jstrings(f, s->devices, s->ndevices);
  fputs(",\n  \"measured\": {\"first\": ", f);
  jstr(f, s->first);
  fputs(", \"last\": ", f);
  jstr(f, s->last);
  fprintf(f, ", \"results\": %zu, \"tool_versions\": ", s->nrows);
  jstrings(f, s->tool_versions, s->ntool_versions);
  fputs("},\n  \"selection\": {\"regime\": ", f);
  jstr(f, s->regime);
  fputs(", \"routing\": ", f);
  jstr(f, s->routing);
  fprintf(f, ", \"routing_param\": %g, \"device\": ", s->routing_param);
  if (s->device) jstr(f, s->device);
  else fputs("null", f);
  fputs(", \"tie_tol\": ", f);
  if (s->tie_tol == PT_QUERY_TIE_AUTO) fputs("\"auto\"", f);
  else fprintf(f, "%g", s->tie_tol);
  fputs("},\n  \"left_out\": ", f);
  jstrings(f, (const char *const *)t->skipped, t->nskipped);
  fputs(",\n", f);
}

int pt_export_json(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                   pt_err_t *err) {
  jhead(f, t, o);
  fputs("  \"configs\": [\n", f);
  for (size_t i = 0; i < t->nconfigs; i++) {
    const pt_emit_config_t *c = &t->configs[i];
    fprintf(f, "    {\"sbm\": %d, \"gemm1\": ", c->sbm);
    jknobs(f, &c->g1, c->g1_spec);
    fputs(",\n     \"gemm2\": ", f);
    jknobs(f, &c->g2, c->g2_spec);
    fprintf(f, "}%s\n", i + 1 < t->nconfigs ? "," : "");
  }
  fputs("  ],\n  \"global_default\": ", f);
  jdefault(f, &t->global);
  fputs(",\n  \"archs\": [\n", f);
  for (size_t a = 0; a < t->narchs; a++) {
    fputs("    {\"arch\": ", f);
    jstr(f, t->archs[a].arch);
    fputs(",\n     \"default\": ", f);
    jdefault(f, &t->archs[a].dflt);
    fputs(",\n     \"families\": [\n", f);
    for (size_t i = 0; i < t->archs[a].nfamilies; i++)
      jfamily(f, &t->archs[a].families[i], i + 1 == t->archs[a].nfamilies);
    fputs("     ]", f);
    jdevices(f, &t->archs[a]);
    fprintf(f, "}%s\n", a + 1 < t->narchs ? "," : "");
  }
  fputs("  ]\n}\n", f);
  if (fflush(f) != 0 || ferror(f)) return pt_err_set(err, PT_EIO, "write failed");
  return PT_OK;
}

/* ---- CSV ---- */

/* The columns before the knobs; then, per stage, "<member>_<field>" for
 * each field of the generated struct (g1_bm, ..., g2_epilog). */
static const char *const csv_head[] = {
    "level", "arch", "family", "model_dim", "inter_dim", "experts", "topk",
    "dtype", "act", "tokens_lo", "tokens_hi", "config", "sbm", "gemm1", "gemm2"};
#define CSV_NHEAD ((int)(sizeof csv_head / sizeof csv_head[0]))
#define CSV_COLS_MAX (CSV_NHEAD + PT_STAGE_COUNT * PT_KNOBS_MAX)

typedef struct csv_cols_s {
  int n;
  char knob[PT_STAGE_COUNT * PT_KNOBS_MAX][48];
  const char *name[CSV_COLS_MAX];
} csv_cols_t;

static void csv_columns(csv_cols_t *c) {
  c->n = 0;
  for (int i = 0; i < CSV_NHEAD; i++) c->name[c->n++] = csv_head[i];
  for (int s = 0, j = 0; s < PT_STAGE_COUNT; s++) {
    const pt_knob_t *k[PT_KNOBS_MAX];
    int nk = pt_knobs_cfields((pt_stage_t)s, k);
    for (int i = 0; i < nk; i++, j++) {
      snprintf(c->knob[j], sizeof c->knob[j], "%s_%s",
               pt_emit_stage_member((pt_stage_t)s), k[i]->cfield);
      c->name[c->n++] = c->knob[j];
    }
  }
}

static void csv_config(pt_query_table_t *q, const pt_emit_table_t *t, int index) {
  const pt_emit_config_t *c = &t->configs[index];
  pt_query_table_int(q, index);
  pt_query_table_int(q, c->sbm);
  pt_query_table_str(q, c->g1_spec);
  pt_query_table_str(q, c->g2_spec);
  const pt_variant_t *v[PT_STAGE_COUNT] = {&c->g1, &c->g2};
  for (int s = 0; s < PT_STAGE_COUNT; s++) {
    const pt_knob_t *k[PT_KNOBS_MAX];
    int nk = pt_knobs_cfields((pt_stage_t)s, k);
    for (int i = 0; i < nk; i++) {
      int value = pt_knobs_get(v[s], k[i]);
      if (k[i]->symbols != NULL) pt_query_table_str(q, pt_knobs_symbol(k[i], value));
      else pt_query_table_int(q, value);
    }
  }
}

static void csv_blank(pt_query_table_t *q, int n) {
  for (int i = 0; i < n; i++) pt_query_table_str(q, NULL);
}

static void csv_family(pt_query_table_t *q, const pt_emit_table_t *t,
                       const char *arch, const pt_emit_family_t *f) {
  for (size_t i = 0; i < f->nintervals; i++) {
    pt_query_table_str(q, "family");
    pt_query_table_str(q, arch);
    pt_query_table_str(q, f->name);
    pt_query_table_int(q, f->model_dim);
    pt_query_table_int(q, f->inter_dim);
    pt_query_table_int(q, f->experts);
    pt_query_table_int(q, f->topk);
    pt_query_table_str(q, f->dtype);
    pt_query_table_str(q, f->act);
    pt_query_table_int(q, f->intervals[i].lo);
    if (f->intervals[i].hi == INT_MAX) pt_query_table_str(q, NULL);
    else pt_query_table_int(q, f->intervals[i].hi);
    csv_config(q, t, f->intervals[i].config);
  }
}

int pt_export_csv(const pt_emit_table_t *t, FILE *f, pt_err_t *err) {
  pt_query_table_t *q;
  csv_cols_t cols;
  csv_columns(&cols);
  int rc = pt_query_table_new(cols.name, cols.n, &q, err);
  if (rc != PT_OK) return rc;
  for (size_t a = 0; a < t->narchs; a++) {
    for (size_t i = 0; i < t->archs[a].nfamilies; i++)
      csv_family(q, t, t->archs[a].arch, &t->archs[a].families[i]);
    pt_query_table_str(q, "arch_default");
    pt_query_table_str(q, t->archs[a].arch);
    csv_blank(q, 9);
    csv_config(q, t, t->archs[a].dflt.config);
  }
  pt_query_table_str(q, "global_default");
  csv_blank(q, 10);
  csv_config(q, t, t->global.config);
  rc = pt_query_table_print(q, PT_QUERY_CSV, f, err);
  pt_query_table_free(q);
  if (rc == PT_OK && (fflush(f) != 0 || ferror(f)))
    rc = pt_err_set(err, PT_EIO, "write failed");
  return rc;
}
