/* For C tests that need the pgvector test server (names ending in _pg): the URL comes from
 * CS_TEST_DB_URL, else from the file named by CS_PG_URL_FILE, which the CTest fixture
 * pg_server writes (tests/pg/fixture.cmake). Returns a malloc'd URL or NULL (then skip). */
#ifndef CS_TESTS_PG_TEST_URL_H
#define CS_TESTS_PG_TEST_URL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *pg_test_url(void)
{
    const char *env = getenv("CS_TEST_DB_URL");
    char buf[1024] = "";
    if (env && *env) {
        snprintf(buf, sizeof buf, "%s", env);
    } else {
        const char *file = getenv("CS_PG_URL_FILE");
        FILE *f = file ? fopen(file, "r") : NULL;
        if (!f) return NULL;
        if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    if (strncmp(buf, "postgresql://", 13) && strncmp(buf, "postgres://", 11)) return NULL;
    return strdup(buf);
}

#endif
