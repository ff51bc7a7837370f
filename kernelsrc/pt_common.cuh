/* Common device vocabulary: the arch header, the kernel arguments and exact
 * MX format conversions (DESIGN §3). Needs no knob defines. */
#ifndef PT_COMMON_CUH
#define PT_COMMON_CUH

#if defined(__HIPCC_RTC__) || defined(__HIP_PLATFORM_AMD__) || defined(__HIP__)
#include "pt_arch_amd.cuh"
#else
#include "pt_arch_nv.cuh"
#endif
#include "pt_args.h"

/* ---- exact format conversions ---- */

PT_DEV unsigned pt_bf16_rne(float f)
{
  unsigned u = pt_f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return 0x7fc0u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

PT_DEV float pt_bf16_f32(unsigned h) { return pt_bits_f32(h << 16); }

/* 2^(s-127) as f32 (s = 0 is the subnormal 2^-127, 255 is NaN). */
PT_DEV float pt_e8m0_f32(unsigned s)
{
  if (s == 0)
    return pt_bits_f32(0x00400000u);
  if (s == 255)
    return pt_bits_f32(0x7fc00000u);
  return pt_bits_f32(s << 23);
}

/* 2^(s-127) as a bf16 pair. */
PT_DEV unsigned pt_e8m0_bf2(unsigned s)
{
  unsigned h = s == 0 ? 0x0040u : s == 255 ? 0x7fc0u : s << 7;
  return h | h << 16;
}

PT_DEV float pt_fp4_f32(unsigned n)
{
  unsigned m = n & 7u, e = m >> 1;
  float v = e == 0 ? 0.5f * (float)(m & 1u)
                   : pt_bits_f32(((126u + e) << 23) | ((m & 1u) << 22));
  return (n & 8u) ? -v : v;
}

PT_DEV float pt_fp8_f32(unsigned b)
{
  unsigned e = (b >> 3) & 15u, m = b & 7u;
  float v;
  if ((b & 0x7fu) == 0x7fu)
    v = pt_bits_f32(0x7fc00000u);
  else if (e == 0)
    v = (float)m * (1.0f / 512.0f);
  else
    v = pt_bits_f32(((e + 120u) << 23) | (m << 20));
  return (b & 0x80u) ? -v : v;
}

/* Two e2m1 codes of one byte (low nibble first) as a bf16 pair scaled by
 * 2^-126: the 3 magnitude bits land in the low exponent and top mantissa
 * bits, so e = 0 codes come out as subnormals with the right value. */
PT_DEV unsigned pt_fp4x2_bf2_raw(unsigned byte)
{
  unsigned y = byte * 0x40040u;  /* byte << 6 | byte << 18 */
  return (y & 0x01c001c0u) | ((y << 6) & 0x80008000u);
}

#define PT_BF2_2P126 0x7e807e80u  /* (2^126, 2^126) */

/* e2m1 pair times the block scale pair, exact. */
PT_DEV unsigned pt_fp4x2_dequant(unsigned byte, unsigned scale2)
{
  return pt_bf2_mul(pt_bf2_mul(pt_fp4x2_bf2_raw(byte), PT_BF2_2P126), scale2);
}

/* ---- quantization of the intermediate (DESIGN §3) ---- */

/* Block exponent e = floor(log2(amax)) - emax clamped to [-127, 127]. */
PT_DEV int pt_mx_exponent(float amax, int emax)
{
  unsigned u = pt_f32_bits(amax) & 0x7fffffffu;
  int ex = (int)(u >> 23);
  if (ex == 0)
    return -127;
  int e = ex - 127 - emax;
  return e < -127 ? -127 : e > 127 ? 127 : e;
}

/* 2^-e for e in [-127, 127], exact. */
PT_DEV float pt_pow2_neg(int e)
{
  return e == 127 ? pt_bits_f32(0x00400000u) : pt_bits_f32((unsigned)(127 - e) << 23);
}

/* e2m1 code of q: round to nearest even, saturate at 6. */
PT_DEV unsigned pt_fp4_code(float q)
{
  float a = q < 0.0f ? -q : q;
  unsigned c = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) +
               (a > 2.5f) + (a >= 3.5f) + (a > 5.0f);
  return c | (q < 0.0f ? 8u : 0u);
}

/* e4m3 code of q: round to nearest even, saturate at 448. */
PT_DEV unsigned pt_fp8_code(float q)
{
  float a = q < 0.0f ? -q : q;
  unsigned c;
  if (a >= 448.0f)
    c = 0x7eu;
  else if (a < 0.015625f) {
    c = (unsigned)rintf(a * 512.0f);
  } else {
    unsigned u = pt_f32_bits(a);
    u += 0x7ffffu + ((u >> 20) & 1u);
    c = (((u >> 23) - 120u) << 3) | ((u >> 20) & 7u);
  }
  return c | (q < 0.0f ? 0x80u : 0u);
}

PT_DEV unsigned pt_u4_word(pt_u4 v, int i)
{
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

#endif
