#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Shared by cs__read_file (whole file, refusing larger ones) and cs__read_file_prefix. */
static int read_regular(const char *path, size_t max_bytes, bool whole, uint8_t **data,
                        size_t *len, size_t *file_size, cs_error *err)
{
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO must not hang; we refuse non-regular files below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return cs_error_set(err, CS_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cs_error_set(err, CS_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cs_error_set(err, CS_E_IO, "%s: not a regular file", path);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (file_size) *file_size = (size_t)st.st_size;
    if (whole && (uint64_t)st.st_size > max_bytes) {
        close(fd);
        return cs_error_set(err, CS_E_TOO_LARGE, "%s: file too large (%lld bytes, limit %zu)",
                            path, (long long)st.st_size, max_bytes);
    }
    size_t cap = (uint64_t)st.st_size < max_bytes ? (size_t)st.st_size : max_bytes;
    uint8_t *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return cs_error_set(err, CS_E_IO, "%s: read error: %s", path, strerror(e));
        }
        if (r == 0) break; /* file shrank while reading: return what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

int cs__read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                 cs_error *err)
{
    if (max_bytes == 0) max_bytes = (size_t)1 << 30;
    return read_regular(path, max_bytes, true, data, len, NULL, err);
}

int cs__read_file_prefix(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                        size_t *file_size, cs_error *err)
{
    return read_regular(path, max_bytes, false, data, len, file_size, err);
}

char *cs__path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    bool slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    if (slash) p[la++] = '/';
    memcpy(p + la, b, lb + 1);
    return p;
}

bool cs__file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool cs__dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cs__write_file_atomic(const char *path, void (*write)(FILE *f, void *ctx), void *ctx,
                          cs_error *err)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = errno;
        free(tmp);
        return cs_error_set(err, CS_E_IO, "cannot write %s: %s", path, strerror(e));
    }
    write(f, ctx);
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    /* Rename last: a reader never sees half a file, a failure leaves the old one. */
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return cs_error_set(err, CS_E_IO, "cannot write %s: %s", path,
                            bad ? "write error" : strerror(e));
    }
    free(tmp);
    return 0;
}
