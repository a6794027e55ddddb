/* The model's fingerprint: what tells two checkpoints apart when their names and shapes
 * agree (two seeds of one architecture, a checkpoint and its fine-tune). Hashing all
 * ~600 MB on every search would cost more than the search, so it hashes config.json,
 * preprocessor_config.json, the safetensors header (names, dtypes, shapes, offsets) and,
 * of every tensor, three 4 KiB samples (start, middle, end): training changes every
 * element of a trained tensor, so a fine-tune of any tensor changes its samples. */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/hash.h"
#include "clip/model.h"

#define SAMPLE 4096

static int append(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*len + n > *cap) {
        size_t c = (*len + n) * 2;
        uint8_t *b = realloc(*buf, c);
        if (!b) return -1;
        *buf = b;
        *cap = c;
    }
    if (n) memcpy(*buf + *len, p, n); /* p may be NULL when n is 0 (an empty file) */
    *len += n;
    return 0;
}

/* A file of the model folder, with its name and length so that files cannot run into
 * each other; a missing file counts as empty. */
static int append_file(const char *dir, const char *name, uint8_t **buf, size_t *len,
                       size_t *cap, cs_error *err)
{
    char *path = cs__path_join(dir, name);
    if (!path) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    uint8_t *data = NULL;
    size_t n = 0;
    cs_error ignore = {0};
    if (cs__read_file(path, (size_t)16 << 20, &data, &n, &ignore) != 0) {
        /* Out of memory is not "missing": hashing it as empty would report a model
         * mismatch instead of the real error. */
        if (ignore.code == CS_E_NOMEM) {
            free(path);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
        n = 0;
    }
    free(path);
    uint64_t n64 = n;
    int bad = append(buf, len, cap, name, strlen(name) + 1) ||
              append(buf, len, cap, &n64, sizeof n64) || append(buf, len, cap, data, n);
    free(data);
    return bad ? cs_error_set(err, CS_E_NOMEM, "out of memory") : 0;
}

int cs_clip_fingerprint(const cs_clip *m, char out[33], cs_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = append_file(m->dir, "config.json", &buf, &len, &cap, err);
    if (rc == 0) rc = append_file(m->dir, "preprocessor_config.json", &buf, &len, &cap, err);
    const cs__st_file *f = &m->st;
    size_t header = (size_t)(f->data - f->map);
    uint64_t size = f->size;
    if (rc == 0 && (append(&buf, &len, &cap, &size, sizeof size) ||
                    append(&buf, &len, &cap, f->map, header)))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < f->n_tensors; i++) {
        const cs__st_tensor *t = &f->tensors[i];
        size_t n = t->end - t->begin;
        size_t at[3] = {0, n / 2, n > SAMPLE ? n - SAMPLE : 0};
        for (int k = 0; k < 3 && rc == 0; k++) {
            size_t from = at[k] < n ? at[k] : n;
            size_t take = n - from < SAMPLE ? n - from : SAMPLE;
            if (append(&buf, &len, &cap, f->data + t->begin + from, take))
                rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
    }
    if (rc == 0) cs__hash128_hex(buf, len, out);
    free(buf);
    return rc;
}
