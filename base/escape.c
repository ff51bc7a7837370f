/* Control bytes as \xNN (see escape.h). */
#include "escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_ctl(unsigned char ch, int keep_newline) {
  return (ch < 0x20 && !(keep_newline && ch == '\n')) || ch == 0x7f;
}

size_t pt_escape_ctl(const char *s, int keep_newline, char *out, size_t len) {
  size_t n = 0;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    char piece[5] = {(char)ch, 0};
    if (is_ctl(ch, keep_newline)) snprintf(piece, sizeof piece, "\\x%02x", ch);
    for (const char *p = piece; *p; p++, n++)
      if (n + 1 < len) out[n] = *p;
  }
  if (len > 0) out[n < len ? n : len - 1] = '\0';
  return n;
}

char *pt_escape_ctl_dup(const char *s, int keep_newline) {
  size_t need = pt_escape_ctl(s, keep_newline, NULL, 0) + 1;
  char *out = malloc(need);
  if (out != NULL) pt_escape_ctl(s, keep_newline, out, need);
  return out;
}
