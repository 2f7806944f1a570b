#pragma once
// Shared pieces of the NEON kernels (arm64 only; empty elsewhere). AArch64 always has
// Advanced SIMD; only the int8 dot-product instruction (SDOT, armv8.2's dotprod) may be
// missing, and the int8 kernels come in two variants for it (template argument kDot).
//
// Both variants give one lane layout: lane L of a 32-element dot sums elements 4L..4L+3 and
// 16+4L..16+4L+3, which is what SDOT gives and what the widening-multiply path reproduces.
// The integer sums are exact, so the two variants produce bitwise the same results and one
// Simd path covers both (tools/neon-check compares them).
//
// SDOT is used when the compiler targets it (__ARM_FEATURE_DOTPROD: Apple silicon, or an
// -march with dotprod) or, with GCC on Linux, when the CPU reports it at run time. In that
// case the instruction comes from inline assembly that switches the assembler to
// armv8.2-a+dotprod for the rest of the file: a superset of the plain armv8-a the addon is
// built for (not of an -march with SVE, so those builds go without).
#if defined(__aarch64__) && defined(__ARM_NEON)
#define RLM_HAVE_NEON 1
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#if defined(__ARM_FEATURE_DOTPROD)
#define RLM_NEON_SDOT 1
#elif defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && !defined(__ARM_FEATURE_SVE)
#define RLM_NEON_SDOT 1
#define RLM_NEON_SDOT_ASM 1
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

namespace rlm {
namespace neon {

/**
 * The one horizontal sum every float dot product ends with: lanes (i, i+2), then (0, 1).
 * For two 4-lane halves a (elements 8k..8k+3) and b (8k+4..8k+7) of an 8-lane sum it is
 * ((a0+b0)+(a2+b2))+((a1+b1)+(a3+b3)): the order of the scalar and AVX2 kernels.
 */
static inline float hsum4(float32x4_t v) {
  const float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
}

/** The half-precision float at p (any alignment), exactly. */
static inline float half(const uint8_t* p) {
  __fp16 h;
  std::memcpy(&h, p, 2);
  return static_cast<float>(h);
}

/** Four halves at p (any alignment) as floats. */
static inline float32x4_t half4(const uint8_t* p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p))));
}

/** Whether the kDot = true kernels can run here (decided once). */
static inline bool has_dotprod() {
#if defined(__ARM_FEATURE_DOTPROD)
  return true;
#elif defined(RLM_NEON_SDOT_ASM)
  static const bool yes = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
  return yes;
#else
  return false;
#endif
}

/**
 * acc + the dot of 16 int8 pairs, lane L gaining elements 4L..4L+3. Without SDOT the pair
 * sums go through int16: |a * b| <= 128 * 127, so two products never overflow it.
 */
template <bool kDot>
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  if constexpr (kDot) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#elif defined(RLM_NEON_SDOT_ASM)
    // The .arch line lets the assembler accept SDOT; GCC still emits only armv8-a code.
    __asm__(".arch armv8.2-a+dotprod\n\tsdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
    return acc;
#else
    static_assert(!kDot, "no SDOT on this target: use the kDot = false kernels");
#endif
  }
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

/** The dot of 32 int8 pairs (a0|a1 against b0|b1) in the layout described above. */
template <bool kDot>
static inline int32x4_t dot32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
  return dot16<kDot>(dot16<kDot>(vdupq_n_s32(0), a0, b0), a1, b1);
}

/** Low nibbles of the 16 bytes at p (elements 0..15) and high nibbles (16..31). */
static inline void nibbles32(const uint8_t* p, uint8x16_t& lo, uint8x16_t& hi) {
  const uint8x16_t v = vld1q_u8(p);
  lo = vandq_u8(v, vdupq_n_u8(0x0f));
  hi = vshrq_n_u8(v, 4);
}

/** Byte i = 0x10 where bit i of the 32 bits at p is set, else 0 (fifth bits of q5 quants). */
static inline void fifth_bits32(const uint8_t* p, uint8x16_t& lo, uint8x16_t& hi) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(kBit);
  const uint8x8_t b0 = vdup_n_u8(static_cast<uint8_t>(x));
  const uint8x8_t b1 = vdup_n_u8(static_cast<uint8_t>(x >> 8));
  const uint8x8_t b2 = vdup_n_u8(static_cast<uint8_t>(x >> 16));
  const uint8x8_t b3 = vdup_n_u8(static_cast<uint8_t>(x >> 24));
  const uint8x16_t m = vdupq_n_u8(0x10);
  lo = vandq_u8(vtstq_u8(vcombine_u8(b0, b1), bit), m);
  hi = vandq_u8(vtstq_u8(vcombine_u8(b2, b3), bit), m);
}

}  // namespace neon
}  // namespace rlm
#endif
