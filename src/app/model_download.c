/* clipsearch model download: Hugging Face repo -> model directory in the cache.
 * Crash safety comes from the layout: everything is fetched into <parent>/.<dir>.partial
 * (files as <file>.part until verified) and the folder is renamed into place only when
 * complete and loadable, so the installed model is always either the old or the new. */
#include "clipsearch/models.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/model_download_http.h"
#include "base/sha256.h"
#include "clipsearch/clip.h"

typedef struct {
    const char *name;
    bool required;
} model_file;

static const model_file FILES[] = {
    {"config.json", true},
    {"vocab.json", true},
    {"merges.txt", true},
    {"preprocessor_config.json", false},
    {"tokenizer.json", false},
    {"tokenizer_config.json", false},
    {"special_tokens_map.json", false},
    {"model.safetensors", true},   /* last: the small files fail fast on a bad name */
};

void cs_model_download_options_init(cs_model_download_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->retries = 3;
    opt->connect_timeout_s = 20;
}

static int mkdir_p(const char *path, cs_error *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return cs_error_set(err, CS_E_ARG, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return cs_error_set(err, CS_E_IO, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return cs_error_set(err, CS_E_IO, "cannot create %s: %s", buf, strerror(errno));
    return 0;
}

/* Removes a directory we created (flat: model folders have no subfolders). */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PATH_MAX + 300];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            remove(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static bool file_size(const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    *size = (uint64_t)st.st_size;
    return true;
}

static bool installed(const char *dir)
{
    char p[PATH_MAX];
    uint64_t s;
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (!file_size(p, &s)) return false;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    return file_size(p, &s);
}

static char *read_small(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = calloc(1, 256);
    if (buf && !fgets(buf, 256, f)) buf[0] = '\0';
    fclose(f);
    return buf;
}

static void write_small(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

typedef struct {
    const cs_model_download_options *opt;
    const char *file;
    uint64_t total;
} progress_ctx;

static void on_progress(void *ud, uint64_t done)
{
    progress_ctx *p = ud;
    if (p->opt->progress) p->opt->progress(p->opt->progress_ud, p->file, done, p->total);
}

/* Verifies a complete file against the remote metadata. */
static int verify(const char *path, const char *shown, const cs__dl_remote *r, cs_error *err)
{
    uint64_t size = 0;
    if (!file_size(path, &size)) return cs_error_set(err, CS_E_IO, "%s vanished", path);
    if (r->size_known && size != r->size)
        return cs_error_set(err, CS_E_FORMAT, "%s: size %" PRIu64 " bytes, the server says %" PRIu64,
                            shown, size, r->size);
    if (!r->lfs) return 0;   /* a git blob's ETag is a sha1 of the blob: size check only */
    char hex[65];
    int rc = cs__sha256_file(path, hex, err);
    if (rc != 0) return rc;
    if (strcmp(hex, r->sha256) != 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: SHA-256 %s does not match the server's %s",
                            shown, hex, r->sha256);
    return 0;
}

/* Downloads one file into the partial folder. *skipped when it is optional and absent. */
static int fetch_one(const cs_model_download_options *opt, const cs__dl_http *http0,
                     const char *base_url, const char *partial, const model_file *mf,
                     cs_model_download_result *res, bool *skipped, cs_error *err)
{
    *skipped = false;
    char url[PATH_MAX + 256], final[PATH_MAX + 300], part[PATH_MAX + 308], tag[PATH_MAX + 316];
    snprintf(url, sizeof url, "%s/%s", base_url, mf->name);
    snprintf(final, sizeof final, "%s/%s", partial, mf->name);
    snprintf(part, sizeof part, "%s.part", final);
    snprintf(tag, sizeof tag, "%s.etag", part);

    cs__dl_remote r;
    int rc = cs__dl_head(http0, url, &r, err);
    if (rc != 0) return rc;
    if (r.status == 404 || !strcmp(r.error_code, "EntryNotFound")) {
        if (!mf->required) {
            *skipped = true;
            return 0;
        }
        if (!strcmp(mf->name, "model.safetensors"))
            return cs_error_set_remedy(err, CS_E_UNSUPPORTED, CS_REMEDY_NAME_MODEL,
                                       "%s has no model.safetensors (HTTP 404 for %s): "
                                       "checkpoints that only ship pytorch_model.bin are not "
                                       "supported; convert it with transformers "
                                       "(save_pretrained(..., safe_serialization=True)) and "
                                       "use the converted folder",
                                       opt->name, url);
        return cs_error_set(err, CS_E_NOT_FOUND, "required file %s not found (HTTP 404): %s",
                            mf->name, url);
    }
    if (r.status == 401 || r.status == 403)
        return cs_error_set(err, CS_E_NETWORK,
                            "HTTP %ld for %s%s%s: the repository does not exist, is private "
                            "or gated (set HF_TOKEN for gated models)",
                            r.status, url, r.error_code[0] ? ", " : "", r.error_code);
    if (r.status != 200 && !(r.status >= 300 && r.status < 400))
        return cs_error_set(err, CS_E_NETWORK, "HTTP %ld for %s", r.status, url);

    /* A verified copy from an earlier run of this command. */
    uint64_t have;
    if (file_size(final, &have)) {
        cs_error tmp = {0};
        if (verify(final, mf->name, &r, &tmp) == 0) {
            res->bytes_resumed += have;
            return 0;
        }
        remove(final);
    }
    /* A .part is resumed only when it belongs to the same remote version. */
    char *old_tag = read_small(tag);
    if (!old_tag || strcmp(old_tag, r.etag) != 0) remove(part);
    free(old_tag);
    write_small(tag, r.etag);

    progress_ctx pc = {opt, mf->name, r.size_known ? r.size : 0};
    cs__dl_http http = *http0;
    http.progress = on_progress;
    http.progress_ud = &pc;
    for (int attempt = 0;; attempt++) {
        uint64_t offset = 0;
        if (!file_size(part, &offset)) offset = 0;
        if (r.size_known && offset > r.size) {
            remove(part);
            offset = 0;
        }
        if (r.size_known && offset == r.size && offset > 0) break;
        if (attempt == 0) res->bytes_resumed += offset;
        uint64_t got = 0;
        rc = cs__dl_get(&http, url, part, offset, &got, err);
        res->bytes_downloaded += got;
        uint64_t now = 0;
        file_size(part, &now);
        if (rc == 0 && r.size_known && now < r.size) {
            rc = DL_INTERRUPTED;   /* the server closed early without saying so */
            cs_error_set(err, CS_E_NETWORK, "%s: transfer ended at %" PRIu64 " of %" PRIu64 " bytes",
                         url, now, r.size);
        }
        if (rc == 0) break;
        if (rc != DL_INTERRUPTED) return rc;
        if (attempt >= opt->retries)
            return cs_error_prefix(err, "download interrupted after %" PRIu64 " bytes of %s "
                                   "(kept; run the command again to resume)", now, mf->name);
        usleep(200000u * (unsigned)(attempt + 1));
    }
    if (opt->progress) opt->progress(opt->progress_ud, mf->name, r.size, r.size);
    rc = verify(part, mf->name, &r, err);
    if (rc != 0) {
        /* A corrupt file cannot be resumed into a good one: start it over next time. */
        remove(part);
        remove(tag);
        return cs_error_prefix(err, "verification failed (the partial file was removed, nothing "
                               "was installed)");
    }
    if (rename(part, final) != 0)
        return cs_error_set(err, CS_E_IO, "cannot rename %s: %s", part, strerror(errno));
    remove(tag);
    return 0;
}

static int download_all(const cs_model_download_options *opt, const char *partial,
                        cs_model_download_result *res, cs_error *err);

static int install(const char *partial, const char *dest, cs_error *err)
{
    struct stat st;
    if (stat(dest, &st) == 0) {
        char old[PATH_MAX + 32];
        snprintf(old, sizeof old, "%s.old.%ld", dest, (long)getpid());
        if (rename(dest, old) != 0)
            return cs_error_set(err, CS_E_IO, "cannot move the old %s aside: %s", dest, strerror(errno));
        if (rename(partial, dest) != 0) {
            int e = errno;
            rename(old, dest);
            return cs_error_set(err, CS_E_IO, "cannot install %s: %s", dest, strerror(e));
        }
        remove_flat_dir(old);
        return 0;
    }
    if (rename(partial, dest) != 0)
        return cs_error_set(err, CS_E_IO, "cannot install %s: %s", dest, strerror(errno));
    return 0;
}

int cs_model_download(const cs_model_download_options *opt_in, cs_model_download_result *res,
                      cs_error *err)
{
    cs_model_download_options opt;
    if (opt_in) opt = *opt_in;
    else cs_model_download_options_init(&opt);
    if (!opt.name || !*opt.name) opt.name = CS_DEFAULT_MODEL_NAME;
    if (!opt.revision || !*opt.revision) opt.revision = "main";
    if (!opt.endpoint || !*opt.endpoint) {
        const char *env = getenv("CLIPSEARCH_HF_ENDPOINT");
        opt.endpoint = env && *env ? env : CS_DEFAULT_HF_ENDPOINT;
    }
    if (opt.retries < 0) opt.retries = 0;
    memset(res, 0, sizeof *res);
    if (strstr(opt.name, "..") || opt.name[0] == '/' || strchr(opt.name, ' '))
        return cs_error_set(err, CS_E_ARG, "invalid model name '%s' (expected owner/name)", opt.name);

    int rc;
    if (opt.dest_dir && *opt.dest_dir) {
        snprintf(res->dest_dir, sizeof res->dest_dir, "%s", opt.dest_dir);
    } else if ((rc = cs_clip_default_model_dir(opt.name, res->dest_dir, sizeof res->dest_dir,
                                                err)) != 0) {
        return rc;
    }
    size_t dl = strlen(res->dest_dir);
    while (dl > 1 && res->dest_dir[dl - 1] == '/') res->dest_dir[--dl] = '\0';
    if (!opt.force && installed(res->dest_dir)) {
        res->already_installed = true;
        return 0;
    }
    /* <parent>/.<base>.partial: same file system as the destination, so rename works. */
    char parent[PATH_MAX], partial[PATH_MAX + 32];
    snprintf(parent, sizeof parent, "%s", res->dest_dir);
    char *slash = strrchr(parent, '/');
    const char *base = res->dest_dir + (slash ? (size_t)(slash - parent) + 1 : 0);
    if (!slash) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) parent[1] = '\0';
    else *slash = '\0';
    snprintf(partial, sizeof partial, "%s/.%s.partial", parent, base);
    if ((rc = mkdir_p(partial, err)) != 0) return rc;
    /* Two downloads into one .partial folder would interleave their .part files. */
    char lock_path[PATH_MAX + 64];
    snprintf(lock_path, sizeof lock_path, "%s/.%s.lock", parent, base);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0)
        return cs_error_set(err, CS_E_IO, "cannot create %s: %s", lock_path, strerror(errno));
    if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
        close(lock);
        return cs_error_set(err, CS_E_BUSY, "another 'clipsearch model download' is writing %s",
                            partial);
    }
    rc = download_all(&opt, partial, res, err);
    close(lock);   /* releases the lock; the empty lock file may stay */
    return rc;
}

static int download_all(const cs_model_download_options *opt0, const char *partial,
                        cs_model_download_result *res, cs_error *err)
{
    const cs_model_download_options opt = *opt0;
    int rc;

    char base_url[PATH_MAX];
    size_t el = strlen(opt.endpoint);
    while (el && opt.endpoint[el - 1] == '/') el--;
    snprintf(base_url, sizeof base_url, "%.*s/%s/resolve/%s", (int)el, opt.endpoint, opt.name,
             opt.revision);
    cs__dl_http http = {.connect_timeout_s = opt.connect_timeout_s, .token = getenv("HF_TOKEN")};
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        bool skipped;
        rc = fetch_one(&opt, &http, base_url, partial, &FILES[i], res, &skipped, err);
        if (rc != 0) {
            if (rc == CS_E_NETWORK && strstr(err->msg, "offline")) {
                cs_error_prefix(err, "model download failed");
                size_t n = strlen(err->msg);
                snprintf(err->msg + n, sizeof err->msg - n,
                         ". To use a model without downloading, copy a Hugging Face CLIP "
                         "folder (config.json, model.safetensors, vocab.json, merges.txt) "
                         "to %s, or use one where it is",
                         res->dest_dir);
                err->remedy = CS_REMEDY_NAME_MODEL;
            }
            return rc;
        }
        if (!skipped) res->files++;
    }
    /* Only a model that loads is installed. */
    cs_clip_options copt;
    cs_clip_options_init(&copt);
    copt.n_threads = 1;
    cs_clip *model = NULL;
    if ((rc = cs_clip_load(partial, &copt, &model, err)) != 0)
        return cs_error_prefix(err, "downloaded files of %s do not load (kept in %s)", opt.name,
                               partial);
    cs_clip_free(model);
    return install(partial, res->dest_dir, err);
}
