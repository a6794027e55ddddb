/* The filters people use (search --under/--name/--after/--before, the web form's fields)
 * turned into the vecs filter language, ANDed with the caller's own filter JSON. They read
 * metadata the indexer writes: "dirs" (the ids of the folders above the file), "name"
 * (the base name) and "taken" (EXIF DateTimeOriginal, else mtime; seconds). */
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/pathid.h"
#include "clipsearch/query.h"

/* "/a/./b//c/../d/" -> "/a/b/d" (absolute in, absolute out, in place): the folder the
 * user means even when it no longer exists, so realpath cannot resolve it. */
static void normalize_abs(char *p)
{
    char *out = p, *in = p;
    while (*in) {
        while (*in == '/') in++;
        if (!*in) break;
        char *seg = in;
        while (*in && *in != '/') in++;
        size_t len = (size_t)(in - seg);
        if (len == 1 && seg[0] == '.') continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/') {}
            continue;
        }
        *out++ = '/';
        memmove(out, seg, len);
        out += len;
    }
    if (out == p) *out++ = '/';
    *out = '\0';
}

/* The id of the folder --under names: its realpath when it exists (the indexer's ids are
 * realpaths, symlinks resolved), else the path made absolute and normalised. NULL for
 * the root, which every file is under. */
static int under_id(const char *dir, char **out, cs_error *err)
{
    *out = NULL;
    char *abs = realpath(dir, NULL);
    if (!abs) {
        size_t n = strlen(dir);
        char cwd[PATH_MAX] = "";
        if (dir[0] != '/' && !getcwd(cwd, sizeof cwd))
            return cs_error_set(err, CS_E_IO, "cannot resolve '%.200s': no current folder", dir);
        abs = malloc(strlen(cwd) + n + 2);
        if (!abs) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        sprintf(abs, "%s/%s", cwd, dir);
        normalize_abs(abs);
    }
    if (!strcmp(abs, "/")) {
        free(abs);
        return 0;
    }
    *out = cs__path_to_id(abs);
    free(abs);
    return *out ? 0 : cs_error_set(err, CS_E_NOMEM, "out of memory");
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Reads exactly n digits. */
static bool digits(const char **s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i])) return false;
        *v = *v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    return true;
}

int cs_search_parse_date(const char *text, int64_t *out, cs_error *err)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *s = text;
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
    bool ok = digits(&s, 4, &y);
    if (ok && *s == '-') {
        s++;
        ok = digits(&s, 2, &mo) && mo >= 1 && mo <= 12;
        if (ok && *s == '-') {
            s++;
            ok = digits(&s, 2, &d) && d >= 1 &&
                 d <= mdays[mo - 1] + (mo == 2 && leap(y));
            if (ok && (*s == 'T' || *s == ' ')) {
                s++;
                ok = digits(&s, 2, &h) && h <= 23 && *s++ == ':' && digits(&s, 2, &mi) && mi <= 59;
                if (ok && *s == ':') {
                    s++;
                    ok = digits(&s, 2, &sec) && sec <= 59;
                }
            }
        }
    }
    if (!ok || *s || y < 1800)
        return cs_error_set(err, CS_E_ARG,
                            "'%.100s' is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or "
                            "YYYY-MM-DDTHH:MM[:SS] (local time)", text);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec, .tm_isdst = -1};
    time_t t = mktime(&tm);
    if (t == (time_t)-1 && !(y == 1969 || y == 1970))
        return cs_error_set(err, CS_E_ARG, "'%.100s' is outside the dates this system handles", text);
    *out = (int64_t)t;
    return 0;
}

static int add_clause(json_t *all, const char *key, const char *op, json_t *operand)
{
    json_t *clause = operand ? json_pack("{s:{s:o}}", key, op, operand) : NULL;
    return clause ? json_array_append_new(all, clause) : -1;
}

int cs_search_filter_json(const cs_search_request *req, char **out, cs_error *err)
{
    *out = NULL;
    const char *user = req->filter_json;
    bool has_user = user && *user && strcmp(user, "{}") != 0 && strcmp(user, "null") != 0;
    bool any = (req->under && *req->under) || (req->name && *req->name) ||
               (req->after && *req->after) || (req->before && *req->before);
    if (!any) {
        if (has_user && !(*out = strdup(user))) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        return 0;
    }
    int64_t after = 0, before = 0;
    if (req->after && *req->after && cs_search_parse_date(req->after, &after, err)) return err->code;
    if (req->before && *req->before && cs_search_parse_date(req->before, &before, err))
        return err->code;
    if (req->after && *req->after && req->before && *req->before && after >= before)
        return cs_error_set(err, CS_E_ARG, "the dates after (%.100s) and before (%.100s) "
                            "leave no time between them: no photo can match", req->after, req->before);
    char *dir = NULL;
    if (req->under && *req->under && under_id(req->under, &dir, err)) return err->code;

    json_t *all = json_array();
    int bad = !all;
    if (has_user && !bad) {
        /* The store validates the user's filter in full; here it only has to be JSON. */
        json_error_t jerr;
        json_t *u = json_loads(user, JSON_DECODE_ANY, &jerr);
        if (!u) {
            json_decref(all);
            free(dir);
            return cs_error_set(err, CS_E_FILTER, "filter is not valid JSON: %s", jerr.text);
        }
        bad |= json_array_append_new(all, u);
    }
    if (dir && !bad) bad |= add_clause(all, "dirs", "$contains", json_string(dir));
    if (req->name && *req->name && !bad)
        bad |= add_clause(all, "name", "$icontains", json_string(req->name));
    if (req->after && *req->after && !bad)
        bad |= add_clause(all, "taken", "$gte", json_integer((json_int_t)after));
    if (req->before && *req->before && !bad)
        bad |= add_clause(all, "taken", "$lt", json_integer((json_int_t)before));
    free(dir);
    if (!bad) {
        json_t *f = json_array_size(all) == 1 ? json_incref(json_array_get(all, 0))
                                               : json_pack("{s:O}", "$and", all);
        *out = f ? json_dumps(f, JSON_COMPACT) : NULL;
        json_decref(f);
        bad = !*out;
    }
    json_decref(all);
    /* json_string is NULL for text that is not UTF-8 (a --name argument, say). */
    if (bad) return cs_error_set(err, CS_E_ARG, "a filter value is not valid UTF-8 (or out of memory)");
    return 0;
}
