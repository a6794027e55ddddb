/* bench_tokenizer: speed of the CLIP tokenizer.
 *
 *   bench_tokenizer [--vocab FILE --merges FILE] [--seconds S]
 *
 * Without --vocab it uses the real CLIP vocabulary from $CS_SHARED_DIR (or ../shared)
 * /reference/clip-vocab if present, else the tiny fixture. Reports load time and
 * texts/s (single thread) for a short query, a caption that fills the 77-token context,
 * a non-ASCII text, and a long (64 KiB) text that is truncated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clipsearch/tokenizer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(const cs_tokenizer *t, const char *label, const char *text, double seconds)
{
    int32_t ids[77];
    int n = 0;
    cs_error err = {0};
    long iters = 0, batch = 64;
    double t0 = now(), el;
    do {
        for (long i = 0; i < batch; i++)
            if (cs_tokenizer_encode(t, text, 77, ids, &n, &err) != 0) {
                fprintf(stderr, "%s: %s\n", label, err.msg);
                return;
            }
        iters += batch;
        el = now() - t0;
    } while (el < seconds);
    printf("%-28s %6zu bytes %3d ids  %10.0f texts/s  %8.2f us/text\n", label, strlen(text), n,
           iters / el, 1e6 * el / iters);
}

int main(int argc, char **argv)
{
    const char *vocab = NULL, *merges = NULL;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc)
            vocab = argv[++i];
        else if (!strcmp(argv[i], "--merges") && i + 1 < argc)
            merges = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--vocab FILE --merges FILE] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    char v[4096], m[4096];
    if (!vocab || !merges) {
        const char *shared = getenv("CS_SHARED_DIR");
        snprintf(v, sizeof v, "%s/reference/clip-vocab/vocab.json", shared ? shared : "../shared");
        snprintf(m, sizeof m, "%s/reference/clip-vocab/merges.txt", shared ? shared : "../shared");
        if (access(v, R_OK) != 0) {
            const char *src = getenv("CS_SOURCE_DIR");
            snprintf(v, sizeof v, "%s/tests/fixtures/tiny/model/vocab.json", src ? src : ".");
            snprintf(m, sizeof m, "%s/tests/fixtures/tiny/model/merges.txt", src ? src : ".");
        }
        vocab = v;
        merges = m;
    }
    cs_error err = {0};
    cs_tokenizer *t = NULL;
    double t0 = now();
    if (cs_tokenizer_load(vocab, merges, &t, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("tokenizer %s: load %.1f ms, vocab %zu\n", vocab, 1e3 * (now() - t0),
           cs_tokenizer_vocab_size(t));

    bench(t, "short query", "a photo of a cat", seconds);
    bench(t, "77-token caption",
          "A very long caption describing a crowded market square in the early morning, with "
          "vendors arranging fresh fruit, vegetables, flowers and bread on wooden tables while "
          "pigeons wander between the stalls and a street musician plays an old accordion near "
          "the fountain, children chase each other, and tourists photograph the colourful "
          "awnings under a pale blue sky",
          seconds);
    bench(t, "non-ASCII",
          "Caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 \xce\x9f\xce\x94\xce\x9f\xce\xa3 "
          "na\xc3\xafve r\xc3\xa9sum\xc3\xa9 &amp; \xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0",
          seconds);
    size_t big = 64 << 10;
    char *s = malloc(big + 1);
    if (s) {
        const char *p = "the quick brown fox jumps over the lazy dog. ";
        for (size_t i = 0; i < big; i++)
            s[i] = p[i % strlen(p)];
        s[big] = 0;
        bench(t, "64 KiB text (truncated)", s, seconds);
        free(s);
    }
    cs_tokenizer_free(t);
    return 0;
}
