/* src/base/walk_rules.c and cs__walk_filtered: what the indexer's walk skips (hidden
 * names, built-in non-photo trees, exclude globs, .clipsearchignore files), that a root
 * is always walked, and that an excluded directory is reported once and not entered. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/walk.h"
#include "test.h"

#define MAX_SEEN 128

typedef struct {
    size_t root_len;          /* entries are recorded relative to the root */
    char *rel[MAX_SEEN];
    char *rule[MAX_SEEN];
    cs__walk_kind kind[MAX_SEEN];
    bool is_dir[MAX_SEEN], ignore_file[MAX_SEEN];
    int error[MAX_SEEN];
    int n;
} seen;

static int collect(const cs__walk_entry *e, void *user)
{
    seen *s = user;
    if (s->n >= MAX_SEEN) return 1;
    const char *rel = strlen(e->path) > s->root_len ? e->path + s->root_len + 1 : "";
    s->rel[s->n] = strdup(rel);
    s->rule[s->n] = e->rule ? strdup(e->rule) : NULL;
    s->kind[s->n] = e->kind;
    s->is_dir[s->n] = e->is_dir;
    s->ignore_file[s->n] = e->ignore_file;
    s->error[s->n] = e->error;
    s->n++;
    return 0;
}

static void seen_free(seen *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->rel[i]);
        free(s->rule[i]);
    }
    memset(s, 0, sizeof *s);
}

/* Index of the entry with this relative path, or -1. */
static int at(const seen *s, const char *rel)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->rel[i], rel)) return i;
    return -1;
}

static bool is_file(const seen *s, const char *rel)
{
    int i = at(s, rel);
    return i >= 0 && s->kind[i] == CS_WALK_FILE;
}

/* Excluded by the given rule (NULL: any rule). */
static bool is_excl(const seen *s, const char *rel, const char *rule)
{
    int i = at(s, rel);
    return i >= 0 && s->kind[i] == CS_WALK_EXCLUDED &&
           (!rule || (s->rule[i] && !strcmp(s->rule[i], rule)));
}

/* Reported as a file or as excluded (not as a note about it). */
static bool entry(const seen *s, const char *rel)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->rel[i], rel) && s->kind[i] != CS_WALK_NOTE) return true;
    return false;
}

static int count_under(const seen *s, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (!strncmp(s->rel[i], prefix, strlen(prefix))) n++;
    return n;
}

static void put(const char *root, const char *rel, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    /* Parent folders first. */
    for (char *q = p + strlen(root) + 1; (q = strchr(q, '/')) != NULL; q++) {
        *q = '\0';
        mkdir(p, 0755);
        *q = '/';
    }
    if (!text) {
        mkdir(p, 0755);
        return;
    }
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) perror("write");
    close(fd);
}

static void walk(const char *root, const cs__walk_rules *r, seen *s)
{
    cs_error err = {0};
    memset(s, 0, sizeof *s);
    s->root_len = strlen(root);
    CHECK_OK(cs__walk_filtered(root, r, collect, s, &err), &err);
}

static void dump(const seen *s)
{
    for (int i = 0; i < s->n; i++)
        fprintf(stderr, "  %d %s%s %s\n", s->kind[i], s->rel[i], s->is_dir[i] ? "/" : "",
                s->rule[i] ? s->rule[i] : "");
}

static void test_defaults(const char *root)
{
    put(root, "photo.jpg", "x");
    put(root, ".hidden.jpg", "x");
    put(root, ".cache/in_hidden.jpg", "x");
    put(root, "node_modules/pkg/icon.png", "x");
    put(root, "a/.git/objects/x.png", "x");
    put(root, "a/keep.jpg", "x");
    put(root, "@eaDir/thumb.jpg", "x");
    put(root, "$Recycle.Bin/old.jpg", "x");   /* built-ins ignore letter case */
    put(root, ".Trash-1000/files/old.jpg", "x");
    put(root, "lost+found/#123", "x");
    put(root, "b/node_modules", "a file, not a tree");   /* built-ins are directories */

    cs__walk_rules *r = cs__walk_rules_new();
    CHECK(r != NULL);
    seen s;
    walk(root, r, &s);
    CHECK(is_file(&s, "photo.jpg"));
    CHECK(is_file(&s, "a/keep.jpg"));
    CHECK(is_file(&s, "b/node_modules"));
    CHECK(is_excl(&s, ".hidden.jpg", "hidden"));
    CHECK(is_excl(&s, ".cache", "hidden") && s.is_dir[at(&s, ".cache")]);
    CHECK(is_excl(&s, "node_modules", "node_modules") && s.is_dir[at(&s, "node_modules")]);
    CHECK(is_excl(&s, "a/.git", "hidden"));
    CHECK(is_excl(&s, "@eaDir", "@eaDir"));
    CHECK(is_excl(&s, "$Recycle.Bin", "$RECYCLE.BIN"));
    CHECK(is_excl(&s, "lost+found", "lost+found"));
    /* An excluded directory is reported once and not entered. */
    CHECK(count_under(&s, "node_modules") == 1);
    CHECK(count_under(&s, ".cache") == 1);
    CHECK(count_under(&s, "a/.git") == 1);
    if (test_failures_) dump(&s);
    seen_free(&s);

    /* include_hidden: hidden names are walked, the built-in trees are still skipped. */
    cs__walk_rules_include_hidden(r, true);
    walk(root, r, &s);
    CHECK(is_file(&s, ".hidden.jpg"));
    CHECK(is_file(&s, ".cache/in_hidden.jpg"));
    CHECK(is_excl(&s, "a/.git", ".git"));
    CHECK(is_excl(&s, ".Trash-1000", ".Trash-*"));
    CHECK(is_excl(&s, "node_modules", "node_modules"));
    CHECK(count_under(&s, ".Trash-1000") == 1);
    seen_free(&s);

    /* No rules: everything, as before rules existed. */
    walk(root, NULL, &s);
    CHECK(is_file(&s, ".hidden.jpg"));
    CHECK(is_file(&s, "node_modules/pkg/icon.png"));
    CHECK(is_file(&s, ".Trash-1000/files/old.jpg"));
    seen_free(&s);
    cs__walk_rules_free(r);
}

/* A root named explicitly is walked even when its own name is hidden or matches a rule;
 * the rules still apply below it. */
static void test_explicit_root(const char *base)
{
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/.photos", base);
    put(base, ".photos/a.jpg", "x");
    put(base, ".photos/.b.jpg", "x");
    cs__walk_rules *r = cs__walk_rules_new();
    CHECK(r && cs__walk_rules_add_exclude(r, ".photos", NULL) == 0);
    seen s;
    walk(root, r, &s);
    CHECK(is_file(&s, "a.jpg"));
    CHECK(is_excl(&s, ".b.jpg", "hidden"));
    seen_free(&s);
    /* A single hidden file as the root. */
    snprintf(root, sizeof root, "%s/.photos/.b.jpg", base);
    walk(root, r, &s);
    CHECK(s.n == 1 && s.kind[0] == CS_WALK_FILE);
    seen_free(&s);
    cs__walk_rules_free(r);
}

static void test_globs(const char *root)
{
    put(root, "x.tmp", "x");
    put(root, "sub/y.tmp", "x");
    put(root, "a/x.jpg", "x");
    put(root, "a/b/x.jpg", "x");
    put(root, "x.jpg", "x");
    put(root, "raw/r.jpg", "x");
    put(root, "c/raw", "a file named raw");
    put(root, "top.png", "x");
    put(root, "sub/top.png", "x");
    put(root, "private/p.jpg", "x");
    put(root, "sub/private/p.jpg", "x");

    cs__walk_rules *r = cs__walk_rules_new();
    cs_error err = {0};
    CHECK_OK(cs__walk_rules_add_exclude(r, "*.tmp", &err), &err);      /* base name */
    CHECK_OK(cs__walk_rules_add_exclude(r, "a/*.jpg", &err), &err);    /* relative path */
    CHECK_OK(cs__walk_rules_add_exclude(r, "raw/", &err), &err);       /* directories only */
    CHECK_OK(cs__walk_rules_add_exclude(r, "./top.png", &err), &err);  /* anchored */
    char *canon = realpath(root, NULL);
    char absglob[PATH_MAX];
    snprintf(absglob, sizeof absglob, "%s/sub/priv*", canon);
    free(canon);
    CHECK_OK(cs__walk_rules_add_exclude(r, absglob, &err), &err);      /* absolute */
    seen s;
    walk(root, r, &s);
    CHECK(is_excl(&s, "x.tmp", "*.tmp"));
    CHECK(is_excl(&s, "sub/y.tmp", "*.tmp"));     /* a base-name glob works at any depth */
    CHECK(is_excl(&s, "a/x.jpg", "a/*.jpg"));
    CHECK(is_file(&s, "a/b/x.jpg"));              /* FNM_PATHNAME: "*" stops at "/" */
    CHECK(is_file(&s, "x.jpg"));                  /* relative to the root, not any folder */
    CHECK(is_excl(&s, "raw", "raw/") && s.is_dir[at(&s, "raw")]);
    CHECK(count_under(&s, "raw") == 1);
    CHECK(is_file(&s, "c/raw"));                  /* a file is not matched by "raw/" */
    CHECK(is_excl(&s, "top.png", "./top.png"));
    CHECK(is_file(&s, "sub/top.png"));
    CHECK(is_excl(&s, "sub/private", absglob));
    CHECK(is_file(&s, "private/p.jpg"));
    if (test_failures_) dump(&s);
    seen_free(&s);

    /* Globs that can match nothing are refused. */
    CHECK(cs__walk_rules_add_exclude(r, "", &err) == CS_E_ARG);
    CHECK(cs__walk_rules_add_exclude(r, "/", &err) == CS_E_ARG);
    CHECK(cs__walk_rules_add_exclude(r, "./", &err) == CS_E_ARG);
    CHECK(cs__walk_rules_add_exclude(r, "..", &err) == CS_E_ARG);
    cs__walk_rules_free(r);
}

static void test_ignore_files(const char *root)
{
    put(root, ".clipsearchignore",
        "# comment\n"
        "\n"
        "*.bak\n"
        "/anchored.jpg\n"
        "sub/deep/\n"
        "trail.jpg   \n"          /* trailing blanks are not part of the glob */
        "crlf.jpg\r\n"
        "!keep.jpg\n"             /* unsupported: a note, not a literal name */
        "\\#hash.jpg\n");         /* an escaped "#" is a literal name */
    put(root, "a.bak", "x");
    put(root, "anchored.jpg", "x");
    put(root, "sub/anchored.jpg", "x");
    put(root, "sub/deep/d.jpg", "x");
    put(root, "sub/.clipsearchignore", "local.jpg\nx/*.png\n");
    put(root, "sub/local.jpg", "x");
    put(root, "sub/more/local.jpg", "x");   /* the folder's subfolders too */
    put(root, "sub/x/y.png", "x");          /* relative to sub/, where the file is */
    put(root, "x/y.png", "x");              /* not sub/'s business */
    put(root, "other/local.jpg", "x");      /* sub/'s rules do not reach a sibling */
    put(root, "trail.jpg", "x");
    put(root, "crlf.jpg", "x");
    put(root, "keep.jpg", "x");
    put(root, "!keep.jpg", "x");
    put(root, "#hash.jpg", "x");

    cs__walk_rules *r = cs__walk_rules_new();
    seen s;
    walk(root, r, &s);
    CHECK(!entry(&s, ".clipsearchignore"));      /* a setting, not an entry */
    CHECK(!entry(&s, "sub/.clipsearchignore"));
    CHECK(is_excl(&s, "a.bak", "*.bak"));
    CHECK(is_excl(&s, "anchored.jpg", "/anchored.jpg"));
    CHECK(is_file(&s, "sub/anchored.jpg"));
    CHECK(is_excl(&s, "sub/deep", "sub/deep/") && count_under(&s, "sub/deep") == 1);
    CHECK(is_excl(&s, "sub/local.jpg", "local.jpg"));
    CHECK(is_excl(&s, "sub/more/local.jpg", "local.jpg"));
    CHECK(is_excl(&s, "sub/x/y.png", "x/*.png"));
    CHECK(is_file(&s, "x/y.png"));
    CHECK(is_file(&s, "other/local.jpg"));
    CHECK(is_excl(&s, "trail.jpg", NULL));
    CHECK(is_excl(&s, "crlf.jpg", NULL));
    CHECK(is_file(&s, "keep.jpg") && is_file(&s, "!keep.jpg"));
    CHECK(is_excl(&s, "#hash.jpg", "\\#hash.jpg"));
    int notes = 0, note = -1;
    for (int i = 0; i < s.n; i++)
        if (s.kind[i] == CS_WALK_NOTE) notes++, note = i;
    CHECK(notes == 1 && strstr(s.rule[note], "line 8") &&
          !strcmp(s.rel[note], ".clipsearchignore"));
    if (test_failures_) dump(&s);
    seen_free(&s);

    /* Ignore files are read with include_hidden too. */
    cs__walk_rules_include_hidden(r, true);
    walk(root, r, &s);
    CHECK(is_excl(&s, "a.bak", "*.bak"));
    CHECK(!entry(&s, ".clipsearchignore"));
    seen_free(&s);
    cs__walk_rules_free(r);
}

/* An ignore file that cannot be read leaves its folder unwalked (its rules unknown);
 * one with that name that is not a regular file is an ordinary entry and never blocks. */
static void test_bad_ignore_files(const char *root)
{
    put(root, "big/photo.jpg", "x");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/big/.clipsearchignore", root);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, 2 << 20) == 0);  /* over the 1 MiB limit */
    if (fd >= 0) close(fd);
    put(root, "fifo/photo.jpg", "x");
    snprintf(p, sizeof p, "%s/fifo/.clipsearchignore", root);
    CHECK(mkfifo(p, 0644) == 0);
    put(root, "dir/.clipsearchignore/inside.jpg", "x");
    put(root, "dir/photo.jpg", "x");
    put(root, "fine.jpg", "x");

    cs__walk_rules *r = cs__walk_rules_new();
    seen s;
    walk(root, r, &s);
    int b = at(&s, "big");
    CHECK(b >= 0 && s.kind[b] == CS_WALK_ERROR && s.ignore_file[b] && s.is_dir[b] &&
          s.error[b] == EFBIG);
    CHECK(count_under(&s, "big") == 1);
    CHECK(is_file(&s, "fifo/photo.jpg"));
    CHECK(is_excl(&s, "fifo/.clipsearchignore", "hidden"));
    CHECK(is_file(&s, "dir/photo.jpg"));
    CHECK(is_excl(&s, "dir/.clipsearchignore", "hidden"));
    CHECK(is_file(&s, "fine.jpg"));
    if (test_failures_) dump(&s);
    seen_free(&s);
    cs__walk_rules_free(r);
}

static char *subdir(const char *base, const char *name)
{
    char *p = malloc(PATH_MAX);
    snprintf(p, PATH_MAX, "%s/%s", base, name);
    mkdir(p, 0755);
    return p;
}

int main(void)
{
    char tmpl[] = "/tmp/cs_walk_rules_XXXXXX";
    char *base = mkdtemp(tmpl);
    CHECK(base != NULL);
    if (!base) return TEST_RESULT();
    char *d1 = subdir(base, "defaults"), *d2 = subdir(base, "root"),
         *d3 = subdir(base, "globs"), *d4 = subdir(base, "ignore"), *d5 = subdir(base, "bad");
    test_defaults(d1);
    test_explicit_root(d2);
    test_globs(d3);
    test_ignore_files(d4);
    test_bad_ignore_files(d5);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
    free(d5);
    char cmd[PATH_MAX + 20];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return TEST_RESULT();
}
