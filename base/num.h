/* The one rule for numbers a person types (options, lists, specs, grid
 * strings): every parser of such text calls these, so " 1", "\t1", "+1",
 * "1 " and "0x10" are refused alike everywhere.
 *
 * A decimal integer is digits, with one leading '-' only where the range
 * admits negatives; a decimal number is that with an optional fraction and
 * exponent (as strtod reads them), finite. Nothing else: no whitespace, no
 * '+', no "inf"/"nan", no hex.
 */
#ifndef PT_NUM_H
#define PT_NUM_H

/* Parses the integer at the start of s into *out, within [lo, hi]. With end
 * NULL the number must be the whole of s; else *end is set past its digits
 * (the caller checks the separator). Returns 0, or -1 when s does not start
 * with such a number or it is out of range. */
int pt_num_parse_long(const char *s, const char **end, long lo, long hi, long *out);

/* The same for a finite decimal number (no range: callers check theirs). */
int pt_num_parse_double(const char *s, const char **end, double *out);

#endif
