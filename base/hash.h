/* The project's one non-cryptographic hash for small keys: 64-bit FNV-1a.
 * (Content digests and cache keys use XXH3 from libxxhash, in db/.)
 */
#ifndef PT_HASH_H
#define PT_HASH_H

#include <stdint.h>

#define PT_HASH_FNV1A_BASIS 0xcbf29ce484222325ull  /* the offset basis */

/* One FNV-1a step: h xor v, times the FNV prime. v is usually a byte; a
 * wider value is mixed in whole. */
uint64_t pt_hash_fnv1a_mix(uint64_t h, uint64_t v);
/* FNV-1a of the bytes of a NUL-terminated string, from the offset basis. */
uint64_t pt_hash_fnv1a_str(const char *s);

#endif
