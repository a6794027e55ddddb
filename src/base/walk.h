/* Recursive file-system walk for the indexer: follows symbolic links but never enters
 * a directory twice (visited (dev,ino) set), so symlink loops end; names are kept as
 * raw bytes (Linux names need not be UTF-8) and only escaped for display.
 *
 * cs__walk_filtered also applies "what gets indexed" rules (cs__walk_rules) to every name
 * below a root: hidden names, well-known non-photo trees, --exclude globs and
 * .clipsearchignore files. A root itself is never excluded: naming it is explicit. */
#ifndef CS_BASE_WALK_H
#define CS_BASE_WALK_H

#include <stdbool.h>
#include <sys/stat.h>

#include "clipsearch/error.h"

/* The per-folder ignore file: one glob per line, read in every folder walked. */
#define CS_WALK_IGNORE_FILE ".clipsearchignore"

typedef enum cs__walk_kind {
    CS_WALK_FILE,      /* a non-directory entry: st is set */
    CS_WALK_ERROR,     /* could not be examined: error, is_dir, dangling_link, ignore_file */
    CS_WALK_EXCLUDED,  /* skipped by a rule (rule says which); is_dir: a whole tree skipped */
    CS_WALK_NOTE       /* a line of an ignore file that was not used: path = the file,
                          rule = why; nothing is skipped because of it */
} cs__walk_kind;

typedef struct cs__walk_entry {
    cs__walk_kind kind;
    const char *path;         /* root + "/" + names: raw bytes, usable with open() */
    const struct stat *st;    /* stat() (symlinks followed); NULL when error != 0 */
    int error;                /* 0, or the errno that stopped stat/opendir */
    bool is_dir;              /* with error: a directory that could not be read;
                                 excluded: a directory (not descended into) */
    bool dangling_link;       /* with error: a symbolic link to nothing */
    bool ignore_file;         /* with error: path is a directory whose ignore file could
                                 not be read, so none of it was walked (its rules unknown) */
    const char *rule;         /* excluded: the rule ("hidden", a built-in name, a glob as
                                 written); note: the message */
} cs__walk_entry;

/* Called for every non-directory entry, every entry that could not be examined
 * (error != 0), and, with rules, every excluded entry and note. Directories that are
 * walked are not reported. Return non-zero to stop. */
typedef int (*cs__walk_fn)(const cs__walk_entry *e, void *user);

/* Walks root (a directory, or a single file) depth-first in byte order of names.
 * Returns 0, the callback's non-zero value, or CS_E_NOMEM. Unreadable entries are
 * reported through fn, not as errors. No rules: every name is walked. */
int cs__walk(const char *root, cs__walk_fn fn, void *user, cs_error *err);

/* Which names below a root are skipped. Immutable while a walk uses it (several walks may
 * share one). In order, the first that matches names the rule:
 *   1. hidden: a name starting with "." (unless include_hidden);
 *   2. built-in non-photo trees, directories only, any letter case: .git, node_modules,
 *      .thumbnails, @eaDir, .@__thumb, $RECYCLE.BIN, .Trash-*, lost+found (these stay
 *      skipped with include_hidden);
 *   3. exclude globs (cs__walk_rules_add_exclude), relative to the root;
 *   4. globs of the ignore files of the folders above the entry, relative to the folder
 *      that holds the file (outermost first).
 * Glob syntax (fnmatch(3)): a pattern without "/" matches the base name at any depth; a
 * pattern with "/" matches the path relative to its folder, with FNM_PATHNAME ("*" does
 * not cross "/"; a leading "/" or "./" only anchors it); a trailing "/" matches
 * directories only. In an exclude glob (not an ignore file) a leading "/" makes it an
 * absolute-path glob, matched against realpath(root) + "/" + the relative path.
 * An excluded directory is not descended into. */
typedef struct cs__walk_rules cs__walk_rules;

/* Defaults: hidden names and built-in trees skipped, ignore files read. NULL on OOM. */
cs__walk_rules *cs__walk_rules_new(void);
void cs__walk_rules_free(cs__walk_rules *r);
void cs__walk_rules_include_hidden(cs__walk_rules *r, bool include);
/* CS_E_ARG for a glob that can match nothing ("", "/", "./"), CS_E_NOMEM. */
int cs__walk_rules_add_exclude(cs__walk_rules *r, const char *glob, cs_error *err);

/* cs__walk with rules (NULL: none, as cs__walk). */
int cs__walk_filtered(const char *root, const cs__walk_rules *rules, cs__walk_fn fn, void *user,
                     cs_error *err);

#endif
