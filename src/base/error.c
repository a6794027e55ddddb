#include "clipsearch/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int set(cs_error *err, int code, int remedy, const char *fmt, va_list ap)
{
    if (err) {
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        err->code = code;
        err->remedy = remedy;
    }
    return code;
}

int cs_error_set(cs_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, code, CS_REMEDY_NONE, fmt, ap);
    va_end(ap);
    return code;
}

int cs_error_set_remedy(cs_error *err, int code, int remedy, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, code, remedy, fmt, ap);
    va_end(ap);
    return code;
}

int cs_error_prefix(cs_error *err, const char *fmt, ...)
{
    if (!err) return CS_E_INTERNAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable: the start of the message is the informative part. */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof err->msg - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
    return err->code;
}

void cs_error_clear(cs_error *err)
{
    if (err) {
        err->code = 0;
        err->remedy = CS_REMEDY_NONE;
        err->msg[0] = '\0';
    }
}

const char *cs_error_category(int code)
{
    switch (code) {
    case CS_OK: return "OK";
    case CS_E_ARG: return "ArgError";
    case CS_E_MISMATCHED_DIMENSION: return "MismatchedDimension";
    case CS_E_DIMENSION: return "DimensionError";
    case CS_E_FILTER: return "FilterError";
    case CS_E_COLLECTION_NOT_FOUND: return "CollectionNotFound";
    case CS_E_COLLECTION_EXISTS: return "CollectionAlreadyExists";
    case CS_E_NOT_FOUND: return "NotFound";
    case CS_E_DATABASE: return "DatabaseError";
    case CS_E_INVALID_NAME: return "InvalidName";
    case CS_E_IO: return "IOError";
    case CS_E_FORMAT: return "FormatError";
    case CS_E_UNSUPPORTED: return "UnsupportedError";
    case CS_E_NOMEM: return "OutOfMemory";
    case CS_E_MODEL: return "ModelError";
    case CS_E_TOO_LARGE: return "TooLarge";
    case CS_E_NETWORK: return "NetworkError";
    case CS_E_BUSY: return "BusyError";
    case CS_E_INTERRUPTED: return "Interrupted";
    case CS_E_MODEL_MISMATCH: return "ModelMismatch";
    case CS_E_STORE_NOT_FOUND: return "StoreNotFound";
    default: return "InternalError";
    }
}
