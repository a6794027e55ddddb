/* "What gets indexed": parsing and matching of exclude globs and ignore files (rules in
 * walk.h), and the built-in list of non-photo trees. */
#include "base/walk_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/walk.h"

/* Trees that hold application data, thumbnails or deleted files, never a photo
 * collection: version control, JavaScript packages, freedesktop thumbnail caches,
 * Synology and QNAP thumbnail folders, the Windows and freedesktop trash, fsck's
 * lost+found. Matched case-insensitively: on FAT/NTFS drives the case varies
 * ("$Recycle.Bin"). */
static const char *const builtin_trees[] = {
    ".git", "node_modules", ".thumbnails", "@eaDir", ".@__thumb", "$RECYCLE.BIN",
    ".Trash-*", "lost+found",
};

/* An ignore file is text a person wrote; one larger than this is a mistake (or not an
 * ignore file), and reading it whole could cost unbounded memory. */
#define IGNORE_FILE_MAX (1 << 20)

const char *cs__walk_builtin_match(const char *name, bool is_dir)
{
    if (!is_dir) return NULL;
    for (size_t i = 0; i < sizeof builtin_trees / sizeof *builtin_trees; i++)
        if (fnmatch(builtin_trees[i], name, FNM_CASEFOLD) == 0) return builtin_trees[i];
    return NULL;
}

int cs__walk_pats_add(cs__walk_pats *s, const char *text, bool allow_absolute)
{
    cs__walk_pat p = {0};
    size_t len = strlen(text);
    const char *g = text;
    while (len > 0 && g[len - 1] == '/') {
        p.dir_only = true;
        len--;
    }
    if (len > 0 && g[0] == '/' && allow_absolute) {
        p.absolute = true;
    } else {
        /* "/x" and "./x" anchor x to the folder; the relative path has neither. */
        for (;;) {
            if (len > 0 && g[0] == '/') { g++; len--; p.path = true; }
            else if (len > 1 && g[0] == '.' && g[1] == '/') { g += 2; len -= 2; p.path = true; }
            else break;
        }
        if (memchr(g, '/', len)) p.path = true;
    }
    /* No walked name is "." or "..", and a root cannot be excluded. */
    if (len == 0 || (len == 1 && g[0] == '.') || (len == 2 && g[0] == '.' && g[1] == '.'))
        return 1;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        cs__walk_pat *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap = nc;
    }
    p.glob = strndup(g, len);
    p.text = strdup(text);
    if (!p.glob || !p.text) {
        free(p.glob);
        free(p.text);
        return -1;
    }
    s->v[s->n++] = p;
    return 0;
}

void cs__walk_pats_free(cs__walk_pats *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].glob);
        free(s->v[i].text);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

bool cs__walk_pats_have_absolute(const cs__walk_pats *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].absolute) return true;
    return false;
}

const cs__walk_pat *cs__walk_pats_match(const cs__walk_pats *s, const char *name, const char *sub,
                                const char *abs, bool is_dir)
{
    for (size_t i = 0; i < s->n; i++) {
        const cs__walk_pat *p = &s->v[i];
        if (p->dir_only && !is_dir) continue;
        bool hit;
        if (p->absolute) hit = abs && fnmatch(p->glob, abs, FNM_PATHNAME) == 0;
        else if (p->path) hit = fnmatch(p->glob, sub, FNM_PATHNAME) == 0;
        else hit = fnmatch(p->glob, name, 0) == 0;
        if (hit) return p;
    }
    return NULL;
}

void cs__walk_notes_free(cs__walk_notes *n)
{
    for (size_t i = 0; i < n->n; i++) free(n->v[i]);
    free(n->v);
    memset(n, 0, sizeof *n);
}

static int note_add(cs__walk_notes *n, unsigned line, const char *what)
{
    if (n->n == n->cap) {
        size_t nc = n->cap ? n->cap * 2 : 4;
        char **nv = realloc(n->v, nc * sizeof *nv);
        if (!nv) return -1;
        n->v = nv;
        n->cap = nc;
    }
    char buf[200];
    snprintf(buf, sizeof buf, "line %u: %s; line ignored", line, what);
    if (!(n->v[n->n] = strdup(buf))) return -1;
    n->n++;
    return 0;
}

/* One line of an ignore file (without its newline): comment, blank, or a glob. */
static int ignore_line(char *line, unsigned lineno, cs__walk_pats *s, cs__walk_notes *notes)
{
    size_t len = strlen(line);
    /* Trailing blanks (and the \r of CRLF files) are invisible in an editor, so they are
     * not part of the glob, unless escaped with a backslash ("name\ "). */
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) {
        if (len > 1 && line[len - 2] == '\\' && line[len - 1] != '\r') break;
        line[--len] = '\0';
    }
    if (len == 0 || line[0] == '#') return 0;
    /* gitignore's "!" re-includes; silently taking it as a literal name would index
     * what the writer meant to keep out, or the other way round. */
    if (line[0] == '!')
        return note_add(notes, lineno, "\"!\" (re-include) is not supported (\"\\!\" is a "
                                       "literal \"!\")");
    int rc = cs__walk_pats_add(s, line, false);
    if (rc == 1) return note_add(notes, lineno, "the pattern matches nothing");
    return rc;
}

int cs__walk_ignore_load(const char *path, cs__walk_pats *s, cs__walk_notes *notes, int *sys_errno)
{
    /* O_NONBLOCK: a fifo with this name must not hang the walk. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *sys_errno = errno;
        return WALK_IGNORE_UNREADABLE;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        *sys_errno = errno;
        close(fd);
        return WALK_IGNORE_UNREADABLE;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return WALK_IGNORE_NOT_FILE;
    }
    if (st.st_size > IGNORE_FILE_MAX) {
        close(fd);
        *sys_errno = EFBIG;
        return WALK_IGNORE_UNREADABLE;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        *sys_errno = errno;
        close(fd);
        return WALK_IGNORE_UNREADABLE;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    int rc = WALK_IGNORE_OK;
    ssize_t got;
    errno = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (got > 0 && line[got - 1] == '\n') line[got - 1] = '\0';
        if (ignore_line(line, lineno, s, notes) != 0) {
            rc = WALK_IGNORE_NOMEM;
            break;
        }
        errno = 0;
    }
    if (rc == WALK_IGNORE_OK && ferror(f)) {
        *sys_errno = errno ? errno : EIO;
        rc = WALK_IGNORE_UNREADABLE;
    }
    free(line);
    fclose(f);
    return rc;
}

cs__walk_rules *cs__walk_rules_new(void) { return calloc(1, sizeof(cs__walk_rules)); }

void cs__walk_rules_free(cs__walk_rules *r)
{
    if (!r) return;
    cs__walk_pats_free(&r->excludes);
    free(r);
}

void cs__walk_rules_include_hidden(cs__walk_rules *r, bool include) { r->include_hidden = include; }

int cs__walk_rules_add_exclude(cs__walk_rules *r, const char *glob, cs_error *err)
{
    int rc = cs__walk_pats_add(&r->excludes, glob, true);
    if (rc == 1) return cs_error_set(err, CS_E_ARG, "exclude glob '%s' can match nothing", glob);
    if (rc < 0) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    return 0;
}
