/* F16/BF16 -> F32 widening of whole tensors at load time (exact). Branch-free so that
 * it vectorises: a 600 MB ViT-B/32 in F16 must load in a fraction of a second. */
#include <stdint.h>
#include <string.h>

#include "base/simd.h"
#include "clip/safetensors.h"

#define CS_WIDEN_HOT CS_HOT_LOOP CS_SIMD_CLONES

/* src may be unaligned: it points anywhere into the mapped file. */
CS_WIDEN_HOT void cs__widen_f16(const uint8_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
        uint32_t em = (uint32_t)(h & 0x7fffu) << 13; /* exponent+mantissa at f32 places */
        uint32_t exp = em & 0x0f800000u;
        uint32_t normal = em + ((127u - 15u) << 23);
        uint32_t infnan = em + ((255u - 31u) << 23);
        /* subnormal: mantissa * 2^-24, computed as (2^-14 + m*2^-24) - 2^-14 in f32 */
        uint32_t sub_bits = em + (113u << 23);
        float sub;
        memcpy(&sub, &sub_bits, 4);
        sub -= 6.103515625e-05f; /* 2^-14 */
        uint32_t sub_u;
        memcpy(&sub_u, &sub, 4);
        uint32_t u = exp == 0x0f800000u ? infnan : exp == 0 ? sub_u : normal;
        u |= sign;
        memcpy(dst + i, &u, 4);
    }
}

CS_WIDEN_HOT void cs__widen_bf16(const uint8_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        uint32_t u = (uint32_t)h << 16;
        memcpy(dst + i, &u, 4);
    }
}
