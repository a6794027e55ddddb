/* Vector cache files (see vcache.h). Layout, every region 64-byte aligned:
 *   header (256 bytes) | vecs n*dim f32 | norms2 n f32 | rowids n i64 | meta_off n+1 u64 |
 *   metadata bytes
 * Native byte order (the header records it). Metadata sits last so that an unfiltered
 * query, which only reads vecs/norms/rowids, never touches those pages. */
#include "store/vcache.h"

#include "base/hash.h"

#include "store/vquant.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VC_MAGIC "CSVCACH1"
#define VC_FORMAT 1u
#define VC_ENDIAN 0x01020304u
#define VC_HEADER 256u
#define VC_MAX_DIM 16000u        /* pgvector's limit; bounds the size arithmetic */
#define VC_TMP_STALE_S 600       /* a temporary file this old belongs to a dead writer */

typedef struct {
    char magic[8];
    uint32_t format, endian, dim, reserved;
    uint64_t n, meta_len, file_size;
    int64_t gen;
    uint64_t off_vecs, off_norms, off_rowids, off_meta_off, off_meta;
    char tbl[64];
    uint64_t sum;   /* XXH3-64 of the bytes before it */
} vc_header;

_Static_assert(sizeof(vc_header) <= VC_HEADER, "header fits its slot");

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

/* Offsets and total size for n rows of dim floats and meta_len metadata bytes. */
static void layout(vc_header *h)
{
    h->off_vecs = VC_HEADER;
    h->off_norms = align64(h->off_vecs + h->n * h->dim * 4);
    h->off_rowids = align64(h->off_norms + h->n * 4);
    h->off_meta_off = align64(h->off_rowids + h->n * 8);
    h->off_meta = align64(h->off_meta_off + (h->n + 1) * 8);
    h->file_size = h->off_meta + h->meta_len;
}

int cs__vcache_path(const char *db, const char *tbl, char *out, size_t cap)
{
    if (!db[0] || !strcmp(db, ":memory:") || !strncmp(db, "file:", 5)) return -1;
    int w = snprintf(out, cap, "%s.vcache/%s.bin", db, tbl);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

static bool rows_valid(const cs__vcache *vc, uint64_t meta_len)
{
    for (size_t i = 1; i < vc->n; i++)
        if (vc->rowids[i] <= vc->rowids[i - 1]) return false;
    if (vc->meta_off[0] != 0 || vc->meta_off[vc->n] != meta_len) return false;
    for (size_t i = 0; i < vc->n; i++)
        if (vc->meta_off[i + 1] < vc->meta_off[i]) return false;
    return true;
}

int cs__vcache_open(const char *file, const char *tbl, int dim, int64_t gen, cs__vcache *vc)
{
    return cs__vcache_open_ex(file, tbl, dim, gen, true, vc);
}

int cs__vcache_open_ex(const char *file, const char *tbl, int dim, int64_t gen, bool vectors,
                       cs__vcache *vc)
{
    memset(vc, 0, sizeof *vc);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    struct stat sb;
    vc_header h, want;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size < (off_t)VC_HEADER ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        close(fd);
        return 1;
    }
    memset(&want, 0, sizeof want);
    memcpy(want.magic, VC_MAGIC, 8);
    want.format = VC_FORMAT;
    want.endian = VC_ENDIAN;
    want.dim = (uint32_t)dim;
    want.n = h.n;
    want.meta_len = h.meta_len;
    want.gen = gen == CS_VCACHE_ANY_GEN ? h.gen : gen;
    snprintf(want.tbl, sizeof want.tbl, "%s", tbl);
    bool ok = h.n <= UINT32_MAX && h.meta_len <= (uint64_t)sb.st_size && dim > 0 &&
              (uint32_t)dim <= VC_MAX_DIM;
    if (ok) {
        layout(&want);
        want.sum = cs__hash64(&want, offsetof(vc_header, sum));
        ok = !memcmp(&h, &want, sizeof h) && want.file_size == (uint64_t)sb.st_size;
    }
    void *map = ok ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return 1;
    /* The scan reads every vector page once: ask for read-ahead of the whole range, and
     * map the pages an unfiltered scan reads (vectors, norms, rowids) in one call rather
     * than one fault at a time. Both are advice: older kernels ignore them. */
    char *m = map;
    /* Without the vectors (a compressed copy is scanned instead): advice from the page
     * holding the norms on, as madvise wants a page-aligned start. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE), from = vectors ? 0 : (size_t)h.off_norms & ~(page - 1);
    /* Huge folios where the page cache holds them or reads them in (cs__vcache_piece);
     * not over vectors a compressed copy stands in for, which the re-scoring reads a few
     * rows at a time (a 2 MiB read-ahead for each would be waste). */
    madvise(m + from, (size_t)sb.st_size - from, MADV_HUGEPAGE);
    madvise(m + from, (size_t)sb.st_size - from, MADV_WILLNEED);
#ifdef MADV_POPULATE_READ
    madvise(m + from, (size_t)h.off_meta_off - from, MADV_POPULATE_READ);   /* to the rowids */
#endif
    *vc = (cs__vcache){.dim = dim, .n = (size_t)h.n, .gen = h.gen,
                      .vecs = (float *)(m + h.off_vecs), .norms2 = (float *)(m + h.off_norms),
                      .rowids = (int64_t *)(m + h.off_rowids),
                      .meta_off = (uint64_t *)(m + h.off_meta_off), .meta = m + h.off_meta,
                      .map = map, .map_size = (size_t)sb.st_size};
    if (!rows_valid(vc, h.meta_len)) {
        cs__vcache_free(vc);
        return 1;
    }
    return 0;
}

/* The vector array: 64-byte aligned; a large one 2 MiB aligned and backed by transparent
 * huge pages where the kernel offers them, because filling it page by page costs a fault
 * per 4 KiB (expensive under virtualisation: ~0.2 s per 200 MB measured on a cloud VM). */
static float *alloc_vectors(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return aligned_alloc(64, align64(bytes));
    size_t rounded = (bytes + huge - 1) & ~(huge - 1);
    float *p = aligned_alloc(huge, rounded);
    if (p) madvise(p, rounded, MADV_HUGEPAGE);   /* advice only: ignored where unsupported */
    return p;
}

int cs__vcache_init(cs__vcache *vc, int dim, size_t cap, int64_t gen)
{
    memset(vc, 0, sizeof *vc);
    vc->dim = dim;
    vc->gen = gen;
    vc->cap = cap ? cap : 1;
    vc->meta_cap = 64 * vc->cap;
    vc->vecs = alloc_vectors(vc->cap * (size_t)dim * sizeof(float));
    vc->norms2 = malloc(vc->cap * sizeof *vc->norms2);
    vc->rowids = malloc(vc->cap * sizeof *vc->rowids);
    vc->meta_off = malloc((vc->cap + 1) * sizeof *vc->meta_off);
    vc->meta = malloc(vc->meta_cap);
    if (!vc->vecs || !vc->norms2 || !vc->rowids || !vc->meta_off || !vc->meta) {
        cs__vcache_free(vc);
        return -1;
    }
    vc->meta_off[0] = 0;
    return 0;
}

/* Room for `more` metadata bytes. */
static int meta_reserve(cs__vcache *vc, size_t more)
{
    size_t used = vc->meta_off[vc->n];
    if (used + more <= vc->meta_cap) return 0;
    size_t c = vc->meta_cap;
    while (used + more > c) c *= 2;
    char *p = realloc(vc->meta, c);
    if (!p) return -1;
    vc->meta = p;
    vc->meta_cap = c;
    return 0;
}

int cs__vcache_reserve_meta(cs__vcache *vc, size_t bytes) { return meta_reserve(vc, bytes); }

int cs__vcache_append(cs__vcache *vc, int64_t rowid, const float *vec, float norm2,
                     const char *meta, size_t meta_len)
{
    if (vc->n == vc->cap || meta_reserve(vc, meta_len)) return -1;
    size_t used = vc->meta_off[vc->n];
    size_t i = vc->n++;
    vc->rowids[i] = rowid;
    vc->norms2[i] = norm2;
    if (vec != vc->vecs + i * (size_t)vc->dim)
        memcpy(vc->vecs + i * (size_t)vc->dim, vec, (size_t)vc->dim * sizeof(float));
    if (meta_len) memcpy(vc->meta + used, meta, meta_len);
    vc->meta_off[i + 1] = used + meta_len;
    return 0;
}

int cs__vcache_append_rows(cs__vcache *dst, const cs__vcache *src, size_t from, size_t to)
{
    size_t k = to - from, d = (size_t)dst->dim;
    if (k == 0) return 0;
    uint64_t m0 = src->meta_off[from], bytes = src->meta_off[to] - m0;
    if (dst->n + k > dst->cap || meta_reserve(dst, (size_t)bytes)) return -1;
    size_t at = dst->n;
    uint64_t used = dst->meta_off[at];
    memcpy(dst->vecs + at * d, src->vecs + from * d, k * d * sizeof(float));
    memcpy(dst->norms2 + at, src->norms2 + from, k * sizeof(float));
    memcpy(dst->rowids + at, src->rowids + from, k * sizeof(int64_t));
    memcpy(dst->meta + used, src->meta + m0, (size_t)bytes);
    for (size_t i = 1; i <= k; i++) dst->meta_off[at + i] = used + (src->meta_off[from + i] - m0);
    dst->n += k;
    return 0;
}

int cs__vcache_write(const atomic_bool *stop, int fd, const void *p, size_t n)
{
    const char *s = p;
    off_t at = lseek(fd, 0, SEEK_CUR);
    uint64_t pos = at < 0 ? 0 : (uint64_t)at;
    while (n) {
        if (stop && atomic_load_explicit(stop, memory_order_relaxed)) return -1;
        ssize_t w = write(fd, s, cs__vcache_piece(pos, n));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
        pos += (uint64_t)w;
    }
    return 0;
}

/* Writes region [off, off+len) of the file, padding with zeros from *pos. */
static int put_at(const atomic_bool *stop, int fd, uint64_t *pos, uint64_t off, const void *p,
                  size_t len)
{
    static const char zeros[VC_HEADER];
    if (off < *pos || off - *pos > sizeof zeros || cs__vcache_write(stop, fd, zeros, (size_t)(off - *pos)))
        return -1;
    *pos = off + len;
    return cs__vcache_write(stop, fd, p, len);
}

/* Removes "<name>.tmp.*" files that a crashed writer left (older than VC_TMP_STALE_S), or
 * every file of the table when all is set (the collection was dropped). */
static void sweep(const char *dir, const char *name, bool all)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char pre[96], path[4096];
    int pl = snprintf(pre, sizeof pre, all ? "%s" : "%s.tmp.", name);
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d));) {
        struct stat sb;
        if (strncmp(e->d_name, pre, (size_t)pl) ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            lstat(path, &sb) || !S_ISREG(sb.st_mode))
            continue;
        if (all || now - sb.st_mtime > VC_TMP_STALE_S) unlink(path);
    }
    closedir(d);
}

/* Splits "dir/name" into its directory ("." without a slash) and base name. */
static int split(const char *file, char *dir, size_t cap, const char **base)
{
    const char *slash = strrchr(file, '/');
    size_t len = slash ? (size_t)(slash - file) : 0;
    if (len >= cap || cap < 2) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, slash ? file : ".", slash ? len : 2);
    if (slash) dir[len] = 0;
    if (slash && !len) snprintf(dir, cap, "/");
    *base = slash ? slash + 1 : file;
    return 0;
}

/* Writes one region of the file: for each run, the bytes at src_field(run) of `size`
 * per row. Returns 0 or -1. */
static int put_runs(const atomic_bool *stop, int fd, uint64_t *pos, uint64_t off, const cs__vcache_run *runs, size_t nruns,
                    size_t field, size_t size)
{
    for (size_t i = 0; i < nruns; i++) {
        const cs__vcache *v = runs[i].src;
        const char *base = field == 0 ? (const char *)v->vecs
                         : field == 1 ? (const char *)v->norms2 : (const char *)v->rowids;
        size_t len = (runs[i].to - runs[i].from) * size;
        if (i == 0 ? put_at(stop, fd, pos, off, base + runs[i].from * size, len)
                   : cs__vcache_write(stop, fd, base + runs[i].from * size, len))
            return -1;
        if (i) *pos += len;
    }
    return nruns ? 0 : put_at(stop, fd, pos, off, NULL, 0);
}

/* The metadata offsets of the concatenated runs, rebased, in chunks. */
static int put_meta_offsets(const atomic_bool *stop, int fd, uint64_t *pos, uint64_t off, const cs__vcache_run *runs,
                            size_t nruns)
{
    uint64_t buf[1024], used = 0;
    size_t nb = 1;
    buf[0] = 0;
    if (put_at(stop, fd, pos, off, NULL, 0)) return -1;
    for (size_t i = 0; i < nruns; i++) {
        const cs__vcache *v = runs[i].src;
        uint64_t m0 = v->meta_off[runs[i].from];
        for (size_t r = runs[i].from; r < runs[i].to; r++) {
            buf[nb++] = used + (v->meta_off[r + 1] - m0);
            if (nb == 1024) {
                if (cs__vcache_write(stop, fd, buf, sizeof buf)) return -1;
                *pos += sizeof buf;
                nb = 0;
            }
        }
        used += v->meta_off[runs[i].to] - m0;
    }
    *pos += nb * sizeof *buf;
    return cs__vcache_write(stop, fd, buf, nb * sizeof *buf);
}

int cs__vcache_begin_save(const char *file, char *tmp, size_t cap)
{
    char dir[4096];
    const char *base;
    if (split(file, dir, sizeof dir, &base)) return -1;
    if (!base[0]) {   /* "dir/": no file to write */
        errno = EISDIR;
        return -1;
    }
    if (mkdir(dir, 0777) && errno != EEXIST) return -1;
    sweep(dir, base, false);
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (uint64_t)time(NULL);
    int w = snprintf(tmp, cap, "%s.tmp.%ld.%016llx", file, (long)getpid(), (unsigned long long)r);
    if (w >= 0 && (size_t)w < cap) return 0;
    errno = ENAMETOOLONG;
    return -1;
}

int cs__vcache_save_runs(const cs__vcache_run *runs, size_t nruns, int dim, int64_t gen,
                         const char *tbl, const char *file, const atomic_bool *stop)
{
    char tmp[4200];
    if (cs__vcache_begin_save(file, tmp, sizeof tmp)) return -1;
    vc_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, VC_MAGIC, 8);
    h.format = VC_FORMAT;
    h.endian = VC_ENDIAN;
    h.dim = (uint32_t)dim;
    for (size_t i = 0; i < nruns; i++) {
        h.n += runs[i].to - runs[i].from;
        h.meta_len += runs[i].src->meta_off[runs[i].to] - runs[i].src->meta_off[runs[i].from];
    }
    h.gen = gen;
    snprintf(h.tbl, sizeof h.tbl, "%s", tbl);
    layout(&h);
    h.sum = cs__hash64(&h, offsetof(vc_header, sum));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    uint64_t pos = 0;
    size_t d = (size_t)dim;
    int rc = put_at(stop, fd, &pos, 0, &h, sizeof h);
    if (!rc) rc = put_runs(stop, fd, &pos, h.off_vecs, runs, nruns, 0, d * sizeof(float));
    if (!rc) rc = put_runs(stop, fd, &pos, h.off_norms, runs, nruns, 1, sizeof(float));
    if (!rc) rc = put_runs(stop, fd, &pos, h.off_rowids, runs, nruns, 2, sizeof(int64_t));
    if (!rc) rc = put_meta_offsets(stop, fd, &pos, h.off_meta_off, runs, nruns);
    for (size_t i = 0; !rc && i < nruns; i++) {
        const cs__vcache *v = runs[i].src;
        uint64_t m0 = v->meta_off[runs[i].from], len = v->meta_off[runs[i].to] - m0;
        rc = i == 0 ? put_at(stop, fd, &pos, h.off_meta, v->meta + m0, (size_t)len)
                    : cs__vcache_write(stop, fd, v->meta + m0, (size_t)len);
        if (i) pos += len;
    }
    if (!rc && !nruns) rc = put_at(stop, fd, &pos, h.off_meta, NULL, 0);
    /* No fsync: after a crash the file is absent, old (its generation no longer matches)
     * or fails the size/header checks; SQLite remains the source of truth. */
    if (close(fd)) rc = -1;
    if (!rc && rename(tmp, file)) rc = -1;
    if (rc) unlink(tmp);
    return rc;
}

int cs__vcache_save(const cs__vcache *vc, const char *tbl, const char *file)
{
    if (vc->map) return -1;
    cs__vcache_run run = {vc, 0, vc->n};
    return cs__vcache_save_runs(&run, vc->n ? 1 : 0, vc->dim, vc->gen, tbl, file, NULL);
}

void cs__vcache_remove(const char *file)
{
    char dir[4096];
    const char *base;
    if (split(file, dir, sizeof dir, &base)) return;
    /* Every file of the table: "<table>.bin", its compressed copies and ANN index
     * ("<table>.int8", ...) and any temporary ones. */
    char prefix[256];
    size_t len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".bin") && len - 3 < sizeof prefix) {
        memcpy(prefix, base, len - 3);   /* keeps the dot */
        prefix[len - 3] = 0;
        base = prefix;
    }
    sweep(dir, base, true);
    rmdir(dir);               /* fails, harmlessly, while other collections have caches */
}

void cs__vcache_free(cs__vcache *vc)
{
    cs__vquant_release(vc);
    if (vc->map) {
        munmap(vc->map, vc->map_size);
    } else {
        free(vc->vecs);
        free(vc->norms2);
        free(vc->rowids);
        free(vc->meta_off);
        free(vc->meta);
    }
    memset(vc, 0, sizeof *vc);
}
