/* Model families and their token grids (DESIGN §4 "Shapes"), loaded from a
 * families/grid JSON file or from the built-in space/families.json, and
 * validated strictly: every error names the file, the family and the field.
 *
 * File format (version 1):
 *
 *   {"version": 1,
 *    "tokens": [1, 2, 4, ...],                  grid shared by all families
 *    "families": [
 *      {"name": "dsv3-tp8", "model_dim": 7168, "inter_dim": 256,
 *       "experts": 257, "topk": 9, "dtypes": ["a4w4"], "act": "silu",
 *       "tokens": [1, 16, 256]},                 optional, replaces the grid
 *      ...]}
 *
 * "tokens" may be left out at the top level when every family has its own.
 */
#ifndef PT_FAMILY_H
#define PT_FAMILY_H

#include <stddef.h>

#include "error.h"
#include "moe.h"

#define PT_FAMILY_NAME_MAX 64  /* name bytes, NUL included */
#define PT_FAMILY_VERSION 1
/* Sorted ids keep the token in 24 bits and the top-k slot in 8 (moe.h). */
#define PT_FAMILY_TOKENS_MAX ((1 << 24) - 1)
#define PT_FAMILY_TOPK_MAX 255
/* H and I come in whole 64-column tiles, the narrowest bn of the kernels. */
#define PT_FAMILY_DIM_ALIGN 64

struct cJSON;

typedef struct pt_family_s {
  char name[PT_FAMILY_NAME_MAX];  /* [a-z0-9][a-z0-9._-]* */
  int model_dim;                  /* H, positive multiple of 64 */
  int inter_dim;                  /* I, positive multiple of 64 */
  int experts;                    /* E >= 1 */
  int topk;                       /* 1 <= K <= E */
  pt_act_t act;
  pt_dtype_t dtypes[PT_DTYPE_COUNT];  /* distinct, in file order */
  int ndtypes;
  int *tokens;                    /* strictly increasing, positive */
  int ntokens;
  int own_tokens;                 /* tokens came from the family itself */
} pt_family_t;

typedef struct pt_family_set_s {
  char source[256];       /* the file name, or "<built-in>" */
  int *tokens;            /* the top-level grid; NULL if the file has none */
  int ntokens;
  pt_family_t *families;  /* in file order */
  int nfamilies;
} pt_family_set_t;

/* Parses len bytes of JSON (text need not be NUL-terminated); source names
 * it in messages. On success out owns its memory (pt_family_set_free); on
 * failure out is left empty and err says what and where (PT_EINVAL). */
int pt_family_parse(const char *text, size_t len, const char *source,
                    pt_family_set_t *out, pt_err_t *err);

/* Reads and parses a file: PT_EINVAL also when it cannot be read. */
int pt_family_load_file(const char *path, pt_family_set_t *out, pt_err_t *err);

/* Reads path as one JSON document with the loader's checks and messages
 * (cannot open, size, NUL byte, syntax error at line/column), all PT_EINVAL
 * and starting "'path': "; *root is the caller's to cJSON_Delete. For other
 * JSON inputs of space/ (hfconfig.c). */
int pt_family_read_json(const char *path, struct cJSON **root, pt_err_t *err);

/* The loader's reading of a JSON value, for the same messages elsewhere:
 * "a string", "a number", ..., "null"; and an int-valued number, else
 * PT_EINVAL "field 'F' must be an integer (got 1.5)". */
const char *pt_family_json_type(const struct cJSON *item);
int pt_family_json_int(const struct cJSON *item, const char *field, int *out,
                       pt_err_t *err);

/* Parses the built-in space/families.json compiled into the binary. */
int pt_family_load_builtin(pt_family_set_t *out, pt_err_t *err);

void pt_family_set_free(pt_family_set_t *set);

/* The rules every family meets, the ones the loader applies field by field;
 * for code that builds a family itself. Each fails with PT_EINVAL and a
 * message naming the grid field: "field 'inter_dim' must be a multiple of 64
 * (got 96)". */
int pt_family_check_name(const char *name, pt_err_t *err);
int pt_family_check_dim(const char *field, int value, pt_err_t *err); /* H, I */
int pt_family_check_experts(int experts, pt_err_t *err);
int pt_family_check_topk(int topk, int experts, pt_err_t *err);

/* The family called name, or NULL. */
const pt_family_t *pt_family_find(const pt_family_set_t *set, const char *name);

/* Same, as an error for user input: PT_EINVAL "unknown family 'x' in 'f'". */
int pt_family_lookup(const pt_family_set_t *set, const char *name,
                     const pt_family_t **out, pt_err_t *err);

/* The shape of family f in one of its dtypes: PT_EINVAL if f lacks dtype. */
int pt_family_shape(const pt_family_t *f, pt_dtype_t dtype,
                    pt_moe_shape_t *out, pt_err_t *err);

/* Writes set back as a version-1 file (pretty-printed, malloc'd into *out);
 * parsing the text gives an equal set. PT_ENOMEM on allocation failure. */
int pt_family_to_json(const pt_family_set_t *set, char **out, pt_err_t *err);

#endif
