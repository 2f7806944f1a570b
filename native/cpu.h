#pragma once
// Which SIMD path the kernels take. Chosen once at run time from what the CPU supports:
// AVX2+FMA+F16C on x86-64 (compiled per function with target attributes, so the addon
// itself needs no -march flag), NEON on arm64 (always there), a portable scalar path
// everywhere else.
namespace rlm {

// Avx2Vnni: the AVX2 path whose integer dot products use VNNI (same results, fewer
// instructions); everything but those kernels runs as on Avx2.
// Avx512: AVX-512 (F, BW, VL) with VNNI. Matrices of the types it covers are repacked at
// load into 16-row interleaved groups (repack.h) whose kernels keep one output row per
// vector lane; everything else runs as on Avx2Vnni.
enum class Simd { Scalar = 0, Avx2 = 1, Neon = 2, Avx2Vnni = 3, Avx512 = 4 };

/** Whether a path runs the AVX2 kernels (with or without VNNI dots). */
inline bool is_avx2(Simd s) { return s == Simd::Avx2 || s == Simd::Avx2Vnni || s == Simd::Avx512; }

/** Whether a path's integer dots use VNNI. */
inline bool has_vnni(Simd s) { return s == Simd::Avx2Vnni || s == Simd::Avx512; }

/** The encoding of the VNNI instructions this CPU has: AVX-VNNI (VEX) or AVX512-VNNI with VL (EVEX). */
enum class VnniForm { None = 0, Vex = 1, Evex = 2 };

VnniForm vnni_form();

/** The best path this CPU supports. */
Simd simd_detected();

/** The path kernels use now: the detected one unless set_simd() chose another. */
Simd simd_active();

/**
 * Test hook: "auto" (the detected path), "scalar", "avx2", "avx2-vnni", "avx512" or "neon". Returns false (changing
 * nothing) for a name this CPU cannot run. Not to be called while kernels run.
 */
bool set_simd(const char* name);

const char* simd_name(Simd s);

}  // namespace rlm
