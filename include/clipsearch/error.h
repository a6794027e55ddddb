/* Error reporting shared by every module: a negative code plus a message that names
 * the file, record or argument at fault. The caller owns the cs_error. */
#ifndef CLIPSEARCH_ERROR_H
#define CLIPSEARCH_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CS_OK = 0,
    /* vecs categories (shared/spec/vecs-semantics.md §11) */
    CS_E_ARG = -1,                /* ArgError */
    CS_E_MISMATCHED_DIMENSION = -2, /* MismatchedDimension */
    CS_E_DIMENSION = -3,          /* DimensionError: vector length != collection dimension */
    CS_E_FILTER = -4,             /* FilterError */
    CS_E_COLLECTION_NOT_FOUND = -5,
    CS_E_COLLECTION_EXISTS = -6,
    CS_E_NOT_FOUND = -7,          /* single lookup of a missing id */
    CS_E_DATABASE = -8,           /* what the server (or SQLite) refuses */
    CS_E_INVALID_NAME = -9,
    /* general */
    CS_E_IO = -20,                /* cannot open/read/write a file */
    CS_E_FORMAT = -21,            /* corrupt or malformed file */
    CS_E_UNSUPPORTED = -22,       /* valid but unsupported input (format, dtype, ...) */
    CS_E_NOMEM = -23,
    CS_E_MODEL = -24,             /* model directory incomplete or inconsistent */
    CS_E_TOO_LARGE = -25,         /* over a configured limit (pixels, sizes) */
    CS_E_NETWORK = -26,
    CS_E_BUSY = -27,              /* database locked after the busy timeout */
    CS_E_INTERRUPTED = -28,
    CS_E_INTERNAL = -29,
    CS_E_MODEL_MISMATCH = -30,    /* a collection built by another model or other options */
    CS_E_STORE_NOT_FOUND = -31    /* a store opened read-only does not exist (no database file) */
} cs_status;

/* What would fix an error, for a front end to word in its own terms: the library's
 * messages state what is wrong and never name a command-line flag (the CLI and the web
 * server have different ones); the CLI turns a remedy into "--model DIR"-style hints. */
typedef enum {
    CS_REMEDY_NONE = 0,
    CS_REMEDY_CHOOSE_MODEL,     /* no model folder found: download one or name one */
    CS_REMEDY_NAME_MODEL,       /* a download failed: name a model folder instead */
    CS_REMEDY_MATCH_MODEL,      /* a collection built by another model: use that model,
                                   re-embed the collection, or use another collection */
    CS_REMEDY_FINISH_REEMBED,   /* a re-embedding was interrupted: run it again */
    CS_REMEDY_MATCH_PREPROCESS, /* other decoding options than the collection's */
    CS_REMEDY_RESUME,           /* the state of an interrupted run can be continued */
    CS_REMEDY_CHOOSE_DB,        /* no default store location: name one */
    CS_REMEDY_ALLOW_REMOTE      /* a non-loopback address needs remote access allowed */
} cs_remedy;

typedef struct cs_error {
    int code;          /* 0 or a cs_status */
    int remedy;        /* a cs_remedy; cs_error_set resets it to CS_REMEDY_NONE */
    char msg[1024];
} cs_error;

/* Sets err (if not NULL) and returns code, so callers can `return cs_error_set(...)`. */
int cs_error_set(cs_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* cs_error_set that also records what would fix the error (a cs_remedy). */
int cs_error_set_remedy(cs_error *err, int code, int remedy, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "context: " to an existing message (keeps the code). Returns err->code. */
int cs_error_prefix(cs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cs_error_clear(cs_error *err);
/* Category name used on the command line: "ArgError", "FilterError", "IOError", ... */
const char *cs_error_category(int code);

#ifdef __cplusplus
}
#endif
#endif
