/* The GPU tuner as the measuring backend of a search (searchrun.h): each
 * round is a run of the supervisor (every GPU of the host) over the
 * round's items, and its results are read back from the database. Items
 * the database holds already (a resumed run deriving its rounds again) are
 * answered from it; after the first round nothing is refused as already
 * measured. A round that ends early (signal, budget) stops the search. */
#ifndef PT_SEARCHSUP_H
#define PT_SEARCHSUP_H

#include "searchrun.h"
#include "supervisor.h"

typedef struct pt_searchsup_s {
  pt_sup_opts_t sup;           /* the runs' options; plan and resume are set per round */
  const pt_plan_t *plan;       /* the problems */
  pt_search_kind_t kind;
  int max_evals;
  pt_sup_summary_t sum;        /* the rounds' runs added up (end: the last one's) */
  int rounds_run;              /* rounds that needed the supervisor */
} pt_searchsup_t;

/* A pt_searchrun_measure_fn; ud is a pt_searchsup_t with sup, plan and
 * sum zeroed before the first round. */
int pt_searchsup_measure(void *ud, int round, pt_searchrun_item_t *items, size_t n,
                         int *stop, pt_err_t *err);

/* Records each search of r in the database (strategy, rounds, candidates,
 * finished or not) under the arch of the runs, in one transaction; with r
 * NULL, every problem and stage of ss->plan as one round of its variants
 * (a tune without rounds: ss->sum is its summary). Nothing without a GPU. */
int pt_searchsup_record(pt_searchsup_t *ss, const pt_searchrun_t *r, pt_err_t *err);

#endif
