/* Microscaling number formats (OCP MX v1.0, DESIGN §3): the e2m1 (FP4) and
 * e4m3 (FP8 "fn") element formats, the e8m0 block scale, bf16, and block
 * quantization of 32 elements sharing one scale.
 *
 * Rounding is round-to-nearest-even everywhere; element encoders saturate
 * (out-of-range values and infinities become the largest finite magnitude,
 * sign kept). Zero keeps its sign (-0 encodes as the negative-zero code).
 *
 * NaN: e2m1 has no NaN, so pt_mx_e2m1_encode(NaN) is +0; e4m3 NaN is
 * S.1111.111 and e8m0 NaN is 255. Block quantization gives a block holding
 * a NaN the NaN scale 255 with all element codes 0, so the whole block
 * dequantizes to NaN (OCP: a NaN scale makes every element NaN). Infinities
 * are not NaN: amax = Inf clamps the scale exponent to 127 and the infinite
 * elements saturate.
 *
 * Dequantizing e2m1 or e4m3 times e8m0 is exact in double; in float it is
 * exact while |value| stays below FLT_MAX (scale exponents up to 125 for
 * e2m1 and 118 for e4m3), which every generated problem satisfies.
 */
#ifndef PT_MX_H
#define PT_MX_H

#include <stddef.h>
#include <stdint.h>

#include "moe.h" /* PT_MX_BLOCK */

typedef enum {
  PT_MX_E2M1 = 0,  /* FP4: bias 1, magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6 */
  PT_MX_E4M3 = 1,  /* FP8 fn: bias 7, max 448, subnormals, no Inf */
} pt_mx_elem_t;

#define PT_MX_E2M1_MAX 6.0
#define PT_MX_E4M3_MAX 448.0
#define PT_MX_E4M3_NAN 0x7F      /* positive NaN code; 0xFF is negative */
#define PT_MX_E8M0_NAN 255
#define PT_MX_E8M0_BIAS 127
#define PT_MX_SCALE_MIN (-127)   /* scale exponent range of quantization */
#define PT_MX_SCALE_MAX 127

/* ---- element formats ---- */

double pt_mx_e2m1_decode(uint8_t code);     /* low 4 bits used */
uint8_t pt_mx_e2m1_encode(double v);        /* 4-bit code */
double pt_mx_e4m3_decode(uint8_t code);     /* NaN for 0x7F and 0xFF */
uint8_t pt_mx_e4m3_encode(double v);
/* 2^(x-127); NaN for 255. */
double pt_mx_e8m0_decode(uint8_t x);
/* Scale code of exponent e, clamped to [-127, 127] (so never NaN). */
uint8_t pt_mx_e8m0_encode(int e);

double pt_mx_elem_decode(pt_mx_elem_t fmt, uint8_t code);
uint8_t pt_mx_elem_encode(pt_mx_elem_t fmt, double v);
/* Largest exponent of the element format: 2 for e2m1, 8 for e4m3. */
int pt_mx_elem_emax(pt_mx_elem_t fmt);

/* bf16 as its 16 bits: from f32 rounds to nearest even (overflow gives Inf,
 * NaN stays NaN with its sign and top payload bits, made quiet); to f32 is
 * exact. */
uint16_t pt_mx_bf16_from_f32(float v);
float pt_mx_bf16_to_f32(uint16_t b);

/* ---- FP4 packing: element 2i in the low nibble of byte i, 2i+1 high ---- */

static inline uint8_t pt_mx_fp4_get(const uint8_t *packed, size_t i) {
  return (uint8_t)((packed[i >> 1] >> ((i & 1) * 4)) & 0xF);
}

static inline void pt_mx_fp4_set(uint8_t *packed, size_t i, uint8_t code) {
  unsigned shift = (unsigned)(i & 1) * 4;
  packed[i >> 1] = (uint8_t)((packed[i >> 1] & ~(0xFu << shift)) |
                             ((code & 0xFu) << shift));
}

/* ---- blocks ---- */

/* Scale exponent DESIGN §3 gives a block of n values: floor(log2(amax)) -
 * emax clamped to [-127, 127], -127 for an all-zero block. Returns
 * PT_MX_E8M0_NAN - 127 (= 128) when a value is NaN. */
int pt_mx_block_exponent(pt_mx_elem_t fmt, const float *v, int n);

/* Quantizes n <= 32 values (one block) into one code per byte (codes[n])
 * and returns the block's e8m0 scale code. */
uint8_t pt_mx_quantize_block(pt_mx_elem_t fmt, const float *v, int n,
                             uint8_t *codes);

/* Bytes of k elements in a row: (k + 1) / 2 for e2m1 (packed), k for e4m3;
 * scale count of k elements: ceil(k / 32). */
size_t pt_mx_row_bytes(pt_mx_elem_t fmt, size_t k);
size_t pt_mx_row_scales(size_t k);

/* Quantizes a row of k values in blocks of 32 along the row (the last block
 * may be short): codes get pt_mx_row_bytes(fmt, k) bytes (e2m1 packed two per
 * byte; an odd k leaves the last high nibble 0), scales get
 * pt_mx_row_scales(k) codes. */
void pt_mx_quantize_row(pt_mx_elem_t fmt, const float *v, size_t k,
                        uint8_t *codes, uint8_t *scales);

/* The exact inverse of the layout above: out[k] = element * scale. */
void pt_mx_dequantize_row(pt_mx_elem_t fmt, const uint8_t *codes,
                          const uint8_t *scales, size_t k, float *out);

/* bf16 rows: out[i] = bf16(in[i]) and back. */
void pt_mx_bf16_from_f32_row(const float *in, size_t n, uint16_t *out);
void pt_mx_bf16_to_f32_row(const uint16_t *in, size_t n, float *out);

#endif
