/* The stand-in for the inference library that ships a generated table: it
 * compiles select_pipe_config.c in and answers lookups. Written in strict
 * C99 and built by tests/test_emit_consumer.c at test time with
 * cc -std=c99 -Wall -Wextra -Werror -pedantic, against the generated header.
 *
 * Reads one lookup per line of the file argv[1]:
 *   DEVICE ARCH MODEL_DIM INTER_DIM EXPERTS TOPK DTYPE TOKENS
 * where DEVICE and ARCH are percent-encoded ("%22" is a quote, "%20" a
 * space), "-" passes NULL, and an ARCH "!" a NULL out pointer. Prints, per
 * lookup:
 *   RC SBM | G1 bm bn k_wave bhoist spart nt persist | G2 bm bn kstages bhoist spart nt persist epilog
 * with every field -1 when the call left out untouched. */
#include <stdio.h>
#include <string.h>

#include "select_pipe_config.h"

#if SELECT_PIPE_CONFIG_ABI != 2
#error "this consumer is written against select_pipe_config ABI 2"
#endif

static int hex(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes %XX in place. */
static void decode(char *s)
{
  char *out = s;
  for (; *s != '\0'; s++) {
    if (s[0] == '%' && hex(s[1]) >= 0 && hex(s[2]) >= 0) {
      *out++ = (char)(hex(s[1]) * 16 + hex(s[2]));
      s += 2;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

static void print(int rc, const struct pipe_config *c)
{
  printf("%d %d | %d %d %d %d %d %d %d | %d %d %d %d %d %d %d %d\n", rc, c->sbm,
         c->g1.bm, c->g1.bn, c->g1.k_wave, c->g1.bhoist, c->g1.spart, c->g1.nt,
         c->g1.persist, c->g2.bm, c->g2.bn, c->g2.kstages, c->g2.bhoist, c->g2.spart,
         c->g2.nt, c->g2.persist, c->g2.epilog);
}

int main(int argc, char **argv)
{
  char device[256], arch[256];
  int h, i, e, k, d, t;
  FILE *f;
  if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
    fprintf(stderr, "usage: consumer LOOKUPS\n");
    return 2;
  }
  printf("abi %d digest %s\n", SELECT_PIPE_CONFIG_ABI, SELECT_PIPE_CONFIG_DB_DIGEST);
  while (fscanf(f, "%255s %255s %d %d %d %d %d %d", device, arch, &h, &i, &e, &k, &d,
                &t) == 8) {
    struct pipe_config c;
    const char *dev;
    int rc;
    memset(&c, 0xff, sizeof c);
    decode(device);
    decode(arch);
    dev = strcmp(device, "-") == 0 ? NULL : device;
    if (strcmp(arch, "-") == 0)
      rc = select_pipe_config(dev, NULL, h, i, e, k, d, t, &c);
    else if (strcmp(arch, "!") == 0)
      rc = select_pipe_config(dev, "sm_90", h, i, e, k, d, t, NULL);
    else
      rc = select_pipe_config(dev, arch, h, i, e, k, d, t, &c);
    print(rc, &c);
  }
  fclose(f);
  return ferror(stdout) ? 1 : 0;
}
