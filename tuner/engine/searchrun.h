/* The rounds of a search over a plan's problems (issue 12): one search
 * (search.h) per problem and stage of this shard, advanced together. Each
 * round gathers every search's next candidates and hands them to a
 * measuring backend in one batch: the GPU tuner (the supervisor, every GPU
 * of the host: tune.h) or recorded measurements (tests/test_search.c). So
 * the strategy a test replays is the one `pipetune tune` runs.
 *
 * Shards: search k (problems in plan order, each problem's stages in
 * order) is this host's when k % nshards == shard; a search never needs
 * another's results, so a shard finds what one host would.
 */
#ifndef PT_SEARCHRUN_H
#define PT_SEARCHRUN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "plan.h"
#include "search.h"

/* One candidate of a round: PENDING in, settled by the backend. */
typedef struct pt_searchrun_item_s {
  int problem;                 /* index into the plan's problems */
  pt_variant_t variant;
  pt_search_state_t state;
  double median_us;
} pt_searchrun_item_t;

/* Measures the round's n items (settles each it can) and sets *stop when
 * the run must end after this round (a signal, the budget): items may then
 * stay pending. round counts from 0. */
typedef int (*pt_searchrun_measure_fn)(void *ud, int round, pt_searchrun_item_t *items,
                                       size_t n, int *stop, pt_err_t *err);

typedef struct pt_searchrun_opts_s {
  const pt_plan_t *plan;       /* its problems (its items are not used) */
  pt_search_kind_t kind;
  const char *const *specs;    /* PT_SEARCH_SPEC */
  int nspecs;
  int stage;                   /* a pt_stage_t, or -1 for both */
  int max_evals;               /* per problem and stage; 0: none */
  uint64_t seed;
  int shard, nshards;
  pt_searchrun_measure_fn measure;
  void *ud;
} pt_searchrun_opts_t;

typedef struct pt_searchrun_s {
  pt_search_t *searches;       /* this shard's, in search order */
  int *problem;                /* [search]: its problem */
  int n;
  int rounds;                  /* rounds measured */
  int stopped;                 /* the backend stopped the run */
} pt_searchrun_t;

/* Runs the rounds until every search is over or the backend stops; out
 * holds the searches either way (free it with pt_searchrun_free). */
int pt_searchrun_run(const pt_searchrun_opts_t *o, pt_searchrun_t *out, pt_err_t *err);
void pt_searchrun_free(pt_searchrun_t *r);

/* The search index of problem's stage when req_stage (a pt_stage_t, or -1
 * for both) is tuned: its shard is pt_plan_shard_of(index, nshards). */
int pt_searchrun_index(int problem, pt_stage_t stage, int req_stage);

/* The first round of every search of o (shard and measure ignored) as a
 * plan: what `plan check` looks for. */
int pt_searchrun_first(const pt_searchrun_opts_t *o, pt_plan_t *out, pt_err_t *err);

#endif
