/* The tuner's work plan (DESIGN §7): family x dtype x tokens x stage x
 * variant, in a deterministic order.
 *
 * Problems (family, dtype, tokens) come in the order of the family set, the
 * family's dtypes and ascending tokens; a worker sets up a problem's inputs
 * once and measures all its candidates on them. Within a problem the
 * candidates (both stages' variants) are shuffled by a permutation seeded
 * from the problem, so that neighbours in knob order are not timed back to
 * back: a slow drift of clocks or temperature then shows up as noise spread
 * over the space instead of a bias along one knob. The same request always
 * gives the same plan, on every host, which is what --shard i/N relies on.
 */
#ifndef PT_PLAN_H
#define PT_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "error.h"
#include "family.h"
#include "knobs.h"
#include "moe.h"
#include "routing.h"

/* What to tune; the CLI's options. */
typedef struct pt_plan_req_s {
  const char *family;          /* NULL: every family of the set */
  int dtype;                   /* a pt_dtype_t, or -1 for each family's dtypes */
  const int *tokens;           /* NULL: each family's token grid */
  int ntokens;
  int stage;                   /* a pt_stage_t, or -1 for both */
  const char *const *variants; /* specs (see pt_plan_variants); NULL: "pruned" */
  int nvariants;
  int shard, nshards;          /* this host's share: item k if k % nshards == shard */
  int holdout;                 /* the midpoints of the token grid instead
                                  (pt_plan_midpoints): tune --holdout */
} pt_plan_req_t;

/* The built-in smoke plan: gptoss-120b, a16w4, tokens 1, 16, 128 and 1024,
 * both stages, the pruned variants. */
void pt_plan_req_smoke(pt_plan_req_t *req);

typedef struct pt_plan_problem_s {
  const pt_family_t *family;   /* in the set the plan was built from */
  pt_moe_shape_t shape;
  int tokens;
} pt_plan_problem_t;

typedef struct pt_plan_item_s {
  int problem;                 /* index into problems */
  pt_variant_t variant;        /* stage included */
} pt_plan_item_t;

typedef struct pt_plan_s {
  pt_plan_problem_t *problems;
  int nproblems;
  pt_plan_item_t *items;       /* this shard's items, in plan order */
  size_t nitems;
  size_t ntotal;               /* items of the whole plan, every shard */
  int nvariants[PT_STAGE_COUNT];  /* candidates per problem and stage */
  int pairs;                   /* items 2k (gemm1) and 2k+1 (gemm2) are timed
                                  together as one pair (pt_plan_pairs) */
} pt_plan_t;

/* Builds the plan of req over set (which must outlive the plan). PT_EINVAL
 * naming the option for an unknown family, a dtype the family lacks, a bad
 * token count, a bad variant spec, a bad shard, or an empty plan. */
int pt_plan_build(const pt_family_set_t *set, const pt_plan_req_t *req,
                  pt_plan_t *out, pt_err_t *err);
void pt_plan_free(pt_plan_t *plan);

/* A plan of base's problems (copied) and the n given items, every shard's:
 * grouped by problem in problem order, each problem's shuffled as
 * pt_plan_build shuffles them (a search round: searchrun.h). nvariants
 * stays 0. */
int pt_plan_of_items(const pt_plan_t *base, const pt_plan_item_t *items, size_t n,
                     pt_plan_t *out, pt_err_t *err);

/* The plan of the deployed pairs: problem i of grid (every shard's) with
 * the pair g1[i], g2[i] (gemm1 and gemm2 variants), as items 2i and 2i+1.
 * PT_EINVAL for a variant of the wrong stage. */
int pt_plan_pairs(const pt_plan_t *grid, const pt_variant_t *g1, const pt_variant_t *g2,
                  pt_plan_t *out, pt_err_t *err);

/* The database's record of problem i of plan, its inputs drawn with routing
 * r and seed: the one mapping the tuner stores and `plan check` looks up.
 * The strings point into plan's family set or are literals. */
void pt_plan_db_problem(const pt_plan_t *plan, int i, const pt_routing_t *r,
                        uint64_t seed, pt_db_problem_t *out);

/* Expands variant specs for stage into a malloc'd array (*out, *n), first
 * occurrence first, duplicates dropped. A spec is one of
 *   "pruned"   the default list: bm 16..128 x bn 64, 128 x nt 0, 1
 *              (x k_wave 1, 2 for gemm1, x epilog for gemm2)
 *   "all"      the stage's whole enumerated space
 *   "bm=16|32,bn=128,..."  knob values with '|' alternatives: their product
 * A spec naming a knob only the other stage has adds nothing to this stage;
 * *n may then be 0. PT_EINVAL naming the spec when it is malformed, names
 * an unknown knob or value, or its product is over 100000 variants. */
int pt_plan_variants(pt_stage_t stage, const char *const *specs, int nspecs,
                     pt_variant_t **out, int *n, pt_err_t *err);

/* "1,16,128": strictly increasing positive counts, into a malloc'd array
 * (pt_num_parse_long's rule: no whitespace or sign). PT_EINVAL naming the
 * bad entry. */
int pt_plan_parse_tokens(const char *list, int **out, int *n, pt_err_t *err);

/* The held-out token counts of grid t[0..n) (strictly increasing): the
 * geometric midpoint of each two neighbours, rounded to the nearest integer
 * (round(sqrt(a*b))), without duplicates and without grid counts, into
 * out[0..*nout) (room for n entries). 1,2,4,8 gives 3,6. */
void pt_plan_midpoints(const int *t, int n, int *out, int *nout);

/* The shard of nshards that item k of the whole plan belongs to. */
int pt_plan_shard_of(size_t k, int nshards);

/* "i/N" with 0 <= i < N. PT_EINVAL otherwise. */
int pt_plan_parse_shard(const char *s, int *shard, int *nshards,
                        pt_err_t *err);

#endif
