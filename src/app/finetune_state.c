/* Resume state of fine-tuning: after every epoch the trained heads, the optimiser's
 * moments and the step count, in one small binary file that is replaced atomically and
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

#define STATE_MAGIC "CSFTST01"

typedef struct {
    char magic[8];
    uint64_t key;
    int64_t epochs_done, step;
    uint64_t nv, nt;
} header;

static size_t payload_floats(size_t nv, size_t nt) { return 3 * nv + 3 * nt; }

int cs_ft_state_save(const char *path, const cs_ft_state *s, cs_error *err)
{
    header h = {{0}, s->key, s->epochs_done, s->step, s->nv, s->nt};
    memcpy(h.magic, STATE_MAGIC, 8);
    size_t nf = payload_floats(s->nv, s->nt);
    size_t len = sizeof h + nf * sizeof(float) + 8;
    uint8_t *buf = malloc(len);
    if (!buf) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    uint8_t *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    const float *parts[6] = {s->wv, s->wt, s->mv, s->vv, s->mt, s->vt};
    const size_t sizes[6] = {s->nv, s->nt, s->nv, s->nv, s->nt, s->nt};
    for (int i = 0; i < 6; i++) {
        memcpy(p, parts[i], sizes[i] * sizeof(float));
        p += sizes[i] * sizeof(float);
    }
    uint64_t sum = cs_hash64(buf, len - 8);
    memcpy(p, &sum, 8);
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
    for (size_t off = 0; !rc && off < len;) {
        ssize_t k = write(fd, buf + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
        else off += (size_t)k;
    }
    if (!rc && fsync(fd) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot replace %s: %s", path, strerror(errno));
    if (rc && tmp) unlink(tmp);
    free(tmp);
    free(buf);
    return rc;
}

int cs_ft_state_load(const char *path, uint64_t key, size_t nv, size_t nt, cs_ft_state *s,
                     cs_error *err)
{
    memset(s, 0, sizeof *s);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    header h;
    size_t nf = payload_floats(nv, nt);
    uint64_t sum = 0;
    if (len >= sizeof h + 8) {
        memcpy(&h, data, sizeof h);
        memcpy(&sum, data + len - 8, 8);
    }
    if (len < sizeof h + 8 || memcmp(h.magic, STATE_MAGIC, 8) || sum != cs_hash64(data, len - 8))
        rc = cs_error_set(err, CS_E_FORMAT,
                          "%s: damaged resume state; delete it to start again", path);
    else if (h.key != key || h.nv != nv || h.nt != nt || len != sizeof h + nf * sizeof(float) + 8)
        rc = cs_error_set(err, CS_E_ARG,
                          "%s was written by a run with another model, pairs or options; "
                          "resume with the same ones, or delete it to start again",
                          path);
    float *f = rc ? NULL : malloc(nf * sizeof(float));
    if (!rc && !f) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (!rc) {
        memcpy(f, data + sizeof h, nf * sizeof(float));
        s->key = key;
        s->epochs_done = (int)h.epochs_done;
        s->step = (long)h.step;
        s->nv = nv;
        s->nt = nt;
        s->wv = f;
        s->wt = s->wv + nv;
        s->mv = s->wt + nt;
        s->vv = s->mv + nv;
        s->mt = s->vv + nv;
        s->vt = s->mt + nt;
    }
    free(data);
    return rc;
}
