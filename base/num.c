/* Strict number parsing for typed text (see num.h). */
#include "num.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Whether s starts a number: a digit, or '-' (when allowed) then a digit. The
 * strto* functions skip leading whitespace and take '+', so they only ever
 * see text that passed this. */
static int starts_number(const char *s, int minus, int dot) {
  if (minus && *s == '-') s++;
  return is_digit(*s) || (dot && *s == '.' && is_digit(s[1]));
}

/* Hex ("0x10") is a C spelling, not a decimal one. */
static int is_hex(const char *s) {
  if (*s == '-') s++;
  return s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

int pt_num_parse_long(const char *s, const char **end, long lo, long hi, long *out) {
  if (!starts_number(s, lo < 0, 0)) return -1;
  char *stop = NULL;
  errno = 0;
  long v = strtol(s, &stop, 10);
  if (errno != 0 || v < lo || v > hi || (end == NULL && *stop != '\0')) return -1;
  if (end != NULL) *end = stop;
  *out = v;
  return 0;
}

int pt_num_parse_double(const char *s, const char **end, double *out) {
  if (!starts_number(s, 1, 1) || is_hex(s)) return -1;
  char *stop = NULL;
  errno = 0;
  double v = strtod(s, &stop);
  if (errno != 0 || !isfinite(v) || (end == NULL && *stop != '\0')) return -1;
  if (end != NULL) *end = stop;
  *out = v;
  return 0;
}
