/* The JSON-lines protocol between the supervisor and its workers, and the
 * line buffer both read into (see proto.h for the messages). */
#include "proto.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- line buffer ---- */

/* What an unallocated buffer points at: reads see "", nothing writes here. */
static char pt__buf_empty[1];

void pt_buf_init(pt_buf_t *b) {
  b->buf = pt__buf_empty;
  b->len = b->alloc = b->start = 0;
}

void pt_buf_free(pt_buf_t *b) {
  if (b->alloc > 0) free(b->buf);
  pt_buf_init(b);
}

/* Drops the consumed prefix so that a long-lived reader does not grow. */
static void buf_compact(pt_buf_t *b) {
  if (b->start == 0) return;
  memmove(b->buf, b->buf + b->start, b->len - b->start + 1);
  b->len -= b->start;
  b->start = 0;
}

int pt_buf_grow(pt_buf_t *b, size_t extra, pt_err_t *err) {
  if (b->alloc > 0) buf_compact(b);
  if (extra > SIZE_MAX / 2 - b->len)
    return pt_err_set(err, PT_ENOMEM, "line buffer too large");
  size_t need = b->len + extra + 1;
  if (need <= b->alloc) return PT_OK;
  size_t cap = b->alloc > 0 ? b->alloc : 256;
  while (cap < need) cap *= 2;
  char *p = b->alloc > 0 ? realloc(b->buf, cap) : malloc(cap);
  if (p == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for a line");
  if (b->alloc == 0) p[0] = '\0';
  b->buf = p;
  b->alloc = cap;
  return PT_OK;
}

char *pt_buf_tail(pt_buf_t *b, size_t *space) {
  *space = b->alloc > 0 ? b->alloc - b->len - 1 : 0;
  return b->buf + b->len;
}

void pt_buf_commit(pt_buf_t *b, size_t n) {
  if (n == 0) return;
  b->len += n;
  b->buf[b->len] = '\0';
}

int pt_buf_add(pt_buf_t *b, const void *data, size_t n, pt_err_t *err) {
  int rc = pt_buf_grow(b, n, err);
  if (rc != PT_OK) return rc;
  memcpy(b->buf + b->len, data, n);
  pt_buf_commit(b, n);
  return PT_OK;
}

char *pt_buf_next_line(pt_buf_t *b) {
  char *line = b->buf + b->start;
  char *nl = memchr(line, '\n', b->len - b->start);
  if (nl == NULL) return NULL;
  *nl = '\0';
  b->start = (size_t)(nl - b->buf) + 1;
  return line;
}

size_t pt_buf_pending(const pt_buf_t *b) { return b->len - b->start; }

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pt_proto_b64_encode(const void *data, size_t n) {
  const unsigned char *p = data;
  char *out = malloc((n + 2) / 3 * 4 + 1);
  if (out == NULL) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    out[o++] = b64_alphabet[v >> 18 & 63];
    out[o++] = b64_alphabet[v >> 12 & 63];
    out[o++] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
  }
  out[o] = '\0';
  return out;
}

static int b64_value(char c) {
  const char *p = c != '\0' ? strchr(b64_alphabet, c) : NULL;
  return p != NULL ? (int)(p - b64_alphabet) : -1;
}

int pt_proto_b64_decode(const char *text, void **out, size_t *n,
                        pt_err_t *err) {
  size_t len = strlen(text);
  *out = NULL;
  *n = 0;
  if (len % 4 != 0)
    return pt_err_set(err, PT_EINVAL, "base64 length %zu is not a multiple of 4",
                      len);
  size_t pad = len > 0 && text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
  unsigned char *buf = malloc(len / 4 * 3 + 1);
  if (buf == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for base64");
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int last = i + 4 == len;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
      int d = last && k >= 4 - (int)pad ? 0 : b64_value(text[i + (size_t)k]);
      if (d < 0) {
        free(buf);
        return pt_err_set(err, PT_EINVAL, "bad base64 character at offset %zu",
                          i + (size_t)k);
      }
      v = v << 6 | (uint32_t)d;
    }
    buf[o++] = (unsigned char)(v >> 16);
    if (!last || pad < 2) buf[o++] = (unsigned char)(v >> 8);
    if (!last || pad < 1) buf[o++] = (unsigned char)v;
  }
  *out = buf;
  *n = o;
  return PT_OK;
}

/* ---- encoding ---- */

/* JSON has no NaN: statistics that do not apply are null. */
static int add_num(cJSON *o, const char *k, double v) {
  return (isfinite(v) ? cJSON_AddNumberToObject(o, k, v)
                      : cJSON_AddNullToObject(o, k)) != NULL;
}

/* Counts that do not apply are -1 in C and null in JSON. */
static int add_count(cJSON *o, const char *k, int v) {
  return v >= 0 ? add_num(o, k, v) : cJSON_AddNullToObject(o, k) != NULL;
}

static int add_str(cJSON *o, const char *k, const char *v) {
  return cJSON_AddStringToObject(o, k, v) != NULL;
}

/* Prints o as one line with its '\n' and frees o. */
static char *finish_line(cJSON *o, int ok) {
  char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (text == NULL) return NULL;
  size_t n = strlen(text);
  char *line = realloc(text, n + 2);
  if (line == NULL) {
    free(text);
    return NULL;
  }
  line[n] = '\n';
  line[n + 1] = '\0';
  return line;
}

char *pt_proto_hello(const pt_gpu_props_t *p) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && add_str(o, "type", "hello") &&
           add_num(o, "gpu", p->ordinal) &&
           add_str(o, "backend", pt_gpu_backend_name(p->backend)) &&
           add_str(o, "name", p->name) && add_str(o, "arch", p->arch) &&
           add_str(o, "pci_bus_id", p->pci_bus_id) &&
           add_str(o, "driver", p->driver) &&
           add_num(o, "sm_count", p->sm_count) &&
           add_num(o, "warp_size", p->warp_size) &&
           add_num(o, "max_threads_per_block", p->max_threads_per_block) &&
           add_num(o, "max_threads_per_sm", p->max_threads_per_sm) &&
           add_num(o, "regs_per_block", p->regs_per_block) &&
           add_num(o, "regs_per_sm", p->regs_per_sm) &&
           add_num(o, "smem_per_block", (double)p->smem_per_block) &&
           add_num(o, "smem_per_block_optin", (double)p->smem_per_block_optin) &&
           add_num(o, "smem_per_sm", (double)p->smem_per_sm) &&
           add_num(o, "l2_bytes", (double)p->l2_bytes) &&
           add_num(o, "global_mem", (double)p->global_mem) &&
           add_num(o, "clock_khz", p->clock_khz) &&
           add_num(o, "mem_clock_khz", p->mem_clock_khz) &&
           add_num(o, "mem_bus_bits", p->mem_bus_bits);
  return finish_line(o, ok);
}

char *pt_proto_begin(int64_t id) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && add_str(o, "type", "begin") && add_num(o, "id", (double)id);
  return finish_line(o, ok);
}

void pt_proto_result_init(pt_proto_result_t *r, int64_t id) {
  memset(r, 0, sizeof *r);
  r->id = id;
  snprintf(r->status, sizeof r->status, "ok");
  r->median_us = r->min_us = r->p90_us = r->spread = NAN;
  r->floor_us = r->err_max_abs = r->err_mean_abs = r->err_max_rel = NAN;
  r->samples = r->sm_clock_mhz = r->temp_c = -1;
}

char *pt_proto_result(const pt_proto_result_t *r) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && add_str(o, "type", "result") &&
           add_num(o, "id", (double)r->id) && add_str(o, "status", r->status) &&
           add_num(o, "median_us", r->median_us) &&
           add_num(o, "min_us", r->min_us) && add_num(o, "p90_us", r->p90_us) &&
           add_num(o, "spread", r->spread) && add_count(o, "samples", r->samples) &&
           add_num(o, "floor_us", r->floor_us) &&
           add_num(o, "err_max_abs", r->err_max_abs) &&
           add_num(o, "err_mean_abs", r->err_mean_abs) &&
           add_num(o, "err_max_rel", r->err_max_rel) &&
           add_count(o, "sm_clock_mhz", r->sm_clock_mhz) &&
           (r->temp_c != -1 ? add_num(o, "temp_c", r->temp_c)
                                   : cJSON_AddNullToObject(o, "temp_c") != NULL) && add_str(o, "reason", r->reason) &&
           cJSON_AddBoolToObject(o, "fatal", r->fatal) != NULL;
  return finish_line(o, ok);
}

static int add_code(cJSON *o, const char *k, const void *data, size_t n) {
  if (data == NULL) return 1;
  char *b64 = pt_proto_b64_encode(data, n);
  int ok = b64 != NULL && add_str(o, k, b64);
  free(b64);
  return ok;
}

char *pt_proto_item(const pt_proto_item_t *it) {
  char spec[PT_KNOBS_SPEC_MAX];
  if (pt_knobs_format(&it->variant, spec, sizeof spec) < 0) return NULL;
  const pt_moe_shape_t *s = &it->shape;
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && add_str(o, "type", "item") &&
           add_num(o, "id", (double)it->id) &&
           add_str(o, "stage", pt_stage_name(it->variant.stage)) &&
           add_str(o, "spec", spec) && add_str(o, "family", it->family) &&
           add_num(o, "model_dim", s->model_dim) &&
           add_num(o, "inter_dim", s->inter_dim) &&
           add_num(o, "experts", s->experts) && add_num(o, "topk", s->topk) &&
           add_str(o, "dtype", pt_dtype_name(s->dtype)) &&
           add_str(o, "act", pt_act_name(s->act)) &&
           add_num(o, "tokens", it->tokens) &&
           add_str(o, "routing", it->routing) &&
           add_num(o, "seed", (double)it->seed) &&
           add_str(o, "regime", it->warm ? "warm" : "cold") &&
           add_num(o, "min_samples", it->min_samples) &&
           add_num(o, "min_ms", it->min_ms) &&
           add_str(o, "arch", it->arch) &&
           add_code(o, "code", it->code, it->code_size) &&
           add_code(o, "reduce_code", it->reduce_code, it->reduce_code_size);
  if (ok && it->pair) {
    char spec2[PT_KNOBS_SPEC_MAX];
    ok = pt_knobs_format(&it->pair_variant, spec2, sizeof spec2) >= 0 &&
         add_str(o, "pair_spec", spec2) &&
         add_code(o, "pair_code", it->pair_code, it->pair_code_size);
  }
  return finish_line(o, ok);
}

int pt_proto_item_sbm(const pt_proto_item_t *it) {
  int bm = it->variant.bm;
  return it->pair && it->pair_variant.bm > bm ? it->pair_variant.bm : bm;
}

int pt_proto_item_key(const pt_proto_item_t *it, char *buf, size_t len) {
  char spec[PT_KNOBS_SPEC_MAX];
  char spec2[PT_KNOBS_SPEC_MAX] = "";
  if (pt_knobs_format(&it->variant, spec, sizeof spec) < 0) return PT_EINVAL;
  if (it->pair && pt_knobs_format(&it->pair_variant, spec2, sizeof spec2) < 0)
    return PT_EINVAL;
  int n = it->pair ? snprintf(buf, len, "pair/%s+%s/t=%d", spec, spec2, it->tokens)
                   : snprintf(buf, len, "%s/%s/t=%d", pt_stage_name(it->variant.stage),
                              spec, it->tokens);
  return n >= 0 && (size_t)n < len ? PT_OK : PT_EINVAL;
}

void pt_proto_item_free(pt_proto_item_t *it) {
  free(it->code);
  free(it->reduce_code);
  free(it->pair_code);
  it->code = it->reduce_code = it->pair_code = NULL;
  it->code_size = it->reduce_code_size = it->pair_code_size = 0;
}

/* ---- decoding ---- */

/* Field readers: each fails with the field named. */
static int get_num(const cJSON *o, const char *k, int nullable, double *out,
                   pt_err_t *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (nullable && cJSON_IsNull(v)) {
    *out = NAN;
    return PT_OK;
  }
  if (!cJSON_IsNumber(v))
    return pt_err_set(err, PT_EINVAL, "field '%s' %s", k,
                      v == NULL ? "is missing" : "is not a number");
  *out = v->valuedouble;
  return PT_OK;
}

static int get_int(const cJSON *o, const char *k, double lo, double hi,
                   int nullable, int64_t *out, pt_err_t *err) {
  double d;
  int rc = get_num(o, k, nullable, &d, err);
  if (rc != PT_OK) return rc;
  if (isnan(d) && nullable) {
    *out = -1;
    return PT_OK;
  }
  if (d != floor(d) || d < lo || d > hi)
    return pt_err_set(err, PT_EINVAL, "field '%s' is %g, not an integer in [%g, %g]",
                      k, d, lo, hi);
  *out = (int64_t)d;
  return PT_OK;
}

static int get_int32(const cJSON *o, const char *k, int lo, int nullable,
                     int *out, pt_err_t *err) {
  int64_t v = 0;
  int rc = get_int(o, k, lo, 2147483647.0, nullable, &v, err);
  if (rc == PT_OK) *out = (int)v;
  return rc;
}

static int get_str(const cJSON *o, const char *k, char *buf, size_t len,
                   pt_err_t *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsString(v))
    return pt_err_set(err, PT_EINVAL, "field '%s' %s", k,
                      v == NULL ? "is missing" : "is not a string");
  if (strlen(v->valuestring) >= len)
    return pt_err_set(err, PT_EINVAL, "field '%s' is longer than %zu bytes", k,
                      len - 1);
  memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
  return PT_OK;
}

static int parse_hello(const cJSON *o, pt_gpu_props_t *p, pt_err_t *err) {
  char backend[16];
  int64_t big[5] = {0};
  static const char *const big_names[] = {"smem_per_block", "smem_per_block_optin",
                                          "smem_per_sm", "l2_bytes", "global_mem"};
  memset(p, 0, sizeof *p);
  int rc = get_str(o, "backend", backend, sizeof backend, err);
  if (rc == PT_OK) {
    if (strcmp(backend, "cuda") == 0) p->backend = PT_GPU_CUDA;
    else if (strcmp(backend, "hip") == 0) p->backend = PT_GPU_HIP;
    else rc = pt_err_set(err, PT_EINVAL, "field 'backend' is '%s', not cuda or hip", backend);
  }
  if (rc == PT_OK) rc = get_int32(o, "gpu", 0, 0, &p->ordinal, err);
  if (rc == PT_OK) rc = get_str(o, "name", p->name, sizeof p->name, err);
  if (rc == PT_OK) rc = get_str(o, "arch", p->arch, sizeof p->arch, err);
  if (rc == PT_OK) rc = get_str(o, "pci_bus_id", p->pci_bus_id, sizeof p->pci_bus_id, err);
  if (rc == PT_OK) rc = get_str(o, "driver", p->driver, sizeof p->driver, err);
  struct { const char *k; int *v; } ints[] = {
      {"sm_count", &p->sm_count}, {"warp_size", &p->warp_size},
      {"max_threads_per_block", &p->max_threads_per_block},
      {"max_threads_per_sm", &p->max_threads_per_sm},
      {"regs_per_block", &p->regs_per_block}, {"regs_per_sm", &p->regs_per_sm},
      {"clock_khz", &p->clock_khz}, {"mem_clock_khz", &p->mem_clock_khz},
      {"mem_bus_bits", &p->mem_bus_bits}};
  for (size_t i = 0; rc == PT_OK && i < sizeof ints / sizeof ints[0]; i++)
    rc = get_int32(o, ints[i].k, 0, 0, ints[i].v, err);
  for (int i = 0; rc == PT_OK && i < 5; i++)
    rc = get_int(o, big_names[i], 0, 9.0e15, 0, &big[i], err);
  if (rc != PT_OK) return rc;
  p->smem_per_block = (size_t)big[0];
  p->smem_per_block_optin = (size_t)big[1];
  p->smem_per_sm = (size_t)big[2];
  p->l2_bytes = (size_t)big[3];
  p->global_mem = (size_t)big[4];
  return PT_OK;
}

static int parse_result(const cJSON *o, pt_proto_result_t *r, pt_err_t *err) {
  pt_proto_result_init(r, 0);
  int rc = get_int(o, "id", 0, 9.0e15, 0, &r->id, err);
  if (rc == PT_OK) rc = get_str(o, "status", r->status, sizeof r->status, err);
  struct { const char *k; double *v; } nums[] = {
      {"median_us", &r->median_us}, {"min_us", &r->min_us},
      {"p90_us", &r->p90_us}, {"spread", &r->spread},
      {"floor_us", &r->floor_us}, {"err_max_abs", &r->err_max_abs},
      {"err_mean_abs", &r->err_mean_abs}, {"err_max_rel", &r->err_max_rel}};
  for (size_t i = 0; rc == PT_OK && i < sizeof nums / sizeof nums[0]; i++)
    rc = get_num(o, nums[i].k, 1, nums[i].v, err);
  if (rc == PT_OK) rc = get_int32(o, "samples", 0, 1, &r->samples, err);
  if (rc == PT_OK) rc = get_int32(o, "sm_clock_mhz", 0, 1, &r->sm_clock_mhz, err);
  if (rc == PT_OK) rc = get_int32(o, "temp_c", -300, 1, &r->temp_c, err);
  if (rc == PT_OK) rc = get_str(o, "reason", r->reason, sizeof r->reason, err);
  const cJSON *fatal = cJSON_GetObjectItemCaseSensitive(o, "fatal");
  if (rc == PT_OK && !cJSON_IsBool(fatal))
    rc = pt_err_set(err, PT_EINVAL, "field 'fatal' %s",
                    fatal == NULL ? "is missing" : "is not true or false");
  r->fatal = rc == PT_OK && cJSON_IsTrue(fatal);
  return rc;
}

static int get_code(const cJSON *o, const char *k, void **data, size_t *n,
                    pt_err_t *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (v == NULL) return PT_OK;
  if (!cJSON_IsString(v))
    return pt_err_set(err, PT_EINVAL, "field '%s' is not a string", k);
  int rc = pt_proto_b64_decode(v->valuestring, data, n, err);
  return rc == PT_OK ? rc : pt_err_prefix(err, "field '%s'", k);
}

static int parse_item_shape(const cJSON *o, pt_proto_item_t *it, pt_err_t *err) {
  char dtype[16], act[16], regime[16];
  pt_moe_shape_t *s = &it->shape;
  int rc = get_int32(o, "model_dim", 1, 0, &s->model_dim, err);
  if (rc == PT_OK) rc = get_int32(o, "inter_dim", 1, 0, &s->inter_dim, err);
  if (rc == PT_OK) rc = get_int32(o, "experts", 1, 0, &s->experts, err);
  if (rc == PT_OK) rc = get_int32(o, "topk", 1, 0, &s->topk, err);
  if (rc == PT_OK) rc = get_int32(o, "tokens", 1, 0, &it->tokens, err);
  if (rc == PT_OK) rc = get_str(o, "dtype", dtype, sizeof dtype, err);
  if (rc == PT_OK && pt_dtype_parse(dtype, &s->dtype) != 0)
    rc = pt_err_set(err, PT_EINVAL, "field 'dtype' is '%s', not a dtype", dtype);
  if (rc == PT_OK) rc = get_str(o, "act", act, sizeof act, err);
  if (rc == PT_OK && pt_act_parse(act, &s->act) != 0)
    rc = pt_err_set(err, PT_EINVAL, "field 'act' is '%s', not an activation", act);
  if (rc == PT_OK) rc = get_str(o, "regime", regime, sizeof regime, err);
  if (rc == PT_OK && strcmp(regime, "cold") != 0 && strcmp(regime, "warm") != 0)
    rc = pt_err_set(err, PT_EINVAL, "field 'regime' is '%s', not cold or warm", regime);
  it->warm = rc == PT_OK && strcmp(regime, "warm") == 0;
  return rc;
}

/* A pair item's gemm2: "pair_spec" (and its code); the item's own variant
 * must then be a gemm1. */
static int parse_item_pair(const cJSON *o, pt_proto_item_t *it, pt_err_t *err) {
  char spec[PT_KNOBS_SPEC_MAX];
  if (cJSON_GetObjectItemCaseSensitive(o, "pair_spec") == NULL) return PT_OK;
  it->pair = 1;
  if (it->variant.stage != PT_STAGE_GEMM1)
    return pt_err_set(err, PT_EINVAL, "field 'pair_spec' with a gemm2 item");
  int rc = get_str(o, "pair_spec", spec, sizeof spec, err);
  if (rc == PT_OK && pt_knobs_parse(PT_STAGE_GEMM2, spec, &it->pair_variant, err) != PT_OK)
    rc = pt_err_prefix(err, "field 'pair_spec'");
  return rc == PT_OK ? get_code(o, "pair_code", &it->pair_code, &it->pair_code_size, err) : rc;
}

static int parse_item(const cJSON *o, pt_proto_item_t *it, pt_err_t *err) {
  char stage[16], spec[PT_KNOBS_SPEC_MAX];
  int64_t seed = 0;
  pt_stage_t st = PT_STAGE_GEMM1;
  memset(it, 0, sizeof *it);
  int rc = get_int(o, "id", 0, 9.0e15, 0, &it->id, err);
  if (rc == PT_OK) rc = get_str(o, "stage", stage, sizeof stage, err);
  if (rc == PT_OK && pt_stage_parse(stage, &st) != 0)
    rc = pt_err_set(err, PT_EINVAL, "field 'stage' is '%s', not gemm1 or gemm2", stage);
  if (rc == PT_OK) rc = get_str(o, "spec", spec, sizeof spec, err);
  if (rc == PT_OK && pt_knobs_parse(st, spec, &it->variant, err) != PT_OK)
    rc = pt_err_prefix(err, "field 'spec'");
  if (rc == PT_OK) rc = get_str(o, "family", it->family, sizeof it->family, err);
  if (rc == PT_OK) rc = parse_item_shape(o, it, err);
  if (rc == PT_OK) rc = get_str(o, "routing", it->routing, sizeof it->routing, err);
  if (rc == PT_OK) rc = get_int32(o, "min_samples", 1, 0, &it->min_samples, err);
  if (rc == PT_OK) rc = get_num(o, "min_ms", 0, &it->min_ms, err);
  if (rc == PT_OK && !(it->min_ms >= 0.0 && it->min_ms <= 3.6e6))
    rc = pt_err_set(err, PT_EINVAL, "field 'min_ms' is %g, not in [0, 3600000]", it->min_ms);
  if (rc == PT_OK) rc = get_int(o, "seed", 0, 9.0e15, 0, &seed, err);
  if (rc == PT_OK) rc = get_str(o, "arch", it->arch, sizeof it->arch, err);
  if (rc == PT_OK) rc = get_code(o, "code", &it->code, &it->code_size, err);
  if (rc == PT_OK)
    rc = get_code(o, "reduce_code", &it->reduce_code, &it->reduce_code_size, err);
  if (rc == PT_OK) rc = parse_item_pair(o, it, err);
  it->seed = (uint64_t)seed;
  if (rc != PT_OK) pt_proto_item_free(it);
  return rc;
}

static int parse_typed(const cJSON *o, const char *type, pt_proto_msg_t *out,
                       pt_err_t *err) {
  if (strcmp(type, "hello") == 0) {
    out->type = PT_PROTO_HELLO;
    return parse_hello(o, &out->props, err);
  }
  if (strcmp(type, "begin") == 0) {
    out->type = PT_PROTO_BEGIN;
    return get_int(o, "id", 0, 9.0e15, 0, &out->id, err);
  }
  if (strcmp(type, "result") == 0) {
    out->type = PT_PROTO_RESULT;
    return parse_result(o, &out->result, err);
  }
  if (strcmp(type, "item") == 0) {
    out->type = PT_PROTO_ITEM;
    return parse_item(o, &out->item, err);
  }
  return pt_err_set(err, PT_EINVAL, "field 'type' is '%s', not a message type",
                    type);
}

int pt_proto_parse(const char *line, pt_proto_msg_t *out, pt_err_t *err) {
  char type[16] = "";
  memset(out, 0, sizeof *out);
  cJSON *o = cJSON_Parse(line);
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return pt_err_set(err, PT_EINVAL, "not a JSON object: '%.60s'", line);
  }
  int rc = get_str(o, "type", type, sizeof type, err);
  if (rc == PT_OK) rc = parse_typed(o, type, out, err);
  cJSON_Delete(o);
  if (rc != PT_OK) {
    memset(out, 0, sizeof *out);
    if (type[0] != '\0') pt_err_prefix(err, "%s message", type);
  }
  return rc;
}

void pt_proto_msg_free(pt_proto_msg_t *m) {
  if (m->type == PT_PROTO_ITEM) pt_proto_item_free(&m->item);
}
