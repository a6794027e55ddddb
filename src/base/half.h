/* IEEE half (F16) and bfloat16 <-> float32 conversions. Widening is exact, so F16/BF16
 * checkpoints become exactly the f32 weights the Python reference widens them to. The
 * narrowing direction (round to nearest even) is used by the checkpoint generator. */
#ifndef CS_BASE_HALF_H
#define CS_BASE_HALF_H

#include <stdint.h>
#include <string.h>

static inline float cs__bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t cs__f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float cs__bf16_to_f32(uint16_t h) { return cs__bits_to_f32((uint32_t)h << 16); }

static inline float cs__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return cs__bits_to_f32(sign | 0x7f800000u | (man << 13)); /* inf/nan */
    if (exp == 0) {
        if (man == 0) return cs__bits_to_f32(sign);
        /* subnormal: value = man * 2^-24, exact in f32 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return cs__bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t cs__f32_to_bf16(float f)
{
    uint32_t u = cs__f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline uint16_t cs__f32_to_f16(float f)
{
    uint32_t u = cs__f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (a < 0x38800000u) {
        /* subnormal or zero in f16: round a * 2^24 to an integer, ties to even */
        float v = cs__bits_to_f32(a) * 16777216.0f;
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

#endif
