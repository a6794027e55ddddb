/* cs_clip_save: a loaded model, with some tensors replaced, written back as a complete
 * Hugging Face checkpoint (what fine-tuning produces). Everything goes into a temporary
 * folder beside the destination that is renamed into place only once complete and
 * synced, so an interrupted save never leaves a half-written model behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "clip/model.h"

/* Files besides the weights that make the folder loadable by clipsearch and transformers;
 * absent optional ones are skipped. config.json is rewritten (torch_dtype). */
static const char *const COPIED[] = {"vocab.json", "merges.txt", "preprocessor_config.json",
                                     "tokenizer.json", "tokenizer_config.json",
                                     "special_tokens_map.json"};

static int write_all(const char *path, const void *data, size_t len, cs_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return cs_error_set(err, CS_E_IO, "cannot create %s: %s", path, strerror(errno));
    const char *p = data;
    while (len) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            close(fd);
            return cs_error_set(err, CS_E_IO, "cannot write %s: %s", path, strerror(e));
        }
        p += k;
        len -= (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0)
        return cs_error_set(err, CS_E_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static int copy_file(const char *src_dir, const char *dst_dir, const char *name, cs_error *err)
{
    char *src = cs__path_join(src_dir, name), *dst = cs__path_join(dst_dir, name);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = !src || !dst ? cs_error_set(err, CS_E_NOMEM, "out of memory") : 0;
    if (!rc && cs__file_exists(src)) {
        rc = cs__read_file(src, 0, &data, &len, err);
        if (!rc) rc = write_all(dst, data, len, err);
    }
    free(data);
    free(src);
    free(dst);
    return rc;
}

/* config.json as loaded, except that torch_dtype says what the weights now are. */
static int write_config(const cs_clip *m, const char *dst_dir, cs_error *err)
{
    char *src = cs__path_join(m->dir, "config.json"), *dst = cs__path_join(dst_dir, "config.json");
    json_error_t jerr;
    json_t *cfg = src ? json_load_file(src, 0, &jerr) : NULL;
    char *text = NULL;
    int rc = 0;
    if (!src || !dst) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    else if (!json_is_object(cfg))
        rc = cs_error_set(err, CS_E_MODEL, "%s: cannot read it again: %s", src, jerr.text);
    else {
        json_object_set_new(cfg, "torch_dtype", json_string("float32"));
        text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        rc = text ? write_all(dst, text, strlen(text), err)
                  : cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    free(text);
    json_decref(cfg);
    free(src);
    free(dst);
    return rc;
}

static const float *find_update(const cs_clip_tensor_update *u, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(u[i].name, name)) return u[i].data;
    return NULL;
}

static int is_float(cs__st_dtype d) { return d == CS_ST_F32 || d == CS_ST_F16 || d == CS_ST_BF16; }

/* Integer tensors (old checkpoints' position_ids) first so that every F32 tensor after
 * them stays 4-byte aligned whatever their sizes. */
static int write_weights(const cs_clip *m, const char *path, const cs_clip_tensor_update *upd,
                         size_t n_upd, cs_error *err)
{
    const cs__st_file *st = &m->st;
    size_t n = st->n_tensors, k = 0;
    cs__st_entry *e = calloc(n ? n : 1, sizeof *e);
    const cs__st_tensor **order = calloc(n ? n : 1, sizeof *order);
    float *buf = NULL;
    cs__st_writer *w = NULL;
    int rc = !e || !order ? cs_error_set(err, CS_E_NOMEM, "out of memory") : 0;
    for (int pass = 0; !rc && pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const cs__st_tensor *t = &st->tensors[i];
            if (is_float(t->dtype) != (pass == 1)) continue;
            order[k] = t;
            e[k].name = t->name;
            e[k].dtype = is_float(t->dtype) ? "F32" : t->dtype_name;
            e[k].ndim = t->ndim;
            memcpy(e[k].shape, t->shape, sizeof t->shape);
            k++;
        }
    for (size_t i = 0; !rc && i < n_upd; i++) {
        const cs__st_tensor *t = cs__st_find(st, upd[i].name);
        if (!t || !is_float(t->dtype) || !upd[i].data)
            rc = cs_error_set(err, CS_E_ARG, "cannot update tensor %s: %s", upd[i].name,
                              !t ? "the model has no such tensor" : "not a float tensor");
    }
    if (!rc) rc = cs__st_writer_open(path, e, n, &w, err);
    for (size_t i = 0; !rc && i < n; i++) {
        const cs__st_tensor *t = order[i];
        const float *u = find_update(upd, n_upd, t->name);
        if (u) {
            rc = cs__st_writer_put(w, u, t->numel * sizeof(float), err);
        } else if (!is_float(t->dtype)) {
            rc = cs__st_writer_put(w, st->data + t->begin, t->end - t->begin, err);
        } else if (t->dtype == CS_ST_F32) {
            rc = cs__st_writer_put(w, st->data + t->begin, t->end - t->begin, err);
        } else {
            /* One tensor at a time: a bf16 ViT-B/32 never needs its 600 MB F32 copy. */
            float *nb = realloc(buf, t->numel * sizeof(float) + 1);
            if (!nb) {
                rc = cs_error_set(err, CS_E_NOMEM, "out of memory widening %s", t->name);
                break;
            }
            buf = nb;
            cs__st_copy_f32(st, t, buf);
            rc = cs__st_writer_put(w, buf, t->numel * sizeof(float), err);
        }
    }
    if (w) {
        if (rc) cs__st_writer_abort(w);
        else rc = cs__st_writer_close(w, err);
    }
    free(buf);
    free(order);
    free(e);
    return rc;
}

/* The unfinished output: its files and (sentence-transformers layout) its one
 * subfolder of files. */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char *p = cs__path_join(dir, de->d_name);
            if (p && unlink(p) != 0 && errno == EISDIR) remove_tree(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

#define ST_MODULE "0_CLIPModel"
static const char ST_MODULES_JSON[] =
    "[\n  {\n    \"idx\": 0,\n    \"name\": \"0\",\n    \"path\": \"" ST_MODULE "\",\n"
    "    \"type\": \"sentence_transformers.models.CLIPModel\"\n  }\n]\n";

static int save(const cs_clip *m, const char *dir, const cs_clip_tensor_update *updates,
                size_t n_updates, bool st, cs_error *err)
{
    if (!dir || !*dir) return cs_error_set(err, CS_E_ARG, "no output folder given");
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    char *dst = strndup(dir, len), *tmp = malloc(len + 16), *parent = strndup(dir, len);
    int rc = !dst || !tmp || !parent ? cs_error_set(err, CS_E_NOMEM, "out of memory") : 0;
    if (rc) {   /* tmp holds no folder name yet: nothing to use or remove below */
        free(tmp);
        tmp = NULL;
    } else {
        snprintf(tmp, len + 16, "%s.tmp-XXXXXX", dst);
        if (!mkdtemp(tmp)) {
            rc = cs_error_set(err, CS_E_IO, "cannot create a folder beside %s: %s", dst,
                              strerror(errno));
            free(tmp);
            tmp = NULL;
        }
    }
    /* Where the checkpoint's files go: the folder itself, or its module folder. */
    char *files = !tmp ? NULL : st ? cs__path_join(tmp, ST_MODULE) : strdup(tmp);
    char *st_path = files ? cs__path_join(files, "model.safetensors") : NULL;
    if (!rc && !st_path) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (!rc && st && mkdir(files, 0755) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot create %s: %s", files, strerror(errno));
    if (!rc) rc = write_weights(m, st_path, updates, n_updates, err);
    if (!rc) rc = write_config(m, files, err);
    for (size_t i = 0; !rc && i < sizeof COPIED / sizeof COPIED[0]; i++)
        rc = copy_file(m->dir, files, COPIED[i], err);
    if (!rc && st) {
        char *modules = cs__path_join(tmp, "modules.json");
        rc = modules ? write_all(modules, ST_MODULES_JSON, sizeof ST_MODULES_JSON - 1, err)
                     : cs_error_set(err, CS_E_NOMEM, "out of memory");
        free(modules);
        sync_dir(files);
    }
    if (!rc) {
        sync_dir(tmp);
        chmod(tmp, 0755); /* mkdtemp's 0700 is for the unfinished folder only */
        /* rename() replaces an empty folder but never a non-empty one (ENOTEMPTY). */
        if (rename(tmp, dst) != 0)
            rc = cs_error_set(err, errno == ENOTEMPTY || errno == EEXIST ? CS_E_ARG : CS_E_IO,
                              "cannot create %s: %s", dst,
                              errno == ENOTEMPTY || errno == EEXIST
                                  ? "it exists and is not empty"
                                  : strerror(errno));
    }
    if (rc && tmp) remove_tree(tmp);
    if (!rc) {
        char *slash = strrchr(parent, '/');
        if (slash) slash[slash == parent] = '\0';
        sync_dir(slash ? parent : ".");
    }
    free(st_path);
    free(files);
    free(parent);
    free(tmp);
    free(dst);
    return rc;
}

int cs_clip_save(const cs_clip *m, const char *dir, const cs_clip_tensor_update *updates,
                 size_t n_updates, cs_error *err)
{
    return save(m, dir, updates, n_updates, false, err);
}

int cs_clip_save_st(const cs_clip *m, const char *dir, const cs_clip_tensor_update *updates,
                    size_t n_updates, cs_error *err)
{
    return save(m, dir, updates, n_updates, true, err);
}
