/* Vector cache of one SQLite collection: its vectors (float32, 64-byte aligned), float32
 * norms (for cosine), rowids (ascending) and metadata texts, laid out for the exact scan.
 * It lives in memory (built from SQLite) and, as a derived copy, in a file next to the
 * database ("<db>.vcache/<table>.bin") that later processes map read-only instead of
 * reading every row through SQLite: a cold query then costs one pass over the page cache.
 *
 * The file is only a cache. It is written to a unique temporary name and renamed into
 * place (atomic; no fsync), and trusted only when its header (magic, format, byte order,
 * table, dimension, the collection's write generation, region offsets, checksum) and its
 * size match, and its rowids ascend. Anything else means "absent": the caller rebuilds
 * from SQLite, which stays the only source of truth. */
#ifndef CS_STORE_VCACHE_H
#define CS_STORE_VCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/store.h"

typedef struct cs__vcache {
    int dim;
    size_t n;
    int64_t gen;          /* the catalog version the rows belong to */
    float *vecs;          /* n * dim, 64-byte aligned */
    float *norms2;        /* n */
    int64_t *rowids;      /* n, strictly ascending */
    uint64_t *meta_off;   /* n + 1; row i's metadata is meta[meta_off[i]..meta_off[i+1]) */
    char *meta;
    void *map;            /* the file mapping when mapped (then the pointers point into it) */
    size_t map_size;
    size_t cap, meta_cap; /* allocated rows / metadata bytes while building in memory */
    /* The compressed copy of the rows (vquant.h), when there is one. */
    cs_vector_copy copy;  /* CS_VECTOR_COPY_NONE: none */
    void *cvecs;          /* n * dim int8 or fp16 */
    float *cscale;        /* n per-row scales (int8) */
    void *cmap;           /* the copy file's mapping when mapped */
    size_t cmap_size;
} cs__vcache;

/* "<db>.vcache/<tbl>.bin" into out; -1 when the database is not a plain file path
 * (":memory:", "", "file:" URIs) or the name does not fit: no persistent cache then. */
int cs__vcache_path(const char *db, const char *tbl, char *out, size_t cap);

/* Maps the file when it is a valid cache of `tbl` at generation `gen` (any generation
 * when gen is CS_VCACHE_ANY_GEN: vc->gen tells which) with dimension `dim`: returns 0
 * and fills vc, or 1 (absent, stale, corrupt or unreadable: rebuild). */
#define CS_VCACHE_ANY_GEN INT64_MIN
int cs__vcache_open(const char *file, const char *tbl, int dim, int64_t gen, cs__vcache *vc);
/* The same; vectors false: the vector pages are not mapped ahead (a compressed copy will
 * be scanned instead, which touches only the few rows it re-scores). */
int cs__vcache_open_ex(const char *file, const char *tbl, int dim, int64_t gen, bool vectors,
                       cs__vcache *vc);

/* In-memory cache with room for `cap` rows (metadata grows as appended); 0 or -1 (OOM). */
int cs__vcache_init(cs__vcache *vc, int dim, size_t cap, int64_t gen);
/* Appends a row (vector in host order, possibly already written in place at
 * vecs + n * dim; norm2 its float32 sum of squares); 0 or -1 (OOM / full). */
int cs__vcache_append(cs__vcache *vc, int64_t rowid, const float *vec, float norm2,
                     const char *meta, size_t meta_len);

/* Makes room for `bytes` more metadata bytes at once (instead of growing by doubling). */
int cs__vcache_reserve_meta(cs__vcache *vc, size_t bytes);
/* Appends rows [from, to) of src (same dimension; rowids above dst's last); 0 or -1. */
int cs__vcache_append_rows(cs__vcache *dst, const cs__vcache *src, size_t from, size_t to);

/* Best effort: writes an in-memory cache to `file` (temporary name + rename, creating the
 * directory). Returns 0, or -1 when it cannot (read-only directory, disk full): callers
 * simply keep using the in-memory copy. */
int cs__vcache_save(const cs__vcache *vc, const char *tbl, const char *file);

/* The same for rows [from, to) of each run's cache, concatenated in order (their rowids
 * ascending across runs): a cache kept as a base plus changes is saved as one file. The
 * save gives up (-1, no file) soon after *stop is set, when stop is not NULL. */
typedef struct cs__vcache_run {
    const cs__vcache *src;
    size_t from, to;
} cs__vcache_run;
int cs__vcache_save_runs(const cs__vcache_run *runs, size_t nruns, int dim, int64_t gen,
                         const char *tbl, const char *file, const atomic_bool *stop);

/* For every derived file of a table (cache, copies, HNSW index), which is written to a
 * temporary name and renamed into place. begin_save creates the file's directory, sweeps
 * the temporary files a killed writer left, and names this save's "<file>.tmp.<pid>.<rnd>"
 * (-1: no directory, or the path is too long). write writes in pieces of at most 8 MiB,
 * giving up (-1) once *stop is set, so a save that a newer version supersedes ends within
 * one piece (stop may be NULL). */
int cs__vcache_begin_save(const char *file, char *tmp, size_t cap);
/* The length of the next write(2) of a derived file at offset pos: at most 8 MiB, ending
 * on a 2 MiB boundary of the file. The page cache then holds the file in huge folios,
 * which a later process maps with one entry per 2 MiB instead of faulting in 4-64 KiB at
 * a time. */
static inline size_t cs__vcache_piece(uint64_t pos, size_t n)
{
    size_t max = ((size_t)8 << 20) - (size_t)(pos & (((uint64_t)2 << 20) - 1));
    return n < max ? n : max;
}
int cs__vcache_write(const atomic_bool *stop, int fd, const void *p, size_t n);

/* Removes the cache file of a dropped collection, with every other derived file of its
 * table ("<table>.*"), and the directory once empty. */
void cs__vcache_remove(const char *file);

void cs__vcache_free(cs__vcache *vc);

#endif
