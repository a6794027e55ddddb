/* Plan: walk the DIRs, give every file its record id (canonical path) and drop the
 * files whose size and mtime equal the stored ones without opening them. Also prune,
 * which needs the same notion of "under the DIRs". */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/indexer_internal.h"
#include "base/pathid.h"
#include "base/walk.h"

typedef struct {
    cs__ix_run *r;
    cs_error *err;
} plan_ctx;

static int push_str(char ***arr, size_t *n, size_t *cap, char *s)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        char **na = realloc(*arr, nc * sizeof *na);
        if (!na) return -1;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = s;
    return 0;
}

/* Adds id, which it takes over, to a list and its set, unless the set has it already
 * (then id is freed): 0 when added, 1 when it was there, or an error. Once pushed, id is
 * the list's (freed with the plan) even when the set cannot take it. */
static int add_once(char ***list, size_t *n, size_t *cap, cs__strmap *set, char *id,
                    cs_error *err)
{
    if (cs__strmap_get(set, id)) {
        free(id);
        return 1;
    }
    if (push_str(list, n, cap, id) != 0) {
        free(id);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    if (cs__strmap_put(set, id, id) != 0) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    return 0;
}

/* The record id of a file: its realpath, mapped losslessly to valid UTF-8 (ids must be
 * UTF-8 for both backends; base/pathid.h). */
static char *canonical_id(const char *path, int *e)
{
    char *canon = realpath(path, NULL);
    if (!canon) {
        *e = errno;
        return NULL;
    }
    char *id = cs__path_to_id(canon);
    free(canon);
    if (!id) *e = ENOMEM;
    return id;
}

/* realpath as raw bytes: roots and directories are compared with the paths that ids
 * decode to, byte for byte (an id's encoding need not keep its directory as a prefix). */
static char *canonical_raw(const char *path, int *e)
{
    char *canon = realpath(path, NULL);
    if (!canon) *e = errno;
    return canon;
}

static const char *file_kind(mode_t m)
{
    if (S_ISFIFO(m)) return "fifo";
    if (S_ISCHR(m)) return "character device";
    if (S_ISBLK(m)) return "block device";
    if (S_ISSOCK(m)) return "socket";
    return "special file";
}

/* An entry the rules skipped: counted; its canonical id remembered when the collection
 * may hold records of it (see is_excluded). */
static int on_excluded(plan_ctx *c, const cs__walk_entry *e)
{
    cs__ix_run *r = c->r;
    cs__ix_plan *p = &r->plan;
    r->sum->excluded++;
    if (r->db.n == 0) return 0;
    int ce = 0;
    char *id = canonical_raw(e->path, &ce);
    if (!id) {
        /* A dangling excluded link has no canonical path, and no record could be "of"
         * it; anything else is out of memory. */
        return ce == ENOMEM ? cs_error_set(c->err, CS_E_NOMEM, "out of memory") : 0;
    }
    int rc = add_once(&p->excl, &p->n_excl, &p->cap_excl, p->excl_set, id, c->err);
    return rc < 0 ? rc : 0;
}

static int on_entry(const cs__walk_entry *e, void *user)
{
    plan_ctx *c = user;
    cs__ix_run *r = c->r;
    cs__ix_plan *p = &r->plan;
    char reason[300];
    if (e->kind == CS_WALK_EXCLUDED) return on_excluded(c, e);
    /* Failures and warnings name the path as walked, in the lossless form of ids (for
     * a file that reaches a worker, its id: base/pathid.h). */
    char *disp = cs__path_to_id(e->path);
    if (!disp) return cs_error_set(c->err, CS_E_NOMEM, "out of memory");
    if (e->kind == CS_WALK_NOTE) {
        /* A line of an ignore file that was not used: worth telling, not a failure. */
        if (r->opt->warning) r->opt->warning(disp, e->rule, r->opt->warning_user);
        free(disp);
        return 0;
    }
    if (e->error) {
        if (e->is_dir) {
            /* Remember it so prune keeps the records of files we could not see. */
            int ce = 0;
            char *canon = canonical_raw(e->path, &ce);
            if (!canon) canon = strdup(e->path);
            if (!canon || push_str(&p->bad_dirs, &p->n_bad_dirs, &p->cap_bad_dirs, canon) != 0) {
                free(canon);
                free(disp);
                return cs_error_set(c->err, CS_E_NOMEM, "out of memory");
            }
            if (e->ignore_file)
                snprintf(reason, sizeof reason,
                         "cannot read its " CS_WALK_IGNORE_FILE ": %s (folder not indexed)",
                         strerror(e->error));
            else
                snprintf(reason, sizeof reason, "cannot read directory: %s",
                         strerror(e->error));
        } else {
            r->sum->found++;
            r->done++;
            if (e->dangling_link)
                snprintf(reason, sizeof reason, "broken symbolic link");
            else
                snprintf(reason, sizeof reason, "cannot stat: %s", strerror(e->error));
        }
        cs__ix_fail(r, disp, reason);
        free(disp);
        return 0;
    }
    r->sum->found++;
    if (!S_ISREG(e->st->st_mode)) {
        /* Never opened: a fifo would block, a device could be endless. */
        r->done++;
        snprintf(reason, sizeof reason, "not a regular file (%s)", file_kind(e->st->st_mode));
        cs__ix_fail(r, disp, reason);
        free(disp);
        return 0;
    }
    int ce = 0;
    char *id = canonical_id(e->path, &ce);
    if (!id) {
        r->done++;
        snprintf(reason, sizeof reason, "cannot resolve path: %s", strerror(ce));
        cs__ix_fail(r, disp, reason);
        free(disp);
        return 0;
    }
    free(disp);
    int added = add_once(&p->seen, &p->n_seen, &p->cap_seen, p->seen_set, id, c->err);
    if (added < 0) return added;
    if (added == 1) {
        /* The same file reached a second way (symlink, overlapping DIRs): once only. */
        r->sum->found--;
        return 0;
    }
    const cs__ix_stored *s = cs__strmap_get(r->db.by_id, id);
    int64_t size = (int64_t)e->st->st_size;
    int64_t mt = (int64_t)e->st->st_mtim.tv_sec, mtn = (int64_t)e->st->st_mtim.tv_nsec;
    /* Re-embedding: a record another model (or other options) wrote is redone even when
     * its file is unchanged, and is not a source of vectors for identical content. */
    if (s && r->opt->reembed && strcmp(s->embedder, r->key) != 0) s = NULL;
    /* A record without "taken" or "dirs" (older clipsearch, Python) is refreshed: the
     * file is read and hashed again but its vector is kept. */
    if (s && s->meta_current && s->bytes == size && s->mtime == mt && s->mtime_ns == mtn) {
        r->sum->unchanged++;
        r->done++;
        cs__ix_progress(r, false);
        return 0;
    }
    if (p->n_jobs == p->cap_jobs) {
        size_t nc = p->cap_jobs ? p->cap_jobs * 2 : 256;
        cs__ix_job *nj = realloc(p->jobs, nc * sizeof *nj);
        if (!nj) return cs_error_set(c->err, CS_E_NOMEM, "out of memory");
        p->jobs = nj;
        p->cap_jobs = nc;
    }
    char *path = strdup(e->path);
    if (!path) return cs_error_set(c->err, CS_E_NOMEM, "out of memory");
    p->jobs[p->n_jobs++] = (cs__ix_job){path, id, size, mt, mtn, s};
    cs__ix_progress(r, false);
    return 0;
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return path[0] == '/';
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool in_roots(const cs__ix_plan *p, const char *path)
{
    for (size_t i = 0; i < p->n_roots; i++)
        if (under(path, p->roots[i])) return true;
    return false;
}

/* Whether path, or a directory above it, was excluded by this walk. Looks up each
 * ancestor in the set (cost: the path's depth), not each excluded tree. *oom when it
 * could not tell. */
static bool is_excluded(const cs__ix_plan *p, const char *path, bool *oom)
{
    if (p->n_excl == 0) return false;
    if (cs__strmap_get(p->excl_set, path)) return true;
    char *buf = strdup(path);
    if (!buf) {
        *oom = true;
        return false;
    }
    bool hit = false;
    for (char *slash; !hit && (slash = strrchr(buf, '/')) != NULL && slash != buf;) {
        *slash = '\0';
        hit = cs__strmap_get(p->excl_set, buf) != NULL;
    }
    free(buf);
    return hit;
}

/* The file a stored record's id names, or NULL (*oom set on allocation failure). An id
 * that names no local file (a text record, a malformed file: id) gives NULL too: such a
 * record is never pruned. */
static char *record_path(const char *id, bool *oom)
{
    char *path = NULL;
    cs_error e = {0};
    int rc = cs__path_from_id(id, &path, &e);
    if (rc == CS_E_NOMEM) *oom = true;
    return rc == 0 && path[0] == '/' ? path : (free(path), NULL);
}

/* Records of excluded files that stay in the collection: the summary says how many, so
 * that excluding a folder is not mistaken for removing it from search results. */
static int count_kept(cs__ix_run *r, cs_error *err)
{
    const cs__ix_plan *p = &r->plan;
    bool oom = false;
    for (size_t i = 0; i < r->db.n && p->n_excl && !oom; i++) {
        const char *id = r->db.recs[i].id;
        if (cs__strmap_get(p->seen_set, id)) continue;
        char *path = record_path(id, &oom);
        if (path && in_roots(p, path) && is_excluded(p, path, &oom)) r->sum->excluded_kept++;
        free(path);
    }
    return oom ? cs_error_set(err, CS_E_NOMEM, "out of memory") : 0;
}

int cs__ix_plan_build(cs__ix_run *r, const char *const *dirs, size_t n_dirs, cs_error *err)
{
    cs__ix_plan *p = &r->plan;
    memset(p, 0, sizeof *p);
    p->seen_set = cs__strmap_new();
    p->excl_set = cs__strmap_new();
    p->roots = calloc(n_dirs ? n_dirs : 1, sizeof *p->roots);
    if (!p->seen_set || !p->excl_set || !p->roots)
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    plan_ctx c = {r, err};
    for (size_t i = 0; i < n_dirs; i++) {
        int ce = 0;
        char *root = canonical_raw(dirs[i], &ce);
        if (root) p->roots[p->n_roots++] = root;
        int rc = cs__walk_filtered(dirs[i], r->rules, on_entry, &c, err);
        if (rc != 0) return rc;
        if (cs__ix_stop_requested(r)) break;
    }
    return count_kept(r, err);
}

void cs__ix_plan_free(cs__ix_plan *p)
{
    /* Job ids are the strings of `seen`. */
    for (size_t i = 0; i < p->n_jobs; i++) free(p->jobs[i].path);
    free(p->jobs);
    for (size_t i = 0; i < p->n_seen; i++) free(p->seen[i]);
    free(p->seen);
    cs__strmap_free(p->seen_set);
    for (size_t i = 0; i < p->n_bad_dirs; i++) free(p->bad_dirs[i]);
    free(p->bad_dirs);
    for (size_t i = 0; i < p->n_roots; i++) free(p->roots[i]);
    free(p->roots);
    for (size_t i = 0; i < p->n_excl; i++) free(p->excl[i]);
    free(p->excl);
    cs__strmap_free(p->excl_set);
    memset(p, 0, sizeof *p);
}

/* Whether a stored record's file is gone: not seen by this walk, under one of the
 * DIRs, not below a directory we could not read, not excluded (still there, just not
 * walked), and really absent on disk. Paths are the ids decoded to raw bytes, so a
 * non-UTF-8 name is checked on disk like any other. */
static bool is_gone(const cs__ix_plan *p, const char *id, bool *oom)
{
    if (cs__strmap_get(p->seen_set, id)) return false;
    char *path = record_path(id, oom);
    bool gone = path && in_roots(p, path);
    for (size_t i = 0; gone && i < p->n_bad_dirs; i++)
        if (under(path, p->bad_dirs[i])) gone = false;
    if (gone && (is_excluded(p, path, oom) || *oom)) gone = false;
    /* Still there (e.g. no longer an image): only records whose path exists no more are
     * pruned. */
    struct stat st;
    if (gone) gone = lstat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
    free(path);
    return gone;
}

/* Deletes the stored records that select() picks, 500 ids per statement (a bounded
 * transaction and id list whatever the collection's size), adding the number deleted to
 * *count. select() sets *oom when it could not decide for want of memory. */
static int delete_selected(cs__ix_run *r, bool (*select)(cs__ix_run *r, const char *id, const void *ctx,
                                                     bool *oom),
                           const void *ctx, uint64_t *count, cs_error *err)
{
    const char **ids = malloc(500 * sizeof *ids);
    if (!ids) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    size_t n = 0;
    int rc = 0;
    bool oom = false;
    for (size_t i = 0; i <= r->db.n && rc == 0; i++) {
        if (i < r->db.n && select(r, r->db.recs[i].id, ctx, &oom)) ids[n++] = r->db.recs[i].id;
        if (oom) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            break;
        }
        if (n == 500 || (i == r->db.n && n > 0)) {
            cs_records gone;
            rc = cs_collection_delete_ids(r->coll, ids, n, &gone, err);
            if (rc == 0) {
                *count += gone.n;
                cs_records_free(&gone);
            }
            n = 0;
        }
    }
    free(ids);
    return rc;
}

static bool select_gone(cs__ix_run *r, const char *id, const void *ctx, bool *oom)
{
    (void)ctx;
    return is_gone(&r->plan, id, oom);
}

int cs__ix_prune(cs__ix_run *r, cs_error *err)
{
    r->phase = "prune";
    return delete_selected(r, select_gone, NULL, &r->sum->pruned, err);
}

/* The end of a complete --reembed run: every record not rewritten by this model (not in
 * `done`) still holds a vector of the old one. Those whose files are under the DIRs and
 * still on disk could not be redone (decoding failed, excluded, no longer an image):
 * kept, they would rank among the new vectors as numbers from another space, and the
 * re-embedding could never finish, so they are deleted (`dropped`). The rest (outside
 * the DIRs, below an unreadable directory, gone without --prune) stay `stale`. */
static bool select_leftover(cs__ix_run *r, const char *id, const void *ctx, bool *oom)
{
    const cs__ix_plan *p = &r->plan;
    if (cs__strmap_get(ctx, id)) return false;
    char *path = record_path(id, oom);
    bool drop = path && in_roots(p, path);
    for (size_t b = 0; drop && b < p->n_bad_dirs; b++)
        if (under(path, p->bad_dirs[b])) drop = false;
    struct stat st;
    if (drop) drop = lstat(path, &st) == 0;
    if (drop && r->sum->excluded_kept && is_excluded(p, path, oom)) r->sum->excluded_kept--;
    free(path);
    return drop;
}

int cs__ix_reembed_leftovers(cs__ix_run *r, const cs__strmap *done, cs_error *err)
{
    return delete_selected(r, select_leftover, done, &r->sum->dropped, err);
}
