/* clipsearch model info: what a model directory holds, from config.json and the
 * safetensors header only (the weights are not read). */
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "clipsearch/clip.h"
#include "clipsearch/models.h"

void cs_model_info_free(cs_model_info *info)
{
    if (!info) return;
    free(info->dir);
    free(info->layout);
    free(info->architecture);
    free(info->model_type);
    free(info->torch_dtype);
    free(info->storage_dtypes);
    free(info->vision_act);
    free(info->text_act);
    for (size_t i = 0; i < info->n_files; i++) free(info->files[i].name);
    free(info->files);
    memset(info, 0, sizeof *info);
}

static char *dup_str(json_t *v)
{
    const char *s = json_string_value(v);
    return s ? strdup(s) : NULL;
}

/* Reads an int from a sub-config, with CLIPTextConfig/CLIPVisionConfig defaults. */
static int get_int(json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const cs_model_file_info *)a)->name, ((const cs_model_file_info *)b)->name);
}

static int list_files(const char *dir, cs_model_info *info, cs_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return cs_error_set(err, CS_E_IO, "cannot list %s", dir);
    struct dirent *e;
    size_t cap = 0;
    char path[PATH_MAX + 300];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (info->n_files == cap) {
            cap = cap ? cap * 2 : 16;
            cs_model_file_info *g = realloc(info->files, cap * sizeof *g);
            if (!g) { closedir(d); return cs_error_set(err, CS_E_NOMEM, "out of memory"); }
            info->files = g;
        }
        /* Checked: a NULL name would crash the sort below and every reader of the list. */
        if (!(info->files[info->n_files].name = strdup(e->d_name))) {
            closedir(d);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
        info->files[info->n_files].bytes = (uint64_t)st.st_size;
        info->total_bytes += (uint64_t)st.st_size;
        info->n_files++;
    }
    closedir(d);
    if (info->n_files) qsort(info->files, info->n_files, sizeof *info->files, cmp_files);
    return 0;
}

/* dtypes and parameter count from the safetensors JSON header. */
static int read_safetensors(const char *path, cs_model_info *info, cs_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cs_error_set(err, CS_E_MODEL, "%s is missing", path);
    uint8_t len8[8];
    uint64_t n = 0;
    if (fread(len8, 1, 8, f) == 8)
        for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n == 0 || n > 100u << 20) {
        fclose(f);
        return cs_error_set(err, CS_E_FORMAT, "%s: invalid safetensors header", path);
    }
    char *hdr = malloc(n + 1);
    if (!hdr) {
        fclose(f);
        return cs_error_set(err, CS_E_NOMEM, "out of memory for the header of %s", path);
    }
    size_t got = fread(hdr, 1, n, f);
    fclose(f);
    if (got != n) {
        free(hdr);
        return cs_error_set(err, CS_E_FORMAT, "%s: truncated safetensors header", path);
    }
    hdr[n] = '\0';
    json_t *root = json_loads(hdr, 0, NULL);
    free(hdr);
    if (!json_is_object(root)) {
        json_decref(root);
        return cs_error_set(err, CS_E_FORMAT, "%s: safetensors header is not JSON", path);
    }
    char dtypes[128] = "";
    const char *key;
    json_t *t;
    json_object_foreach(root, key, t) {
        const char *dt = json_string_value(json_object_get(t, "dtype"));
        if (!dt) continue;
        uint64_t count = 1;
        size_t i;
        json_t *dim;
        json_array_foreach(json_object_get(t, "shape"), i, dim) count *= (uint64_t)json_integer_value(dim);
        if (strcmp(dt, "I64") != 0) info->n_params += count;
        /* Append each dtype once, e.g. "F16,I64". */
        char needle[16];
        snprintf(needle, sizeof needle, ",%s,", dt);
        char padded[140];
        snprintf(padded, sizeof padded, ",%s,", dtypes);
        if (!strstr(padded, needle) && strlen(dtypes) + strlen(dt) + 2 < sizeof dtypes) {
            if (*dtypes) strcat(dtypes, ",");
            strcat(dtypes, dt);
        }
    }
    json_decref(root);
    info->storage_dtypes = strdup(dtypes);
    return 0;
}

int cs_model_info_read(const char *dir0, cs_model_info *info, cs_error *err)
{
    memset(info, 0, sizeof *info);
    if (!cs__dir_exists(dir0))
        return cs_error_set_remedy(err, CS_E_MODEL, CS_REMEDY_CHOOSE_MODEL, "no model at %s",
                                   dir0);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dir0);
    info->layout = strdup("huggingface");
    /* sentence-transformers: modules.json names the CLIP module's folder. */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/modules.json", dir0);
    if (cs__file_exists(path)) {
        json_t *mods = json_load_file(path, 0, NULL);
        size_t i;
        json_t *m;
        json_array_foreach(mods, i, m) {
            const char *p = json_string_value(json_object_get(m, "path"));
            const char *type = json_string_value(json_object_get(m, "type"));
            if (p && type && strstr(type, "CLIPModel")) {
                snprintf(dir, sizeof dir, "%s/%s", dir0, p);
                break;
            }
        }
        json_decref(mods);
        free(info->layout);
        info->layout = strdup("sentence-transformers");
    }
    info->dir = realpath(dir, NULL);
    if (!info->dir) info->dir = strdup(dir);
    int rc = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) {
        rc = cs_error_set(err, CS_E_MODEL, "%s: %s", path, cs__file_exists(path) ? jerr.text : "missing");
        goto fail;
    }
    info->architecture = dup_str(json_array_get(json_object_get(cfg, "architectures"), 0));
    info->model_type = dup_str(json_object_get(cfg, "model_type"));
    info->torch_dtype = dup_str(json_object_get(cfg, "torch_dtype"));
    info->projection_dim = get_int(cfg, "projection_dim", 512);
    json_t *v = json_object_get(cfg, "vision_config"), *t = json_object_get(cfg, "text_config");
    info->vision_hidden = get_int(v, "hidden_size", 768);
    info->vision_layers = get_int(v, "num_hidden_layers", 12);
    info->vision_heads = get_int(v, "num_attention_heads", 12);
    info->image_size = get_int(v, "image_size", 224);
    info->patch_size = get_int(v, "patch_size", 32);
    info->text_hidden = get_int(t, "hidden_size", 512);
    info->text_layers = get_int(t, "num_hidden_layers", 12);
    info->text_heads = get_int(t, "num_attention_heads", 8);
    info->vocab_size = get_int(t, "vocab_size", 49408);
    info->context_length = get_int(t, "max_position_embeddings", 77);
    info->vision_act = dup_str(json_object_get(v, "hidden_act"));
    info->text_act = dup_str(json_object_get(t, "hidden_act"));
    if (!info->vision_act) info->vision_act = strdup("quick_gelu");
    if (!info->text_act) info->text_act = strdup("quick_gelu");
    json_decref(cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = read_safetensors(path, info, err)) != 0) goto fail;
    if ((rc = list_files(dir, info, err)) != 0) goto fail;
    return 0;
fail:
    cs_model_info_free(info);
    return rc;
}

char *cs_model_info_json(const cs_model_info *info)
{
    json_t *files = json_array();
    for (size_t i = 0; i < info->n_files; i++)
        json_array_append_new(files, json_pack("{s:s,s:I}", "name", info->files[i].name, "bytes",
                                               (json_int_t)info->files[i].bytes));
    json_t *o = json_pack(
        "{s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:I,s:i,"
        "s:{s:i,s:i,s:i,s:i,s:i,s:s?},s:{s:i,s:i,s:i,s:i,s:i,s:s?},s:o,s:I}",
        "path", info->dir, "layout", info->layout, "architecture", info->architecture,
        "model_type", info->model_type, "torch_dtype", info->torch_dtype, "storage_dtypes",
        info->storage_dtypes, "parameters", (json_int_t)info->n_params, "projection_dim",
        info->projection_dim, "vision", "hidden_size", info->vision_hidden, "layers",
        info->vision_layers, "heads", info->vision_heads, "image_size", info->image_size,
        "patch_size", info->patch_size, "hidden_act", info->vision_act, "text", "hidden_size",
        info->text_hidden, "layers", info->text_layers, "heads", info->text_heads, "vocab_size",
        info->vocab_size, "context_length", info->context_length, "hidden_act", info->text_act,
        "files", files, "total_bytes", (json_int_t)info->total_bytes);
    if (!o) return NULL;
    char compute[256];
    cs_clip_compute_info(compute, sizeof compute);
    json_object_set_new(o, "compute", json_string(compute));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}
