/* Result sets read from a pipetune database for the outputs (DESIGN §8):
 * `query best|crossovers|compare|failures`, `diff`, `emit` and `report` all
 * work from one in-memory view of the measurements, loaded once.
 *
 * A set holds series: one per (arch, family, shape, dtype, act, stage) for
 * one regime and routing. A series has one point per measured token count;
 * a point has one entry per variant (its fastest ok result over the arch's
 * devices, or its failure) and names the winner of the database's `best`
 * view, so every output agrees with `pipetune query best`.
 *
 * The query functions fill a pt_query_table_t (typed cells), which prints as
 * an aligned table, CSV (RFC 4180) or JSON (an array of objects).
 */
#ifndef PT_QUERY_H
#define PT_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* ---- loading ---- */

/* tie_tol: a challenger beats the incumbent only by more than this (see
 * "Noise-aware picks" below). */
#define PT_QUERY_TIE_AUTO (-1.0)  /* from the data: the two results' spreads */

/* Restricts what is loaded; NULL strings match everything, except regime
 * ("cold" when NULL) and routing ("uniform" when NULL). */
typedef struct pt_query_filter_s {
  const char *arch, *family, *dtype, *stage;
  const char *regime;    /* "cold" or "warm" */
  const char *routing;   /* "uniform" or "zipf" */
  double routing_param;  /* zipf exponent; 0 for uniform */
  const char *device;    /* only results of this device model (devices.name) */
  double tie_tol;        /* fraction of the fastest median, or PT_QUERY_TIE_AUTO;
                            0 (the default): picks are the fastest, no ties */
  int with_holdout;      /* also held-out results (never a point's winner) */
} pt_query_filter_t;

/* One variant at one point. status is "ok" when the variant has an ok
 * result there and never failed verification on a device of the arch
 * (the `best` view's rule); the times are then its fastest ok result. */
typedef struct pt_query_var_s {
  const char *spec;      /* canonical spelling, as stored */
  const char *status;    /* "ok", "verify_fail", "compile_fail", ... */
  const char *reason;    /* why it is not ok; NULL when ok or unknown */
  const char *device;    /* the device of the result kept */
  double median_us, min_us, p90_us, spread, floor_us;  /* NaN when not ok */
  int samples;
} pt_query_var_t;

typedef struct pt_query_point_s {
  int tokens;
  int best;              /* index in vars of the best view's winner; -1: none */
  int pick;              /* the noise-aware pick (the generated table's); -1:
                            none; a tie where pick != best */
  pt_query_var_t *vars;  /* ok ones first by median (then spec), failures by spec */
  size_t nvars, nok;
} pt_query_point_t;

typedef struct pt_query_series_s {
  const char *arch, *family, *dtype, *act, *stage;
  int model_dim, inter_dim, experts, topk;
  pt_query_point_t *points;  /* by tokens */
  size_t npoints;
} pt_query_series_t;

/* One non-ok row of the results view, as stored (not merged per variant). */
typedef struct pt_query_failure_s {
  const pt_query_series_t *series;
  int tokens;
  const char *spec, *status, *reason, *device;
} pt_query_failure_t;

/* One timing of a table's (gemm1, gemm2) pair as it ships (db.h "the
 * deployed pair"), as stored: one per device. */
typedef struct pt_query_pair_s {
  const char *arch, *device, *family, *dtype, *act;
  int model_dim, inter_dim, experts, topk, tokens, sbm;
  const char *g1_spec, *g2_spec, *status, *reason;
  double median_us, min_us, p90_us, spread;  /* NaN unless ok */
  int samples;
} pt_query_pair_t;

/* A device model (devices.name) and its arch. */
typedef struct pt_query_model_s {
  const char *name, *arch;
} pt_query_model_t;

typedef struct pt_query_set_s {
  const char *source;        /* the database's file name, without directories */
  char digest[33];           /* pt_db_digest() of the whole database */
  const char *regime, *routing;
  double routing_param;
  const char **devices;      /* "NAME (ARCH)", distinct, sorted */
  size_t ndevices;
  const char *device;        /* the device model loaded (filter), or NULL: all */
  pt_query_model_t *models;  /* device models with results, by arch, name */
  size_t nmodels;
  double tie_tol;            /* the filter's */
  const char **tool_versions;  /* distinct, sorted */
  size_t ntool_versions;
  const char *first, *last;  /* range of the results' created times; NULL if none */
  pt_query_series_t *series; /* by arch, family, shape, dtype, act, stage */
  size_t nseries;
  pt_query_failure_t *failures;  /* in series order, then tokens, spec, device */
  size_t nfailures;
  pt_query_pair_t *pairs;    /* pair timings of the selection, in the db's order */
  size_t npairs;
  size_t nrows;              /* results rows read */
  /* What the database holds whatever the filter: the archs, families,
   * dtypes and device models with at least one result, sorted. */
  const char **archs, **families, **dtypes, **held_devices;
  size_t narchs, nfamilies, ndtypes, nheld_devices;
  void *mem;                 /* the set's allocations */
} pt_query_set_t;

/* Reads the database at path (which must exist; it is never written) into
 * *out (free with pt_query_free). With f->device set, only that model's
 * results are read and a point's best is the best view's rule over them
 * (lowest median, then min, then spec); otherwise the best view's row.
 * Every point's pick is then set by the tie rule (pt_query_picks). Reads
 * f may be NULL. PT_EINVAL for a bad filter
 * value, for an arch, family or dtype the database holds no result of
 * (pt_query_check_held), and for a damaged or tampered database (the db
 * module checks every value read); the db module's other errors for the
 * file itself. A filter naming what the database holds but matching
 * nothing (another regime or routing) gives an empty set, not an error. */
int pt_query_load(const char *path, const pt_query_filter_t *f,
                  pt_query_set_t **out, pt_err_t *err);
void pt_query_free(pt_query_set_t *set);

/* PT_OK when value (may be NULL) is one of set's held archs, families,
 * dtypes or device models (what: "arch", "family", "dtype", "device");
 * PT_EINVAL naming what it holds
 * otherwise: "no results for family 'x' in 'a.db' (it holds a, b)". */
int pt_query_check_held(const pt_query_set_t *set, const char *what,
                        const char *value, pt_err_t *err);

/* Parses a routing spec by routing.h's one rule into f->routing (the kind's
 * name, a literal) and f->routing_param (the exponent, 0 for uniform).
 * PT_EINVAL quoting s otherwise. */
int pt_query_parse_routing(const char *s, pt_query_filter_t *f, pt_err_t *err);

/* Parses a --tie-tol value into f->tie_tol: "auto" (PT_QUERY_TIE_AUTO) or
 * a percentage >= 0 ("0.5", "0.5%"). PT_EINVAL quoting s otherwise. */
int pt_query_parse_tie_tol(const char *s, pt_query_filter_t *f, pt_err_t *err);

/* ---- analysis ---- */

/* Noise-aware picks: sets every point's pick in each series of set. At a
 * point, a variant ties with the fastest (best) when its median exceeds the
 * fastest's by no more than the tolerance: tie_tol times the fastest's
 * median, or with PT_QUERY_TIE_AUTO the two results' spreads added up
 * (spread x median of each, the MAD in us; a NULL spread counts 0). The
 * picks of a series are then, among the tying variants of each point, the
 * sequence with (1) the fewest runs of one pick (an interval that exists
 * only through a tie merges with its neighbour), (2) the most points
 * picking their fastest, (3) the least pt_knobs_distance summed over the
 * points (the simpler config), (4) the first in the points' variant order.
 * With tie_tol 0 every pick is the best. PT_ENOMEM, or PT_EINVAL for a
 * stored spec that does not parse. */
int pt_query_picks(pt_query_set_t *set, double tie_tol, pt_err_t *err);

/* Points of s whose pick is not their fastest. */
size_t pt_query_ties(const pt_query_series_t *s);

/* The variant that does best over a list of points as one fixed choice
 * (CLBlast's rule for defaults): the most points with an ok result, then
 * the lowest geometric mean of its time relative to each point's best,
 * then the smaller spec. Points without a winner are ignored. */
typedef struct pt_query_fixed_s {
  const char *spec;
  size_t covered;   /* points where it has an ok result */
  size_t points;    /* points with a winner */
  double geomean;   /* >= 1; 1 when it wins every covered point */
} pt_query_fixed_t;

/* Fills *out over pts[0..n), leaving out the variant spelled exclude (may
 * be NULL). PT_ENOENT when no variant has an ok result at any point. */
int pt_query_fixed(const pt_query_point_t *const *pts, size_t n,
                   const char *exclude, pt_query_fixed_t *out);

/* The token counts the measured point i of a token grid stands for, by the
 * rule the generated table uses: a token count m goes to the measured count
 * nearest to it in log scale, the smaller on a tie; that is, point i covers
 * (floor(sqrt(t[i-1]*t[i])), floor(sqrt(t[i]*t[i+1]))], from 1 for the first
 * point and up to INT_MAX for the last. t must be strictly increasing. */
void pt_query_interval(const int *t, size_t n, size_t i, int *lo, int *hi);

/* floor(sqrt(a*b)) for positive a, b, exactly. */
int pt_query_geo_mid(int a, int b);

/* ---- tables ---- */

typedef enum {
  PT_QUERY_TABLE = 0,  /* aligned columns for a terminal */
  PT_QUERY_CSV,
  PT_QUERY_JSON,
} pt_query_format_t;

/* "table", "csv", "json"; returns 0 and sets *out, or -1 if unknown. */
int pt_query_format_parse(const char *s, pt_query_format_t *out);

typedef struct pt_query_table_s pt_query_table_t;

/* A table with ncols named columns; cells are appended row by row. */
int pt_query_table_new(const char *const *cols, int ncols,
                       pt_query_table_t **out, pt_err_t *err);
void pt_query_table_free(pt_query_table_t *t);
size_t pt_query_table_rows(const pt_query_table_t *t);
/* Appends one cell (the string is copied; NULL is a null cell). A double is
 * printed with prec decimals; NaN is a null cell. */
int pt_query_table_str(pt_query_table_t *t, const char *s);
int pt_query_table_int(pt_query_table_t *t, long long v);
int pt_query_table_num(pt_query_table_t *t, double v, int prec);
/* The cell at row r, column c as text ("" for null), for tests. */
const char *pt_query_table_cell(const pt_query_table_t *t, size_t r, int c,
                                char *buf, size_t len);
/* Prints t. PT_EIO when writing f fails, PT_ENOMEM. */
int pt_query_table_print(const pt_query_table_t *t, pt_query_format_t fmt,
                         FILE *f, pt_err_t *err);

/* ---- the query commands' tables ---- */

/* Each fills a new table (*out, free with pt_query_table_free). */

/* One row per point with a winner: series, tokens, winner spec and times,
 * then the pick and, at a tie, how much slower it is than the winner (%). */
int pt_query_best(const pt_query_set_t *set, pt_query_table_t **out,
                  pt_err_t *err);

/* One row per run of consecutive measured points with the same winner:
 * measured tokens first..last, the token interval the generated table gives
 * it (pt_query_interval), the winner, the runner-up over the run
 * (pt_query_fixed without the winner) and its margin in percent (how much
 * slower, as a geometric mean over the run's points). The runs are of the
 * picks (the generated table's intervals); ties counts the run's points
 * whose pick is not their fastest. */
int pt_query_crossovers(const pt_query_set_t *set, pt_query_table_t **out,
                        pt_err_t *err);

/* Variants a and b side by side at every point where either was measured,
 * in every series of a stage whose knobs both specs spell (they are
 * compared in canonical form, so "bm=64" matches the stored spelling).
 * ratio = b/a median. PT_EINVAL when a spec is malformed for every stage. */
int pt_query_compare(const pt_query_set_t *set, const char *a, const char *b,
                     pt_query_table_t **out, pt_err_t *err);

/* Every non-ok result. */
int pt_query_failures(const pt_query_set_t *set, pt_query_table_t **out,
                      pt_err_t *err);

/* One row per pair timing: the pair, its time (pair_us, its spread), the
 * medians of the two stage winners at the same point (each point's pick,
 * the variant the generated table ships; each timed on a sort with its own
 * sbm), their sum and pair_us / sum. */
int pt_query_pairs(const pt_query_set_t *set, pt_query_table_t **out, pt_err_t *err);

/* Two runs of one database compared item by item (`query runs`): run b's
 * median over run a's where both are ok. */
typedef struct pt_query_runs_stats_s {
  int64_t a, b;             /* the runs compared */
  size_t items, compared;   /* items of both runs; of which ok in both */
  double geomean, min, max; /* of the ratios b/a; NaN when none */
} pt_query_runs_stats_t;

/* One row per item that runs a and b (0: pt_db_run_pairs's defaults) of
 * the database at path both measured, held-out results included: series,
 * tokens, spec, device, both statuses and medians, ratio = b/a. PT_EINVAL
 * for a file without run history or a run without results. */
int pt_query_runs(const char *path, const pt_query_filter_t *f, int64_t a, int64_t b,
                  pt_query_table_t **out, pt_query_runs_stats_t *stats, pt_err_t *err);

/* What a diff found: points compared (in both databases), of which
 * regressions (regression and lost), and points only in a ("missing") or
 * only in b ("new"). */
typedef struct pt_query_diff_stats_s {
  size_t compared, regressions, only_a, only_b;
} pt_query_diff_stats_t;

/* Compares the winners of two databases point by point. verdict per point:
 * "regression" (b's best slower than a's by more than threshold_pct),
 * "improvement" (faster by more), "same", "lost" (a had an ok result, b's
 * point has none), "missing" (a's point absent from b), "new" (b only, or
 * b's winner where a had none). *stats counts them. */
int pt_query_diff(const pt_query_set_t *a, const pt_query_set_t *b,
                  double threshold_pct, pt_query_table_t **out,
                  pt_query_diff_stats_t *stats, pt_err_t *err);

#endif
