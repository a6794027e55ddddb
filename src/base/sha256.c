/* SHA-256 on libcrypto's EVP API (sha256.h). */
#include "base/sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

int cs__sha256_init(cs__sha256 *s)
{
    s->failed = 0;
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx) {
        s->failed = 1;
        return CS_E_NOMEM;
    }
    if (EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) s->failed = 1;
    return 0;
}

void cs__sha256_update(cs__sha256 *s, const void *data, size_t len)
{
    if (!s->ctx || s->failed || !len) return;
    if (EVP_DigestUpdate(s->ctx, data, len) != 1) s->failed = 1;
}

int cs__sha256_final(cs__sha256 *s, uint8_t out[32])
{
    unsigned int n = 0;
    int ok = s->ctx && !s->failed && EVP_DigestFinal_ex(s->ctx, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
    if (ok) return 0;
    memset(out, 0, 32);
    return CS_E_INTERNAL;
}

int cs__sha256_digest(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32) return 0;
    memset(out, 0, 32);
    return CS_E_INTERNAL;
}

void cs__sha256_hex(const uint8_t digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

int cs__sha256_file(const char *path, char hex[65], cs_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cs_error_set(err, CS_E_IO, "%s: %s", path, strerror(errno));
    cs__sha256 s;
    if (cs__sha256_init(&s) < 0) {
        fclose(f);
        return cs_error_set(err, CS_E_NOMEM, "out of memory for a SHA-256 digest");
    }
    static const size_t CHUNK = 1 << 16;
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, CHUNK, f)) > 0) cs__sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    uint8_t d[32];
    int rc = cs__sha256_final(&s, d);
    if (bad) return cs_error_set(err, CS_E_IO, "%s: read error", path);
    if (rc < 0) return cs_error_set(err, rc, "%s: SHA-256 failed in libcrypto", path);
    cs__sha256_hex(d, hex);
    return 0;
}
