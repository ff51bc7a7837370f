/* Helpers shared by the test programs: run the built pipetune binary and
 * capture what it prints, make temporary files. */
#ifndef PT_TESTUTIL_H
#define PT_TESTUTIL_H

#include <stddef.h>

#include "gpu.h"

typedef struct pt_test_out_s {
  int status;   /* exit status, or 128 + signal */
  char *out;    /* captured stdout, NUL-terminated */
  char *err;    /* captured stderr, NUL-terminated */
} pt_test_out_t;

/* dir/rel, malloc'd. */
char *pt_test_join(const char *dir, const char *rel);
/* Path of a file in the build tree ($PT_BUILDDIR, else "."), static buffer
 * per call site is not used: the result is malloc'd. */
char *pt_test_build_path(const char *rel);
char *pt_test_src_path(const char *rel);

/* Runs the built pipetune with args (NULL-terminated, without argv[0]) and
 * stdin from /dev/null; captures its output. */
pt_test_out_t pt_test_pipetune(const char *const *args);
/* Same for any program path. */
pt_test_out_t pt_test_run(const char *prog, const char *const *args);
void pt_test_out_free(pt_test_out_t *o);
/* Fails the test unless r exited with status and its stderr and stdout
 * contain in_err and in_out (each skipped when NULL). */
void pt_test_expect(pt_test_out_t r, int status, const char *in_err, const char *in_out);

/* Bad input as the CLI contract has it: exit 2, nothing on stdout and
 * exactly "error: <msg>\n" on stderr. */
void pt_test_expect_bad_input(pt_test_out_t r, const char *msg);

/* The integer the first row of sql gives on the database at path, read
 * through its own read-only connection (5 s busy timeout); -1 when there is
 * no row. Fails the test when sql does not prepare. */
long long pt_test_sql_int(const char *path, const char *sql);

/* A fresh temporary directory (malloc'd path); removed with pt_test_rmdir. */
char *pt_test_tmpdir(void);
void pt_test_rmdir(const char *dir);
/* Writes text to dir/name; returns the malloc'd path. */
char *pt_test_write(const char *dir, const char *name, const char *text);
/* The whole file at path, NUL-terminated and malloc'd, its size in *len
 * unless len is NULL; fails the test when it cannot be read. */
char *pt_test_slurp(const char *path, size_t *len);
/* The program name found on PATH (malloc'd path), or NULL. */
char *pt_test_find_prog(const char *name);

/* Whether pipetune would find a GPU (gpu.h's pt_gpu_first_backend), asked
 * in a child process: CUDA initialized in the test process would not
 * survive the fork Check makes for each test. */
int pt_test_have_gpu(void);

/* Properties of a fake device for DB fixtures: an H100-like sm_* part on
 * CUDA, an MI300X-like gfx* part on HIP. */
pt_gpu_props_t pt_test_gpu_props(pt_gpu_backend_t b, const char *name,
                                 const char *arch, const char *pci);

#endif
