/* Helpers shared by the image unit tests: a scratch directory, file writing, fixture
 * loading. */
#ifndef CS_IMAGE_TEST_UTIL_H
#define CS_IMAGE_TEST_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static char scratch_dir_[256];

static inline const char *scratch_dir(void)
{
    if (!scratch_dir_[0]) {
        snprintf(scratch_dir_, sizeof scratch_dir_, "/tmp/cs_imgtest_XXXXXX");
        if (!mkdtemp(scratch_dir_)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return scratch_dir_;
}

/* Removes the scratch directory and the plain files in it. */
static inline void scratch_cleanup(void)
{
    if (!scratch_dir_[0]) return;
    DIR *d = opendir(scratch_dir_);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", scratch_dir_, e->d_name);
            if (unlink(p) != 0) rmdir(p);
        }
        closedir(d);
    }
    rmdir(scratch_dir_);
}

static inline const char *scratch_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", scratch_dir(), name);
    return p;
}

static inline const char *write_file(const char *name, const void *data, size_t len)
{
    const char *p = scratch_path(name);
    FILE *f = fopen(p, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len)) {
        perror(p);
        exit(1);
    }
    fclose(f);
    return p;
}

static inline uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static inline uint8_t *fixture(const char *rel, size_t *len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/fixtures/tiny/%s", test_env("CS_SOURCE_DIR", "."), rel);
    uint8_t *b = read_all(p, len);
    if (!b) {
        fprintf(stderr, "cannot read fixture %s\n", p);
        exit(1);
    }
    return b;
}

static inline uint32_t crc32_simple(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void put_le16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

#endif

#include "clipsearch/image.h"

/* Decodes `rounds` randomly corrupted copies (1..8 flipped bytes) and every 1/16th
 * truncation of d: each must decode or fail with a decoder error code (never crash, never
 * leak: ASan watches). Returns the number of unexpected return codes. */
static inline int fuzz_decode(const uint8_t *d, size_t n, int rounds, uint32_t seed)
{
    uint8_t *c = malloc(n ? n : 1);
    int unexpected = 0;
    for (int r = 0; r < rounds + 16; r++) {
        size_t len = n;
        memcpy(c, d, n);
        if (r < rounds) {
            for (int k = 0; k < 1 + r % 8; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % n;
                seed = seed * 1103515245u + 12345u;
                c[at] ^= (uint8_t)(1 + (seed >> 16) % 255);
            }
        } else {
            len = n * (size_t)(r - rounds) / 16;
        }
        cs_image img = {0};
        cs_error err;
        int rc = cs_image_decode_memory(c, len, NULL, &img, NULL, &err);
        if (rc != 0 && rc != CS_E_FORMAT && rc != CS_E_UNSUPPORTED && rc != CS_E_TOO_LARGE) {
            fprintf(stderr, "fuzz: unexpected rc %d (%s)\n", rc, err.msg);
            unexpected++;
        }
        if (rc == 0 && (!img.rgb || img.width <= 0 || img.height <= 0)) unexpected++;
        cs_image_free(&img);
    }
    free(c);
    return unexpected;
}
