/* Output files of the CLI commands, written whole or not at all, and never
 * over the database they are made from. */
#ifndef PT_OUTFILE_H
#define PT_OUTFILE_H

#include <stdio.h>

#include "error.h"

/* Writes the content to f; returns PT_OK or a negative PT_E* code. */
typedef int (*pt_outfile_fn)(FILE *f, const void *ctx, pt_err_t *err);

/* Refuses an output path that is the database at db or one of the files
 * SQLite keeps beside it (-wal, -shm, -journal), by name (after resolving
 * directories and links) or by device and inode, and one whose temporary
 * file (path.tmp) would be. Prints "error: ..." and returns 2 then; returns
 * 0 for an output that is safe to write (or NULL). */
int pt_outfile_check(const char *path, const char *db);

/* Writes path through path.tmp and a rename, so a failure never leaves a
 * partial file. On failure prints "error: '<path>': <why>" to stderr.
 * Returns the exit status: 0, or pt_exit_status() of the failure. */
int pt_outfile_write(const char *path, pt_outfile_fn fn, const void *ctx);

#endif
