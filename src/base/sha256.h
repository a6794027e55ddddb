/* SHA-256, used to verify downloaded model files against the LFS object id Hugging Face
 * publishes: a thin wrapper over the system's libcrypto (OpenSSL's EVP API), which keeps
 * OpenSSL's headers out of the callers. */
#ifndef CS_BASE_SHA256_H
#define CS_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"

/* A digest in progress: cs__sha256_init, any number of cs__sha256_update, then one
 * cs__sha256_final, which releases it (call it for every successful init). */
typedef struct cs__sha256 {
    void *ctx;             /* EVP_MD_CTX; NULL once final or when init failed */
    int failed;            /* a libcrypto call failed: final reports it */
} cs__sha256;

/* 0, or CS_E_NOMEM (then update does nothing and final reports the failure). */
int cs__sha256_init(cs__sha256 *s);
void cs__sha256_update(cs__sha256 *s, const void *data, size_t len);
/* Writes the digest and releases s. 0, or CS_E_INTERNAL (out zeroed) when libcrypto failed
 * anywhere since init. */
int cs__sha256_final(cs__sha256 *s, uint8_t out[32]);
/* The digest of one buffer. 0 or CS_E_INTERNAL. */
int cs__sha256_digest(const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex of a digest: out must hold 65 bytes. */
void cs__sha256_hex(const uint8_t digest[32], char out[65]);
/* Hashes a whole file (streamed); hex receives 64 hex digits + NUL. */
int cs__sha256_file(const char *path, char hex[65], cs_error *err);

#endif
