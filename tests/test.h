/* Minimal unit-test harness: CHECK keeps going and counts failures; the test's main
 * returns TEST_RESULT(). SKIP exits with CTest's skip code (77, see SKIP_RETURN_CODE). */
#ifndef CS_TEST_H
#define CS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_;
static int test_checks_;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        test_checks_++;                                                                 \
        if (!(cond)) {                                                                  \
            test_failures_++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                               \
    } while (0)

#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        test_checks_++;                                                                 \
        if (!(cond)) {                                                                  \
            test_failures_++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

#define CHECK_OK(expr, errp)                                                            \
    do {                                                                                \
        int rc_ = (expr);                                                               \
        test_checks_++;                                                                 \
        if (rc_ != 0) {                                                                 \
            test_failures_++;                                                           \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__, #expr,   \
                    rc_, (errp)->msg);                                                  \
        }                                                                               \
    } while (0)

#define SKIP(...)                                                                       \
    do {                                                                                \
        fprintf(stderr, "SKIP: ");                                                      \
        fprintf(stderr, __VA_ARGS__);                                                   \
        fputc('\n', stderr);                                                            \
        exit(77);                                                                       \
    } while (0)

#define TEST_RESULT()                                                                   \
    (fprintf(stderr, "%d checks, %d failures\n", test_checks_, test_failures_),         \
     test_failures_ ? 1 : 0)

/* Paths provided by CTest (CMakeLists.txt CS_TEST_ENV). */
static inline const char *test_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

#endif
