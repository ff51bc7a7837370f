/* pipetune plan check: compares a database (a shard's, or the merge of all
 * shards) with the plan that tune's options name, and says which planned
 * items have no result, which have more than one, and which shard i/N each
 * missing item belongs to, so that the shard can be run again with
 * --resume. The plan comes from tune's own options (tuneopts.h) and
 * plan.c; an item is present when the database holds a result for its
 * problem, variant and regime on a device of the arch checked, whatever its
 * status: that is what `tune --resume` skips. A search in rounds (adaptive,
 * or --max-evals: searchrun.h) is checked by its first round, sharded by
 * search, and by whether the database records it finished. Exit 0 when
 * nothing is missing, 1 when items are missing or a search is unfinished,
 * 2 on bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "db.h"
#include "knobs.h"
#include "opts.h"
#include "plan.h"
#include "routing.h"
#include "searches.h"
#include "searchrun.h"
#include "tuneopts.h"

#define ARCHS_MAX 64
#define SHARDS_MAX 100000

/* One result of the database: its item's key and where it was measured. */
typedef struct row_s {
  char *key;
  int arch;  /* index into check_t.archs */
  pt_db_status_t status;
} row_t;

typedef struct tally_s {
  size_t planned, once, more, missing;
  size_t unfinished;            /* searches in rounds not recorded finished */
} tally_t;

typedef struct listed_s {
  int shard;
  size_t results;  /* 0: missing */
  char *what;
} listed_t;

typedef struct check_s {
  row_t *rows;
  size_t nrows, cap;
  char *archs[ARCHS_MAX];
  int narchs;
  int arch;                     /* the arch checked; -1: none in the database */
  int seen[ARCHS_MAX];          /* planned items with a result per arch */
  int nshards, only;            /* only: the one shard checked, or -1 */
  tally_t *shards, total;
  size_t by_status[PT_DB_STATUS_COUNT], matched;
  listed_t *listed;
  size_t nlisted, max_listed;
  int by_search, req_stage;     /* a search in rounds: shards by search */
  char **finished;              /* the database's finished searches, sorted keys */
  size_t nfinished, capfinished;
} check_t;

static char *item_key(const pt_db_problem_t *p, const char *stage, const char *spec,
                      pt_db_regime_t regime) {
  char *s = NULL;
  if (asprintf(&s, "%s|%d|%d|%d|%d|%s|%s|%d|%s|%.17g|%lld|%s|%s|%s", p->family,
               p->model_dim, p->inter_dim, p->experts, p->topk, p->dtype, p->act, p->tokens,
               p->routing, p->routing_param, (long long)p->seed, stage, spec,
               pt_db_regime_name(regime)) < 0)
    return NULL;
  return s;
}

static int arch_index(check_t *c, const char *arch) {
  for (int i = 0; i < c->narchs; i++)
    if (strcmp(c->archs[i], arch) == 0) return i;
  if (c->narchs == ARCHS_MAX || (c->archs[c->narchs] = strdup(arch)) == NULL) return -1;
  return c->narchs++;
}

static int add_row(void *ud, const pt_db_result_key_t *r) {
  check_t *c = ud;
  if (c->nrows == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 256;
    row_t *v = realloc(c->rows, cap * sizeof *v);
    if (v == NULL) return PT_ENOMEM;
    c->rows = v;
    c->cap = cap;
  }
  row_t *row = &c->rows[c->nrows];
  row->arch = arch_index(c, r->arch);
  row->status = r->status;
  row->key = item_key(&r->problem, r->stage, r->spec, r->regime);
  if (row->arch < 0 || row->key == NULL) {
    free(row->key);
    return PT_ENOMEM;
  }
  c->nrows++;
  return 0;
}

static int cmp_row(const void *a, const void *b) {
  return strcmp(((const row_t *)a)->key, ((const row_t *)b)->key);
}

static void check_free(check_t *c) {
  for (size_t i = 0; i < c->nrows; i++) free(c->rows[i].key);
  for (int i = 0; i < c->narchs; i++) free(c->archs[i]);
  for (size_t i = 0; i < c->nlisted; i++) free(c->listed[i].what);
  for (size_t i = 0; i < c->nfinished; i++) free(c->finished[i]);
  free(c->rows);
  free(c->shards);
  free(c->listed);
  free(c->finished);
}

/* The rows of key: rows[*lo .. *hi). */
static void find_rows(const check_t *c, const char *key, size_t *lo, size_t *hi) {
  size_t a = 0, b = c->nrows;
  while (a < b) {
    size_t m = a + (b - a) / 2;
    if (strcmp(c->rows[m].key, key) < 0) a = m + 1;
    else b = m;
  }
  *lo = *hi = a;
  while (*hi < c->nrows && strcmp(c->rows[*hi].key, key) == 0) (*hi)++;
}

static int list_item(check_t *c, int shard, size_t results, const pt_plan_t *plan,
                     const pt_plan_item_t *it, const char *spec) {
  if (c->nlisted == c->max_listed) return PT_OK;
  const pt_plan_problem_t *pr = &plan->problems[it->problem];
  listed_t *l = &c->listed[c->nlisted];
  if (asprintf(&l->what, "%s %s %s t=%d %s", pr->family->name, pt_dtype_name(pr->shape.dtype),
               pt_stage_name(it->variant.stage), pr->tokens, spec) < 0)
    return PT_ENOMEM;
  l->shard = shard;
  l->results = results;
  c->nlisted++;
  return PT_OK;
}

/* One planned item against the rows: discover marks the archs it was
 * measured on; otherwise it is tallied for the arch checked. */
static int visit(check_t *c, int discover, const pt_plan_t *plan, size_t k,
                 const pt_routing_t *routing, const pt_tuneopts_t *a) {
  const pt_plan_item_t *it = &plan->items[k];
  int shard = c->by_search ? pt_plan_shard_of((size_t)pt_searchrun_index(
                                                  it->problem, it->variant.stage, c->req_stage),
                                              c->nshards)
                           : pt_plan_shard_of(k, c->nshards);
  if (c->only >= 0 && shard != c->only) return PT_OK;
  char spec[PT_KNOBS_SPEC_MAX];
  pt_db_problem_t dp;
  pt_knobs_format(&it->variant, spec, sizeof spec);
  pt_plan_db_problem(plan, it->problem, routing, (uint64_t)a->seed, &dp);
  char *key = item_key(&dp, pt_stage_name(it->variant.stage), spec,
                       a->warm ? PT_DB_REGIME_WARM : PT_DB_REGIME_COLD);
  if (key == NULL) return PT_ENOMEM;
  size_t lo, hi, n = 0;
  find_rows(c, key, &lo, &hi);
  free(key);
  int mark[ARCHS_MAX] = {0};
  for (size_t i = lo; i < hi; i++) {
    if (discover && !mark[c->rows[i].arch]++) c->seen[c->rows[i].arch]++;
    if (discover || c->rows[i].arch != c->arch) continue;
    n++;
    c->by_status[c->rows[i].status]++;
  }
  if (discover) return PT_OK;
  c->matched += n;
  tally_t *t = &c->shards[shard];
  t->planned++;
  if (n == 0) t->missing++;
  else if (n == 1) t->once++;
  else t->more++;
  return n == 1 ? PT_OK : list_item(c, shard, n, plan, it, spec);
}

static int walk(check_t *c, int discover, const pt_plan_t *plan, const pt_tuneopts_t *a,
                pt_err_t *err) {
  pt_routing_t routing;
  int rc = pt_routing_parse(a->routing != NULL ? a->routing : "uniform", &routing, err);
  for (size_t k = 0; rc == PT_OK && k < plan->nitems; k++)
    if (visit(c, discover, plan, k, &routing, a) != PT_OK)
      rc = pt_err_set(err, PT_ENOMEM, "out of memory for the plan's items");
  return rc;
}

/* ---- searches in rounds ---- */

/* A search by its point, strategy and budget: one under other settings is
 * another search. */
static char *search_key(const pt_db_problem_t *p, const char *stage, const char *regime,
                        const char *strategy, int max_evals) {
  char *s = NULL;
  if (asprintf(&s, "%s|%d|%d|%d|%d|%s|%s|%d|%s|%.17g|%s|%s|%s|%d", p->family, p->model_dim,
               p->inter_dim, p->experts, p->topk, p->dtype, p->act, p->tokens, p->routing,
               p->routing_param, stage, regime, strategy, max_evals) < 0)
    return NULL;
  return s;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_finished(void *ud, const pt_db_search_row_t *r) {
  check_t *c = ud;
  if (r->finished != 1) return 0;
  if (c->nfinished == c->capfinished) {
    size_t cap = c->capfinished ? c->capfinished * 2 : 64;
    char **p = realloc(c->finished, cap * sizeof *p);
    if (p == NULL) return PT_ENOMEM;
    c->finished = p;
    c->capfinished = cap;
  }
  pt_db_problem_t p = {r->family, r->model_dim, r->inter_dim, r->experts, r->topk, r->dtype,
                       r->act, r->tokens, r->routing, r->routing_param, 0};
  char *key = search_key(&p, r->stage, r->regime, r->strategy, r->max_evals);
  if (key == NULL) return PT_ENOMEM;
  c->finished[c->nfinished++] = key;
  return 0;
}

/* The searches the database records finished on the arch checked. */
static int load_finished(check_t *c, const char *path, pt_err_t *err) {
  pt_db_t *db = NULL;
  if (c->arch < 0) return PT_OK;
  int rc = pt_db_open(path, PT_DB_READONLY, &db, err);
  if (rc != PT_OK) return rc;
  pt_db_filter_t f = {.arch = c->archs[c->arch]};
  rc = pt_db_searches(db, &f, add_finished, c);
  if (rc != PT_OK) pt_err_set(err, rc, "%s", rc == PT_ENOMEM ? "out of memory" : pt_db_errmsg(db));
  pt_db_close(db);
  qsort(c->finished, c->nfinished, sizeof *c->finished, cmp_str);
  return rc;
}

/* Counts, per shard, the plan's searches not recorded finished. */
static int check_searches(check_t *c, const pt_plan_t *plan, const pt_tuneopts_t *a,
                          pt_search_kind_t kind, pt_err_t *err) {
  pt_routing_t routing;
  int rc = pt_routing_parse(a->routing != NULL ? a->routing : "uniform", &routing, err);
  if (rc == PT_OK) rc = load_finished(c, a->db, err);
  for (int p = 0; rc == PT_OK && p < plan->nproblems; p++)
    for (int st = 0; rc == PT_OK && st < PT_STAGE_COUNT; st++) {
      if (c->req_stage >= 0 && st != c->req_stage) continue;
      int shard = pt_plan_shard_of((size_t)pt_searchrun_index(p, (pt_stage_t)st, c->req_stage),
                                   c->nshards);
      if (c->only >= 0 && shard != c->only) continue;
      pt_db_problem_t dp;
      pt_plan_db_problem(plan, p, &routing, (uint64_t)a->seed, &dp);
      char *key = search_key(&dp, pt_stage_name((pt_stage_t)st), a->warm ? "warm" : "cold",
                             pt_search_kind_name(kind), a->max_evals);
      if (key == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory");
      if (bsearch(&key, c->finished, c->nfinished, sizeof key, cmp_str) == NULL)
        c->shards[shard].unfinished++;
      free(key);
    }
  return rc;
}

/* The first round of the search the options name, as the plan checked. */
static int first_round(const pt_plan_req_t *req, const pt_tuneopts_t *a, pt_search_kind_t kind,
                       pt_plan_t *plan, pt_err_t *err) {
  pt_plan_t first;
  pt_searchrun_opts_t so = {.plan = plan, .kind = kind, .specs = req->variants,
                            .nspecs = req->nvariants, .stage = req->stage,
                            .max_evals = a->max_evals, .seed = (uint64_t)a->seed};
  int rc = pt_searchrun_first(&so, &first, err);
  if (rc != PT_OK) return rc;
  pt_plan_free(plan);
  *plan = first;
  return PT_OK;
}

/* The arch checked: --arch, else the one arch the plan's items were
 * measured on, else the database's one arch (-1: none). */
static int pick_arch(check_t *c, const char *arch, const char *db, pt_err_t *err) {
  c->arch = -1;
  for (int i = 0; i < c->narchs; i++) {
    if (arch != NULL ? strcmp(c->archs[i], arch) != 0 : c->seen[i] == 0) continue;
    if (c->arch >= 0)
      return pt_err_set(err, PT_EINVAL, "'%s' holds results of this plan on %s and %s; "
                        "pass --arch", db, c->archs[c->arch], c->archs[i]);
    c->arch = i;
  }
  if (c->arch < 0 && arch == NULL && c->narchs == 1) c->arch = 0;
  return PT_OK;
}

static void print_status_counts(const check_t *c) {
  if (c->matched == 0) return;
  printf("results:");
  for (int i = 0; i < PT_DB_STATUS_COUNT; i++)
    if (c->by_status[i] > 0)
      printf(" %zu %s", c->by_status[i], pt_db_status_name((pt_db_status_t)i));
  printf("\n");
}

/* The listed items of shard s that have results (more) or none (!more). */
static size_t print_listed(const check_t *c, int s, int more) {
  size_t n = 0;
  for (size_t i = 0; i < c->nlisted; i++) {
    const listed_t *l = &c->listed[i];
    if (l->shard != s || (l->results > 0) != more) continue;
    if (more) printf("  %s: %zu results\n", l->what, l->results);
    else printf("  %s\n", l->what);
    n++;
  }
  return n;
}

static void print_report(const check_t *c, const pt_plan_t *plan, const char *arch,
                         const char *db) {
  const tally_t *t = &c->total;
  if (c->only >= 0)
    printf("plan: shard %d/%d, %zu of %zu items", c->only, c->nshards, t->planned,
           plan->ntotal);
  else
    printf("plan: %zu items in %d problems", plan->ntotal, plan->nproblems);
  if (c->only < 0 && c->nshards > 1) printf(", %d shards", c->nshards);
  printf("\n");
  const char *on = c->arch >= 0 ? c->archs[c->arch] : arch != NULL ? arch : "any arch";
  printf("'%s' on %s: %zu of %zu planned items present, %zu exactly once, %zu more than "
         "once, %zu missing", db, on, t->once + t->more, t->planned, t->once, t->more,
         t->missing);
  if (c->nrows > c->matched) printf(" (%zu other results in it)", c->nrows - c->matched);
  printf("\n");
  print_status_counts(c);
  for (int s = 0; s < c->nshards; s++) {
    const tally_t *st = &c->shards[s];
    if (st->missing == 0) continue;
    if (c->nshards > 1)
      printf("missing in shard %d/%d: %zu of %zu items\n", s, c->nshards, st->missing,
             st->planned);
    else
      printf("missing: %zu of %zu items\n", st->missing, st->planned);
    size_t shown = print_listed(c, s, 0);
    if (shown < st->missing) printf("  ... and %zu more\n", st->missing - shown);
  }
  if (t->more > 0) {
    printf("more than once: %zu items\n", t->more);
    size_t shown = 0;
    for (int s = 0; s < c->nshards; s++) shown += print_listed(c, s, 1);
    if (shown < t->more) printf("  ... and %zu more\n", t->more - shown);
  }
  for (int s = 0; c->by_search && s < c->nshards; s++) {
    if (c->shards[s].unfinished == 0) continue;
    if (c->nshards > 1) printf("searches not finished in shard %d/%d: %zu\n", s, c->nshards,
                               c->shards[s].unfinished);
    else printf("searches not finished: %zu\n", c->shards[s].unfinished);
  }
  if (t->missing == 0 && t->unfinished == 0) printf("complete\n");
  if ((t->missing == 0 && t->unfinished == 0) || c->nshards == 1) return;
  printf("incomplete shards:");
  for (int s = 0; s < c->nshards; s++)
    if (c->shards[s].missing > 0 || c->shards[s].unfinished > 0) printf(" %d", s);
  printf("\n");
}

/* Reads the database into c->rows, sorted by key. */
static int load_rows(check_t *c, const char *path, pt_err_t *err) {
  pt_db_t *db = NULL;
  int rc = pt_db_open(path, PT_DB_READONLY, &db, err);
  if (rc != PT_OK) return rc;
  rc = pt_db_result_keys(db, add_row, c);
  if (rc == PT_ENOMEM) pt_err_set(err, rc, "out of memory for the results of '%s'", path);
  else if (rc != PT_OK) pt_err_set(err, rc, "%s", pt_db_errmsg(db));
  pt_db_close(db);
  qsort(c->rows, c->nrows, sizeof *c->rows, cmp_row);
  return rc;
}

/* The shards from --shard i/N (one of them) and --shards N (all of them). */
static int pick_shards(check_t *c, const pt_plan_req_t *req, const char *shard,
                       const char *shards, pt_err_t *err) {
  long n = 1;
  if (shards != NULL) {
    char *end = NULL;
    n = strtol(shards, &end, 10);
    if (end == shards || *end != '\0' || n < 1 || n > SHARDS_MAX)
      return pt_err_set(err, PT_EINVAL, "option --shards: '%s' is not a count in [1, %d]",
                        shards, SHARDS_MAX);
    if (shard != NULL && n != req->nshards)
      return pt_err_set(err, PT_EINVAL, "option --shards: %ld differs from --shard %s", n,
                        shard);
  }
  c->nshards = shard != NULL ? req->nshards : (int)n;
  c->only = shard != NULL ? req->shard : -1;
  c->shards = calloc((size_t)c->nshards, sizeof *c->shards);
  if (c->shards == NULL) return pt_err_set(err, PT_ENOMEM, "out of memory for the shards");
  return PT_OK;
}

static int check_plan(check_t *c, const pt_tuneopts_t *a, const char *shards,
                      pt_plan_t *plan, pt_err_t *err) {
  pt_family_set_t set = {0};
  pt_plan_req_t req;
  int *tokens = NULL;
  double budget;
  /* --arch names the results' arch here, not a compile target: any arch
   * spelling goes, whatever this build can compile for. */
  pt_tuneopts_t t = *a;
  t.arch = NULL;
  pt_search_kind_t kind = PT_SEARCH_ADAPTIVE;
  int rc = pt_tuneopts_request(&t, &set, &req, &tokens, &budget, err);
  if (rc == PT_OK) rc = pt_tuneopts_search(&t, &kind, &c->by_search, err);
  c->req_stage = req.stage;
  if (rc == PT_OK && a->arch != NULL && a->arch[0] == '\0')
    rc = pt_err_set(err, PT_EINVAL, "option --arch: empty arch");
  if (rc == PT_OK) rc = pick_shards(c, &req, a->shard, shards, err);
  req.shard = 0;
  req.nshards = 1;
  if (rc == PT_OK) rc = pt_plan_build(&set, &req, plan, err);
  if (rc == PT_OK && c->by_search) rc = first_round(&req, a, kind, plan, err);
  if (rc == PT_OK) {
    c->max_listed = c->max_listed > 0 ? c->max_listed : plan->ntotal;
    c->listed = calloc(c->max_listed, sizeof *c->listed);
    if (c->listed == NULL) rc = pt_err_set(err, PT_ENOMEM, "out of memory for the listing");
  }
  if (rc == PT_OK) rc = load_rows(c, a->db, err);
  if (rc == PT_OK && a->arch == NULL) rc = walk(c, 1, plan, a, err);
  if (rc == PT_OK) rc = pick_arch(c, a->arch, a->db, err);
  if (rc == PT_OK) rc = walk(c, 0, plan, a, err);
  if (rc == PT_OK && c->by_search) rc = check_searches(c, plan, a, kind, err);
  for (int s = 0; rc == PT_OK && s < c->nshards; s++) {
    c->total.unfinished += c->shards[s].unfinished;
    c->total.planned += c->shards[s].planned;
    c->total.once += c->shards[s].once;
    c->total.more += c->shards[s].more;
    c->total.missing += c->shards[s].missing;
  }
  if (rc == PT_OK) print_report(c, plan, a->arch, a->db);
  free(tokens);
  pt_family_set_free(&set);
  return rc;
}

static int plan_check(int argc, const char **argv) {
  static const char usage[] =
      "pipetune plan check [tune's options] --db FILE [--shards N] [--max-items N]\n"
      "  checks FILE against the plan 'pipetune tune' runs with the same options;\n"
      "  --arch names the arch whose results count (default: the database's)";
  pt_tuneopts_t a;
  const char *shards = NULL;
  int max_items = 20;
  pt_tuneopts_init(&a);
  pt_opt_t opts[PT_TUNEOPTS_COUNT + 3] = {PT_OPT_END()};
  pt_tuneopts_table(&a, opts);
  opts[PT_TUNEOPTS_COUNT] = (pt_opt_t)PT_OPT_STRING(
      0, "shards", &shards, "N", "the plan ran as N shards: name each missing item's");
  opts[PT_TUNEOPTS_COUNT + 1] = (pt_opt_t)PT_OPT_INT(
      0, "max-items", &max_items, "N", "list at most N items (default 20; 0: all)");
  int nargs = pt_opts_parse(argc, argv, opts, usage);
  int status;
  if (nargs < 0) status = pt_opts_status(nargs);
  else if (nargs > 0) status = pt_cli_error("unexpected argument '%s'", argv[0]);
  else if (a.db == NULL) status = pt_cli_error("option --db FILE is required");
  else if (max_items < 0) status = pt_cli_error("option --max-items: %d is negative", max_items);
  else {
    check_t c = {.max_listed = (size_t)max_items};
    pt_plan_t plan = {0};
    pt_err_t err;
    pt_err_clear(&err);
    int rc = check_plan(&c, &a, shards, &plan, &err);
    if (rc != PT_OK) {
      pt_cli_error("%s", err.msg);
      status = rc == PT_ENOENT ? 2 : pt_exit_status(rc);
    } else {
      status = c.total.missing > 0 || c.total.unfinished > 0 ? 1 : 0;
    }
    check_free(&c);
    pt_plan_free(&plan);
  }
  pt_tuneopts_free(&a);
  return status;
}

static const pt_cli_verb_t verbs[] = {
    {"check", plan_check, "compare a database with the plan: what is missing, per shard"},
};

#define NVERBS (sizeof verbs / sizeof verbs[0])

static void usage(FILE *f) {
  fprintf(f, "usage: pipetune plan check [tune's options] --db FILE [--shards N] "
             "[--max-items N]\n\nverbs:\n");
  for (size_t i = 0; i < NVERBS; i++) fprintf(f, "   %-8s %s\n", verbs[i].name, verbs[i].help);
  fprintf(f, "\n'pipetune plan check --help' lists its options\n");
}

int cmd_plan(int argc, const char **argv) {
  return pt_cli_verbs(argc, argv, "plan", verbs, NVERBS, usage);
}
