/* Renders a `pipetune report` page in headless Chromium (Debian's chromium)
 * and checks the screenshot: a PNG of the window's size whose pixels hold
 * many colours, among them the plots' own line and band colours, so the SVG
 * was drawn and not just the text. The PNG is decoded here with zlib's
 * uncompress(), loaded at run time (libz.so.1 comes with chromium).
 *
 * Exits 77 (automake's SKIP) after printing why when chromium or libz is
 * absent. The screenshot is kept as tests/report-screenshot.png in the
 * build tree for people to look at. */
#include <check.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkmain.h"
#include "emitdb.h"
#include "testutil.h"

#define WIDTH 1280
#define HEIGHT 2000

typedef int (*uncompress_fn)(unsigned char *dest, unsigned long *dest_len,
                             const unsigned char *src, unsigned long src_len);

static char *chromium;
static uncompress_fn z_uncompress;

/* ---- PNG (8-bit RGB or RGBA, not interlaced) ---- */

typedef struct image_s {
  uint32_t w, h;
  int bpp;             /* bytes per pixel: 3 or 4 */
  unsigned char *px;   /* h rows of w * bpp bytes */
} image_t;

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undoes the per-row filters of raw (h rows of 1 + stride bytes) into img->px. */
static void unfilter(image_t *img, const unsigned char *raw) {
  size_t stride = (size_t)img->w * (size_t)img->bpp;
  for (uint32_t y = 0; y < img->h; y++) {
    const unsigned char *in = raw + y * (stride + 1) + 1;
    unsigned char *out = img->px + y * stride, *up = y ? out - stride : NULL;
    int type = in[-1];
    ck_assert_msg(type >= 0 && type <= 4, "row %u: filter type %d", y, type);
    for (size_t x = 0; x < stride; x++) {
      int a = x >= (size_t)img->bpp ? out[x - (size_t)img->bpp] : 0, b = up ? up[x] : 0;
      int c = up && x >= (size_t)img->bpp ? up[x - (size_t)img->bpp] : 0;
      int pred = type == 1 ? a : type == 2 ? b : type == 3 ? (a + b) / 2 : type == 4 ? paeth(a, b, c) : 0;
      out[x] = (unsigned char)(in[x] + pred);
    }
  }
}

static image_t decode_png(const unsigned char *d, size_t n) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  image_t img = {0};
  ck_assert_msg(n > 33 && memcmp(d, sig, 8) == 0, "not a PNG (%zu bytes)", n);
  unsigned char *idat = malloc(n);
  size_t nidat = 0;
  for (size_t off = 8; off + 12 <= n;) {
    uint32_t len = be32(d + off);
    const unsigned char *type = d + off + 4, *data = d + off + 8;
    ck_assert(off + 12 + len <= n);
    if (memcmp(type, "IHDR", 4) == 0) {
      img.w = be32(data);
      img.h = be32(data + 4);
      ck_assert_msg(data[8] == 8 && (data[9] == 2 || data[9] == 6) && data[12] == 0,
                    "PNG depth %d colour type %d interlace %d", data[8], data[9], data[12]);
      img.bpp = data[9] == 6 ? 4 : 3;
    } else if (memcmp(type, "IDAT", 4) == 0) {
      memcpy(idat + nidat, data, len);
      nidat += len;
    } else if (memcmp(type, "IEND", 4) == 0) {
      break;
    }
    off += 12 + len;
  }
  ck_assert_msg(img.w == WIDTH && img.h == HEIGHT, "screenshot is %ux%u", img.w, img.h);
  unsigned long rawlen = (unsigned long)img.h * (1 + (unsigned long)img.w * (unsigned long)img.bpp);
  unsigned char *raw = malloc(rawlen);
  ck_assert_int_eq(z_uncompress(raw, &rawlen, idat, nidat), 0);
  ck_assert_uint_eq(rawlen, (unsigned long)img.h * (1 + (unsigned long)img.w * (unsigned long)img.bpp));
  img.px = malloc((size_t)img.w * img.h * (size_t)img.bpp);
  unfilter(&img, raw);
  free(raw);
  free(idat);
  return img;
}

static void spill(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return;
  fwrite(b, 1, n, f);
  fclose(f);
}

/* ---- the test ---- */

START_TEST(screenshot_shows_the_plots) {
  char *dir = pt_test_tmpdir(), *db = pt_test_join(dir, "a.db"), *page = pt_test_join(dir, "report.html");
  ck_assert_int_eq(pt_emitdb_build(db, NULL), 0);
  pt_test_out_t r = pt_test_pipetune((const char *const[]){"report", "--db", db, "-o", page, NULL});
  ck_assert_msg(r.status == 0, "%s", r.err);
  pt_test_out_free(&r);
  char *shot = pt_test_join(dir, "shot.png"), *profile = pt_test_join(dir, "profile");
  char url[4200], shot_arg[4200], profile_arg[4200];
  snprintf(url, sizeof url, "file://%s", page);
  snprintf(shot_arg, sizeof shot_arg, "--screenshot=%s", shot);
  snprintf(profile_arg, sizeof profile_arg, "--user-data-dir=%s", profile);
  /* timeout(1) so a hung browser fails the test instead of leaving it behind. */
  r = pt_test_run("/usr/bin/timeout",
                  (const char *const[]){"90", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                        "--disable-quic", "--no-first-run",
                                        "--disable-background-networking",
                                        "--disable-component-update", "--disable-sync",
                                        profile_arg, shot_arg, "--window-size=1280,2000", url,
                                        NULL});
  ck_assert_msg(r.status == 0, "chromium exit %d: %s", r.status, r.err);
  pt_test_out_free(&r);
  size_t n;
  unsigned char *png = (unsigned char *)pt_test_slurp(shot, &n);
  char *keep = pt_test_build_path("tests/report-screenshot.png");
  spill(keep, png, n);
  image_t img = decode_png(png, n);
  /* Distinct colours, and the pixels of the first two series colours. */
  unsigned char *seen = calloc(1 << 21, 1);
  size_t colours = 0, blue = 0, orange = 0, dark = 0;
  for (size_t i = 0; i < (size_t)img.w * img.h; i++) {
    const unsigned char *p = img.px + i * (size_t)img.bpp;
    uint32_t rgb = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    if (!(seen[rgb >> 3] & (1 << (rgb & 7)))) seen[rgb >> 3] |= (unsigned char)(1 << (rgb & 7)), colours++;
    blue += abs(p[0] - 0x1f) <= 3 && abs(p[1] - 0x77) <= 3 && abs(p[2] - 0xb4) <= 3;
    orange += abs(p[0] - 0xff) <= 3 && abs(p[1] - 0x7f) <= 3 && abs(p[2] - 0x0e) <= 3;
    dark += p[0] < 64 && p[1] < 64 && p[2] < 64;
  }
  printf("screenshot %ux%u: %zu colours, %zu #1f77b4 pixels, %zu #ff7f0e, %zu dark; kept as %s\n",
         img.w, img.h, colours, blue, orange, dark, keep);
  ck_assert_uint_gt(colours, 16);
  ck_assert_uint_gt(blue, 2000);
  ck_assert_uint_gt(orange, 500);
  ck_assert_uint_gt(dark, 2000);
  free(seen);
  free(img.px);
  free(png);
  free(keep);
  free(shot);
  free(profile);
  pt_test_rmdir(dir);
  free(dir);
  free(db);
  free(page);
}
END_TEST

int main(void) {
  chromium = pt_test_find_prog("chromium");
  if (chromium == NULL) chromium = pt_test_find_prog("chromium-browser");
  if (chromium == NULL) {
    printf("SKIP: no chromium on PATH (Debian: apt-get install chromium, or scripts/setup)\n");
    return 77;
  }
  void *z = dlopen("libz.so.1", RTLD_NOW);
  if (z) *(void **)&z_uncompress = dlsym(z, "uncompress");
  if (z_uncompress == NULL) {
    printf("SKIP: cannot load zlib's uncompress from libz.so.1 to decode the screenshot\n");
    free(chromium);
    return 77;
  }
  Suite *s = suite_create("report_render");
  TCase *tc = tcase_create("render");
  tcase_set_timeout(tc, 150);
  tcase_add_test(tc, screenshot_shows_the_plots);
  suite_add_tcase(s, tc);
  int status = pt_test_run_suite(s);
  dlclose(z);
  free(chromium);
  return status;
}
