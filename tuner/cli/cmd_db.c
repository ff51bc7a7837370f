/* pipetune db: create, check and merge result databases (DESIGN 9, 10).
 * Nested verbs dispatch through a table, as git's builtins do. A bad input
 * (a file that is not a pipetune database, a damaged one, a newer schema, a
 * missing file) exits 2 and leaves every existing file as it was. Runs whose
 * process died (db/README.md "Dead runs") are warned about by check, and
 * marked interrupted by check --fix and by merge in its output. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "builtin.h"
#include "db.h"
#include "opts.h"

/* A database named on the command line that does not exist is bad input. */
static int fail(int code, const char *msg) {
  pt_cli_error("%s", msg);
  return code == PT_ENOENT ? 2 : pt_exit_status(code);
}

/* Opens FILE in mode. Returns -1 with *db set, or the exit status. */
static int open_file(const char *path, pt_db_mode_t mode, pt_db_t **db) {
  pt_err_t err;
  int rc = pt_db_open(path, mode, db, &err);
  return rc == PT_OK ? -1 : fail(rc, err.msg);
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
  return open_file(argv[0], mode, db);
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

/* The name runs of this machine are recorded under (as tune records it). */
static void this_host(char *host, size_t len) {
  snprintf(host, len, "unknown");
  uv_os_gethostname(host, &len);
}

static int warn_run(void *ud, const pt_db_run_info_t *r) {
  const char *path = ud;
  if (r->dead)
    pt_cli_warning("'%s': run %" PRId64 " (started %s) is marked running but its "
                   "process on this host is gone; 'pipetune db check --fix' or the "
                   "next 'pipetune tune' on it marks it interrupted", path, r->id, r->started);
  else
    pt_cli_warning("'%s': run %" PRId64 " (started %s) of host '%s' is marked running; "
                   "whether it still runs cannot be told from here",
                   path, r->id, r->started, r->host);
  return 0;
}

/* Warns about runs left running that are not a live process of this host
 * (or, with fix, marks the dead ones interrupted first). */
static int check_runs(pt_db_t *db, int fix) {
  char host[256];
  this_host(host, sizeof host);
  int n = 0, rc = fix ? pt_db_runs_reap(db, host, &n) : PT_OK;
  if (rc == PT_OK && n > 0)
    printf("'%s': marked %d dead run%s interrupted\n", pt_db_path(db), n,
           n == 1 ? "" : "s");
  if (rc != PT_OK) return rc;
  char path[4096];
  snprintf(path, sizeof path, "%s", pt_db_path(db));
  return pt_db_runs_running(db, host, warn_run, path);
}

static int db_check(int argc, const char **argv) {
  static const char usage[] = "pipetune db check FILE [--fix]";
  int fix = 0;
  const pt_opt_t opts[] = {
      PT_OPT_FLAG(0, "fix", &fix, "mark runs whose process died interrupted"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0) return pt_opts_status(argc);
  if (argc != 1) return pt_cli_error("expected one FILE; usage: %s", usage);
  pt_db_t *db = NULL;
  int status = open_file(argv[0], fix ? PT_DB_EXISTING : PT_DB_READONLY, &db);
  if (status >= 0) return status;
  pt_db_stats_t s;
  int rc = pt_db_check(db);
  if (rc == PT_OK) rc = check_runs(db, fix);
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

/* Vets every input read-only as 'db check' does, so that a bad one is
 * refused before the output is created or touched. */
static int check_inputs(int n, const char **paths) {
  for (int i = 0; i < n; i++) {
    pt_db_t *db = NULL;
    int status = open_file(paths[i], PT_DB_READONLY, &db);
    if (status >= 0) return status;
    int rc = pt_db_check(db);
    if (rc != PT_OK) status = fail(rc, pt_db_errmsg(db));
    pt_db_close(db);
    if (status >= 0) return status;
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
  char host[256];
  this_host(host, sizeof host);
  rc = merge_all(db, argc, argv, &added);
  /* A run copied as running whose process is gone is no run in progress. */
  if (rc == PT_OK) rc = pt_db_runs_reap(db, host, NULL);
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

static const pt_cli_verb_t verbs[] = {
    {"init", db_init, "create FILE, or bring an older schema up to date"},
    {"check", db_check, "verify integrity, schema and values; --fix marks dead runs"},
    {"merge", db_merge, "merge databases into OUT (created when missing)"},
};

#define NVERBS (sizeof verbs / sizeof verbs[0])

static void usage(FILE *f) {
  fprintf(f, "usage: pipetune db <verb> [<args>]\n\nverbs:\n");
  for (size_t i = 0; i < NVERBS; i++)
    fprintf(f, "   %-8s %s\n", verbs[i].name, verbs[i].help);
}

int cmd_db(int argc, const char **argv) {
  return pt_cli_verbs(argc, argv, "db", verbs, NVERBS, usage);
}
