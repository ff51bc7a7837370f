/* A small option-table parser shared by every subcommand (after git's
 * parse-options). Each command declares a table and a usage string:
 *
 *   const char *db = NULL; int json = 0;
 *   const pt_opt_t opts[] = {
 *     PT_OPT_STRING('d', "db", &db, "FILE", "database file"),
 *     PT_OPT_FLAG(0, "json", &json, "print JSON"),
 *     PT_OPT_END(),
 *   };
 *   argc = pt_opts_parse(argc, argv, opts, "pipetune query best [options]");
 *   if (argc < 0) return pt_opts_status(argc);
 *
 * argv[0] is the command name. On return argv[0..argc) holds the positional
 * arguments left (argv[0] excluded). "--" ends option parsing.
 */
#ifndef PT_OPTS_H
#define PT_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include <stddef.h>

typedef enum {
  PT_OPT_T_END = 0,
  PT_OPT_T_FLAG,     /* int*, set to 1 */
  PT_OPT_T_STRING,   /* const char** */
  PT_OPT_T_INT,      /* int*, decimal, range-checked against int */
  PT_OPT_T_LIST,     /* pt_strlist_t*, repeatable; appends */
} pt_opt_type_t;

typedef struct pt_strlist_s {
  const char **items;  /* points into argv; the array itself is malloc'd */
  int n;
} pt_strlist_t;
void pt_strlist_free(pt_strlist_t *l);

typedef struct pt_opt_s {
  pt_opt_type_t type;
  char short_name;        /* 0 for none */
  const char *long_name;
  void *value;
  const char *argh;       /* argument placeholder in help, e.g. "FILE" */
  const char *help;
} pt_opt_t;

#define PT_OPT_FLAG(s, l, v, h) {PT_OPT_T_FLAG, (s), (l), (v), NULL, (h)}
#define PT_OPT_STRING(s, l, v, a, h) {PT_OPT_T_STRING, (s), (l), (v), (a), (h)}
#define PT_OPT_INT(s, l, v, a, h) {PT_OPT_T_INT, (s), (l), (v), (a), (h)}
#define PT_OPT_LIST(s, l, v, a, h) {PT_OPT_T_LIST, (s), (l), (v), (a), (h)}
#define PT_OPT_END() {PT_OPT_T_END, 0, NULL, NULL, NULL, NULL}

/* The device-model filter of every reader (query, diff, report, emit): f
 * is a pt_query_filter_t. */
#define PT_OPT_DEVICE(f)                                                          \
  PT_OPT_STRING(0, "device", &(f).device, "NAME",                                 \
                "only results of this device model ('NVIDIA H200')")

/* The tie tolerance of the readers that pick winners (query, report, emit):
 * s is a const char * for pt_query_parse_tie_tol, "auto" by default. */
#define PT_OPT_TIE_TOL(s)                                                         \
  PT_OPT_STRING(0, "tie-tol", &(s), "PCT",                                        \
                "a challenger must be faster by more: auto (the measured spreads, default) or PCT")

/* The selection every reader of a result set takes (query, diff, report):
 * f is a pt_query_filter_t, routing a const char * for
 * pt_query_parse_routing. */
#define PT_OPT_SELECTION(f, routing)                                              \
  PT_OPT_STRING(0, "arch", &(f).arch, "ARCH", "only this arch (sm_90, gfx942)"),  \
  PT_OPT_DEVICE(f),                                                               \
  PT_OPT_STRING(0, "family", &(f).family, "NAME", "only this family"),            \
  PT_OPT_STRING(0, "dtype", &(f).dtype, "DTYPE", "only a4w4, a8w4 or a16w4"),     \
  PT_OPT_STRING(0, "stage", &(f).stage, "STAGE", "only gemm1 or gemm2"),          \
  PT_OPT_STRING(0, "regime", &(f).regime, "REGIME", "cold (default) or warm"),    \
  PT_OPT_STRING(0, "routing", &(routing), "ROUTING", "uniform (default) or zipf:S")

/* A nested verb of a command (`pipetune db merge`), git-style. */
typedef struct pt_cli_verb_s {
  const char *name;
  int (*fn)(int argc, const char **argv);  /* argv[0] is the verb */
  const char *help;
} pt_cli_verb_t;

/* Runs the verb argv[1] names, or prints usage (to stdout for -h/--help,
 * exit 0; to stderr with an error line when argv[1] is missing, exit 2), or
 * names an unknown verb (exit 2). cmd is the command's name. */
int pt_cli_verbs(int argc, const char **argv, const char *cmd, const pt_cli_verb_t *verbs,
                 size_t n, void (*usage)(FILE *f));

#define PT_OPTS_HELP (-1)   /* --help was printed to stdout */
#define PT_OPTS_ERROR (-2)  /* an error and the usage were printed to stderr */

/* Parses argv in place; returns the count of positional arguments left
 * (compacted to argv[0..n)), or PT_OPTS_HELP / PT_OPTS_ERROR. -h/--help is
 * built in. */
int pt_opts_parse(int argc, const char **argv, const pt_opt_t *opts,
                  const char *usage);

/* Exit status for a negative pt_opts_parse() result: 0 for help, 2 else. */
int pt_opts_status(int rc);

/* Prints "usage: <usage>" and the option table to stderr (to_stderr) or stdout. */
void pt_opts_usage(const pt_opt_t *opts, const char *usage, int to_stderr);

/* Prints "error: <fmt>" to stderr and returns 2: for a command's own checks. */
int pt_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A percentage typed on the command line: "5", "0.5" or "5%", >= 0
 * (base/num.h's rule). 0 and *out, or -1. */
int pt_cli_parse_pct(const char *s, double *out);
/* Prints "warning: <fmt>" to stderr. Both escape control bytes (\xNN), so
 * what a file or database holds cannot forge a line or drive a terminal. */
void pt_cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* s seconds as "m:ss", or "h:mm:ss" from an hour on (an ETA, a wall time). */
void pt_cli_duration(double s, char *buf, size_t len);

/* The time now in UTC as the database writes it: "2026-11-21T10:00:00Z",
 * or with millis "2026-11-21T10:00:00.123Z" (len >= 32 always suffices). */
void pt_cli_utc_now(char *buf, size_t len, int millis);

/* Finishes stdout (flush, error check, close); a full disk is an error.
 * Returns status, or 1 when writing stdout failed. */
int pt_cli_finish_stdout(int status);

#endif
