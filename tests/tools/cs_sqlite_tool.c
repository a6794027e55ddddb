/* Test helper for the SQLite store's crash and concurrency tests:
 *   cs_sqlite_tool check DB      runs PRAGMA integrity_check; prints it; exit 0 when "ok"
 *   cs_sqlite_tool lock DB       takes a write transaction (BEGIN IMMEDIATE), prints
 *                                "locked", holds it until a line or EOF arrives on stdin,
 *                                commits and prints "released": a handshake, so tests
 *                                never depend on how fast the machine is */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "check") && strcmp(argv[1], "lock"))) {
        fprintf(stderr, "usage: %s check DB | lock DB\n", argv[0]);
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(argv[2], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s: %s\n", argv[2], sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_busy_timeout(db, 10000);
    int rc = 0;
    if (!strcmp(argv[1], "check")) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "%s\n", sqlite3_errmsg(db));
            rc = 1;
        } else {
            int first = 1, ok = 0;
            while (sqlite3_step(st) == SQLITE_ROW) {
                const char *t = (const char *)sqlite3_column_text(st, 0);
                printf("%s\n", t);
                if (first && t && !strcmp(t, "ok")) ok = 1;
                first = 0;
            }
            sqlite3_finalize(st);
            rc = ok ? 0 : 1;
        }
    } else {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "%s\n", sqlite3_errmsg(db));
            rc = 1;
        } else {
            printf("locked\n");
            fflush(stdout);
            int c;
            while ((c = getchar()) != EOF && c != '\n') {}
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            printf("released\n");
            fflush(stdout);
        }
    }
    sqlite3_close(db);
    return rc;
}
