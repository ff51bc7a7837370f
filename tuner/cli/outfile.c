/* Whole-or-nothing output files (see outfile.h). */
#include "outfile.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pt_outfile_write(const char *path, pt_outfile_fn fn, const void *ctx) {
  size_t n = strlen(path) + 8;
  char *tmp = malloc(n);
  if (tmp == NULL) {
    fprintf(stderr, "error: out of memory\n");
    return 1;
  }
  snprintf(tmp, n, "%s.tmp", path);
  pt_err_t err = {0};
  FILE *f = fopen(tmp, "w");
  int rc = f ? fn(f, ctx, &err) : pt_err_set(&err, PT_EIO, "cannot create it");
  if (f && fclose(f) != 0 && rc == PT_OK) rc = pt_err_set(&err, PT_EIO, "write failed");
  if (rc == PT_OK && rename(tmp, path) != 0)
    rc = pt_err_set(&err, PT_EIO, "cannot rename '%s' into place", tmp);
  if (rc != PT_OK) {
    if (f) unlink(tmp);
    fprintf(stderr, "error: '%s': %s\n", path, err.msg);
  }
  free(tmp);
  return rc == PT_OK ? 0 : pt_exit_status(rc);
}
