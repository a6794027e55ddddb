/* The pairs file of fine-tuning: TSV (image<TAB>caption) or JSON lines
 * ({"image": ..., "text": ...}). Relative image paths are resolved against the folder of
 * the pairs file, so a dataset folder can be moved as a whole. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app/finetune_internal.h"
#include "base/file.h"

void cs__ft_pairs_free(cs__ft_pairs *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].image);
        free(p->v[i].text);
    }
    free(p->v);
    free(p->path);
    memset(p, 0, sizeof *p);
}

/* dir of the pairs file joined with a relative image path; absolute paths stay. */
static char *resolve(const char *base_dir, const char *img, size_t len)
{
    char *rel = strndup(img, len);
    if (!rel || rel[0] == '/' || !base_dir) return rel;
    char *abs = cs__path_join(base_dir, rel);
    free(rel);
    return abs;
}

static int add(cs__ft_pairs *p, size_t *cap, char *image, char *text, long line, cs_error *err)
{
    if (!image || !text) {
        free(image);
        free(text);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    if (p->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        cs__ft_pair *nv = realloc(p->v, nc * sizeof *nv);
        if (!nv) {
            free(image);
            free(text);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
        p->v = nv;
        *cap = nc;
    }
    p->v[p->n++] = (cs__ft_pair){image, text, line};
    return 0;
}

static int parse_tsv(cs__ft_pairs *p, size_t *cap, const char *dir, const char *s, size_t len,
                     long line, cs_error *err)
{
    const char *tab = memchr(s, '\t', len);
    if (!tab || tab == s || tab + 1 == s + len)
        return cs_error_set(err, CS_E_FORMAT,
                            "%s:%ld: expected image_path<TAB>caption (both non-empty)", p->path,
                            line);
    return add(p, cap, resolve(dir, s, (size_t)(tab - s)),
               strndup(tab + 1, (size_t)(s + len - tab - 1)), line, err);
}

static int parse_json(cs__ft_pairs *p, size_t *cap, const char *dir, const char *s, size_t len,
                      long line, cs_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(s, len, 0, &jerr);
    const char *img = json_string_value(json_object_get(o, "image"));
    const char *txt = json_string_value(json_object_get(o, "text"));
    int rc;
    if (!o) rc = cs_error_set(err, CS_E_FORMAT, "%s:%ld: invalid JSON: %s", p->path, line,
                              jerr.text);
    else if (!img || !*img || !txt || !*txt)
        rc = cs_error_set(err, CS_E_FORMAT,
                          "%s:%ld: expected {\"image\": \"path\", \"text\": \"caption\"} with "
                          "non-empty strings",
                          p->path, line);
    else rc = add(p, cap, resolve(dir, img, strlen(img)), strdup(txt), line, err);
    json_decref(o);
    return rc;
}

int cs__ft_pairs_read(const char *path, cs__ft_pairs *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    int rc = cs__read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    out->path = strdup(path);
    char *dir = strdup(path);
    if (!out->path || !dir) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) slash[slash == dir] = '\0';
    const char *base = slash ? dir : NULL; /* no slash: relative to the current folder */
    int json = -1;                          /* decided by the first non-empty line */
    long line = 0;
    size_t pos0 = len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3) ? 3 : 0; /* editors' BOM */
    for (size_t pos = pos0; !rc && pos < len;) {
        const char *s = (const char *)data + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + 1;
        line++;
        if (l && s[l - 1] == '\r') l--;
        size_t k = 0;
        while (k < l && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == l) continue;
        if (memchr(s, '\0', l)) {
            rc = cs_error_set(err, CS_E_FORMAT, "%s:%ld: NUL byte in the line", path, line);
            break;
        }
        if (json < 0) json = s[k] == '{';
        rc = json ? parse_json(out, &cap, base, s, l, line, err)
                  : parse_tsv(out, &cap, base, s, l, line, err);
    }
    if (!rc && out->n == 0)
        rc = cs_error_set(err, CS_E_ARG, "%s: no pairs in the file", path);
    free(dir);
    free(data);
    if (rc) cs__ft_pairs_free(out);
    return rc;
}
