/* Tile geometry derived from the knobs. Compile-time inputs: PT_MMA (0 the
 * portable mma.sync generation, 1 the wgmma generation), PT_BM, PT_BN,
 * PT_KWAVE, PT_KSTAGES, PT_BHOIST, PT_SPART, PT_NT, PT_EPILOG, PT_PERSIST,
 * PT_DTYPE (0 a4w4, 1 a8w4, 2 a16w4), PT_ACT (0 silu, 1 swiglu_oai), and
 * PT_STAGE (1 or 2, set by the stage's source). */
#ifndef PT_TILE_CUH
#define PT_TILE_CUH

#include "pt_common.cuh"

/* One guard per define (tests/test_knob_table checks one exists for every
 * knob of the table): a kernel built without one fails instead of silently
 * taking 0. */
#ifndef PT_STAGE
#error "pipetune kernel built without PT_STAGE"
#endif
#ifndef PT_MMA
#error "pipetune kernel built without PT_MMA"
#endif
#ifndef PT_BM
#error "pipetune kernel built without PT_BM"
#endif
#ifndef PT_BN
#error "pipetune kernel built without PT_BN"
#endif
#ifndef PT_KWAVE
#error "pipetune kernel built without PT_KWAVE"
#endif
#ifndef PT_KSTAGES
#error "pipetune kernel built without PT_KSTAGES"
#endif
#ifndef PT_BHOIST
#error "pipetune kernel built without PT_BHOIST"
#endif
#ifndef PT_SPART
#error "pipetune kernel built without PT_SPART"
#endif
#ifndef PT_NT
#error "pipetune kernel built without PT_NT"
#endif
#ifndef PT_EPILOG
#error "pipetune kernel built without PT_EPILOG"
#endif
#ifndef PT_PERSIST
#error "pipetune kernel built without PT_PERSIST"
#endif
#ifndef PT_DTYPE
#error "pipetune kernel built without PT_DTYPE"
#endif
#ifndef PT_ACT
#error "pipetune kernel built without PT_ACT"
#endif

#define PT_KT 128                    /* k per warp per step: 4 MX blocks */
#define PT_CLD (PT_BN + 4)           /* C tile row stride (floats) */
#define PT_CTILE_BYTES (PT_BM * PT_CLD * 4)

#if PT_MMA == 1
/* wgmma generation (space/constraints.c mirrors these sizes): warpgroup 0
 * produces (bulk copies of the repacked weights, gathered activation rows),
 * warpgroups 1..KWAVE consume one 128-k chunk each per step, 64 weight rows
 * per fragment, PT_WG_NF fragments per tile. A ring of PT_NS stages on
 * full/empty mbarriers; the C tile and the row tables sit after it, so the
 * producer never waits for an epilogue's smem. */
#define PT_WG_NF (PT_BN / 64)
#define PT_THREADS (128 * (PT_KWAVE + 1))
#define PT_NS (2 * PT_KSTAGES)
#define PT_WG_WBYTES (PT_KWAVE * PT_WG_NF * 4096)
#define PT_WG_SBYTES (PT_KWAVE * PT_WG_NF * 256)
#define PT_WG_ABYTES (PT_KWAVE * PT_BM * 256)
#define PT_SLOT_BYTES (PT_WG_WBYTES + PT_WG_SBYTES + PT_WG_ABYTES)
#define PT_MAIN_BYTES (PT_NS * PT_SLOT_BYTES + PT_CTILE_BYTES)
#define PT_BARS_OFF (PT_MAIN_BYTES + PT_BM * 12)
#define PT_SMEM_BYTES (PT_BARS_OFF + PT_NS * 16)
#else
#define PT_KSUP (PT_KT * PT_KWAVE)   /* k per block step */
/* Weight rows per warp: 32 keeps loads wide at few tokens; 16 bounds the
 * accumulators (rows x BM / warp) when BM is large. */
#define PT_WROWS (PT_BM >= 64 ? 16 : 32)
#define PT_MB16 (PT_WROWS / 16)
#define PT_NB (PT_BM / PT_MMA_N)
#define PT_WN (PT_BN / PT_WROWS)
#define PT_NWARPS (PT_WN * PT_KWAVE)
#define PT_THREADS (PT_WARP * PT_NWARPS)
/* K-tiles stream through a ring of PT_NS shared-memory slots, each holding
 * one block step's weights (BN rows x KSUP/2 bytes), their scale windows
 * (per row and k wave, the 4-aligned 8 bytes around the 4 scale bytes) and
 * the activation stage (BM x KSUP bf16). kstages=1: 2 slots, kstages=2: 4
 * (AMD, whose copies are synchronous: 2 and 3, within 64 KiB of LDS).
 * PT_WDEPTH steps are issued ahead; bhoist issues before the barrier, which
 * leaves one slot of the ring in use by slower warps. */
#if PT_WARP == 64
#define PT_NS (PT_KSTAGES + 1)
#else
#define PT_NS (2 * PT_KSTAGES)
#endif
#define PT_WDEPTH (PT_NS - 1 - PT_BHOIST)
#define PT_WROW_BYTES (PT_KSUP / 2)
#define PT_SWIN 8
#define PT_WSLOT_BYTES (PT_BN * PT_WROW_BYTES)
#define PT_SSLOT_BYTES (PT_BN * PT_KWAVE * PT_SWIN)
#define PT_ASTAGE_BYTES (PT_BM * PT_KSUP * 2)
#define PT_SLOT_BYTES (PT_WSLOT_BYTES + PT_SSLOT_BYTES + PT_ASTAGE_BYTES)
#define PT_MAIN_BYTES (PT_NS * PT_SLOT_BYTES > PT_CTILE_BYTES ? \
                       PT_NS * PT_SLOT_BYTES : PT_CTILE_BYTES)
/* Dynamic shared memory of a stage kernel: ring / C tile, then per-row
 * A row index, token+slot entry and routing weight. */
#define PT_SMEM_BYTES (PT_MAIN_BYTES + PT_BM * 12)
#endif

#endif
