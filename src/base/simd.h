/* The one place that knows about instruction sets. Every kernel is plain C first; this
 * header decides, per build, which faster variants may exist next to it:
 *
 *  - CS_SIMD_X86: x86-64 with GCC. Kernels marked CS_SIMD_CLONES get AVX-512 and AVX2
 *    builds besides the baseline one, and the loader (ifunc) picks one from the CPU it
 *    runs on; hand-written intrinsics (the vector scan) are compiled with per-function
 *    target attributes and chosen with cs__cpu_has().
 *  - CS_SIMD_NEON: aarch64, where NEON is part of the base ISA, so no run-time check.
 *  - neither: the plain C code only (any CPU; `cmake -DCS_SIMD=OFF` forces this, so the
 *    fallbacks are built and tested on x86 too).
 *
 * CS_HOT_LOOP asks for -O3 on one function: the build's -O2 does not vectorise loops that
 * need a remainder, and the hot elementwise loops are written for the vectoriser. */
#ifndef CS_BASE_SIMD_H
#define CS_BASE_SIMD_H

#include <stdbool.h>

#ifndef CS_SIMD
#define CS_SIMD 1
#endif

#if CS_SIMD && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CS_SIMD_X86 1
#define CS_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define CS_SIMD_CLONES_AVX2 __attribute__((target_clones("avx2", "default")))
#else
#define CS_SIMD_X86 0
#define CS_SIMD_CLONES
#define CS_SIMD_CLONES_AVX2
#endif

#if CS_SIMD && defined(__aarch64__) && defined(__ARM_NEON)
#define CS_SIMD_NEON 1
#else
#define CS_SIMD_NEON 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define CS_HOT_LOOP __attribute__((optimize("O3")))
#else
#define CS_HOT_LOOP
#endif

/* CPU features the hand-written kernels choose between (false where the build has no
 * kernel for them). */
typedef enum { CS_CPU_AVX2_FMA, CS_CPU_AVX512F, CS_CPU_F16C } cs__cpu_feature;
bool cs__cpu_has(cs__cpu_feature f);

/* The widest kernel family this build uses on this CPU: "avx512", "avx2", "neon" or
 * "portable" (for `model info` and the benchmarks). */
const char *cs__simd_level(void);

#endif
