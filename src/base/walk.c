#include "base/walk.h"

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

typedef struct {
    dir_key *slots;
    size_t cap, n;
    cs_walk_fn fn;
    void *user;
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
    cs_walk_entry ent = {path, NULL, e, is_dir, dangling};
    return w->fn(&ent, w->user);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_path(walker *w, const char *path, cs_error *err);

static int walk_dir(walker *w, const char *path, cs_error *err)
{
    DIR *d = opendir(path);
    if (!d) return report_error(w, path, errno, true, false);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
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
        n++;
        errno = 0;
    }
    if (rc == 0 && errno != 0) rc = report_error(w, path, errno, true, false);
    closedir(d);
    /* Sorted so runs (and tests) see the same order on every file system. */
    if (rc == 0) qsort(names, n, sizeof *names, cmp_names);
    size_t plen = strlen(path);
    bool slash = plen > 0 && path[plen - 1] == '/';
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = plen + 1 + strlen(names[i]) + 1;
        char *child = malloc(len);
        if (!child) { rc = cs_error_set(err, CS_E_NOMEM, "out of memory"); break; }
        snprintf(child, len, "%s%s%s", path, slash ? "" : "/", names[i]);
        rc = walk_path(w, child, err);
        free(child);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int walk_path(walker *w, const char *path, cs_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        struct stat lst;
        bool dangling = (e == ENOENT || e == ELOOP) && lstat(path, &lst) == 0 &&
                        S_ISLNK(lst.st_mode);
        return report_error(w, path, e, false, dangling);
    }
    if (S_ISDIR(st.st_mode)) {
        int added = visited_add(w, st.st_dev, st.st_ino);
        if (added < 0) return cs_error_set(err, CS_E_NOMEM, "out of memory walking %s", path);
        if (added == 0) return 0; /* a loop or a second way into a walked tree */
        return walk_dir(w, path, err);
    }
    cs_walk_entry ent = {path, &st, 0, false, false};
    return w->fn(&ent, w->user);
}

int cs_walk(const char *root, cs_walk_fn fn, void *user, cs_error *err)
{
    walker w = {NULL, 0, 0, fn, user};
    int rc = walk_path(&w, root, err);
    free(w.slots);
    return rc;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static bool is_ctrl(unsigned char c) { return c < 0x20 || c == 0x7F; }

bool cs_path_is_clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = utf8_seq(p);
        if (n == 0 || (n == 1 && is_ctrl(*p))) return false;
        p += n;
    }
    return true;
}

char *cs_path_escape(const char *raw)
{
    const unsigned char *p = (const unsigned char *)raw;
    char *out = malloc(strlen(raw) * 4 + 1);
    if (!out) return NULL;
    char *o = out;
    while (*p) {
        int n = utf8_seq(p);
        if (n == 0 || (n == 1 && is_ctrl(*p))) {
            o += sprintf(o, "\\x%02X", *p);
            p++;
        } else {
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        }
    }
    *o = '\0';
    return out;
}
