/* Model families from Hugging Face config.json files (see hfconfig.h). */
#include "hfconfig.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model types whose MoE block was read against its modelling code, and
 * the activation of their experts. */
static const struct {
  const char *type;
  pt_act_t act;
} known_types[] = {
    {"deepseek_v2", PT_ACT_SILU}, {"deepseek_v3", PT_ACT_SILU},
    {"kimi_k2", PT_ACT_SILU},     {"glm4_moe", PT_ACT_SILU},
    {"qwen2_moe", PT_ACT_SILU},   {"qwen3_moe", PT_ACT_SILU},
    {"mixtral", PT_ACT_SILU},     {"gpt_oss", PT_ACT_SWIGLU_OAI},
};
#define NKNOWN ((int)(sizeof known_types / sizeof known_types[0]))

static const char *const routed_keys[] = {"num_experts", "num_local_experts",
                                          "n_routed_experts"};
static const char *const topk_keys[] = {"num_experts_per_tok",
                                        "experts_per_token"};

typedef struct read_s {
  const char *source;
  const cJSON *root;
  pt_err_t *err;
} read_t;

__attribute__((format(printf, 3, 4)))
static int fail(pt_err_t *err, const char *source, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return pt_err_set(err, PT_EINVAL, "'%s': %s", source, msg);
}

/* obj[key], NULL when absent or null (Hugging Face writes None as null). */
static const cJSON *field(const cJSON *obj, const char *key) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  return it == NULL || cJSON_IsNull(it) ? NULL : it;
}

/* An integer field that may be absent (*found 0, *out untouched). */
static int opt_int(const read_t *r, const char *key, int *out, int *found) {
  const cJSON *it = field(r->root, key);
  pt_err_t verdict;
  *found = it != NULL;
  if (it == NULL || pt_family_json_int(it, key, out, &verdict) == PT_OK)
    return PT_OK;
  return fail(r->err, r->source, "%s", verdict.msg);
}

static int need_positive(const read_t *r, const char *key, int *out) {
  int found;
  int rc = opt_int(r, key, out, &found);
  if (rc == PT_OK && !found)
    return fail(r->err, r->source, "missing field '%s'", key);
  if (rc == PT_OK && *out < 1)
    return fail(r->err, r->source, "field '%s' must be positive (got %d)", key,
                *out);
  return rc;
}

/* The first of keys[] given (*key NULL when none); every other one given
 * must say the same. */
static int first_of(const read_t *r, const char *const *keys, int n, int *out,
                    const char **key) {
  *key = NULL;
  for (int i = 0; i < n; i++) {
    int v, found;
    int rc = opt_int(r, keys[i], &v, &found);
    if (rc != PT_OK) return rc;
    if (!found) continue;
    if (*key != NULL && v != *out)
      return fail(r->err, r->source, "fields '%s' (%d) and '%s' (%d) disagree",
                  *key, *out, keys[i], v);
    *out = v;
    *key = *key != NULL ? *key : keys[i];
  }
  return PT_OK;
}

static int opt_string(const read_t *r, const cJSON *obj, const char *key,
                      const char *shown, const char **out) {
  const cJSON *it = field(obj, key);
  *out = NULL;
  if (it == NULL) return PT_OK;
  if (!cJSON_IsString(it))
    return fail(r->err, r->source, "field '%s' must be a string (got %s)",
                shown, pt_family_json_type(it));
  *out = it->valuestring;
  return PT_OK;
}

/* Routed experts and top-k: the config is a MoE model's. */
static int read_routing(const read_t *r, pt_hfconfig_model_t *m) {
  int rc = first_of(r, routed_keys, 3, &m->routed, &m->routed_key);
  if (rc != PT_OK) return rc;
  if (m->routed_key == NULL)
    return fail(r->err, r->source, "not a MoE model: no field 'num_experts', "
                "'num_local_experts' or 'n_routed_experts'");
  if (m->routed < 1)
    return fail(r->err, r->source, "not a MoE model: field '%s' is %d",
                m->routed_key, m->routed);
  rc = first_of(r, topk_keys, 2, &m->topk, &m->topk_key);
  if (rc == PT_OK && m->topk_key == NULL)
    return fail(r->err, r->source, "missing field 'num_experts_per_tok'");
  return rc == PT_OK ? need_positive(r, m->topk_key, &m->topk) : rc;
}

static int read_type(const read_t *r, pt_hfconfig_model_t *m, pt_act_t *act) {
  const char *t;
  int rc = opt_string(r, r->root, "model_type", "model_type", &t);
  if (rc != PT_OK) return rc;
  if (t == NULL) return fail(r->err, r->source, "missing field 'model_type'");
  for (int i = 0; i < NKNOWN; i++) {
    if (strcmp(t, known_types[i].type) != 0) continue;
    snprintf(m->model_type, sizeof m->model_type, "%s", t);
    *act = known_types[i].act;
    return PT_OK;
  }
  char known[256];
  size_t n = 0;
  for (int i = 0; i < NKNOWN && n < sizeof known; i++)
    n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
                          known_types[i].type);
  return fail(r->err, r->source, "field 'model_type' has unknown model type "
              "'%.64s' (known: %s)", t, known);
}

/* moe_intermediate_size; intermediate_size only where the experts are
 * num_local_experts, since elsewhere it is the dense MLP's width. */
static int read_width(const read_t *r, pt_hfconfig_model_t *m) {
  int found;
  m->width_key = "moe_intermediate_size";
  int rc = opt_int(r, m->width_key, &m->width, &found);
  if (rc != PT_OK) return rc;
  if (!found) {
    if (field(r->root, "num_local_experts") == NULL)
      return fail(r->err, r->source, "missing field 'moe_intermediate_size'");
    m->width_key = "intermediate_size";
  }
  return need_positive(r, m->width_key, &m->width);
}

static int read_shared(const read_t *r, pt_hfconfig_model_t *m) {
  static const char *const keys[] = {"n_shared_experts",
                                     "shared_expert_intermediate_size"};
  int *vals[] = {&m->shared, &m->gated_shared};
  for (int i = 0; i < 2; i++) {
    int found;
    int rc = opt_int(r, keys[i], vals[i], &found);
    if (rc != PT_OK) return rc;
    if (!found) *vals[i] = 0;
    if (*vals[i] < 0)
      return fail(r->err, r->source, "field '%s' must not be negative (got %d)",
                  keys[i], *vals[i]);
  }
  return PT_OK;
}

/* swiglu_limit / swiglu_alpha: GPT-OSS's numbers, for its swiglu only. */
static int clamp_param(const read_t *r, const pt_hfconfig_model_t *m,
                       const char *key, double want) {
  const cJSON *it = field(r->root, key);
  if (it == NULL) return PT_OK;
  if (!cJSON_IsNumber(it))
    return fail(r->err, r->source, "field '%s' must be a number (got %s)", key,
                pt_family_json_type(it));
  if (m->act != PT_ACT_SWIGLU_OAI)
    return fail(r->err, r->source, "field '%s' is given, but model type '%s' "
                "has no clamped swiglu", key, m->model_type);
  double d = it->valuedouble;
  if (d < want - 1e-9 || d > want + 1e-9)
    return fail(r->err, r->source, "field '%s' must be %g, the swiglu_oai "
                "kernels' value (got %g)", key, want, d);
  return PT_OK;
}

static int read_act(const read_t *r, pt_hfconfig_model_t *m) {
  const char *act;
  int rc = opt_string(r, r->root, "hidden_act", "hidden_act", &act);
  if (rc != PT_OK) return rc;
  if (act == NULL) return fail(r->err, r->source, "missing field 'hidden_act'");
  if (strcmp(act, "silu") != 0)
    return fail(r->err, r->source, "field 'hidden_act' has unsupported "
                "activation '%.32s' (the kernels gate with silu)", act);
  rc = clamp_param(r, m, "swiglu_limit", PT_SWIGLU_OAI_LIMIT);
  return rc == PT_OK ? clamp_param(r, m, "swiglu_alpha", PT_SWIGLU_OAI_ALPHA) : rc;
}

static int read_quant(const read_t *r, pt_hfconfig_model_t *m) {
  const cJSON *q = field(r->root, "quantization_config");
  const char *method = NULL;
  if (q == NULL) return PT_OK;
  if (!cJSON_IsObject(q))
    return fail(r->err, r->source, "field 'quantization_config' must be an "
                "object (got %s)", pt_family_json_type(q));
  int rc = opt_string(r, q, "quant_method", "quantization_config.quant_method",
                      &method);
  m->mxfp4 = method != NULL && strcmp(method, "mxfp4") == 0;
  return rc;
}

static int read_model(const read_t *r, pt_hfconfig_model_t *m) {
  if (!cJSON_IsObject(r->root))
    return fail(r->err, r->source, "must hold a JSON object (got %s)",
                pt_family_json_type(r->root));
  int rc = read_routing(r, m);
  if (rc == PT_OK) rc = read_type(r, m, &m->act);
  if (rc == PT_OK) rc = need_positive(r, "hidden_size", &m->hidden);
  if (rc == PT_OK) rc = read_width(r, m);
  if (rc == PT_OK) rc = read_shared(r, m);
  if (rc == PT_OK) rc = read_act(r, m);
  if (rc == PT_OK) rc = read_quant(r, m);
  return rc;
}

void pt_hfconfig_layout_default(pt_hfconfig_layout_t *l) {
  memset(l, 0, sizeof *l);
  l->tp = 1;
  l->ep = 1;
  l->shared = PT_HFCONFIG_SHARED_FUSED;
}

int pt_hfconfig_shared_parse(const char *s, pt_hfconfig_shared_t *out) {
  if (strcmp(s, "fused") == 0) *out = PT_HFCONFIG_SHARED_FUSED;
  else if (strcmp(s, "separate") == 0) *out = PT_HFCONFIG_SHARED_SEPARATE;
  else return -1;
  return 0;
}

int pt_hfconfig_load(const char *path, pt_hfconfig_model_t *m, pt_err_t *err) {
  cJSON *root;
  memset(m, 0, sizeof *m);
  snprintf(m->source, sizeof m->source, "%s", path);
  int rc = pt_family_read_json(path, &root, err);
  if (rc != PT_OK) return rc;
  read_t r = {path, root, err};
  rc = read_model(&r, m);
  cJSON_Delete(root);
  return rc;
}

/* ---- the layout ---- */

static int check_layout(const pt_hfconfig_model_t *m,
                        const pt_hfconfig_layout_t *l, pt_err_t *err) {
  if (l->tp < 1)
    return pt_err_set(err, PT_EINVAL, "--tp must be at least 1 (got %d)", l->tp);
  if (l->ep < 1)
    return pt_err_set(err, PT_EINVAL, "--ep must be at least 1 (got %d)", l->ep);
  for (int i = 0; i < l->ndtypes; i++)
    for (int j = 0; j < i; j++)
      if (l->dtypes[i] == l->dtypes[j])
        return pt_err_set(err, PT_EINVAL, "--dtype '%s' given twice",
                          pt_dtype_name(l->dtypes[i]));
  if (m->gated_shared > 0 && l->shared == PT_HFCONFIG_SHARED_FUSED)
    return fail(err, m->source, "field 'shared_expert_intermediate_size' is a "
                "gated shared expert, which cannot join the routed ones "
                "(--shared separate leaves it out)");
  return PT_OK;
}

/* H as is, I = width / tp. */
static int split_width(const pt_hfconfig_model_t *m,
                       const pt_hfconfig_layout_t *l, pt_family_t *f,
                       pt_err_t *err) {
  pt_err_t verdict;
  if (pt_family_check_dim("model_dim", m->hidden, &verdict) != PT_OK)
    return fail(err, m->source, "field 'hidden_size': %s", verdict.msg);
  if (m->width % l->tp != 0)
    return fail(err, m->source, "field '%s' (%d) does not split over --tp %d",
                m->width_key, m->width, l->tp);
  f->model_dim = m->hidden;
  f->inter_dim = m->width / l->tp;
  if (pt_family_check_dim("inter_dim", f->inter_dim, &verdict) != PT_OK)
    return fail(err, m->source, "field '%s' %d / --tp %d: %s", m->width_key,
                m->width, l->tp, verdict.msg);
  return PT_OK;
}

/* E = routed / ep (+ fused shared), K = top-k (+ fused shared). */
static int split_experts(const pt_hfconfig_model_t *m,
                         const pt_hfconfig_layout_t *l, pt_family_t *f,
                         pt_err_t *err) {
  pt_err_t verdict;
  int fused = l->shared == PT_HFCONFIG_SHARED_FUSED ? m->shared : 0;
  if (m->routed % l->ep != 0)
    return fail(err, m->source, "field '%s' (%d) does not split over --ep %d",
                m->routed_key, m->routed, l->ep);
  f->experts = m->routed / l->ep + fused;
  f->topk = m->topk + fused;
  if (pt_family_check_topk(f->topk, f->experts, &verdict) != PT_OK)
    return fail(err, m->source, "field '%s' with --ep %d: %s", m->topk_key,
                l->ep, verdict.msg);
  return PT_OK;
}

static void set_dtypes(const pt_hfconfig_model_t *m,
                       const pt_hfconfig_layout_t *l, pt_family_t *f) {
  if (l->ndtypes > 0) {
    memcpy(f->dtypes, l->dtypes, (size_t)l->ndtypes * sizeof *f->dtypes);
    f->ndtypes = l->ndtypes;
    return;
  }
  f->ndtypes = m->mxfp4 ? PT_DTYPE_COUNT : 1;
  for (int d = 0; d < f->ndtypes; d++) f->dtypes[d] = (pt_dtype_t)d;
}

static int left_out(const pt_hfconfig_model_t *m,
                    const pt_hfconfig_layout_t *l) {
  return l->shared == PT_HFCONFIG_SHARED_SEPARATE &&
         (m->shared > 0 || m->gated_shared > 0);
}

static int set_name(const pt_hfconfig_model_t *m,
                    const pt_hfconfig_layout_t *l, pt_family_t *f,
                    pt_err_t *err) {
  char name[PT_FAMILY_NAME_MAX + 64];
  size_t n = (size_t)snprintf(name, sizeof name, "%s", m->model_type);
  if (l->tp > 1 || l->ep == 1)
    n += (size_t)snprintf(name + n, sizeof name - n, "-tp%d", l->tp);
  if (l->ep > 1)
    n += (size_t)snprintf(name + n, sizeof name - n, "-ep%d", l->ep);
  if (left_out(m, l)) snprintf(name + n, sizeof name - n, "-routed");
  const char *use = l->name != NULL ? l->name : name;
  pt_err_t verdict;
  if (pt_family_check_name(use, &verdict) != PT_OK)
    return pt_err_set(err, PT_EINVAL, "%s: %s",
                      l->name != NULL ? "--name" : "the derived name",
                      verdict.msg);
  snprintf(f->name, sizeof f->name, "%.*s", PT_FAMILY_NAME_MAX - 1, use);
  return PT_OK;
}

int pt_hfconfig_family(const pt_hfconfig_model_t *m,
                       const pt_hfconfig_layout_t *l, pt_family_t *f,
                       pt_err_t *err) {
  memset(f, 0, sizeof *f);
  f->act = m->act;
  int rc = check_layout(m, l, err);
  if (rc == PT_OK) rc = split_width(m, l, f, err);
  if (rc == PT_OK) rc = split_experts(m, l, f, err);
  if (rc == PT_OK) rc = set_name(m, l, f, err);
  if (rc == PT_OK) set_dtypes(m, l, f);
  return rc;
}

static int *dup_ints(const int *v, int n) {
  int *out = malloc((size_t)n * sizeof *out);
  if (out != NULL) memcpy(out, v, (size_t)n * sizeof *out);
  return out;
}

int pt_hfconfig_grid(const pt_hfconfig_model_t *m,
                     const pt_hfconfig_layout_t *l, pt_family_set_t *out,
                     pt_err_t *err) {
  pt_family_set_t builtin;
  pt_family_t f;
  memset(out, 0, sizeof *out);
  int rc = pt_hfconfig_family(m, l, &f, err);
  if (rc == PT_OK) rc = pt_family_load_builtin(&builtin, err);
  if (rc != PT_OK) return rc;
  snprintf(out->source, sizeof out->source, "%s", m->source);
  out->families = calloc(1, sizeof *out->families);
  out->tokens = dup_ints(builtin.tokens, builtin.ntokens);
  f.tokens = dup_ints(builtin.tokens, builtin.ntokens);
  f.ntokens = out->ntokens = builtin.ntokens;
  pt_family_set_free(&builtin);
  if (out->families == NULL || out->tokens == NULL || f.tokens == NULL) {
    free(f.tokens);
    pt_family_set_free(out);
    return pt_err_set(err, PT_ENOMEM, "out of memory");
  }
  out->families[0] = f;
  out->nfamilies = 1;
  return PT_OK;
}

void pt_hfconfig_describe(const pt_hfconfig_model_t *m,
                          const pt_hfconfig_layout_t *l, const pt_family_t *f,
                          char *buf, size_t len) {
  int fused = l->shared == PT_HFCONFIG_SHARED_FUSED ? m->shared : 0;
  char plus[32] = "", out[64] = "";
  if (fused > 0) snprintf(plus, sizeof plus, " + %d shared", fused);
  if (left_out(m, l) && m->gated_shared > 0)
    snprintf(out, sizeof out, " (the gated shared expert left out)");
  else if (left_out(m, l))
    snprintf(out, sizeof out, " (%d shared expert%s left out)", m->shared,
             m->shared > 1 ? "s" : "");
  size_t n = (size_t)snprintf(
      buf, len, "%s: model_dim %d = hidden_size; inter_dim %d = %s %d / tp %d; "
      "experts %d = %s %d / ep %d%s%s; topk %d = %s %d%s; act %s; dtypes ",
      f->name, f->model_dim, f->inter_dim, m->width_key, m->width, l->tp,
      f->experts, m->routed_key, m->routed, l->ep, plus, out, f->topk,
      m->topk_key, m->topk, plus, pt_act_name(f->act));
  for (int i = 0; i < f->ndtypes && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "",
                          pt_dtype_name(f->dtypes[i]));
}
