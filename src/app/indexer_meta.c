/* Record metadata of indexed images: what is written, and how the stored metadata is
 * read back to decide what changed. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/indexer_internal.h"
#include "base/pathid.h"

/* Extensions that name an image: for these `type` is the extension (vecs' image-search
 * example filters on {"type": {"$eq": "jpg"}}), and a file so named whose content is
 * not an image is reported instead of silently ignored. */
static const char *const IMAGE_EXTS[] = {
    "jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "webp", "bmp", "dib",
    "tif", "tiff", "heic", "heif", "hif", "avif", "jxl", "ico", "pbm", "pgm", "ppm",
    /* camera RAW */
    "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "dng", "raf", "orf", "rw2",
    "pef", "srw", "mrw", "3fr", "erf", "kdc", "dcr", "mos", "iiq", "rwl", "x3f", NULL};

const char *cs__ix_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Lower-case extension of path's base name into buf, or NULL when none / not ASCII. */
static const char *extension(const char *path, char *buf, size_t bufsize)
{
    const char *base = cs__ix_basename(path);
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || !dot[1]) return NULL;
    size_t n = strlen(dot + 1);
    if (n >= bufsize) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)dot[1 + i];
        if (!isalnum(c) || c > 0x7F) return NULL;
        buf[i] = (char)tolower(c);
    }
    buf[n] = '\0';
    return buf;
}

bool cs__ix_has_image_ext(const char *path)
{
    char buf[16];
    const char *ext = extension(path, buf, sizeof buf);
    if (!ext) return false;
    for (size_t i = 0; IMAGE_EXTS[i]; i++)
        if (!strcmp(ext, IMAGE_EXTS[i])) return true;
    return false;
}

const char *cs__ix_type_for(const char *path, const char *format, char *buf, size_t bufsize)
{
    if (cs__ix_has_image_ext(path)) return extension(path, buf, bufsize);
    return format;
}

static int64_t get_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    /* Written by another tool as a float: accept exact integral values only. */
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == (double)(int64_t)d) return (int64_t)d;
    }
    return -1;
}

void cs__ix_meta_parse(const char *text, cs__ix_stored *s)
{
    s->bytes = s->mtime = s->mtime_ns = -1;
    s->width = s->height = -1;
    s->hash[0] = '\0';
    s->meta_current = false;
    if (!text) return;
    json_t *o = json_loads(text, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    s->bytes = get_int(o, "bytes");
    s->mtime = get_int(o, "mtime");
    s->mtime_ns = get_int(o, "mtime_ns");
    s->meta_current = json_is_number(json_object_get(o, "taken")) &&
                      json_is_array(json_object_get(o, "dirs"));
    int64_t w = get_int(o, "width"), h = get_int(o, "height");
    s->width = w >= 0 && w <= 1 << 30 ? (int)w : -1;
    s->height = h >= 0 && h <= 1 << 30 ? (int)h : -1;
    const char *emb = json_string_value(json_object_get(o, "embedder"));
    s->embedder[0] = '\0';
    if (emb && strlen(emb) == 16) memcpy(s->embedder, emb, 17);
    const char *hash = json_string_value(json_object_get(o, "hash"));
    if (hash && strlen(hash) == CS_HASH_HEX_LEN) memcpy(s->hash, hash, CS_HASH_HEX_LEN + 1);
    json_decref(o);
}

/* The ids of every folder above a file ("/a/b/c.jpg" -> ["/a", "/a/b"]), each encoded
 * as a path id on its own: `search --under DIR` is then vecs' own array containment,
 * {"dirs": {"$contains": id(DIR)}}, which Python vecs users can write too. */
static json_t *ancestor_ids(const char *raw)
{
    json_t *a = json_array();
    size_t n = strlen(raw);
    char *prefix = malloc(n + 1);
    if (!a || !prefix) goto fail;
    for (size_t i = 1; i < n; i++) {
        if (raw[i] != '/' || raw[i - 1] == '/') continue;
        memcpy(prefix, raw, i);
        prefix[i] = '\0';
        char *id = cs__path_to_id(prefix);
        if (!id || json_array_append_new(a, json_string(id)) != 0) {
            free(id);
            goto fail;
        }
        free(id);
    }
    free(prefix);
    return a;
fail:
    free(prefix);
    json_decref(a);
    return NULL;
}

char *cs__ix_meta_build(const cs__ix_job *job, const cs__ix_result *res, const char *embedder)
{
    char tbuf[16];
    const char *type = cs__ix_type_for(job->path, res->format, tbuf, sizeof tbuf);
    /* name is for display: the canonical base name, with bytes that are not printable
     * UTF-8 as \xNN (the id is the lossless form). */
    char *raw = NULL, *name = NULL;
    json_t *raw_dirs = NULL;
    if (cs__path_from_id(job->id, &raw, NULL) == 0) {
        name = cs__path_escape(cs__ix_basename(raw));
        raw_dirs = ancestor_ids(raw);
    }
    free(raw);
    json_t *o = name && raw_dirs ? json_object() : NULL;
    if (!o) {
        free(name);
        json_decref(raw_dirs);
        return NULL;
    }
    int bad = 0;
    bad |= json_object_set_new(o, "type", json_string(type ? type : "unknown"));
    bad |= json_object_set_new(o, "format", json_string(res->format ? res->format : "unknown"));
    bad |= json_object_set_new(o, "name", json_string(name));
    free(name);
    if (res->width >= 0) bad |= json_object_set_new(o, "width", json_integer(res->width));
    if (res->height >= 0) bad |= json_object_set_new(o, "height", json_integer(res->height));
    bad |= json_object_set_new(o, "bytes", json_integer(job->bytes));
    bad |= json_object_set_new(o, "mtime", json_integer(job->mtime));
    bad |= json_object_set_new(o, "mtime_ns", json_integer(job->mtime_ns));
    /* When the photo was taken (search --after/--before): EXIF DateTimeOriginal, else the
     * file's mtime; seconds since the epoch either way. */
    bad |= json_object_set_new(o, "taken", json_integer(res->has_taken ? res->taken : job->mtime));
    bad |= json_object_set_new(o, "hash", json_string(res->hash));
    bad |= json_object_set_new(o, "dirs", raw_dirs ? raw_dirs : json_array());
    raw_dirs = NULL;
    if (embedder && *embedder) bad |= json_object_set_new(o, "embedder", json_string(embedder));
    char *text = bad ? NULL : json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}
