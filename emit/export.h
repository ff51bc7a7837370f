/* The generated dispatch table for non-C consumers (DESIGN §8): the same
 * table pt_emit_source() writes, as JSON or CSV. Both are deterministic:
 * the same database gives the same bytes.
 *
 * JSON: {"generator", "abi", "source", "digest", "devices", "measured":
 * {"first", "last", "results"}, "selection": {"regime", "routing",
 * "routing_param"}, "configs": [{"sbm", "gemm1": {"spec", knobs...},
 * "gemm2": {...}}], "global_default": {"config", ...}, "archs": [{"arch",
 * "default": {...}, "families": [{"name", shape, "dtype", "act",
 * "intervals": [{"tokens_lo", "tokens_hi" (null: no upper end), "config",
 * "gemm1_won_at": [first, last], "gemm2_won_at": [...]}]}]}]}.
 * Config indices are the generated C table's.
 *
 * CSV: one row per interval (level "family"), per arch default
 * ("arch_default") and the global default ("global_default"), with the
 * config's knobs spelled out; empty fields where a column does not apply.
 */
#ifndef PT_EXPORT_H
#define PT_EXPORT_H

#include <stdio.h>

#include "emit.h"
#include "error.h"

int pt_export_json(const pt_emit_table_t *t, const pt_emit_opts_t *o, FILE *f,
                   pt_err_t *err);
int pt_export_csv(const pt_emit_table_t *t, FILE *f, pt_err_t *err);

#endif
