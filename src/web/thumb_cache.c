/* The thumbnails' disk cache: one JPEG per (content, thumbnail size) in a folder that may
 * be deleted or damaged at any time. Entries are written whole (temp file + rename),
 * checked when read (a JPEG of bounded size, no larger than asked: anything else is
 * removed and made again), and the folder is kept under its bound by removing the
 * entries used least recently (a hit refreshes the entry's mtime). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clipsearch/image.h"
#include "web/web_internal.h"

/* Bumped when the thumbnails change (size rule, quality, decoder options): old entries
 * are then never hit again and age out. */
#define KEY_VERSION 1
/* A temporary file this old belongs to a writer that died (a write takes milliseconds). */
#define STALE_TMP_S 600
/* A hit refreshes the entry's age at most this often (one write per entry a minute). */
#define TOUCH_EVERY_S 60

struct cs__web_thumb_cache {
    char *dir;
    uint64_t max_bytes;
    pthread_mutex_t mu;     /* counted, bytes; one writer evicts at a time */
    bool counted;           /* bytes = what a scan found plus what was written since */
    uint64_t bytes;
};

int cs__web_cache_open(const char *dir, uint64_t max_bytes, cs__web_thumb_cache **out, cs_error *err)
{
    *out = NULL;
    cs__web_thumb_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void cs__web_cache_close(cs__web_thumb_cache *c)
{
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    free(c->dir);
    free(c);
}

void cs__web_cache_key(const cs__web_record *rec, const struct stat *now, int size, bool exif,
                   char key[CS_HASH_HEX_LEN + 1])
{
    /* The indexed hash stands for the content only while the file is as indexed (the
     * indexer's own rule: same size and mtime); then copies of one photo share entries.
     * Otherwise the current size and mtime make an edited file a new entry. */
    bool as_indexed = rec->hash[0] && rec->bytes == (int64_t)now->st_size &&
                      rec->mtime == (int64_t)now->st_mtim.tv_sec &&
                      rec->mtime_ns == (int64_t)now->st_mtim.tv_nsec;
    const char *path = rec->path ? rec->path : "";
    size_t cap = strlen(path) + 200;
    char stack[PATH_MAX + 200];
    char *buf = cap <= sizeof stack ? stack : malloc(cap);
    if (!buf) {   /* cannot happen for a real path; a key that is never hit is harmless */
        buf = stack;
        path = "";
        cap = sizeof stack;
    }
    int n;
    if (as_indexed)
        n = snprintf(buf, cap, "clipsearch thumb %d\nsize %d exif %d quality %d\nhash %s",
                     KEY_VERSION, size, exif, WEB_THUMB_QUALITY, rec->hash);
    else
        n = snprintf(buf, cap, "clipsearch thumb %d\nsize %d exif %d quality %d\n"
                     "file %lld %lld.%09ld\n%s", KEY_VERSION, size, exif, WEB_THUMB_QUALITY,
                     (long long)now->st_size, (long long)now->st_mtim.tv_sec,
                     (long)now->st_mtim.tv_nsec, path);
    cs__hash128_hex(buf, n > 0 ? (size_t)n : 0, key);
    if (buf != stack) free(buf);
}

static void entry_path(const cs__web_thumb_cache *c, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.jpg", c->dir, key);
}

static bool read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += (size_t)n;
    }
    return true;
}

/* What a thumbnail we wrote looks like: a whole JPEG (start and end markers), whose
 * header parses, no larger than asked. */
static bool valid_thumb(const uint8_t *d, size_t len, int size)
{
    if (len < 4 || d[0] != 0xFF || d[1] != 0xD8 || d[2] != 0xFF || d[len - 2] != 0xFF ||
        d[len - 1] != 0xD9)
        return false;
    cs_image_info info;
    cs_error err = {0};
    if (cs_image_probe_memory(d, len, NULL, &info, &err) != 0) return false;
    return info.format == CS_IMAGE_JPEG && info.width >= 1 && info.height >= 1 &&
           info.width <= size && info.height <= size;
}

bool cs__web_cache_get(cs__web_thumb_cache *c, const char *key, int size, uint8_t **jpeg, size_t *len)
{
    *jpeg = NULL;
    *len = 0;
    char path[PATH_MAX];
    entry_path(c, key, path, sizeof path);
    /* O_NOFOLLOW, O_NONBLOCK: whatever was put there, it is read only if it is a plain
     * file, and never waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return false;
    struct stat sb;
    uint8_t *buf = NULL;
    bool plain = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
                 (uint64_t)sb.st_size <= WEB_THUMB_MAX_BYTES;
    if (plain && !(buf = malloc((size_t)sb.st_size))) {
        close(fd);   /* no memory says nothing about the entry: kept */
        return false;
    }
    bool ok = plain && read_all(fd, buf, (size_t)sb.st_size) &&
              valid_thumb(buf, (size_t)sb.st_size, size);
    if (ok && time(NULL) - sb.st_mtim.tv_sec >= TOUCH_EVERY_S)
        (void)futimens(fd, NULL);   /* recently used: evicted last */
    close(fd);
    if (!ok) {
        free(buf);
        /* Damaged, truncated or not ours: made again (and rewritten) by the caller. */
        (void)unlink(path);
        return false;
    }
    *jpeg = buf;
    *len = (size_t)sb.st_size;
    return true;
}

/* mkdir -p, private: thumbnails show what the photos show. */
static int mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

typedef struct entry {
    char name[64];
    time_t mtime;
    uint64_t bytes;
} entry;

static int by_age(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

static bool is_entry_name(const char *name)
{
    size_t n = strlen(name);
    if (n != CS_HASH_HEX_LEN + 4 || strcmp(name + CS_HASH_HEX_LEN, ".jpg")) return false;
    for (size_t i = 0; i < CS_HASH_HEX_LEN; i++)
        if (!strchr("0123456789abcdef", name[i])) return false;
    return true;
}

/* Counts the folder (removing temporary files writers left behind) and, when over the
 * bound, removes the least recently used entries down to 3/4 of it, so that scans stay
 * rare. Called with c->mu held. */
static void scan(cs__web_thumb_cache *c)
{
    c->counted = true;
    c->bytes = 0;
    DIR *d = opendir(c->dir);
    if (!d) return;
    entry *list = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat sb;
        bool tmp = !strncmp(de->d_name, ".tmp-", 5);
        if (!tmp && !is_entry_name(de->d_name)) continue;   /* not ours: left alone */
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (tmp) {
            if (now - sb.st_mtim.tv_sec > STALE_TMP_S) (void)unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        total += (uint64_t)sb.st_size;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            entry *g = realloc(list, nc * sizeof *g);
            if (!g) break;   /* counted so far; evicting what is listed is still right */
            list = g;
            cap = nc;
        }
        memcpy(list[n].name, de->d_name, strlen(de->d_name) + 1);   /* 36 bytes: an entry name */
        list[n].mtime = sb.st_mtim.tv_sec;
        list[n].bytes = (uint64_t)sb.st_size;
        n++;
    }
    if (total > c->max_bytes) {
        qsort(list, n, sizeof *list, by_age);
        uint64_t target = c->max_bytes / 4 * 3;
        for (size_t i = 0; i < n && total > target; i++)
            if (unlinkat(dirfd(d), list[i].name, 0) == 0) total -= list[i].bytes;
    }
    closedir(d);
    free(list);
    c->bytes = total;
}

void cs__web_cache_put(cs__web_thumb_cache *c, const char *key, const uint8_t *jpeg, size_t len)
{
    if (len > WEB_THUMB_MAX_BYTES) return;   /* would be refused when read */
    char tmp[PATH_MAX], path[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", c->dir) >= sizeof tmp) return;
    entry_path(c, key, path, sizeof path);
    int fd = mkstemp(tmp);
    /* Created on the first write (serving alone creates nothing), and again whenever it
     * was deleted meanwhile. */
    if (fd < 0 && errno == ENOENT && mkdir_p(c->dir) == 0) {
        snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", c->dir);
        fd = mkstemp(tmp);
    }
    if (fd < 0) return;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, jpeg + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    /* No fsync: after a crash a torn entry fails the check on read and is made again. */
    if (close(fd) != 0 || done != len || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (!c->counted) scan(c);   /* the first write: what earlier runs left */
    else c->bytes += len;
    if (c->bytes > c->max_bytes) scan(c);
    pthread_mutex_unlock(&c->mu);
}
