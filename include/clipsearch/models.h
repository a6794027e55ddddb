/* Model management: download a CLIP checkpoint from Hugging Face into the cache
 * (resumable, verified, installed atomically) and describe an installed model.
 * Owned by src/app/model_download*.c, model_info.c. */
#ifndef CLIPSEARCH_MODELS_H
#define CLIPSEARCH_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/clip.h"   /* CS_DEFAULT_MODEL_NAME */
#include "clipsearch/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CS_DEFAULT_HF_ENDPOINT "https://huggingface.co"

/* Progress of one file: done of total bytes (total 0 when unknown). file NULL with
 * done == total == 0 announces nothing; the callback must not fail. */
typedef void (*cs_download_progress_fn)(void *ud, const char *file, uint64_t done,
                                        uint64_t total);

typedef struct cs_model_download_options {
    const char *name;           /* "owner/repo"; NULL = CS_DEFAULT_MODEL_NAME */
    const char *revision;       /* NULL = "main" */
    const char *endpoint;       /* NULL = $CLIPSEARCH_HF_ENDPOINT, else huggingface.co */
    const char *dest_dir;       /* NULL = cs_clip_default_model_dir(name) */
    bool force;                 /* download again even when installed */
    int retries;                /* extra attempts per file after a cut connection (default 3) */
    long connect_timeout_s;     /* default 20 */
    cs_download_progress_fn progress;
    void *progress_ud;
} cs_model_download_options;

void cs_model_download_options_init(cs_model_download_options *opt);

typedef struct cs_model_download_result {
    char dest_dir[4096];        /* where the model is (now) installed */
    bool already_installed;     /* nothing was downloaded */
    int files;                  /* files installed */
    uint64_t bytes_downloaded;  /* bytes fetched in this call (resumed bytes excluded) */
    uint64_t bytes_resumed;     /* bytes reused from an earlier interrupted call */
} cs_model_download_result;

/* Fetches config.json, model.safetensors, vocab.json, merges.txt (required) and
 * preprocessor_config.json, tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json (optional: a 404 is fine) from
 * <endpoint>/<name>/resolve/<revision>/<file> into <parent>/.<dir>.partial, resuming
 * *.part files with Range requests; checks every file's size against the server's
 * (X-Linked-Size or Content-Length) and LFS files' SHA-256 against X-Linked-ETag; checks
 * that the result loads; then renames the folder into place. Any failure leaves the
 * installed model (if any) untouched. Offline -> CS_E_NETWORK with a message saying how
 * to place a model by hand. Checkpoints that only ship pytorch_model.bin are refused
 * (CS_E_UNSUPPORTED). */
int cs_model_download(const cs_model_download_options *opt, cs_model_download_result *res,
                      cs_error *err);

/* What is installed in a model directory. */
typedef struct cs_model_file_info {
    char *name;
    uint64_t bytes;
} cs_model_file_info;

typedef struct cs_model_info {
    char *dir;                  /* the directory the weights are in */
    char *layout;               /* "huggingface" or "sentence-transformers" */
    char *architecture;         /* config.json architectures[0], e.g. "CLIPModel" */
    char *model_type;           /* "clip" */
    char *torch_dtype;          /* config.json torch_dtype (may be NULL) */
    char *storage_dtypes;       /* dtypes found in model.safetensors, e.g. "F32" or "F16,I64" */
    uint64_t n_params;          /* parameters in model.safetensors (I64 buffers excluded) */
    int projection_dim;
    int vision_hidden, vision_layers, vision_heads, image_size, patch_size;
    int text_hidden, text_layers, text_heads, vocab_size, context_length;
    char *vision_act, *text_act;
    cs_model_file_info *files;  /* regular files in dir, sorted by name */
    size_t n_files;
    uint64_t total_bytes;
} cs_model_info;

/* Reads config.json and the safetensors header (not the weights). A sentence-transformers
 * folder is followed to its CLIP module. Errors name the missing/invalid file. */
int cs_model_info_read(const char *dir, cs_model_info *info, cs_error *err);
void cs_model_info_free(cs_model_info *info);
/* One JSON object (malloc'd string, compact). NULL on out of memory. */
char *cs_model_info_json(const cs_model_info *info);

#ifdef __cplusplus
}
#endif
#endif
