/* An int8 GEMM for the layers above src/clip (the near-duplicate pass of
 * src/app/duplicates_int8.c): oneDNN's u8s8s32 GEMM where this build has oneDNN, absent
 * otherwise. oneDNN is the clip layer's package alone (docs/ARCHITECTURE.md), so callers
 * above reach it only through here. */
#ifndef CS_CLIP_GEMM_INT8_H
#define CS_CLIP_GEMM_INT8_H

#include <stdbool.h>
#include <stdint.h>

#include "clipsearch/error.h"

/* Whether cs__gemm_u8s8s32 is available in this build (oneDNN built in). */
bool cs__gemm_int8_available(void);

/* c[m, n] = (a - ao) b^T in int32: a [m, k] unsigned (row-major, leading dimension lda)
 * with the zero point ao, b [n, k] signed (ldb), c row-major (ldc). Returns 0, or
 * CS_E_UNSUPPORTED without oneDNN, CS_E_INTERNAL when oneDNN fails. */
int cs__gemm_u8s8s32(int m, int n, int k, const uint8_t *a, int lda, uint8_t ao,
                    const int8_t *b, int ldb, int32_t *c, int ldc, cs_error *err);

#endif
