#pragma once
// Which SIMD path the kernels take. Chosen once at run time from what the CPU supports:
// AVX2+FMA+F16C on x86-64 (compiled per function with target attributes, so the addon
// itself needs no -march flag), NEON on arm64 (always there), a portable scalar path
// everywhere else.
namespace rlm {

enum class Simd { Scalar = 0, Avx2 = 1, Neon = 2 };

/** The best path this CPU supports. */
Simd simd_detected();

/** The path kernels use now: the detected one unless set_simd() chose another. */
Simd simd_active();

/**
 * Test hook: "auto" (the detected path), "scalar", "avx2" or "neon". Returns false (changing
 * nothing) for a name this CPU cannot run. Not to be called while kernels run.
 */
bool set_simd(const char* name);

const char* simd_name(Simd s);

}  // namespace rlm
