/* Content fingerprints (XXH3 from libxxhash): fast enough to hash every changed file,
 * 128 bits so that "same hash" can stand for "same content" when reusing vectors. */
#ifndef CS_BASE_HASH_H
#define CS_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"

#define CS_HASH_HEX_LEN 32   /* XXH3-128 as 32 lower-case hex digits */

/* XXH3-128 of a buffer as hex (out: CS_HASH_HEX_LEN + 1 bytes). */
void cs__hash128_hex(const void *data, size_t len, char *out);
/* XXH3-128 of a file's content, streamed (the file is never held in memory). */
int cs__hash128_file_hex(const char *path, char *out, cs_error *err);
uint64_t cs__hash64(const void *data, size_t len);

/* XXH3-64 of data given in pieces: the same value as cs__hash64 of them concatenated.
 * begin returns NULL when out of memory; end frees the state (NULL gives 0). */
typedef struct cs__hash64_stream cs__hash64_stream;
cs__hash64_stream *cs__hash64_begin(void);
void cs__hash64_update(cs__hash64_stream *st, const void *data, size_t len);
uint64_t cs__hash64_end(cs__hash64_stream *st);

#endif
