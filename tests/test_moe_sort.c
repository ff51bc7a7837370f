/* Tests of the sorting contract (moe_sort.h): every invariant of DESIGN §4
 * checked on random routings and on the edge cases (M=1, every token on one
 * expert, more experts than pairs, sequential experts), stage blocks
 * derived from the sort block, worst-case capacity, and bad inputs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "moe_sort.h"
#include "routing.h"

/* Checks every invariant of the sorted layout s of (ids, w). */
static void check_sorted(const int32_t *ids, const float *w, int M, int K,
                         int E, int sbm, const pt_moe_sorted_t *s) {
  int P = s->padded;
  ck_assert_int_eq(s->sbm, sbm);
  ck_assert_int_eq(s->capacity, pt_sort_capacity(M, K, E, sbm));
  ck_assert_int_eq(P % sbm, 0);
  ck_assert_int_le(P, s->capacity);
  int *count = calloc((size_t)E, sizeof *count);
  int *blocks = calloc((size_t)E, sizeof *blocks);
  uint8_t *seen = calloc((size_t)M * K + 1, 1);
  for (int i = 0; i < M * K; i++) count[ids[i]]++;
  int expected_p = 0;
  for (int e = 0; e < E; e++) expected_p += (count[e] + sbm - 1) / sbm * sbm;
  ck_assert_int_eq(P, expected_p);
  for (int b = 0; b < P / sbm; b++) {
    int e = s->block_expert[b];
    ck_assert(e >= 0 && e < E);
    if (b > 0) ck_assert_int_ge(e, s->block_expert[b - 1]);  /* ascending */
    blocks[e]++;
  }
  for (int e = 0; e < E; e++)  /* no block without rows, none wasted */
    ck_assert_int_eq(blocks[e], (count[e] + sbm - 1) / sbm);
  int prev_token = -1, prev_expert = -1, in_padding = 0;
  for (int r = 0; r < P; r++) {
    int e = s->block_expert[r / sbm];
    int32_t id = s->sorted_ids[r];
    int t = PT_SORT_TOKEN(id), k = PT_SORT_SLOT(id);
    if (e != prev_expert) {
      prev_token = -1;
      in_padding = 0;
      prev_expert = e;
    }
    if (t >= M) {  /* padding: sentinel M exactly, weight 0, at the end */
      ck_assert_int_eq(id, M);
      ck_assert_float_eq(s->sorted_w[r], 0.0f);
      in_padding = 1;
      continue;
    }
    ck_assert_msg(!in_padding, "real row %d after padding", r);
    ck_assert(k >= 0 && k < K);
    ck_assert_int_eq(ids[t * K + k], e);
    ck_assert_float_eq(s->sorted_w[r], w[t * K + k]);
    ck_assert_int_gt(t, prev_token);  /* token order within the expert */
    prev_token = t;
    ck_assert_int_eq(seen[t * K + k], 0);
    seen[t * K + k] = 1;
  }
  for (int i = 0; i < M * K; i++) ck_assert_msg(seen[i], "pair %d missing", i);
  for (int r = P; r < s->capacity; r++) {
    ck_assert_int_eq(s->sorted_ids[r], M);
    ck_assert_float_eq(s->sorted_w[r], 0.0f);
  }
  for (int b = P / sbm; b < s->capacity / sbm; b++)
    ck_assert_int_eq(s->block_expert[b], -1);
  free(count);
  free(blocks);
  free(seen);
}

static void sort_and_check(const int32_t *ids, const float *w, int M, int K,
                           int E, int sbm) {
  pt_moe_sorted_t s;
  pt_err_t err;
  ck_assert_msg(pt_sort_run(ids, w, M, K, E, sbm, &s, &err) == PT_OK, "%s",
                err.msg);
  check_sorted(ids, w, M, K, E, sbm, &s);
  pt_sort_free(&s);
}

START_TEST(random_routings) {
  static const int sbms[] = {1, 16, 32, 64, 128};
  static const struct { int M, E, K; } shapes[] = {
    {1, 8, 2}, {7, 8, 2}, {100, 16, 4}, {513, 257, 9}, {64, 384, 8},
    {1000, 4, 4}, {300, 128, 1},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    int M = shapes[i].M, E = shapes[i].E, K = shapes[i].K;
    int32_t *ids = malloc((size_t)M * K * sizeof *ids);
    float *w = malloc((size_t)M * K * sizeof *w);
    pt_routing_t kinds[2] = {{PT_ROUTING_UNIFORM, 0}, {PT_ROUTING_ZIPF, 1.2}};
    for (int r = 0; r < 2; r++) {
      ck_assert_int_eq(pt_routing_topk(&kinds[r], M, E, K, i, ids, w, NULL), PT_OK);
      for (size_t j = 0; j < sizeof sbms / sizeof sbms[0]; j++)
        sort_and_check(ids, w, M, K, E, sbms[j]);
    }
    free(ids);
    free(w);
  }
}
END_TEST

START_TEST(one_token) {
  int32_t ids[3] = {5, 0, 2};
  float w[3] = {0.5f, 0.25f, 0.25f};
  pt_moe_sorted_t s;
  ck_assert_int_eq(pt_sort_run(ids, w, 1, 3, 6, 32, &s, NULL), PT_OK);
  check_sorted(ids, w, 1, 3, 6, 32, &s);
  ck_assert_int_eq(s.padded, 96);
  ck_assert_int_eq(s.block_expert[0], 0);
  ck_assert_int_eq(s.block_expert[1], 2);
  ck_assert_int_eq(s.block_expert[2], 5);
  ck_assert_int_eq(s.sorted_ids[0], 0 | 1 << 24);
  ck_assert_int_eq(s.sorted_ids[32], 0 | 2 << 24);
  ck_assert_int_eq(s.sorted_ids[64], 0);
  ck_assert_int_eq(s.sorted_ids[65], 1);  /* sentinel M = 1 */
  ck_assert_float_eq(s.sorted_w[0], 0.25f);
  pt_sort_free(&s);
}
END_TEST

START_TEST(every_token_on_one_expert) {
  enum { M = 70, E = 8 };
  int32_t ids[M];
  float w[M];
  for (int t = 0; t < M; t++) {
    ids[t] = 3;
    w[t] = 1.0f;
  }
  pt_moe_sorted_t s;
  ck_assert_int_eq(pt_sort_run(ids, w, M, 1, E, 32, &s, NULL), PT_OK);
  check_sorted(ids, w, M, 1, E, 32, &s);
  ck_assert_int_eq(s.padded, 96);
  for (int b = 0; b < 3; b++) ck_assert_int_eq(s.block_expert[b], 3);
  for (int r = 0; r < M; r++) ck_assert_int_eq(s.sorted_ids[r], r);
  for (int r = M; r < 96; r++) ck_assert_int_eq(s.sorted_ids[r], M);
  pt_sort_free(&s);
}
END_TEST

START_TEST(more_experts_than_pairs) {
  enum { M = 2, K = 3, E = 64 };
  int32_t ids[M * K] = {63, 10, 0, 10, 40, 63};
  float w[M * K] = {.1f, .2f, .7f, .3f, .3f, .4f};
  pt_moe_sorted_t s;
  ck_assert_int_eq(pt_sort_run(ids, w, M, K, E, 16, &s, NULL), PT_OK);
  check_sorted(ids, w, M, K, E, 16, &s);
  ck_assert_int_eq(s.padded, 4 * 16);  /* experts 0, 10, 40, 63 only */
  ck_assert_int_eq(s.sorted_ids[16], 0 | 1 << 24);  /* expert 10: token 0 */
  ck_assert_int_eq(s.sorted_ids[17], 1 | 0 << 24);  /* then token 1 */
  ck_assert_int_eq(s.sorted_ids[48], 0);            /* expert 63: token 0 */
  ck_assert_int_eq(s.sorted_ids[49], 1 | 2 << 24);
  pt_sort_free(&s);
}
END_TEST

START_TEST(sequential_experts) {
  enum { M = 40, K = 2, E = 10 };
  int32_t ids[M * K];
  float w[M * K];
  for (int i = 0; i < M * K; i++) {
    ids[i] = i % E;  /* token t gets experts 2t, 2t+1 (mod E) */
    w[i] = 0.5f;
  }
  for (int sbm = 1; sbm <= 16; sbm *= 2) sort_and_check(ids, w, M, K, E, sbm);
}
END_TEST

START_TEST(stage_blocks_from_sort_blocks) {
  enum { M = 200, K = 4, E = 12, SBM = 64 };
  int32_t ids[M * K];
  float w[M * K];
  pt_routing_t r = {PT_ROUTING_ZIPF, 1.0};
  ck_assert_int_eq(pt_routing_topk(&r, M, E, K, 3, ids, w, NULL), PT_OK);
  pt_moe_sorted_t s;
  ck_assert_int_eq(pt_sort_run(ids, w, M, K, E, SBM, &s, NULL), PT_OK);
  int32_t *be = malloc((size_t)s.padded * sizeof *be);
  for (int bm = 1; bm <= SBM; bm *= 2) {
    ck_assert_int_eq(pt_sort_block_experts(&s, bm, be, NULL), PT_OK);
    for (int row = 0; row < s.padded; row++) {
      int e = be[row / bm];
      ck_assert_int_eq(e, s.block_expert[row / SBM]);
      int t = PT_SORT_TOKEN(s.sorted_ids[row]);
      if (t < M) ck_assert_int_eq(ids[t * K + PT_SORT_SLOT(s.sorted_ids[row])], e);
    }
  }
  pt_err_t err;
  ck_assert_int_eq(pt_sort_block_experts(&s, 48, be, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "48") != NULL);
  ck_assert_int_eq(pt_sort_block_experts(&s, 0, be, &err), PT_EINVAL);
  ck_assert_int_eq(pt_sort_block_experts(&s, 128, be, &err), PT_EINVAL);
  free(be);
  pt_sort_free(&s);
}
END_TEST

START_TEST(capacity_is_the_worst_case) {
  /* one pair per expert: every expert pads a whole block */
  enum { E = 12, K = 3, M = 4, SBM = 32 };
  int32_t ids[M * K];
  float w[M * K];
  for (int i = 0; i < M * K; i++) {
    ids[i] = i;
    w[i] = 1.0f;
  }
  pt_moe_sorted_t s;
  ck_assert_int_eq(pt_sort_run(ids, w, M, K, E, SBM, &s, NULL), PT_OK);
  ck_assert_int_eq(s.padded, E * SBM);
  ck_assert_int_eq(s.capacity, E * SBM);
  pt_sort_free(&s);
  ck_assert_int_eq(pt_sort_capacity(1, 1, 1, 1), 1);
  ck_assert_int_eq(pt_sort_capacity(10, 2, 100, 16), 20 + 20 * 15);
  ck_assert_int_eq(pt_sort_capacity(100, 4, 8, 64), 960);  /* 904 rounded up */
  ck_assert_int_eq(pt_sort_capacity(0, 4, 8, 64), 0);
  ck_assert_int_eq(pt_sort_capacity(-1, 4, 8, 64), -1);
  ck_assert_int_eq(pt_sort_capacity(1, 0, 8, 64), -1);
  ck_assert_int_eq(pt_sort_capacity(1, 1, 0, 64), -1);
  ck_assert_int_eq(pt_sort_capacity(1, 1, 8, 0), -1);
  ck_assert_int_eq(pt_sort_capacity(1 << 24, 128, 1 << 20, 1024), -1);
}
END_TEST

START_TEST(no_tokens) {
  pt_moe_sorted_t s;
  ck_assert_int_eq(pt_sort_run(NULL, NULL, 0, 2, 4, 16, &s, NULL), PT_OK);
  ck_assert_int_eq(s.padded, 0);
  pt_sort_free(&s);
}
END_TEST

START_TEST(bad_inputs) {
  int32_t ids[4] = {0, 1, 2, 3};
  float w[4] = {1, 1, 1, 1};
  pt_moe_sorted_t s;
  pt_err_t err;
  ids[2] = 4;  /* E = 4 */
  ck_assert_int_eq(pt_sort_run(ids, w, 2, 2, 4, 16, &s, &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, "expert id 4 of token 1 slot 0") != NULL, "%s", err.msg);
  ck_assert_ptr_null(s.sorted_ids);
  ids[2] = -1;
  ck_assert_int_eq(pt_sort_run(ids, w, 2, 2, 4, 16, &s, &err), PT_EINVAL);
  ids[2] = 2;
  ck_assert_int_eq(pt_sort_run(ids, w, 1 << 24, 2, 4, 16, &s, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "16777216") != NULL);
  ck_assert_int_eq(pt_sort_run(ids, w, 1, 129, 4, 16, &s, &err), PT_EINVAL);
  ck_assert_int_eq(pt_sort_run(ids, w, 2, 2, 4, 0, &s, &err), PT_EINVAL);
  ck_assert_int_eq(pt_sort_run(ids, w, 2, 2, 0, 16, &s, &err), PT_EINVAL);
  ck_assert_int_eq(pt_sort_run(ids, w, 2, 2, 4, 16, &s, &err), PT_OK);
  pt_sort_free(&s);
}
END_TEST

static Suite *sort_suite(void) {
  Suite *s = suite_create("moe_sort");
  TCase *tc = tcase_create("contract");
  tcase_add_test(tc, random_routings);
  tcase_add_test(tc, one_token);
  tcase_add_test(tc, every_token_on_one_expert);
  tcase_add_test(tc, more_experts_than_pairs);
  tcase_add_test(tc, sequential_experts);
  tcase_add_test(tc, stage_blocks_from_sort_blocks);
  tcase_add_test(tc, capacity_is_the_worst_case);
  tcase_add_test(tc, no_tokens);
  tcase_add_test(tc, bad_inputs);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(sort_suite());
}
