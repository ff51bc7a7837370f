/* Error codes and the error record every pipetune module reports through.
 *
 * Library code never prints: a failing call returns a negative PT_E* code and
 * fills a pt_err_t with a one-line message; the CLI decides what to show and
 * maps the code to an exit status (pt_exit_status: bad input is 2, anything
 * else 1).
 */
#ifndef PT_ERROR_H
#define PT_ERROR_H

#include <stddef.h>

/* XX(name, code, description). PT_EINVAL and PT_ESCHEMA are "bad input". */
#define PT_ERRNO_MAP(XX)                                                    \
  XX(EINVAL, -1, "invalid argument or input")                              \
  XX(ENOMEM, -2, "out of memory")                                          \
  XX(EIO, -3, "i/o error")                                                 \
  XX(ENOENT, -4, "not found")                                              \
  XX(ENOGPU, -5, "no gpu available")                                       \
  XX(EGPU, -6, "gpu runtime error")                                        \
  XX(ECOMPILE, -7, "kernel compilation failed")                            \
  XX(EDB, -8, "database error")                                            \
  XX(ESCHEMA, -9, "database schema not supported")                         \
  XX(ENOTSUP, -10, "not supported")                                        \
  XX(ETIMEDOUT, -11, "timed out")                                          \
  XX(EINFEASIBLE, -12, "variant infeasible")                               \
  XX(EVERIFY, -13, "verification failed")                                  \
  XX(ECANCELED, -14, "canceled")

enum {
  PT_OK = 0,
#define PT__XX(name, code, desc) PT_##name = (code),
  PT_ERRNO_MAP(PT__XX)
#undef PT__XX
};

#define PT_ERRMSG_MAX 1024

typedef struct pt_err_s {
  int code;                  /* PT_OK or a PT_E* code */
  char msg[PT_ERRMSG_MAX];   /* one line, no trailing newline or period */
} pt_err_t;

/* Name ("EINVAL") and description of a code; "unknown error" otherwise. */
const char *pt_err_name(int code);
const char *pt_strerror(int code);

/* Clears the record (code PT_OK, empty message). */
void pt_err_clear(pt_err_t *err);

/* Formats the message into err (which may be NULL) and returns code, so a
 * failing path reads: return pt_err_set(err, PT_EINVAL, "bad '%s'", name). */
int pt_err_set(pt_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "context: " and returns err->code. */
int pt_err_prefix(pt_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Exit status for a code: 0 for PT_OK, 2 for bad input, 1 otherwise. */
int pt_exit_status(int code);

#endif
