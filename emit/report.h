/* The HTML report (DESIGN §8): one self-contained page (inline CSS and SVG,
 * no script, nothing fetched) drawn from a result set.
 *
 * For every arch, family and dtype, and each stage:
 *   - median time against tokens, log-log, for the leading variants (every
 *     variant the table picks at a point, and the best fixed variant of
 *     pt_query_fixed), with the tuned table (each point's noise-aware pick,
 *     pt_query_picks) drawn over them;
 *   - under it, the winner bands: the token intervals the generated table
 *     gives each pick (split at geometric midpoints, as emit does), with a
 *     diamond at each tie (the pick is not the point's fastest);
 *   - the speedup of the tuned table over the best fixed variant per token
 *     count, and its geometric mean;
 * then a summary table of all series, the failures with their reasons, and
 * apart from them the infeasible variants (never run: the device cannot
 * hold them), one row per series and variant.
 * The same set gives the same bytes unless a timestamp is asked for.
 */
#ifndef PT_REPORT_H
#define PT_REPORT_H

#include <stdio.h>

#include "error.h"
#include "query.h"

typedef struct pt_report_opts_s {
  int max_variants;       /* lines per plot (winners first); 0: 6 */
  int max_failures;       /* failure rows listed; 0: 500 */
  const char *timestamp;  /* shown in the header; NULL: none */
} pt_report_opts_t;

/* The failed (infeasible 0) or infeasible (1) results of set in series s,
 * or in every series when s is NULL: the page's one rule for keeping
 * infeasible variants (never run) apart from failures. */
size_t pt_report_count(const pt_query_set_t *set, const pt_query_series_t *s,
                       int infeasible);

/* Writes the page for set to f. o may be NULL. PT_EIO when writing fails. */
int pt_report_write(const pt_query_set_t *set, const pt_report_opts_t *o, FILE *f,
                    pt_err_t *err);

#endif
