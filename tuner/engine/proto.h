/* The supervisor <-> worker protocol: one JSON object per line (cJSON) over
 * the worker's stdin and stdout, and the growable line buffer both sides
 * reassemble lines in.
 *
 * Messages (every one has "type"):
 *   worker -> supervisor
 *     hello   {"type":"hello","gpu":N,"backend":"cuda",...device props...}
 *     begin   {"type":"begin","id":ID}   setup done, kernels about to run
 *     result  {"type":"result","id":ID,"status":"ok",...statistics...,
 *              "fatal":false}    fatal: the device is lost, the worker exits
 *   supervisor -> worker
 *     item    {"type":"item","id":ID,...problem, variant, regime, code...}
 *   The worker exits when its stdin ends.
 * Code objects travel base64-encoded inside the item: the supervisor owns the
 * compile cache and the worker never touches the database.
 */
#ifndef PT_PROTO_H
#define PT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gpu.h"
#include "knobs.h"
#include "moe.h"

/* ---- line buffer (after git's strbuf) ----
 * Invariants, kept by every function below:
 *   - len < alloc whenever alloc > 0, and buf[len] == '\0';
 *   - alloc == 0 means buf points at a shared empty string and owns nothing;
 *   - start <= len: bytes [0, start) are consumed lines not yet compacted.
 * So buf + start is always a NUL-terminated string of the unread bytes. */
typedef struct pt_buf_s {
  char *buf;
  size_t len;
  size_t alloc;
  size_t start;
} pt_buf_t;

void pt_buf_init(pt_buf_t *b);
void pt_buf_free(pt_buf_t *b);               /* back to the init state */
/* Makes room for extra more bytes (plus the NUL): PT_ENOMEM on failure. */
int pt_buf_grow(pt_buf_t *b, size_t extra, pt_err_t *err);
int pt_buf_add(pt_buf_t *b, const void *data, size_t n, pt_err_t *err);
/* The writable tail after pt_buf_grow: *space bytes at the returned pointer;
 * pt_buf_commit(b, n) then appends the n bytes written there. */
char *pt_buf_tail(pt_buf_t *b, size_t *space);
void pt_buf_commit(pt_buf_t *b, size_t n);
/* Next complete line (without its '\n', NUL-terminated, valid until the next
 * call on b), or NULL when no full line is buffered. The line is consumed. */
char *pt_buf_next_line(pt_buf_t *b);
/* Unread bytes (a partial line). */
size_t pt_buf_pending(const pt_buf_t *b);

/* ---- messages ---- */

typedef enum {
  PT_PROTO_HELLO = 1,
  PT_PROTO_BEGIN,
  PT_PROTO_RESULT,
  PT_PROTO_ITEM,
} pt_proto_type_t;

/* A measurement request. Strings are owned by the item (pt_proto_item_free);
 * code is the main kernel's code object, reduce_code the reduce kernel's
 * (gemm2 with epilog reduce) or NULL. A pair item ("pair_spec" on the wire)
 * times variant (gemm1) and pair_variant (gemm2, code pair_code, its reduce
 * kernel reduce_code) together on one sort with sbm = max of their bm. */
typedef struct pt_proto_item_s {
  int64_t id;
  pt_variant_t variant;            /* stage included */
  char family[64];
  pt_moe_shape_t shape;
  int tokens;
  char routing[32];                /* routing.h spelling: "uniform", "zipf:1.2" */
  uint64_t seed;
  int warm;                        /* 0 cold L2 (default), 1 warm */
  int min_samples;                 /* timing rules (measure.h) */
  double min_ms;
  char arch[32];                   /* the code objects' target */
  void *code;
  size_t code_size;
  void *reduce_code;
  size_t reduce_code_size;
  int pair;                        /* 1: a pair item */
  pt_variant_t pair_variant;
  void *pair_code;
  size_t pair_code_size;
} pt_proto_item_t;

/* The sort block an item runs on: its bm, or for a pair the larger bm. */
int pt_proto_item_sbm(const pt_proto_item_t *it);

/* "gemm1/bm=16,bn=64,.../t=16": names an item in logs and test fault rules;
 * a pair is "pair/G1SPEC+G2SPEC/t=16". */
int pt_proto_item_key(const pt_proto_item_t *it, char *buf, size_t len);
void pt_proto_item_free(pt_proto_item_t *it);

/* What a worker reports for an item. status is a pt_db_status_t spelling
 * ("ok", "verify_fail", ...). Doubles that do not apply are NAN, ints -1. */
typedef struct pt_proto_result_s {
  int64_t id;
  char status[16];
  double median_us, min_us, p90_us, spread;
  int samples;
  double floor_us;
  double err_max_abs, err_mean_abs, err_max_rel;
  int sm_clock_mhz, temp_c;
  char reason[512];                /* why not ok; empty when ok */
  int fatal;                       /* the worker exits after this result */
} pt_proto_result_t;

/* Sets every statistic to "not applicable", status "ok", empty reason. */
void pt_proto_result_init(pt_proto_result_t *r, int64_t id);

/* Encoders: a malloc'd line ending in '\n' (the caller frees), or NULL when
 * out of memory. */
char *pt_proto_hello(const pt_gpu_props_t *props);
char *pt_proto_begin(int64_t id);
char *pt_proto_result(const pt_proto_result_t *r);
char *pt_proto_item(const pt_proto_item_t *it);

/* A decoded line. Exactly one member is filled, per type. */
typedef struct pt_proto_msg_s {
  pt_proto_type_t type;
  int64_t id;                      /* begin */
  pt_gpu_props_t props;            /* hello */
  pt_proto_result_t result;        /* result */
  pt_proto_item_t item;            /* item: free with pt_proto_msg_free */
} pt_proto_msg_t;

/* Decodes one line. PT_EINVAL naming the field for anything malformed: bad
 * JSON, an unknown type, a missing or mistyped field, a value out of range. */
int pt_proto_parse(const char *line, pt_proto_msg_t *out, pt_err_t *err);
void pt_proto_msg_free(pt_proto_msg_t *m);

/* ---- base64 (RFC 4648, padded) ---- */

/* Encodes n bytes into a malloc'd NUL-terminated string, NULL if no memory. */
char *pt_proto_b64_encode(const void *data, size_t n);
/* Decodes text into a malloc'd buffer (*out, *n). PT_EINVAL for a character
 * outside the alphabet or a bad length or padding. */
int pt_proto_b64_decode(const char *text, void **out, size_t *n,
                        pt_err_t *err);

#endif
