/* Output files of the CLI commands, written whole or not at all. */
#ifndef PT_OUTFILE_H
#define PT_OUTFILE_H

#include <stdio.h>

#include "error.h"

/* Writes the content to f; returns PT_OK or a negative PT_E* code. */
typedef int (*pt_outfile_fn)(FILE *f, const void *ctx, pt_err_t *err);

/* Writes path through path.tmp and a rename, so a failure never leaves a
 * partial file. On failure prints "error: '<path>': <why>" to stderr.
 * Returns the exit status: 0, or pt_exit_status() of the failure. */
int pt_outfile_write(const char *path, pt_outfile_fn fn, const void *ctx);

#endif
