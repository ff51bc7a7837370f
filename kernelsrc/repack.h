/* Weight repack for the wgmma kernel generation (DESIGN §5 "Weight
 * layout"): made once when a problem's weights are loaded, never inside a
 * timed stage; the oracle, dumps and database keep the canonical layout of
 * moe.h.
 *
 * Layout of one stage's weights (N rows of K e2m1 values per expert, gemm1
 * N = 2I, gemm2 N = H). K is padded to Kp = 128 * C (C chunks of 128 k)
 * with zero codes. Rows go in 64-row groups q: gemm1 group q holds gate rows
 * 32q..32q+31 then up rows I+32q..I+32q+31, gemm2 group q rows 64q..64q+63.
 *   weights [E][N/64][C][64 rows][4 slots][16 bytes]
 *   scales  [E][N/64][C][64 rows][4 bytes]   (byte i: block 4c+i, 0 past K)
 * Slot t of a row is what lane t of the warp holding the row feeds wgmma's
 * A operand over the chunk's 8 k16 steps j: word i (steps 2i, 2i+1, which
 * lie in MX block i of the chunk), nibble p < 4 and p + 4 the bf16 pair of
 * step 2i + p/2 at k = 16j + 2t + 8(p & 1) and that k + 1. */
#ifndef PT_REPACK_H
#define PT_REPACK_H

#include <stddef.h>
#include <stdint.h>

#include "moe.h"

typedef enum {
  PT_REPACK_GEMM1 = 1,  /* w1: N = 2I, K = H */
  PT_REPACK_GEMM2 = 2,  /* w2: N = H, K = I */
} pt_repack_stage_t;

/* Bytes of the repacked weights and scales of one stage (all experts). */
void pt_repack_sizes(const pt_moe_shape_t *sh, pt_repack_stage_t stage,
                     size_t *wbytes, size_t *sbytes);

/* Canonical row of repacked row r (0..63) of group q. */
int pt_repack_row(const pt_moe_shape_t *sh, pt_repack_stage_t stage, int q,
                  int r);

/* Canonical k (0..Kp) of nibble p (0..7) of word i (0..3) of slot t. */
int pt_repack_k(int t, int i, int p);

/* Repacks w / ws (canonical, moe.h) into wout / sout, sized by
 * pt_repack_sizes. */
void pt_repack_wgmma(const pt_moe_shape_t *sh, pt_repack_stage_t stage,
                     const uint8_t *w, const uint8_t *ws, uint8_t *wout,
                     uint8_t *sout);

#endif
