/* Search strategies (issue 12): which variants of one problem and stage get
 * measured, round by round.
 *
 *   exhaustive  every variant of the stage's space (`--variants all`)
 *   pruned      the default list of pt_plan_variants ("pruned")
 *   spec        the variants of explicit `--variants SPEC` lists
 *   adaptive    the pruned list first, then coordinate descent: each round
 *               proposes every one-knob move (any knob, any other value of
 *               the full space) of the PT_SEARCH_LEADERS fastest variants
 *               measured so far that is not measured yet; when the leaders
 *               have no unmeasured neighbour left, their two-knob moves
 *               over the two-valued knobs (leader by leader); it stops when
 *               those are measured too (no move helps)
 *
 * A search is a pure function of the results it was given: the same
 * results give the same rounds, whatever order they came in and on any
 * host. That is how a killed run resumes (the rounds are derived again from
 * the measurements the database holds) and why the replay of recorded
 * measurements (tests/test_search.c) runs this very code. With a
 * measurement budget (max_evals > 0) a round proposes at most what is left
 * of it, counting the candidates not yet settled; the non-adaptive lists
 * are then taken in an order shuffled by the seed (a random sample).
 * Infeasible candidates never count: constraints settle them before
 * anything is compiled.
 */
#ifndef PT_SEARCH_H
#define PT_SEARCH_H

#include <stdint.h>

#include "error.h"
#include "knobs.h"

typedef enum {
  PT_SEARCH_EXHAUSTIVE = 0,
  PT_SEARCH_PRUNED,
  PT_SEARCH_ADAPTIVE,
  PT_SEARCH_SPEC,
  PT_SEARCH_KIND_COUNT
} pt_search_kind_t;

/* The leaders whose one-knob moves a round proposes: 3 finds the
 * exhaustive winner of every recorded point (bench/search/, README). */
#define PT_SEARCH_LEADERS 3

/* "exhaustive", "pruned", "adaptive", "spec"; parse returns 0, or -1. */
const char *pt_search_kind_name(pt_search_kind_t k);
int pt_search_kind_parse(const char *s, pt_search_kind_t *out);

typedef enum {
  PT_SEARCH_PENDING = 0,     /* proposed, no result yet */
  PT_SEARCH_OK,              /* measured: median_us */
  PT_SEARCH_FAILED,          /* run, but no time (verify_fail, crash, ...) */
  PT_SEARCH_INFEASIBLE,      /* the device cannot run it: never launched */
} pt_search_state_t;

typedef struct pt_search_cand_s {
  pt_variant_t v;
  pt_search_state_t state;
  double median_us;
  int round;                 /* the round that proposed it, from 0 */
} pt_search_cand_t;

typedef struct pt_search_s {
  pt_search_kind_t kind;
  pt_stage_t stage;
  int max_evals;             /* 0: no limit */
  pt_variant_t *list;        /* the initial list, in proposal order */
  int nlist, next;           /* next: its first entry not proposed yet */
  pt_search_cand_t *c;       /* every candidate proposed, in order */
  int n, cap;
  int rounds;                /* rounds proposed */
  int finished;              /* the last call to pt_search_next added none */
} pt_search_t;

/* A search of kind for stage: specs are `--variants` specs for
 * PT_SEARCH_SPEC (ignored otherwise); seed orders the lists under a
 * budget. PT_EINVAL for a bad spec (pt_plan_variants' message). */
int pt_search_init(pt_search_t *s, pt_search_kind_t kind, pt_stage_t stage,
                   const char *const *specs, int nspecs, int max_evals, uint64_t seed,
                   pt_err_t *err);
void pt_search_free(pt_search_t *s);

/* Proposes the next round: appends its candidates (PENDING) to s->c and
 * sets *added; 0 when the search is over (s->finished). Candidates still
 * pending count against the budget and are never proposed twice. */
int pt_search_next(pt_search_t *s, int *added, pt_err_t *err);

/* Settles candidate i with its result (median_us read for PT_SEARCH_OK). */
void pt_search_settle(pt_search_t *s, int i, pt_search_state_t state, double median_us);

/* Candidates that were run (ok or failed: infeasible ones never are). */
int pt_search_measured(const pt_search_t *s);
/* The fastest ok candidate (ties: the earlier), or -1. */
int pt_search_best(const pt_search_t *s);

#endif
