/* Tests of space/hfconfig.c and `pipetune families --from-config`: the
 * config.json files of public MoE models in tests/data/configs/, their
 * per-GPU shapes at common TP/EP layouts, the built-in families they must
 * reproduce, the written grid going into tune and verify, and bad configs
 * (exit 2, one line naming the file and the field).
 *
 * The files hold the published config.json values. Where a file is a
 * subset, the fields left out are ones not needed here whose exact values
 * were not known for sure:
 *   deepseek-v3.json        deepseek-ai/DeepSeek-V3; all but auto_map,
 *                           torch_dtype and transformers_version
 *   kimi-k2.json            moonshotai/Kimi-K2-Instruct; the architecture,
 *                           attention, MoE and quantization fields (no token
 *                           ids, context length or rope fields)
 *   gpt-oss-120b.json       openai/gpt-oss-120b, gpt-oss-20b.json the 20b;
 *                           all but the token ids and transformers_version
 *   qwen3-235b-a22b.json    Qwen/Qwen3-235B-A22B; all but
 *                           transformers_version
 *   qwen3-30b-a3b.json      Qwen/Qwen3-30B-A3B; whole
 *   mixtral-8x7b.json       mistralai/Mixtral-8x7B-v0.1; whole
 *   deepseek-v2-lite.json   deepseek-ai/DeepSeek-V2-Lite; all but auto_map,
 *                           torch_dtype and transformers_version
 *   glm-4.5.json            zai-org/GLM-4.5; the architecture, attention and
 *                           MoE fields
 *   qwen1.5-moe-a2.7b.json  Qwen/Qwen1.5-MoE-A2.7B; the architecture,
 *                           attention and MoE fields
 *   qwen3-8b.json           Qwen/Qwen3-8B, a dense model; whole
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "family.h"
#include "hfconfig.h"
#include "testutil.h"

#define RUN(...) pt_test_pipetune((const char *const[]){__VA_ARGS__, NULL})

static char *config_path(const char *file) {
  char rel[128];
  snprintf(rel, sizeof rel, "tests/data/configs/%s", file);
  return pt_test_src_path(rel);
}


/* ---- the per-GPU shapes ---- */

#define SEP PT_HFCONFIG_SHARED_SEPARATE
#define SILU PT_ACT_SILU
#define OAI PT_ACT_SWIGLU_OAI

/* Each model at the layouts it is served with. Where a serving stack
 * publishes tuned tables for the shape, its name is noted: vLLM's and
 * SGLang's fused-MoE configs are named E=<experts>,N=<I per GPU>; vLLM runs
 * shared experts apart, SGLang fuses DeepSeek-V3's (E=257). */
static const struct {
  const char *file;
  int tp, ep;
  pt_hfconfig_shared_t shared;
  const char *name;
  int h, i, e, k;
  pt_act_t act;
  int ndtypes;
} shapes[] = {
    /* DeepSeek-V3: 256 routed + 1 shared of width 2048, top-8 */
    {"deepseek-v3.json", 8, 1, 0, "deepseek_v3-tp8", 7168, 256, 257, 9, SILU, 1},
    {"deepseek-v3.json", 8, 1, SEP, "deepseek_v3-tp8-routed", 7168, 256, 256, 8, SILU, 1},
    {"deepseek-v3.json", 1, 8, 0, "deepseek_v3-ep8", 7168, 2048, 33, 9, SILU, 1},
    /* Kimi-K2: 384 routed + 1 shared of width 2048, top-8 */
    {"kimi-k2.json", 8, 1, SEP, "kimi_k2-tp8-routed", 7168, 256, 384, 8, SILU, 1},
    {"kimi-k2.json", 8, 1, 0, "kimi_k2-tp8", 7168, 256, 385, 9, SILU, 1},
    {"kimi-k2.json", 1, 8, 0, "kimi_k2-ep8", 7168, 2048, 49, 9, SILU, 1},
    /* GPT-OSS: I 2880 does not halve into 64-column tiles, so EP only */
    {"gpt-oss-120b.json", 1, 1, 0, "gpt_oss-tp1", 2880, 2880, 128, 4, OAI, 3},
    {"gpt-oss-120b.json", 1, 4, 0, "gpt_oss-ep4", 2880, 2880, 32, 4, OAI, 3},
    {"gpt-oss-120b.json", 1, 8, 0, "gpt_oss-ep8", 2880, 2880, 16, 4, OAI, 3},
    {"gpt-oss-20b.json", 1, 1, 0, "gpt_oss-tp1", 2880, 2880, 32, 4, OAI, 3},
    {"gpt-oss-20b.json", 1, 4, 0, "gpt_oss-ep4", 2880, 2880, 8, 4, OAI, 3},
    /* Qwen3-235B-A22B: E=128,N=192 (TP8), N=384 (TP4); EP8 16 experts */
    {"qwen3-235b-a22b.json", 8, 1, 0, "qwen3_moe-tp8", 4096, 192, 128, 8, SILU, 1},
    {"qwen3-235b-a22b.json", 4, 1, 0, "qwen3_moe-tp4", 4096, 384, 128, 8, SILU, 1},
    {"qwen3-235b-a22b.json", 1, 8, 0, "qwen3_moe-ep8", 4096, 1536, 16, 8, SILU, 1},
    /* Qwen3-30B-A3B: E=128,N=768 (TP1), N=384 (TP2), N=192 (TP4) */
    {"qwen3-30b-a3b.json", 1, 1, 0, "qwen3_moe-tp1", 2048, 768, 128, 8, SILU, 1},
    {"qwen3-30b-a3b.json", 2, 1, 0, "qwen3_moe-tp2", 2048, 384, 128, 8, SILU, 1},
    {"qwen3-30b-a3b.json", 4, 1, 0, "qwen3_moe-tp4", 2048, 192, 128, 8, SILU, 1},
    {"qwen3-30b-a3b.json", 1, 8, 0, "qwen3_moe-ep8", 2048, 768, 16, 8, SILU, 1},
    /* Mixtral-8x7B: E=8,N=14336 (TP1), N=7168 (TP2), N=3584 (TP4), N=1792 (TP8) */
    {"mixtral-8x7b.json", 2, 1, 0, "mixtral-tp2", 4096, 7168, 8, 2, SILU, 1},
    {"mixtral-8x7b.json", 4, 1, 0, "mixtral-tp4", 4096, 3584, 8, 2, SILU, 1},
    {"mixtral-8x7b.json", 8, 1, 0, "mixtral-tp8", 4096, 1792, 8, 2, SILU, 1},
    {"mixtral-8x7b.json", 1, 2, 0, "mixtral-ep2", 4096, 14336, 4, 2, SILU, 1},
    {"mixtral-8x7b.json", 2, 4, 0, "mixtral-tp2-ep4", 4096, 7168, 2, 2, SILU, 1},
    /* DeepSeek-V2-Lite: 64 routed + 2 shared of width 1408, top-6;
     * E=64,N=1408 (TP1), N=704 (TP2) with the shared experts apart */
    {"deepseek-v2-lite.json", 1, 1, 0, "deepseek_v2-tp1", 2048, 1408, 66, 8, SILU, 1},
    {"deepseek-v2-lite.json", 2, 1, 0, "deepseek_v2-tp2", 2048, 704, 66, 8, SILU, 1},
    {"deepseek-v2-lite.json", 1, 1, SEP, "deepseek_v2-tp1-routed", 2048, 1408, 64, 6, SILU, 1},
    {"deepseek-v2-lite.json", 2, 1, SEP, "deepseek_v2-tp2-routed", 2048, 704, 64, 6, SILU, 1},
    /* GLM-4.5: 160 routed + 1 shared of width 1536, top-8 */
    {"glm-4.5.json", 8, 1, 0, "glm4_moe-tp8", 5120, 192, 161, 9, SILU, 1},
    {"glm-4.5.json", 4, 1, SEP, "glm4_moe-tp4-routed", 5120, 384, 160, 8, SILU, 1},
    {"glm-4.5.json", 1, 8, 0, "glm4_moe-ep8", 5120, 1536, 21, 9, SILU, 1},
    /* Qwen1.5-MoE-A2.7B: 60 routed of width 1408, top-4, a gated shared
     * expert of width 5632 run apart */
    {"qwen1.5-moe-a2.7b.json", 1, 1, SEP, "qwen2_moe-tp1-routed", 2048, 1408, 60, 4, SILU, 1},
    {"qwen1.5-moe-a2.7b.json", 2, 4, SEP, "qwen2_moe-tp2-ep4-routed", 2048, 704, 15, 4, SILU, 1},
};

START_TEST(per_gpu_shape) {
  char *path = config_path(shapes[_i].file);
  pt_hfconfig_model_t m;
  pt_hfconfig_layout_t l;
  pt_family_t f;
  pt_err_t err;
  ck_assert_msg(pt_hfconfig_load(path, &m, &err) == PT_OK, "%s", err.msg);
  pt_hfconfig_layout_default(&l);
  l.tp = shapes[_i].tp;
  l.ep = shapes[_i].ep;
  l.shared = shapes[_i].shared;
  ck_assert_msg(pt_hfconfig_family(&m, &l, &f, &err) == PT_OK, "%s", err.msg);
  ck_assert_str_eq(f.name, shapes[_i].name);
  ck_assert_int_eq(f.model_dim, shapes[_i].h);
  ck_assert_int_eq(f.inter_dim, shapes[_i].i);
  ck_assert_int_eq(f.experts, shapes[_i].e);
  ck_assert_int_eq(f.topk, shapes[_i].k);
  ck_assert_int_eq(f.act, shapes[_i].act);
  ck_assert_int_eq(f.ndtypes, shapes[_i].ndtypes);
  for (int d = 0; d < f.ndtypes; d++) ck_assert_int_eq(f.dtypes[d], d);
  ck_assert_ptr_null(f.tokens);
  free(path);
}
END_TEST

/* What was read, field by field, for the three spellings of the experts. */
START_TEST(fields_read) {
  static const struct {
    const char *file, *type, *width_key, *routed_key, *topk_key;
    int hidden, width, routed, topk, shared, gated, mxfp4;
    pt_act_t act;
  } want[] = {
      {"deepseek-v3.json", "deepseek_v3", "moe_intermediate_size", "n_routed_experts",
       "num_experts_per_tok", 7168, 2048, 256, 8, 1, 0, 0, SILU},
      {"gpt-oss-120b.json", "gpt_oss", "intermediate_size", "num_local_experts",
       "num_experts_per_tok", 2880, 2880, 128, 4, 0, 0, 1, OAI},
      {"qwen1.5-moe-a2.7b.json", "qwen2_moe", "moe_intermediate_size", "num_experts",
       "num_experts_per_tok", 2048, 1408, 60, 4, 0, 5632, 0, SILU},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char *path = config_path(want[i].file);
    pt_hfconfig_model_t m;
    pt_err_t err;
    ck_assert_msg(pt_hfconfig_load(path, &m, &err) == PT_OK, "%s", err.msg);
    ck_assert_str_eq(m.source, path);
    ck_assert_str_eq(m.model_type, want[i].type);
    ck_assert_str_eq(m.width_key, want[i].width_key);
    ck_assert_str_eq(m.routed_key, want[i].routed_key);
    ck_assert_str_eq(m.topk_key, want[i].topk_key);
    ck_assert_int_eq(m.hidden, want[i].hidden);
    ck_assert_int_eq(m.width, want[i].width);
    ck_assert_int_eq(m.routed, want[i].routed);
    ck_assert_int_eq(m.topk, want[i].topk);
    ck_assert_int_eq(m.shared, want[i].shared);
    ck_assert_int_eq(m.gated_shared, want[i].gated);
    ck_assert_int_eq(m.mxfp4, want[i].mxfp4);
    ck_assert_int_eq(m.act, want[i].act);
    free(path);
  }
}
END_TEST

START_TEST(describe_and_dtypes) {
  char *path = config_path("deepseek-v3.json");
  pt_hfconfig_model_t m;
  pt_hfconfig_layout_t l;
  pt_family_t f;
  pt_err_t err;
  char line[512];
  ck_assert_int_eq(pt_hfconfig_load(path, &m, &err), PT_OK);
  pt_hfconfig_layout_default(&l);
  l.tp = 8;
  ck_assert_int_eq(pt_hfconfig_family(&m, &l, &f, &err), PT_OK);
  pt_hfconfig_describe(&m, &l, &f, line, sizeof line);
  ck_assert_str_eq(line, "deepseek_v3-tp8: model_dim 7168 = hidden_size; inter_dim 256 = "
                         "moe_intermediate_size 2048 / tp 8; experts 257 = n_routed_experts "
                         "256 / ep 1 + 1 shared; topk 9 = num_experts_per_tok 8 + 1 shared; "
                         "act silu; dtypes a4w4");
  /* dtypes as given, in their order; a name as given */
  l.dtypes[0] = PT_DTYPE_A16W4;
  l.dtypes[1] = PT_DTYPE_A8W4;
  l.ndtypes = 2;
  l.shared = SEP;
  l.name = "dsv3.routed";
  ck_assert_int_eq(pt_hfconfig_family(&m, &l, &f, &err), PT_OK);
  ck_assert_str_eq(f.name, "dsv3.routed");
  ck_assert_int_eq(f.ndtypes, 2);
  ck_assert_int_eq(f.dtypes[0], PT_DTYPE_A16W4);
  ck_assert_int_eq(f.dtypes[1], PT_DTYPE_A8W4);
  pt_hfconfig_describe(&m, &l, &f, line, sizeof line);
  ck_assert_msg(strstr(line, "experts 256 = n_routed_experts 256 / ep 1 (1 shared expert "
                             "left out); topk 8 = num_experts_per_tok 8;") &&
                    strstr(line, "dtypes a16w4,a8w4"),
                "%s", line);
  /* the layout's own errors name the option */
  l.ndtypes = 0;
  l.name = NULL;
  l.tp = 0;
  ck_assert_int_eq(pt_hfconfig_family(&m, &l, &f, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "--tp must be at least 1 (got 0)");
  l.tp = 1;
  l.ep = -2;
  ck_assert_int_eq(pt_hfconfig_family(&m, &l, &f, &err), PT_EINVAL);
  ck_assert_str_eq(err.msg, "--ep must be at least 1 (got -2)");
  free(path);
}
END_TEST

/* ---- the built-in families, from their models' configs ---- */

/* The built-in family `name` alone with the built-in grid, as JSON. */
static char *builtin_grid_json(const char *name) {
  pt_family_set_t set, one;
  pt_err_t err;
  char *json = NULL;
  ck_assert_int_eq(pt_family_load_builtin(&set, &err), PT_OK);
  const pt_family_t *f = pt_family_find(&set, name);
  ck_assert_ptr_nonnull(f);
  one = set;
  one.families = (pt_family_t *)f;
  one.nfamilies = 1;
  ck_assert_int_eq(pt_family_to_json(&one, &json, &err), PT_OK);
  pt_family_set_free(&set);
  return json;
}

static void assert_same_shape(const pt_family_t *a, const pt_family_t *b) {
  ck_assert_int_eq(a->model_dim, b->model_dim);
  ck_assert_int_eq(a->inter_dim, b->inter_dim);
  ck_assert_int_eq(a->experts, b->experts);
  ck_assert_int_eq(a->topk, b->topk);
  ck_assert_int_eq(a->act, b->act);
  ck_assert_int_eq(a->ndtypes, b->ndtypes);
  ck_assert_mem_eq(a->dtypes, b->dtypes, (size_t)a->ndtypes * sizeof a->dtypes[0]);
  ck_assert_int_eq(a->ntokens, b->ntokens);
  ck_assert_mem_eq(a->tokens, b->tokens, (size_t)a->ntokens * sizeof a->tokens[0]);
}

/* space/families.json's dsv3-tp8, kimik2-tp8 and gptoss-120b from the
 * models' configs: byte for byte with --name, the same shape without. The
 * fourth, dsv4-tp8, has no public config here. */
START_TEST(reproduces_builtin) {
  static const struct {
    const char *file, *builtin, *derived;
    const char *opts[4];
  } cases[] = {
      {"deepseek-v3.json", "dsv3-tp8", "deepseek_v3-tp8", {"--tp", "8"}},
      {"kimi-k2.json", "kimik2-tp8", "kimi_k2-tp8-routed", {"--tp", "8", "--shared", "separate"}},
      {"gpt-oss-120b.json", "gptoss-120b", "gpt_oss-tp1", {"--tp", "1"}},
  };
  pt_family_set_t builtin;
  pt_err_t err;
  ck_assert_int_eq(pt_family_load_builtin(&builtin, &err), PT_OK);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *path = config_path(cases[i].file);
    const char *const *o = cases[i].opts;
    const char *o2 = o[2] ? o[2] : "--ep", *o3 = o[3] ? o[3] : "1";
    pt_test_out_t r = RUN("families", "--from-config", path, o[0], o[1], o2, o3, "--name",
                          cases[i].builtin);
    pt_test_expect(r, 0, NULL, NULL);
    ck_assert_str_eq(r.err, "");
    char *want = builtin_grid_json(cases[i].builtin);
    size_t n = strlen(want);
    ck_assert_msg(strncmp(r.out, want, n) == 0 && strcmp(r.out + n, "\n") == 0,
                  "got:\n%s\nwanted:\n%s", r.out, want);
    free(want);
    pt_test_out_free(&r);

    r = RUN("families", "--from-config", path, o[0], o[1], o2, o3);
    pt_test_expect(r, 0, NULL, NULL);
    pt_family_set_t got;
    ck_assert_msg(pt_family_parse(r.out, strlen(r.out), "stdout", &got, &err) == PT_OK,
                  "%s", err.msg);
    ck_assert_int_eq(got.nfamilies, 1);
    ck_assert_str_eq(got.families[0].name, cases[i].derived);
    assert_same_shape(&got.families[0], pt_family_find(&builtin, cases[i].builtin));
    pt_family_set_free(&got);
    pt_test_out_free(&r);
    free(path);
  }
  pt_family_set_free(&builtin);
}
END_TEST

/* ---- the grid file into families, verify and tune ---- */

START_TEST(grid_into_tune_and_verify) {
  char *dir = pt_test_tmpdir();
  char *cfg = config_path("qwen3-30b-a3b.json");
  char *grid = pt_test_join(dir, "grid.json");
  pt_test_out_t r = RUN("families", "--from-config", cfg, "--tp", "4", "-o", grid);
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_str_eq(r.err, "");
  char want[512];
  snprintf(want, sizeof want,
           "qwen3_moe-tp4: model_dim 2048 = hidden_size; inter_dim 192 = "
           "moe_intermediate_size 768 / tp 4; experts 128 = num_experts 128 / ep 1; "
           "topk 8 = num_experts_per_tok 8; act silu; dtypes a4w4\nwrote '%s'\n", grid);
  ck_assert_str_eq(r.out, want);
  pt_test_out_free(&r);

  /* families --grid and --file read it back as written */
  pt_family_set_t set;
  pt_err_t err;
  ck_assert_msg(pt_family_load_file(grid, &set, &err) == PT_OK, "%s", err.msg);
  ck_assert_int_eq(set.nfamilies, 1);
  ck_assert_str_eq(set.families[0].name, "qwen3_moe-tp4");
  ck_assert_int_eq(set.families[0].inter_dim, 192);
  pt_family_set_free(&set);
  r = RUN("families", "--grid", grid);
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_msg(strstr(r.out, "qwen3_moe-tp4       2048        192      128     8  a4w4"),
                "%s", r.out);
  pt_test_out_free(&r);

  /* verify finds the family in the grid, not in the built-in set; with the
   * GPUs hidden it stops at the device, after the input checks */
  setenv("CUDA_VISIBLE_DEVICES", "", 1);
  setenv("HIP_VISIBLE_DEVICES", "", 1);
  setenv("ROCR_VISIBLE_DEVICES", "", 1);
  r = RUN("verify", "--grid", grid, "--family", "qwen3_moe-tp4", "--dtype", "a4w4",
          "--tokens", "4");
  pt_test_expect(r, 1, NULL, NULL);
  ck_assert_msg(strncmp(r.err, "error: verify needs a GPU (", 27) == 0, "%s", r.err);
  pt_test_out_free(&r);
  char msg[PT_ERRMSG_MAX];
  snprintf(msg, sizeof msg, "unknown family 'dsv3-tp8' in '%s'", grid);
  r = RUN("verify", "--grid", grid, "--family", "dsv3-tp8", "--dtype", "a4w4", "--tokens", "4");
  pt_test_expect_bad_input(r, msg);
  pt_test_out_free(&r);
  snprintf(msg, sizeof msg, "option --grid: '%s/none.json': cannot open: No such file or "
           "directory", dir);
  char *none = pt_test_join(dir, "none.json");
  r = RUN("verify", "--grid", none, "--family", "qwen3_moe-tp4", "--dtype", "a4w4",
          "--tokens", "4");
  pt_test_expect_bad_input(r, msg);
  pt_test_out_free(&r);

  /* tune measures the family on the simulated worker backend */
  char *db = pt_test_join(dir, "t.db");
  setenv("PT_WORKER_BACKEND", "test", 1);
  r = RUN("tune", "--grid", grid, "--family", "qwen3_moe-tp4", "--stage", "gemm1",
          "--variants", "bm=16", "--tokens", "1,16", "--gpus", "0", "--min-ms", "1",
          "--db", db);
  unsetenv("PT_WORKER_BACKEND");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_msg(strstr(r.out, "results: 2 ok"), "%s", r.out);
  ck_assert_msg(strstr(r.err, "qwen3_moe-tp4 a4w4 gemm1 t=16"), "%s", r.err);
  pt_test_out_free(&r);

  /* an output file that cannot be written: exit 1, nothing left behind */
  char *bad = pt_test_join(dir, "no/such/dir/grid.json");
  r = RUN("families", "--from-config", cfg, "-o", bad);
  pt_test_expect(r, 1, NULL, NULL);
  ck_assert_int_ne(access(bad, F_OK), 0);
  pt_test_out_free(&r);
  free(bad);
  free(db);
  free(none);
  free(grid);
  free(cfg);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

/* ---- bad configs ---- */

/* A real config with one field changed: key "a.b" reaches into an object,
 * value is JSON, NULL deletes the field. */
static char *edited(const char *dir, const char *file, const char *key, const char *value) {
  char *path = config_path(file);
  char *text = pt_test_slurp(path, NULL);
  cJSON *root = cJSON_Parse(text);
  ck_assert_ptr_nonnull(root);
  cJSON *obj = root;
  char k[64];
  snprintf(k, sizeof k, "%s", key);
  char *dot = strchr(k, '.');
  if (dot != NULL) {
    *dot = '\0';
    obj = cJSON_GetObjectItemCaseSensitive(root, k);
    ck_assert_ptr_nonnull(obj);
  }
  const char *leaf = dot != NULL ? dot + 1 : k;
  cJSON_DeleteItemFromObjectCaseSensitive(obj, leaf);
  if (value != NULL) {
    cJSON *v = cJSON_Parse(value);
    ck_assert_ptr_nonnull(v);
    cJSON_AddItemToObject(obj, leaf, v);
  }
  char *out = cJSON_Print(root);
  char *written = pt_test_write(dir, "config.json", out);
  cJSON_free(out);
  cJSON_Delete(root);
  free(text);
  free(path);
  return written;
}

static const char *const KNOWN = "deepseek_v2, deepseek_v3, kimi_k2, glm4_moe, qwen2_moe, "
                                 "qwen3_moe, mixtral, gpt_oss";

/* Each edited config through the binary, with -o: exit 2, one line naming
 * the file and the field, and no grid file. */
START_TEST(bad_configs) {
  static const struct {
    const char *file, *key, *value, *msg;
  } bad[] = {
      {"deepseek-v3.json", "hidden_size", NULL, "missing field 'hidden_size'"},
      {"deepseek-v3.json", "moe_intermediate_size", NULL,
       "missing field 'moe_intermediate_size'"},
      {"deepseek-v3.json", "num_experts_per_tok", NULL, "missing field 'num_experts_per_tok'"},
      {"deepseek-v3.json", "model_type", NULL, "missing field 'model_type'"},
      {"deepseek-v3.json", "hidden_act", NULL, "missing field 'hidden_act'"},
      {"gpt-oss-120b.json", "intermediate_size", NULL, "missing field 'intermediate_size'"},
      {"deepseek-v3.json", "hidden_size", "\"7168\"",
       "field 'hidden_size' must be an integer (got a string)"},
      {"deepseek-v3.json", "moe_intermediate_size", "2048.5",
       "field 'moe_intermediate_size' must be an integer (got 2048.5)"},
      {"deepseek-v3.json", "n_routed_experts", "[256]",
       "field 'n_routed_experts' must be an integer (got an array)"},
      {"deepseek-v3.json", "n_shared_experts", "true",
       "field 'n_shared_experts' must be an integer (got a boolean)"},
      {"deepseek-v3.json", "model_type", "3", "field 'model_type' must be a string (got a number)"},
      {"deepseek-v3.json", "hidden_size", "1000",
       "field 'hidden_size': field 'model_dim' must be a multiple of 64 (got 1000)"},
      {"deepseek-v3.json", "hidden_size", "0", "field 'hidden_size' must be positive (got 0)"},
      {"deepseek-v3.json", "num_experts_per_tok", "0",
       "field 'num_experts_per_tok' must be positive (got 0)"},
      {"deepseek-v3.json", "n_shared_experts", "-1",
       "field 'n_shared_experts' must not be negative (got -1)"},
      {"deepseek-v3.json", "n_routed_experts", "0",
       "not a MoE model: field 'n_routed_experts' is 0"},
      {"deepseek-v3.json", "num_experts", "128",
       "fields 'num_experts' (128) and 'n_routed_experts' (256) disagree"},
      {"gpt-oss-120b.json", "experts_per_token", "2",
       "fields 'num_experts_per_tok' (4) and 'experts_per_token' (2) disagree"},
      {"deepseek-v3.json", "hidden_act", "\"gelu\"",
       "field 'hidden_act' has unsupported activation 'gelu' (the kernels gate with silu)"},
      {"gpt-oss-120b.json", "swiglu_limit", "10.0",
       "field 'swiglu_limit' must be 7, the swiglu_oai kernels' value (got 10)"},
      {"gpt-oss-120b.json", "swiglu_alpha", "1.5",
       "field 'swiglu_alpha' must be 1.702, the swiglu_oai kernels' value (got 1.5)"},
      {"deepseek-v3.json", "swiglu_limit", "7",
       "field 'swiglu_limit' is given, but model type 'deepseek_v3' has no clamped swiglu"},
      {"deepseek-v3.json", "quantization_config", "\"fp8\"",
       "field 'quantization_config' must be an object (got a string)"},
      {"gpt-oss-120b.json", "quantization_config.quant_method", "4",
       "field 'quantization_config.quant_method' must be a string (got a number)"},
      {"mixtral-8x7b.json", "model_type", "\"llama4_text\"",
       "field 'model_type' has unknown model type 'llama4_text' (known: %s)"},
  };
  char *dir = pt_test_tmpdir();
  char *grid = pt_test_join(dir, "grid.json");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *path = edited(dir, bad[i].file, bad[i].key, bad[i].value);
    char what[512], msg[PT_ERRMSG_MAX];
    snprintf(what, sizeof what, bad[i].msg, KNOWN);
    snprintf(msg, sizeof msg, "'%s': %s", path, what);
    pt_test_out_t r = RUN("families", "--from-config", path, "--tp", "8", "-o", grid);
    pt_test_expect_bad_input(r, msg);
    ck_assert_int_ne(access(grid, F_OK), 0);
    pt_test_out_free(&r);
    free(path);
  }
  free(grid);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

/* Real configs under layouts that do not fit, and files that are no
 * config: exit 2 naming the file and the field. */
START_TEST(bad_layouts) {
  static const struct {
    const char *file, *opt, *val, *msg;
  } bad[] = {
      {"mixtral-8x7b.json", "--tp", "3",
       "field 'intermediate_size' (14336) does not split over --tp 3"},
      {"qwen3-235b-a22b.json", "--ep", "3",
       "field 'num_experts' (128) does not split over --ep 3"},
      {"deepseek-v2-lite.json", "--ep", "3",
       "field 'n_routed_experts' (64) does not split over --ep 3"},
      {"qwen3-30b-a3b.json", "--tp", "8",
       "field 'moe_intermediate_size' 768 / --tp 8: field 'inter_dim' must be a multiple of 64 "
       "(got 96)"},
      {"gpt-oss-120b.json", "--tp", "2",
       "field 'intermediate_size' 2880 / --tp 2: field 'inter_dim' must be a multiple of 64 "
       "(got 1440)"},
      {"deepseek-v2-lite.json", "--tp", "4",
       "field 'moe_intermediate_size' 1408 / --tp 4: field 'inter_dim' must be a multiple of "
       "64 (got 352)"},
      {"mixtral-8x7b.json", "--ep", "8",
       "field 'num_experts_per_tok' with --ep 8: field 'topk' must not exceed 'experts' (got "
       "topk 2 with 1 experts)"},
      {"qwen1.5-moe-a2.7b.json", "--tp", "1",
       "field 'shared_expert_intermediate_size' is a gated shared expert, which cannot join "
       "the routed ones (--shared separate leaves it out)"},
      {"qwen3-8b.json", "--tp", "1",
       "not a MoE model: no field 'num_experts', 'num_local_experts' or 'n_routed_experts'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *path = config_path(bad[i].file);
    char msg[PT_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "'%s': %s", path, bad[i].msg);
    pt_test_out_t r = RUN("families", "--from-config", path, bad[i].opt, bad[i].val);
    pt_test_expect_bad_input(r, msg);
    pt_test_out_free(&r);
    free(path);
  }
  /* not a config at all: the JSON reader's messages */
  char *dir = pt_test_tmpdir();
  static const struct {
    const char *text, *msg;
  } files[] = {
      {"[1, 2]", "must hold a JSON object (got an array)"},
      {"{\"hidden_size\": 7168,\n \"model_type\": \"deep",
       "truncated JSON: unexpected end of input at line 2, column 21"},
      {"", "is empty (expected a JSON object)"},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char *path = pt_test_write(dir, "config.json", files[i].text);
    char msg[PT_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "'%s': %s", path, files[i].msg);
    pt_test_out_t r = RUN("families", "--from-config", path);
    pt_test_expect_bad_input(r, msg);
    pt_test_out_free(&r);
    free(path);
  }
  char *none = pt_test_join(dir, "none.json");
  char msg[PT_ERRMSG_MAX];
  snprintf(msg, sizeof msg, "'%s': cannot open: No such file or directory", none);
  pt_test_out_t r = RUN("families", "--from-config", none);
  pt_test_expect_bad_input(r, msg);
  pt_test_out_free(&r);
  free(none);
  pt_test_rmdir(dir);
  free(dir);
}
END_TEST

START_TEST(bad_options) {
  char *cfg = config_path("deepseek-v3.json");
  static const struct {
    const char *args[6];
    const char *msg;
  } bad[] = {
      {{"--tp", "0"}, "--tp must be at least 1 (got 0)"},
      {{"--ep", "-8"}, "--ep must be at least 1 (got -8)"},
      {{"--shared", "both"}, "unknown --shared mode 'both' (expected fused or separate)"},
      {{"--dtype", "fp4"}, "unknown dtype 'fp4' (expected a4w4, a8w4 or a16w4)"},
      {{"--dtype", "a4w4", "--dtype", "a4w4"}, "--dtype 'a4w4' given twice"},
      {{"--name", "DSV3"},
       "--name: field 'name' must match [a-z0-9][a-z0-9._-]* (got 'DSV3')"},
      {{"--grid", "x.json"}, "--from-config and --grid cannot be combined"},
      {{"-o", "x.json", "--format", "json"}, "option -o writes JSON: leave out --format"},
      {{"--format", "yaml"}, "unknown format 'yaml' (expected table or json)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *const *a = bad[i].args;
    const char *argv[12] = {"families", "--from-config", cfg};
    int n = 3;
    for (int j = 0; j < 6 && a[j] != NULL; j++) argv[n++] = a[j];
    pt_test_out_t r = pt_test_pipetune(argv);
    pt_test_expect_bad_input(r, bad[i].msg);
    pt_test_out_free(&r);
  }
  pt_test_out_t r = RUN("families", "--tp", "8");
  pt_test_expect_bad_input(r, "option --tp needs --from-config");
  pt_test_out_free(&r);
  r = RUN("families", "-o", "grid.json");
  pt_test_expect_bad_input(r, "option -o needs --from-config");
  pt_test_out_free(&r);
  r = RUN("families", "--from-config", cfg, "--format", "table", "--tp", "8");
  pt_test_expect(r, 0, NULL, NULL);
  ck_assert_msg(strstr(r.out, "deepseek_v3-tp8       7168        256      257     9  a4w4"),
                "%s", r.out);
  pt_test_out_free(&r);
  free(cfg);
}
END_TEST

static Suite *hfconfig_suite(void) {
  Suite *s = suite_create("hfconfig");
  TCase *lib = tcase_create("library");
  tcase_set_timeout(lib, 60);
  tcase_add_loop_test(lib, per_gpu_shape, 0, (int)(sizeof shapes / sizeof shapes[0]));
  tcase_add_test(lib, fields_read);
  tcase_add_test(lib, describe_and_dtypes);
  suite_add_tcase(s, lib);
  TCase *cli = tcase_create("cli");
  tcase_set_timeout(cli, 180);
  tcase_add_test(cli, reproduces_builtin);
  tcase_add_test(cli, grid_into_tune_and_verify);
  tcase_add_test(cli, bad_configs);
  tcase_add_test(cli, bad_layouts);
  tcase_add_test(cli, bad_options);
  suite_add_tcase(s, cli);
  return s;
}

int main(void) {
  return pt_test_run_suite(hfconfig_suite());
}
