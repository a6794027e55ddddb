/* Recursive file-system walk for the indexer: follows symbolic links but never enters
 * a directory twice (visited (dev,ino) set), so symlink loops end; names are kept as
 * raw bytes (Linux names need not be UTF-8) and only escaped for display. */
#ifndef CS_BASE_WALK_H
#define CS_BASE_WALK_H

#include <stdbool.h>
#include <sys/stat.h>

#include "clipsearch/error.h"

typedef struct cs_walk_entry {
    const char *path;         /* root + "/" + names: raw bytes, usable with open() */
    const struct stat *st;    /* stat() (symlinks followed); NULL when error != 0 */
    int error;                /* 0, or the errno that stopped stat/opendir */
    bool is_dir;              /* with error: a directory that could not be read */
    bool dangling_link;       /* with error: a symbolic link to nothing */
} cs_walk_entry;

/* Called for every non-directory entry and for every entry that could not be examined
 * (error != 0). Directories themselves are not reported. Return non-zero to stop. */
typedef int (*cs_walk_fn)(const cs_walk_entry *e, void *user);

/* Walks root (a directory, or a single file) depth-first in byte order of names.
 * Returns 0, the callback's non-zero value, or CS_E_NOMEM. Unreadable entries are
 * reported through fn, not as errors. */
int cs_walk(const char *root, cs_walk_fn fn, void *user, cs_error *err);

/* A printable, valid UTF-8 copy of a raw path: bytes that are not part of valid UTF-8
 * and control characters become "\xNN". NULL on OOM. */
char *cs_path_escape(const char *raw);
/* Whether s is valid UTF-8 without control characters (i.e. cs_path_escape(s) == s). */
bool cs_path_is_clean(const char *s);

#endif
