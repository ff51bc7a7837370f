/* Shared vocabulary of the MoE pipeline (DESIGN §4): dtypes, activations,
 * shapes, the host-side problem tensors and the sorted-routing layout. Plain
 * data only; the functions live in mx.h, moe_sort.h, routing.h and oracle.h. */
#ifndef PT_MOE_H
#define PT_MOE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  PT_DTYPE_A4W4 = 0,   /* activations and intermediate MXFP4 (e2m1 + e8m0) */
  PT_DTYPE_A8W4 = 1,   /* activations and intermediate FP8 e4m3 + e8m0 */
  PT_DTYPE_A16W4 = 2,  /* activations and intermediate bf16 */
  PT_DTYPE_COUNT
} pt_dtype_t;

typedef enum {
  PT_ACT_SILU = 0,        /* silu(gate) * up */
  PT_ACT_SWIGLU_OAI = 1,  /* GPT-OSS clamped swiglu */
  PT_ACT_COUNT
} pt_act_t;

/* GPT-OSS's swiglu_oai: gate and up clamped at this limit, gate slope alpha
 * (the oracle and the model-config reader use these; the kernels'
 * pt_epilogue.cuh spells the same numbers in device code). */
#define PT_SWIGLU_OAI_LIMIT 7.0
#define PT_SWIGLU_OAI_ALPHA 1.702

/* Spellings used everywhere (CLI, JSON, DB): "a4w4", "silu", ... */
const char *pt_dtype_name(pt_dtype_t d);
const char *pt_act_name(pt_act_t a);
/* Parse a spelling; returns 0 and sets *out, or -1 if unknown. */
int pt_dtype_parse(const char *s, pt_dtype_t *out);
int pt_act_parse(const char *s, pt_act_t *out);

#define PT_MX_BLOCK 32 /* elements along K sharing one e8m0 scale */

typedef struct pt_moe_shape_s {
  int model_dim;  /* H, multiple of 64 */
  int inter_dim;  /* I, multiple of 64 */
  int experts;    /* E */
  int topk;       /* K <= E */
  pt_dtype_t dtype;
  pt_act_t act;
} pt_moe_shape_t;

/* Host tensors of one problem, canonical layouts (DESIGN §4 "Tensors"):
 *   x   a4w4: [M, H/2] bytes (2 e2m1 per byte, low nibble = even element)
 *       a8w4: [M, H] e4m3 bytes; a16w4: [M, H] bf16 stored as uint16_t
 *   xs  [M, H/32] e8m0 (NULL for a16w4)
 *   w1  [E, 2I, H/2] e2m1 bytes, rows 0..I-1 gate, I..2I-1 up; w1s [E, 2I, H/32]
 *   w2  [E, H, I/2] e2m1 bytes; w2s [E, H, I/32]
 *   topk_ids [M, K] int32 (distinct per token), topk_w [M, K] f32 */
typedef struct pt_moe_problem_s {
  pt_moe_shape_t shape;
  int tokens;  /* M */
  void *x;
  uint8_t *xs;
  uint8_t *w1, *w1s, *w2, *w2s;
  int32_t *topk_ids;
  float *topk_w;
} pt_moe_problem_t;

/* Sorted routing (DESIGN §4 "Sorting contract"). Entries are
 * token | slot << 24; padding entries hold the sentinel token M with
 * weight 0. padded (P) is a multiple of sbm; block_expert has P/sbm entries. */
#define PT_SORT_TOKEN(e) ((e) & 0xFFFFFF)
#define PT_SORT_SLOT(e) ((int)((uint32_t)(e) >> 24))

typedef struct pt_moe_sorted_s {
  int sbm;
  int padded;              /* P */
  int capacity;            /* allocated entries of sorted_ids / sorted_w */
  int32_t *sorted_ids;     /* [capacity], first P valid */
  float *sorted_w;         /* [capacity] */
  int32_t *block_expert;   /* [capacity / sbm] */
} pt_moe_sorted_t;

#endif
