/* SHA-256 (FIPS 180-4), used to verify downloaded model files against the LFS object id
 * Hugging Face publishes. Written here rather than pulling in libcrypto for one hash. */
#ifndef CS_BASE_SHA256_H
#define CS_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"

typedef struct cs_sha256 {
    uint32_t h[8];
    uint64_t total;        /* bytes hashed so far */
    uint8_t buf[64];
    size_t used;           /* bytes pending in buf */
} cs_sha256;

void cs_sha256_init(cs_sha256 *s);
void cs_sha256_update(cs_sha256 *s, const void *data, size_t len);
void cs_sha256_final(cs_sha256 *s, uint8_t out[32]);
/* Lower-case hex of a digest: out must hold 65 bytes. */
void cs_sha256_hex(const uint8_t digest[32], char out[65]);
/* Hashes a whole file (streamed); hex receives 64 hex digits + NUL. */
int cs_sha256_file(const char *path, char hex[65], cs_error *err);

#endif
