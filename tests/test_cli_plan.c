/* `pipetune plan check` run as the real binary on real databases filled by
 * `pipetune tune` with the simulated worker backend (PT_WORKER_BACKEND=test):
 * missing items named with their shard i/N, duplicates and statuses
 * counted, the item's identity (regime, arch, routing, seed) respected, and
 * bad input refused with exit 2, leaving the database as it was. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkmain.h"
#include "family.h"
#include "knobs.h"
#include "plan.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})
#define VARIANTS "bm=16|32"
#define PLANNED 8  /* 2 token counts x 2 stages x 2 variants */

static const char tiny_grid[] =
    "{\"version\": 1, \"tokens\": [1, 16],\n"
    " \"families\": [{\"name\": \"tiny\", \"model_dim\": 256, \"inter_dim\": 256,\n"
    "   \"experts\": 8, \"topk\": 2, \"dtypes\": [\"a16w4\"], \"act\": \"swiglu_oai\"}]}\n";

/* A temporary directory with the grid and a database holding the compile
 * cache of the plan, which each database of a test starts from. */
typedef struct world_s {
  char *dir, *grid, *base;
  char path[8][4096];
  int npaths;
} world_t;

/* The arch the simulated device reports: one this build compiles for. */
static const char *sim_arch(void) {
  return pt_gpu_backends_built() & (1u << PT_GPU_CUDA) ? "sm_90" : "gfx90a";
}

static const char *db_path(world_t *w, const char *name) {
  char *p = w->path[w->npaths++];
  snprintf(p, sizeof w->path[0], "%s/%s", w->dir, name);
  return p;
}

static void copy_file(const char *from, const char *to) {
  size_t n = 0;
  char *data = pt_test_slurp(from, &n);
  FILE *f = fopen(to, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
  free(data);
}

static void world_init(world_t *w) {
  memset(w, 0, sizeof *w);
  w->dir = pt_test_tmpdir();
  ck_assert_ptr_nonnull(w->dir);
  w->grid = pt_test_write(w->dir, "tiny.json", tiny_grid);
  setenv("PT_WORKER_BACKEND", "test", 1);
  setenv("PT_TEST_ARCH", sim_arch(), 1);
  unsetenv("PT_TEST_VERIFY_FAIL");
  w->base = pt_test_join(w->dir, "base.db");
  pt_test_out_t r = RUN("tune", "--grid", w->grid, "--variants", VARIANTS, "--db", w->base,
                        "--compile-only", "--arch", sim_arch());
  pt_test_expect(r, 0, NULL, "compile-checked");
  pt_test_out_free(&r);
}

static void world_free(world_t *w) {
  pt_test_rmdir(w->dir);
  free(w->dir);
  free(w->grid);
  free(w->base);
}

/* Tunes the plan (or its shard, or with more options) into a new database
 * started from the compile cache. */
static const char *tune(world_t *w, const char *name, const char *shard, const char *gpus) {
  const char *db = db_path(w, name);
  copy_file(w->base, db);
  const char *args[16] = {"tune", "--grid", w->grid, "--variants", VARIANTS, "--db", db,
                          "--gpus", gpus, "--min-ms", "1"};
  int n = 11;
  if (shard != NULL) {
    args[n++] = "--shard";
    args[n++] = shard;
  }
  pt_test_out_t r = pt_test_pipetune(args);
  pt_test_expect(r, 0, NULL, "tune: ");
  pt_test_out_free(&r);
  return db;
}

/* Merges the databases (NULL-terminated) into a new one. */
static const char *merge(world_t *w, const char *name, const char *const *dbs) {
  const char *db = db_path(w, name);
  const char *args[8] = {"db", "merge"};
  int n = 2;
  while (*dbs != NULL && n < 5) args[n++] = *dbs++;
  args[n++] = "-o";
  args[n++] = db;
  pt_test_out_t r = pt_test_pipetune(args);
  pt_test_expect(r, 0, NULL, "merged");
  pt_test_out_free(&r);
  return db;
}

#define MERGE(w, name, ...) merge((w), (name), (const char *const[]){__VA_ARGS__, NULL})

/* plan check of the test's plan; the first argument is the database. */
#define CHECK(...)                                                                      \
  pt_test_pipetune((const char *const[]){"plan", "check", "--grid", w.grid, "--variants", \
                                         VARIANTS, "--db", __VA_ARGS__, NULL})

static void expect_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) return;
  ck_abort_msg("no line '%s' in:\n%s", line, text);
}

/* Exit 2, nothing on stdout, exactly "error: <msg>\n" on stderr. */
static void expect_bad_input(pt_test_out_t r, const char *msg) {
  pt_test_expect_bad_input(r, msg);
  pt_test_out_free(&r);
}

/* Every item of shard i/3 of the plan, as plan check names it, is listed
 * under that shard in out; no item of another shard is. */
static void expect_shard_listed(const world_t *w, const char *out, int shard) {
  pt_family_set_t set = {0};
  pt_plan_t plan = {0};
  const char *specs[] = {VARIANTS};
  ck_assert_int_eq(pt_family_load_file(w->grid, &set, NULL), PT_OK);
  pt_plan_req_t req = {.family = "tiny", .dtype = -1, .stage = -1, .variants = specs,
                       .nvariants = 1, .nshards = 3};
  for (req.shard = 0; req.shard < 3; req.shard++) {
    ck_assert_int_eq(pt_plan_build(&set, &req, &plan, NULL), PT_OK);
    for (size_t i = 0; i < plan.nitems; i++) {
      const pt_plan_item_t *it = &plan.items[i];
      const pt_plan_problem_t *pr = &plan.problems[it->problem];
      char spec[PT_KNOBS_SPEC_MAX], line[256];
      pt_knobs_format(&it->variant, spec, sizeof spec);
      snprintf(line, sizeof line, "  tiny a16w4 %s t=%d %s\n", pt_stage_name(it->variant.stage),
               pr->tokens, spec);
      ck_assert_msg((strstr(out, line) != NULL) == (req.shard == shard),
                    "item '%s' of shard %d %s listed:\n%s", line, req.shard,
                    req.shard == shard ? "not" : "wrongly", out);
    }
    pt_plan_free(&plan);
  }
  pt_family_set_free(&set);
}

START_TEST(missing_shard_is_named_until_it_is_run) {
  world_t w;
  world_init(&w);
  const char *s0 = tune(&w, "s0.db", "0/3", "0");
  const char *s2 = tune(&w, "s2.db", "2/3", "0");
  const char *m = MERGE(&w, "m.db", s0, s2);
  size_t before_len = 0;
  char *before = pt_test_slurp(m, &before_len);
  pt_test_out_t r = CHECK(m, "--shards", "3");
  pt_test_expect(r, 1, NULL, NULL);
  char want[512];
  snprintf(want, sizeof want, "'%s' on %s: 5 of 8 planned items present, 5 exactly once, "
           "0 more than once, 3 missing", m, sim_arch());
  expect_line(r.out, "plan: 8 items in 2 problems, 3 shards");
  expect_line(r.out, want);
  expect_line(r.out, "results: 5 ok");
  expect_line(r.out, "missing in shard 1/3: 3 of 3 items");
  expect_line(r.out, "incomplete shards: 1");
  expect_shard_listed(&w, r.out, 1);
  pt_test_out_free(&r);
  size_t after_len = 0;
  char *after = pt_test_slurp(m, &after_len);
  ck_assert(before_len == after_len && memcmp(before, after, before_len) == 0);
  free(before);
  free(after);

  /* One shard's own database, checked as its shard. */
  r = CHECK(s2, "--shard", "2/3");
  pt_test_expect(r, 0, NULL, NULL);
  expect_line(r.out, "plan: shard 2/3, 2 of 8 items");
  expect_line(r.out, "complete");
  pt_test_out_free(&r);
  r = CHECK(s2, "--shard", "1/3", "--max-items", "1");
  pt_test_expect(r, 1, NULL, NULL);
  expect_line(r.out, "missing in shard 1/3: 3 of 3 items");
  expect_line(r.out, "  ... and 2 more");
  expect_line(r.out, "incomplete shards: 1");
  pt_test_out_free(&r);

  const char *s1 = tune(&w, "s1.db", "1/3", "0");
  const char *all = MERGE(&w, "all.db", s0, s1, s2);
  r = CHECK(all, "--shards", "3");
  pt_test_expect(r, 0, NULL, NULL);
  snprintf(want, sizeof want, "'%s' on %s: 8 of 8 planned items present, 8 exactly once, "
           "0 more than once, 0 missing", all, sim_arch());
  expect_line(r.out, want);
  expect_line(r.out, "complete");
  ck_assert_ptr_null(strstr(r.out, "incomplete"));
  pt_test_out_free(&r);
  world_free(&w);
}
END_TEST

START_TEST(duplicates_and_failures_are_counted) {
  world_t w;
  world_init(&w);
  setenv("PT_TEST_VERIFY_FAIL", "gemm1/bm=16,*/t=16", 1);
  const char *a = tune(&w, "a.db", NULL, "0");
  unsetenv("PT_TEST_VERIFY_FAIL");
  pt_test_out_t r = CHECK(a);
  pt_test_expect(r, 0, NULL, NULL);
  expect_line(r.out, "plan: 8 items in 2 problems");
  expect_line(r.out, "results: 7 ok 1 verify_fail");
  expect_line(r.out, "complete");
  pt_test_out_free(&r);
  /* Shard 0 again on another device of the arch: its 3 items twice. */
  const char *b = tune(&w, "b.db", "0/3", "1");
  const char *m = MERGE(&w, "m.db", a, b);
  r = CHECK(m, "--shards", "3");
  pt_test_expect(r, 0, NULL, NULL);
  char want[512];
  snprintf(want, sizeof want, "'%s' on %s: 8 of 8 planned items present, 5 exactly once, "
           "3 more than once, 0 missing", m, sim_arch());
  expect_line(r.out, want);
  expect_line(r.out, "more than once: 3 items");
  ck_assert_ptr_nonnull(strstr(r.out, ": 2 results\n"));
  expect_line(r.out, "complete");
  pt_test_out_free(&r);
  world_free(&w);
}
END_TEST

/* --arch names the results' arch: gfx942 counts even where this build's
 * compiler cannot target it (tune refuses it as a compile target there). */
START_TEST(item_identity_includes_regime_arch_routing_and_seed) {
  world_t w;
  world_init(&w);
  const char *a = tune(&w, "a.db", NULL, "0");
  static const char *const other[][2] = {
      {"--warm", NULL}, {"--routing", "zipf:1.2"}, {"--seed", "2"}, {"--arch", "gfx942"}};
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
    pt_test_out_t r = other[i][1] != NULL ? CHECK(a, other[i][0], other[i][1]) : CHECK(a, other[i][0]);
    pt_test_expect(r, 1, NULL, NULL);
    char want[512];
    snprintf(want, sizeof want, "'%s' on %s: 0 of 8 planned items present, 0 exactly once, "
             "0 more than once, 8 missing (8 other results in it)", a,
             i == 3 ? "gfx942" : sim_arch());
    expect_line(r.out, want);
    expect_line(r.out, "missing: 8 of 8 items");
    pt_test_out_free(&r);
  }
  world_free(&w);
}
END_TEST

START_TEST(bad_input_exits_2_and_leaves_the_database) {
  world_t w;
  world_init(&w);
  const char *a = tune(&w, "a.db", NULL, "0");
  /* The same item measured on a second arch: which one counts is asked. */
  setenv("PT_TEST_ARCH", "sm_80", 1);
  const char *b = db_path(&w, "b.db");
  pt_test_out_t r = RUN("tune", "--grid", w.grid, "--variants", "bm=16", "--tokens", "1",
                        "--stage", "gemm1", "--db", b, "--gpus", "0", "--min-ms", "1");
  pt_test_expect(r, 0, NULL, "tune: ");
  pt_test_out_free(&r);
  const char *m = MERGE(&w, "m.db", a, b);
  size_t before_len = 0;
  char *before = pt_test_slurp(m, &before_len);
  char msg[512];
  snprintf(msg, sizeof msg, "'%s' holds results of this plan on %s and sm_80; pass --arch", m,
           sim_arch());
  expect_bad_input(CHECK(m), msg);
  r = CHECK(m, "--arch", "sm_80");
  pt_test_expect(r, 1, NULL, "on sm_80: 1 of 8 planned items present");
  pt_test_out_free(&r);
  expect_bad_input(CHECK(m, "--shards", "0"), "option --shards: '0' is not a count in [1, 100000]");
  expect_bad_input(CHECK(m, "--shards", "2x"), "option --shards: '2x' is not a count in [1, 100000]");
  expect_bad_input(CHECK(m, "--shards", "4", "--shard", "1/3"),
                   "option --shards: 4 differs from --shard 1/3");
  expect_bad_input(CHECK(m, "--shard", "3/3"), "option --shard: shard '3/3' is not i/N with 0 <= i < N");
  expect_bad_input(CHECK(m, "--max-items", "-1"), "option --max-items: -1 is negative");
  snprintf(msg, sizeof msg, "option --family: unknown family 'nope' in '%s'", w.grid);
  expect_bad_input(CHECK(m, "--family", "nope"), msg);
  expect_bad_input(CHECK(m, "extra"), "unexpected argument 'extra'");
  r = RUN("plan", "check", "--grid", w.grid);
  expect_bad_input(r, "option --db FILE is required");
  snprintf(msg, sizeof msg, "'%s/none.db' does not exist", w.dir);
  expect_bad_input(CHECK(db_path(&w, "none.db")), msg);
  snprintf(msg, sizeof msg, "'%s' is not a pipetune database (not a SQLite file)", w.grid);
  expect_bad_input(CHECK(w.grid), msg);
  expect_bad_input(RUN("plan", "frobnicate"), "unknown plan verb 'frobnicate'; see 'pipetune plan --help'");
  r = RUN("plan");
  pt_test_expect(r, 2, "usage: pipetune plan", NULL);
  pt_test_out_free(&r);
  size_t after_len = 0;
  char *after = pt_test_slurp(m, &after_len);
  ck_assert(before_len == after_len && memcmp(before, after, before_len) == 0);
  free(before);
  free(after);
  world_free(&w);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cli_plan");
  TCase *tc = tcase_create("plan_check");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, missing_shard_is_named_until_it_is_run);
  tcase_add_test(tc, duplicates_and_failures_are_counted);
  tcase_add_test(tc, item_identity_includes_regime_arch_routing_and_seed);
  tcase_add_test(tc, bad_input_exits_2_and_leaves_the_database);
  suite_add_tcase(s, tc);
  return pt_test_run_suite(s);
}
