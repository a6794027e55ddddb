/* clipsearch serve: the web UI and HTTP JSON API (src/web/, include/clipsearch/web.h)
 * until SIGINT or SIGTERM. The model and the store are opened once. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_model.h"
#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/web.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch serve [options]\n"
        "\n"
        "Serves a search page and an HTTP JSON API until interrupted (Ctrl-C / SIGTERM):\n"
        "  GET  /                     the search page\n"
        "  GET  /api/search?q=TEXT&k=N&filter=JSON&min_score=S&collection=NAME\n"
        "  GET  /api/search?like=ID&...   records similar to a stored record\n"
        "  POST /api/search/image     image as the body or form field 'image' (+ q= for mixed)\n"
        "  GET  /api/thumb?id=ID&size=N   JPEG thumbnail of an indexed image\n"
        "  GET  /api/file?id=ID       the indexed image itself (the page's links)\n"
        "  GET  /api/collections\n"
        "There is no authentication: it listens on 127.0.0.1 only, unless --allow-remote.\n"
        "\n"
        "options:\n"
        "  --port N              TCP port (default 8765; 0 = any free port)\n"
        "  --host ADDR           address to listen on (default 127.0.0.1)\n"
        "  --allow-remote        allow a non-loopback --host (anyone who can reach it can\n"
        "                        search the collections and see the thumbnails)\n"
        "  --max-upload MB       largest query image accepted (default 32)\n"
        "  --no-exif-orientation query images and thumbnails as stored\n"
        "  --thumb-cache DIR     where thumbnails are cached (default\n"
        "                        ${XDG_CACHE_HOME:-~/.cache}/clipsearch/thumbs; created on\n"
        "                        the first thumbnail, safe to delete at any time)\n"
        "  --thumb-cache-max MB  size of that cache; least recently used thumbnails go\n"
        "                        (default 256)\n"
        "  --no-thumb-cache      make every thumbnail afresh, write nothing\n"
        "  --db URL              store (default $CLIPSEARCH_DB or the user data dir)\n"
        "  --collection NAME     default collection (default image_vectors)\n"
        "  --model DIR           CLIP model directory (default $CLIPSEARCH_MODEL or cache)\n"
        "  --precision P         fp32 (default, the reference numbers) or bf16 (faster on\n"
        "                        CPUs with AVX512-BF16 or AMX; refused elsewhere)\n");
}

/* Serving without the default collection, or without a database at all, is allowed (it
 * may be indexed meanwhile, or the page may pick another collection; the page shows what
 * to run), but worth a word. */
static void note_collection(cs_store *store, const char *location, const char *name,
                            const char *index_cmd)
{
    cs_collection *coll = NULL;
    cs_error err = {0};
    if (!store) {
        fprintf(stderr, "clipsearch: note: nothing indexed yet in %s \u2014 run: %s (the page "
                        "shows this until then; nothing is created here)\n", location, index_cmd);
    } else if (cs_store_get(store, name, &coll, &err) == 0) {
        cs_collection_free(coll);
    } else if (err.code == CS_E_COLLECTION_NOT_FOUND) {
        fprintf(stderr, "clipsearch: note: collection '%s' does not exist yet in %s (fill it "
                        "with '%s', or pick another on the page)\n", name, location, index_cmd);
    }
}

/* ${XDG_CACHE_HOME:-$HOME/.cache}/clipsearch/thumbs, or NULL (no cache, said once)
 * when neither is set. */
static const char *default_thumb_cache(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = -1;
    if (xdg && *xdg == '/') n = snprintf(buf, size, "%s/clipsearch/thumbs", xdg);
    else if (home && *home == '/') n = snprintf(buf, size, "%s/.cache/clipsearch/thumbs", home);
    if (n > 0 && (size_t)n < size) return buf;
    fprintf(stderr, "clipsearch: note: neither XDG_CACHE_HOME nor HOME is set: thumbnails are "
                    "not cached (--thumb-cache DIR)\n");
    return NULL;
}

static const char *parse_folder(const char *value, void *target)
{
    if (!*value) return "needs a folder";
    *(const char **)target = value;
    return NULL;
}

int cmd_serve(int argc, char **argv)
{
    cs_web_options wo;
    cs_web_options_init(&wo);
    const char *db = NULL, *model_dir = NULL, *thumb_dir = NULL;
    bool no_thumb_cache = false;
    int precision = CS_PRECISION_FP32;
    int upload_mb = 0, thumb_max_mb = 0;   /* 0: not given */
    const cs__cli_option opts[] = {
        CLI_INT("--port", &wo.port, 0, 65535, "needs an integer 0..65535, got '%s'"),
        CLI_STRING("--host", &wo.host),
        CLI_SET("--allow-remote", &wo.allow_remote),
        CLI_INT("--max-upload", &upload_mb, 1, 4096, "needs megabytes 1..4096, got '%s'"),
        CLI_CLEAR("--no-exif-orientation", &wo.apply_exif_orientation),
        CLI_STRING("--db", &db),
        CLI_STRING("--collection", &wo.collection),
        CLI_STRING("--model", &model_dir),
        CLI_PRECISION("--precision", &precision),
        CLI_PARSE("--thumb-cache", &thumb_dir, parse_folder),
        CLI_INT("--thumb-cache-max", &thumb_max_mb, 1, 1 << 20,
                "needs megabytes 1..1048576, got '%s'"),
        CLI_SET("--no-thumb-cache", &no_thumb_cache),
        CLI_END};
    int first, status = cli_parse_options("serve", usage, CLI_SEE_HELP | CLI_NAME_LETTER, opts,
                                          argc, argv, &first);
    if (status != CLI_GO_ON) return status;
    if (upload_mb) wo.max_upload = (size_t)upload_mb << 20;
    if (thumb_max_mb) wo.thumb_cache_max = (uint64_t)thumb_max_mb << 20;
    if (first < argc)
        return cli_usage_error("serve", "unexpected argument '%s' (see --help)", argv[first]);
    if (no_thumb_cache && thumb_dir)
        return cli_usage_error("serve", "--thumb-cache and --no-thumb-cache contradict each other");
    char cache_buf[4096];
    if (!no_thumb_cache) wo.thumb_cache_dir = thumb_dir ? thumb_dir : default_thumb_cache(cache_buf, sizeof cache_buf);

    /* Block the stop signals before the server thread exists, so it inherits the mask
     * and this thread alone receives them, in sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    cs_error err = {0};
    status = 0;
    cs_store *store = NULL;
    cs_clip *model = NULL;
    cs_web_server *server = NULL;
    char *url = cli_resolve_db(db, false, &err);
    /* Read-only: serving creates nothing. Without a database yet the server starts on an
     * empty store and opens it once `index` has made it (cs_web_options.store_url). */
    int rc = url ? cs_store_open_ex(url, CS_STORE_READ_ONLY, &store, &err) : err.code;
    if (rc == CS_E_STORE_NOT_FOUND) rc = 0;
    char index_cmd[2048] = "";
    if (url) {
        const char *location = store ? cs_store_location(store)
                               : !strncmp(url, "sqlite://", 9) ? url + 9 : url;
        cli_index_command(db, location, wo.collection, index_cmd, sizeof index_cmd);
        wo.index_command = index_cmd;
        wo.store_url = url;
    }
    if (rc != 0 || !(model = cli_load_model(model_dir, precision, &err))) {
        status = cli_fail(&err);
    } else {
        note_collection(store, store ? cs_store_location(store)
                               : !strncmp(url, "sqlite://", 9) ? url + 9 : url,
                        wo.collection, index_cmd);
        if (cs_web_start(model, store, &wo, &server, &err) != 0) {
            status = cli_fail(&err);
        } else {
            char where[300];
            cs_web_url(server, where, sizeof where);
            fprintf(stderr, "clipsearch: serving %s\n", where);
            fflush(stderr);
            int sig = 0;
            sigwait(&stop, &sig);
            fprintf(stderr, "clipsearch: stopping (%s)\n", strsignal(sig));
            cs_web_stop(server);
        }
    }
    free(url);
    if (model) cs_clip_free(model);
    if (store) cs_store_close(store);
    return status;
}
