/* The options of `pipetune tune`, shared with `pipetune plan check` so that
 * a tune command line checks unchanged: the table, the checks of the
 * numbers, and the plan request they name (DESIGN §7). */
#ifndef PT_TUNEOPTS_H
#define PT_TUNEOPTS_H

#include "error.h"
#include "family.h"
#include "opts.h"
#include "plan.h"

typedef struct pt_tuneopts_s {
  const char *family, *grid, *dtype, *tokens, *stage, *db, *gpus, *budget;
  const char *shard, *arch, *routing;
  pt_strlist_t variants;
  int jobs, resume, warm, seed, timeout, min_samples, min_ms, compile_only;
  int holdout, retune;
} pt_tuneopts_t;

#define PT_TUNEOPTS_COUNT 22  /* entries pt_tuneopts_table fills */

/* Sets the defaults (seed 1, the rest unset). */
void pt_tuneopts_init(pt_tuneopts_t *a);
/* Fills opts[0..PT_TUNEOPTS_COUNT) with tune's options bound to a; the
 * caller appends its own and PT_OPT_END(). */
void pt_tuneopts_table(pt_tuneopts_t *a, pt_opt_t *opts);
void pt_tuneopts_free(pt_tuneopts_t *a);

/* Checks the numeric options (*budget gets --budget in seconds, 0 when
 * unset), loads the families of --grid (or the built-in ones) into set and
 * fills req; req->tokens points to *tokens (free it after pt_plan_build).
 * PT_EINVAL naming the option otherwise. */
int pt_tuneopts_request(const pt_tuneopts_t *a, pt_family_set_t *set, pt_plan_req_t *req,
                        int **tokens, double *budget, pt_err_t *err);

#endif
