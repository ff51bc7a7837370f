/* Tuning knobs of the two pipeline stages (DESIGN §5, §9): the variant
 * struct, per-stage defaults, the `key=value,...` spec (parse and canonical
 * format), the enumerated space of each stage, and the compile-time defines a
 * variant turns into.
 *
 * Every knob is one row of the table in knobs.c (pt_knob_t): its name and
 * alias, values, defaults, compile define, database column and generated-C
 * field. Parsing, formatting, enumeration, the compile defines, the database
 * row, the generated struct pipe_config and the exports all walk that table,
 * so a new knob is one new row and one new field of pt_variant_t here
 * (HACKING.md, "Adding a knob").
 */
#ifndef PT_KNOBS_H
#define PT_KNOBS_H

#include <stddef.h>

#include "error.h"

typedef enum {
  PT_STAGE_GEMM1 = 0,  /* up/gate + activation + requantize */
  PT_STAGE_GEMM2 = 1,  /* down projection + routing weight */
  PT_STAGE_COUNT
} pt_stage_t;

typedef enum {
  PT_EPILOG_ATOMIC = 0,  /* bf16 atomics into out */
  PT_EPILOG_REDUCE = 1,  /* per-slot buffer, then a reduce kernel */
} pt_epilog_t;

/* Kernel generation (DESIGN §5): mma.sync m16n8k16, portable to sm_80 and
 * AMD; or Hopper's warpgroup MMA on repacked weights (sm_90a). */
typedef enum {
  PT_MMA_SYNC = 0,
  PT_MMA_WGMMA = 1,
} pt_mma_t;

/* One variant of one stage. Knobs that are not the stage's hold their neutral
 * value (k_wave 1, kstages 1, epilog atomic) and never print. */
typedef struct pt_variant_s {
  pt_stage_t stage;
  int bm;       /* sorted rows per tile: 16, 32, 64, 128 */
  int bn;       /* output columns per tile: 64, 128, 256 */
  int k_wave;   /* gemm1: warp groups splitting K: 1, 2, 4 */
  int kstages;  /* gemm2: weight prefetch depth: 1, 2 */
  int bhoist;   /* next K-tile's weight loads before the barrier: 0, 1 */
  int spart;    /* 0 linear, else G*100+M01 spatially-local tile map */
  int nt;       /* non-temporal weight loads: 0, 1 */
  int epilog;   /* gemm2: pt_epilog_t */
  int persist;  /* persistent grid: 0, 1 */
  int mma;      /* pt_mma_t: kernel generation */
} pt_variant_t;

/* Upper bounds for callers' buffers. */
#define PT_KNOBS_MAX 16        /* knobs of one stage */
#define PT_KNOBS_SPEC_MAX 160  /* canonical spec, NUL included */
#define PT_KNOBS_DEFINE_MAX 32 /* one "NAME=VALUE", NUL included */

/* "gemm1", "gemm2"; parse returns 0, or -1 if unknown. */
const char *pt_stage_name(pt_stage_t s);
int pt_stage_parse(const char *s, pt_stage_t *out);

/* "atomic", "reduce"; parse returns 0, or -1 if unknown. */
const char *pt_epilog_name(pt_epilog_t e);
int pt_epilog_parse(const char *s, pt_epilog_t *out);

/* The stage's default variant. */
void pt_knobs_default(pt_stage_t stage, pt_variant_t *out);

/* How far v is from its stage's default (pt_knobs_default), the one
 * measure of "simpler" (the tie rule of the outputs, emit/README.md):
 * 256 x the knobs that differ, plus the steps between each knob's value and
 * its default in the knob's list of values. 0 for the default variant. */
int pt_knobs_distance(const pt_variant_t *v);

/* Checks every knob of v against its stage's allowed values (the neutral
 * value for knobs of the other stage): PT_EINVAL naming the knob. */
int pt_knobs_validate(const pt_variant_t *v, pt_err_t *err);

/* Parses a spec "bm=32,bn=128,..." for stage into out. Knobs left out take
 * the stage's defaults; the empty string is the default variant. `g2_kstages`
 * is accepted for `kstages`. PT_EINVAL for an unknown key, a knob of the other
 * stage, a repeated knob, a malformed item or an impossible value. */
int pt_knobs_parse(pt_stage_t stage, const char *spec, pt_variant_t *out,
                   pt_err_t *err);

/* Writes the canonical spec of v (every knob of its stage, fixed order) into
 * buf. Returns the length, or PT_EINVAL if v is not valid or buf is too small
 * (PT_KNOBS_SPEC_MAX always suffices). */
int pt_knobs_format(const pt_variant_t *v, char *buf, size_t len);

/* Knob-by-knob view of a variant, in canonical order: for tables and JSON. */
typedef struct pt_knob_value_s {
  const char *name;    /* spec key: "bm", "k_wave" */
  int value;
  const char *symbol;  /* "atomic" for symbolic knobs (epilog), else NULL */
} pt_knob_value_t;

/* Fills out[0..n) with the knobs of v's stage; returns n (<= PT_KNOBS_MAX). */
int pt_knobs_values(const pt_variant_t *v, pt_knob_value_t *out);

/* The enumerated space of a stage (DESIGN §5), in a fixed order: the first
 * knob in canonical order varies slowest. pt_knobs_space_at() fills out with
 * variant index (0 <= index < pt_knobs_space_size(stage)). */
size_t pt_knobs_space_size(pt_stage_t stage);
void pt_knobs_space_at(pt_stage_t stage, size_t index, pt_variant_t *out);

/* Compile-time defines of a variant ("PT_BM=32", ...), one per knob of the
 * table in table order, for both stages: a knob not tuned in v's stage gets
 * the row's fixed value (gemm1 compiles PT_KSTAGES=2). ptr[] is ready for
 * pt_gpu_compile_req_t.defines. */
typedef struct pt_knobs_defines_s {
  int n;
  char text[PT_KNOBS_MAX][PT_KNOBS_DEFINE_MAX];
  const char *ptr[PT_KNOBS_MAX];
} pt_knobs_defines_t;

void pt_knobs_defines(const pt_variant_t *v, pt_knobs_defines_t *out);

/* ---- the table itself, for modules that write one thing per knob ---- */

/* One knob: one row of the table in knobs.c, the only place its facts are
 * written down. */
typedef struct pt_knob_s {
  const char *name;    /* spec key; JSON key */
  const char *alias;   /* accepted in specs, never printed; or NULL */
  const char *define;  /* compile-time macro, checked by #error in the kernels */
  const char *column;  /* column of the database's variants table: INTEGER,
                          or TEXT holding the symbol for symbolic knobs; NULL
                          in the rows of stages the knob is not tuned in */
  const char *cfield;  /* field of the generated struct pipe_config (g1, g2)
                          and, prefixed "g1_"/"g2_", the CSV column */
  unsigned stages;     /* tuned in: mask of 1 << pt_stage_t */
  size_t offset;       /* of the int field in pt_variant_t */
  int neutral;         /* the field's value in variants of other stages */
  int def[PT_STAGE_COUNT];  /* default where tuned */
  /* The value the kernels compile where the knob is not tuned: in a stage
   * outside `stages`, always (define); in a stage of `stages`, what kernels
   * compiled before the knob existed (database rows recorded before the knob
   * get it when its column is added). */
  int fixed[PT_STAGE_COUNT];
  const int *values;   /* the enumerated space */
  int nvalues;
  const char *const *symbols;  /* spelling of each value (index = value), or
                                  NULL for a numeric knob */
  int (*accepts)(int value);   /* wider than values[] when set */
  const char *accepts_text;    /* what accepts() allows, for messages */
} pt_knob_t;

/* The rows, in canonical spec order: knob i of pt_knobs_count(). */
int pt_knobs_count(void);
const pt_knob_t *pt_knobs_at(int i);
/* The knob named or aliased by key[0..len), or NULL. */
const pt_knob_t *pt_knobs_find(const char *key, size_t len);
/* Whether k is tuned in stage s. */
int pt_knobs_in_stage(const pt_knob_t *k, pt_stage_t s);
/* k's field of v; and the value v's kernel compiles for k (the field where k
 * is tuned in v's stage, else k's fixed value for that stage). */
int pt_knobs_get(const pt_variant_t *v, const pt_knob_t *k);
int pt_knobs_compiled(const pt_variant_t *v, const pt_knob_t *k);
/* Sets k's field of v (no check: pt_knobs_validate). */
void pt_knobs_set(pt_variant_t *v, const pt_knob_t *k, int value);
/* Spelling of value for a symbolic knob ("reduce"); NULL for a numeric knob
 * or a value without one. */
const char *pt_knobs_symbol(const pt_knob_t *k, int value);
/* The fields of stage s's struct in the generated C, in their order: the
 * numeric knobs in table order, then the symbolic ones (the order of
 * SELECT_PIPE_CONFIG_ABI 1). Fills out[0..n) and returns n. */
int pt_knobs_cfields(pt_stage_t s, const pt_knob_t *out[PT_KNOBS_MAX]);

#endif
