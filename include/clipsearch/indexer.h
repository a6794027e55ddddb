/* Folder indexer: walks directories, embeds the images it finds with a CLIP model and
 * writes them into a collection, incrementally (unchanged files are skipped without
 * being decoded, moved or duplicated files reuse their stored vector). Owned by src/app/.
 *
 * Records: id = absolute canonical path (realpath); a path that is not printable UTF-8
 * (or starts with "file:") is written as a file: IRI with %XX escapes, losslessly and
 * never equal to another path's id (README "Record ids"; src/base/pathid.h); metadata:
 *   type      lower-case extension for image extensions (jpg, png, ...), else the
 *             detected format name (jpeg, png, webp, gif, bmp)
 *   format    the detected format name (content, not name)
 *   name      base name, for display ("\xNN" for bytes that are not printable UTF-8)
 *   width, height: as displayed (after EXIF orientation if applied)
 *   bytes     file size; mtime: integer seconds since the epoch, mtime_ns: the
 *             nanoseconds within that second (together: the exact st_mtim)
 *   hash      XXH3-128 of the content, 32 lower-case hex digits
 * Vectors are L2-normalised image embeddings. The library never prints: progress and
 * per-file warnings go through callbacks, called on the thread that called
 * cs_index_run. */
#ifndef CLIPSEARCH_INDEXER_H
#define CLIPSEARCH_INDEXER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"
#include "clipsearch/store.h"

/* The largest file indexed by default (512 MiB): bigger ones are skipped. The web server
 * reads no larger file either (thumbnails, originals), so what was indexed can be shown. */
#define CS_INDEX_MAX_FILE_BYTES ((uint64_t)512 << 20)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_index_progress {
    const char *phase;        /* "scan" (walking, total still growing), "index", "prune" */
    uint64_t done, total;     /* files examined / files found */
    uint64_t indexed, unchanged, reused, failed;
    double elapsed_s;         /* since cs_index_run started */
    double rate;              /* files per second in the index phase (moving average) */
} cs_index_progress;

typedef void (*cs_index_progress_fn)(const cs_index_progress *p, void *user);
/* file: the path, printable and lossless: as an id is written (a file: IRI with %XX
 * escapes when it is not printable UTF-8); reason: why it was skipped. file is NULL for
 * a warning about the run rather than one file (e.g. no model record to check against). */
typedef void (*cs_index_warning_fn)(const char *file, const char *reason, void *user);

typedef struct cs_indexer_options {
    const char *collection;       /* default "image_vectors" */
    int jobs;                     /* decoding threads; 0 = number of online CPUs */
    int batch;                    /* images per model call and per commit; 0 = 32 */
    bool prune;                   /* delete records under the DIRs whose file is gone */
    /* Re-embed every record under the DIRs that this model (with these options) did not
     * write, whatever model built the collection: how a collection moves to another
     * model or other preprocessing. Resumable: each record's metadata says which model
     * wrote it ("embedder"), so a run after an interruption continues where it stopped.
     * Without it, a collection built by another model or with other options is refused
     * (CS_E_MODEL_MISMATCH, model_record.h). */
    bool reembed;
    /* What gets indexed (rules in src/base/walk.h, README "What gets indexed"). Names
     * below a DIR that start with "." are skipped unless include_hidden; the well-known
     * non-photo trees (.git, node_modules, thumbnail caches, trash, lost+found) always
     * are; so are names matching one of the exclude globs or a .clipsearchignore line.
     * A DIR itself is always walked. */
    bool include_hidden;
    const char *const *exclude;   /* fnmatch globs, n_exclude of them */
    size_t n_exclude;
    bool apply_exif_orientation;  /* default true */
    bool fast_decode;             /* libjpeg DCT scaling of large JPEGs (opt-in; image.h) */
    uint64_t max_pixels;          /* 0 = the decoder's default limit */
    uint64_t max_file_bytes;      /* files larger are skipped; 0 = CS_INDEX_MAX_FILE_BYTES */
    /* Memory the decoding threads may hold at once (file bytes plus each decode's
     * estimate from its header, cs_image_decode_cost); a decode larger than all of it
     * runs alone. 0 = a quarter of the physical memory (at least 256 MiB). */
    uint64_t max_memory;
    cs_index_progress_fn progress;
    void *progress_user;
    double progress_interval_s;   /* minimum time between progress calls; default 0.25 */
    cs_index_warning_fn warning;
    void *warning_user;
    /* When non-NULL and set non-zero (e.g. by a signal handler), the run finishes the
     * batch in hand, commits it and returns CS_E_INTERRUPTED. */
    const volatile sig_atomic_t *stop;
} cs_indexer_options;

void cs_indexer_options_init(cs_indexer_options *opt);

typedef struct cs_index_failure {
    char *file;                   /* path, written as ids are (see cs_index_warning_fn) */
    char *reason;
} cs_index_failure;

/* Room for every format the decoders know (cs_image_format_name), with spare. */
#define CS_INDEX_MAX_FORMATS 24

typedef struct cs_index_summary {
    uint64_t found;               /* files found (every non-directory entry not excluded) */
    uint64_t indexed;             /* embedded by the model and written */
    uint64_t unchanged;           /* already stored with the same size+mtime or content */
    uint64_t reused;              /* written with the stored vector of identical content */
    uint64_t failed;              /* skipped with a reason (see failures) */
    uint64_t ignored;             /* not images (and not named like one): left alone */
    uint64_t pruned;              /* records deleted by prune */
    uint64_t excluded;            /* entries skipped by the rules: a skipped directory
                                     counts once, whatever it holds */
    uint64_t excluded_kept;       /* records of files now excluded but still on disk: left
                                     in the collection, never pruned (prune deletes only
                                     records of files that no longer exist) */
    uint64_t stale;               /* with reembed: records still holding the old model's
                                     vectors (files outside the DIRs, below an unreadable
                                     directory, or gone without prune); while any is
                                     left the re-embedding stays unfinished */
    uint64_t dropped;             /* with reembed: records of files under the DIRs that
                                     could not be re-embedded (decoding failed, excluded,
                                     no longer images): deleted, since their old vectors
                                     are not comparable with the new model's */
    bool model_unchecked;         /* the collection has records but no model record
                                     (Python vecs, an older clipsearch): nothing to check
                                     against, and none is written (warning reported) */
    /* Files written this run (indexed + reused) by decoded format ("jpeg", "png", "tiff",
     * "heif", "jxl", "raw", ...), in the order first seen; n_formats entries. */
    struct { char name[16]; uint64_t n; } formats[CS_INDEX_MAX_FORMATS];
    size_t n_formats;
    uint64_t decode_memory_peak;  /* the most decoding memory held at once (estimates) */
    double seconds;
    double images_per_second;     /* (indexed + reused) / seconds */
    bool interrupted;
    cs_index_failure *failures;
    size_t n_failures;
} cs_index_summary;

/* Indexes dirs (directories or single files) into the collection opt->collection of
 * store, created with the model's embedding dimension if missing (another dimension ->
 * CS_E_MISMATCHED_DIMENSION; an exclude glob that can match nothing -> CS_E_ARG).
 * Returns 0, CS_E_INTERRUPTED (summary valid, committed batches kept), or an error; out is filled in every case and must be freed. Per-file
 * problems are not errors: they are counted in out->failed. */
int cs_index_run(cs_clip *model, cs_store *store, const char *const *dirs, size_t n_dirs,
                 const cs_indexer_options *opt, cs_index_summary *out, cs_error *err);
void cs_index_summary_free(cs_index_summary *s);

/* The summary as one JSON object (keys indexed, unchanged, reused, failed, pruned,
 * ignored, excluded, excluded_kept, found, seconds, images_per_second, interrupted,
 * failures: [{file, reason}]).
 * *out is malloc'd. */
int cs_index_summary_json(const cs_index_summary *s, char **out, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
