/* 64-bit FNV-1a (see hash.h). */
#include "hash.h"

uint64_t pt_hash_fnv1a_mix(uint64_t h, uint64_t v) {
  return (h ^ v) * 0x100000001b3ull;
}

uint64_t pt_hash_fnv1a_str(const char *s) {
  uint64_t h = PT_HASH_FNV1A_BASIS;
  for (; *s; s++) h = pt_hash_fnv1a_mix(h, (unsigned char)*s);
  return h;
}
