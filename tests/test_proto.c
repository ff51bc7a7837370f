/* The worker protocol: the line buffer's invariants, base64, and every
 * message's round trip and refusals. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static void check_invariants(const pt_buf_t *b) {
  ck_assert_ptr_nonnull(b->buf);
  ck_assert(b->start <= b->len);
  if (b->alloc > 0) ck_assert(b->len < b->alloc);
  ck_assert_int_eq(b->buf[b->len], '\0');
}

START_TEST(buf_lines_across_reads) {
  pt_buf_t b;
  pt_buf_init(&b);
  check_invariants(&b);
  ck_assert_ptr_null(pt_buf_next_line(&b));
  ck_assert_int_eq(pt_buf_add(&b, "{\"a\":", 5, NULL), PT_OK);
  check_invariants(&b);
  ck_assert_ptr_null(pt_buf_next_line(&b));
  ck_assert_uint_eq(pt_buf_pending(&b), 5);
  ck_assert_int_eq(pt_buf_add(&b, "1}\n\nsecond\nthi", 14, NULL), PT_OK);
  check_invariants(&b);
  ck_assert_str_eq(pt_buf_next_line(&b), "{\"a\":1}");
  ck_assert_str_eq(pt_buf_next_line(&b), "");
  ck_assert_str_eq(pt_buf_next_line(&b), "second");
  ck_assert_ptr_null(pt_buf_next_line(&b));
  ck_assert_uint_eq(pt_buf_pending(&b), 3);
  check_invariants(&b);
  ck_assert_int_eq(pt_buf_add(&b, "rd\n", 3, NULL), PT_OK);
  check_invariants(&b);
  ck_assert_str_eq(pt_buf_next_line(&b), "third");
  ck_assert_uint_eq(pt_buf_pending(&b), 0);
  pt_buf_free(&b);
  check_invariants(&b);
  ck_assert_uint_eq(b.alloc, 0);
}
END_TEST

/* Reading through the tail/commit pair as the supervisor's read callback
 * does, one byte at a time and then a line of a megabyte. */
START_TEST(buf_tail_commit_and_growth) {
  pt_buf_t b;
  const char *text = "x\nyz\n";
  pt_buf_init(&b);
  for (size_t i = 0; i < strlen(text); i++) {
    size_t space = 0;
    ck_assert_int_eq(pt_buf_grow(&b, 1, NULL), PT_OK);
    char *tail = pt_buf_tail(&b, &space);
    ck_assert_uint_ge(space, 1);
    tail[0] = text[i];
    pt_buf_commit(&b, 1);
    check_invariants(&b);
  }
  ck_assert_str_eq(pt_buf_next_line(&b), "x");
  ck_assert_str_eq(pt_buf_next_line(&b), "yz");
  size_t big = 1 << 20;
  char *line = malloc(big + 1);
  memset(line, 'q', big);
  line[big] = '\n';
  ck_assert_int_eq(pt_buf_add(&b, line, big + 1, NULL), PT_OK);
  check_invariants(&b);
  char *got = pt_buf_next_line(&b);
  ck_assert_uint_eq(strlen(got), big);
  /* The consumed prefix is compacted away before growing again. */
  ck_assert_int_eq(pt_buf_add(&b, "z\n", 2, NULL), PT_OK);
  ck_assert_uint_eq(b.start, 0);
  ck_assert_str_eq(pt_buf_next_line(&b), "z");
  free(line);
  pt_buf_free(&b);
}
END_TEST

START_TEST(b64_vectors_and_round_trip) {
  const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    char *e = pt_proto_b64_encode(plain[i], strlen(plain[i]));
    ck_assert_str_eq(e, enc[i]);
    void *d = NULL;
    size_t n = 0;
    ck_assert_int_eq(pt_proto_b64_decode(e, &d, &n, NULL), PT_OK);
    ck_assert_uint_eq(n, strlen(plain[i]));
    ck_assert(memcmp(d, plain[i], n) == 0);
    free(d);
    free(e);
  }
  unsigned char all[256];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)(255 - i);
  for (size_t len = 0; len <= 256; len += 17) {
    char *e = pt_proto_b64_encode(all, len);
    void *d = NULL;
    size_t n = 0;
    ck_assert_int_eq(pt_proto_b64_decode(e, &d, &n, NULL), PT_OK);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(d, all, len) == 0);
    free(d);
    free(e);
  }
}
END_TEST

START_TEST(b64_refuses_bad_text) {
  const char *bad[] = {"Zm9", "Zm9v!mFy", "Zm=v", "====", "Zg=\n"};
  for (int i = 0; i < 5; i++) {
    void *d = (void *)1;
    size_t n = 7;
    pt_err_t err;
    ck_assert_int_eq(pt_proto_b64_decode(bad[i], &d, &n, &err), PT_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(n, 0);
    ck_assert(strstr(err.msg, "base64") != NULL);
  }
}
END_TEST

static pt_gpu_props_t sample_props(void) {
  pt_gpu_props_t p;
  memset(&p, 0, sizeof p);
  p.backend = PT_GPU_CUDA;
  p.ordinal = 3;
  strcpy(p.name, "NVIDIA H100 80GB HBM3");
  strcpy(p.arch, "sm_90");
  strcpy(p.pci_bus_id, "0000:1b:00.0");
  strcpy(p.driver, "580.65");
  p.sm_count = 132;
  p.warp_size = 32;
  p.max_threads_per_block = 1024;
  p.max_threads_per_sm = 2048;
  p.regs_per_block = 65536;
  p.regs_per_sm = 65536;
  p.smem_per_block = 49152;
  p.smem_per_block_optin = 232448;
  p.smem_per_sm = 233472;
  p.l2_bytes = 52428800;
  p.global_mem = (size_t)85 << 30;
  p.clock_khz = 1980000;
  p.mem_clock_khz = 2619000;
  p.mem_bus_bits = 5120;
  return p;
}

START_TEST(hello_round_trip) {
  pt_gpu_props_t p = sample_props();
  char *line = pt_proto_hello(&p);
  ck_assert_ptr_nonnull(line);
  ck_assert_int_eq(line[strlen(line) - 1], '\n');
  ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
  pt_proto_msg_t m;
  pt_err_t err;
  ck_assert_int_eq(pt_proto_parse(line, &m, &err), PT_OK);
  ck_assert_int_eq(m.type, PT_PROTO_HELLO);
  ck_assert(memcmp(&m.props, &p, sizeof p) == 0);
  pt_proto_msg_free(&m);
  free(line);
}
END_TEST

static pt_proto_item_t sample_item(void) {
  pt_proto_item_t it;
  memset(&it, 0, sizeof it);
  it.id = 1234567890123LL;
  pt_knobs_parse(PT_STAGE_GEMM2, "bm=32,bn=64,epilog=reduce", &it.variant, NULL);
  strcpy(it.family, "gptoss-120b");
  it.shape = (pt_moe_shape_t){2880, 2880, 128, 4, PT_DTYPE_A16W4, PT_ACT_SWIGLU_OAI};
  it.tokens = 16;
  strcpy(it.routing, "zipf:1.2");
  it.seed = 42;
  it.warm = 1;
  strcpy(it.arch, "sm_90");
  it.min_samples = 25;
  it.min_ms = 200;
  return it;
}

START_TEST(item_round_trip_with_code) {
  pt_proto_item_t it = sample_item();
  unsigned char code[1000], red[3] = {0, 1, 2};
  for (int i = 0; i < 1000; i++) code[i] = (unsigned char)(i * 7);
  it.code = code;
  it.code_size = sizeof code;
  it.reduce_code = red;
  it.reduce_code_size = sizeof red;
  char *line = pt_proto_item(&it);
  pt_proto_msg_t m;
  ck_assert_int_eq(pt_proto_parse(line, &m, NULL), PT_OK);
  ck_assert_int_eq(m.type, PT_PROTO_ITEM);
  pt_proto_item_t *g = &m.item;
  ck_assert_int_eq(g->id, it.id);
  ck_assert(memcmp(&g->variant, &it.variant, sizeof it.variant) == 0);
  ck_assert(memcmp(&g->shape, &it.shape, sizeof it.shape) == 0);
  ck_assert_str_eq(g->family, "gptoss-120b");
  ck_assert_str_eq(g->routing, "zipf:1.2");
  ck_assert_int_eq(g->tokens, 16);
  ck_assert_int_eq(g->seed, 42);
  ck_assert_int_eq(g->warm, 1);
  ck_assert_int_eq(g->min_samples, 25);
  ck_assert_double_eq(g->min_ms, 200);
  ck_assert_uint_eq(g->code_size, sizeof code);
  ck_assert(memcmp(g->code, code, sizeof code) == 0);
  ck_assert_uint_eq(g->reduce_code_size, 3);
  ck_assert(memcmp(g->reduce_code, red, 3) == 0);
  char key[256];
  ck_assert_int_eq(pt_proto_item_key(g, key, sizeof key), PT_OK);
  ck_assert_str_eq(key, "gemm2/bm=32,bn=64,kstages=2,bhoist=0,spart=0,nt=0,epilog=reduce,persist=0,"
                        "mma=sync,splitk=1/t=16");
  pt_proto_msg_free(&m);
  free(line);
}
END_TEST

/* A pair item: gemm1 with its gemm2 partner, both codes, sbm the larger bm;
 * a pair_spec next to a gemm2 item is refused. */
START_TEST(pair_item_round_trip) {
  pt_proto_item_t it = sample_item();
  unsigned char c1[5] = {1, 2, 3, 4, 5}, c2[4] = {9, 8, 7, 6}, red[2] = {4, 2};
  it.pair_variant = it.variant;
  ck_assert_int_eq(pt_knobs_parse(PT_STAGE_GEMM1, "bm=16,bn=128", &it.variant, NULL), PT_OK);
  it.pair = 1;
  it.code = c1;
  it.code_size = sizeof c1;
  it.pair_code = c2;
  it.pair_code_size = sizeof c2;
  it.reduce_code = red;
  it.reduce_code_size = sizeof red;
  char *line = pt_proto_item(&it);
  pt_proto_msg_t m;
  ck_assert_int_eq(pt_proto_parse(line, &m, NULL), PT_OK);
  pt_proto_item_t *g = &m.item;
  ck_assert_int_eq(g->pair, 1);
  ck_assert(memcmp(&g->variant, &it.variant, sizeof it.variant) == 0);
  ck_assert(memcmp(&g->pair_variant, &it.pair_variant, sizeof it.variant) == 0);
  ck_assert(g->code_size == 5 && memcmp(g->code, c1, 5) == 0);
  ck_assert(g->pair_code_size == 4 && memcmp(g->pair_code, c2, 4) == 0);
  ck_assert(g->reduce_code_size == 2 && memcmp(g->reduce_code, red, 2) == 0);
  ck_assert_int_eq(pt_proto_item_sbm(g), 32);
  char key[512];
  ck_assert_int_eq(pt_proto_item_key(g, key, sizeof key), PT_OK);
  ck_assert_str_eq(key, "pair/bm=16,bn=128,k_wave=1,bhoist=0,spart=0,nt=0,persist=0,mma=sync,"
                        "splitk=1+bm=32,bn=64,kstages=2,bhoist=0,spart=0,nt=0,epilog=reduce,"
                        "persist=0,mma=sync,splitk=1/t=16");
  pt_proto_msg_free(&m);
  free(line);
  pt_proto_item_t g2 = sample_item();
  g2.pair = 1;
  g2.pair_variant = g2.variant;
  line = pt_proto_item(&g2);
  pt_err_t err;
  ck_assert_int_eq(pt_proto_parse(line, &m, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "item message: field 'pair_spec' with a gemm2 item");
  free(line);
}
END_TEST

START_TEST(result_round_trip_keeps_not_applicable) {
  pt_proto_result_t r;
  pt_proto_result_init(&r, 9);
  strcpy(r.status, "crash");
  strcpy(r.reason, "illegal address \"quoted\"\nsecond line");
  r.fatal = 1;
  char *line = pt_proto_result(&r);
  ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
  pt_proto_msg_t m;
  ck_assert_int_eq(pt_proto_parse(line, &m, NULL), PT_OK);
  ck_assert_int_eq(m.type, PT_PROTO_RESULT);
  ck_assert_int_eq(m.result.id, 9);
  ck_assert_str_eq(m.result.status, "crash");
  ck_assert_str_eq(m.result.reason, r.reason);
  ck_assert_int_eq(m.result.fatal, 1);
  ck_assert(isnan(m.result.median_us) && isnan(m.result.floor_us));
  ck_assert_int_eq(m.result.samples, -1);
  ck_assert_int_eq(m.result.temp_c, -1);
  free(line);
  r.median_us = 10.5;
  r.min_us = 9.75;
  r.p90_us = 12;
  r.spread = 0.01;
  r.samples = 40;
  r.temp_c = -5;
  line = pt_proto_result(&r);
  ck_assert_int_eq(pt_proto_parse(line, &m, NULL), PT_OK);
  ck_assert_double_eq(m.result.median_us, 10.5);
  ck_assert_double_eq(m.result.min_us, 9.75);
  ck_assert_int_eq(m.result.samples, 40);
  ck_assert_int_eq(m.result.temp_c, -5);
  free(line);
  line = pt_proto_begin(77);
  ck_assert_int_eq(pt_proto_parse(line, &m, NULL), PT_OK);
  ck_assert_int_eq(m.type, PT_PROTO_BEGIN);
  ck_assert_int_eq(m.id, 77);
  free(line);
}
END_TEST

/* Each malformed line is refused with the field it gets wrong named. */
START_TEST(parse_refuses_malformed_lines) {
  const struct { const char *line, *why; } cases[] = {
      {"not json", "not a JSON object"},
      {"[1,2]", "not a JSON object"},
      {"{}", "field 'type' is missing"},
      {"{\"type\":7}", "field 'type' is not a string"},
      {"{\"type\":\"bye\"}", "field 'type' is 'bye'"},
      {"{\"type\":\"begin\"}", "field 'id' is missing"},
      {"{\"type\":\"begin\",\"id\":-1}", "field 'id' is -1"},
      {"{\"type\":\"begin\",\"id\":1.5}", "field 'id' is 1.5"},
      {"{\"type\":\"result\",\"id\":1,\"status\":\"ok\"}", "field 'median_us' is missing"},
      {"{\"type\":\"hello\",\"backend\":\"opencl\"}", "field 'backend' is 'opencl'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pt_proto_msg_t m;
    pt_err_t err;
    ck_assert_int_eq(pt_proto_parse(cases[i].line, &m, &err), PT_EINVAL);
    ck_assert_msg(strstr(err.msg, cases[i].why) != NULL, "'%s': got '%s'", cases[i].line,
                  err.msg);
  }
}
END_TEST

/* Item fields: a bad stage, spec, dtype, regime and code are each refused. */
START_TEST(parse_refuses_bad_items) {
  pt_proto_item_t it = sample_item();
  char *good = pt_proto_item(&it);
  const struct { const char *from, *to, *why; } edits[] = {
      {"\"stage\":\"gemm2\"", "\"stage\":\"gemm3\"", "field 'stage' is 'gemm3'"},
      {"\"spec\":\"bm=32", "\"spec\":\"bm=33", "field 'spec'"},
      {"\"dtype\":\"a16w4\"", "\"dtype\":\"a2w2\"", "field 'dtype' is 'a2w2'"},
      {"\"regime\":\"warm\"", "\"regime\":\"tepid\"", "field 'regime' is 'tepid'"},
      {"\"tokens\":16", "\"tokens\":0", "field 'tokens' is 0"},
      {"\"min_ms\":200", "\"min_ms\":-1", "field 'min_ms' is -1"},
      {"\"arch\":\"sm_90\"", "\"arch\":\"sm_90\",\"code\":\"@@@@\"", "field 'code'"},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    char *at = strstr(good, edits[i].from);
    ck_assert_ptr_nonnull(at);
    size_t n = strlen(good) + strlen(edits[i].to) + 1;
    char *bad = malloc(n);
    snprintf(bad, n, "%.*s%s%s", (int)(at - good), good, edits[i].to,
             at + strlen(edits[i].from));
    pt_proto_msg_t m;
    pt_err_t err;
    ck_assert_int_eq(pt_proto_parse(bad, &m, &err), PT_EINVAL);
    ck_assert_msg(strstr(err.msg, edits[i].why) != NULL, "edit %zu: got '%s'", i, err.msg);
    ck_assert(strstr(err.msg, "item message") == err.msg);
    free(bad);
  }
  free(good);
}
END_TEST

int main(void) {
  Suite *s = suite_create("proto");
  TCase *tc = tcase_create("proto");
  tcase_add_test(tc, buf_lines_across_reads);
  tcase_add_test(tc, buf_tail_commit_and_growth);
  tcase_add_test(tc, b64_vectors_and_round_trip);
  tcase_add_test(tc, b64_refuses_bad_text);
  tcase_add_test(tc, hello_round_trip);
  tcase_add_test(tc, item_round_trip_with_code);
  tcase_add_test(tc, pair_item_round_trip);
  tcase_add_test(tc, result_round_trip_keeps_not_applicable);
  tcase_add_test(tc, parse_refuses_malformed_lines);
  tcase_add_test(tc, parse_refuses_bad_items);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
