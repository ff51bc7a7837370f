/* Untrusted bytes made safe for a terminal: names from a grid file or a
 * database reach messages and table cells, and a control byte there could
 * forge a line or drive the terminal (an ESC sequence, a window title). */
#ifndef PT_ESCAPE_H
#define PT_ESCAPE_H

#include <stddef.h>

/* Writes s into out (NUL-terminated, cut to len - 1 bytes) with every
 * control byte (0x00-0x1f, 0x7f) but a newline as the 4 characters
 * "\xNN"; newline too unless keep_newline. Returns the length it needed. */
size_t pt_escape_ctl(const char *s, int keep_newline, char *out, size_t len);

/* The same into a malloc'd string; NULL when out of memory. */
char *pt_escape_ctl_dup(const char *s, int keep_newline);

#endif
