/* Tile scheduler: maps a block's linear work index to an output tile. A pure
 * function shared by the device code and host tests (which check that it is
 * a bijection on the tile grid for many shapes).
 *
 * spart = 0: linear m-major (tile = m * n_blocks + n).
 * spart = G*100 + M01: ck_tile's spatially-local partitioner. The T tiles are
 * cut into G contiguous chunks dealt round-robin over the block ids (block b
 * takes the (b / G)-th tile of chunk b % G; the first chunks hold one tile
 * more when G does not divide T), then the tile rows are walked in bands of
 * M01 rows, column-major inside a band (the last band may be shorter). */
#ifndef PT_SCHED_H
#define PT_SCHED_H

#if defined(__CUDACC__) || defined(__HIPCC__) || defined(__CUDACC_RTC__) || \
    defined(__HIPCC_RTC__)
#define PT_HD __host__ __device__ __forceinline__
#else
#define PT_HD static inline
#endif

/* Work descriptor of one tile (DESIGN §5): k_begin, k_end in 128-k chunks
 * (split s of splitk takes its share), tile its output tile's index. */
typedef struct pt_work_s {
  int m_block, n_block, expert, k_begin, k_end, valid, tile, split;
} pt_work_t;

/* Tile (m, n) of linear work index b among m_blocks x n_blocks. */
PT_HD void pt_sched_tile(int spart, int b, int m_blocks, int n_blocks,
                         int *m, int *n)
{
  int t = m_blocks * n_blocks;
  int g = spart / 100, m01 = spart % 100;
  if (spart == 0 || g < 1 || m01 < 1) {
    *m = b / n_blocks;
    *n = b % n_blocks;
    return;
  }
  if (g > t)
    g = t;
  int gsize = (t + g - 1) / g;               /* tiles per big chunk */
  int big = t - g * (gsize - 1);             /* chunks holding gsize tiles */
  int gx = b % g, gy = b / g;
  int r = gx < big ? gx * gsize + gy
                   : big * gsize + (gx - big) * (gsize - 1) + gy;
  int mi = r / n_blocks, ni = r % n_blocks;
  int band = mi / m01;
  int rows = m_blocks - band * m01 < m01 ? m_blocks - band * m01 : m01;
  int local = ni + (mi - band * m01) * n_blocks;
  *n = local / rows;
  *m = band * m01 + local % rows;
}

#endif
