/* pipetune db: create, check and merge result databases (DESIGN 9, 10).
 * Nested verbs dispatch through a table, as git's builtins do. A bad input
 * (a file that is not a pipetune database, a newer schema, a missing file)
 * exits 2 and leaves every existing file as it was. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "db.h"
#include "opts.h"

/* A database named on the command line that does not exist is bad input. */
static int fail(int code, const char *msg) {
  fprintf(stderr, "error: %s\n", msg);
  return code == PT_ENOENT ? 2 : pt_exit_status(code);
}

/* Parses "pipetune db VERB FILE" and opens FILE in mode. Returns -1 with
 * *db set, or the exit status to return. */
static int open_one(int argc, const char **argv, const char *usage,
                    pt_db_mode_t mode, pt_db_t **db) {
  const pt_opt_t opts[] = {PT_OPT_END()};
  *db = NULL;
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0) return pt_opts_status(argc);
  if (argc != 1) return pt_cli_error("expected one FILE; usage: %s", usage);
  pt_err_t err;
  int rc = pt_db_open(argv[0], mode, db, &err);
  return rc == PT_OK ? -1 : fail(rc, err.msg);
}

static int db_init(int argc, const char **argv) {
  pt_db_t *db;
  int status = open_one(argc, argv, "pipetune db init FILE", PT_DB_CREATE, &db);
  if (status >= 0) return status;
  printf("'%s': pipetune database, schema version %d\n", pt_db_path(db),
         pt_db_schema_version());
  pt_db_close(db);
  return 0;
}

static int db_check(int argc, const char **argv) {
  pt_db_t *db;
  int status = open_one(argc, argv, "pipetune db check FILE", PT_DB_READONLY, &db);
  if (status >= 0) return status;
  pt_db_stats_t s;
  int rc = pt_db_check(db);
  if (rc == PT_OK) rc = pt_db_stats(db, &s);
  if (rc != PT_OK) {
    rc = fail(rc, pt_db_errmsg(db));
    pt_db_close(db);
    return rc;
  }
  printf("'%s': ok, schema version %d, %" PRId64 " runs, %" PRId64
         " devices, %" PRId64 " variants, %" PRId64 " problems, %" PRId64
         " measurements, %" PRId64 " jobs\n", pt_db_path(db), s.schema_version,
         s.runs, s.devices, s.variants, s.problems, s.measurements, s.jobs);
  pt_db_close(db);
  return 0;
}

/* Opens every input read-only first, so that a bad one is refused before
 * the output is created or touched. */
static int check_inputs(int n, const char **paths) {
  for (int i = 0; i < n; i++) {
    pt_err_t err;
    pt_db_t *db = NULL;
    int rc = pt_db_open(paths[i], PT_DB_READONLY, &db, &err);
    if (rc != PT_OK) return fail(rc, err.msg);
    pt_db_close(db);
  }
  return 0;
}

/* Removes an output this command created and could not finish. */
static void remove_output(const char *out) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char path[4096];
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
    if (snprintf(path, sizeof path, "%s%s", out, suffixes[i]) <
        (int)sizeof path)
      unlink(path);
}

static int merge_all(pt_db_t *db, int n, const char **paths,
                     int64_t *added) {
  for (int i = 0; i < n; i++) {
    int64_t k = 0;
    int rc = pt_db_merge(db, paths[i], &k);
    if (rc != PT_OK) return rc;
    *added += k;
  }
  return PT_OK;
}

static int db_merge(int argc, const char **argv) {
  static const char usage[] = "pipetune db merge A B... -o OUT";
  const char *out = NULL;
  const pt_opt_t opts[] = {
      PT_OPT_STRING('o', "output", &out, "OUT",
                    "database to merge into (created when missing)"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0) return pt_opts_status(argc);
  if (out == NULL || argc < 1)
    return pt_cli_error("need -o OUT and at least one input; usage: %s",
                        usage);
  int status = check_inputs(argc, argv);
  if (status != 0) return status;
  struct stat sb;
  int existed = stat(out, &sb) == 0 || errno != ENOENT;
  pt_err_t err;
  pt_db_t *db = NULL;
  int rc = pt_db_open(out, PT_DB_CREATE, &db, &err);
  if (rc != PT_OK) return fail(rc, err.msg);
  int64_t added = 0;
  pt_db_stats_t s;
  rc = merge_all(db, argc, argv, &added);
  if (rc == PT_OK) rc = pt_db_stats(db, &s);
  if (rc != PT_OK) {
    status = fail(rc, pt_db_errmsg(db));
    pt_db_close(db);
    if (!existed) remove_output(out);
    return status;
  }
  printf("'%s': merged %d database%s, %" PRId64 " new measurements, %" PRId64
         " in all\n", out, argc, argc == 1 ? "" : "s", added, s.measurements);
  pt_db_close(db);
  return 0;
}

struct db_verb {
  const char *name;
  int (*fn)(int argc, const char **argv);
  const char *help;
};

static const struct db_verb verbs[] = {
    {"init", db_init, "create FILE, or bring an older schema up to date"},
    {"check", db_check, "verify integrity, foreign keys and the schema"},
    {"merge", db_merge, "merge databases into OUT (created when missing)"},
};

#define NVERBS (sizeof verbs / sizeof verbs[0])

static void usage(FILE *f) {
  fprintf(f, "usage: pipetune db <verb> [<args>]\n\nverbs:\n");
  for (size_t i = 0; i < NVERBS; i++)
    fprintf(f, "   %-8s %s\n", verbs[i].name, verbs[i].help);
}

int cmd_db(int argc, const char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < NVERBS; i++)
    if (strcmp(verbs[i].name, argv[1]) == 0)
      return verbs[i].fn(argc - 1, argv + 1);
  return pt_cli_error("unknown db verb '%s'; see 'pipetune db --help'",
                      argv[1]);
}
