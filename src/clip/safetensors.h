/* Safetensors reader (and, in safetensors_write.c, writer). Reader: the file is
 * memory-mapped, the JSON header is validated completely at open (every offset, size
 * and shape against the file), and tensors are handed out as float32 — a view into the
 * mapping when the stored data already is aligned F32, otherwise a copy widened once
 * from F16/BF16. Internal to src/clip. */
#ifndef CS_CLIP_SAFETENSORS_H
#define CS_CLIP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"

#define CS_ST_MAX_DIMS 8
/* A header this large is not a model header but a corrupt length field. */
#define CS_ST_MAX_HEADER ((uint64_t)100 << 20)

typedef enum { CS_ST_F32, CS_ST_F16, CS_ST_BF16, CS_ST_I64, CS_ST_OTHER } cs__st_dtype;

typedef struct cs__st_tensor {
    char *name;
    cs__st_dtype dtype;
    char dtype_name[16];
    int ndim;                         /* 0 for a scalar ("shape": []) */
    int64_t shape[CS_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;                /* byte range relative to the data section */
} cs__st_tensor;

typedef struct cs__st_file {
    char *path;
    uint8_t *map;                     /* whole file */
    size_t size;
    const uint8_t *data;              /* first byte after the header */
    size_t data_len;
    cs__st_tensor *tensors;
    size_t n_tensors;
} cs__st_file;

/* Maps and validates path. On error nothing is left open and err names path. */
int cs__st_open(const char *path, cs__st_file *f, cs_error *err);
void cs__st_close(cs__st_file *f);

const cs__st_tensor *cs__st_find(const cs__st_file *f, const char *name);

/* Float32 values of tensor `name`, checked against the expected shape (ndim entries;
 * ndim 0 = scalar). *data points into the mapping (then *owned = NULL) or to a malloc'd
 * widened copy that the caller frees (*owned == *data). Missing tensor, wrong shape or a
 * non-float dtype is CS_E_MODEL with a message naming file, tensor and shapes. */
int cs__st_get_f32(const cs__st_file *f, const char *name, int ndim, const int64_t *shape,
                  const float **data, float **owned, cs_error *err);

/* The steps of cs__st_get_f32, for callers that place copies themselves: look up `name`
 * and check shape and dtype (F32/F16/BF16); whether it can be used in place (aligned
 * F32); copy/widen it to dst (numel floats). */
int cs__st_lookup_f32(const cs__st_file *f, const char *name, int ndim, const int64_t *shape,
                     const cs__st_tensor **t, cs_error *err);
const float *cs__st_view_f32(const cs__st_file *f, const cs__st_tensor *t);
void cs__st_copy_f32(const cs__st_file *f, const cs__st_tensor *t, float *dst);

/* Exact widening of n little-endian F16/BF16 values at src (any alignment). widen.c */
void cs__widen_f16(const uint8_t *src, float *dst, size_t n);
void cs__widen_bf16(const uint8_t *src, float *dst, size_t n);

/* Streaming writer (safetensors_write.c): the header is written at open from the
 * entries, then each tensor's little-endian bytes in entry order, in pieces of any size
 * (so a generator never holds a whole model). Tensors are laid out back to back after
 * a header padded with spaces to a multiple of 8 bytes; callers that want every F32
 * tensor aligned put 8-byte dtypes first. close checks that exactly the announced bytes
 * came, syncs the file to disk and frees the writer; abort removes the partial file. */
typedef struct cs__st_entry {
    const char *name;
    const char *dtype;                /* "F32", "F16", "BF16", "I64", ... */
    int ndim;
    int64_t shape[CS_ST_MAX_DIMS];
} cs__st_entry;

typedef struct cs__st_writer cs__st_writer;

int cs__st_writer_open(const char *path, const cs__st_entry *entries, size_t n,
                      cs__st_writer **out, cs_error *err);
int cs__st_writer_put(cs__st_writer *w, const void *data, size_t nbytes, cs_error *err);
int cs__st_writer_close(cs__st_writer *w, cs_error *err);
void cs__st_writer_abort(cs__st_writer *w);

/* Formats a shape as "[a, b]" into buf. */
void cs__st_format_shape(int ndim, const int64_t *shape, char *buf, size_t size);

#endif
