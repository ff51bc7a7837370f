/* The generated dispatch table (DESIGN §8): from a result set, the per-arch,
 * per-family token intervals and defaults that `pipetune emit` writes as a
 * self-contained C99 select_pipe_config.c/.h (and export.h as JSON/CSV).
 *
 * Rules (written into the generated file's header comment too):
 * - A pipeline config joins the gemm1 and gemm2 winners (the `best` view)
 *   of a family at a token count; sbm = max(g1.bm, g2.bm).
 * - A stage's winner at a measured token count is the point's noise-aware
 *   pick (pt_query_picks): the fastest, or at a tie the variant that keeps
 *   the neighbouring counts' config (then the simpler one).
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
 * - Families are kept per arch (over every device model of the arch) and
 *   per device model of the arch (devices.name): an arch whose results come
 *   from one model shares the arch's families with it; with several, each
 *   model gets the families from its own results.
 * - The generated lookup falls back one level at a time and says so in its
 *   return code: 0 the family tuned on this device model, 1 on this arch,
 *   2 nearest family of the same dtype on the arch, 3 arch default, -1
 *   unknown arch (global default), -2 bad argument.
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
#define PT_EMIT_ABI 2

typedef struct pt_emit_config_s {
  int sbm;                             /* max(g1.bm, g2.bm) */
  pt_variant_t g1, g2;
  const char *g1_spec, *g2_spec;       /* as stored in the database */
} pt_emit_config_t;

/* One stage's run of measured counts won by one variant. */
typedef struct pt_emit_run_s {
  int first, last;   /* measured token counts */
  const char *spec;
  size_t ties;       /* of its counts, those where spec is not the fastest */
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

/* A device model of an arch and its families. */
typedef struct pt_emit_device_s {
  const char *name;            /* devices.name, e.g. "NVIDIA H200" */
  pt_emit_family_t *families;  /* NULL when shared */
  size_t nfamilies;
  int shared;                  /* the arch's only model: the arch's families */
} pt_emit_device_t;

typedef struct pt_emit_arch_s {
  const char *arch;
  pt_emit_family_t *families;  /* by name, shape, dtype */
  size_t nfamilies;
  pt_emit_default_t dflt;
  pt_emit_device_t *devices;   /* by name */
  size_t ndevices;
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

/* Whether the device model m of set needs a result set of its own for
 * pt_emit_build: its arch has results from more than one model. */
int pt_emit_needs_device_set(const pt_query_set_t *set, const pt_query_model_t *m);

/* Loads from the database at db, with filter and one device model each,
 * the result sets of every model of set that pt_emit_needs_device_set
 * names: *n of them in *out, for pt_emit_build (free with
 * pt_emit_free_sets, also after an error). */
int pt_emit_load_device_sets(const char *db, const pt_query_filter_t *filter,
                             const pt_query_set_t *set, pt_query_set_t ***out, size_t *n,
                             pt_err_t *err);
void pt_emit_free_sets(pt_query_set_t **sets, size_t n);

/* Builds the table from set (which must outlive it), for the archs named
 * (all when narchs is 0). devsets[0..ndevsets) (which must outlive it too)
 * hold, loaded with the same filter and one device model each, every model
 * pt_emit_needs_device_set names. A family is kept on an arch (device) when
 * both stages have a winner at some token count; the others are listed in
 * skipped. Errors: PT_EINVAL for an arch not in the set, a missing device
 * set, two families of an arch with the same shape and dtype, or a stored
 * spec that does not parse; PT_ENOENT when no family is left ("nothing to
 * emit"). */
int pt_emit_build(const pt_query_set_t *set, const pt_query_set_t *const *devsets,
                  size_t ndevsets, const char *const *archs, size_t narchs,
                  pt_emit_table_t **out, pt_err_t *err);
void pt_emit_free(pt_emit_table_t *t);

/* The config the generated select_pipe_config returns for family f of t at
 * tokens (>= 1): that of the interval holding tokens (an exact family). */
const pt_emit_config_t *pt_emit_pick(const pt_emit_table_t *t,
                                     const pt_emit_family_t *f, int tokens);

/* The family of t with shape (and dtype) on arch, as the generated lookup
 * finds an exact family: device model device's own when it has one (return
 * code 0), else the arch's (1; device NULL: the arch's). NULL when t has no
 * such arch or family. */
const pt_emit_family_t *pt_emit_find_family(const pt_emit_table_t *t, const char *arch,
                                            const char *device, const pt_moe_shape_t *shape);

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
