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
    fprintf(f, ", \"config\": %d, \"gemm1_won_at\": [%d, %d], \"gemm2_won_at\": [%d, %d]}%s\n",
            iv->config, iv->g1.first, iv->g1.last, iv->g2.first, iv->g2.last,
            i + 1 < fam->nintervals ? "," : "");
  }
  fprintf(f, "         ]}%s\n", last ? "" : ",");
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
  fprintf(f, ", \"routing_param\": %g},\n  \"left_out\": ", s->routing_param);
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
    fprintf(f, "     ]}%s\n", a + 1 < t->narchs ? "," : "");
  }
  fputs("  ]\n}\n", f);
  if (fflush(f) != 0 || ferror(f)) return pt_err_set(err, PT_EIO, "write failed");
  return PT_OK;
}

/* ---- CSV ---- */

static const char *const csv_cols[] = {
    "level", "arch", "family", "model_dim", "inter_dim", "experts", "topk",
    "dtype", "act", "tokens_lo", "tokens_hi", "config", "sbm", "gemm1", "gemm2",
    "g1_bm", "g1_bn", "g1_k_wave", "g1_bhoist", "g1_spart", "g1_nt", "g1_persist",
    "g2_bm", "g2_bn", "g2_kstages", "g2_bhoist", "g2_spart", "g2_nt",
    "g2_persist", "g2_epilog"};
#define CSV_NCOLS ((int)(sizeof csv_cols / sizeof csv_cols[0]))

static void csv_config(pt_query_table_t *q, const pt_emit_table_t *t, int index) {
  const pt_emit_config_t *c = &t->configs[index];
  pt_query_table_int(q, index);
  pt_query_table_int(q, c->sbm);
  pt_query_table_str(q, c->g1_spec);
  pt_query_table_str(q, c->g2_spec);
  const int g1[] = {c->g1.bm, c->g1.bn, c->g1.k_wave, c->g1.bhoist, c->g1.spart,
                    c->g1.nt, c->g1.persist};
  const int g2[] = {c->g2.bm, c->g2.bn, c->g2.kstages, c->g2.bhoist, c->g2.spart,
                    c->g2.nt, c->g2.persist};
  for (int i = 0; i < 7; i++) pt_query_table_int(q, g1[i]);
  for (int i = 0; i < 7; i++) pt_query_table_int(q, g2[i]);
  pt_query_table_str(q, pt_epilog_name((pt_epilog_t)c->g2.epilog));
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
  int rc = pt_query_table_new(csv_cols, CSV_NCOLS, &q, err);
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
