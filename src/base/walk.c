#include "base/walk.h"

#include "base/walk_rules.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open-addressing set of (dev, ino) of every directory entered. A whole-walk set (not
 * just the current path) also stops a tree reachable twice through symlinks from being
 * listed twice. */
typedef struct {
    dev_t dev;
    ino_t ino;
    bool used;
} dir_key;

/* The globs of the ignore file of one folder on the current path. */
typedef struct {
    size_t base_len;       /* length of the folder's path relative to the root (0: root) */
    cs__walk_pats pats;
} ignore_frame;

typedef struct {
    dir_key *slots;
    size_t cap, n;
    cs__walk_fn fn;
    void *user;
    const cs__walk_rules *rules;   /* NULL: walk every name */
    size_t rel_off;               /* path + rel_off: an entry's path relative to the root */
    char *abs_root;               /* realpath(root), for absolute exclude globs only */
    ignore_frame *frames;         /* folders on the current path that have an ignore file */
    size_t n_frames, cap_frames;
} walker;

static size_t key_hash(dev_t d, ino_t i)
{
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull ^ (uint64_t)d * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

/* Returns 1 if newly added, 0 if already present, -1 on OOM. */
static int visited_add(walker *w, dev_t dev, ino_t ino)
{
    if ((w->n + 1) * 2 > w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 64;
        dir_key *ns = calloc(ncap, sizeof *ns);
        if (!ns) return -1;
        for (size_t i = 0; i < w->cap; i++) {
            if (!w->slots[i].used) continue;
            size_t j = key_hash(w->slots[i].dev, w->slots[i].ino) & (ncap - 1);
            while (ns[j].used) j = (j + 1) & (ncap - 1);
            ns[j] = w->slots[i];
        }
        free(w->slots);
        w->slots = ns;
        w->cap = ncap;
    }
    size_t j = key_hash(dev, ino) & (w->cap - 1);
    while (w->slots[j].used) {
        if (w->slots[j].dev == dev && w->slots[j].ino == ino) return 0;
        j = (j + 1) & (w->cap - 1);
    }
    w->slots[j] = (dir_key){dev, ino, true};
    w->n++;
    return 1;
}

static int report_error(walker *w, const char *path, int e, bool is_dir, bool dangling)
{
    cs__walk_entry ent = {.kind = CS_WALK_ERROR, .path = path, .error = e, .is_dir = is_dir,
                         .dangling_link = dangling};
    return w->fn(&ent, w->user);
}

/* The rule that excludes the entry at path (below the root; name is its last
 * component), or NULL. Sets *oom when it could not tell. */
static const char *excluded_by(walker *w, const char *path, const char *name, bool is_dir,
                               bool *oom)
{
    const cs__walk_rules *r = w->rules;
    if (!r->include_hidden && name[0] == '.') return "hidden";
    const char *b = cs__walk_builtin_match(name, is_dir);
    if (b) return b;
    const char *rel = path + w->rel_off;
    char *abs = NULL;
    if (w->abs_root) {
        size_t n = strlen(w->abs_root) + strlen(rel) + 2;
        if (!(abs = malloc(n))) {
            *oom = true;
            return NULL;
        }
        snprintf(abs, n, "%s%s%s", w->abs_root, strcmp(w->abs_root, "/") ? "/" : "", rel);
    }
    const cs__walk_pat *p = cs__walk_pats_match(&r->excludes, name, rel, abs, is_dir);
    free(abs);
    if (p) return p->text;
    for (size_t i = 0; i < w->n_frames; i++) {
        const ignore_frame *f = &w->frames[i];
        const char *sub = rel + (f->base_len ? f->base_len + 1 : 0);
        if ((p = cs__walk_pats_match(&f->pats, name, sub, NULL, is_dir))) return p->text;
    }
    return NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_path(walker *w, const char *path, const char *name, bool is_root,
                     cs_error *err);

static char *child_path(const char *dir, const char *name)
{
    size_t plen = strlen(dir);
    bool slash = plen > 0 && dir[plen - 1] == '/';
    size_t len = plen + 1 + strlen(name) + 1;
    char *child = malloc(len);
    if (child) snprintf(child, len, "%s%s%s", dir, slash ? "" : "/", name);
    return child;
}

/* Reads the ignore file of the folder at path (listed: it has one). Returns 0 with
 * *use_frame (a frame was pushed: pop it after the children; the file itself is then not
 * an entry) and *skip_dir (unreadable: reported, walk none of the folder), the
 * callback's non-zero value, or CS_E_NOMEM. */
static int load_ignore(walker *w, const char *path, bool is_root, bool *use_frame,
                       bool *skip_dir, cs_error *err)
{
    *use_frame = *skip_dir = false;
    char *file = child_path(path, CS_WALK_IGNORE_FILE);
    if (!file) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    cs__walk_pats pats = {0};
    cs__walk_notes notes = {0};
    int e = 0, rc = 0;
    int got = cs__walk_ignore_load(file, &pats, &notes, &e);
    if (got == WALK_IGNORE_NOMEM) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory reading %s", CS_WALK_IGNORE_FILE);
    } else if (got == WALK_IGNORE_UNREADABLE && e != ENOENT) {
        /* Walking the folder without its rules could index what they keep out. */
        cs__walk_entry ent = {.kind = CS_WALK_ERROR, .path = path, .error = e, .is_dir = true,
                             .ignore_file = true};
        *skip_dir = true;
        rc = w->fn(&ent, w->user);
    } else if (got == WALK_IGNORE_OK) {
        if (w->n_frames == w->cap_frames) {
            size_t nc = w->cap_frames ? w->cap_frames * 2 : 8;
            ignore_frame *nf = realloc(w->frames, nc * sizeof *nf);
            if (!nf) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            else {
                w->frames = nf;
                w->cap_frames = nc;
            }
        }
        if (rc == 0) {
            size_t base = is_root ? 0 : strlen(path) - w->rel_off;
            w->frames[w->n_frames++] = (ignore_frame){base, pats};
            memset(&pats, 0, sizeof pats);
            *use_frame = true;
        }
        for (size_t i = 0; i < notes.n && rc == 0; i++) {
            cs__walk_entry ent = {.kind = CS_WALK_NOTE, .path = file, .rule = notes.v[i]};
            rc = w->fn(&ent, w->user);
        }
    }
    /* NOT_FILE (a folder or fifo with that name) and a file gone since the listing:
     * no rules here; the name, if still there, is an ordinary entry. */
    cs__walk_pats_free(&pats);
    cs__walk_notes_free(&notes);
    free(file);
    return rc;
}

static int walk_dir(walker *w, const char *path, bool is_root, cs_error *err)
{
    DIR *d = opendir(path);
    if (!d) return report_error(w, path, errno, true, false);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    bool has_ignore = false;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) { rc = cs_error_set(err, CS_E_NOMEM, "out of memory listing %s", path); break; }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory listing %s", path);
            break;
        }
        if (!strcmp(names[n], CS_WALK_IGNORE_FILE)) has_ignore = true;
        n++;
        errno = 0;
    }
    if (rc == 0 && errno != 0) rc = report_error(w, path, errno, true, false);
    closedir(d);
    /* Sorted so runs (and tests) see the same order on every file system. */
    if (rc == 0 && n > 1) qsort(names, n, sizeof *names, cmp_names);
    bool frame = false, skip = false;
    if (rc == 0 && has_ignore && w->rules)
        rc = load_ignore(w, path, is_root, &frame, &skip, err);
    for (size_t i = 0; i < n && rc == 0 && !skip; i++) {
        /* The ignore file is a setting, not a candidate: neither indexed nor excluded. */
        if (frame && !strcmp(names[i], CS_WALK_IGNORE_FILE)) continue;
        char *child = child_path(path, names[i]);
        if (!child) { rc = cs_error_set(err, CS_E_NOMEM, "out of memory"); break; }
        rc = walk_path(w, child, names[i], false, err);
        free(child);
    }
    if (frame) cs__walk_pats_free(&w->frames[--w->n_frames].pats);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int walk_path(walker *w, const char *path, const char *name, bool is_root,
                     cs_error *err)
{
    struct stat st;
    bool ok = stat(path, &st) == 0;
    int e = errno;
    if (!is_root && w->rules) {
        bool oom = false;
        bool is_dir = ok && S_ISDIR(st.st_mode);
        const char *rule = excluded_by(w, path, name, is_dir, &oom);
        if (oom) return cs_error_set(err, CS_E_NOMEM, "out of memory walking %s", path);
        if (rule) {
            cs__walk_entry ent = {.kind = CS_WALK_EXCLUDED, .path = path, .st = ok ? &st : NULL,
                                 .error = ok ? 0 : e, .is_dir = is_dir, .rule = rule};
            return w->fn(&ent, w->user);
        }
    }
    if (!ok) {
        struct stat lst;
        bool dangling = (e == ENOENT || e == ELOOP) && lstat(path, &lst) == 0 &&
                        S_ISLNK(lst.st_mode);
        return report_error(w, path, e, false, dangling);
    }
    if (S_ISDIR(st.st_mode)) {
        int added = visited_add(w, st.st_dev, st.st_ino);
        if (added < 0) return cs_error_set(err, CS_E_NOMEM, "out of memory walking %s", path);
        if (added == 0) return 0; /* a loop or a second way into a walked tree */
        return walk_dir(w, path, is_root, err);
    }
    cs__walk_entry ent = {.kind = CS_WALK_FILE, .path = path, .st = &st};
    return w->fn(&ent, w->user);
}

int cs__walk_filtered(const char *root, const cs__walk_rules *rules, cs__walk_fn fn, void *user,
                     cs_error *err)
{
    walker w = {.fn = fn, .user = user, .rules = rules};
    size_t rlen = strlen(root);
    w.rel_off = rlen + (rlen > 0 && root[rlen - 1] == '/' ? 0 : 1);
    /* Without it absolute globs match nothing; the root is then unreadable anyway, and
     * reported as such by the walk. */
    if (rules && cs__walk_pats_have_absolute(&rules->excludes)) w.abs_root = realpath(root, NULL);
    int rc = walk_path(&w, root, root, true, err);
    free(w.slots);
    free(w.abs_root);
    free(w.frames);
    return rc;
}

int cs__walk(const char *root, cs__walk_fn fn, void *user, cs_error *err)
{
    return cs__walk_filtered(root, NULL, fn, user, err);
}
