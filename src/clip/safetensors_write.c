/* Safetensors writer: header from the entries (offsets computed here, so callers cannot
 * get them inconsistent), then the data streamed in order. Shared by checkpoint saving
 * (cs_clip_save) and anything else that writes model files. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip/safetensors.h"

struct cs__st_writer {
    FILE *f;
    char *path;
    uint64_t expected, written;       /* data-section bytes announced / received */
};

static size_t dtype_size(const char *d)
{
    static const struct {
        const char *name;
        size_t size;
    } T[] = {{"F64", 8}, {"I64", 8}, {"U64", 8}, {"F32", 4}, {"I32", 4}, {"U32", 4},
             {"F16", 2}, {"BF16", 2}, {"I16", 2}, {"U16", 2}, {"I8", 1}, {"U8", 1},
             {"BOOL", 1}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(d, T[i].name)) return T[i].size;
    return 0;
}

/* The header JSON (entries in the given order, then __metadata__ as torch writes it). */
static int build_header(const char *path, const cs__st_entry *e, size_t n, char **text,
                        uint64_t *total, cs_error *err)
{
    json_t *hdr = json_object();
    uint64_t off = 0;
    int rc = hdr ? 0 : cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        size_t es = e[i].dtype ? dtype_size(e[i].dtype) : 0;
        if (!e[i].name || !*e[i].name || !es || e[i].ndim < 0 || e[i].ndim > CS_ST_MAX_DIMS) {
            rc = cs_error_set(err, CS_E_ARG, "%s: invalid tensor entry %zu (%s, dtype %s)",
                              path, i, e[i].name ? e[i].name : "(no name)",
                              e[i].dtype ? e[i].dtype : "none");
            break;
        }
        if (json_object_get(hdr, e[i].name)) {
            rc = cs_error_set(err, CS_E_ARG, "%s: tensor %s listed twice", path, e[i].name);
            break;
        }
        uint64_t numel = 1;
        json_t *shape = json_array();
        for (int k = 0; k < e[i].ndim; k++) {
            numel *= (uint64_t)e[i].shape[k];
            json_array_append_new(shape, json_integer((json_int_t)e[i].shape[k]));
        }
        uint64_t end = off + numel * es;
        json_t *t = json_pack("{s:s, s:o, s:[I,I]}", "dtype", e[i].dtype, "shape", shape,
                              "data_offsets", (json_int_t)off, (json_int_t)end);
        if (!t || json_object_set_new(hdr, e[i].name, t))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        off = end;
    }
    if (!rc) json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
    if (!rc && !(*text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    json_decref(hdr);
    *total = off;
    return rc;
}

int cs__st_writer_open(const char *path, const cs__st_entry *entries, size_t n,
                      cs__st_writer **out, cs_error *err)
{
    *out = NULL;
    char *text = NULL;
    uint64_t total = 0;
    int rc = build_header(path, entries, n, &text, &total, err);
    if (rc) return rc;
    cs__st_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        free(text);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    w->expected = total;
    if (!(w->f = fopen(path, "wb"))) {
        rc = cs_error_set(err, CS_E_IO, "cannot create %s: %s", path, strerror(errno));
        free(w->path);
        free(w);
        free(text);
        return rc;
    }
    /* Padding to 8 keeps the data section (and with it every F32 tensor that follows
     * 8-byte ones) aligned for readers that map the file, as ours does. */
    size_t hlen = strlen(text), padded = (hlen + 7) / 8 * 8;
    uint64_t n64 = padded;
    int bad = fwrite(&n64, 8, 1, w->f) != 1 || fwrite(text, 1, hlen, w->f) != hlen;
    for (size_t i = hlen; !bad && i < padded; i++) bad = fputc(' ', w->f) == EOF;
    free(text);
    if (bad) {
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", path, strerror(errno));
        cs__st_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int cs__st_writer_put(cs__st_writer *w, const void *data, size_t nbytes, cs_error *err)
{
    if (nbytes > w->expected - w->written)
        return cs_error_set(err, CS_E_INTERNAL, "%s: more tensor data than the header announces",
                            w->path);
    if (nbytes && fwrite(data, 1, nbytes, w->f) != nbytes)
        return cs_error_set(err, CS_E_IO, "cannot write %s: %s", w->path, strerror(errno));
    w->written += nbytes;
    return 0;
}

int cs__st_writer_close(cs__st_writer *w, cs_error *err)
{
    int rc = 0;
    if (w->written != w->expected)
        rc = cs_error_set(err, CS_E_INTERNAL, "%s: %llu of %llu data bytes written", w->path,
                          (unsigned long long)w->written, (unsigned long long)w->expected);
    else if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", w->path, strerror(errno));
    if (rc) {
        cs__st_writer_abort(w);
        return rc;
    }
    if (fclose(w->f) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", w->path, strerror(errno));
    if (rc) unlink(w->path);
    free(w->path);
    free(w);
    return rc;
}

void cs__st_writer_abort(cs__st_writer *w)
{
    if (!w) return;
    fclose(w->f);
    unlink(w->path);
    free(w->path);
    free(w);
}
