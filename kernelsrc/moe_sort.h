/* The sorting contract of DESIGN §4: (token, slot) pairs grouped by expert
 * into blocks of SBM rows, the layout both GPU stages and the oracle read.
 *
 * For each expert in ascending order, its pairs in token order, encoded
 * token | slot << 24 (PT_SORT_TOKEN / PT_SORT_SLOT in moe.h), padded up to a
 * multiple of sbm with the sentinel token M (weight 0). Every sbm-block
 * belongs to one expert (block_expert); experts with no pairs get no block.
 */
#ifndef PT_MOE_SORT_H
#define PT_MOE_SORT_H

#include <stdint.h>

#include "error.h"
#include "moe.h"

/* Worst-case padded row count P of any routing of M tokens, K slots and E
 * experts: M*K + min(E, M*K)*(sbm-1), rounded up to a multiple of sbm. Size
 * device buffers with it. -1 for bad arguments (M < 0, K < 1, E < 1,
 * sbm < 1) or a count above INT_MAX. */
int pt_sort_capacity(int M, int K, int E, int sbm);

/* Sorts topk_ids/topk_w [M, K] (ids in [0, E)) into out, which it allocates
 * at pt_sort_capacity() entries: sorted_ids and sorted_w have capacity
 * entries (those past P hold the sentinel M and weight 0), block_expert
 * capacity/sbm (those past P/sbm hold -1). PT_EINVAL for an id out of range,
 * M >= 2^24, K > 128 or bad sizes; out is then left empty. The caller frees
 * out with pt_sort_free() after success. */
int pt_sort_run(const int32_t *topk_ids, const float *topk_w, int M, int K,
                int E, int sbm, pt_moe_sorted_t *out, pt_err_t *err);
void pt_sort_free(pt_moe_sorted_t *s);

/* Per-BM-block expert ids of a stage working at bm rows, bm dividing sbm:
 * out[j] = block_expert[j*bm/sbm] for j < P/bm. PT_EINVAL if bm does not
 * divide sbm. */
int pt_sort_block_experts(const pt_moe_sorted_t *s, int bm, int32_t *out,
                          pt_err_t *err);

#endif
