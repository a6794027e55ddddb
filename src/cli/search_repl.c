/* The `search` REPL: queries read from stdin against a session that stays open (the model
 * is loaded once). On a terminal, libedit gives line editing and a history kept in
 * $XDG_STATE_HOME/clipsearch/search_history; Ctrl-C clears the line, Ctrl-D quits.
 * From a pipe, every line is a query. Lines starting with ':' are commands (:help). */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/cli_util.h"
#include "cli/search_cli.h"

/* History lines kept (the file is rewritten after each query). */
#define REPL_HISTORY_MAX 1000

/* SIGINT while reading: the line is dropped. (CLI-only state: one REPL per process.) */
static volatile sig_atomic_t g_interrupted;
/* The thread that reads the terminal (a kernel thread id; 0 before the loop starts). */
static volatile sig_atomic_t g_reader;

static void on_sigint(int sig)
{
    int saved = errno;
    g_interrupted = 1;
    /* Ctrl-C is sent to the process, and the kernel hands it to any thread that does not
     * block it -- often one of the BLAS or OpenMP workers, whose interruption wakes no
     * one: the read that must end is the reader's. Passed on to it (tgkill and gettid
     * are plain system calls, safe in a handler). */
    pid_t self = (pid_t)syscall(SYS_gettid);
    if (g_reader && self != (pid_t)g_reader) syscall(SYS_tgkill, getpid(), (pid_t)g_reader, sig);
    errno = saved;
}

/* One byte from fd: 1, 0 at end of input, -1 on an error or when Ctrl-C interrupted the
 * read (the handler has no SA_RESTART; g_interrupted says which). */
static int read_byte(int fd, unsigned char *c)
{
    for (;;) {
        /* A Ctrl-C that lands just before the read would leave it waiting for the next
         * key: the flag is checked at least every 100 ms, not only when a read fails. */
        if (g_interrupted) return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int k = poll(&p, 1, 100);
        if (k < 0 && errno != EINTR) return -1;
        if (k <= 0) continue;
        ssize_t n = read(fd, c, 1);
        if (n == 1) return 1;
        if (n == 0) return 0;
        if (errno != EINTR && errno != EAGAIN) return -1;
    }
}

/* libedit's reader (rl_getc_function). It hands libedit a character, not a byte (the
 * compatibility layer takes the int as a wchar_t), so UTF-8 is decoded here. A Ctrl-C
 * ends the line as Enter would and the caller drops it (g_interrupted): libedit itself
 * would restart the read and keep the half-typed line. */
static int repl_getc(FILE *in)
{
    int fd = fileno(in);
    unsigned char c;
    int r = read_byte(fd, &c);
    if (r < 0) return g_interrupted ? '\n' : EOF;
    if (r == 0) return EOF;
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
            : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0) return 0xFFFD;            /* a stray continuation or invalid lead byte */
    int cp = len == 1 ? c : c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        r = read_byte(fd, &c);
        if (r < 0) return g_interrupted ? '\n' : EOF;
        if (r == 0 || (c & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (c & 0x3F);
    }
    return cp;
}

static const char HELP[] =
    "Type a query and press Enter: a text (\"a red bicycle\"), several weighted terms\n"
    "(\"2:dog + ./park.jpg -fruit\": see search --help), or a command:\n"
    "  :image PATH     search by an image file (~/ is your home)\n"
    "  :like ID        the records nearest an indexed one (its id, i.e. its path)\n"
    "  :k N            number of results, 1..1000 (now %d)\n"
    "  :filter JSON    vecs metadata filter for the next queries; ':filter' clears it\n"
    "                  (now %s)\n"
    "  :under DIR      only files below the folder DIR (now %s)\n"
    "  :name TEXT      only files whose name contains TEXT, any case (now %s)\n"
    "  :after DATE     only photos taken at or after DATE (now %s)\n"
    "  :before DATE    only photos taken before DATE (now %s); dates are YYYY, YYYY-MM,\n"
    "                  YYYY-MM-DD or YYYY-MM-DDTHH:MM; each command alone clears it\n"
    "  :help           this text\n"
    "  :quit           leave (also Ctrl-D); Ctrl-C clears the line\n";

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* "$XDG_STATE_HOME/clipsearch/search_history" (default ~/.local/state/...), its folder
 * created; NULL when there is no home to keep it in. */
static char *history_path(void)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (state && state[0] == '/')
        snprintf(dir, sizeof dir, "%s/clipsearch", state);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.local/state/clipsearch", home);
    else
        return NULL;
    /* mkdir -p, private: the history holds what was searched for. */
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) return NULL;
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return NULL;
    size_t n = strlen(dir) + sizeof "/search_history";
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/search_history", dir);
    return path;
}

typedef struct repl {
    cs__search_cli *s;
    bool terminal;
    char *filter;             /* owned copy behind s->base.filter_json */
    char *under, *name, *after, *before;   /* owned copies behind s->base's fields */
    bool quit;
    int failed;               /* queries that failed (piped mode) */
    int answered;
} repl;

/* ~/ is the home folder, as in a shell. malloc'd; NULL on OOM. */
static char *expand_home(const char *arg)
{
    const char *home = getenv("HOME");
    if (strncmp(arg, "~/", 2) != 0 || !home || !*home) return strdup(arg);
    size_t n = strlen(home) + strlen(arg);
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s%s", home, arg + 1);
    return path;
}

/* :under/:name/:after/:before: sets (or, without an argument, clears) one of the
 * session's filter fields, kept only when the filter they make is valid. */
static void set_filter_field(repl *r, const char *cmd, char **owned, const char **field,
                             const char *arg)
{
    char *value = NULL;
    if (*arg && !(value = !strcmp(cmd, "under") ? expand_home(arg) : strdup(arg))) {
        fprintf(stderr, "clipsearch: out of memory\n");
        r->failed++;
        return;
    }
    const char *old = *field;
    *field = value;
    cs_error err = {0};
    char *json = NULL;
    if (cs_search_filter_json(&r->s->base, &json, &err) != 0) {
        fprintf(stderr, "clipsearch: :%s: %s\n", cmd, err.msg);
        *field = old;
        free(value);
        r->failed++;
        return;
    }
    free(json);
    free(*owned);
    *owned = value;
    if (r->terminal)
        fprintf(stderr, "clipsearch: %s %s\n", cmd, value ? "set" : "cleared");
}

/* :image PATH and :like ID: one query by an image file, or by an indexed record (its
 * stored vector). */
static void query_by(repl *r, const char *cmd, const char *arg, bool like)
{
    if (!*arg) {
        fprintf(stderr, "clipsearch: :%s needs %s\n", cmd,
                like ? "the ID of an indexed record" : "a PATH");
        r->failed++;
        return;
    }
    char *value = expand_home(arg);
    cs_query_terms terms = {0};
    cs_error err = {0};
    int rc = value ? 0 : cs_error_set(&err, CS_E_NOMEM, "out of memory");
    if (rc == 0 && !like) rc = cs_query_terms_add(&terms, CS_TERM_IMAGE, value, 1, &err);
    if (rc == 0) {
        r->s->base.like_id = like ? value : NULL;
        rc = search_cli_run(r->s, like ? NULL : &terms, value, like ? NULL : value, &err);
        r->s->base.like_id = NULL;
    }
    if (rc != 0) {
        cli_fail(&err);
        r->failed++;
    } else {
        r->answered++;
    }
    cs_query_terms_free(&terms);
    free(value);
}

/* One command (line starting with ':'). */
static void command(repl *r, char *line)
{
    char *name = line + 1, *arg = name;
    while (*arg && *arg != ' ' && *arg != '\t') arg++;
    if (*arg) *arg++ = '\0';
    arg = trim(arg);
    if (!strcmp(name, "quit") || !strcmp(name, "q") || !strcmp(name, "exit")) {
        r->quit = true;
    } else if (!strcmp(name, "help") || !strcmp(name, "h") || !strcmp(name, "?")) {
        fprintf(stderr, HELP, r->s->base.k, r->filter ? r->filter : "none",
                r->under ? r->under : "anywhere", r->name ? r->name : "any",
                r->after ? r->after : "any time", r->before ? r->before : "any time");
    } else if (!strcmp(name, "k")) {
        long k;
        if (!cli_parse_int(arg, 1, 1000, &k)) {
            fprintf(stderr, "clipsearch: :k needs an integer 1..1000, got '%s'\n", arg);
            r->failed++;
        } else {
            r->s->base.k = (int)k;
        }
    } else if (!strcmp(name, "filter")) {
        free(r->filter);
        r->filter = *arg ? strdup(arg) : NULL;
        r->s->base.filter_json = r->filter;
        if (r->terminal)
            fprintf(stderr, "clipsearch: %s\n", r->filter ? "filter set (checked by the next query)"
                                                          : "filter cleared");
    } else if (!strcmp(name, "under")) {
        set_filter_field(r, name, &r->under, &r->s->base.under, arg);
    } else if (!strcmp(name, "name")) {
        set_filter_field(r, name, &r->name, &r->s->base.name, arg);
    } else if (!strcmp(name, "after")) {
        set_filter_field(r, name, &r->after, &r->s->base.after, arg);
    } else if (!strcmp(name, "before")) {
        set_filter_field(r, name, &r->before, &r->s->base.before, arg);
    } else if (!strcmp(name, "image") || !strcmp(name, "like")) {
        query_by(r, name, arg, !strcmp(name, "like"));
    } else {
        fprintf(stderr, "clipsearch: unknown command ':%s' (:help lists them)\n", name);
        r->failed++;
    }
}

static void query(repl *r, const char *line)
{
    cs_query_terms terms = {0};
    cs_error err = {0};
    int rc = cs_query_terms_parse(line, &terms, &err);
    if (rc == 0) {
        if (!r->terminal && !r->s->out.json) printf("query: %s\n", line);
        rc = search_cli_run(r->s, &terms, line, NULL, &err);
        if (!r->terminal && !r->s->out.json) putchar('\n');
    }
    cs_query_terms_free(&terms);
    if (rc != 0) {
        cli_fail(&err);
        r->failed++;
    } else {
        r->answered++;
    }
    fflush(stdout);
}

static void handle(repl *r, char *raw)
{
    char *line = trim(raw);
    if (!*line) return;
    if (line[0] == ':') command(r, line);
    else query(r, line);
}

static int terminal_loop(repl *r)
{
    char *hist = history_path();
    /* libedit turns the line's characters into bytes with the C library's multibyte
     * conversion: in the "C" locale every non-ASCII character would be lost. Queries are
     * UTF-8 whatever the terminal's locale says. */
    char *saved = setlocale(LC_CTYPE, NULL);
    saved = saved ? strdup(saved) : NULL;
    if (!setlocale(LC_CTYPE, "") || strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
        setlocale(LC_CTYPE, "C.UTF-8");
    rl_catch_signals = 0;          /* our SIGINT handler, not libedit's */
    rl_getc_function = repl_getc;
    using_history();
    stifle_history(REPL_HISTORY_MAX);
    if (hist) read_history(hist);
    /* Ctrl-C interrupts the read (no SA_RESTART): the line is dropped, the loop goes on. */
    g_reader = (sig_atomic_t)syscall(SYS_gettid);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    fprintf(stderr, "clipsearch: type a query, :help for commands, Ctrl-D to quit\n");
    while (!r->quit) {
        g_interrupted = 0;
        char *line = readline("search> ");
        if (g_interrupted) {
            /* Cleared: a fresh prompt on the next line. */
            free(line);
            fputc('\n', stderr);
            continue;
        }
        if (!line) break;   /* Ctrl-D */
        char *t = trim(line);
        if (*t) {
            add_history(t);
            if (hist) write_history(hist);
        }
        handle(r, t);
        free(line);
    }
    sigaction(SIGINT, &old, NULL);
    g_reader = 0;
    setlocale(LC_CTYPE, saved ? saved : "C");
    free(saved);
    free(hist);
    return 0;
}

static int pipe_loop(repl *r)
{
    r->s->out.per_query = true;
    char *line = NULL;
    size_t cap = 0;
    while (!r->quit && getline(&line, &cap, stdin) >= 0) handle(r, line);
    free(line);
    if (r->answered == 0 && r->failed == 0) {
        fprintf(stderr, "clipsearch: search: no query: give \"TEXT\" and/or --image FILE, or "
                        "queries on stdin (one per line)\n");
        return 2;
    }
    return r->failed ? 1 : 0;
}

int search_repl(cs__search_cli *s, bool terminal)
{
    repl r = {.s = s, .terminal = terminal};
    /* The REPL owns its copies: commands replace them while the query options stay. */
    struct { const char **field; char **owned; } f[] = {
        {&s->base.filter_json, &r.filter}, {&s->base.under, &r.under},
        {&s->base.name, &r.name}, {&s->base.after, &r.after}, {&s->base.before, &r.before}};
    size_t nf = sizeof f / sizeof f[0];
    int status = 0;
    for (size_t i = 0; i < nf; i++)
        if (*f[i].field && !(*f[i].owned = strdup(*f[i].field))) status = 1;
    for (size_t i = 0; i < nf; i++) *f[i].field = *f[i].owned;
    if (status == 0) status = terminal ? terminal_loop(&r) : pipe_loop(&r);
    for (size_t i = 0; i < nf; i++) {
        *f[i].field = NULL;
        free(*f[i].owned);
    }
    return status;
}
