/* Searches in the database (issue 12, schema migration 6): which strategy
 * chose the variants measured at each point, and how many were measured.
 * The tuner records one row per problem, stage, regime and arch
 * (pt_db_put_search); `pipetune query searches` and the report read them
 * back with the measured counts (pt_db_searches, the search_summary view's
 * rows; a file older than migration 6 reads with no strategy). */
#ifndef PT_SEARCHES_H
#define PT_SEARCHES_H

#include <stdint.h>

#include "db.h"
#include "query.h"

/* The schema version that added the searches table. */
#define PT_DB_SEARCHES_VERSION 6

typedef struct pt_db_search_s {
  int64_t problem_id;
  const char *stage;           /* "gemm1", "gemm2" */
  pt_db_regime_t regime;
  const char *arch;
  const char *strategy;        /* "exhaustive", "pruned", "adaptive", "spec" */
  int max_evals;               /* 0: no budget */
  int rounds, proposed, finished;
  int64_t run_id;              /* 0: none */
} pt_db_search_t;

/* Records (or replaces) the search of s's point, one transaction. */
int pt_db_put_search(pt_db_t *db, const pt_db_search_t *s);

/* One point as query and report show it. */
typedef struct pt_db_search_row_s {
  const char *arch, *family, *dtype, *act, *stage, *regime, *routing;
  int model_dim, inter_dim, experts, topk, tokens;
  double routing_param;
  int measured, infeasible;    /* variants run / found infeasible */
  const char *strategy;        /* NULL: not recorded */
  int max_evals, rounds, proposed, finished;  /* -1 when strategy is NULL */
} pt_db_search_row_t;

/* Every point with results matching f (may be NULL), ordered by arch,
 * family, dtype, stage, routing, regime, tokens. */
typedef int (*pt_db_search_cb)(void *ud, const pt_db_search_row_t *row);
int pt_db_searches(pt_db_t *db, const pt_db_filter_t *f, pt_db_search_cb cb, void *ud);

/* `pipetune query searches` and the report's section: per point of
 * the database at path matching f (query.h's filter: regime cold and
 * routing uniform when unset), the columns below. */
#define PT_QUERY_SEARCHES_COLS 12
extern const char *const pt_query_searches_cols[PT_QUERY_SEARCHES_COLS];
int pt_query_searches(const char *path, const pt_query_filter_t *f, pt_query_table_t **out,
                      pt_err_t *err);

#endif
