/* Option-table parser shared by every subcommand (see opts.h). */
#include "opts.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "num.h"

void pt_strlist_free(pt_strlist_t *l) {
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

/* "error: " or "warning: " and the message on one line of stderr, with
 * control bytes escaped: names and paths come from files. */
static void say(const char *what, const char *fmt, va_list ap) {
  char msg[4096], safe[4 * sizeof msg];
  vsnprintf(msg, sizeof msg, fmt, ap);
  pt_escape_ctl(msg, 0, safe, sizeof safe);
  fprintf(stderr, "%s: %s\n", what, safe);
}

int pt_cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say("error", fmt, ap);
  va_end(ap);
  return 2;
}

void pt_cli_warning(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say("warning", fmt, ap);
  va_end(ap);
}

void pt_cli_utc_now(char *buf, size_t len, int millis) {
  struct timespec ts = {0};
  struct tm tm;
  char sec[24];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
  if (millis) snprintf(buf, len, "%s.%03ldZ", sec, ts.tv_nsec / 1000000L);
  else snprintf(buf, len, "%sZ", sec);
}

int pt_cli_verbs(int argc, const char **argv, const char *cmd, const pt_cli_verb_t *verbs,
                 size_t n, void (*usage)(FILE *f)) {
  if (argc < 2) {
    pt_cli_error("'pipetune %s' needs a verb", cmd);
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    if (strcmp(verbs[i].name, argv[1]) == 0) return verbs[i].fn(argc - 1, argv + 1);
  return pt_cli_error("unknown %s verb '%s'; see 'pipetune %s --help'", cmd, argv[1], cmd);
}

void pt_opts_usage(const pt_opt_t *opts, const char *usage, int to_stderr) {
  FILE *f = to_stderr ? stderr : stdout;
  fprintf(f, "usage: %s\n\n", usage);
  for (const pt_opt_t *o = opts; o->type != PT_OPT_T_END; o++) {
    char head[96];
    int n = 0;
    if (o->short_name && o->long_name)
      n = snprintf(head, sizeof head, "-%c, --%s", o->short_name, o->long_name);
    else if (o->short_name)
      n = snprintf(head, sizeof head, "-%c", o->short_name);
    else
      n = snprintf(head, sizeof head, "--%s", o->long_name);
    if (o->argh && n > 0 && (size_t)n < sizeof head)
      snprintf(head + n, sizeof head - (size_t)n, " %s", o->argh);
    fprintf(f, "    %-26s %s\n", head, o->help ? o->help : "");
  }
  fprintf(f, "    %-26s %s\n", "-h, --help", "show this help");
}

static const pt_opt_t *find_long(const pt_opt_t *opts, const char *name,
                                 size_t len) {
  for (const pt_opt_t *o = opts; o->type != PT_OPT_T_END; o++)
    if (o->long_name && strlen(o->long_name) == len &&
        strncmp(o->long_name, name, len) == 0)
      return o;
  return NULL;
}

static const pt_opt_t *find_short(const pt_opt_t *opts, char c) {
  for (const pt_opt_t *o = opts; o->type != PT_OPT_T_END; o++)
    if (o->short_name == c) return o;
  return NULL;
}

/* A decimal int by the project's one rule for typed numbers (num.h). */
static int parse_int(const char *s, int *out) {
  long v = 0;
  if (pt_num_parse_long(s, NULL, INT_MIN, INT_MAX, &v) != 0) return -1;
  *out = (int)v;
  return 0;
}

/* Stores value into o; returns 0 or -1 after printing the error. */
static int store(const pt_opt_t *o, const char *spelled, const char *value) {
  switch (o->type) {
  case PT_OPT_T_FLAG:
    *(int *)o->value = 1;
    return 0;
  case PT_OPT_T_STRING:
    *(const char **)o->value = value;
    return 0;
  case PT_OPT_T_INT:
    if (parse_int(value, (int *)o->value) == 0) return 0;
    pt_cli_error("option '%s' expects an integer (got '%s')", spelled, value);
    return -1;
  case PT_OPT_T_LIST: {
    pt_strlist_t *l = o->value;
    const char **items = realloc(l->items, sizeof *items * (size_t)(l->n + 1));
    if (items == NULL) {
      pt_cli_error("out of memory");
      return -1;
    }
    items[l->n++] = value;
    l->items = items;
    return 0;
  }
  case PT_OPT_T_END:
    break;
  }
  return -1;
}

/* Handles argv[*i], which starts with '-'; may consume argv[*i + 1]. */
static int parse_one(int argc, const char **argv, int *i, const pt_opt_t *opts) {
  const char *arg = argv[*i];
  const pt_opt_t *o;
  const char *inline_val = NULL;
  if (arg[1] == '-') {
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    o = find_long(opts, name, len);
    if (eq) inline_val = eq + 1;
  } else {
    o = find_short(opts, arg[1]);
    if (o && arg[2] != '\0') {
      if (o->type == PT_OPT_T_FLAG) o = NULL;
      else inline_val = arg + 2;  /* -DNAME=VALUE */
    }
  }
  if (o == NULL) {
    pt_cli_error("unknown option '%s'", arg);
    return -1;
  }
  if (o->type == PT_OPT_T_FLAG) {
    if (inline_val) {
      pt_cli_error("option '%s' takes no value", arg);
      return -1;
    }
    return store(o, arg, NULL);
  }
  if (inline_val == NULL) {
    if (*i + 1 >= argc) {
      pt_cli_error("option '%s' needs a value", arg);
      return -1;
    }
    inline_val = argv[++*i];
  }
  return store(o, arg, inline_val);
}

int pt_opts_parse(int argc, const char **argv, const pt_opt_t *opts,
                  const char *usage) {
  int npos = 0, only_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (only_pos || arg[0] != '-' || arg[1] == '\0') {
      argv[npos++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      only_pos = 1;
      continue;
    }
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      pt_opts_usage(opts, usage, 0);
      return PT_OPTS_HELP;
    }
    if (parse_one(argc, argv, &i, opts) != 0) {
      pt_opts_usage(opts, usage, 1);
      return PT_OPTS_ERROR;
    }
  }
  return npos;
}

int pt_opts_status(int rc) { return rc == PT_OPTS_HELP ? 0 : 2; }

void pt_cli_duration(double s, char *buf, size_t len) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

int pt_cli_finish_stdout(int status) {
  if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
    fprintf(stderr, "error: cannot write standard output\n");
    return status ? status : 1;
  }
  return status;
}

int pt_cli_parse_pct(const char *s, double *out) {
  const char *end = NULL;
  double x = 0.0;
  if (pt_num_parse_double(s, &end, &x) != 0 || (*end != '\0' && strcmp(end, "%") != 0) ||
      !(x >= 0))
    return -1;
  *out = x;
  return 0;
}
