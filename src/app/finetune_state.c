/* Resume state of fine-tuning: after every epoch the trained parameters (heads, and the
 * towers' last layers when they train), the optimiser's moments and the step count, in one small binary file that is replaced atomically and
 * carries a checksum, so that a crash at any moment leaves the previous epoch's state
 * or the new one, and a damaged file is refused instead of silently resumed from. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/finetune_internal.h"
#include "base/file.h"
#include "base/hash.h"

#define STATE_MAGIC "CSFTST02"

typedef struct {
    char magic[8];
    uint64_t key;
    int64_t epochs_done, step;
    uint64_t n_seg;
    uint64_t seg_n[CS_FT_STATE_MAX_SEG];
} header;

static int write_all(int fd, const void *data, size_t len, const char *path, cs_error *err)
{
    const uint8_t *p = data;
    for (size_t off = 0; off < len;) {
        ssize_t k = write(fd, p + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return cs_error_set(err, CS_E_IO, "cannot write %s: %s", path, strerror(errno));
        off += (size_t)k;
    }
    return 0;
}

int cs__ft_state_save(const char *path, const cs__ft_state *s, cs_error *err)
{
    if (s->n_seg > CS_FT_STATE_MAX_SEG)
        return cs_error_set(err, CS_E_INTERNAL, "resume state: %zu segments", s->n_seg);
    header h = {{0}, s->key, s->epochs_done, s->step, s->n_seg, {0}};
    memcpy(h.magic, STATE_MAGIC, 8);
    for (size_t i = 0; i < s->n_seg; i++) h.seg_n[i] = s->seg_n[i];
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    int rc = tmp ? 0 : cs_error_set(err, CS_E_NOMEM, "out of memory");
    int fd = -1;
    if (!rc) {
        memcpy(tmp, path, plen);
        memcpy(tmp + plen, ".tmp", 5);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) rc = cs_error_set(err, CS_E_IO, "cannot create %s: %s", tmp, strerror(errno));
    }
    /* Written piece by piece (the towers' parameters and moments can be a gigabyte): the
     * checksum is computed as it goes. */
    cs__hash64_stream *hs = rc ? NULL : cs__hash64_begin();
    if (!rc && !hs) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i <= s->n_seg; i++) {
        const uint8_t *buf = i == 0 ? (const uint8_t *)&h : (const uint8_t *)s->seg[i - 1];
        size_t len = i == 0 ? sizeof h : s->seg_n[i - 1] * sizeof(float);
        cs__hash64_update(hs, buf, len);
        rc = write_all(fd, buf, len, tmp, err);
    }
    uint64_t sum = cs__hash64_end(hs);
    if (!rc) rc = write_all(fd, &sum, 8, tmp, err);
    if (!rc && fsync(fd) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot replace %s: %s", path, strerror(errno));
    if (rc && tmp) unlink(tmp);
    free(tmp);
    return rc;
}

static int read_all(int fd, void *buf, size_t len, const char *path, cs_error *err)
{
    uint8_t *p = buf;
    for (size_t off = 0; off < len;) {
        ssize_t k = read(fd, p + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return cs_error_set(err, CS_E_IO, "cannot read %s: %s", path, strerror(errno));
        if (k == 0) return cs_error_set(err, CS_E_FORMAT, "%s: damaged resume state (truncated); "
                                                          "delete it to start again", path);
        off += (size_t)k;
    }
    return 0;
}

/* Read piece by piece straight into the caller's arrays (a state of every weight of
 * ViT-B/32 with its moments is about 1.8 GB: never held twice), checksum as it goes;
 * the step counts are set only once the checksum matched. */
int cs__ft_state_load(const char *path, uint64_t key, cs__ft_state *s, cs_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cs_error_set(err, CS_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    header h;
    int rc = fstat(fd, &st) != 0 ? cs_error_set(err, CS_E_IO, "cannot read %s: %s", path,
                                                  strerror(errno))
                                 : 0;
    size_t nf = 0;
    for (size_t i = 0; i < s->n_seg; i++) nf += s->seg_n[i];
    if (!rc && (size_t)st.st_size < sizeof h + 8)
        rc = cs_error_set(err, CS_E_FORMAT, "%s: damaged resume state; delete it to start again",
                          path);
    if (!rc) rc = read_all(fd, &h, sizeof h, path, err);
    if (!rc && memcmp(h.magic, STATE_MAGIC, 8))
        rc = cs_error_set(err, CS_E_FORMAT, "%s: damaged resume state; delete it to start again",
                          path);
    bool same = !rc && h.key == key && h.n_seg == s->n_seg &&
                (uint64_t)st.st_size == sizeof h + nf * sizeof(float) + 8;
    for (size_t i = 0; same && i < s->n_seg; i++) same = h.seg_n[i] == s->seg_n[i];
    if (!rc && !same)
        rc = cs_error_set(err, CS_E_ARG,
                          "%s was written by a run with another model, pairs or options; "
                          "resume with the same ones, or delete it to start again",
                          path);
    cs__hash64_stream *hs = rc ? NULL : cs__hash64_begin();
    if (!rc && !hs) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (!rc) cs__hash64_update(hs, &h, sizeof h);
    for (size_t i = 0; !rc && i < s->n_seg; i++) {
        rc = read_all(fd, s->seg[i], s->seg_n[i] * sizeof(float), path, err);
        if (!rc) cs__hash64_update(hs, s->seg[i], s->seg_n[i] * sizeof(float));
    }
    uint64_t sum = 0, want = cs__hash64_end(hs);
    if (!rc) rc = read_all(fd, &sum, 8, path, err);
    if (!rc && sum != want)
        rc = cs_error_set(err, CS_E_FORMAT, "%s: damaged resume state; delete it to start again",
                          path);
    close(fd);
    if (!rc) {
        s->epochs_done = (int)h.epochs_done;
        s->step = (long)h.step;
    }
    return rc;
}
