/* Whole-or-nothing output files (see outfile.h). */
#include "outfile.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opts.h"

/* path with its directory resolved (links, "..", "."), malloc'd; NULL when
 * the directory does not resolve. The last component stays as written: it
 * may not exist yet. */
static char *resolve(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
  char *real = dir ? realpath(dir[0] ? dir : "/", NULL) : NULL;
  char *out = real ? malloc(strlen(real) + strlen(base) + 2) : NULL;
  if (out) sprintf(out, "%s/%s", real, base);
  free(dir);
  free(real);
  return out;
}

/* Whether a and b name the same file: the same existing inode, or the same
 * resolved name. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  char *ra = resolve(a), *rb = resolve(b);
  int same = ra && rb && strcmp(ra, rb) == 0;
  free(ra);
  free(rb);
  return same;
}

/* Says why path must not be written: it, or its temporary file tmp, is
 * file, which is db itself (suffix "") or its SQLite companion. */
static void refuse(const char *path, const char *tmp, const char *file,
                   const char *db, const char *suffix) {
  const char *via = same_file(path, file) ? path : tmp;
  if (suffix[0] == '\0' && via == path)
    pt_cli_error("output '%s' is the database '%s'", path, db);
  else
    pt_cli_error("output '%s' would overwrite '%s', the %s%sfile of the database '%s'",
                 path, file, suffix, suffix[0] ? " " : "main ", db);
}

int pt_outfile_check(const char *path, const char *db) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  if (path == NULL || db == NULL) return 0;
  size_t n = strlen(path) + 8, m = strlen(db) + 16;
  char *tmp = malloc(n), *file = malloc(m);
  int status = tmp && file ? 0 : 1;
  if (status != 0) pt_cli_error("out of memory");
  if (tmp) snprintf(tmp, n, "%s.tmp", path);
  for (size_t i = 0; status == 0 && i < sizeof suffixes / sizeof *suffixes; i++) {
    snprintf(file, m, "%s%s", db, suffixes[i]);
    if (!same_file(path, file) && !same_file(tmp, file)) continue;
    refuse(path, tmp, file, db, suffixes[i]);
    status = 2;
  }
  free(tmp);
  free(file);
  return status;
}

int pt_outfile_write(const char *path, pt_outfile_fn fn, const void *ctx) {
  size_t n = strlen(path) + 8;
  char *tmp = malloc(n);
  if (tmp == NULL) {
    pt_cli_error("out of memory");
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
    pt_cli_error("'%s': %s", path, err.msg);
  }
  free(tmp);
  return rc == PT_OK ? 0 : pt_exit_status(rc);
}
