/* bench_serve: does `clipsearch serve` keep answering searches while a page of
 * thumbnails of large photos loads, and while slow clients hold connections open?
 *
 *   bench_serve --clipsearch BIN --db PATH --model DIR --photos DIR [--runs 5]
 *               [--size 256] [--cache DIR] [--serve-arg ARG]...
 *
 * Starts `BIN serve --port 0 --db PATH --model DIR --thumb-cache CACHE` (--serve-arg adds
 * arguments; with --cache none, no --thumb-cache is passed, e.g. for an older binary),
 * whose collection must hold the photos of DIR (their absolute paths are the ids: run
 * `clipsearch index DIR` first). Then, each a median over --runs:
 *   search alone      GET /api/search?q=...&k=10, nothing else running
 *   page, cold cache  the thumbnails of DIR's photos (the page's 10 results) fetched on
 *                     6 connections as a browser does, with an emptied cache, and a
 *                     search sent right after them: the search's latency and the time
 *                     until the last thumbnail
 *   page, warm cache  the same, with every thumbnail already cached
 *   64 slow clients   searches while 64 connections hold half-sent requests */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_PHOTOS 64
#define BROWSER_CONNECTIONS 6   /* what a browser opens to one host */
#define SLOW_CLIENTS 64
#define TARGET_MAX 13000        /* a URL-encoded absolute path, 3 bytes per byte at most */

static int g_port;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* A server that never answers (an older one, full of slow clients) costs 30 s, not
     * forever. */
    struct timeval limit = {30, 0};
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

/* One GET on a new connection (Connection: close); returns the HTTP status (0 on a
 * transport failure) and the body's length in *bytes. */
static int http_get(const char *target, size_t *bytes)
{
    int fd = connect_server();
    if (fd < 0) return 0;
    char req[TARGET_MAX + 256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", target,
                     g_port);
    if (n <= 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    char buf[65536];
    size_t total = 0;
    int status = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        if (total == 0 && r > 12) status = atoi(buf + 9);
        total += (size_t)r;
    }
    close(fd);
    if (bytes) *bytes = total;
    return status;
}

static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~/", ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

/* ---- the page's thumbnails --------------------------------------------------------- */

typedef struct page {
    char targets[MAX_PHOTOS][TARGET_MAX];
    int n;
    int next;               /* the next thumbnail to fetch */
    int failed;
    double done_ms;         /* when the last one arrived */
    pthread_mutex_t mu;
} page;

static void *fetcher(void *arg)
{
    page *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int i = p->next < p->n ? p->next++ : -1;
        pthread_mutex_unlock(&p->mu);
        if (i < 0) break;
        int st = http_get(p->targets[i], NULL);
        double t = now_ms();
        pthread_mutex_lock(&p->mu);
        if (st != 200) p->failed++;
        if (t > p->done_ms) p->done_ms = t;
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

/* Loads the page's thumbnails on BROWSER_CONNECTIONS threads and sends a search right
 * after them; *search and *all are the search's latency and the page's time. */
static int page_and_search(page *p, const char *search, double *search_ms, double *all_ms)
{
    p->next = 0;
    p->failed = 0;
    p->done_ms = 0;
    pthread_t t[BROWSER_CONNECTIONS];
    double t0 = now_ms();
    for (int i = 0; i < BROWSER_CONNECTIONS; i++) pthread_create(&t[i], NULL, fetcher, p);
    /* Let the thumbnail requests reach the server first: the search arrives behind them. */
    struct timespec ms5 = {0, 5000000};
    nanosleep(&ms5, NULL);
    double s0 = now_ms();
    int st = http_get(search, NULL);
    *search_ms = now_ms() - s0;
    for (int i = 0; i < BROWSER_CONNECTIONS; i++) pthread_join(t[i], NULL);
    *all_ms = p->done_ms - t0;
    if (st != 200 || p->failed) {
        fprintf(stderr, "bench_serve: search status %d, %d thumbnails failed\n", st, p->failed);
        return 1;
    }
    return 0;
}

static int rm_rf(const char *path)
{
    char *argv[] = {"rm", "-rf", (char *)path, NULL};
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) != 0) return 1;
    waitpid(pid, &status, 0);
    return status;
}

static int threads_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *bin = NULL, *db = NULL, *model = NULL, *photos = NULL, *cache = NULL;
    const char *extra[16];
    int n_extra = 0, runs = 5, size = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) break;
        if (!strcmp(a, "--clipsearch")) bin = v;
        else if (!strcmp(a, "--db")) db = v;
        else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--photos")) photos = v;
        else if (!strcmp(a, "--cache")) cache = v;
        else if (!strcmp(a, "--runs")) runs = atoi(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--serve-arg") && n_extra < 16) extra[n_extra++] = v;
        else break;
        i++;
    }
    if (!bin || !db || !model || !photos || runs < 1) {
        fprintf(stderr, "usage: bench_serve --clipsearch BIN --db PATH --model DIR --photos DIR "
                        "[--runs N] [--size N] [--cache DIR|none] [--serve-arg ARG]...\n");
        return 2;
    }
    char cache_buf[4096];
    if (!cache) {
        snprintf(cache_buf, sizeof cache_buf, "%s.thumbs", db);
        cache = cache_buf;
    }
    bool use_cache = strcmp(cache, "none") != 0;

    /* The page: thumbnails of every photo in the folder (sorted, up to MAX_PHOTOS). */
    static page pg;
    pthread_mutex_init(&pg.mu, NULL);
    char dir[4096];
    if (!realpath(photos, dir)) {
        perror(photos);
        return 1;
    }
    struct dirent **names = NULL;
    int nn = scandir(dir, &names, NULL, alphasort);
    for (int i = 0; i < nn; i++) {
        if (names[i]->d_name[0] != '.' && pg.n < MAX_PHOTOS) {
            char id[4096 + 512], enc[TARGET_MAX - 64];
            snprintf(id, sizeof id, "%s/%s", dir, names[i]->d_name);
            url_encode(id, enc, sizeof enc);
            snprintf(pg.targets[pg.n++], sizeof pg.targets[0], "/api/thumb?size=%d&id=%.4000s",
                     size, enc);
        }
        free(names[i]);
    }
    free(names);
    if (pg.n == 0) {
        fprintf(stderr, "bench_serve: no photos in %s\n", dir);
        return 1;
    }

    /* The server, its port read from its "serving" line. */
    int pipefd[2];
    if (pipe(pipefd) != 0) return 1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    char *sargv[40];
    int k = 0;
    sargv[k++] = (char *)bin;
    sargv[k++] = "serve";
    sargv[k++] = "--port";
    sargv[k++] = "0";
    sargv[k++] = "--db";
    sargv[k++] = (char *)db;
    sargv[k++] = "--model";
    sargv[k++] = (char *)model;
    if (use_cache) {
        sargv[k++] = "--thumb-cache";
        sargv[k++] = (char *)cache;
    }
    for (int i = 0; i < n_extra; i++) sargv[k++] = (char *)extra[i];
    sargv[k] = NULL;
    pid_t pid;
    if (posix_spawn(&pid, bin, &fa, NULL, sargv, environ) != 0) {
        perror(bin);
        return 1;
    }
    close(pipefd[1]);
    FILE *err = fdopen(pipefd[0], "r");
    char line[1024];
    while (!g_port && fgets(line, sizeof line, err)) {
        const char *s = strstr(line, "serving http://127.0.0.1:");
        if (s) g_port = atoi(s + strlen("serving http://127.0.0.1:"));
        else fputs(line, stderr);
    }
    if (!g_port) {
        fprintf(stderr, "bench_serve: the server did not start\n");
        return 1;
    }

    const char *search = "/api/search?q=a+photo+of+a+street+at+night&k=10";
    int status = 0;
    double *a = calloc((size_t)runs, sizeof *a), *b = calloc((size_t)runs, sizeof *b);
    /* The first searches load the collection's vectors and prepare the model's GEMMs. */
    for (int i = 0; i < 3; i++)
        if (http_get(search, NULL) != 200) {
            fprintf(stderr, "bench_serve: search failed\n");
            status = 1;
            goto out;
        }
    printf("bench_serve: %d thumbnails of %d px per page, %d connections, median of %d runs\n",
           pg.n, size, BROWSER_CONNECTIONS, runs);
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        http_get(search, NULL);
        a[r] = now_ms() - t0;
    }
    printf("search alone:                   %8.1f ms\n", median(a, runs));
    for (int r = 0; r < runs && !status; r++) {
        if (use_cache) rm_rf(cache);
        status = page_and_search(&pg, search, &a[r], &b[r]);
    }
    if (status) goto out;
    double sa = median(a, runs), sb = median(b, runs);
    printf("page, %s: search %8.1f ms, all thumbnails %8.1f ms\n",
           use_cache ? "cold cache" : "no cache  ", sa, sb);
    if (use_cache) {
        for (int r = 0; r < runs && !status; r++) status = page_and_search(&pg, search, &a[r], &b[r]);
        if (status) goto out;
        sa = median(a, runs);
        sb = median(b, runs);
        printf("page, warm cache: search %8.1f ms, all thumbnails %8.1f ms\n", sa, sb);
    }
    {
        int base = threads_of(pid), slow[SLOW_CLIENTS], n_slow = 0;
        for (int i = 0; i < SLOW_CLIENTS; i++) {
            int fd = connect_server();
            if (fd < 0) break;
            char half[128];
            int n = snprintf(half, sizeof half,
                             "GET /api/collections HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Slow: ", g_port);
            if (write(fd, half, (size_t)n) != n) {
                close(fd);
                break;
            }
            slow[n_slow++] = fd;
        }
        /* Until the server holds them all (a thread each, where it has one per
         * connection; an older server never gets there: 10 s at most). */
        for (int w = 0; w < 1000 && threads_of(pid) < base + n_slow; w++) {
            struct timespec ms10 = {0, 10000000};
            nanosleep(&ms10, NULL);
        }
        int ok = 0;
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms();
            ok += http_get(search, NULL) == 200;
            a[r] = now_ms() - t0;
        }
        printf("%d slow clients open: search %8.1f ms (%d of %d answered)\n", n_slow,
               median(a, runs), ok, runs);
        for (int i = 0; i < n_slow; i++) close(slow[i]);
        if (ok != runs) status = 1;
    }
out:
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(err);
    free(a);
    free(b);
    if (use_cache) rm_rf(cache);
    return status;
}
