/* Private to src/base/walk*.c: the globs of cs__walk_rules and of ignore files, how one
 * is parsed and matched, and how an ignore file is read. The rules themselves are
 * described in walk.h. */
#ifndef CS_BASE_WALK_RULES_H
#define CS_BASE_WALK_RULES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cs__walk_pat {
    char *glob;       /* what fnmatch sees: anchoring "/" or "./" and trailing "/" removed */
    char *text;       /* as written, for cs__walk_entry.rule */
    bool dir_only;    /* written with a trailing "/" */
    bool path;        /* matches the relative path (FNM_PATHNAME), not the base name */
    bool absolute;    /* an exclude glob starting with "/": matches the absolute path */
} cs__walk_pat;

typedef struct cs__walk_pats {
    cs__walk_pat *v;
    size_t n, cap;
} cs__walk_pats;

struct cs__walk_rules {
    bool include_hidden;
    cs__walk_pats excludes;
};

/* Adds one glob. 0, 1 when it can match nothing (not added), -1 on OOM. allow_absolute:
 * a leading "/" means an absolute path (exclude globs) rather than an anchor. */
int cs__walk_pats_add(cs__walk_pats *s, const char *text, bool allow_absolute);
void cs__walk_pats_free(cs__walk_pats *s);
bool cs__walk_pats_have_absolute(const cs__walk_pats *s);
/* The first pattern matching an entry, or NULL. name: base name; sub: path relative to
 * the patterns' folder; abs: absolute path (needed only by absolute patterns; may be
 * NULL, then they do not match). */
const cs__walk_pat *cs__walk_pats_match(const cs__walk_pats *s, const char *name, const char *sub,
                                const char *abs, bool is_dir);
/* The built-in non-photo tree a directory name is, or NULL. */
const char *cs__walk_builtin_match(const char *name, bool is_dir);

typedef struct cs__walk_notes {
    char **v;
    size_t n, cap;
} cs__walk_notes;
void cs__walk_notes_free(cs__walk_notes *n);

enum { WALK_IGNORE_OK = 0, WALK_IGNORE_NOMEM = -1, WALK_IGNORE_NOT_FILE = 1,
       WALK_IGNORE_UNREADABLE = 2 };
/* Reads the ignore file at path into s (lines that are not used go to notes). Returns a
 * WALK_IGNORE_* code; UNREADABLE sets *sys_errno. NOT_FILE: path is not a regular file
 * (a directory or fifo with that name is an ordinary entry, and is never opened in a
 * way that could block). */
int cs__walk_ignore_load(const char *path, cs__walk_pats *s, cs__walk_notes *notes, int *sys_errno);

#endif
