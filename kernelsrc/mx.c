/* Microscaling formats (see mx.h). Element encoders share one minifloat
 * rounder: the value is split into an exponent (no lower than the format's
 * minimum normal exponent, which yields subnormals) and an integer count of
 * that exponent's quantum, rounded to nearest even in double where it is
 * exact. */
#include "mx.h"

#include <math.h>
#include <string.h>

typedef struct {
  int mbits;   /* mantissa bits */
  int bias;
  double max;  /* largest finite magnitude */
} minifloat_t;

static const minifloat_t e2m1_fmt = {1, 1, PT_MX_E2M1_MAX};
static const minifloat_t e4m3_fmt = {3, 7, PT_MX_E4M3_MAX};

static const float e2m1_values[16] = {
  0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
  -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
};

/* floor(log2(a)) for finite a > 0, exact (frexp gives a = m * 2^ex, m in
 * [0.5, 1)). */
static int floor_log2(double a) {
  int ex;
  frexp(a, &ex);
  return ex - 1;
}

/* Magnitude bits (exponent field and mantissa, no sign) of |v| rounded to
 * nearest even and saturated; v is finite or infinite, not NaN. */
static unsigned encode_magnitude(const minifloat_t *f, double a) {
  int emin = 1 - f->bias;
  if (a >= f->max) a = f->max;
  if (a == 0.0) return 0;
  int e = floor_log2(a);
  if (e < emin) e = emin;
  /* a <= max and max is on the grid, so rounding cannot pass it */
  double r = ldexp(nearbyint(ldexp(a, f->mbits - e)), e - f->mbits);
  if (r == 0.0) return 0;
  e = floor_log2(r);
  if (e < emin)  /* subnormal: exponent field 0 */
    return (unsigned)ldexp(r, f->mbits - emin);
  unsigned mant = (unsigned)ldexp(r, f->mbits - e) - (1u << f->mbits);
  return (unsigned)(e + f->bias) << f->mbits | mant;
}

double pt_mx_e2m1_decode(uint8_t code) {
  return e2m1_values[code & 0xF];
}

uint8_t pt_mx_e2m1_encode(double v) {
  if (isnan(v)) return 0;
  unsigned sign = signbit(v) ? 0x8u : 0u;
  return (uint8_t)(sign | encode_magnitude(&e2m1_fmt, fabs(v)));
}

double pt_mx_e4m3_decode(uint8_t code) {
  int sign = code & 0x80;
  int exp = (code >> 3) & 0xF;
  int mant = code & 0x7;
  double a;
  if (exp == 0xF && mant == 0x7) return sign ? -NAN : NAN;
  if (exp == 0)
    a = ldexp(mant, -9);  /* subnormal: mant * 2^(1-7-3) */
  else
    a = ldexp(8 + mant, exp - 10);
  return sign ? -a : a;
}

uint8_t pt_mx_e4m3_encode(double v) {
  if (isnan(v)) return signbit(v) ? 0xFF : PT_MX_E4M3_NAN;
  unsigned sign = signbit(v) ? 0x80u : 0u;
  return (uint8_t)(sign | encode_magnitude(&e4m3_fmt, fabs(v)));
}

double pt_mx_e8m0_decode(uint8_t x) {
  if (x == PT_MX_E8M0_NAN) return NAN;
  return ldexp(1.0, (int)x - PT_MX_E8M0_BIAS);
}

uint8_t pt_mx_e8m0_encode(int e) {
  if (e < PT_MX_SCALE_MIN) e = PT_MX_SCALE_MIN;
  if (e > PT_MX_SCALE_MAX) e = PT_MX_SCALE_MAX;
  return (uint8_t)(e + PT_MX_E8M0_BIAS);
}

double pt_mx_elem_decode(pt_mx_elem_t fmt, uint8_t code) {
  return fmt == PT_MX_E2M1 ? pt_mx_e2m1_decode(code) : pt_mx_e4m3_decode(code);
}

uint8_t pt_mx_elem_encode(pt_mx_elem_t fmt, double v) {
  return fmt == PT_MX_E2M1 ? pt_mx_e2m1_encode(v) : pt_mx_e4m3_encode(v);
}

int pt_mx_elem_emax(pt_mx_elem_t fmt) {
  return fmt == PT_MX_E2M1 ? 2 : 8;
}

uint16_t pt_mx_bf16_from_f32(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (isnan(v)) return (uint16_t)((bits >> 16) | 0x40);  /* keep it NaN */
  bits += 0x7FFF + ((bits >> 16) & 1);
  return (uint16_t)(bits >> 16);
}

float pt_mx_bf16_to_f32(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

int pt_mx_block_exponent(pt_mx_elem_t fmt, const float *v, int n) {
  double amax = 0.0;
  for (int i = 0; i < n; i++) {
    if (isnan(v[i])) return PT_MX_E8M0_NAN - PT_MX_E8M0_BIAS;
    double a = fabs((double)v[i]);
    if (a > amax) amax = a;
  }
  if (amax == 0.0) return PT_MX_SCALE_MIN;
  if (isinf(amax)) return PT_MX_SCALE_MAX;
  int e = floor_log2(amax) - pt_mx_elem_emax(fmt);
  if (e < PT_MX_SCALE_MIN) e = PT_MX_SCALE_MIN;
  if (e > PT_MX_SCALE_MAX) e = PT_MX_SCALE_MAX;
  return e;
}

uint8_t pt_mx_quantize_block(pt_mx_elem_t fmt, const float *v, int n,
                             uint8_t *codes) {
  int e = pt_mx_block_exponent(fmt, v, n);
  if (e + PT_MX_E8M0_BIAS == PT_MX_E8M0_NAN) {
    memset(codes, 0, (size_t)n);
    return PT_MX_E8M0_NAN;
  }
  for (int i = 0; i < n; i++)
    codes[i] = pt_mx_elem_encode(fmt, ldexp((double)v[i], -e));
  return (uint8_t)(e + PT_MX_E8M0_BIAS);
}

size_t pt_mx_row_bytes(pt_mx_elem_t fmt, size_t k) {
  return fmt == PT_MX_E2M1 ? (k + 1) / 2 : k;
}

size_t pt_mx_row_scales(size_t k) {
  return (k + PT_MX_BLOCK - 1) / PT_MX_BLOCK;
}

void pt_mx_quantize_row(pt_mx_elem_t fmt, const float *v, size_t k,
                        uint8_t *codes, uint8_t *scales) {
  uint8_t block[PT_MX_BLOCK];
  if (fmt == PT_MX_E2M1) memset(codes, 0, pt_mx_row_bytes(fmt, k));
  for (size_t b = 0; b * PT_MX_BLOCK < k; b++) {
    size_t k0 = b * PT_MX_BLOCK;
    int n = (int)(k - k0 < PT_MX_BLOCK ? k - k0 : PT_MX_BLOCK);
    scales[b] = pt_mx_quantize_block(fmt, v + k0, n, block);
    if (fmt == PT_MX_E4M3) {
      memcpy(codes + k0, block, (size_t)n);
      continue;
    }
    for (int i = 0; i < n; i++) pt_mx_fp4_set(codes, k0 + (size_t)i, block[i]);
  }
}

void pt_mx_dequantize_row(pt_mx_elem_t fmt, const uint8_t *codes,
                          const uint8_t *scales, size_t k, float *out) {
  for (size_t b = 0; b * PT_MX_BLOCK < k; b++) {
    size_t k0 = b * PT_MX_BLOCK;
    size_t k1 = k0 + PT_MX_BLOCK < k ? k0 + PT_MX_BLOCK : k;
    /* A power of two times an element is exact in float (see mx.h). */
    float s = (float)pt_mx_e8m0_decode(scales[b]);
    if (fmt == PT_MX_E2M1) {
      size_t i = k0;  /* k0 is even: whole bytes, then an odd tail */
      for (; i + 1 < k1; i += 2) {
        uint8_t byte = codes[i / 2];
        out[i] = e2m1_values[byte & 0xF] * s;
        out[i + 1] = e2m1_values[byte >> 4] * s;
      }
      if (i < k1) out[i] = e2m1_values[codes[i / 2] & 0xF] * s;
    } else
      for (size_t i = k0; i < k1; i++)
        out[i] = (float)pt_mx_e4m3_decode(codes[i]) * s;
  }
}

void pt_mx_bf16_from_f32_row(const float *in, size_t n, uint16_t *out) {
  for (size_t i = 0; i < n; i++) out[i] = pt_mx_bf16_from_f32(in[i]);
}

void pt_mx_bf16_to_f32_row(const uint16_t *in, size_t n, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = pt_mx_bf16_to_f32(in[i]);
}
