/* Result databases for the output tests (emit, query, diff, report), written
 * through the db module's own API like the tuner writes them.
 *
 * The times come from a roofline model of the two stages on an H100 (sm_90)
 * and an MI300X (gfx942): weight bytes over an efficiency-scaled bandwidth
 * against padded-tile flops over a BM-dependent matrix rate, plus launch
 * overhead and a reduce epilog's extra traffic, with a deterministic +-2%
 * jitter. Small-BM, bandwidth-friendly variants win at few tokens and large
 * tiles at many, so every series has real crossovers. On top of that:
 *   - a second H100 whose result for one variant at one point failed
 *     verification (that variant must not win there), and one faster result
 *     of another variant (the fastest device's result counts);
 *   - infeasible, compile_fail and timeout results;
 *   - kimik2-tp8 with gemm1 results only (a family emit must leave out).
 */
#ifndef PT_EMITDB_H
#define PT_EMITDB_H

typedef struct pt_emitdb_opts_s {
  double scale;        /* every ok median times this (1 when 0) */
  double scale_from;   /* ...but only at token counts >= this (0: all) */
  int failed_only;     /* every result is a failure: nothing can be emitted */
  int gemm1_only;      /* no gemm2 result at all */
  const char *odd_family;  /* when set, gptoss-120b is stored under this name */
  const char *odd_arch;    /* when set, gfx942 is stored under this arch */
  int twin;            /* add "dsv3-twin", dsv3-tp8's shape under another name */
  const char *sm90_model;  /* the two sm_90 devices' name (default "NVIDIA H100
                              80GB HBM3") */
  double sm90_bw;      /* their bandwidth in the model, bytes/us (0: 3.0e6) */
  const char *only_family; /* when set, only this family is measured */
} pt_emitdb_opts_t;

/* Creates the database at path (which must not exist). Returns 0, or -1
 * after printing the db module's message. */
int pt_emitdb_build(const char *path, const pt_emitdb_opts_t *o);

/* The token grids used. */
#define PT_EMITDB_DSV3_TOKENS 13  /* 1, 2, 4, ..., 4096 */
#define PT_EMITDB_GPTOSS_TOKENS 7 /* 1, 4, 16, ..., 4096 */

#endif
