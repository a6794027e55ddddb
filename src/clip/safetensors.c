#include "clip/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


/* Safetensors data is little-endian; we reinterpret it in place. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian host required");

static const struct {
    const char *name;
    cs__st_dtype dtype;
    size_t size;
} DTYPES[] = {
    {"F32", CS_ST_F32, 4}, {"F16", CS_ST_F16, 2}, {"BF16", CS_ST_BF16, 2},
    {"I64", CS_ST_I64, 8}, {"F64", CS_ST_OTHER, 8}, {"I32", CS_ST_OTHER, 4},
    {"I16", CS_ST_OTHER, 2}, {"I8", CS_ST_OTHER, 1}, {"U8", CS_ST_OTHER, 1},
    {"BOOL", CS_ST_OTHER, 1}, {"U16", CS_ST_OTHER, 2}, {"U32", CS_ST_OTHER, 4},
    {"U64", CS_ST_OTHER, 8}, {"F8_E4M3", CS_ST_OTHER, 1}, {"F8_E5M2", CS_ST_OTHER, 1},
};

void cs__st_format_shape(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

void cs__st_close(cs__st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->map) munmap(f->map, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Validates one header entry against the data section and fills t. */
static int parse_entry(const cs__st_file *f, const char *name, json_t *v, cs__st_tensor *t,
                       cs_error *err)
{
    const char *p = f->path;
    if (!json_is_object(v))
        return cs_error_set(err, CS_E_FORMAT, "%s: header entry '%s' is not an object", p, name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) ||
        json_array_size(jo) != 2)
        return cs_error_set(err, CS_E_FORMAT,
                            "%s: tensor '%s' lacks a valid dtype, shape or data_offsets", p, name);
    size_t esize = 0;
    t->dtype = CS_ST_OTHER;
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (!strcmp(json_string_value(jd), DTYPES[i].name)) {
            t->dtype = DTYPES[i].dtype;
            esize = DTYPES[i].size;
        }
    if (!esize)
        return cs_error_set(err, CS_E_FORMAT, "%s: tensor '%s' has unknown dtype '%s'", p, name,
                            json_string_value(jd));
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > CS_ST_MAX_DIMS)
        return cs_error_set(err, CS_E_FORMAT, "%s: tensor '%s' has %zu dimensions (max %d)", p,
                            name, nd, CS_ST_MAX_DIMS);
    t->ndim = (int)nd;
    size_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return cs_error_set(err, CS_E_FORMAT, "%s: tensor '%s' has an invalid shape", p, name);
        uint64_t dim = (uint64_t)json_integer_value(d);
        t->shape[i] = (int64_t)dim;
        if (dim && numel > SIZE_MAX / 16 / dim)
            return cs_error_set(err, CS_E_FORMAT, "%s: tensor '%s' shape overflows", p, name);
        numel *= (size_t)dim;
    }
    t->numel = numel;
    json_t *b = json_array_get(jo, 0), *e = json_array_get(jo, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return cs_error_set(err, CS_E_FORMAT, "%s: tensor '%s' has invalid data_offsets", p, name);
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(e);
    if (end > f->data_len)
        return cs_error_set(err, CS_E_FORMAT,
                            "%s: tensor '%s' data_offsets [%llu, %llu) point outside the file "
                            "(data section is %zu bytes; truncated or corrupt file?)",
                            p, name, (unsigned long long)begin, (unsigned long long)end,
                            f->data_len);
    if (end - begin != (uint64_t)numel * esize)
        return cs_error_set(err, CS_E_FORMAT,
                            "%s: tensor '%s' has %llu data bytes but its %s shape needs %llu",
                            p, name, (unsigned long long)(end - begin), t->dtype_name,
                            (unsigned long long)numel * esize);
    t->begin = (size_t)begin;
    t->end = (size_t)end;
    return 0;
}

static int parse_header(cs__st_file *f, const char *json, size_t len, cs_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cs_error_set(err, CS_E_FORMAT, "%s: header is not valid JSON (%s at byte %d)",
                            f->path, jerr.text, jerr.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return cs_error_set(err, CS_E_FORMAT, "%s: header is not a JSON object", f->path);
    }
    f->tensors = calloc(json_object_size(root) + 1, sizeof *f->tensors);
    if (!f->tensors) {
        json_decref(root);
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", f->path);
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v)
    {
        if (!strcmp(key, "__metadata__")) continue;
        cs__st_tensor *t = &f->tensors[f->n_tensors];
        rc = parse_entry(f, key, v, t, err);
        if (rc) break;
        t->name = strdup(key);
        if (!t->name) {
            rc = cs_error_set(err, CS_E_NOMEM, "%s: out of memory", f->path);
            break;
        }
        f->n_tensors++;
    }
    json_decref(root);
    return rc;
}

int cs__st_open(const char *path, cs__st_file *f, cs_error *err)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cs_error_set(err, CS_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cs_error_set(err, CS_E_IO, "%s: not a readable regular file", path);
    }
    f->path = strdup(path);
    if (!f->path) {
        close(fd);
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size < 8) {
        close(fd);
        cs__st_close(f);
        return cs_error_set(err, CS_E_FORMAT,
                            "%s: truncated safetensors file (%zu bytes, no header length)", path,
                            (size_t)st.st_size);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        cs__st_close(f);
        return cs_error_set(err, CS_E_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    f->map = m;
    uint64_t hlen;
    memcpy(&hlen, f->map, 8);
    if (hlen > CS_ST_MAX_HEADER || hlen > f->size - 8) {
        size_t sz = f->size;
        cs__st_close(f);
        return cs_error_set(err, CS_E_FORMAT,
                            "%s: header length %llu exceeds the file (%zu bytes) or the %llu MiB "
                            "limit: truncated or not a safetensors file",
                            path, (unsigned long long)hlen, sz,
                            (unsigned long long)(CS_ST_MAX_HEADER >> 20));
    }
    f->data = f->map + 8 + hlen;
    f->data_len = f->size - 8 - (size_t)hlen;
    int rc = parse_header(f, (const char *)f->map + 8, (size_t)hlen, err);
    if (rc) {
        cs__st_close(f);
        return rc;
    }
    return 0;
}

const cs__st_tensor *cs__st_find(const cs__st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

int cs__st_lookup_f32(const cs__st_file *f, const char *name, int ndim, const int64_t *shape,
                     const cs__st_tensor **out, cs_error *err)
{
    *out = NULL;
    const cs__st_tensor *t = cs__st_find(f, name);
    if (!t) return cs_error_set(err, CS_E_MODEL, "%s: missing tensor '%s'", f->path, name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[128], want[128];
        cs__st_format_shape(t->ndim, t->shape, have, sizeof have);
        cs__st_format_shape(ndim, shape, want, sizeof want);
        return cs_error_set(err, CS_E_MODEL,
                            "%s: tensor '%s' has shape %s but config.json implies %s", f->path,
                            name, have, want);
    }
    if (t->dtype != CS_ST_F32 && t->dtype != CS_ST_F16 && t->dtype != CS_ST_BF16)
        return cs_error_set(err, CS_E_UNSUPPORTED,
                            "%s: tensor '%s' has dtype %s (supported: F32, F16, BF16)", f->path,
                            name, t->dtype_name);
    *out = t;
    return 0;
}

const float *cs__st_view_f32(const cs__st_file *f, const cs__st_tensor *t)
{
    const uint8_t *src = f->data + t->begin;
    if (t->dtype == CS_ST_F32 && ((uintptr_t)src & 3u) == 0) return (const float *)(const void *)src;
    return NULL;
}

void cs__st_copy_f32(const cs__st_file *f, const cs__st_tensor *t, float *dst)
{
    const uint8_t *src = f->data + t->begin;
    if (t->dtype == CS_ST_F32) memcpy(dst, src, t->numel * 4);
    else if (t->dtype == CS_ST_F16) cs__widen_f16(src, dst, t->numel);
    else cs__widen_bf16(src, dst, t->numel);
}

int cs__st_get_f32(const cs__st_file *f, const char *name, int ndim, const int64_t *shape,
                  const float **data, float **owned, cs_error *err)
{
    *data = NULL;
    *owned = NULL;
    const cs__st_tensor *t;
    int rc = cs__st_lookup_f32(f, name, ndim, shape, &t, err);
    if (rc) return rc;
    if ((*data = cs__st_view_f32(f, t))) return 0;
    float *dst = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (!dst) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory for '%s'", f->path, name);
    cs__st_copy_f32(f, t, dst);
    *data = dst;
    *owned = dst;
    return 0;
}
