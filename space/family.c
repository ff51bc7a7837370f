/* Model families: strict loading of families/grid JSON (see family.h). */
#include "family.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* space/families.json, embedded by build-aux/embed-json.sh. */
extern const char pt__family_builtin_json[];
extern const size_t pt__family_builtin_json_len;

#define FILE_MAX (64u << 20)  /* a grid file is small; refuse anything huge */

/* Where the parser is, for messages: "'f.json': family 'x': ...". */
typedef struct parse_s {
  const char *source;
  char where[PT_FAMILY_NAME_MAX + 32];  /* "family 'x'", "family #2" or "" */
  pt_err_t *err;
} parse_t;

__attribute__((format(printf, 2, 3)))
static int fail(parse_t *p, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (p->where[0] != '\0')
    return pt_err_set(p->err, PT_EINVAL, "'%s': %s: %s", p->source, p->where,
                      msg);
  return pt_err_set(p->err, PT_EINVAL, "'%s': %s", p->source, msg);
}

/* A rule's verdict (rc from a pt_family_check_* or pt_family_json_int) as
 * this file's error. */
static int rule(parse_t *p, int rc, const pt_err_t *verdict) {
  return rc == PT_OK ? PT_OK : fail(p, "%s", verdict->msg);
}

const char *pt_family_json_type(const struct cJSON *item) {
  if (cJSON_IsString(item)) return "a string";
  if (cJSON_IsNumber(item)) return "a number";
  if (cJSON_IsArray(item)) return "an array";
  if (cJSON_IsObject(item)) return "an object";
  if (cJSON_IsBool(item)) return "a boolean";
  return "null";
}

/* Only the keys in allowed[], each at most once. */
static int check_keys(parse_t *p, const cJSON *obj,
                      const char *const *allowed, int nallowed) {
  for (const cJSON *it = obj->child; it != NULL; it = it->next) {
    int known = 0;
    for (int i = 0; i < nallowed && !known; i++)
      known = strcmp(it->string, allowed[i]) == 0;
    if (!known) return fail(p, "unknown key '%.64s'", it->string);
    for (const cJSON *o = obj->child; o != it; o = o->next)
      if (strcmp(o->string, it->string) == 0)
        return fail(p, "key '%.64s' given twice", it->string);
  }
  return PT_OK;
}

/* A JSON number that is exactly an int. */
static int as_int(const cJSON *item, int *out) {
  if (!cJSON_IsNumber(item)) return -1;
  double d = item->valuedouble;
  if (!(d >= INT_MIN && d <= INT_MAX) || (double)(int)d != d) return -1;
  *out = (int)d;
  return 0;
}

int pt_family_json_int(const struct cJSON *item, const char *field, int *out,
                       pt_err_t *err) {
  if (as_int(item, out) == 0) return PT_OK;
  if (cJSON_IsNumber(item))
    return pt_err_set(err, PT_EINVAL, "field '%s' must be an integer (got %g)",
                      field, item->valuedouble);
  return pt_err_set(err, PT_EINVAL, "field '%s' must be an integer (got %s)",
                    field, pt_family_json_type(item));
}

static int get_int(parse_t *p, const cJSON *obj, const char *field, int *out) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
  pt_err_t verdict;
  if (item == NULL) return fail(p, "missing field '%s'", field);
  return rule(p, pt_family_json_int(item, field, out, &verdict), &verdict);
}

static int get_string(parse_t *p, const cJSON *obj, const char *field,
                      const char **out) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
  if (item == NULL) return fail(p, "missing field '%s'", field);
  if (!cJSON_IsString(item))
    return fail(p, "field '%s' must be a string (got %s)", field,
                pt_family_json_type(item));
  *out = item->valuestring;
  return PT_OK;
}

/* Non-empty, positive, strictly increasing, within the sorted-id range. */
static int parse_tokens(parse_t *p, const cJSON *item, int **out, int *n) {
  if (!cJSON_IsArray(item))
    return fail(p, "field 'tokens' must be an array (got %s)",
                pt_family_json_type(item));
  int count = cJSON_GetArraySize(item);
  if (count == 0) return fail(p, "field 'tokens' must not be empty");
  int *tokens = malloc((size_t)count * sizeof *tokens);
  if (tokens == NULL) return pt_err_set(p->err, PT_ENOMEM, "out of memory");
  int i = 0, rc = PT_OK;
  for (const cJSON *t = item->child; t != NULL && rc == PT_OK; t = t->next, i++) {
    if (as_int(t, &tokens[i]) != 0)
      rc = cJSON_IsNumber(t)
               ? fail(p, "field 'tokens' must hold integers (got %g at index %d)",
                      t->valuedouble, i)
               : fail(p, "field 'tokens' must hold integers (got %s at index %d)",
                      pt_family_json_type(t), i);
    else if (tokens[i] < 1 || tokens[i] > PT_FAMILY_TOKENS_MAX)
      rc = fail(p, "field 'tokens' must hold values from 1 to %d (got %d at "
                "index %d)", PT_FAMILY_TOKENS_MAX, tokens[i], i);
    else if (i > 0 && tokens[i] == tokens[i - 1])
      rc = fail(p, "field 'tokens' has %d twice (index %d)", tokens[i], i);
    else if (i > 0 && tokens[i] < tokens[i - 1])
      rc = fail(p, "field 'tokens' must be increasing (got %d after %d at "
                "index %d)", tokens[i], tokens[i - 1], i);
  }
  if (rc != PT_OK) {
    free(tokens);
    return rc;
  }
  *out = tokens;
  *n = count;
  return PT_OK;
}

static int valid_name(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))) return 0;
  for (; *s != '\0'; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
          *s == '_' || *s == '-'))
      return 0;
  return 1;
}

int pt_family_check_name(const char *name, pt_err_t *err) {
  if (!valid_name(name))
    return pt_err_set(err, PT_EINVAL, "field 'name' must match "
                      "[a-z0-9][a-z0-9._-]* (got '%.64s')", name);
  if (strlen(name) >= PT_FAMILY_NAME_MAX)
    return pt_err_set(err, PT_EINVAL, "field 'name' must be at most %d "
                      "characters (got '%.64s...')", PT_FAMILY_NAME_MAX - 1, name);
  return PT_OK;
}

int pt_family_check_dim(const char *field, int value, pt_err_t *err) {
  if (value <= 0)
    return pt_err_set(err, PT_EINVAL, "field '%s' must be positive (got %d)",
                      field, value);
  if (value % PT_FAMILY_DIM_ALIGN != 0)
    return pt_err_set(err, PT_EINVAL, "field '%s' must be a multiple of %d "
                      "(got %d)", field, PT_FAMILY_DIM_ALIGN, value);
  return PT_OK;
}

int pt_family_check_experts(int experts, pt_err_t *err) {
  if (experts < 1)
    return pt_err_set(err, PT_EINVAL, "field 'experts' must be at least 1 "
                      "(got %d)", experts);
  return PT_OK;
}

int pt_family_check_topk(int topk, int experts, pt_err_t *err) {
  if (topk < 1 || topk > PT_FAMILY_TOPK_MAX)
    return pt_err_set(err, PT_EINVAL, "field 'topk' must be from 1 to %d "
                      "(got %d)", PT_FAMILY_TOPK_MAX, topk);
  if (topk > experts)
    return pt_err_set(err, PT_EINVAL, "field 'topk' must not exceed 'experts' "
                      "(got topk %d with %d experts)", topk, experts);
  return PT_OK;
}

static int parse_name(parse_t *p, const cJSON *obj, pt_family_t *f) {
  const char *name;
  pt_err_t verdict;
  int rc = get_string(p, obj, "name", &name);
  if (rc == PT_OK) rc = rule(p, pt_family_check_name(name, &verdict), &verdict);
  if (rc != PT_OK) return rc;
  snprintf(f->name, sizeof f->name, "%s", name);
  snprintf(p->where, sizeof p->where, "family '%s'", name);
  return PT_OK;
}

static int parse_dim(parse_t *p, const cJSON *obj, const char *field, int *out) {
  pt_err_t verdict;
  int rc = get_int(p, obj, field, out);
  if (rc != PT_OK) return rc;
  return rule(p, pt_family_check_dim(field, *out, &verdict), &verdict);
}

static int parse_routing(parse_t *p, const cJSON *obj, pt_family_t *f) {
  pt_err_t verdict;
  int rc = get_int(p, obj, "experts", &f->experts);
  if (rc == PT_OK)
    rc = rule(p, pt_family_check_experts(f->experts, &verdict), &verdict);
  if (rc == PT_OK) rc = get_int(p, obj, "topk", &f->topk);
  if (rc == PT_OK)
    rc = rule(p, pt_family_check_topk(f->topk, f->experts, &verdict), &verdict);
  return rc;
}

static void dtype_list(char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (int d = 0; d < PT_DTYPE_COUNT && n < len; d++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s", d ? ", " : "",
                          pt_dtype_name((pt_dtype_t)d));
}

static int parse_dtypes(parse_t *p, const cJSON *obj, pt_family_t *f) {
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "dtypes");
  if (arr == NULL) return fail(p, "missing field 'dtypes'");
  if (!cJSON_IsArray(arr))
    return fail(p, "field 'dtypes' must be an array (got %s)",
                pt_family_json_type(arr));
  if (arr->child == NULL) return fail(p, "field 'dtypes' must not be empty");
  char known[64];
  dtype_list(known, sizeof known);
  for (const cJSON *it = arr->child; it != NULL; it = it->next) {
    pt_dtype_t d;
    if (!cJSON_IsString(it))
      return fail(p, "field 'dtypes' must hold strings (got %s)",
                  pt_family_json_type(it));
    if (pt_dtype_parse(it->valuestring, &d) != 0)
      return fail(p, "field 'dtypes' has unknown dtype '%.32s' (known: %s)",
                  it->valuestring, known);
    for (int i = 0; i < f->ndtypes; i++)
      if (f->dtypes[i] == d)
        return fail(p, "field 'dtypes' has '%s' twice", it->valuestring);
    f->dtypes[f->ndtypes++] = d;
  }
  return PT_OK;
}

static int parse_act(parse_t *p, const cJSON *obj, pt_family_t *f) {
  const char *s;
  int rc = get_string(p, obj, "act", &s);
  if (rc != PT_OK) return rc;
  if (pt_act_parse(s, &f->act) == 0) return PT_OK;
  char known[64];
  size_t n = 0;
  for (int a = 0; a < PT_ACT_COUNT && n < sizeof known; a++)
    n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", a ? ", " : "",
                          pt_act_name((pt_act_t)a));
  return fail(p, "field 'act' has unknown activation '%.32s' (known: %s)", s,
              known);
}

/* Family #index (1-based) from obj; families without their own tokens
 * take set's top-level grid. */
static int parse_family(parse_t *p, const cJSON *obj, int index,
                        const pt_family_set_t *set, pt_family_t *f) {
  static const char *const keys[] = {"name", "model_dim", "inter_dim",
                                     "experts", "topk", "dtypes", "act",
                                     "tokens"};
  snprintf(p->where, sizeof p->where, "family #%d", index);
  if (!cJSON_IsObject(obj))
    return fail(p, "must be an object (got %s)", pt_family_json_type(obj));
  int rc = parse_name(p, obj, f);
  if (rc == PT_OK) rc = check_keys(p, obj, keys, 8);
  if (rc == PT_OK) rc = parse_dim(p, obj, "model_dim", &f->model_dim);
  if (rc == PT_OK) rc = parse_dim(p, obj, "inter_dim", &f->inter_dim);
  if (rc == PT_OK) rc = parse_routing(p, obj, f);
  if (rc == PT_OK) rc = parse_dtypes(p, obj, f);
  if (rc == PT_OK) rc = parse_act(p, obj, f);
  if (rc != PT_OK) return rc;
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(obj, "tokens");
  if (tok != NULL) {
    f->own_tokens = 1;
    return parse_tokens(p, tok, &f->tokens, &f->ntokens);
  }
  if (set->tokens == NULL)
    return fail(p, "missing field 'tokens' (give it here or at the top level)");
  f->tokens = malloc((size_t)set->ntokens * sizeof *f->tokens);
  if (f->tokens == NULL) return pt_err_set(p->err, PT_ENOMEM, "out of memory");
  memcpy(f->tokens, set->tokens, (size_t)set->ntokens * sizeof *f->tokens);
  f->ntokens = set->ntokens;
  return PT_OK;
}

static int parse_families(parse_t *p, const cJSON *arr, pt_family_set_t *set) {
  if (arr == NULL) return fail(p, "missing field 'families'");
  if (!cJSON_IsArray(arr))
    return fail(p, "field 'families' must be an array (got %s)",
                pt_family_json_type(arr));
  int n = cJSON_GetArraySize(arr);
  if (n == 0) return fail(p, "field 'families' must not be empty");
  set->families = calloc((size_t)n, sizeof *set->families);
  if (set->families == NULL) return pt_err_set(p->err, PT_ENOMEM, "out of memory");
  int rc = PT_OK;
  for (const cJSON *it = arr->child; it != NULL && rc == PT_OK; it = it->next) {
    pt_family_t *f = &set->families[set->nfamilies++];
    rc = parse_family(p, it, set->nfamilies, set, f);
    for (int j = 0; rc == PT_OK && j < set->nfamilies - 1; j++)
      if (strcmp(set->families[j].name, f->name) == 0)
        rc = fail(p, "name already used by family #%d", j + 1);
  }
  return rc;
}

static int parse_root(parse_t *p, const cJSON *root, pt_family_set_t *set) {
  static const char *const keys[] = {"version", "tokens", "families"};
  if (!cJSON_IsObject(root))
    return fail(p, "must hold a JSON object (got %s)", pt_family_json_type(root));
  int rc = check_keys(p, root, keys, 3);
  int version = 0;
  if (rc == PT_OK) rc = get_int(p, root, "version", &version);
  if (rc == PT_OK && version != PT_FAMILY_VERSION)
    rc = fail(p, "field 'version' must be %d (got %d)", PT_FAMILY_VERSION,
              version);
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "tokens");
  if (rc == PT_OK && tok != NULL)
    rc = parse_tokens(p, tok, &set->tokens, &set->ntokens);
  if (rc == PT_OK)
    rc = parse_families(p, cJSON_GetObjectItemCaseSensitive(root, "families"),
                        set);
  return rc;
}

/* Line and column (1-based) of offset in text. */
static void position(const char *text, size_t offset, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < offset; i++) {
    if (text[i] == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

/* Whether a failed parse at off is the input ending early: the text ends
 * inside a string or an open array/object, and nothing structural follows
 * the error (so it is not a mistake earlier in a cut file). */
static int truncated(const char *buf, size_t len, size_t off) {
  int in_string = 0, escaped = 0, depth = 0, structural_after = 0;
  for (size_t i = 0; i < len; i++) {
    char c = buf[i];
    if (in_string) {
      if (escaped) escaped = 0;
      else if (c == '\\') escaped = 1;
      else if (c == '"') in_string = 0;
      continue;
    }
    if (c == '"') in_string = 1;
    else if (c == '{' || c == '[') depth++;
    else if (c == '}' || c == ']') depth--;
    if (i > off && strchr("{}[],:", c) != NULL) structural_after = 1;
  }
  return (in_string || depth > 0) && !structural_after;
}

static int syntax_error(parse_t *p, const char *buf, size_t len,
                        const char *end) {
  size_t off = end != NULL && end >= buf && end <= buf + len ? (size_t)(end - buf)
                                                              : len;
  size_t rest = off, lead = 0;
  while (rest < len && strchr(" \t\r\n", buf[rest]) != NULL) rest++;
  while (lead < len && strchr(" \t\r\n", buf[lead]) != NULL) lead++;
  if (lead == len) return fail(p, "is empty (expected a JSON object)");
  int line, col;
  if (rest >= len || truncated(buf, len, off)) {
    position(buf, len, &line, &col);
    return fail(p, "truncated JSON: unexpected end of input at line %d, "
                "column %d", line, col);
  }
  position(buf, off, &line, &col);
  return fail(p, "invalid JSON at line %d, column %d", line, col);
}

/* text as one JSON document; *root (NULL on failure) is the caller's to
 * cJSON_Delete. */
static int parse_json(parse_t *p, const char *text, size_t len, cJSON **root) {
  *root = NULL;
  const char *nul = memchr(text, '\0', len);
  if (nul != NULL)
    return fail(p, "holds a NUL byte at offset %zu", (size_t)(nul - text));
  char *buf = malloc(len + 1);
  if (buf == NULL) return pt_err_set(p->err, PT_ENOMEM, "out of memory");
  memcpy(buf, text, len);
  buf[len] = '\0';
  const char *end = NULL;
  *root = cJSON_ParseWithOpts(buf, &end, 1);
  int rc = *root == NULL ? syntax_error(p, buf, len, end) : PT_OK;
  free(buf);
  return rc;
}

/* The whole file at path, malloc'd into *out (NULL on failure). */
static int read_file(const char *path, char **out, size_t *outlen,
                     pt_err_t *err) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return pt_err_set(err, PT_EINVAL, "'%s': cannot open: %s", path,
                      strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = PT_OK;
  while (rc == PT_OK) {
    if (len == cap) {
      cap = cap ? cap * 2 : 8192;
      char *nbuf = cap <= FILE_MAX ? realloc(buf, cap) : NULL;
      if (nbuf == NULL) {
        rc = cap > FILE_MAX ? pt_err_set(err, PT_EINVAL, "'%s': larger than %u "
                                         "bytes", path, FILE_MAX)
                            : pt_err_set(err, PT_ENOMEM, "out of memory");
        break;
      }
      buf = nbuf;
    }
    size_t got = fread(buf + len, 1, cap - len, fp);
    len += got;
    if (got == 0) break;
  }
  if (rc == PT_OK && ferror(fp))
    rc = pt_err_set(err, PT_EINVAL, "'%s': cannot read: %s", path,
                    strerror(errno));
  fclose(fp);
  if (rc != PT_OK) {
    free(buf);
    return rc;
  }
  *out = buf;
  *outlen = len;
  return PT_OK;
}

int pt_family_parse(const char *text, size_t len, const char *source,
                    pt_family_set_t *out, pt_err_t *err) {
  parse_t p = {source, "", err};
  memset(out, 0, sizeof *out);
  snprintf(out->source, sizeof out->source, "%s", source);
  cJSON *root;
  int rc = parse_json(&p, text, len, &root);
  if (rc == PT_OK) rc = parse_root(&p, root, out);
  cJSON_Delete(root);
  if (rc != PT_OK) pt_family_set_free(out);
  return rc;
}

int pt_family_load_file(const char *path, pt_family_set_t *out, pt_err_t *err) {
  memset(out, 0, sizeof *out);
  char *buf;
  size_t len;
  int rc = read_file(path, &buf, &len, err);
  if (rc == PT_OK) rc = pt_family_parse(buf, len, path, out, err);
  free(buf);
  return rc;
}

int pt_family_read_json(const char *path, struct cJSON **root, pt_err_t *err) {
  parse_t p = {path, "", err};
  char *buf;
  size_t len;
  *root = NULL;
  int rc = read_file(path, &buf, &len, err);
  if (rc == PT_OK) rc = parse_json(&p, buf, len, root);
  free(buf);
  return rc;
}

int pt_family_load_builtin(pt_family_set_t *out, pt_err_t *err) {
  return pt_family_parse(pt__family_builtin_json, pt__family_builtin_json_len,
                         "<built-in>", out, err);
}

void pt_family_set_free(pt_family_set_t *set) {
  for (int i = 0; i < set->nfamilies; i++) free(set->families[i].tokens);
  free(set->families);
  free(set->tokens);
  set->families = NULL;
  set->nfamilies = 0;
  set->tokens = NULL;
  set->ntokens = 0;
}

const pt_family_t *pt_family_find(const pt_family_set_t *set,
                                  const char *name) {
  for (int i = 0; i < set->nfamilies; i++)
    if (strcmp(set->families[i].name, name) == 0) return &set->families[i];
  return NULL;
}

int pt_family_lookup(const pt_family_set_t *set, const char *name,
                     const pt_family_t **out, pt_err_t *err) {
  *out = pt_family_find(set, name);
  if (*out == NULL)
    return pt_err_set(err, PT_EINVAL, "unknown family '%.64s' in '%s'", name,
                      set->source);
  return PT_OK;
}

int pt_family_shape(const pt_family_t *f, pt_dtype_t dtype,
                    pt_moe_shape_t *out, pt_err_t *err) {
  for (int i = 0; i < f->ndtypes; i++) {
    if (f->dtypes[i] != dtype) continue;
    out->model_dim = f->model_dim;
    out->inter_dim = f->inter_dim;
    out->experts = f->experts;
    out->topk = f->topk;
    out->dtype = dtype;
    out->act = f->act;
    return PT_OK;
  }
  return pt_err_set(err, PT_EINVAL, "family '%s' has no dtype '%s'", f->name,
                    pt_dtype_name(dtype));
}

/* ---- writing ---- */

/* Appends item to arr, which then owns it; 0 (item freed) on failure. */
static int append(cJSON *arr, cJSON *item) {
  if (item != NULL && cJSON_AddItemToArray(arr, item)) return 1;
  cJSON_Delete(item);
  return 0;
}

static int add_ints(cJSON *obj, const char *key, const int *v, int n) {
  cJSON *arr = cJSON_AddArrayToObject(obj, key);
  int ok = arr != NULL;
  for (int i = 0; ok && i < n; i++) ok = append(arr, cJSON_CreateNumber(v[i]));
  return ok;
}

/* Fields in the order of family.h's format; 0 on allocation failure. */
static int add_family(cJSON *fams, const pt_family_t *f) {
  cJSON *o = cJSON_CreateObject();
  if (!append(fams, o)) return 0;
  int ok = cJSON_AddStringToObject(o, "name", f->name) != NULL &&
           cJSON_AddNumberToObject(o, "model_dim", f->model_dim) != NULL &&
           cJSON_AddNumberToObject(o, "inter_dim", f->inter_dim) != NULL &&
           cJSON_AddNumberToObject(o, "experts", f->experts) != NULL &&
           cJSON_AddNumberToObject(o, "topk", f->topk) != NULL;
  cJSON *dt = ok ? cJSON_AddArrayToObject(o, "dtypes") : NULL;
  ok = dt != NULL;
  for (int i = 0; ok && i < f->ndtypes; i++)
    ok = append(dt, cJSON_CreateString(pt_dtype_name(f->dtypes[i])));
  ok = ok && cJSON_AddStringToObject(o, "act", pt_act_name(f->act)) != NULL;
  return ok && (!f->own_tokens || add_ints(o, "tokens", f->tokens, f->ntokens));
}

int pt_family_to_json(const pt_family_set_t *set, char **out, pt_err_t *err) {
  *out = NULL;
  cJSON *root = cJSON_CreateObject();
  int ok = root != NULL &&
           cJSON_AddNumberToObject(root, "version", PT_FAMILY_VERSION) != NULL &&
           (set->tokens == NULL ||
            add_ints(root, "tokens", set->tokens, set->ntokens));
  cJSON *fams = ok ? cJSON_AddArrayToObject(root, "families") : NULL;
  ok = fams != NULL;
  for (int i = 0; ok && i < set->nfamilies; i++)
    ok = add_family(fams, &set->families[i]);
  if (ok) *out = cJSON_Print(root);
  cJSON_Delete(root);
  if (*out == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
  return PT_OK;
}
