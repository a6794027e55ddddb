/* The GEMM engine of a loaded model: y = x W^T (+ b) (+ y) for the Linear layers and the
 * patch embedding. With oneDNN (Debian's libdnnl) every weight matrix is reordered once at
 * load into the layout oneDNN's matmul prefers for this CPU (AVX2, AVX-512, AMX: chosen by
 * oneDNN at run time, whatever OPENBLAS_CORETYPE says), optionally as bf16; primitives
 * are created once per shape and cached. Without oneDNN (not built in, e.g. arm64) the
 * engine is absent and cs__linear uses OpenBLAS and the few-row kernel. Internal to
 * src/clip. */
#ifndef CS_CLIP_GEMM_H
#define CS_CLIP_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"

typedef struct cs__gemm cs__gemm;

/* Creates the engine for `precision` (CS_PRECISION_*). *out = NULL without an error when
 * this build has no oneDNN and fp32 is asked for; bf16 without oneDNN or without a CPU
 * that has bf16 instructions is CS_E_ARG with a message saying so. */
int cs__gemm_create(int precision, cs__gemm **out, cs_error *err);
void cs__gemm_free(cs__gemm *g);

/* Prepares W [out, in] (row-major) for the engine now: a reordered copy owned by the
 * engine (normally this happens on first use, see cs__gemm_linear). */
int cs__gemm_prepare(cs__gemm *g, const float *w, int out, int in, cs_error *err);

/* The read-only file mapping the weights may live in: once a weight is prepared, its
 * pages there are handed back to the kernel. */
void cs__gemm_set_file_mapping(cs__gemm *g, const void *map, size_t size);

/* Calls with at most this many rows leave an unprepared fp32 weight to the few-row kernel
 * (cs__linear_small): reordering would cost more than it saves. */
#define CS_GEMM_PREPARE_MIN_ROWS 16

/* y[rows, out] = x[rows, in] @ W^T (+ bias) (+ y when accumulate), on `threads` threads.
 * Prepares W on first use (see CS_GEMM_PREPARE_MIN_ROWS). Thread-safe. Returns false
 * (nothing written) when the engine leaves the call to the caller's own path: a few rows
 * on an unprepared weight, or a shape oneDNN refused. */
bool cs__gemm_linear(cs__gemm *g, const float *x, int ldx, int rows, const float *w, int out,
                    int in, const float *bias, float *y, int ldy, bool accumulate, int threads);

/* What the engine would be on this CPU without creating it: "onednn (avx512_core_bf16;
 * bf16 available)" or "openblas (no oneDNN in this build)". */
void cs__gemm_probe(char *buf, size_t size);

/* "onednn fp32 (avx512_core)", for model info and the benchmarks. */
const char *cs__gemm_describe(const cs__gemm *g);

/* Bytes held by the reordered weights. */
size_t cs__gemm_weight_bytes(const cs__gemm *g);

#endif
