/* Small file helpers shared by every layer. */
#ifndef CS_BASE_FILE_H
#define CS_BASE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clipsearch/error.h"

/* Reads a whole regular file into a malloc'd buffer (NUL-terminated for convenience;
 * *len excludes the NUL). Files over max_bytes (0 = 1 GiB) are refused with
 * CS_E_TOO_LARGE. Errors name the path. */
int cs__read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                 cs_error *err);

/* Reads the first min(size, max_bytes) bytes of a regular file (the whole file when it
 * is smaller). *file_size receives the file's full size. Never blocks on a FIFO. */
int cs__read_file_prefix(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                        size_t *file_size, cs_error *err);

/* Writes path through write(f, ctx) into "path.tmp.PID", then renames it over path: a
 * reader never sees half a file, and a failure (CS_E_IO naming path) leaves the old one. */
int cs__write_file_atomic(const char *path, void (*write)(FILE *f, void *ctx), void *ctx,
                          cs_error *err);

/* "a" + "b" -> "a/b" (malloc'd; NULL on OOM). */
char *cs__path_join(const char *a, const char *b);

bool cs__file_exists(const char *path);
bool cs__dir_exists(const char *path);

#endif
