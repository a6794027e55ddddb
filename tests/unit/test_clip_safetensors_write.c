/* The streaming safetensors writer (clip/safetensors_write.c): what it writes reads back
 * through cs__st_open with the same names, dtypes, shapes and bytes, whatever the pieces
 * the data came in; F32 after I64 stays aligned for in-place views; too much or too
 * little data, bad entries and duplicate names are refused and leave no file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip/safetensors.h"
#include "test.h"

int main(void)
{
    char dir[] = "/tmp/cs_test_stw_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    cs__st_entry e[3] = {{"pos", "I64", 2, {1, 3}}, {"w", "F32", 2, {2, 3}}, {"h", "BF16", 1, {3}}};
    int64_t pos[3] = {0, 1, 2};
    float w[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    uint16_t h[3] = {0x3f80, 0xc000, 0x0000}; /* bf16 1, -2, 0 */
    cs_error err = {0};
    cs__st_writer *sw = NULL;
    CHECK_OK(cs__st_writer_open(path, e, 3, &sw, &err), &err);
    if (sw) {
        const uint8_t *pb = (const uint8_t *)pos;
        CHECK_OK(cs__st_writer_put(sw, pb, 5, &err), &err); /* pieces across tensor borders */
        CHECK_OK(cs__st_writer_put(sw, pb + 5, 19, &err), &err);
        CHECK_OK(cs__st_writer_put(sw, w, 10, &err), &err);
        CHECK_OK(cs__st_writer_put(sw, (const uint8_t *)w + 10, 14, &err), &err);
        CHECK_OK(cs__st_writer_put(sw, h, 6, &err), &err);
        CHECK(cs__st_writer_put(sw, h, 1, &err) == CS_E_INTERNAL); /* beyond the header */
        CHECK_OK(cs__st_writer_close(sw, &err), &err);
    }
    cs__st_file f;
    CHECK_OK(cs__st_open(path, &f, &err), &err);
    if (f.map) {
        CHECK(f.n_tensors == 3);
        const cs__st_tensor *t = cs__st_find(&f, "w");
        CHECK(t && t->dtype == CS_ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
        const float *v = t ? cs__st_view_f32(&f, t) : NULL;
        CHECK(v && !memcmp(v, w, sizeof w)); /* aligned: a view into the mapping */
        t = cs__st_find(&f, "pos");
        CHECK(t && t->dtype == CS_ST_I64 && !memcmp(f.data + t->begin, pos, sizeof pos));
        t = cs__st_find(&f, "h");
        float hv[3] = {0};
        if (t) cs__st_copy_f32(&f, t, hv);
        CHECK(t && t->dtype == CS_ST_BF16 && hv[0] == 1.0f && hv[1] == -2.0f && hv[2] == 0.0f);
        cs__st_close(&f);
    }
    /* Too little data: close fails and removes the file. */
    CHECK_OK(cs__st_writer_open(path, e, 3, &sw, &err), &err);
    if (sw) {
        CHECK_OK(cs__st_writer_put(sw, pos, sizeof pos, &err), &err);
        CHECK(cs__st_writer_close(sw, &err) == CS_E_INTERNAL && access(path, F_OK) != 0);
    }
    cs__st_entry bad[2] = {{"x", "F33", 1, {2}}, {"x", "F32", 1, {2}}};
    CHECK(cs__st_writer_open(path, bad, 1, &sw, &err) == CS_E_ARG && !sw);
    cs__st_entry dup[2] = {{"x", "F32", 1, {2}}, {"x", "F32", 1, {2}}};
    CHECK(cs__st_writer_open(path, dup, 2, &sw, &err) == CS_E_ARG && strstr(err.msg, "twice"));
    CHECK(access(path, F_OK) != 0);
    rmdir(dir);
    return TEST_RESULT();
}
