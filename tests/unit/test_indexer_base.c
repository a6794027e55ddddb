/* The indexer's small base pieces: XXH3-128 hex, bounded queue (blocking and close),
 * string map, progress formatting and rate. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/progress.h"
#include "base/queue.h"
#include "base/strmap.h"
#include "test.h"

typedef struct {
    cs__queue *q;
    int from, n;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    for (int i = 0; i < p->n; i++)
        if (!cs__queue_push(p->q, (void *)(intptr_t)(p->from + i + 1))) break;
    return NULL;
}

int main(void)
{
    /* Hash: known XXH3-128 of "" (canonical form) and streaming == one-shot. */
    char h[CS_HASH_HEX_LEN + 1], h2[CS_HASH_HEX_LEN + 1];
    cs__hash128_hex("", 0, h);
    CHECK_MSG(!strcmp(h, "99aa06d3014798d86001c324468d497f"), "%s", h);
    cs__hash128_hex("abc", 3, h);
    CHECK(strlen(h) == 32);
    cs__hash128_hex("abd", 3, h2);
    CHECK(strcmp(h, h2) != 0);
    char path[] = "/tmp/cs_hash_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    size_t big = 300000;
    unsigned char *buf = malloc(big);
    for (size_t i = 0; i < big; i++) buf[i] = (unsigned char)(i * 7 + (i >> 9));
    CHECK(write(fd, buf, big) == (ssize_t)big);
    close(fd);
    cs_error err = {0};
    CHECK_OK(cs__hash128_file_hex(path, h2, &err), &err);
    cs__hash128_hex(buf, big, h);
    CHECK(!strcmp(h, h2));
    unlink(path);
    CHECK(cs__hash128_file_hex(path, h2, &err) == CS_E_IO);
    free(buf);

    /* Queue: 4 producers x 1000 items through a 3-slot queue; every item arrives once. */
    cs__queue *q = cs__queue_new(3);
    CHECK(q != NULL);
    producer ps[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        ps[i] = (producer){q, i * 1000, 1000};
        pthread_create(&th[i], NULL, produce, &ps[i]);
    }
    char *got = calloc(4001, 1);
    int n = 0, dups = 0;
    while (n < 4000) {
        void *it;
        int r = cs__queue_pop(q, &it, 1000);
        CHECK(r == 1);
        if (r != 1) break;
        CHECK(cs__queue_len(q) <= 3);
        intptr_t v = (intptr_t)it;
        if (got[v]) dups++;
        got[v] = 1;
        n++;
    }
    CHECK(n == 4000 && dups == 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    void *it;
    CHECK(cs__queue_pop(q, &it, 10) == 0);  /* timeout on empty */
    /* Close wakes a blocked producer (its push fails) and drains the rest. */
    CHECK(cs__queue_push(q, (void *)1) && cs__queue_push(q, (void *)2) && cs__queue_push(q, (void *)3));
    producer blocked = {q, 100, 1};
    pthread_t bt;
    pthread_create(&bt, NULL, produce, &blocked);
    usleep(50000);
    cs__queue_close(q);
    pthread_join(bt, NULL);
    int drained = 0;
    while (cs__queue_pop(q, &it, -1) == 1) drained++;
    CHECK(drained == 3 || drained == 4);
    CHECK(!cs__queue_push(q, (void *)9));
    CHECK(cs__queue_pop(q, &it, -1) == -1);
    cs__queue_free(q);
    free(got);

    /* String map with growth. */
    cs__strmap *m = cs__strmap_new();
    char keys[2000][16];
    for (int i = 0; i < 2000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        CHECK(cs__strmap_put(m, keys[i], (void *)(intptr_t)(i + 1)) == 0);
    }
    CHECK(cs__strmap_len(m) == 2000);
    int bad = 0;
    for (int i = 0; i < 2000; i++) bad += cs__strmap_get(m, keys[i]) != (void *)(intptr_t)(i + 1);
    CHECK(bad == 0);
    CHECK(cs__strmap_get(m, "nope") == NULL);
    CHECK(cs__strmap_put_if_absent(m, keys[5], (void *)77) == (void *)6);
    CHECK(cs__strmap_put(m, keys[5], (void *)77) == 0 && cs__strmap_get(m, keys[5]) == (void *)77);
    CHECK(cs__strmap_len(m) == 2000);
    cs__strmap_free(m);

    /* Progress. */
    char line[256];
    cs__format_duration(65, line, sizeof line);
    CHECK(!strcmp(line, "1:05"));
    cs__format_duration(3723, line, sizeof line);
    CHECK(!strcmp(line, "1:02:03"));
    cs__format_duration(-1, line, sizeof line);
    CHECK(!strcmp(line, "?"));
    cs__progress_format(line, sizeof line, 50, 100, 10.0, 10);
    CHECK_MSG(!strcmp(line, "[#####.....] 50/100  10.0 img/s  ETA 0:05"), "%s", line);
    cs__progress_format(line, sizeof line, 7, 0, 2.5, 10);
    CHECK_MSG(!strcmp(line, "7  2.5 img/s"), "%s", line);
    cs__rate r;
    cs__rate_init(&r, 0.0, 0);
    cs__rate_update(&r, 0.1, 5);   /* merged: too close */
    CHECK(r.rate == 0);
    cs__rate_update(&r, 1.0, 10);
    CHECK(fabs(r.rate - 10.0) < 1e-9);
    for (int i = 2; i <= 60; i++) cs__rate_update(&r, (double)i, 10 + (uint64_t)(i - 1) * 20);
    CHECK_MSG(fabs(r.rate - 20.0) < 0.1, "%f", r.rate);
    return TEST_RESULT();
}
