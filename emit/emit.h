/* The generated dispatch table (DESIGN §8): from a result set, the per-arch,
 * per-family token intervals and defaults that `pipetune emit` writes as a
 * self-contained C99 select_pipe_config.c/.h (and export.h as JSON/CSV).
 *
 * Rules (written into the generated file's header comment too):
 * - A pipeline config joins the gemm1 and gemm2 winners (the `best` view)
 *   of a family at a token count; sbm = max(g1.bm, g2.bm).
 * - Each stage's measured token counts split the token axis at geometric
 *   midpoints (pt_query_interval): a token count takes the winner of the
 *   measured count nearest in log scale, the smaller on a tie; below the
 *   smallest and above the largest, the nearest measured count's winner.
 *   Neighbouring intervals with the same winner are merged, so boundaries
 *   fall only between the two counts of a measured crossover.
 * - An arch's default and the global default (for unknown archs) take, for
 *   each stage, the variant of pt_query_fixed over every tuned point of the
 *   arch (of all archs): the best geometric-mean time relative to each
 *   point's best among those measured at the most points.
 * - The generated lookup falls back one level at a time and says so in its
 *   return code: 0 exact family, 1 nearest family of the same dtype on the
 *   arch, 2 arch default, -1 unknown arch (global default), -2 bad argument.
 */
#ifndef PT_EMIT_H
#define PT_EMIT_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "knobs.h"
#include "moe.h"
#include "query.h"

/* SELECT_PIPE_CONFIG_ABI of the generated code: bumped when struct
 * pipe_config, the function's signature or the return codes change. */
#define PT_EMIT_ABI 1

typedef struct pt_emit_config_s {
  int sbm;                             /* max(g1.bm, g2.bm) */
  pt_variant_t g1, g2;
  const char *g1_spec, *g2_spec;       /* as stored in the database */
} pt_emit_config_t;

/* One stage's run of measured counts won by one variant. */
typedef struct pt_emit_run_s {
  int first, last;   /* measured token counts */
  const char *spec;
} pt_emit_run_t;

typedef struct pt_emit_interval_s {
  int lo, hi;        /* token counts, inclusive; hi is INT_MAX for the last */
  int config;        /* index in table->configs */
  pt_emit_run_t g1, g2;
} pt_emit_interval_t;

typedef struct pt_emit_family_s {
  const char *name, *dtype, *act;
  int dtype_id;      /* pt_dtype_t, the generated PIPE_DTYPE_* */
  int model_dim, inter_dim, experts, topk;
  size_t g1_points, g2_points;  /* measured token counts with a winner */
  pt_emit_interval_t *intervals;
  size_t nintervals;
  const pt_query_series_t *g1s, *g2s;  /* the measurements behind it */
} pt_emit_family_t;

typedef struct pt_emit_default_s {
  int config;
  pt_query_fixed_t g1, g2;
} pt_emit_default_t;

typedef struct pt_emit_arch_s {
  const char *arch;
  pt_emit_family_t *families;  /* by name, shape, dtype */
  size_t nfamilies;
  pt_emit_default_t dflt;
} pt_emit_arch_t;

typedef struct pt_emit_table_s {
  const pt_query_set_t *set;   /* provenance; not owned */
  pt_emit_config_t *configs;   /* distinct, in order of first use */
  size_t nconfigs;
  pt_emit_arch_t *archs;       /* by name */
  size_t narchs;
  pt_emit_default_t global;
  char **skipped;              /* families left out, one message each */
  size_t nskipped;
} pt_emit_table_t;

/* Builds the table from set (which must outlive it), for the archs named
 * (all when narchs is 0). A family is kept on an arch when both stages have
 * a winner at some token count; the others are listed in skipped. Errors:
 * PT_EINVAL for an arch not in the set, two families of an arch with the
 * same shape and dtype, or a stored spec that does not parse; PT_ENOENT when
 * no family is left ("nothing to emit"). */
int pt_emit_build(const pt_query_set_t *set, const char *const *archs,
                  size_t narchs, pt_emit_table_t **out, pt_err_t *err);
void pt_emit_free(pt_emit_table_t *t);

/* The config the table gives family (its name and shape) on arch at tokens:
 * the interval holding tokens, as the generated lookup answers an exact
 * family (return code 0). PT_OK and *out, or PT_ENOENT when the table has
 * no such arch or family. */
int pt_emit_pick(const pt_emit_table_t *t, const char *arch, const char *family,
                 const pt_moe_shape_t *shape, int tokens, const pt_emit_config_t **out);

typedef struct pt_emit_opts_s {
  const char *header;     /* file name the source includes; NULL: the
                             declarations go into the source itself */
  const char *timestamp;  /* recorded in the header comment; NULL: none, so
                             the same database gives the same bytes */
} pt_emit_opts_t;

/* PT_OK when name is a plain file name safe in #include "name": letters,
 * digits, '.', '_', '-' and '+', not empty and not starting with '.' (so no
 * quote, backslash, trigraph, space, control character or directory);
 * PT_EINVAL naming it (escaped) otherwise. */
int pt_emit_check_header_name(const char *name, pt_err_t *err);

/* Writes select_pipe_config.c / .h. PT_EINVAL for a header name that
 * pt_emit_check_header_name refuses, PT_EIO when f fails. */
int pt_emit_source(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                   pt_err_t *err);
int pt_emit_header(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                   pt_err_t *err);

/* "g1", "g2": the member of struct pipe_config holding stage s's knobs
 * (fields pt_knobs_cfields), also the prefix of the stage's export columns. */
const char *pt_emit_stage_member(pt_stage_t s);

/* Writes s as the body of a C string literal that is also safe inside a
 * comment: letters, digits and " _.,:;+=-#%&!^~|'()[]{}<>" as they are,
 * every other byte as a 3-digit octal escape (so no quote, backslash,
 * trigraph, comment delimiter or newline can appear). Returns the length
 * written without the NUL, like snprintf (len 0 measures). */
size_t pt_emit_c_escape(const char *s, char *buf, size_t len);

#endif
