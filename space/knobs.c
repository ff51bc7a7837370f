/* Knobs of the pipeline stages (see knobs.h). Everything walks the table
 * below: one row per knob, in canonical spec order (DESIGN §5 and §9). */
#include "knobs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

#define G1 (1u << PT_STAGE_GEMM1)
#define G2 (1u << PT_STAGE_GEMM2)
#define NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const int bm_values[] = {16, 32, 64, 128};
static const int bn_values[] = {64, 128, 256};
static const int kwave_values[] = {1, 2, 4};
static const int kstages_values[] = {1, 2};
static const int bool_values[] = {0, 1};
static const int spart_values[] = {0, 201, 402, 804};
static const int epilog_values[] = {PT_EPILOG_ATOMIC, PT_EPILOG_REDUCE};
static const char *const epilog_symbols[] = {"atomic", "reduce"};
static const int mma_values[] = {PT_MMA_SYNC, PT_MMA_WGMMA};
static const char *const mma_symbols[] = {"sync", "wgmma"};

static int is_pow2_upto64(int x) {
  return x >= 1 && x <= 64 && (x & (x - 1)) == 0;
}

/* spart = G*100 + M01 (ck_tile's spatially-local partitioner): G chunks
 * dealt round-robin, bands of M01 tile rows. Powers of two keep the tile
 * walk's divisions exact; the space enumerates a few of them. */
static int spart_accepts(int v) {
  return v == 0 || (v > 0 && is_pow2_upto64(v / 100) && is_pow2_upto64(v % 100));
}

/* fixed[]: what a stage compiles where the knob is not tuned (gemm1 always
 * prefetches weights two steps deep, gemm2 has one k wave and gemm1 no
 * epilog choice); where it is tuned, the default (these knobs predate every
 * database). */
#define VALUES(a) .values = (a), .nvalues = NELEMS(a)
static const pt_knob_t knobs[] = {
    {.name = "bm", .define = "PT_BM", .column = "bm", .cfield = "bm",
     .stages = G1 | G2, .offset = offsetof(pt_variant_t, bm), .neutral = 0,
     .def = {32, 32}, .fixed = {32, 32}, VALUES(bm_values)},
    {.name = "bn", .define = "PT_BN", .column = "bn", .cfield = "bn",
     .stages = G1 | G2, .offset = offsetof(pt_variant_t, bn), .neutral = 0,
     .def = {128, 128}, .fixed = {128, 128}, VALUES(bn_values)},
    {.name = "k_wave", .define = "PT_KWAVE", .column = "k_wave",
     .cfield = "k_wave", .stages = G1, .offset = offsetof(pt_variant_t, k_wave),
     .neutral = 1, .def = {1, 1}, .fixed = {1, 1}, VALUES(kwave_values)},
    {.name = "kstages", .alias = "g2_kstages", .define = "PT_KSTAGES",
     .column = "g2_kstages", .cfield = "kstages", .stages = G2,
     .offset = offsetof(pt_variant_t, kstages), .neutral = 1, .def = {1, 2},
     .fixed = {2, 2}, VALUES(kstages_values)},
    {.name = "bhoist", .define = "PT_BHOIST", .column = "bhoist",
     .cfield = "bhoist", .stages = G1 | G2,
     .offset = offsetof(pt_variant_t, bhoist), .neutral = 0, .def = {0, 0},
     .fixed = {0, 0}, VALUES(bool_values)},
    {.name = "spart", .define = "PT_SPART", .column = "spart", .cfield = "spart",
     .stages = G1 | G2, .offset = offsetof(pt_variant_t, spart), .neutral = 0,
     .def = {0, 0}, .fixed = {0, 0}, VALUES(spart_values),
     .accepts = spart_accepts,
     .accepts_text = "0 or G*100+M01 with G and M01 powers of two from 1 to 64"},
    {.name = "nt", .define = "PT_NT", .column = "nt", .cfield = "nt",
     .stages = G1 | G2, .offset = offsetof(pt_variant_t, nt), .neutral = 0,
     .def = {0, 0}, .fixed = {0, 0}, VALUES(bool_values)},
    {.name = "epilog", .define = "PT_EPILOG", .column = "epilog",
     .cfield = "epilog", .stages = G2, .offset = offsetof(pt_variant_t, epilog),
     .neutral = PT_EPILOG_ATOMIC, .def = {PT_EPILOG_ATOMIC, PT_EPILOG_ATOMIC},
     .fixed = {PT_EPILOG_ATOMIC, PT_EPILOG_ATOMIC}, VALUES(epilog_values),
     .symbols = epilog_symbols},
    {.name = "persist", .define = "PT_PERSIST", .column = "persist",
     .cfield = "persist", .stages = G1 | G2,
     .offset = offsetof(pt_variant_t, persist), .neutral = 0, .def = {0, 0},
     .fixed = {0, 0}, VALUES(bool_values)},
    {.name = "mma", .define = "PT_MMA", .column = "mma", .cfield = "mma",
     .stages = G1 | G2, .offset = offsetof(pt_variant_t, mma),
     .neutral = PT_MMA_SYNC, .def = {PT_MMA_SYNC, PT_MMA_SYNC},
     .fixed = {PT_MMA_SYNC, PT_MMA_SYNC}, VALUES(mma_values),
     .symbols = mma_symbols},
};
#undef VALUES
_Static_assert(NELEMS(knobs) <= PT_KNOBS_MAX, "raise PT_KNOBS_MAX");

static const char *const stage_names[PT_STAGE_COUNT] = {"gemm1", "gemm2"};

const char *pt_stage_name(pt_stage_t s) {
  return (unsigned)s < PT_STAGE_COUNT ? stage_names[s] : "unknown";
}

int pt_stage_parse(const char *s, pt_stage_t *out) {
  for (int i = 0; i < PT_STAGE_COUNT; i++) {
    if (strcmp(s, stage_names[i]) == 0) {
      *out = (pt_stage_t)i;
      return 0;
    }
  }
  return -1;
}

const char *pt_epilog_name(pt_epilog_t e) {
  return (unsigned)e < (unsigned)NELEMS(epilog_symbols) ? epilog_symbols[e] : "unknown";
}

int pt_epilog_parse(const char *s, pt_epilog_t *out) {
  for (int i = 0; i < NELEMS(epilog_symbols); i++) {
    if (strcmp(s, epilog_symbols[i]) == 0) {
      *out = (pt_epilog_t)i;
      return 0;
    }
  }
  return -1;
}

static int *field(pt_variant_t *v, const pt_knob_t *k) {
  return (int *)((char *)v + k->offset);
}

int pt_knobs_count(void) { return NELEMS(knobs); }

const pt_knob_t *pt_knobs_at(int i) {
  return i >= 0 && i < NELEMS(knobs) ? &knobs[i] : NULL;
}

int pt_knobs_get(const pt_variant_t *v, const pt_knob_t *k) {
  return *(const int *)((const char *)v + k->offset);
}

void pt_knobs_set(pt_variant_t *v, const pt_knob_t *k, int value) {
  *field(v, k) = value;
}

int pt_knobs_in_stage(const pt_knob_t *k, pt_stage_t s) {
  return (unsigned)s < PT_STAGE_COUNT && (k->stages & (1u << s)) != 0;
}

int pt_knobs_compiled(const pt_variant_t *v, const pt_knob_t *k) {
  return pt_knobs_in_stage(k, v->stage) ? pt_knobs_get(v, k)
                                        : k->fixed[v->stage];
}

const char *pt_knobs_symbol(const pt_knob_t *k, int value) {
  if (k->symbols == NULL || value < 0 || value >= k->nvalues) return NULL;
  return k->symbols[value];
}

int pt_knobs_cfields(pt_stage_t s, const pt_knob_t *out[PT_KNOBS_MAX]) {
  int n = 0;
  for (int symbolic = 0; symbolic < 2; symbolic++)
    for (int i = 0; i < NELEMS(knobs); i++)
      if (pt_knobs_in_stage(&knobs[i], s) && (knobs[i].symbols != NULL) == symbolic)
        out[n++] = &knobs[i];
  return n;
}

static int allowed(const pt_knob_t *k, int value) {
  if (k->accepts != NULL) return k->accepts(value);
  for (int i = 0; i < k->nvalues; i++)
    if (k->values[i] == value) return 1;
  return 0;
}

/* "one of 16, 32, 64, 128" or the knob's own description. */
static void describe_values(const pt_knob_t *k, char *buf, size_t len) {
  if (k->accepts_text != NULL) {
    snprintf(buf, len, "%s", k->accepts_text);
    return;
  }
  size_t n = (size_t)snprintf(buf, len, "one of ");
  for (int i = 0; i < k->nvalues && n < len; i++) {
    const char *sep = i > 0 ? ", " : "";
    if (k->symbols != NULL)
      n += (size_t)snprintf(buf + n, len - n, "%s%s", sep,
                            k->symbols[k->values[i]]);
    else
      n += (size_t)snprintf(buf + n, len - n, "%s%d", sep, k->values[i]);
  }
}

static int bad_value(const pt_knob_t *k, const char *got, pt_err_t *err) {
  char vals[128];
  describe_values(k, vals, sizeof vals);
  return pt_err_set(err, PT_EINVAL, "knob '%s' must be %s (got %s)", k->name,
                    vals, got);
}

void pt_knobs_default(pt_stage_t stage, pt_variant_t *out) {
  memset(out, 0, sizeof *out);
  out->stage = stage;
  for (int i = 0; i < NELEMS(knobs); i++)
    *field(out, &knobs[i]) = pt_knobs_in_stage(&knobs[i], stage)
                                 ? knobs[i].def[stage]
                                 : knobs[i].neutral;
}

/* Position of value in k's list of values; nvalues when not listed (spart
 * accepts more than it enumerates). */
static int value_index(const pt_knob_t *k, int value) {
  int i = 0;
  while (i < k->nvalues && k->values[i] != value) i++;
  return i;
}

int pt_knobs_distance(const pt_variant_t *v) {
  int differ = 0, steps = 0;
  for (int i = 0; i < NELEMS(knobs); i++) {
    const pt_knob_t *k = &knobs[i];
    if (!pt_knobs_in_stage(k, v->stage)) continue;
    int d = value_index(k, pt_knobs_get(v, k)) - value_index(k, k->def[v->stage]);
    differ += d != 0;
    steps += d < 0 ? -d : d;
  }
  return differ * 256 + steps;
}

static void value_text(const pt_knob_t *k, int value, char *buf, size_t len) {
  const char *sym = pt_knobs_symbol(k, value);
  if (sym != NULL)
    snprintf(buf, len, "%s", sym);
  else
    snprintf(buf, len, "%d", value);
}

int pt_knobs_validate(const pt_variant_t *v, pt_err_t *err) {
  if ((unsigned)v->stage >= PT_STAGE_COUNT)
    return pt_err_set(err, PT_EINVAL, "unknown stage %d", (int)v->stage);
  for (int i = 0; i < NELEMS(knobs); i++) {
    const pt_knob_t *k = &knobs[i];
    int value = pt_knobs_get(v, k);
    char got[32];
    value_text(k, value, got, sizeof got);
    int tuned = pt_knobs_in_stage(k, v->stage);
    if (tuned && !allowed(k, value)) return bad_value(k, got, err);
    if (!tuned && value != k->neutral)
      return pt_err_set(err, PT_EINVAL, "knob '%s' is not a %s knob (got %s)",
                        k->name, pt_stage_name(v->stage), got);
  }
  return PT_OK;
}

const pt_knob_t *pt_knobs_find(const char *key, size_t len) {
  for (int i = 0; i < NELEMS(knobs); i++) {
    const pt_knob_t *k = &knobs[i];
    if (strlen(k->name) == len && memcmp(k->name, key, len) == 0) return k;
    if (k->alias != NULL && strlen(k->alias) == len &&
        memcmp(k->alias, key, len) == 0)
      return k;
  }
  return NULL;
}

/* A decimal int, nothing else (num.h): "032" is 32; "", "-", "+1", " 1",
 * "1e3", "0x10" and out-of-range values fail. */
static int parse_int(const char *s, int *out) {
  long v = 0;
  if (pt_num_parse_long(s, NULL, INT_MIN, INT_MAX, &v) != 0) return -1;
  *out = (int)v;
  return 0;
}

static int parse_value(const pt_knob_t *k, const char *text, int *out,
                       pt_err_t *err) {
  char got[64];
  snprintf(got, sizeof got, "'%.40s'", text);
  if (k->symbols != NULL) {
    for (int i = 0; i < k->nvalues; i++) {
      if (strcmp(text, k->symbols[k->values[i]]) == 0) {
        *out = k->values[i];
        return PT_OK;
      }
    }
    return bad_value(k, got, err);
  }
  if (parse_int(text, out) != 0) return bad_value(k, got, err);
  if (!allowed(k, *out)) {
    snprintf(got, sizeof got, "%d", *out);
    return bad_value(k, got, err);
  }
  return PT_OK;
}

/* One "key=value" item of length len at item. seen marks knobs given. */
static int parse_item(pt_stage_t stage, const char *item, size_t len,
                      pt_variant_t *out, unsigned *seen, pt_err_t *err) {
  char buf[64];
  if (len == 0) return pt_err_set(err, PT_EINVAL, "empty item");
  if (len >= sizeof buf)
    return pt_err_set(err, PT_EINVAL, "item '%.40s...' is too long", item);
  memcpy(buf, item, len);
  buf[len] = '\0';
  char *eq = strchr(buf, '=');
  if (eq == NULL)
    return pt_err_set(err, PT_EINVAL, "expected key=value, got '%s'", buf);
  *eq = '\0';
  const pt_knob_t *k = pt_knobs_find(buf, strlen(buf));
  if (k == NULL) return pt_err_set(err, PT_EINVAL, "unknown knob '%s'", buf);
  if (!pt_knobs_in_stage(k, stage))
    return pt_err_set(err, PT_EINVAL, "knob '%s' is not a %s knob", k->name,
                      pt_stage_name(stage));
  unsigned bit = 1u << (k - knobs);
  if (*seen & bit)
    return pt_err_set(err, PT_EINVAL, "knob '%s' given twice", k->name);
  *seen |= bit;
  return parse_value(k, eq + 1, field(out, k), err);
}

int pt_knobs_parse(pt_stage_t stage, const char *spec, pt_variant_t *out,
                   pt_err_t *err) {
  if ((unsigned)stage >= PT_STAGE_COUNT)
    return pt_err_set(err, PT_EINVAL, "unknown stage %d", (int)stage);
  pt_variant_t v;
  pt_knobs_default(stage, &v);
  unsigned seen = 0;
  int rc = PT_OK;
  for (const char *p = spec; *spec != '\0' && rc == PT_OK;) {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    rc = parse_item(stage, p, len, &v, &seen, err);
    if (end == NULL) break;
    p = end + 1;
  }
  if (rc != PT_OK)
    return pt_err_prefix(err, "invalid %s variant '%.200s'",
                         pt_stage_name(stage), spec);
  *out = v;
  return PT_OK;
}

int pt_knobs_format(const pt_variant_t *v, char *buf, size_t len) {
  if (len == 0) return PT_EINVAL;
  buf[0] = '\0';
  if (pt_knobs_validate(v, NULL) != PT_OK) return PT_EINVAL;
  char out[PT_KNOBS_SPEC_MAX];
  size_t n = 0;
  for (int i = 0; i < NELEMS(knobs); i++) {
    const pt_knob_t *k = &knobs[i];
    if (!pt_knobs_in_stage(k, v->stage)) continue;
    char val[32];
    value_text(k, pt_knobs_get(v, k), val, sizeof val);
    n += (size_t)snprintf(out + n, sizeof out - n, "%s%s=%s", n > 0 ? "," : "",
                          k->name, val);
    if (n >= sizeof out) return PT_EINVAL;
  }
  if (n >= len) return PT_EINVAL;
  memcpy(buf, out, n + 1);
  return (int)n;
}

int pt_knobs_values(const pt_variant_t *v, pt_knob_value_t *out) {
  int n = 0;
  for (int i = 0; i < NELEMS(knobs); i++) {
    const pt_knob_t *k = &knobs[i];
    if (!pt_knobs_in_stage(k, v->stage)) continue;
    int value = pt_knobs_get(v, k);
    out[n].name = k->name;
    out[n].value = value;
    out[n].symbol = pt_knobs_symbol(k, value);
    n++;
  }
  return n;
}

size_t pt_knobs_space_size(pt_stage_t stage) {
  size_t size = 1;
  for (int i = 0; i < NELEMS(knobs); i++)
    if (pt_knobs_in_stage(&knobs[i], stage)) size *= (size_t)knobs[i].nvalues;
  return size;
}

/* Mixed radix, the last knob of the table as the least significant digit. */
void pt_knobs_space_at(pt_stage_t stage, size_t index, pt_variant_t *out) {
  pt_knobs_default(stage, out);
  for (int i = NELEMS(knobs) - 1; i >= 0; i--) {
    const pt_knob_t *k = &knobs[i];
    if (!pt_knobs_in_stage(k, stage)) continue;
    *field(out, k) = k->values[index % (size_t)k->nvalues];
    index /= (size_t)k->nvalues;
  }
}

void pt_knobs_defines(const pt_variant_t *v, pt_knobs_defines_t *out) {
  out->n = 0;
  for (int i = 0; i < NELEMS(knobs); i++) {
    const pt_knob_t *k = &knobs[i];
    snprintf(out->text[out->n], PT_KNOBS_DEFINE_MAX, "%s=%d", k->define,
             pt_knobs_compiled(v, k));
    out->ptr[out->n] = out->text[out->n];
    out->n++;
  }
}
