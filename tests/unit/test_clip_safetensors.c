/* safetensors reader: dtype widening, scalars, unaligned data, any order; and every kind
 * of damaged file (truncated at every length, huge or lying header length, offsets
 * outside the file, bad JSON, random header corruption) fails cleanly with a message. */
#include <stdint.h>
#include <unistd.h>

#include "base/half.h"
#include "clip/safetensors.h"
#include "test.h"

static char dir[] = "/tmp/cs_test_st_XXXXXX";

static void write_raw(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

/* header (unpadded, arbitrary length) + data */
static size_t build(uint8_t *out, const char *hdr, const uint8_t *data, size_t dlen)
{
    uint64_t n = strlen(hdr);
    memcpy(out, &n, 8);
    memcpy(out + 8, hdr, n);
    memcpy(out + 8 + n, data, dlen);
    return 8 + n + dlen;
}

static int open_expect_fail(const uint8_t *buf, size_t len, const char *needle)
{
    char path[256];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    write_raw(path, buf, len);
    cs__st_file f;
    cs_error err = {0};
    int rc = cs__st_open(path, &f, &err);
    if (rc == 0) {
        cs__st_close(&f);
        return 0;
    }
    CHECK_MSG(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    if (needle) CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s' not in: %s", needle, err.msg);
    return rc;
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    /* data: 1 pad byte (so 'a' is unaligned), a F32[2,3], b F16[4], c BF16[2], s F32[],
     * p I64[1,3]; listed in the header in a different order than in the data. */
    uint8_t data[256] = {0};
    size_t off = 1;
    float a[6] = {1.5f, -2.25f, 3e-8f, 1e30f, -0.0f, 42.0f};
    memcpy(data + off, a, sizeof a);
    off += sizeof a; /* 25 */
    uint16_t b[4] = {cs__f32_to_f16(1.0f), cs__f32_to_f16(-2.5f), 0x7bff, 0x0001};
    memcpy(data + off, b, sizeof b);
    off += sizeof b; /* 33 */
    uint16_t c[2] = {cs__f32_to_bf16(3.140625f), cs__f32_to_bf16(-1e-20f)};
    memcpy(data + off, c, sizeof c);
    off += sizeof c; /* 37 */
    float s = 4.6051702f;
    memcpy(data + off, &s, 4);
    off += 4; /* 41 */
    int64_t p[3] = {0, 1, 2};
    memcpy(data + off, p, sizeof p);
    off += sizeof p; /* 65 */
    const char *hdr =
        "{\"p\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[41,65]},"
        "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[33,37]},"
        "\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[1,25]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[37,41]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[25,33]}}";
    uint8_t file[1024];
    size_t flen = build(file, hdr, data, off);
    char path[256];
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    write_raw(path, file, flen);

    cs__st_file f;
    cs_error err = {0};
    CHECK_OK(cs__st_open(path, &f, &err), &err);
    CHECK(f.n_tensors == 5);
    const float *v;
    float *owned;
    int64_t sh23[2] = {2, 3}, sh4[1] = {4}, sh2[1] = {2}, sh32[2] = {3, 2};
    CHECK_OK(cs__st_get_f32(&f, "a", 2, sh23, &v, &owned, &err), &err);
    CHECK(v && memcmp(v, a, sizeof a) == 0);
    free(owned);
    CHECK_OK(cs__st_get_f32(&f, "b", 1, sh4, &v, &owned, &err), &err);
    CHECK(v && v[0] == 1.0f && v[1] == -2.5f && v[2] == 65504.0f && v[3] == 0x1p-24f);
    CHECK(owned == v);
    free(owned);
    CHECK_OK(cs__st_get_f32(&f, "c", 1, sh2, &v, &owned, &err), &err);
    CHECK(v && v[0] == 3.140625f && v[1] == cs__bf16_to_f32(c[1]));
    free(owned);
    CHECK_OK(cs__st_get_f32(&f, "s", 0, NULL, &v, &owned, &err), &err);
    CHECK(v && v[0] == s);
    free(owned);
    /* wrong shape, missing tensor, integer dtype */
    CHECK(cs__st_get_f32(&f, "a", 2, sh32, &v, &owned, &err) == CS_E_MODEL);
    CHECK_MSG(strstr(err.msg, "[2, 3]") && strstr(err.msg, "[3, 2]") && strstr(err.msg, "'a'"),
              "%s", err.msg);
    CHECK(cs__st_get_f32(&f, "nope", 1, sh4, &v, &owned, &err) == CS_E_MODEL);
    CHECK_MSG(strstr(err.msg, "missing tensor 'nope'") && strstr(err.msg, path), "%s", err.msg);
    int64_t sh13[2] = {1, 3};
    CHECK(cs__st_get_f32(&f, "p", 2, sh13, &v, &owned, &err) == CS_E_UNSUPPORTED);
    cs__st_close(&f);

    /* Truncated at every length: must fail (never crash). */
    int fails = 0;
    for (size_t len = 0; len < flen; len++) fails += open_expect_fail(file, len, NULL) != 0;
    CHECK_MSG(fails == (int)flen, "%d of %zu truncations were accepted", (int)flen - fails, flen);
    CHECK(open_expect_fail(file, 5, "truncated") == CS_E_FORMAT);

    /* Header length larger than the file, and absurdly large. */
    uint8_t bad[1024];
    memcpy(bad, file, flen);
    uint64_t huge = UINT64_MAX - 3;
    memcpy(bad, &huge, 8);
    CHECK(open_expect_fail(bad, flen, "header length") == CS_E_FORMAT);
    huge = flen; /* just past the end */
    memcpy(bad, &huge, 8);
    CHECK(open_expect_fail(bad, flen, "header length") == CS_E_FORMAT);

    struct {
        const char *hdr, *needle;
    } cases[] = {
        {"not json", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}", "outside the file"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,4]}}", "invalid data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", "invalid data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "invalid shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
         "dimensions"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}", "overflows"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "lacks"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "JSON"},
        {"{\"a\":5}", "not an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = build(bad, cases[i].hdr, data, 64);
        CHECK_MSG(open_expect_fail(bad, n, cases[i].needle) == CS_E_FORMAT, "case %zu", i);
    }

    /* Random corruption of the header bytes: either a clean error or a valid parse. */
    uint64_t rng = 12345;
    for (int it = 0; it < 300; it++) {
        memcpy(bad, file, flen);
        for (int k = 0; k < 3; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = 8 + (rng >> 33) % strlen(hdr);
            bad[pos] = (uint8_t)(rng >> 17);
        }
        open_expect_fail(bad, flen, NULL);
    }

    /* Bulk widening equals the scalar reference for every 16-bit pattern (odd offset:
     * unaligned source). */
    {
        uint8_t *raw = malloc(2 * 65536 + 1);
        float *w16 = malloc(65536 * sizeof(float)), *wb = malloc(65536 * sizeof(float));
        for (uint32_t i = 0; i < 65536; i++) {
            uint16_t h = (uint16_t)i;
            memcpy(raw + 1 + 2 * i, &h, 2);
        }
        cs__widen_f16(raw + 1, w16, 65536);
        cs__widen_bf16(raw + 1, wb, 65536);
        int bad16 = 0, badb = 0;
        for (uint32_t i = 0; i < 65536; i++) {
            float r16 = cs__f16_to_f32((uint16_t)i), rb = cs__bf16_to_f32((uint16_t)i);
            bad16 += memcmp(&r16, &w16[i], 4) != 0;
            badb += memcmp(&rb, &wb[i], 4) != 0;
            /* and the narrowing used by the generator round-trips */
            if (!isnan(r16)) bad16 += cs__f32_to_f16(r16) != (uint16_t)i;
            if (!isnan(rb)) badb += cs__f32_to_bf16(rb) != (uint16_t)i;
        }
        CHECK_MSG(bad16 == 0, "%d F16 patterns differ", bad16);
        CHECK_MSG(badb == 0, "%d BF16 patterns differ", badb);
        CHECK(w16[0x3c00] == 1.0f && w16[0x0001] == 0x1p-24f && w16[0x8000] == 0.0f &&
              signbit(w16[0x8000]) && isinf(w16[0x7c00]) && isnan(w16[0x7e00]));
        free(raw);
        free(w16);
        free(wb);
    }

    /* Not a file at all. */
    CHECK(cs__st_open(dir, &f, &err) == CS_E_IO);
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    CHECK(cs__st_open(path, &f, &err) == CS_E_IO && strstr(err.msg, "absent.safetensors"));

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return TEST_RESULT();
}
