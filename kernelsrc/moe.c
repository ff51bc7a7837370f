/* Spellings of the MoE pipeline's dtypes and activations (see moe.h): the one
 * table the CLI, JSON files and the database agree on. */
#include "moe.h"

#include <string.h>

static const char *const dtype_names[PT_DTYPE_COUNT] = {
  [PT_DTYPE_A4W4] = "a4w4",
  [PT_DTYPE_A8W4] = "a8w4",
  [PT_DTYPE_A16W4] = "a16w4",
};

static const char *const act_names[PT_ACT_COUNT] = {
  [PT_ACT_SILU] = "silu",
  [PT_ACT_SWIGLU_OAI] = "swiglu_oai",
};

/* Returns the index of s in names[0..n), or -1. */
static int lookup(const char *const *names, int n, const char *s) {
  if (s == NULL) return -1;
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], s) == 0) return i;
  return -1;
}

const char *pt_dtype_name(pt_dtype_t d) {
  if ((int)d < 0 || d >= PT_DTYPE_COUNT) return "unknown";
  return dtype_names[d];
}

const char *pt_act_name(pt_act_t a) {
  if ((int)a < 0 || a >= PT_ACT_COUNT) return "unknown";
  return act_names[a];
}

int pt_dtype_parse(const char *s, pt_dtype_t *out) {
  int i = lookup(dtype_names, PT_DTYPE_COUNT, s);
  if (i < 0) return -1;
  *out = (pt_dtype_t)i;
  return 0;
}

int pt_act_parse(const char *s, pt_act_t *out) {
  int i = lookup(act_names, PT_ACT_COUNT, s);
  if (i < 0) return -1;
  *out = (pt_act_t)i;
  return 0;
}
