/* Loading vocab.json + merges.txt into the structures encode needs: the 2x256
 * byte-alphabet ids, SOT/EOT, and a hash map (left id, right id) -> (rank, merged id).
 * The token-string map is only needed while loading and is freed afterwards. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/file.h"
#include "clip/tokenizer_internal.h"

#define MAX_FILE_BYTES (256u << 20)

/* ---- token string -> id map (load time only) ------------------------------------ */
typedef struct {
    uint32_t hash;     /* low bits of the 64-bit hash (a quick reject before memcmp) */
    uint32_t off;      /* key bytes in the arena */
    uint32_t len;
    int32_t id;        /* -1: empty slot */
} vslot;              /* 16 bytes: the table stays small enough for the cache */

typedef struct {
    vslot *slots;
    size_t mask, count;
    uint8_t *arena;
    size_t arena_len;
    int64_t max_id;
    const char *path;
    cs_error *err;
} vmap;

static vslot *vmap_find(const vmap *m, const uint8_t *key, size_t len, uint64_t h)
{
    size_t i = (size_t)(h >> 32) & m->mask;
    for (;;) {
        vslot *s = &m->slots[i];
        if (s->id < 0 || (s->hash == (uint32_t)h && s->len == len &&
                          memcmp(m->arena + s->off, key, len) == 0))
            return s;
        i = (i + 1) & m->mask;
    }
}

/* Sizes the table for about `expect` keys (grown later if needed). */
static int vmap_grow(vmap *m, size_t expect)
{
    size_t cap = m->slots ? 2 * (m->mask + 1) : 1024;
    while (cap < 2 * expect)
        cap *= 2;
    vslot *old = m->slots;
    size_t old_cap = old ? m->mask + 1 : 0;
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return cs_error_set(m->err, CS_E_NOMEM, "%s: out of memory", m->path);
    }
    for (size_t i = 0; i < cap; i++)
        m->slots[i].id = -1;
    m->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].id >= 0) {
            const uint8_t *k = m->arena + old[i].off;
            *vmap_find(m, k, old[i].len, XXH3_64bits(k, old[i].len)) = old[i];
        }
    free(old);
    return 0;
}

static int32_t vmap_get(const vmap *m, const uint8_t *key, size_t len)
{
    return vmap_find(m, key, len, XXH3_64bits(key, len))->id;
}

static int vmap_add(void *ctx, const uint8_t *key, size_t len, int64_t id)
{
    vmap *m = ctx;
    if ((m->count + 1) * 2 > m->mask + 1 && vmap_grow(m, 0) != 0)
        return m->err->code;
    uint64_t h = XXH3_64bits(key, len);
    vslot *s = vmap_find(m, key, len, h);
    if (s->id < 0) {
        /* The arena has the size of the JSON file, which bounds the keys' total. */
        memcpy(m->arena + m->arena_len, key, len);
        s->hash = (uint32_t)h;
        s->off = (uint32_t)m->arena_len;
        s->len = (uint32_t)len;
        m->arena_len += len;
        m->count++;
    }
    s->id = (int32_t)id; /* duplicate key: the last wins, as with Python's json */
    if (id > m->max_id)
        m->max_id = id;
    return 0;
}

/* ---- byte alphabet -------------------------------------------------------------- */

/* GPT-2/CLIP bytes_to_unicode: printable Latin-1 bytes stand for themselves, the 68
 * others map to U+0100.. in ascending byte order. */
static uint32_t byte_to_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return b;
    uint32_t n = 0;
    for (unsigned k = 0; k < b; k++)
        if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF)))
            n++;
    return 256 + n;
}

static int load_alphabet(cs_tokenizer *t, const vmap *m, cs_error *err)
{
    for (unsigned b = 0; b < 256; b++) {
        uint8_t key[8];
        size_t k = cs_tok_utf8_encode(byte_to_cp(b), key);
        t->byte_id[b] = vmap_get(m, key, k);
        memcpy(key + k, "</w>", 4);
        t->byte_end_id[b] = vmap_get(m, key, k + 4);
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0)
            return cs_error_set(err, CS_E_FORMAT,
                                "%s: byte-level symbol for byte 0x%02X%s is missing", m->path,
                                b, t->byte_id[b] < 0 ? "" : " + </w>");
    }
    t->sot = vmap_get(m, (const uint8_t *)"<|startoftext|>", 15);
    t->eot = vmap_get(m, (const uint8_t *)"<|endoftext|>", 13);
    if (t->sot < 0 || t->eot < 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: no \"%s\" token", m->path,
                            t->sot < 0 ? "<|startoftext|>" : "<|endoftext|>");
    return 0;
}

/* ---- merges ---------------------------------------------------------------------- */

static void merge_put(cs_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = cs_tok_pair_key(a, b);
    size_t i = cs_tok_pair_hash(key) & t->merge_mask;
    while (t->merges[i].key != CS_TOK_EMPTY_KEY && t->merges[i].key != key)
        i = (i + 1) & t->merge_mask;
    /* A repeated pair takes its later rank, like dict(zip(merges, range(n))). */
    t->merges[i] = (cs_tok_merge_slot){key, rank, id};
}

static bool is_sep(uint8_t c) { return c == ' ' || c == '\t' || c == '\r'; }

static int load_merges(cs_tokenizer *t, const vmap *m, const uint8_t *txt, size_t len,
                       const char *path, size_t limit, cs_error *err)
{
    size_t cap = 1024;
    while (cap < 2 * limit + 2)
        cap *= 2;
    t->merges = malloc(cap * sizeof *t->merges);
    if (!t->merges)
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < cap; i++)
        t->merges[i].key = CS_TOK_EMPTY_KEY;
    t->merge_mask = cap - 1;

    const uint8_t *p = txt, *end = txt + len;
    /* Line 0 is a header ("#version: 0.2"); both reference tokenizers skip it blindly. */
    while (p < end && *p != '\n')
        p++;
    size_t line = 1;
    uint8_t cat[512];
    for (; p < end && t->n_merges < limit; line++) {
        p++; /* the '\n' ending the previous line */
        const uint8_t *eol = p;
        while (eol < end && *eol != '\n')
            eol++;
        const uint8_t *f[3], *fe[3];
        int nf = 0;
        for (const uint8_t *q = p; q < eol;) {
            while (q < eol && is_sep(*q))
                q++;
            if (q == eol)
                break;
            if (nf == 3) {
                nf = 4;
                break;
            }
            f[nf] = q;
            while (q < eol && !is_sep(*q))
                q++;
            fe[nf++] = q;
        }
        p = eol;
        if (nf == 0) {
            /* Blank lines may only trail the file. */
            const uint8_t *q = eol;
            while (q < end && (is_sep(*q) || *q == '\n'))
                q++;
            if (q == end)
                break;
        }
        if (nf != 2)
            return cs_error_set(err, CS_E_FORMAT, "%s: line %zu: expected \"left right\"",
                                path, line + 1);
        size_t la = (size_t)(fe[0] - f[0]), lb = (size_t)(fe[1] - f[1]);
        int32_t a = vmap_get(m, f[0], la), b = vmap_get(m, f[1], lb), ab = -1;
        if (la + lb <= sizeof cat) {
            memcpy(cat, f[0], la);
            memcpy(cat + la, f[1], lb);
            ab = vmap_get(m, cat, la + lb);
        }
        if (a < 0 || b < 0 || ab < 0)
            return cs_error_set(err, CS_E_FORMAT,
                                "%s: line %zu: %s of merge \"%.*s %.*s\" is not in %s", path,
                                line + 1, a < 0 ? "left token" : b < 0 ? "right token" : "result",
                                (int)(la > 64 ? 64 : la), (const char *)f[0],
                                (int)(lb > 64 ? 64 : lb), (const char *)f[1], m->path);
        merge_put(t, a, b, (int32_t)t->n_merges, ab);
        t->n_merges++;
    }
    return 0;
}

/* ---- public --------------------------------------------------------------------- */

int cs_tokenizer_load(const char *vocab_json_path, const char *merges_path,
                      cs_tokenizer **out, cs_error *err)
{
    if (!out)
        return cs_error_set(err, CS_E_ARG, "cs_tokenizer_load: out is NULL");
    *out = NULL;
    if (!vocab_json_path || !merges_path)
        return cs_error_set(err, CS_E_ARG, "cs_tokenizer_load: %s path is NULL",
                            vocab_json_path ? "merges" : "vocab");
    uint8_t *json = NULL, *txt = NULL;
    size_t json_len = 0, txt_len = 0;
    vmap m = {.max_id = -1, .path = vocab_json_path, .err = err};
    cs_tokenizer *t = calloc(1, sizeof *t);
    int rc;
    if (!t)
        return cs_error_set(err, CS_E_NOMEM, "cs_tokenizer_load: out of memory");
    if ((rc = cs_read_file(vocab_json_path, MAX_FILE_BYTES, &json, &json_len, err)) != 0 ||
        (rc = cs_read_file(merges_path, MAX_FILE_BYTES, &txt, &txt_len, err)) != 0)
        goto fail;
    m.arena = malloc(json_len + 1);
    if (!m.arena) {
        rc = cs_error_set(err, CS_E_NOMEM, "%s: out of memory", vocab_json_path);
        goto fail;
    }
    /* Every entry has one ':' (keys may hold more): a cheap upper bound on the count. */
    size_t colons = 0;
    for (const uint8_t *q = json; (q = memchr(q, ':', (size_t)(json + json_len - q))) != NULL;
         q++)
        colons++;
    if ((rc = vmap_grow(&m, colons)) != 0 ||
        (rc = cs_tok_parse_vocab(json, json_len, vocab_json_path, vmap_add, &m, err)) != 0 ||
        (rc = load_alphabet(t, &m, err)) != 0)
        goto fail;
    t->n_entries = m.count;
    t->vocab_size = (size_t)m.max_id + 1;
    /* Only the merges that made the vocabulary: len(vocab) - 512 byte symbols - 2
     * specials (48,894 for CLIP, whose merges file holds many more lines). */
    if (m.count < 514) {
        rc = cs_error_set(err, CS_E_FORMAT,
                          "%s: %zu entries, fewer than 512 byte symbols + 2 special tokens",
                          vocab_json_path, m.count);
        goto fail;
    }
    if ((rc = load_merges(t, &m, txt, txt_len, merges_path, m.count - 514, err)) != 0)
        goto fail;
    free(m.slots);
    free(m.arena);
    free(json);
    free(txt);
    *out = t;
    return 0;
fail:
    free(m.slots);
    free(m.arena);
    free(json);
    free(txt);
    cs_tokenizer_free(t);
    return rc;
}

void cs_tokenizer_free(cs_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->merges);
    free(tok);
}

int32_t cs_tokenizer_sot(const cs_tokenizer *tok) { return tok ? tok->sot : -1; }
int32_t cs_tokenizer_eot(const cs_tokenizer *tok) { return tok ? tok->eot : -1; }
size_t cs_tokenizer_vocab_size(const cs_tokenizer *tok) { return tok ? tok->vocab_size : 0; }
