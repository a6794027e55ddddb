/* HNSW index files (see hnsw.h). Layout, every region 64-byte aligned, native byte order
 * (the header records it):
 *   header (256 bytes) | vecs n*dim f32 | norms2 n f32 | keys n i64 | info n u8 |
 *   links0 n*(1+2m) u32 | pool pool_len u32 | zero padding to a multiple of 64
 * which are the in-memory arrays of hnsw_internal.h verbatim: a load maps each array
 * privately (copy on write) into a reservation with room to grow and points the index at
 * it, so loading costs one pass to check the file and no copy, and a remove or an add on
 * the loaded index writes only the pages it touches. The per-node offsets into the pool
 * (uoff) are not stored: load recomputes them from the levels, which checks them at the
 * same time.
 *
 * Like the vector cache (vcache.c) the file is derived data: written under a unique
 * temporary name and renamed into place (atomic; no fsync: after a crash it is absent or
 * stale, and the caller's generation check or the checksum rejects it), and trusted only
 * when header, size, checksum of every byte and the graph's structure check out. Anything
 * else loads as "absent" (1) and the caller rebuilds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/test_point.h"
#include "store/hnsw.h"
#include "store/hnsw_internal.h"
#include "store/vcache.h"

#define HF_MAGIC "CSHNSW01"
#define HF_FORMAT 1u
#define HF_ENDIAN 0x01020304u
#define HF_HEADER 256u

typedef struct {
    char magic[8];
    uint32_t format, endian, dim, measure;
    uint32_t m, ef_construction, maxlevel, entry;   /* entry HNSW_NONE when n == 0 */
    uint64_t n, live, pool_len, seed, rng;
    int64_t gen;
    uint64_t off_vecs, off_norms, off_keys, off_info, off_links0, off_pool, file_size;
    char tag[64];        /* NUL-padded */
    uint64_t data_sum;   /* XXH3-64 of bytes [HF_HEADER, file_size) */
    uint64_t sum;        /* XXH3-64 of the header bytes before it */
} hf_header;

_Static_assert(sizeof(hf_header) == 224, "no padding inside the header");
_Static_assert(sizeof(hf_header) <= HF_HEADER, "header fits its slot");

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

/* Region offsets and file size from n, dim, m and pool_len. */
static void layout(hf_header *f)
{
    uint64_t stride0 = 1 + 2 * (uint64_t)f->m;
    f->off_vecs = HF_HEADER;
    f->off_norms = align64(f->off_vecs + f->n * f->dim * 4);
    f->off_keys = align64(f->off_norms + f->n * 4);
    f->off_info = align64(f->off_keys + f->n * 8);
    f->off_links0 = align64(f->off_info + f->n);
    f->off_pool = align64(f->off_links0 + f->n * stride0 * 4);
    f->file_size = align64(f->off_pool + f->pool_len * 4);
}

/* ---- save -------------------------------------------------------------------------- */

typedef struct {
    int fd;
    uint64_t pos;
    cs__hash64_stream *hs;
} writer;

static int put(writer *w, const void *p, size_t n)
{
    const char *s = p;
    cs__hash64_update(w->hs, p, n);
    while (n) {
        ssize_t r = write(w->fd, s, cs__vcache_piece(w->pos, n));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        s += r;
        n -= (size_t)r;
        w->pos += (uint64_t)r;
    }
    return 0;
}

/* Zeros up to offset `to` (less than 64 bytes: regions are 64-byte aligned), then the
 * region's bytes. */
static int put_region(writer *w, uint64_t to, const void *p, size_t n)
{
    static const char zeros[64];
    if (to < w->pos || to - w->pos > sizeof zeros) return -1;
    if (to > w->pos && put(w, zeros, (size_t)(to - w->pos))) return -1;
    return n ? put(w, p, n) : 0;
}

int cs__hnsw_save(const cs__hnsw *h, const char *file, const char *tag, int64_t gen,
                  cs_error *err)
{
    if (strlen(tag) > CS_HNSW_TAG_MAX)
        return cs_error_set(err, CS_E_ARG, "hnsw: tag longer than %d bytes", CS_HNSW_TAG_MAX);
    char tmp[4200];
    if (cs__vcache_begin_save(file, tmp, sizeof tmp))
        return cs_error_set(err, errno == ENAMETOOLONG || errno == EISDIR ? CS_E_ARG : CS_E_IO,
                            "%s: cannot write there: %s", file, strerror(errno));

    hf_header f;
    memset(&f, 0, sizeof f);
    memcpy(f.magic, HF_MAGIC, 8);
    f.format = HF_FORMAT;
    f.endian = HF_ENDIAN;
    f.dim = (uint32_t)h->p.dim;
    f.measure = (uint32_t)h->p.measure;
    f.m = (uint32_t)h->p.m;
    f.ef_construction = (uint32_t)h->p.ef_construction;
    f.maxlevel = h->n ? (uint32_t)h->maxlevel : 0;
    f.entry = h->n ? h->entry : HNSW_NONE;
    f.n = h->n;
    f.live = h->live;
    f.pool_len = h->pool_len;
    f.seed = h->p.seed;
    f.rng = h->rng;
    f.gen = gen;
    memcpy(f.tag, tag, strlen(tag));
    layout(&f);

    writer w = {.hs = cs__hash64_begin()};
    if (!w.hs) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (w.fd < 0) {
        int e = errno;
        cs__hash64_end(w.hs);
        return cs_error_set(err, CS_E_IO, "%s: cannot create: %s", tmp, strerror(e));
    }
    /* The data first (hashed as it goes), the header, which holds the hash, last. */
    w.pos = HF_HEADER;
    int rc = lseek(w.fd, HF_HEADER, SEEK_SET) == (off_t)HF_HEADER ? 0 : -1;
    if (!rc) rc = put_region(&w, f.off_vecs, h->vecs, h->n * h->dim * sizeof(float));
    cs__test_point("hnsw-save");   /* half written */
    if (!rc) rc = put_region(&w, f.off_norms, h->norms2, h->n * sizeof(float));
    if (!rc) rc = put_region(&w, f.off_keys, h->keys, h->n * sizeof(int64_t));
    if (!rc) rc = put_region(&w, f.off_info, h->info, h->n);
    if (!rc) rc = put_region(&w, f.off_links0, h->links0, h->n * h->stride0 * sizeof(uint32_t));
    if (!rc) rc = put_region(&w, f.off_pool, h->pool, h->pool_len * sizeof(uint32_t));
    if (!rc) rc = put_region(&w, f.file_size, NULL, 0);
    f.data_sum = cs__hash64_end(w.hs);
    f.sum = cs__hash64(&f, offsetof(hf_header, sum));
    char head[HF_HEADER];
    memset(head, 0, sizeof head);
    memcpy(head, &f, sizeof f);
    if (!rc && pwrite(w.fd, head, sizeof head, 0) != (ssize_t)sizeof head) rc = -1;
    int e = errno;
    if (close(w.fd) && !rc) {
        rc = -1;
        e = errno;
    }
    if (!rc && rename(tmp, file)) {
        rc = -1;
        e = errno;
    }
    if (rc) {
        unlink(tmp);
        return cs_error_set(err, CS_E_IO, "%s: cannot write: %s", file, strerror(e));
    }
    return 0;
}

/* ---- load -------------------------------------------------------------------------- */

/* The header is one this build can use for (tag, dim), and describes a file of `size`. */
static bool header_ok(const hf_header *f, const char *tag, int dim, uint64_t size)
{
    char want_tag[64];
    memset(want_tag, 0, sizeof want_tag);
    memcpy(want_tag, tag, strlen(tag));
    cs__hnsw_params p = {.dim = (int)f->dim, .measure = (cs_measure)f->measure, .m = (int)f->m,
                        .ef_construction = (int)f->ef_construction, .seed = f->seed};
    if (memcmp(f->magic, HF_MAGIC, 8) || f->format != HF_FORMAT || f->endian != HF_ENDIAN ||
        f->sum != cs__hash64(f, offsetof(hf_header, sum)) || f->dim != (uint32_t)dim ||
        memcmp(f->tag, want_tag, sizeof want_tag) || f->dim > CS_HNSW_MAX_DIM ||
        f->m > CS_HNSW_MAX_M || f->ef_construction > CS_HNSW_MAX_EF ||
        f->measure > 64 || cs__hnsw_check_params(&p, NULL))
        return false;
    /* Bounds before the size arithmetic, so that it cannot overflow. */
    if (f->n > HNSW_MAX_NODES || f->live > f->n || f->maxlevel > HNSW_MAX_LEVEL ||
        f->pool_len > f->n * HNSW_MAX_LEVEL * (1 + (uint64_t)f->m))
        return false;
    if (f->n ? f->entry >= f->n : (f->entry != HNSW_NONE || f->maxlevel || f->pool_len))
        return false;
    hf_header want = *f;
    layout(&want);
    return !memcmp(&want, f, sizeof want) && want.file_size == size;
}

/* The graph as mapped is one the search can walk without reading out of bounds:
 * levels within the top level, the tombstones as counted, list lengths within m0/m,
 * neighbours existing nodes (on an upper layer, nodes that have that layer), the entry
 * on the top level, and live keys distinct. Fills h->uoff and the key map. */
static bool graph_ok(cs__hnsw *h)
{
    size_t dead = 0;
    uint64_t off = 0;
    for (size_t i = 0; i < h->n; i++) {
        int lv = h->info[i] & HNSW_LEVEL;
        if (lv > h->maxlevel) return false;
        dead += (h->info[i] & HNSW_DEAD) != 0;
        h->uoff[i] = off;
        off += (uint64_t)lv * h->strideu;
    }
    if (off != h->pool_len || h->n - dead != h->live) return false;
    if (h->n && (int)(h->info[h->entry] & HNSW_LEVEL) != h->maxlevel) return false;
    for (size_t i = 0; i < h->n; i++) {
        const uint32_t *l = h->links0 + i * h->stride0;
        if (l[0] > h->m0) return false;
        for (uint32_t j = 1; j <= l[0]; j++)
            if (l[j] >= h->n) return false;
        int lv = h->info[i] & HNSW_LEVEL;
        for (int lc = 1; lc <= lv; lc++) {
            l = h->pool + h->uoff[i] + (size_t)(lc - 1) * h->strideu;
            if (l[0] > h->m) return false;
            for (uint32_t j = 1; j <= l[0]; j++)
                if (l[j] >= h->n || (int)(h->info[l[j]] & HNSW_LEVEL) < lc) return false;
        }
    }
    for (size_t i = 0; i < h->n; i++)
        if (!(h->info[i] & HNSW_DEAD) && cs__hnsw_map_put(h, (uint32_t)i) != HNSW_NONE)
            return false;
    return true;
}

static size_t page_size(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    return pg > 0 ? (size_t)pg : 4096;
}

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* The pages of a reservation for `bytes` starting `head` bytes into its first page (at
 * least one, so that even an empty array has an address of its own). */
static size_t span_of(size_t head, size_t bytes)
{
    size_t pg = page_size(), span = round_up(head + bytes, pg);
    return span ? span : pg;
}

/* Maps the file's bytes [off, off + len) privately (copy on write: the file is never
 * modified) at the start of a reservation of `room` bytes, and returns the array's
 * address, or NULL. Adds then write the first nodes past the file's into the reservation,
 * which is anonymous memory, so that growing a loaded index copies nothing: copying a 1M
 * node index's 2.3 GB into memory was most of the first query after a write.
 *
 * The reservation's address is congruent with the file offset modulo 2 MiB, so that the
 * kernel can map the page cache's huge pages, and is advised to use them: one fault per
 * 2 MiB instead of per 4-64 KiB, which on a large index is most of a new connection's
 * first query. The file part is mapped in bulk (the checksum reads every byte), not with
 * MAP_POPULATE, which on a private writable mapping would copy every page. */
static void *map_array(int fd, uint64_t off, size_t len, size_t room)
{
    const size_t pg = page_size(), huge = (size_t)2 << 20;
    const size_t head = (size_t)(off % pg);
    const size_t span = span_of(head, room), file_span = round_up(head + len, pg);
    char *raw = mmap(NULL, span + huge, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    /* Unsigned arithmetic: the distance to the next address congruent with the file's
     * page offset, modulo 2 MiB (a power of two). Then the unused ends go back. */
    size_t skip = (size_t)((off - head - (uintptr_t)raw) & (huge - 1));
    char *base = raw + skip;
    if (skip) munmap(raw, skip);
    munmap(base + span, huge - skip);
    if (len && mmap(base, file_span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                    (off_t)(off - head)) == MAP_FAILED) {
        munmap(base, span);
        return NULL;
    }
    madvise(base, span, MADV_HUGEPAGE);   /* advice only, as the two below */
    if (len) {
        madvise(base, file_span, MADV_WILLNEED);
#ifdef MADV_POPULATE_READ
        madvise(base, file_span, MADV_POPULATE_READ);
#endif
    }
    return base + head;
}

/* The index's arrays in file order: where the pointer goes, the file offset, the bytes
 * the file holds and the room mapped for them. Each one's checksummed bytes run to the
 * next one's offset (its padding included), the last one's to the end of the file. */
typedef struct {
    void **at;
    uint64_t off;
    size_t len, room;
} hf_array;

#define HF_ARRAYS 6

/* Array i (0..HF_ARRAYS-1; the last is the pool): offsets from f, or 0 when f is NULL. */
static hf_array array_of(cs__hnsw *h, const hf_header *f, size_t i)
{
    const size_t n = h->n, c = h->cap, row = h->dim * 4, l0 = h->stride0 * 4;
    switch (i) {
    case 0: return (hf_array){(void **)&h->vecs, f ? f->off_vecs : 0, n * row, c * row};
    case 1: return (hf_array){(void **)&h->norms2, f ? f->off_norms : 0, n * 4, c * 4};
    case 2: return (hf_array){(void **)&h->keys, f ? f->off_keys : 0, n * 8, c * 8};
    case 3: return (hf_array){(void **)&h->info, f ? f->off_info : 0, n, c};
    case 4: return (hf_array){(void **)&h->links0, f ? f->off_links0 : 0, n * l0, c * l0};
    default:
        return (hf_array){(void **)&h->pool, f ? f->off_pool : 0, h->pool_len * 4,
                          h->pool_cap * 4};
    }
}

/* Maps every array with the room h->cap and h->pool_cap give: 0, or -1 with some mapped
 * (cs__hnsw_unmap_arrays frees them). */
static int map_arrays(cs__hnsw *h, int fd, const hf_header *f)
{
    for (size_t i = 0; i < HF_ARRAYS; i++) {
        hf_array a = array_of(h, f, i);
        if (!(*a.at = map_array(fd, a.off, a.len, a.room))) return -1;
    }
    return 0;
}

void cs__hnsw_unmap_arrays(cs__hnsw *h, bool nodes, bool pool)
{
    for (size_t i = 0; i < HF_ARRAYS; i++) {
        hf_array a = array_of(h, NULL, i);
        if (!*a.at || (i + 1 < HF_ARRAYS ? !nodes : !pool)) continue;
        const size_t head = (size_t)((uintptr_t)*a.at % page_size());
        munmap((char *)*a.at - head, span_of(head, a.room));
        *a.at = NULL;
    }
}

int cs__hnsw_load(const char *file, const char *tag, int dim, cs__hnsw **out, int64_t *gen,
                  cs_error *err)
{
    return cs__hnsw_load_room(file, tag, dim, true, out, gen, err);
}

int cs__hnsw_load_room(const char *file, const char *tag, int dim, bool room, cs__hnsw **out,
                       int64_t *gen, cs_error *err)
{
    *out = NULL;
    if (strlen(tag) > CS_HNSW_TAG_MAX) return 1;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    struct stat sb;
    hf_header f;
    char head[HF_HEADER], zeros[HF_HEADER - sizeof f];
    memset(zeros, 0, sizeof zeros);
    /* The header slot's unused tail must be zeros: then no byte of the file goes
     * unchecked. */
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size < (off_t)HF_HEADER ||
        pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
        memcmp(head + sizeof f, zeros, sizeof zeros) ||
        !header_ok(memcpy(&f, head, sizeof f), tag, dim, (uint64_t)sb.st_size)) {
        close(fd);
        return 1;
    }
    cs__hnsw_params p = {.dim = dim, .measure = (cs_measure)f.measure, .m = (int)f.m,
                        .ef_construction = (int)f.ef_construction, .seed = f.seed};
    cs__hnsw *h = cs__hnsw_alloc(&p);
    cs__hash64_stream *hs = cs__hash64_begin();
    if (!h || !hs) {
        close(fd);
        cs__hnsw_free(h);
        cs__hash64_end(hs);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    h->own_nodes = h->own_pool = false;
    h->n = (size_t)f.n;
    h->live = (size_t)f.live;
    h->entry = f.entry;
    h->maxlevel = (int)f.maxlevel;
    h->rng = f.rng;
    h->pool_len = (size_t)f.pool_len;
    /* Room to grow; where the address space or the kernel's commit limit (strict
     * overcommit counts the room) refuses it, none, as the file's single mapping had:
     * the first add then copies, but the index loads instead of being rebuilt. */
    for (int attempt = room ? 0 : 1; attempt < 2; attempt++) {
        h->cap = attempt ? h->n : cs__hnsw_grown(h->n, 16);
        if (h->cap > HNSW_MAX_NODES) h->cap = HNSW_MAX_NODES;
        h->pool_cap = attempt ? h->pool_len : cs__hnsw_grown(h->pool_len, 1024);
        if (!map_arrays(h, fd, &f)) break;
        cs__hnsw_unmap_arrays(h, true, true);
    }
    close(fd);
    bool ok = h->vecs != NULL;
    for (size_t i = 0; ok && i < HF_ARRAYS; i++) {
        const hf_array a = array_of(h, &f, i);
        cs__hash64_update(hs, *a.at, (size_t)((i + 1 < HF_ARRAYS ? array_of(h, &f, i + 1).off
                                                                 : f.file_size) - a.off));
    }
    if (cs__hash64_end(hs) != f.data_sum || !ok) {
        cs__hnsw_free(h);
        return 1;
    }
    h->uoff = malloc((h->cap ? h->cap : 1) * sizeof *h->uoff);   /* as many as the arrays */
    if (!h->uoff || cs__hnsw_map_reserve(h, h->live)) {
        cs__hnsw_free(h);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    if (!graph_ok(h)) {
        cs__hnsw_free(h);
        return 1;
    }
    *out = h;
    if (gen) *gen = f.gen;
    return 0;
}
