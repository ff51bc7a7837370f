/* Test helpers (see testutil.h). */
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *pt_test_join(const char *dir, const char *rel) {
  size_t n = strlen(dir) + strlen(rel) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, rel);
  return p;
}

char *pt_test_build_path(const char *rel) {
  const char *d = getenv("PT_BUILDDIR");
  return pt_test_join(d ? d : ".", rel);
}

char *pt_test_src_path(const char *rel) {
  const char *d = getenv("PT_SRCDIR");
  return pt_test_join(d ? d : ".", rel);
}

static char *slurp_fd(int fd) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  ssize_t got;
  while (buf && (got = read(fd, buf + n, cap - n - 1)) > 0) {
    n += (size_t)got;
    if (n + 1 == cap) {
      char *b = realloc(buf, cap *= 2);
      if (b == NULL) free(buf);
      buf = b;
    }
  }
  if (buf) buf[n] = '\0';
  return buf;
}

pt_test_out_t pt_test_run(const char *prog, const char *const *args) {
  pt_test_out_t r = {.status = -1};
  int nargs = 0;
  while (args[nargs]) nargs++;
  const char **argv = calloc((size_t)nargs + 2, sizeof *argv);
  argv[0] = prog;
  for (int i = 0; i < nargs; i++) argv[i + 1] = args[i];
  /* Output goes to temporary files, so a chatty child cannot fill a pipe. */
  FILE *fo = tmpfile(), *fe = tmpfile();
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  int ws = 0;
  waitpid(pid, &ws, 0);
  r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  lseek(fileno(fo), 0, SEEK_SET);
  lseek(fileno(fe), 0, SEEK_SET);
  r.out = slurp_fd(fileno(fo));
  r.err = slurp_fd(fileno(fe));
  fclose(fo);
  fclose(fe);
  free(argv);
  return r;
}

pt_test_out_t pt_test_pipetune(const char *const *args) {
  char *prog = pt_test_build_path("pipetune");
  pt_test_out_t r = pt_test_run(prog, args);
  free(prog);
  return r;
}

void pt_test_out_free(pt_test_out_t *o) {
  free(o->out);
  free(o->err);
  o->out = o->err = NULL;
}

char *pt_test_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char *tmpl = pt_test_join(base ? base : "/tmp", "pipetune-test-XXXXXX");
  if (tmpl && mkdtemp(tmpl) == NULL) {
    free(tmpl);
    return NULL;
  }
  return tmpl;
}

void pt_test_rmdir(const char *dir) {
  const char *args[] = {"-rf", "--", dir, NULL};
  pt_test_out_t r = pt_test_run("/bin/rm", args);
  pt_test_out_free(&r);
}

char *pt_test_write(const char *dir, const char *name, const char *text) {
  char *path = pt_test_join(dir, name);
  FILE *f = path ? fopen(path, "wb") : NULL;
  if (f) {
    fputs(text, f);
    fclose(f);
  }
  return path;
}

char *pt_test_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open '%s'", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return b;
}

char *pt_test_find_prog(const char *name) {
  const char *path = getenv("PATH");
  char *copy = strdup(path ? path : "/usr/bin:/bin");
  char *found = NULL;
  for (char *d = strtok(copy, ":"); d && !found; d = strtok(NULL, ":")) {
    char *p = pt_test_join(d, name);
    if (access(p, X_OK) == 0) found = p;
    else free(p);
  }
  free(copy);
  return found;
}

void pt_test_expect(pt_test_out_t r, int status, const char *in_err, const char *in_out) {
  ck_assert_msg(r.status == status, "exit %d, wanted %d\nstdout: %.2000s\nstderr: %s",
                r.status, status, r.out, r.err);
  if (in_err) ck_assert_msg(strstr(r.err, in_err), "stderr lacks '%s': %s", in_err, r.err);
  if (in_out) ck_assert_msg(strstr(r.out, in_out), "stdout lacks '%s': %.2000s", in_out, r.out);
}

void pt_test_expect_bad_input(pt_test_out_t r, const char *msg) {
  pt_test_expect(r, 2, NULL, NULL);
  ck_assert_str_eq(r.out, "");
  char want[PT_ERRMSG_MAX + 16];
  snprintf(want, sizeof want, "error: %s\n", msg);
  ck_assert_str_eq(r.err, want);
}

long long pt_test_sql_int(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  long long v = -1;
  ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                sqlite3_errmsg(db));
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

pt_gpu_props_t pt_test_gpu_props(pt_gpu_backend_t b, const char *name,
                                 const char *arch, const char *pci) {
  pt_gpu_props_t p;
  memset(&p, 0, sizeof p);
  p.backend = b;
  snprintf(p.name, sizeof p.name, "%s", name);
  snprintf(p.arch, sizeof p.arch, "%s", arch);
  snprintf(p.pci_bus_id, sizeof p.pci_bus_id, "%s", pci);
  snprintf(p.driver, sizeof p.driver, "%s", b == PT_GPU_CUDA ? "13.0" : "6.2");
  p.sm_count = b == PT_GPU_CUDA ? 132 : 304;
  p.warp_size = b == PT_GPU_CUDA ? 32 : 64;
  p.max_threads_per_block = 1024;
  p.max_threads_per_sm = 2048;
  p.regs_per_block = p.regs_per_sm = 65536;
  p.smem_per_block = 48 << 10;
  p.smem_per_block_optin = b == PT_GPU_CUDA ? 227 << 10 : 64 << 10;
  p.smem_per_sm = 228 << 10;
  p.l2_bytes = (size_t)(b == PT_GPU_CUDA ? 50 : 256) << 20;
  p.global_mem = (size_t)(b == PT_GPU_CUDA ? 80 : 192) << 30;
  p.clock_khz = b == PT_GPU_CUDA ? 1980000 : 2100000;
  return p;
}

int pt_test_have_gpu(void) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    pt_gpu_backend_t b;
    int n = 0;
    _exit(pt_gpu_first_backend(&b, &n, NULL) == PT_OK ? 0 : 1);
  }
  int ws = 0;
  return pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
}
