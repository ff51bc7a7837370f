/* Tests of space/family.c: the built-in families, user grid files, and
 * every kind of bad input, each written to a file and loaded. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkmain.h"
#include "family.h"

static char tmpdir[64];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/pt_family_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/grid.json", tmpdir);
  unlink(path);
  snprintf(path, sizeof path, "%s/dir", tmpdir);
  rmdir(path);
  rmdir(tmpdir);
}

/* Writes len bytes of text to <tmpdir>/grid.json; returns the path. */
static const char *write_grid(const char *text, size_t len) {
  static char path[128];
  snprintf(path, sizeof path, "%s/grid.json", tmpdir);
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
  ck_assert_int_eq(fclose(fp), 0);
  return path;
}

static void assert_empty(const pt_family_set_t *set) {
  ck_assert_ptr_null(set->families);
  ck_assert_int_eq(set->nfamilies, 0);
  ck_assert_ptr_null(set->tokens);
}

static void assert_same(const pt_family_set_t *a, const pt_family_set_t *b) {
  ck_assert_int_eq(a->ntokens, b->ntokens);
  if (a->ntokens > 0)
    ck_assert_mem_eq(a->tokens, b->tokens, (size_t)a->ntokens * sizeof(int));
  ck_assert_int_eq(a->nfamilies, b->nfamilies);
  for (int i = 0; i < a->nfamilies; i++) {
    const pt_family_t *x = &a->families[i], *y = &b->families[i];
    ck_assert_str_eq(x->name, y->name);
    ck_assert_int_eq(x->model_dim, y->model_dim);
    ck_assert_int_eq(x->inter_dim, y->inter_dim);
    ck_assert_int_eq(x->experts, y->experts);
    ck_assert_int_eq(x->topk, y->topk);
    ck_assert_int_eq(x->act, y->act);
    ck_assert_int_eq(x->ndtypes, y->ndtypes);
    ck_assert_mem_eq(x->dtypes, y->dtypes, (size_t)x->ndtypes * sizeof(pt_dtype_t));
    ck_assert_int_eq(x->own_tokens, y->own_tokens);
    ck_assert_int_eq(x->ntokens, y->ntokens);
    ck_assert_mem_eq(x->tokens, y->tokens, (size_t)x->ntokens * sizeof(int));
  }
}

START_TEST(test_builtin) {
  pt_family_set_t set;
  pt_err_t err;
  ck_assert_msg(pt_family_load_builtin(&set, &err) == PT_OK, "%s", err.msg);
  ck_assert_str_eq(set.source, "<built-in>");
  ck_assert_int_eq(set.nfamilies, 4);
  ck_assert_int_eq(set.ntokens, 16);
  for (int i = 0; i < 16; i++) ck_assert_int_eq(set.tokens[i], 1 << i);

  static const struct {
    const char *name;
    int h, i, e, k;
    pt_act_t act;
    int ndtypes;
    pt_dtype_t dtypes[3];
  } want[] = {
    {"dsv3-tp8", 7168, 256, 257, 9, PT_ACT_SILU, 1, {PT_DTYPE_A4W4}},
    {"kimik2-tp8", 7168, 256, 384, 8, PT_ACT_SILU, 1, {PT_DTYPE_A4W4}},
    {"dsv4-tp8", 7168, 512, 384, 6, PT_ACT_SILU, 1, {PT_DTYPE_A8W4}},
    {"gptoss-120b", 2880, 2880, 128, 4, PT_ACT_SWIGLU_OAI, 3,
     {PT_DTYPE_A4W4, PT_DTYPE_A8W4, PT_DTYPE_A16W4}},
  };
  for (int f = 0; f < 4; f++) {
    const pt_family_t *fam = &set.families[f];
    ck_assert_str_eq(fam->name, want[f].name);
    ck_assert_int_eq(fam->model_dim, want[f].h);
    ck_assert_int_eq(fam->inter_dim, want[f].i);
    ck_assert_int_eq(fam->experts, want[f].e);
    ck_assert_int_eq(fam->topk, want[f].k);
    ck_assert_int_eq(fam->act, want[f].act);
    ck_assert_int_eq(fam->ndtypes, want[f].ndtypes);
    for (int d = 0; d < fam->ndtypes; d++)
      ck_assert_int_eq(fam->dtypes[d], want[f].dtypes[d]);
    ck_assert_int_eq(fam->own_tokens, 0);
    ck_assert_int_eq(fam->ntokens, 16);
    ck_assert_mem_eq(fam->tokens, set.tokens, 16 * sizeof(int));
  }
  pt_family_set_free(&set);
  assert_empty(&set);
}
END_TEST

/* The built-in copy is the source tree's space/families.json. */
START_TEST(test_builtin_matches_source_file) {
  const char *srcdir = getenv("PT_SRCDIR");
  ck_assert_msg(srcdir != NULL, "PT_SRCDIR is not set (run through make check)");
  char path[4096];
  snprintf(path, sizeof path, "%s/space/families.json", srcdir);
  pt_family_set_t a, b;
  pt_err_t err;
  ck_assert_int_eq(pt_family_load_builtin(&a, &err), PT_OK);
  ck_assert_msg(pt_family_load_file(path, &b, &err) == PT_OK, "%s", err.msg);
  ck_assert_str_eq(b.source, path);
  assert_same(&a, &b);
  pt_family_set_free(&a);
  pt_family_set_free(&b);
}
END_TEST

START_TEST(test_lookup_and_shape) {
  pt_family_set_t set;
  pt_err_t err;
  ck_assert_int_eq(pt_family_load_builtin(&set, &err), PT_OK);
  const pt_family_t *f = pt_family_find(&set, "gptoss-120b");
  ck_assert_ptr_eq(f, &set.families[3]);
  ck_assert_ptr_null(pt_family_find(&set, "gptoss"));
  ck_assert_int_eq(pt_family_lookup(&set, "dsv4-tp8", &f, &err), PT_OK);
  ck_assert_str_eq(f->name, "dsv4-tp8");
  ck_assert_int_eq(pt_family_lookup(&set, "dsv9", &f, &err), PT_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_str_eq(err.msg, "unknown family 'dsv9' in '<built-in>'");

  pt_moe_shape_t shape;
  f = pt_family_find(&set, "gptoss-120b");
  ck_assert_int_eq(pt_family_shape(f, PT_DTYPE_A16W4, &shape, &err), PT_OK);
  ck_assert_int_eq(shape.model_dim, 2880);
  ck_assert_int_eq(shape.inter_dim, 2880);
  ck_assert_int_eq(shape.experts, 128);
  ck_assert_int_eq(shape.topk, 4);
  ck_assert_int_eq(shape.dtype, PT_DTYPE_A16W4);
  ck_assert_int_eq(shape.act, PT_ACT_SWIGLU_OAI);
  f = pt_family_find(&set, "dsv3-tp8");
  ck_assert_int_eq(pt_family_shape(f, PT_DTYPE_A8W4, &shape, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "family 'dsv3-tp8' has no dtype 'a8w4'");
  pt_family_set_free(&set);
}
END_TEST

static const char user_grid[] =
    "{\n"
    "  \"families\": [\n"
    "    {\"act\": \"swiglu_oai\", \"dtypes\": [\"a16w4\", \"a4w4\"],\n"
    "     \"topk\": 4, \"experts\": 32, \"inter_dim\": 64, \"model_dim\": 2880,\n"
    "     \"name\": \"gptoss-20b.tp1_x\", \"tokens\": [3, 100, 16777215]},\n"
    "    {\"name\": \"0tiny\", \"model_dim\": 64, \"inter_dim\": 64, \"experts\": 1,\n"
    "     \"topk\": 1, \"dtypes\": [\"a8w4\"], \"act\": \"silu\", \"tokens\": [1]}\n"
    "  ],\n"
    "  \"version\": 1\n"
    "}\n";

START_TEST(test_user_grid_round_trip) {
  pt_family_set_t set, back;
  pt_err_t err;
  const char *path = write_grid(user_grid, strlen(user_grid));
  ck_assert_msg(pt_family_load_file(path, &set, &err) == PT_OK, "%s", err.msg);
  ck_assert_ptr_null(set.tokens);
  ck_assert_int_eq(set.nfamilies, 2);
  const pt_family_t *f = &set.families[0];
  ck_assert_str_eq(f->name, "gptoss-20b.tp1_x");
  ck_assert_int_eq(f->own_tokens, 1);
  ck_assert_int_eq(f->ntokens, 3);
  ck_assert_int_eq(f->tokens[2], 16777215);
  ck_assert_int_eq(f->dtypes[0], PT_DTYPE_A16W4);
  ck_assert_int_eq(f->dtypes[1], PT_DTYPE_A4W4);
  ck_assert_int_eq(set.families[1].experts, 1);

  char *json;
  ck_assert_int_eq(pt_family_to_json(&set, &json, &err), PT_OK);
  ck_assert_int_eq(pt_family_parse(json, strlen(json), "dump", &back, &err), PT_OK);
  assert_same(&set, &back);
  free(json);
  pt_family_set_free(&back);
  pt_family_set_free(&set);

  /* The built-in set, with its shared grid, round-trips too. */
  ck_assert_int_eq(pt_family_load_builtin(&set, &err), PT_OK);
  ck_assert_int_eq(pt_family_to_json(&set, &json, &err), PT_OK);
  ck_assert_ptr_null(strstr(strstr(json, "\"families\""), "\"tokens\""));
  ck_assert_int_eq(pt_family_parse(json, strlen(json), "dump", &back, &err), PT_OK);
  assert_same(&set, &back);
  free(json);
  pt_family_set_free(&back);
  pt_family_set_free(&set);
}
END_TEST

/* A family mixing a shared grid and its own tokens. */
START_TEST(test_family_tokens_override_grid) {
  static const char text[] =
      "{\"version\": 1, \"tokens\": [1, 2],\n"
      " \"families\": [\n"
      "  {\"name\": \"a\", \"model_dim\": 128, \"inter_dim\": 64, \"experts\": 8,"
      "   \"topk\": 2, \"dtypes\": [\"a4w4\"], \"act\": \"silu\", \"tokens\": [5]},\n"
      "  {\"name\": \"b\", \"model_dim\": 128, \"inter_dim\": 64, \"experts\": 8,"
      "   \"topk\": 2, \"dtypes\": [\"a4w4\"], \"act\": \"silu\"}]}";
  pt_family_set_t set;
  pt_err_t err;
  ck_assert_int_eq(pt_family_parse(text, sizeof text - 1, "mixed", &set, &err), PT_OK);
  ck_assert_int_eq(set.families[0].ntokens, 1);
  ck_assert_int_eq(set.families[0].tokens[0], 5);
  ck_assert_int_eq(set.families[1].ntokens, 2);
  ck_assert_int_eq(set.families[1].own_tokens, 0);
  char *json;
  pt_family_set_t back;
  ck_assert_int_eq(pt_family_to_json(&set, &json, &err), PT_OK);
  ck_assert_int_eq(pt_family_parse(json, strlen(json), "dump", &back, &err), PT_OK);
  assert_same(&set, &back);
  free(json);
  pt_family_set_free(&back);
  pt_family_set_free(&set);
}
END_TEST

#define HEAD "{\"version\": 1, \"tokens\": [1, 2, 4], \"families\": ["
#define FAM(name, h, i, e, k, dt, act)                                       \
  "{\"name\": " name ", \"model_dim\": " h ", \"inter_dim\": " i             \
  ", \"experts\": " e ", \"topk\": " k ", \"dtypes\": " dt ", \"act\": " act "}"
#define OK_FAM FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")
#define GRID(fams) HEAD fams "]}"
#define DSV3 "family 'dsv3-tp8': "
#define TOKENS_RANGE "field 'tokens' must hold values from 1 to 16777215 "

/* Each bad file with the message after its "'<path>': " prefix. */
static const struct {
  const char *text;
  const char *msg;
} bad[] = {
  {GRID(FAM("\"dsv3-tp8\"", "7000", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'model_dim' must be a multiple of 64 (got 7000)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "100", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'inter_dim' must be a multiple of 64 (got 100)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "0", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'inter_dim' must be positive (got 0)"},
  {GRID(FAM("\"dsv3-tp8\"", "-64", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'model_dim' must be positive (got -64)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168.5", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'model_dim' must be an integer (got 7168.5)"},
  {GRID(FAM("\"dsv3-tp8\"", "1e10", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'model_dim' must be an integer (got 1e+10)"},
  {GRID(FAM("\"dsv3-tp8\"", "\"7168\"", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'model_dim' must be an integer (got a string)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "true", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'experts' must be an integer (got a boolean)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "0", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'experts' must be at least 1 (got 0)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "0", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'topk' must be from 1 to 255 (got 0)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "1000", "256", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'topk' must be from 1 to 255 (got 256)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "8", "9", "[\"a4w4\"]", "\"silu\"")),
   DSV3 "field 'topk' must not exceed 'experts' (got topk 9 with 8 experts)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[\"a2w4\"]", "\"silu\"")),
   DSV3 "field 'dtypes' has unknown dtype 'a2w4' (known: a4w4, a8w4, a16w4)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[\"A4W4\"]", "\"silu\"")),
   DSV3 "field 'dtypes' has unknown dtype 'A4W4' (known: a4w4, a8w4, a16w4)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[]", "\"silu\"")),
   DSV3 "field 'dtypes' must not be empty"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "\"a4w4\"", "\"silu\"")),
   DSV3 "field 'dtypes' must be an array (got a string)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[4]", "\"silu\"")),
   DSV3 "field 'dtypes' must hold strings (got a number)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[\"a4w4\", \"a8w4\", \"a4w4\"]",
            "\"silu\"")),
   DSV3 "field 'dtypes' has 'a4w4' twice"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[\"a4w4\"]", "\"relu\"")),
   DSV3 "field 'act' has unknown activation 'relu' (known: silu, swiglu_oai)"},
  {GRID(FAM("\"dsv3-tp8\"", "7168", "256", "257", "9", "[\"a4w4\"]", "null")),
   DSV3 "field 'act' must be a string (got null)"},
  {GRID(FAM("\"DSV3\"", "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   "family #1: field 'name' must match [a-z0-9][a-z0-9._-]* (got 'DSV3')"},
  {GRID(FAM("\"-dsv3\"", "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   "family #1: field 'name' must match [a-z0-9][a-z0-9._-]* (got '-dsv3')"},
  {GRID(FAM("\"dsv3;tp8\"", "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   "family #1: field 'name' must match [a-z0-9][a-z0-9._-]* (got 'dsv3;tp8')"},
  {GRID(FAM("\"ds v3\"", "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   "family #1: field 'name' must match [a-z0-9][a-z0-9._-]* (got 'ds v3')"},
  {GRID(FAM("\"\"", "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   "family #1: field 'name' must match [a-z0-9][a-z0-9._-]* (got '')"},
  {GRID(FAM("7", "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   "family #1: field 'name' must be a string (got a number)"},
  {GRID(FAM("\"a123456789012345678901234567890123456789012345678901234567890123\"",
            "7168", "256", "257", "9", "[\"a4w4\"]", "\"silu\"")),
   "family #1: field 'name' must be at most 63 characters (got "
   "'a123456789012345678901234567890123456789012345678901234567890123...')"},
  {GRID("{\"model_dim\": 7168}"), "family #1: missing field 'name'"},
  {GRID(OK_FAM ", 3"), "family #2: must be an object (got a number)"},
  {GRID("{\"name\": \"dsv3-tp8\", \"model_dim\": 7168, \"inter_dim\": 256, "
        "\"experts\": 257, \"topk\": 9, \"dtypes\": [\"a4w4\"]}"),
   DSV3 "missing field 'act'"},
  {GRID("{\"name\": \"dsv3-tp8\", \"inter_dim\": 256, \"experts\": 257, "
        "\"topk\": 9, \"dtypes\": [\"a4w4\"], \"act\": \"silu\"}"),
   DSV3 "missing field 'model_dim'"},
  {GRID("{\"name\": \"dsv3-tp8\", \"model_dim\": 7168, \"inter_dim\": 256, "
        "\"expertz\": 257, \"topk\": 9, \"dtypes\": [\"a4w4\"], \"act\": \"silu\"}"),
   DSV3 "unknown key 'expertz'"},
  {GRID("{\"name\": \"dsv3-tp8\", \"model_dim\": 7168, \"inter_dim\": 256, "
        "\"experts\": 257, \"topk\": 9, \"topk\": 8, \"dtypes\": [\"a4w4\"], "
        "\"act\": \"silu\"}"),
   DSV3 "key 'topk' given twice"},
  {GRID(OK_FAM ", " OK_FAM), DSV3 "name already used by family #1"},
  {GRID(FAM("\"a\"", "64", "64", "1", "1", "[\"a4w4\"]", "\"silu\"") ", " OK_FAM ", "
        FAM("\"a\"", "64", "64", "1", "1", "[\"a4w4\"]", "\"silu\"")),
   "family 'a': name already used by family #1"},
  /* token lists */
  {"{\"version\": 1, \"tokens\": [], \"families\": [" OK_FAM "]}",
   "field 'tokens' must not be empty"},
  {"{\"version\": 1, \"tokens\": [0], \"families\": [" OK_FAM "]}",
   TOKENS_RANGE "(got 0 at index 0)"},
  {"{\"version\": 1, \"tokens\": [1, -2], \"families\": [" OK_FAM "]}",
   TOKENS_RANGE "(got -2 at index 1)"},
  {"{\"version\": 1, \"tokens\": [16777216], \"families\": [" OK_FAM "]}",
   TOKENS_RANGE "(got 16777216 at index 0)"},
  {"{\"version\": 1, \"tokens\": [1, 1.5], \"families\": [" OK_FAM "]}",
   "field 'tokens' must hold integers (got 1.5 at index 1)"},
  {"{\"version\": 1, \"tokens\": [\"1\"], \"families\": [" OK_FAM "]}",
   "field 'tokens' must hold integers (got a string at index 0)"},
  {"{\"version\": 1, \"tokens\": [1, 4, 2], \"families\": [" OK_FAM "]}",
   "field 'tokens' must be increasing (got 2 after 4 at index 2)"},
  {"{\"version\": 1, \"tokens\": [1, 2, 2], \"families\": [" OK_FAM "]}",
   "field 'tokens' has 2 twice (index 2)"},
  {"{\"version\": 1, \"tokens\": 16, \"families\": [" OK_FAM "]}",
   "field 'tokens' must be an array (got a number)"},
  {"{\"version\": 1, \"families\": [{\"name\": \"dsv3-tp8\", \"model_dim\": 7168, "
   "\"inter_dim\": 256, \"experts\": 257, \"topk\": 9, \"dtypes\": [\"a4w4\"], "
   "\"act\": \"silu\", \"tokens\": [8, 4]}]}",
   DSV3 "field 'tokens' must be increasing (got 4 after 8 at index 1)"},
  {"{\"version\": 1, \"families\": [" OK_FAM "]}",
   DSV3 "missing field 'tokens' (give it here or at the top level)"},
  /* top level */
  {"{\"version\": 2, \"tokens\": [1], \"families\": [" OK_FAM "]}",
   "field 'version' must be 1 (got 2)"},
  {"{\"tokens\": [1], \"families\": [" OK_FAM "]}", "missing field 'version'"},
  {"{\"version\": 1, \"tokens\": [1]}", "missing field 'families'"},
  {"{\"version\": 1, \"tokens\": [1], \"families\": []}",
   "field 'families' must not be empty"},
  {"{\"version\": 1, \"tokens\": [1], \"families\": {}}",
   "field 'families' must be an array (got an object)"},
  {"{\"version\": 1, \"tokens\": [1], \"famillies\": []}",
   "unknown key 'famillies'"},
  {"{\"version\": 1, \"version\": 1, \"families\": []}", "key 'version' given twice"},
  {"[" OK_FAM "]", "must hold a JSON object (got an array)"},
  /* syntax */
  {"", "is empty (expected a JSON object)"},
  {" \n\t", "is empty (expected a JSON object)"},
  {"{\"version\": 1,\n \"families\": [",
   "truncated JSON: unexpected end of input at line 2, column 15"},
  {"{\"version\": 1,\n \"tokens\": [1, 2, 4",
   "truncated JSON: unexpected end of input at line 2, column 20"},
  {"{\"version\": 1,\n \"families\": [{\"name\": \"dsv3-t",
   "truncated JSON: unexpected end of input at line 2, column 31"},
  {"{\"version\": 1,\n  \"families\": x}", "invalid JSON at line 2, column 15"},
  {"{\"version\": 1,\n  \"families\": [x, {\"name\": \"a",
   "invalid JSON at line 2, column 16"},
  {"{\"version\": 1, \"tokens\": [1,], \"families\": []}",
   "invalid JSON at line 1, column 29"},
  {"{\"version\": 1} x", "invalid JSON at line 1, column 16"},
};

START_TEST(test_bad_file) {
  const char *path = write_grid(bad[_i].text, strlen(bad[_i].text));
  pt_family_set_t set;
  pt_err_t err;
  memset(&set, 0x5a, sizeof set);
  ck_assert_int_eq(pt_family_load_file(path, &set, &err), PT_EINVAL);
  ck_assert_int_eq(err.code, PT_EINVAL);
  char want[PT_ERRMSG_MAX];
  snprintf(want, sizeof want, "'%s': %s", path, bad[_i].msg);
  ck_assert_str_eq(err.msg, want);
  assert_empty(&set);
}
END_TEST

START_TEST(test_nul_byte) {
  static const char text[] = "{\"ver\0sion\": 1}";
  const char *path = write_grid(text, sizeof text - 1);
  pt_family_set_t set;
  pt_err_t err;
  ck_assert_int_eq(pt_family_load_file(path, &set, &err), PT_EINVAL);
  char want[256];
  snprintf(want, sizeof want, "'%s': holds a NUL byte at offset 5", path);
  ck_assert_str_eq(err.msg, want);
  assert_empty(&set);
}
END_TEST

START_TEST(test_unreadable) {
  char path[128];
  pt_family_set_t set;
  pt_err_t err;
  snprintf(path, sizeof path, "%s/missing.json", tmpdir);
  ck_assert_int_eq(pt_family_load_file(path, &set, &err), PT_EINVAL);
  char want[256];
  snprintf(want, sizeof want, "'%s': cannot open: No such file or directory", path);
  ck_assert_str_eq(err.msg, want);
  assert_empty(&set);

  snprintf(path, sizeof path, "%s/dir", tmpdir);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  ck_assert_int_eq(pt_family_load_file(path, &set, &err), PT_EINVAL);
  snprintf(want, sizeof want, "'%s': cannot read: Is a directory", path);
  ck_assert_str_eq(err.msg, want);
}
END_TEST

/* A large valid file reads through the growing buffer. */
START_TEST(test_large_file) {
  size_t cap = 1 << 20, n = 0;
  char *text = malloc(cap);
  ck_assert_ptr_nonnull(text);
  n += (size_t)snprintf(text + n, cap - n, "{\"version\": 1, \"tokens\": [");
  for (int t = 1; t <= 50000; t++)
    n += (size_t)snprintf(text + n, cap - n, "%s%d", t > 1 ? ", " : "", t);
  n += (size_t)snprintf(text + n, cap - n, "], \"families\": [%s]}", OK_FAM);
  ck_assert_uint_lt(n, cap);
  const char *path = write_grid(text, n);
  free(text);
  pt_family_set_t set;
  pt_err_t err;
  ck_assert_msg(pt_family_load_file(path, &set, &err) == PT_OK, "%s", err.msg);
  ck_assert_int_eq(set.ntokens, 50000);
  ck_assert_int_eq(set.families[0].tokens[49999], 50000);
  pt_family_set_free(&set);
}
END_TEST

/* The rules the loader applies, called directly: the same messages, so a
 * family built in code (hfconfig.c) fails the way a file would. */
START_TEST(test_rules) {
  pt_err_t err;
  ck_assert_int_eq(pt_family_check_name("dsv3-tp8", &err), PT_OK);
  ck_assert_int_eq(pt_family_check_name("Dsv3", &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'name' must match [a-z0-9][a-z0-9._-]* (got 'Dsv3')");
  ck_assert_int_eq(pt_family_check_dim("inter_dim", 192, &err), PT_OK);
  ck_assert_int_eq(pt_family_check_dim("inter_dim", 96, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'inter_dim' must be a multiple of 64 (got 96)");
  ck_assert_int_eq(pt_family_check_dim("model_dim", 0, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'model_dim' must be positive (got 0)");
  ck_assert_int_eq(pt_family_check_experts(1, &err), PT_OK);
  ck_assert_int_eq(pt_family_check_experts(0, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'experts' must be at least 1 (got 0)");
  ck_assert_int_eq(pt_family_check_topk(9, 257, &err), PT_OK);
  ck_assert_int_eq(pt_family_check_topk(2, 1, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'topk' must not exceed 'experts' (got topk 2 with 1 "
                            "experts)");
  ck_assert_int_eq(pt_family_check_topk(256, 1000, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'topk' must be from 1 to 255 (got 256)");

  cJSON *v = cJSON_Parse("[7, 7.5, \"7\", null]");
  int out = 0;
  ck_assert_int_eq(pt_family_json_int(cJSON_GetArrayItem(v, 0), "x", &out, &err), PT_OK);
  ck_assert_int_eq(out, 7);
  ck_assert_int_eq(pt_family_json_int(cJSON_GetArrayItem(v, 1), "x", &out, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'x' must be an integer (got 7.5)");
  ck_assert_int_eq(pt_family_json_int(cJSON_GetArrayItem(v, 2), "x", &out, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "field 'x' must be an integer (got a string)");
  ck_assert_str_eq(pt_family_json_type(cJSON_GetArrayItem(v, 3)), "null");
  ck_assert_str_eq(pt_family_json_type(v), "an array");
  cJSON_Delete(v);
}
END_TEST

/* Any JSON file through the loader's reader and its messages. */
START_TEST(test_read_json) {
  static const char text[] = "{\"hidden_size\": 7168, \"x\": [1]}";
  const char *path = write_grid(text, sizeof text - 1);
  cJSON *root = NULL;
  pt_err_t err;
  ck_assert_msg(pt_family_read_json(path, &root, &err) == PT_OK, "%s", err.msg);
  ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "hidden_size")->valueint, 7168);
  cJSON_Delete(root);
  path = write_grid("{\"a\": 1,\n \"b\": ", 15);
  root = (cJSON *)1;
  ck_assert_int_eq(pt_family_read_json(path, &root, &err), PT_EINVAL);
  ck_assert_ptr_null(root);
  char want[256];
  snprintf(want, sizeof want, "'%s': truncated JSON: unexpected end of input at line 2, "
           "column 7", path);
  ck_assert_str_eq(err.msg, want);
  char missing[128];
  snprintf(missing, sizeof missing, "%s/missing.json", tmpdir);
  ck_assert_int_eq(pt_family_read_json(missing, &root, &err), PT_EINVAL);
  snprintf(want, sizeof want, "'%s': cannot open: No such file or directory", missing);
  ck_assert_str_eq(err.msg, want);
}
END_TEST

static Suite *family_suite(void) {
  Suite *s = suite_create("family");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, make_tmpdir, remove_tmpdir);
  tcase_add_test(tc, test_builtin);
  tcase_add_test(tc, test_builtin_matches_source_file);
  tcase_add_test(tc, test_lookup_and_shape);
  tcase_add_test(tc, test_user_grid_round_trip);
  tcase_add_test(tc, test_family_tokens_override_grid);
  tcase_add_loop_test(tc, test_bad_file, 0, (int)(sizeof bad / sizeof bad[0]));
  tcase_add_test(tc, test_nul_byte);
  tcase_add_test(tc, test_unreadable);
  tcase_add_test(tc, test_large_file);
  tcase_add_test(tc, test_rules);
  tcase_add_test(tc, test_read_json);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return pt_test_run_suite(family_suite());
}
