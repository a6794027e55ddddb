#include "base/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static void to_hex(XXH128_hash_t h, char *out)
{
    /* Canonical (big-endian) form, as `xxhsum -H2` prints it. */
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[c.digest[i] >> 4];
        out[2 * i + 1] = hex[c.digest[i] & 15];
    }
    out[CS_HASH_HEX_LEN] = '\0';
}

void cs__hash128_hex(const void *data, size_t len, char *out)
{
    to_hex(XXH3_128bits(data, len), out);
}

uint64_t cs__hash64(const void *data, size_t len) { return XXH3_64bits(data, len); }

/* The opaque stream is libxxhash's own state. */
cs__hash64_stream *cs__hash64_begin(void)
{
    XXH3_state_t *st = XXH3_createState();
    if (st) XXH3_64bits_reset(st);
    return (cs__hash64_stream *)st;
}

void cs__hash64_update(cs__hash64_stream *st, const void *data, size_t len)
{
    if (st) XXH3_64bits_update((XXH3_state_t *)st, data, len);
}

uint64_t cs__hash64_end(cs__hash64_stream *st)
{
    if (!st) return 0;
    uint64_t h = XXH3_64bits_digest((XXH3_state_t *)st);
    XXH3_freeState((XXH3_state_t *)st);
    return h;
}

int cs__hash128_file_hex(const char *path, char *out, cs_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cs_error_set(err, CS_E_IO, "%s: cannot open: %s", path, strerror(errno));
    XXH3_state_t *st = XXH3_createState();
    if (!st) {
        close(fd);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    XXH3_128bits_reset(st);
    unsigned char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = cs_error_set(err, CS_E_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        XXH3_128bits_update(st, buf, (size_t)r);
    }
    if (rc == 0) to_hex(XXH3_128bits_digest(st), out);
    XXH3_freeState(st);
    close(fd);
    return rc;
}
