/* The HTML report (see report.h). Plots are SVG written by hand: a plot maps
 * log2(tokens) to x and log10(time) or speedup to y inside a frame; axes get
 * ticks at powers of two (tokens) and at 1-2-5 steps (times). Every string
 * from the database goes through html(). */
#include "report.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "searches.h"

#define NCOLORS 8
static const char *const palette[NCOLORS] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                             "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define OTHER_COLOR "#b0b0b0"

static void html(FILE *f, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&#39;", f); break;
    default: fputc(*s, f);
    }
  }
}

/* ---- one series: the variants drawn and their colours ---- */

typedef struct line_s {
  const char *spec;
  int wins;        /* points won */
  int first_win;   /* token count of the first win; INT_MAX if none */
  const char *color;
} line_t;

typedef struct view_s {
  const pt_query_series_t *s;
  const pt_query_point_t **pts;  /* points with a winner */
  size_t n;
  pt_query_fixed_t fixed;        /* spec NULL when there is none */
  line_t *lines;
  size_t nlines;
} view_t;

static int line_cmp(const void *pa, const void *pb) {
  const line_t *a = pa, *b = pb;
  if (a->wins != b->wins) return b->wins - a->wins;
  if (a->first_win != b->first_win) return a->first_win < b->first_win ? -1 : 1;
  return strcmp(a->spec, b->spec);
}

static line_t *find_line(const view_t *v, const char *spec) {
  for (size_t i = 0; i < v->nlines; i++)
    if (strcmp(v->lines[i].spec, spec) == 0) return &v->lines[i];
  return NULL;
}

/* Winners (most wins first), then the best fixed variant, max of them. */
static int make_view(const pt_query_series_t *s, int max, view_t *v) {
  *v = (view_t){.s = s};
  v->pts = malloc((s->npoints ? s->npoints : 1) * sizeof *v->pts);
  v->lines = calloc(s->npoints + 2, sizeof *v->lines);
  if (v->pts == NULL || v->lines == NULL) return PT_ENOMEM;
  for (size_t i = 0; i < s->npoints; i++) {
    const pt_query_point_t *p = &s->points[i];
    if (p->best < 0) continue;
    v->pts[v->n++] = p;
    line_t *l = find_line(v, p->vars[p->pick].spec);
    if (l == NULL) {
      l = &v->lines[v->nlines++];
      *l = (line_t){.spec = p->vars[p->pick].spec, .first_win = p->tokens};
    }
    l->wins++;
  }
  qsort(v->lines, v->nlines, sizeof *v->lines, line_cmp);
  if (pt_query_fixed(v->pts, v->n, NULL, &v->fixed) != PT_OK) v->fixed.spec = NULL;
  size_t keep = v->nlines < (size_t)max ? v->nlines : (size_t)max;
  if (v->fixed.spec && find_line(v, v->fixed.spec) == NULL) {
    if (keep == (size_t)max) keep--;
    v->lines[keep] = (line_t){.spec = v->fixed.spec, .first_win = INT_MAX};
    keep++;
  } else if (v->fixed.spec) {
    /* The fixed variant wins somewhere: keep it even past max. */
    line_t *l = find_line(v, v->fixed.spec);
    if ((size_t)(l - v->lines) >= keep) {
      line_t t = *l;
      v->lines[keep - 1] = t;
    }
  }
  v->nlines = keep;
  for (size_t i = 0; i < v->nlines; i++) v->lines[i].color = palette[i % NCOLORS];
  return PT_OK;
}

static void free_view(view_t *v) {
  free(v->pts);
  free(v->lines);
}

static const pt_query_var_t *var_of(const pt_query_point_t *p, const char *spec) {
  for (size_t i = 0; i < p->nok; i++)
    if (strcmp(p->vars[i].spec, spec) == 0) return &p->vars[i];
  return NULL;
}

/* ---- plot frames ---- */

typedef struct frame_s {
  double x, y, w, h;         /* plot area in the SVG */
  double x0, x1, y0, y1;     /* data range: log2 tokens, y (log10 time or linear) */
} frame_t;

/* log2 of a token count, taken from 1 up: a count below 1 (never loaded, but
 * not this file's to trust) would give -inf, and the axis loops never end. */
static double log2_tokens(double tokens) { return log2(tokens >= 1 ? tokens : 1); }

static double px(const frame_t *fr, double tokens) {
  return fr->x + (log2_tokens(tokens) - fr->x0) / (fr->x1 - fr->x0) * fr->w;
}
static double py(const frame_t *fr, double y) {
  return fr->y + fr->h - (y - fr->y0) / (fr->y1 - fr->y0) * fr->h;
}

static void token_range(const view_t *v, frame_t *fr) {
  double lo = log2_tokens(v->pts[0]->tokens), hi = log2_tokens(v->pts[v->n - 1]->tokens);
  fr->x0 = lo - 0.5;
  fr->x1 = (hi > lo ? hi : lo + 1) + 0.5;
}

/* Grid lines at powers of two (grid), labels under the frame (labels). */
static void x_axis(FILE *f, const frame_t *fr, int grid, int labels) {
  int step = fr->x1 - fr->x0 > 12 ? 2 : 1;
  for (int e = (int)ceil(fr->x0); e <= (int)floor(fr->x1); e++) {
    double x = fr->x + (e - fr->x0) / (fr->x1 - fr->x0) * fr->w;
    if (grid)
      fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
              x, fr->y, x, fr->y + fr->h);
    if (labels && e % step == 0 && e >= 0)
      fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
              x, fr->y + fr->h + 14, pow(2, e));
  }
}

/* Ticks at 1, 2, 5 times powers of ten between 10^y0 and 10^y1. */
static void y_axis_log(FILE *f, const frame_t *fr) {
  static const int mult[] = {1, 2, 5};
  for (int e = (int)floor(fr->y0); e <= (int)ceil(fr->y1); e++)
    for (int m = 0; m < 3; m++) {
      double v = log10(mult[m]) + e;
      if (v < fr->y0 || v > fr->y1) continue;
      double y = py(fr, v);
      fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
              fr->x, y, fr->x + fr->w, y);
      fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
              fr->x - 5, y + 4, mult[m] * pow(10, e));
    }
}

static void frame_box(FILE *f, const frame_t *fr) {
  fprintf(f, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
          fr->x, fr->y, fr->w, fr->h);
}

/* ---- the time plot with its winner bands ---- */

static void time_range(const view_t *v, frame_t *fr) {
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < v->n; i++)
    for (size_t l = 0; l < v->nlines; l++) {
      const pt_query_var_t *x = var_of(v->pts[i], v->lines[l].spec);
      if (x == NULL) continue;
      lo = fmin(lo, x->median_us);
      hi = fmax(hi, x->median_us);
    }
  fr->y0 = log10(lo) - 0.05;
  fr->y1 = (hi > lo ? log10(hi) : log10(lo) + 1) + 0.05;
}

static void draw_line(FILE *f, const frame_t *fr, const view_t *v, const line_t *l) {
  int pen = 0;
  fprintf(f, "<path class=\"series\" stroke=\"%s\" d=\"", l->color);
  for (size_t i = 0; i < v->n; i++) {
    const pt_query_var_t *x = var_of(v->pts[i], l->spec);
    if (x == NULL) {
      pen = 0;
      continue;
    }
    fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', px(fr, v->pts[i]->tokens),
            py(fr, log10(x->median_us)));
    pen = 1;
  }
  fputs("\"/>\n", f);
  for (size_t i = 0; i < v->n; i++) {
    const pt_query_var_t *x = var_of(v->pts[i], l->spec);
    if (x)
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
              px(fr, v->pts[i]->tokens), py(fr, log10(x->median_us)), l->color);
  }
}

static void draw_tuned(FILE *f, const frame_t *fr, const view_t *v) {
  fputs("<path class=\"tuned\" d=\"", f);
  for (size_t i = 0; i < v->n; i++) {
    const pt_query_point_t *p = v->pts[i];
    fprintf(f, "%c%.1f %.1f ", i ? 'L' : 'M', px(fr, p->tokens),
            py(fr, log10(p->vars[p->pick].median_us)));
  }
  fputs("\"/>\n", f);
}

/* A tie (the table keeps a variant within the measured noise of the
 * fastest): a mark on the band's top edge, the two named in its title. */
static void draw_tie(FILE *f, const frame_t *fr, const pt_query_point_t *p, double y) {
  if (p->pick == p->best) return;
  const pt_query_var_t *k = &p->vars[p->pick], *b = &p->vars[p->best];
  double x = px(fr, p->tokens);
  fprintf(f, "<path class=\"tie\" d=\"M%.1f %.1f l4 5 l-4 5 l-4 -5 z\"><title>tie at %d "
             "tokens: ", x, y - 2, p->tokens);
  html(f, k->spec);
  fprintf(f, " kept, %.2f%% slower than the fastest ", (k->median_us / b->median_us - 1) * 100);
  html(f, b->spec);
  fputs(" (within the tie tolerance)</title></path>\n", f);
}

/* Bands at geometric midpoints, as the generated table splits tokens: the
 * runs of the noise-aware picks. */
static void draw_bands(FILE *f, const frame_t *fr, const view_t *v, double y, double h) {
  for (size_t a = 0, b; a < v->n; a = b) {
    const char *win = v->pts[a]->vars[v->pts[a]->pick].spec;
    for (b = a + 1; b < v->n && strcmp(v->pts[b]->vars[v->pts[b]->pick].spec, win) == 0; b++) {}
    double x0 = a == 0 ? fr->x : px(fr, sqrt((double)v->pts[a - 1]->tokens * v->pts[a]->tokens));
    double x1 = b == v->n ? fr->x + fr->w
                          : px(fr, sqrt((double)v->pts[b - 1]->tokens * v->pts[b]->tokens));
    const line_t *l = find_line(v, win);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
               "<title>", x0, y, x1 - x0, h, l ? l->color : OTHER_COLOR);
    html(f, win);
    fprintf(f, " wins %d..%d</title></rect>\n", v->pts[a]->tokens, v->pts[b - 1]->tokens);
    if (l && x1 - x0 > 16)
      fprintf(f, "<text class=\"band\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
              (x0 + x1) / 2, y + h - 5, (int)(l - v->lines) + 1);
  }
  for (size_t i = 0; i < v->n; i++) draw_tie(f, fr, v->pts[i], y);
}

static void time_plot(FILE *f, const view_t *v) {
  frame_t fr = {.x = 58, .y = 10, .w = 470, .h = 230};
  token_range(v, &fr);
  time_range(v, &fr);
  fputs("<svg class=\"plot\" width=\"540\" height=\"312\" viewBox=\"0 0 540 312\" "
        "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n", f);
  x_axis(f, &fr, 1, 0);
  y_axis_log(f, &fr);
  frame_box(f, &fr);
  for (size_t l = v->nlines; l-- > 0;) draw_line(f, &fr, v, &v->lines[l]);
  draw_tuned(f, &fr, v);
  draw_bands(f, &fr, v, fr.y + fr.h + 4, 22);
  frame_t axis = fr;
  axis.y += 26;
  x_axis(f, &axis, 0, 1);
  fprintf(f, "<text class=\"label\" x=\"%.1f\" y=\"306\" text-anchor=\"middle\">tokens "
             "(log scale; bands: table pick by token interval; diamonds: ties)</text>\n", fr.x + fr.w / 2);
  fprintf(f, "<text class=\"label\" transform=\"translate(12 %.1f) rotate(-90)\" "
             "text-anchor=\"middle\">median time, us (log)</text>\n</svg>\n",
          fr.y + fr.h / 2);
}

/* ---- the speedup plot ---- */

/* Speedup of the tuned table over the fixed variant at point i; NaN when
 * the fixed variant has no ok result there. */
static double speedup_at(const view_t *v, size_t i) {
  const pt_query_var_t *x = v->fixed.spec ? var_of(v->pts[i], v->fixed.spec) : NULL;
  const pt_query_point_t *p = v->pts[i];
  return x ? x->median_us / p->vars[p->pick].median_us : NAN;
}

static double speedup_geomean(const view_t *v) {
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < v->n; i++) {
    double s = speedup_at(v, i);
    if (!isnan(s)) sum += log(s), n++;
  }
  return n ? exp(sum / n) : NAN;
}

static void speedup_plot(FILE *f, const view_t *v) {
  frame_t fr = {.x = 58, .y = 10, .w = 470, .h = 110, .y0 = 1};
  token_range(v, &fr);
  double top = 1.1;
  for (size_t i = 0; i < v->n; i++)
    if (!isnan(speedup_at(v, i))) top = fmax(top, speedup_at(v, i));
  fr.y1 = ceil(top * 10 + 0.5) / 10;
  fputs("<svg class=\"plot\" width=\"540\" height=\"158\" viewBox=\"0 0 540 158\" "
        "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n", f);
  x_axis(f, &fr, 1, 1);
  double step = fr.y1 - 1 > 1 ? 0.5 : fr.y1 - 1 > 0.4 ? 0.1 : 0.05;
  for (double y = 1; y <= fr.y1 + 1e-9; y += step) {
    fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            fr.x, py(&fr, y), fr.x + fr.w, py(&fr, y));
    fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2fx</text>\n",
            fr.x - 5, py(&fr, y) + 4, y);
  }
  frame_box(f, &fr);
  double bw = fr.w / (fr.x1 - fr.x0) * 0.6;
  for (size_t i = 0; i < v->n; i++) {
    double s = speedup_at(v, i);
    if (isnan(s)) continue;
    const line_t *l = find_line(v, v->pts[i]->vars[v->pts[i]->pick].spec);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
               "<title>%d tokens: %.3fx</title></rect>\n",
            px(&fr, v->pts[i]->tokens) - bw / 2, py(&fr, s), bw, py(&fr, 1) - py(&fr, s),
            l ? l->color : OTHER_COLOR, v->pts[i]->tokens, s);
  }
  fprintf(f, "<text class=\"label\" x=\"%.1f\" y=\"152\" text-anchor=\"middle\">speedup of "
             "the tuned table over the best fixed variant, by tokens</text>\n</svg>\n",
          fr.x + fr.w / 2);
}

/* ---- page parts ---- */

static void legend(FILE *f, const view_t *v) {
  fputs("<ol class=\"legend\">\n", f);
  for (size_t i = 0; i < v->nlines; i++) {
    const line_t *l = &v->lines[i];
    fprintf(f, "<li><span class=\"sw\" style=\"background:%s\"></span><code>", l->color);
    html(f, l->spec);
    fprintf(f, "</code> wins %d of %zu", l->wins, v->n);
    if (v->fixed.spec && strcmp(l->spec, v->fixed.spec) == 0)
      fprintf(f, "; <b>best fixed</b>: %.3fx the best on average over %zu points",
              v->fixed.geomean, v->fixed.covered);
    fputs("</li>\n", f);
  }
  fputs("<li><span class=\"sw tunedsw\"></span>tuned table (each point's pick: the fastest, or at a tie the variant kept)</li>\n</ol>\n",
        f);
}

static void series_anchor(FILE *f, const pt_query_series_t *s) {
  fputs("s-", f);
  for (const char *parts[] = {s->arch, s->family, s->dtype, s->stage}, **p = parts;
       p < parts + 4; p++)
    for (const char *c = *p; *c; c++)
      fputc((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ? *c : '_', f);
  fprintf(f, "-%d-%d-%d-%d", s->model_dim, s->inter_dim, s->experts, s->topk);
}

/* Infeasible results (the device cannot hold the variant: never run) are
 * counted and listed apart from the failures. */
static int is_infeasible(const pt_query_failure_t *x) {
  return strcmp(x->status, pt_db_status_name(PT_DB_STATUS_INFEASIBLE)) == 0;
}

size_t pt_report_count(const pt_query_set_t *set, const pt_query_series_t *s,
                       int infeasible) {
  size_t n = 0;
  for (size_t i = 0; i < set->nfailures; i++)
    n += (s == NULL || set->failures[i].series == s) &&
         is_infeasible(&set->failures[i]) == infeasible;
  return n;
}

static int series_section(FILE *f, const pt_query_set_t *set, const pt_query_series_t *s,
                          int max) {
  view_t v;
  int rc = make_view(s, max, &v);
  if (rc == PT_OK) {
    fputs("<section class=\"stage\" id=\"", f);
    series_anchor(f, s);
    fputs("\"><h3>", f);
    html(f, s->stage);
    fprintf(f, "</h3><p class=\"meta\">%zu token counts with a winner, %zu variants "
               "drawn, %zu failed results, %zu infeasible (not run)</p>\n",
            v.n, v.nlines, pt_report_count(set, s, 0), pt_report_count(set, s, 1));
    if (v.n == 0) fputs("<p>No ok result: nothing to plot.</p>\n", f);
    else {
      time_plot(f, &v);
      legend(f, &v);
      if (v.fixed.spec) {
        speedup_plot(f, &v);
        fprintf(f, "<p class=\"meta\">geometric-mean speedup %.3fx</p>\n",
                speedup_geomean(&v));
      }
    }
    fputs("</section>\n", f);
  }
  free_view(&v);
  return rc;
}

static int same_group(const pt_query_series_t *a, const pt_query_series_t *b) {
  return strcmp(a->arch, b->arch) == 0 && strcmp(a->family, b->family) == 0 &&
         strcmp(a->dtype, b->dtype) == 0 && strcmp(a->act, b->act) == 0 &&
         a->model_dim == b->model_dim && a->inter_dim == b->inter_dim &&
         a->experts == b->experts && a->topk == b->topk;
}

static void summary_row(FILE *f, const pt_query_set_t *set, const pt_query_series_t *s) {
  view_t v;
  if (make_view(s, INT_MAX, &v) != PT_OK) {
    free_view(&v);
    return;
  }
  size_t changes = 0;
  for (size_t i = 1; i < v.n; i++)
    changes += strcmp(v.pts[i]->vars[v.pts[i]->pick].spec,
                      v.pts[i - 1]->vars[v.pts[i - 1]->pick].spec) != 0;
  fputs("<tr><td>", f);
  html(f, s->arch);
  fputs("</td><td><a href=\"#", f);
  series_anchor(f, s);
  fputs("\">", f);
  html(f, s->family);
  fputs("</a></td><td>", f);
  html(f, s->dtype);
  fputs("</td><td>", f);
  html(f, s->stage);
  fprintf(f, "</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td><td class=\"n\">",
          v.n, v.nlines - (v.fixed.spec && find_line(&v, v.fixed.spec)->wins == 0), changes);
  fprintf(f, "%zu</td><td>", pt_query_ties(s));
  if (v.fixed.spec) {
    fputs("<code>", f);
    html(f, v.fixed.spec);
    fprintf(f, "</code></td><td class=\"n\">%.3fx", speedup_geomean(&v));
  } else {
    fputs("-</td><td class=\"n\">-", f);
  }
  fprintf(f, "</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td></tr>\n",
          pt_report_count(set, s, 0), pt_report_count(set, s, 1));
  free_view(&v);
}

static void summary(FILE *f, const pt_query_set_t *set) {
  fputs("<h2>Summary</h2>\n<table class=\"sum\"><tr><th>arch</th><th>family</th><th>dtype</th>"
        "<th>stage</th><th>points</th><th>winners</th><th>crossovers</th><th>ties</th>"
        "<th>best fixed variant</th><th>tuned speedup</th><th>failed</th><th>infeasible</th>"
        "</tr>\n", f);
  for (size_t i = 0; i < set->nseries; i++) summary_row(f, set, &set->series[i]);
  fputs("</table>\n", f);
}

/* The arch, family, dtype and stage cells of a series. */
static void series_cells(FILE *f, const pt_query_series_t *s) {
  const char *cells[] = {s->arch, s->family, s->dtype, s->stage};
  for (int c = 0; c < 4; c++) {
    fputs("<td>", f);
    html(f, cells[c]);
    fputs("</td>", f);
  }
}

/* How each point's variants were chosen and how many ran (searches.h). */
static void searches(FILE *f, const pt_query_table_t *t) {
  size_t rows = t != NULL ? pt_query_table_rows(t) : 0;
  if (rows == 0) return;
  fputs("<h2 id=\"searches\">Searches</h2>\n<table class=\"sum\"><tr>", f);
  for (int c = 0; c < PT_QUERY_SEARCHES_COLS; c++) {
    fputs("<th>", f);
    html(f, pt_query_searches_cols[c]);
    fputs("</th>", f);
  }
  fputs("</tr>\n", f);
  for (size_t r = 0; r < rows; r++) {
    fputs("<tr>", f);
    for (int c = 0; c < PT_QUERY_SEARCHES_COLS; c++) {
      char buf[64];
      const char *v = pt_query_table_cell(t, r, c, buf, sizeof buf);
      fputs("<td>", f);
      html(f, v[0] != '\0' ? v : "-");
      fputs("</td>", f);
    }
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
}

static void failures(FILE *f, const pt_query_set_t *set, int max) {
  size_t nfailed = pt_report_count(set, NULL, 0), shown = 0;
  fprintf(f, "<h2 id=\"failures\">Failures (%zu)</h2>\n", nfailed);
  if (nfailed == 0) {
    fputs("<p>Every result that ran is ok.</p>\n", f);
    return;
  }
  fputs("<table class=\"fail\"><tr><th>arch</th><th>family</th><th>dtype</th><th>stage</th>"
        "<th>tokens</th><th>variant</th><th>status</th><th>reason</th><th>device</th></tr>\n",
        f);
  for (size_t i = 0; i < set->nfailures && shown < (size_t)max; i++) {
    const pt_query_failure_t *x = &set->failures[i];
    if (is_infeasible(x)) continue;
    shown++;
    fputs("<tr>", f);
    series_cells(f, x->series);
    fprintf(f, "<td class=\"n\">%d</td><td><code>", x->tokens);
    html(f, x->spec);
    fputs("</code></td><td class=\"st\">", f);
    html(f, x->status);
    fputs("</td><td>", f);
    html(f, x->reason ? x->reason : "");
    fputs("</td><td>", f);
    html(f, x->device);
    fputs("</td></tr>\n", f);
  }
  fputs("</table>\n", f);
  if (nfailed > shown)
    fprintf(f, "<p>%zu more; see <code>pipetune query failures</code>.</p>\n",
            nfailed - shown);
}

/* Infeasible results by series and variant, then tokens. */
static int infeasible_cmp(const void *pa, const void *pb) {
  const pt_query_failure_t *a = *(const pt_query_failure_t *const *)pa,
                           *b = *(const pt_query_failure_t *const *)pb;
  if (a->series != b->series) return a->series < b->series ? -1 : 1;
  int c = strcmp(a->spec, b->spec);
  if (c != 0) return c;
  return (a->tokens > b->tokens) - (a->tokens < b->tokens);
}

/* One row per series and variant: the token counts where it is infeasible
 * and the first reason. rows[lo..hi) are that group. */
static void infeasible_row(FILE *f, const pt_query_failure_t *const *rows, size_t lo,
                           size_t hi) {
  fputs("<tr>", f);
  series_cells(f, rows[lo]->series);
  fputs("<td><code>", f);
  html(f, rows[lo]->spec);
  fputs("</code></td><td>", f);
  for (size_t i = lo; i < hi; i++) {
    if (i > lo && rows[i]->tokens == rows[i - 1]->tokens) continue;  /* another device */
    fprintf(f, "%s%d", i > lo ? ", " : "", rows[i]->tokens);
  }
  fputs("</td><td>", f);
  html(f, rows[lo]->reason ? rows[lo]->reason : "");
  fputs("</td></tr>\n", f);
}

static int infeasible(FILE *f, const pt_query_set_t *set, int max) {
  size_t n = pt_report_count(set, NULL, 1), k = 0, groups = 0, i, e;
  fprintf(f, "<h2 id=\"infeasible\">Infeasible (not run): %zu</h2>\n", n);
  if (n == 0) return PT_OK;
  const pt_query_failure_t **rows = malloc(n * sizeof *rows);
  if (rows == NULL) return PT_ENOMEM;
  for (i = 0; i < set->nfailures; i++)
    if (is_infeasible(&set->failures[i])) rows[k++] = &set->failures[i];
  qsort(rows, n, sizeof *rows, infeasible_cmp);
  fputs("<p>The device cannot hold these variants (their reason says which limit they "
        "break): they were never run, and are no failures.</p>\n<table class=\"fail\">"
        "<tr><th>arch</th><th>family</th><th>dtype</th><th>stage</th><th>variant</th>"
        "<th>token counts</th><th>reason</th></tr>\n", f);
  for (i = 0; i < n; i = e, groups++) {
    for (e = i + 1; e < n && rows[e]->series == rows[i]->series &&
                    strcmp(rows[e]->spec, rows[i]->spec) == 0;
         e++)
      continue;
    if (groups < (size_t)max) infeasible_row(f, rows, i, e);
  }
  fputs("</table>\n", f);
  if (groups > (size_t)max)
    fprintf(f, "<p>%zu more variants; see <code>pipetune query failures</code>.</p>\n",
            groups - (size_t)max);
  free(rows);
  return PT_OK;
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px;"
    "border-bottom:1px solid #ddd}h3{font-size:15px;margin:4px 0}"
    ".prov{color:#555;margin:0}.prov code{font-size:12px}"
    ".group{display:grid;grid-template-columns:repeat(2,560px);gap:12px 24px}"
    ".stage{border:1px solid #e3e3e3;border-radius:6px;padding:8px 10px}"
    ".meta{color:#666;margin:2px 0;font-size:12px}"
    "svg.plot{display:block}.grid{stroke:#eee;stroke-width:1}"
    ".frame{fill:none;stroke:#999;stroke-width:1}.tick{font-size:10px;fill:#555}"
    ".tie{fill:#fff;stroke:#000;stroke-width:1}.label{font-size:11px;fill:#444}.band{font-size:10px;fill:#fff;font-weight:bold}"
    ".series{fill:none;stroke-width:1.6}.tuned{fill:none;stroke:#111;stroke-width:2.4;"
    "stroke-dasharray:6 3}"
    ".legend{margin:4px 0 6px;padding-left:20px;font-size:11px}.legend code{font-size:10.5px}"
    ".sw{display:inline-block;width:14px;height:8px;margin-right:6px;vertical-align:middle}"
    ".tunedsw{border-top:2px dashed #111;height:0}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;"
    "padding:2px 6px;text-align:left}th{background:#f4f4f4}td.n{text-align:right}"
    "td.st{color:#b00}table code{font-size:11px}\n";

static void head(FILE *f, const pt_query_set_t *set, const pt_report_opts_t *o) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
        "pipetune report: ", f);
  html(f, set->source);
  fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>pipetune report: ", style);
  html(f, set->source);
  fprintf(f, "</h1>\n<p class=\"prov\">database digest <code>xxh3-128 %s</code>; %zu results, "
             "measured ", set->digest, set->nrows);
  html(f, set->first ? set->first : "-");
  fputs(" to ", f);
  html(f, set->last ? set->last : "-");
  fputs("; regime ", f);
  html(f, set->regime);
  fputs(", routing ", f);
  html(f, set->routing);
  fputs("</p>\n<p class=\"prov\">devices: ", f);
  for (size_t i = 0; i < set->ndevices; i++) {
    if (i) fputs(", ", f);
    html(f, set->devices[i]);
  }
  fputs("; generated by pipetune " PACKAGE_VERSION, f);
  if (o && o->timestamp) {
    fputs(" at ", f);
    html(f, o->timestamp);
  }
  fputs("</p>\n", f);
}

int pt_report_write(const pt_query_set_t *set, const pt_report_opts_t *o, FILE *f,
                    pt_err_t *err) {
  int max = o && o->max_variants > 0 ? o->max_variants : 6;
  int maxf = o && o->max_failures > 0 ? o->max_failures : 500;
  int rc = PT_OK;
  head(f, set, o);
  if (set->nseries == 0) fputs("<p>No results match this selection.</p>\n", f);
  else summary(f, set);
  for (size_t i = 0, e; rc == PT_OK && i < set->nseries; i = e) {
    const pt_query_series_t *s = &set->series[i];
    fputs("<h2>", f);
    html(f, s->family);
    fputs(" ", f);
    html(f, s->dtype);
    fputs(" on ", f);
    html(f, s->arch);
    fprintf(f, " <span class=\"meta\">H %d, I %d, E %d, top-k %d, ", s->model_dim,
            s->inter_dim, s->experts, s->topk);
    html(f, s->act);
    fputs("</span></h2>\n<div class=\"group\">\n", f);
    for (e = i; rc == PT_OK && e < set->nseries && same_group(s, &set->series[e]); e++)
      rc = series_section(f, set, &set->series[e], max);
    fputs("</div>\n", f);
  }
  /* after the plots: one row per point, a long table */
  if (rc == PT_OK) searches(f, o != NULL ? o->searches : NULL);
  if (rc == PT_OK) {
    failures(f, set, maxf);
    rc = infeasible(f, set, maxf);
  }
  if (rc != PT_OK) return pt_err_set(err, rc, "out of memory");
  fputs("</body>\n</html>\n", f);
  if (fflush(f) != 0 || ferror(f)) return pt_err_set(err, PT_EIO, "write failed");
  return PT_OK;
}
