#include "cli/cli_model.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli_util.h"
#include "clipsearch/model_record.h"

cs_clip *cli_load_model(const char *model_arg, int precision, cs_error *err)
{
    char dir[PATH_MAX];
    if (cs_clip_resolve_model_dir(model_arg, dir, sizeof dir, err) != 0) return NULL;
    if (!cs__dir_exists(dir)) {
        cs_error_set(err, CS_E_MODEL,
                     "no CLIP model at %s: run 'clipsearch model download', or place a "
                     "Hugging Face CLIP directory (config.json, model.safetensors, "
                     "vocab.json, merges.txt) there, or pass --model DIR / set "
                     "CLIPSEARCH_MODEL",
                     dir);
        return NULL;
    }
    cs_clip_options opt;
    cs_clip_options_init(&opt);
    opt.precision = precision;
    cs_clip *model = NULL;
    if (cs_clip_load(dir, &opt, &model, err) != 0) return NULL;
    return model;
}

/* The first-run message: what was looked at, and the command that fills it. */
static void print_nothing_indexed(const char *db_arg, const char *location, cs_store *store,
                                  const char *name)
{
    char cmd[2048];
    cli_index_command(db_arg, store ? cs_store_location(store) : location, name, cmd, sizeof cmd);
    /* Other collections there: name them, the user may have mistyped --collection. */
    cs_collection_info *infos = NULL;
    size_t n = 0;
    cs_error ignored = {0};
    if (store) cs_store_list(store, &infos, &n, &ignored);
    if (n == 0) {
        fprintf(stderr, "clipsearch: nothing indexed yet in %s \u2014 run: %s\n", location, cmd);
    } else {
        fprintf(stderr, "clipsearch: nothing indexed yet in collection '%s' of %s (it has:", name,
                location);
        for (size_t i = 0; i < n && i < 10; i++)
            fprintf(stderr, "%s %s", i ? "," : "", infos[i].name);
        fprintf(stderr, "%s) \u2014 run: %s\n", n > 10 ? ", ..." : "", cmd);
    }
    cs_collection_info_free(infos, n);
}

int cli_open_collection(const char *db_arg, const char *name, cs_store **store,
                        cs_collection **coll)
{
    *store = NULL;
    *coll = NULL;
    cs_error err = {0};
    char *url = cli_resolve_db(db_arg, false, &err);
    if (!url) return cli_fail(&err);
    int rc = cs_store_open_ex(url, CS_STORE_READ_ONLY, store, &err);
    if (rc == 0) rc = cs_store_get(*store, name, coll, &err);
    int status = 0;
    if (rc == CS_E_STORE_NOT_FOUND || rc == CS_E_COLLECTION_NOT_FOUND) {
        const char *location = *store ? cs_store_location(*store)
                               : !strncmp(url, "sqlite://", 9) ? url + 9 : url;
        print_nothing_indexed(db_arg, location, *store, name);
        status = 1;
    } else if (rc != 0) {
        status = cli_fail(&err);
    }
    if (status) {
        cs_store_close(*store);
        *store = NULL;
    }
    free(url);
    return status;
}

int cli_open_search(const char *db_arg, const char *name, bool exif, cs_search_session **out)
{
    *out = NULL;
    cs_error err = {0};
    char *url = cli_resolve_db(db_arg, false, &err);
    if (!url) return cli_fail(&err);
    cs_search_session_options opt;
    cs_search_session_options_init(&opt);
    opt.store_url = url;
    opt.collection = name;
    opt.apply_exif_orientation = exif;
    opt.warm = true;
    int rc = cs_search_session_open(&opt, out, &err);
    int status = 0;
    if (rc == CS_E_STORE_NOT_FOUND || rc == CS_E_COLLECTION_NOT_FOUND) {
        /* Opened again only to name what is there (the session closed its store). */
        cs_store *store = NULL;
        cs_error ignored = {0};
        if (rc == CS_E_COLLECTION_NOT_FOUND)
            cs_store_open_ex(url, CS_STORE_READ_ONLY, &store, &ignored);
        const char *location = store ? cs_store_location(store)
                               : !strncmp(url, "sqlite://", 9) ? url + 9 : url;
        print_nothing_indexed(db_arg, location, store, name);
        cs_store_close(store);
        status = 1;
    } else if (rc != 0) {
        status = cli_fail(&err);
    }
    free(url);
    return status;
}

int cli_check_model(cs_collection *coll, const cs_clip *model, bool exif, bool fast_decode,
                    int use, cs_error *err)
{
    cs_model_identity id;
    int rc = cs_model_identity_init(&id, model, exif, fast_decode, err);
    char *warning = NULL;
    if (rc == 0) rc = cs_model_record_check(coll, &id, (cs_model_use)use, &warning, err);
    if (warning) fprintf(stderr, "clipsearch: warning: %s\n", warning);
    free(warning);
    return rc;
}

char *cli_read_text(const char *path, cs_error *err)
{
    if (strcmp(path, "-") != 0) {
        uint8_t *data = NULL;
        size_t len = 0;
        if (cs__read_file(path, 0, &data, &len, err) != 0) return NULL;
        return (char *)data;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *g = realloc(buf, cap * 2);
            if (!g) { free(buf); buf = NULL; break; }
            buf = g;
            cap *= 2;
        }
    }
    if (!buf) {
        cs_error_set(err, CS_E_NOMEM, "out of memory reading stdin");
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}
