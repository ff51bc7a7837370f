/* `pipetune tune --pairs`: the plan of the deployed pairs. At each problem
 * of the grid plan (family x dtype x tokens), the (gemm1, gemm2) pair that
 * the database's generated table picks there for the arch (emit.h:
 * pt_emit_build, pt_emit_find_family, then pt_emit_pick: the one winner
 * selection), timed as it ships (one sort with sbm = max(bm1, bm2)). */
#ifndef PT_TUNEPAIRS_H
#define PT_TUNEPAIRS_H

#include <stddef.h>

#include "error.h"
#include "plan.h"

/* Fills *out (pt_plan_pairs) from the table of the database at db, on arch
 * (NULL: the one arch the database holds results of; its name goes to
 * arch_out), for routing (NULL: uniform) and the regime (warm or cold).
 * PT_EINVAL naming the culprit for a missing or damaged database, an arch
 * it lacks or several archs without one named, and a problem the table has
 * no entry for (its family untuned on the arch). */
int pt_tunepairs_plan(const char *db, const char *arch, const char *routing, int warm,
                      const pt_plan_t *grid, pt_plan_t *out, char *arch_out,
                      size_t arch_len, pt_err_t *err);

#endif
