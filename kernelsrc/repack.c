/* Weight repack for the wgmma generation (see repack.h). */
#include "repack.h"

#include <string.h>

static void dims(const pt_moe_shape_t *sh, pt_repack_stage_t stage, int *n,
                 int *k)
{
  *n = stage == PT_REPACK_GEMM1 ? 2 * sh->inter_dim : sh->model_dim;
  *k = stage == PT_REPACK_GEMM1 ? sh->model_dim : sh->inter_dim;
}

void pt_repack_sizes(const pt_moe_shape_t *sh, pt_repack_stage_t stage,
                     size_t *wbytes, size_t *sbytes)
{
  int n, k;
  dims(sh, stage, &n, &k);
  size_t blocks = (size_t)sh->experts * (size_t)(n / 64) * (size_t)((k + 127) / 128);
  *wbytes = blocks * 4096;
  *sbytes = blocks * 256;
}

int pt_repack_row(const pt_moe_shape_t *sh, pt_repack_stage_t stage, int q,
                  int r)
{
  if (stage == PT_REPACK_GEMM2)
    return 64 * q + r;
  return (r < 32 ? 0 : sh->inter_dim) + 32 * q + (r & 31);
}

int pt_repack_k(int t, int i, int p)
{
  int j = 2 * i + (p & 3) / 2;
  return 16 * j + 2 * t + 8 * (p & 1) + p / 4;
}

/* src[o]: the chunk-local k of output nibble o (byte o / 2, high nibble
 * when o is odd) of a row's 64 bytes. */
static void nibble_map(uint8_t src[128])
{
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 4; i++)
      for (int p = 0; p < 8; p++)
        src[2 * (16 * t + 4 * i + p / 2) + (p & 1)] = (uint8_t)pt_repack_k(t, i, p);
}

/* One row's 64 bytes and 4 scale bytes of chunk c (zero past K). */
static void pack_row(const uint8_t *row, const uint8_t *srow, int K, int c,
                     const uint8_t src[128], uint8_t out[64], uint8_t sout[4])
{
  uint8_t in[64] = {0};
  int left = K - 128 * c;
  memcpy(in, row + 64 * (size_t)c, left >= 128 ? 64 : (size_t)left / 2);
  for (int o = 0; o < 64; o++) {
    int a = src[2 * o], b = src[2 * o + 1];
    unsigned lo = (in[a / 2] >> (4 * (a & 1))) & 15u;
    unsigned hi = (in[b / 2] >> (4 * (b & 1))) & 15u;
    out[o] = (uint8_t)(lo | hi << 4);
  }
  for (int i = 0; i < 4; i++) {
    int b = 4 * c + i;
    sout[i] = b < K / 32 ? srow[b] : 0;
  }
}

void pt_repack_wgmma(const pt_moe_shape_t *sh, pt_repack_stage_t stage,
                     const uint8_t *w, const uint8_t *ws, uint8_t *wout,
                     uint8_t *sout)
{
  int n, K;
  dims(sh, stage, &n, &K);
  int groups = n / 64, chunks = (K + 127) / 128;
  uint8_t src[128];
  nibble_map(src);
  size_t blk = 0;
  for (int e = 0; e < sh->experts; e++)
    for (int q = 0; q < groups; q++)
      for (int c = 0; c < chunks; c++, blk++)
        for (int r = 0; r < 64; r++) {
          size_t g = (size_t)e * (size_t)n + (size_t)pt_repack_row(sh, stage, q, r);
          pack_row(w + g * (size_t)(K / 2), ws + g * (size_t)(K / 32), K, c, src,
                   wout + blk * 4096 + (size_t)r * 64, sout + blk * 256 + (size_t)r * 4);
        }
}
