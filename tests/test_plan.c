/* The work plan: contents, order, interleaving, shards, variant specs and
 * the option parsers, with the bad inputs themselves. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "plan.h"

static pt_family_set_t builtin(void) {
  pt_family_set_t set;
  ck_assert_int_eq(pt_family_load_builtin(&set, NULL), PT_OK);
  return set;
}

/* The pruned list: 32 variants of each stage (plan.h). */
#define PRUNED_G1 32
#define PRUNED_G2 32
#define PER_PROBLEM (PRUNED_G1 + PRUNED_G2)

static int same_item(const pt_plan_item_t *a, const pt_plan_item_t *b) {
  return a->problem == b->problem && memcmp(&a->variant, &b->variant, sizeof a->variant) == 0;
}

START_TEST(smoke_plan_covers_every_candidate_once) {
  pt_family_set_t set = builtin();
  pt_plan_req_t req;
  pt_plan_t plan;
  pt_plan_req_smoke(&req);
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, NULL), PT_OK);
  ck_assert_int_eq(plan.nproblems, 4);
  ck_assert_int_eq(plan.nvariants[PT_STAGE_GEMM1], PRUNED_G1);
  ck_assert_int_eq(plan.nvariants[PT_STAGE_GEMM2], PRUNED_G2);
  ck_assert_uint_eq(plan.nitems, 4 * PER_PROBLEM);
  ck_assert_uint_eq(plan.ntotal, plan.nitems);
  const int tokens[] = {1, 16, 128, 1024};
  for (int p = 0; p < 4; p++) {
    ck_assert_str_eq(plan.problems[p].family->name, "gptoss-120b");
    ck_assert_int_eq(plan.problems[p].shape.dtype, PT_DTYPE_A16W4);
    ck_assert_int_eq(plan.problems[p].tokens, tokens[p]);
  }
  for (size_t i = 0; i < plan.nitems; i++) {
    ck_assert_int_eq(plan.items[i].problem, (int)(i / PER_PROBLEM));  /* problem-major */
    for (size_t j = 0; j < i; j++) ck_assert(!same_item(&plan.items[i], &plan.items[j]));
  }
  pt_plan_free(&plan);
  pt_family_set_free(&set);
}
END_TEST

/* Same request, same plan; and within a problem the candidates are not in
 * knob order: both stages and all block sizes are mixed from the start. */
/* The pairs plan: each problem of the grid with its pair as items 2i, 2i+1. */
START_TEST(pairs_plan_follows_the_problems) {
  pt_family_set_t set = builtin();
  pt_plan_req_t req;
  pt_plan_t plan, pairs;
  pt_variant_t g1[4], g2[4];
  pt_plan_req_smoke(&req);
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, NULL), PT_OK);
  for (int i = 0; i < 4; i++) {
    pt_knobs_default(PT_STAGE_GEMM1, &g1[i]);
    pt_knobs_default(PT_STAGE_GEMM2, &g2[i]);
    g1[i].bm = 16 << i;
  }
  ck_assert_int_eq(pt_plan_pairs(&plan, g1, g2, &pairs, NULL), PT_OK);
  ck_assert(pairs.pairs && pairs.nproblems == 4 && pairs.nitems == 8 && pairs.ntotal == 8);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(pairs.problems[i].tokens, plan.problems[i].tokens);
    ck_assert(pairs.items[2 * i].problem == i && pairs.items[2 * i + 1].problem == i);
    ck_assert_int_eq(pairs.items[2 * i].variant.bm, 16 << i);
    ck_assert_int_eq(pairs.items[2 * i + 1].variant.stage, PT_STAGE_GEMM2);
  }
  pt_plan_free(&pairs);
  pt_err_t err;
  ck_assert_int_eq(pt_plan_pairs(&plan, g2, g1, &pairs, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "pair 0 is not a gemm1 and a gemm2 variant");
  pt_plan_free(&plan);
  pt_family_set_free(&set);
}
END_TEST

START_TEST(order_is_deterministic_and_interleaved) {
  pt_family_set_t set = builtin();
  pt_plan_req_t req;
  pt_plan_t a, b;
  pt_plan_req_smoke(&req);
  ck_assert_int_eq(pt_plan_build(&set, &req, &a, NULL), PT_OK);
  ck_assert_int_eq(pt_plan_build(&set, &req, &b, NULL), PT_OK);
  ck_assert_uint_eq(a.nitems, b.nitems);
  for (size_t i = 0; i < a.nitems; i++) ck_assert(same_item(&a.items[i], &b.items[i]));
  for (int p = 0; p < a.nproblems; p++) {
    const pt_plan_item_t *it = &a.items[p * PER_PROBLEM];
    int stages = 0, in_order = 1, first_half_g1 = 0;
    for (int i = 0; i < PER_PROBLEM / 2; i++) {
      stages |= 1 << it[i].variant.stage;
      first_half_g1 += it[i].variant.stage == PT_STAGE_GEMM1;
    }
    for (int i = 1; i < PER_PROBLEM; i++)
      if (it[i].variant.stage < it[i - 1].variant.stage ||
          (it[i].variant.stage == it[i - 1].variant.stage && it[i].variant.bm < it[i - 1].variant.bm))
        in_order = 0;
    ck_assert_int_eq(stages, 3);
    ck_assert(first_half_g1 < PER_PROBLEM / 2);
    ck_assert(!in_order);
  }
  /* Different problems get different permutations. */
  int differ = 0;
  for (int i = 0; i < PER_PROBLEM; i++)
    differ |= memcmp(&a.items[i].variant, &a.items[PER_PROBLEM + i].variant,
                     sizeof a.items[i].variant) != 0;
  ck_assert(differ);
  pt_plan_free(&a);
  pt_plan_free(&b);
  pt_family_set_free(&set);
}
END_TEST

START_TEST(shards_partition_the_plan) {
  pt_family_set_t set = builtin();
  pt_plan_req_t req;
  pt_plan_t full, part[3];
  pt_plan_req_smoke(&req);
  ck_assert_int_eq(pt_plan_build(&set, &req, &full, NULL), PT_OK);
  size_t seen = 0;
  for (int s = 0; s < 3; s++) {
    req.shard = s;
    req.nshards = 3;
    ck_assert_int_eq(pt_plan_build(&set, &req, &part[s], NULL), PT_OK);
    ck_assert_uint_eq(part[s].ntotal, full.nitems);
    ck_assert_uint_eq(part[s].nitems, (full.nitems - (size_t)s + 2) / 3);
    /* Shard s holds items s, s+3, ... of the whole plan, in plan order. */
    for (size_t i = 0; i < part[s].nitems; i++)
      ck_assert(same_item(&part[s].items[i], &full.items[i * 3 + (size_t)s]));
    seen += part[s].nitems;
  }
  ck_assert_uint_eq(seen, full.nitems);
  for (int s = 0; s < 3; s++) pt_plan_free(&part[s]);
  pt_plan_free(&full);
  pt_family_set_free(&set);
}
END_TEST

START_TEST(family_dtype_tokens_stage_select) {
  pt_family_set_t set = builtin();
  pt_plan_req_t req;
  pt_plan_t plan;
  pt_plan_req_smoke(&req);
  req.family = "gptoss-120b";
  req.dtype = -1;
  req.tokens = NULL;
  req.ntokens = 0;
  req.stage = PT_STAGE_GEMM1;
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, NULL), PT_OK);
  /* Every dtype of the family times its 16-point token grid. */
  ck_assert_int_eq(plan.nproblems, 3 * 16);
  ck_assert_int_eq(plan.problems[0].shape.dtype, PT_DTYPE_A4W4);
  ck_assert_int_eq(plan.problems[16].shape.dtype, PT_DTYPE_A8W4);
  ck_assert_int_eq(plan.problems[16 + 15].tokens, 32768);
  ck_assert_int_eq(plan.nvariants[PT_STAGE_GEMM2], 0);
  for (size_t i = 0; i < plan.nitems; i++)
    ck_assert_int_eq(plan.items[i].variant.stage, PT_STAGE_GEMM1);
  pt_plan_free(&plan);
  req.family = NULL;
  req.dtype = PT_DTYPE_A4W4;
  const int tok[] = {8};
  req.tokens = tok;
  req.ntokens = 1;
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, NULL), PT_OK);
  ck_assert_int_eq(plan.nproblems, 3);  /* dsv3, kimik2, gptoss have a4w4 */
  pt_plan_free(&plan);
  pt_family_set_free(&set);
}
END_TEST

START_TEST(variant_specs_expand) {
  pt_variant_t *v = NULL;
  int n = 0;
  const char *alt[] = {"bm=16|32,bn=128", "bm=32,bn=128"};
  ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM1, alt, 2, &v, &n, NULL), PT_OK);
  ck_assert_int_eq(n, 2);  /* the duplicate is dropped */
  ck_assert_int_eq(v[0].bm, 16);
  ck_assert_int_eq(v[1].bm, 32);
  ck_assert_int_eq(v[1].bn, 128);
  free(v);
  const char *g1only[] = {"k_wave=2|4"};
  ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM1, g1only, 1, &v, &n, NULL), PT_OK);
  ck_assert_int_eq(n, 2);
  free(v);
  ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM2, g1only, 1, &v, &n, NULL), PT_OK);
  ck_assert_int_eq(n, 0);
  free(v);
  const char *kst[] = {"g2_kstages=1"};
  ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM2, kst, 1, &v, &n, NULL), PT_OK);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(v[0].kstages, 1);
  free(v);
  const char *all[] = {"all"};
  ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM2, all, 1, &v, &n, NULL), PT_OK);
  ck_assert_uint_eq((size_t)n, pt_knobs_space_size(PT_STAGE_GEMM2));
  free(v);
  const char *dflt[] = {""};
  ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM2, dflt, 1, &v, &n, NULL), PT_OK);
  pt_variant_t d;
  pt_knobs_default(PT_STAGE_GEMM2, &d);
  ck_assert_int_eq(n, 1);
  ck_assert(memcmp(&v[0], &d, sizeof d) == 0);
  free(v);
}
END_TEST

START_TEST(variant_specs_refused) {
  const struct { const char *spec, *why; } bad[] = {
      {"bm=17", "bm"},        {"bm", "not key=value"}, {"frob=1", "frob"},
      {"bm=", "empty value"}, {"bm=16|", "empty value"}, {"=16", "not key=value"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pt_variant_t *v = (pt_variant_t *)1;
    int n = 5;
    pt_err_t err;
    const char *specs[] = {bad[i].spec};
    ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM1, specs, 1, &v, &n, &err), PT_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(n, 0);
    ck_assert_msg(strstr(err.msg, bad[i].why) != NULL, "'%s': %s", bad[i].spec, err.msg);
    ck_assert_msg(strstr(err.msg, "variant spec '") == err.msg, "%s", err.msg);
  }
}
END_TEST

/* n items of m alternatives each ("bm=16|...", repeated): the values need
 * not be valid, the count is refused before any is parsed. */
static char *product_spec(int n, int m) {
  size_t cap = (size_t)n * (size_t)(4 + 3 * m) + 1, len = 0;
  char *s = malloc(cap);
  ck_assert_ptr_nonnull(s);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++)
      len += (size_t)snprintf(s + len, cap - len, "%s%d", j ? "|" : i ? ",bm=" : "bm=", j + 1);
  return s;
}

/* 16 knobs of 16 values is 2^64 variants: the count wrapped a long to 0 and
 * the spec added nothing, silently. Every product over the limit is refused
 * naming the spec and the limit, whatever its size. */
START_TEST(variant_spec_products_saturate) {
  const int shapes[][2] = {{16, 16}, {17, 16}, {32, 16}, {16, 15}, {5, 11}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    char *spec = product_spec(shapes[i][0], shapes[i][1]);
    const char *specs[] = {"bm=16", spec};
    pt_variant_t *v = (pt_variant_t *)1;
    int n = 5;
    pt_err_t err;
    ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM1, specs, 2, &v, &n, &err), PT_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(n, 0);
    ck_assert_msg(strncmp(err.msg, "variant spec 'bm=1|2|", 21) == 0, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "expands to more than 100000 variants"), "%s", err.msg);
    ck_assert_msg(i > 0 || strstr(err.msg, "...': expands"), "%s", err.msg);  /* cut */
    free(spec);
  }
  /* 100000 exactly is within the limit: refused only for its values. */
  char *spec = product_spec(5, 10);
  const char *specs[] = {spec};
  pt_variant_t *v = NULL;
  int n = 0;
  pt_err_t err;
  ck_assert_int_eq(pt_plan_variants(PT_STAGE_GEMM1, specs, 1, &v, &n, &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, "expands to") == NULL, "%s", err.msg);
  free(spec);
}
END_TEST

START_TEST(tokens_and_shards_parse) {
  int *t = NULL, n = 0, i = 0, k = 0;
  ck_assert_int_eq(pt_plan_parse_tokens("1,16,128,8192", &t, &n, NULL), PT_OK);
  ck_assert_int_eq(n, 4);
  ck_assert_int_eq(t[3], 8192);
  free(t);
  const struct { const char *list, *why; } bad[] = {
      {"0", "'0'"},       {"1,1", "not strictly increasing at 1"},
      {"4,2", "at 2"},    {"a", "'a'"},
      {"1,", "''"},       {"", "''"},
      {"1,-3", "'-3'"},   {"16777216", "'16777216'"},
      {"1, 2", "' 2'"},   {"\t1", "'\t1'"},
      {"1,\t2", "'\t2'"}, {"\n1", "'\n1'"},
      {"\v1", "'\v1'"},   {"\r1", "'\r1'"},
      {"\f1", "'\f1'"},   {"+1", "'+1'"},
      {"1,+2", "'+2'"},   {"0x10", "'0x10'"},
  };
  for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
    pt_err_t err;
    ck_assert_int_eq(pt_plan_parse_tokens(bad[j].list, &t, &n, &err), PT_EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err.msg, bad[j].why) != NULL, "'%s': %s", bad[j].list, err.msg);
  }
  ck_assert_int_eq(pt_plan_parse_shard("0/1", &i, &k, NULL), PT_OK);
  ck_assert_int_eq(pt_plan_parse_shard("3/4", &i, &k, NULL), PT_OK);
  ck_assert_int_eq(i, 3);
  ck_assert_int_eq(k, 4);
  const char *bad_shards[] = {"1/1", "-1/2", "a/b", "1/0", "0/2x", "0", "/2", "0/+2",
                              "\t0/2", "0/\t2", " 0/2", "0/ 2", "0/2 "};
  for (size_t j = 0; j < sizeof bad_shards / sizeof bad_shards[0]; j++) {
    pt_err_t err;
    ck_assert_int_eq(pt_plan_parse_shard(bad_shards[j], &i, &k, &err), PT_EINVAL);
    ck_assert(strstr(err.msg, bad_shards[j]) != NULL);
  }
}
END_TEST

START_TEST(requests_refused) {
  pt_family_set_t set = builtin();
  pt_plan_req_t req;
  pt_plan_t plan;
  pt_err_t err;
  pt_plan_req_smoke(&req);
  req.family = "dsv9";
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "option --family") && strstr(err.msg, "'dsv9'"));
  req.family = "dsv3-tp8";  /* a4w4 only */
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, &err), PT_EINVAL);
  ck_assert_msg(strstr(err.msg, "option --dtype: family 'dsv3-tp8' has no dtype 'a16w4'"), "%s",
                err.msg);
  pt_plan_req_smoke(&req);
  const char *g1[] = {"k_wave=2"};
  req.stage = PT_STAGE_GEMM2;
  req.variants = g1;
  req.nvariants = 1;
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "the plan is empty"));
  pt_plan_req_smoke(&req);
  const int dup[] = {4, 4};
  req.tokens = dup;
  req.ntokens = 2;
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "option --tokens"));
  pt_plan_req_smoke(&req);
  req.shard = 2;
  req.nshards = 2;
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "option --shard"));
  ck_assert_ptr_null(plan.items);
  pt_family_set_free(&set);
}
END_TEST

/* --holdout: the grid's geometric midpoints, rounded, without duplicates or
 * grid counts (the held-out token counts of examples/held-gptoss-h200.db). */
START_TEST(holdout_plans_the_midpoints) {
  const int grid[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  const int want[] = {3, 6, 11, 23, 45, 91, 181, 362, 724, 1448, 2896, 5793};
  int mid[14], n = 0;
  pt_plan_midpoints(grid, 14, mid, &n);
  ck_assert_int_eq(n, 12);
  for (int i = 0; i < n; i++) ck_assert_int_eq(mid[i], want[i]);
  const int close[] = {1, 2, 3, 4};  /* 1.41 -> 1, 2.45 -> 2, 3.46 -> 3: all grid */
  pt_plan_midpoints(close, 4, mid, &n);
  ck_assert_int_eq(n, 0);
  pt_family_set_t set = builtin();
  pt_plan_req_t req;
  pt_plan_req_smoke(&req);  /* 1, 16, 128, 1024 */
  req.holdout = 1;
  pt_plan_t plan;
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, NULL), PT_OK);
  ck_assert_int_eq(plan.nproblems, 3);
  ck_assert_int_eq(plan.problems[0].tokens, 4);
  ck_assert_int_eq(plan.problems[1].tokens, 45);
  ck_assert_int_eq(plan.problems[2].tokens, 362);
  pt_plan_free(&plan);
  const int one[] = {64};
  req.tokens = one;
  req.ntokens = 1;
  pt_err_t err;
  ck_assert_int_eq(pt_plan_build(&set, &req, &plan, &err), PT_EINVAL);
  ck_assert(strstr(err.msg, "the plan is empty"));
  pt_family_set_free(&set);
}
END_TEST

int main(void) {
  Suite *s = suite_create("plan");
  TCase *tc = tcase_create("plan");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, smoke_plan_covers_every_candidate_once);
  tcase_add_test(tc, pairs_plan_follows_the_problems);
  tcase_add_test(tc, order_is_deterministic_and_interleaved);
  tcase_add_test(tc, shards_partition_the_plan);
  tcase_add_test(tc, family_dtype_tokens_stage_select);
  tcase_add_test(tc, variant_specs_expand);
  tcase_add_test(tc, variant_specs_refused);
  tcase_add_test(tc, variant_spec_products_saturate);
  tcase_add_test(tc, tokens_and_shards_parse);
  tcase_add_test(tc, requests_refused);
  tcase_add_test(tc, holdout_plans_the_midpoints);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
