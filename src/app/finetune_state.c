/* Resume state of fine-tuning: after every epoch the trained parameters (heads, and the
 * towers' last layers when they train), the optimiser's moments and the step count, in one small binary file that is replaced atomically and
 * carries a checksum, so that a crash at any moment leaves the previous epoch's state
 * or the new one, and a damaged file is refused instead of silently resumed from. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cs_ft_state_save(const char *path, const cs_ft_state *s, cs_error *err)
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
    cs_hash64_stream *hs = rc ? NULL : cs_hash64_begin();
    if (!rc && !hs) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i <= s->n_seg; i++) {
        const uint8_t *buf = i == 0 ? (const uint8_t *)&h : (const uint8_t *)s->seg[i - 1];
        size_t len = i == 0 ? sizeof h : s->seg_n[i - 1] * sizeof(float);
        cs_hash64_update(hs, buf, len);
        rc = write_all(fd, buf, len, tmp, err);
    }
    uint64_t sum = cs_hash64_end(hs);
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

int cs_ft_state_load(const char *path, uint64_t key, cs_ft_state *s, cs_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    header h;
    uint64_t sum = 0;
    if (len >= sizeof h + 8) {
        memcpy(&h, data, sizeof h);
        memcpy(&sum, data + len - 8, 8);
    }
    if (len < sizeof h + 8 || memcmp(h.magic, STATE_MAGIC, 8) || sum != cs_hash64(data, len - 8))
        rc = cs_error_set(err, CS_E_FORMAT,
                          "%s: damaged resume state; delete it to start again", path);
    size_t nf = 0;
    bool same = !rc && h.key == key && h.n_seg == s->n_seg;
    for (size_t i = 0; same && i < s->n_seg; i++) {
        same = h.seg_n[i] == s->seg_n[i];
        nf += s->seg_n[i];
    }
    if (!rc && (!same || len != sizeof h + nf * sizeof(float) + 8))
        rc = cs_error_set(err, CS_E_ARG,
                          "%s was written by a run with another model, pairs or options; "
                          "resume with the same ones, or delete it to start again",
                          path);
    if (!rc) {
        const uint8_t *p = data + sizeof h;
        for (size_t i = 0; i < s->n_seg; i++) {
            memcpy(s->seg[i], p, s->seg_n[i] * sizeof(float));
            p += s->seg_n[i] * sizeof(float);
        }
        s->epochs_done = (int)h.epochs_done;
        s->step = (long)h.step;
    }
    free(data);
    return rc;
}
