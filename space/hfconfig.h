/* A model family from a Hugging Face config.json and a parallel layout: the
 * per-GPU shape of the model's MoE layer, checked against the rules every
 * family meets (family.h), so that a tuned table is one the model looks up.
 *
 * What is read (null counts as absent, as Hugging Face writes None):
 *   model_type         one of the types below; others are refused, since a
 *                      spelling read the wrong way gives a shape that is
 *                      never looked up (Llama 4's shared expert, for one,
 *                      is in no config field)
 *   hidden_size        H
 *   routed experts     num_experts | num_local_experts | n_routed_experts
 *                      (all given must agree; none: not a MoE model)
 *   expert width       moe_intermediate_size; intermediate_size only with
 *                      num_local_experts (Mixtral, GPT-OSS), where it is the
 *                      experts' own width and not a dense MLP's
 *   top-k              num_experts_per_tok | experts_per_token
 *   n_shared_experts   ungated shared experts of the routed width
 *                      (DeepSeek, Kimi, GLM); default 0
 *   shared_expert_intermediate_size   a gated shared expert (Qwen2-MoE):
 *                      only --shared separate
 *   hidden_act         must be "silu"; model_type gpt_oss is GPT-OSS's
 *                      clamped swiglu (swiglu_oai), swiglu_limit 7 and
 *                      swiglu_alpha 1.702 when given
 *   quantization_config.quant_method   "mxfp4": the weights are MXFP4
 *                      already, so every activation dtype is a default
 *
 * The layout: TP splits the expert width (I = width / tp), EP splits the
 * routed experts (E = routed / ep); H is never split and top-k is kept (the
 * per-GPU problem of vLLM's tuner). Shared experts, "fused" (the default),
 * join the grouped GEMM as experts every token selects: E += shared,
 * K += shared, split by TP like the routed ones and held whole by every EP
 * rank; "separate" leaves them out (they run as a dense MLP).
 */
#ifndef PT_HFCONFIG_H
#define PT_HFCONFIG_H

#include "error.h"
#include "family.h"
#include "moe.h"

#define PT_HFCONFIG_KEY_MAX 64

typedef enum {
  PT_HFCONFIG_SHARED_FUSED = 0,
  PT_HFCONFIG_SHARED_SEPARATE,
} pt_hfconfig_shared_t;

/* The MoE layer as config.json defines it, before any layout; each *_key
 * names the field a number came from, for messages. */
typedef struct pt_hfconfig_model_s {
  char source[256];                    /* the file */
  char model_type[PT_HFCONFIG_KEY_MAX];
  int hidden;                          /* hidden_size */
  int width;                           /* one expert's intermediate size */
  const char *width_key;
  int routed;                          /* routed experts */
  const char *routed_key;
  int topk;
  const char *topk_key;
  int shared;                          /* n_shared_experts, 0 when none */
  int gated_shared;                    /* shared_expert_intermediate_size */
  pt_act_t act;
  int mxfp4;                           /* quant_method "mxfp4" */
} pt_hfconfig_model_t;

typedef struct pt_hfconfig_layout_s {
  int tp;                               /* >= 1 */
  int ep;                               /* >= 1 */
  pt_hfconfig_shared_t shared;
  pt_dtype_t dtypes[PT_DTYPE_COUNT];    /* distinct; none: the default */
  int ndtypes;
  const char *name;                     /* NULL: derived, see below */
} pt_hfconfig_layout_t;

/* tp 1, ep 1, shared experts fused, default dtypes, derived name. */
void pt_hfconfig_layout_default(pt_hfconfig_layout_t *l);

/* Parses "fused" / "separate": 0, or -1 when s is neither. */
int pt_hfconfig_shared_parse(const char *s, pt_hfconfig_shared_t *out);

/* Reads the MoE fields of the config.json at path. PT_EINVAL, message
 * "'path': ..." naming the field, for a file that is not such a config. */
int pt_hfconfig_load(const char *path, pt_hfconfig_model_t *m, pt_err_t *err);

/* The family of m under layout l, without tokens (f->tokens NULL). The name
 * is l->name, else the model type and the layout: "deepseek_v3-tp8",
 * "qwen3_moe-ep8", "mixtral-tp2-ep4", "gpt_oss-tp1", with "-routed" when
 * shared experts are left out. Default dtypes: a4w4, a8w4 and a16w4 for an
 * MXFP4 checkpoint, else a4w4 (a checkpoint requantized to MXFP4 whole).
 * PT_EINVAL naming the config field and the rule it breaks. */
int pt_hfconfig_family(const pt_hfconfig_model_t *m,
                       const pt_hfconfig_layout_t *l, pt_family_t *f,
                       pt_err_t *err);

/* The same as a grid: the one family with the built-in token grid at the
 * top level; out->source is m's file. Free with pt_family_set_free. */
int pt_hfconfig_grid(const pt_hfconfig_model_t *m,
                     const pt_hfconfig_layout_t *l, pt_family_set_t *out,
                     pt_err_t *err);

/* One line saying where each number of f came from, e.g. "inter_dim 256 =
 * moe_intermediate_size 2048 / tp 8", into buf (truncated to len). */
void pt_hfconfig_describe(const pt_hfconfig_model_t *m,
                          const pt_hfconfig_layout_t *l, const pt_family_t *f,
                          char *buf, size_t len);

#endif
