/* Run-time CPU feature checks behind simd.h. */
#include "base/simd.h"

bool cs__cpu_has(cs__cpu_feature f)
{
#if CS_SIMD_X86
    /* __builtin_cpu_supports reads a table libgcc fills before main; calling init again
     * is cheap and makes the answer safe from constructors too. */
    __builtin_cpu_init();
    switch (f) {
    case CS_CPU_AVX2_FMA: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CS_CPU_AVX512F: return __builtin_cpu_supports("avx512f");
    case CS_CPU_F16C: return __builtin_cpu_supports("f16c");
    }
#endif
    (void)f;
    return false;
}

const char *cs__simd_level(void)
{
    if (cs__cpu_has(CS_CPU_AVX512F)) return "avx512";
    if (cs__cpu_has(CS_CPU_AVX2_FMA)) return "avx2";
    return CS_SIMD_NEON ? "neon" : "portable";
}
