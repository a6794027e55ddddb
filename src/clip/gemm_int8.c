/* The int8 GEMM of gemm_int8.h on oneDNN (CS_HAVE_DNNL), or its absence. */
#include "clip/gemm_int8.h"

#if CS_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

bool cs__gemm_int8_available(void)
{
    return true;
}

int cs__gemm_u8s8s32(int m, int n, int k, const uint8_t *a, int lda, uint8_t ao,
                    const int8_t *b, int ldb, int32_t *c, int ldc, cs_error *err)
{
    const int32_t co = 0;
    dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'T', 'F', (dnnl_dim_t)m, (dnnl_dim_t)n,
                                         (dnnl_dim_t)k, 1.0f, a, (dnnl_dim_t)lda, ao, b,
                                         (dnnl_dim_t)ldb, 0, 0.0f, c, (dnnl_dim_t)ldc, &co);
    if (st != dnnl_success)
        return cs_error_set(err, CS_E_INTERNAL, "oneDNN int8 GEMM failed (status %d)", (int)st);
    return 0;
}

#else

bool cs__gemm_int8_available(void)
{
    return false;
}

int cs__gemm_u8s8s32(int m, int n, int k, const uint8_t *a, int lda, uint8_t ao,
                    const int8_t *b, int ldb, int32_t *c, int ldc, cs_error *err)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)ao, (void)b, (void)ldb, (void)c,
        (void)ldc;
    return cs_error_set(err, CS_E_UNSUPPORTED, "this build has no int8 GEMM (no oneDNN)");
}

#endif
