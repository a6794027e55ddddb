/* SHA-256 (libcrypto behind base/sha256.h) against the FIPS 180-4 / NIST example vectors
 * and sha256sum on a file. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/sha256.h"
#include "test.h"

static void hash_str(const char *s, size_t len, size_t chunk, char hex[65])
{
    cs__sha256 st;
    cs__sha256_init(&st);
    for (size_t i = 0; i < len; i += chunk)
        cs__sha256_update(&st, s + i, len - i < chunk ? len - i : chunk);
    uint8_t d[32];
    cs__sha256_final(&st, d);
    cs__sha256_hex(d, hex);
}

int main(void)
{
    char hex[65];
    hash_str("", 0, 1, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    hash_str("abc", 3, 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    /* Every chunking must give the same digest (buffering across block boundaries). */
    for (size_t chunk = 1; chunk <= 70; chunk += 3) {
        hash_str(two, strlen(two), chunk, hex);
        CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    }
    /* One million 'a': exercises the 64-bit length. */
    static char million[1000000];
    memset(million, 'a', sizeof million);
    hash_str(million, sizeof million, 4099, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));

    /* The one-shot digest agrees with the streamed one. */
    uint8_t d[32];
    CHECK(cs__sha256_digest(two, strlen(two), d) == 0);
    cs__sha256_hex(d, hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));

    char path[] = "/tmp/cs_sha256_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    fwrite(million, 1, 200000, f);
    fclose(f);
    cs_error err = {0};
    CHECK_OK(cs__sha256_file(path, hex, &err), &err);
    char ref[65];
    hash_str(million, 200000, 200000, ref);
    CHECK(!strcmp(hex, ref));
    remove(path);
    CHECK(cs__sha256_file("/nonexistent/x", hex, &err) == CS_E_IO);
    CHECK(strstr(err.msg, "/nonexistent/x") != NULL);
    return TEST_RESULT();
}
