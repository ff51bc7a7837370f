/* Error codes and messages (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *pt_err_name(int code) {
  switch (code) {
  case PT_OK: return "OK";
#define PT__XX(name, c, desc) case PT_##name: return #name;
    PT_ERRNO_MAP(PT__XX)
#undef PT__XX
  default: return "EUNKNOWN";
  }
}

const char *pt_strerror(int code) {
  switch (code) {
  case PT_OK: return "success";
#define PT__XX(name, c, desc) case PT_##name: return desc;
    PT_ERRNO_MAP(PT__XX)
#undef PT__XX
  default: return "unknown error";
  }
}

void pt_err_clear(pt_err_t *err) {
  if (err == NULL) return;
  err->code = PT_OK;
  err->msg[0] = '\0';
}

int pt_err_set(pt_err_t *err, int code, const char *fmt, ...) {
  if (err == NULL) return code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  err->code = code;
  return code;
}

int pt_err_prefix(pt_err_t *err, const char *fmt, ...) {
  if (err == NULL) return PT_EINVAL;
  char old[PT_ERRMSG_MAX];
  memcpy(old, err->msg, sizeof old);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof err->msg)
    snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %.*s",
             (int)(sizeof err->msg - (size_t)n), old);
  return err->code;
}

int pt_exit_status(int code) {
  if (code == PT_OK) return 0;
  if (code == PT_EINVAL || code == PT_ESCHEMA) return 2;
  return 1;
}
