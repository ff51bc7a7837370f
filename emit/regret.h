/* How far a generated table's picks are from the best measured at token
 * counts it was not tuned on (DESIGN §8, `pipetune query regret`, `tune
 * --holdout`).
 *
 * The table is built from the tuned set by pt_emit_build, so a pick is what
 * the emitted select_pipe_config returns (pt_emit_pick). At every token
 * count of the held-out set that the tuned family did not measure (in
 * either stage), each stage's pick is compared with the point's best ok
 * result: regret = pick median / best median - 1. The pair is gemm1 + gemm2:
 * (pick1 + pick2) / (best1 + best2) - 1, where both stages compare. A pick
 * with no result at the point counts as `pick_missing`, one whose result is
 * not ok (failed, or failed verification on a device) as `pick_failed`;
 * neither enters the figures. Geomean is exp(mean(log(1 + regret))) - 1.
 */
#ifndef PT_REGRET_H
#define PT_REGRET_H

#include "emit.h"
#include "error.h"
#include "query.h"

typedef struct pt_regret_stats_s {
  size_t points;     /* (family, stage, tokens) looked at, pair included */
  size_t compared;   /* of which with a regret */
  double worst_pct;  /* the largest regret of any row, in percent; 0 if none */
} pt_regret_stats_t;

/* One row per family of the table (arch, family, dtype) and part (gemm1,
 * gemm2, pair): points, compared, pick_missing, pick_failed, geomean_pct,
 * worst_pct, worst_tokens. PT_EINVAL naming the file when a family of the
 * table has no results in held, or when held has no token count the table
 * was not tuned on ("no overlap"); PT_ENOENT from pt_emit_build. */
int pt_regret_table(const pt_query_set_t *tuned, const pt_query_set_t *held,
                    pt_query_table_t **out, pt_regret_stats_t *stats, pt_err_t *err);

#endif
