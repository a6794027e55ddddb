/* Internals of the CLIP tokenizer (include/clipsearch/tokenizer.h), shared by
 * src/tokenizer/tokenizer_*.c and the tokenizer unit tests.
 *
 * Pipeline of cs_tokenizer_encode (openai/CLIP SimpleTokenizer, ftfy = identity):
 *   UTF-8 -> code points (invalid bytes -> U+FFFD, as bytes.decode('utf-8', 'replace'))
 *   -> html.unescape twice -> str.strip -> runs of White_Space -> ' ' -> str.strip
 *   -> str.lower (full, with final sigma) -> regex split into pieces
 *   -> per piece: UTF-8 bytes -> byte alphabet ids, '</w>' on the last -> BPE merges
 *   -> SOT + ids + EOT, truncated keeping EOT.
 * Python-specific behaviour lives in generated data (tokenizer_tables.c, made by
 * scripts/gen_tokenizer_tables.py); letter/number categories come from utf8proc. */
#ifndef CS_CLIP_TOKENIZER_INTERNAL_H
#define CS_CLIP_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/tokenizer.h"

/* Longest input accepted by cs_tokenizer_encode (bytes). Exactness needs the whole
 * text normalised (final sigma and html entities look ahead) and a single "word" BPE'd
 * as a whole, which costs up to ~80 bytes of scratch per input byte: 1 MiB keeps the
 * worst case near 80 MB, far beyond any text CLIP's 77 tokens can use. */
#define CS_TOK_MAX_TEXT_BYTES (1u << 20)

/* Pieces whose byte count exceeds this use the O(n log n) heap BPE instead of the
 * quadratic scan (both give identical results; the scan is faster for short words). */
#define CS_TOK_BPE_SCAN_MAX 64

/* ---- generated data (tokenizer_tables.c) ------------------------------------------ */
typedef struct { uint32_t lo, hi; } cs__tok_range;
typedef struct { uint32_t from, to; } cs__tok_cpmap;
typedef struct { const char *name; uint32_t cp[2]; } cs__tok_entity; /* cp[1] 0 if unused */
typedef struct { uint32_t cp; uint32_t n; uint32_t seq[3]; } cs__tok_lower_exc;

/* Which alternative of the split pattern a code point can start/continue. */
typedef enum {
    CS_TOK_OTHER = 0,  /* [^\s\p{L}\p{N}]+ */
    CS_TOK_LETTER,     /* [\p{L}]+ */
    CS_TOK_NUMBER,     /* [\p{N}] (one per piece) */
    CS_TOK_SPACE,      /* \s: never part of a piece */
    CS_TOK_UNMATCHED   /* matched by no alternative (IGNORECASE quirk): dropped */
} cs__tok_class;
typedef struct { uint32_t cp; cs__tok_class cls; } cs__tok_class_override;

extern const cs__tok_entity cs__tok_html5[];          /* sorted by name (bytes) */
extern const size_t cs__tok_html5_count;
extern const cs__tok_cpmap cs__tok_invalid_charrefs[]; /* html._invalid_charrefs */
extern const size_t cs__tok_invalid_charrefs_count;
extern const cs__tok_range cs__tok_invalid_codepoints[]; /* html._invalid_codepoints */
extern const size_t cs__tok_invalid_codepoints_count;
extern const cs__tok_range cs__tok_py_space[];        /* str.isspace() */
extern const size_t cs__tok_py_space_count;
extern const cs__tok_range cs__tok_white_space[];     /* regex \s (White_Space) */
extern const size_t cs__tok_white_space_count;
extern const cs__tok_lower_exc cs__tok_lower_exceptions[]; /* str.lower() != utf8proc */
extern const size_t cs__tok_lower_exceptions_count;
extern const size_t cs__tok_lower_max;
extern const cs__tok_range cs__tok_case_ignorable[];  /* Python's Case_Ignorable */
extern const size_t cs__tok_case_ignorable_count;
extern const cs__tok_range cs__tok_cased[];           /* Cased and not Case_Ignorable */
extern const size_t cs__tok_cased_count;
extern const cs__tok_class_override cs__tok_class_overrides[];
extern const size_t cs__tok_class_overrides_count;
extern const cs__tok_cpmap cs__tok_ascii_fold[];      /* non-ASCII == ASCII letter, IGNORECASE */
extern const size_t cs__tok_ascii_fold_count;

/* ---- Unicode helpers (tokenizer_unicode.c) --------------------------------------- */
bool cs__tok_in_ranges(const cs__tok_range *r, size_t n, uint32_t cp);
bool cs__tok_is_py_space_slow(uint32_t cp);
bool cs__tok_is_white_space_slow(uint32_t cp);
cs__tok_class cs__tok_classify_slow(uint32_t cp);
/* Python str.isspace / str.strip (includes U+001C..U+001F). */
static inline bool cs__tok_is_py_space(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cs__tok_is_py_space_slow(cp);
}
/* The regex module's \s (Unicode White_Space). */
static inline bool cs__tok_is_white_space(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
    return cs__tok_is_white_space_slow(cp);
}
static inline cs__tok_class cs__tok_classify(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return CS_TOK_LETTER;
        if (cp >= '0' && cp <= '9')
            return CS_TOK_NUMBER;
        return cs__tok_is_white_space(cp) ? CS_TOK_SPACE : CS_TOK_OTHER;
    }
    return cs__tok_classify_slow(cp);
}
/* ASCII letter that cp equals under the split regex's IGNORECASE, else cp. */
uint32_t cs__tok_ascii_fold_cp(uint32_t cp);
/* Writes str.lower() of one code point (not capital sigma) to out[3]; returns count. */
size_t cs__tok_lower_cp(uint32_t cp, uint32_t out[3]);
enum { CS_TOK_SIGMA_OTHER = 0, CS_TOK_SIGMA_CASED = 1, CS_TOK_SIGMA_IGNORABLE = 2 };
int cs__tok_sigma_class(uint32_t cp);

/* ---- normalisation (tokenizer_normalize.c, tokenizer_html.c) --------------------- */
/* Decodes n bytes into out (capacity n); returns the code point count. */
size_t cs__tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *out);
/* Encodes cp to UTF-8 (cp < 0x110000); returns 1..4. */
size_t cs__tok_utf8_encode(uint32_t cp, uint8_t out[4]);
/* Python html.unescape, in place (the result is never longer); returns the new length. */
size_t cs__tok_html_unescape(uint32_t *s, size_t n);
/* strip, collapse White_Space runs to ' ', strip; in place; returns the new length. */
size_t cs__tok_clean_whitespace(uint32_t *s, size_t n);
/* Python str.lower of in[0..n) into out (capacity n * cs__tok_lower_max). */
size_t cs__tok_lower(const uint32_t *in, size_t n, uint32_t *out);

/* ---- splitting (tokenizer_pretok.c) ---------------------------------------------- */
enum { CS_TOK_PIECE_TEXT = 0, CS_TOK_PIECE_SOT = 1, CS_TOK_PIECE_EOT = 2 };
/* Finds the next piece at or after *pos: sets *start, *len, *kind (SOT/EOT when the
 * piece is exactly the special token) and advances *pos. Returns false at the end. */
bool cs__tok_next_piece(const uint32_t *s, size_t n, size_t *pos, size_t *start,
                       size_t *len, int *kind);

/* ---- loaded tokenizer (tokenizer_load.c) ----------------------------------------- */
typedef struct {
    uint64_t key;  /* (left << 32) | right; CS_TOK_EMPTY_KEY when unused */
    int32_t rank;
    int32_t id;    /* id of the merged token */
} cs__tok_merge_slot;
#define CS_TOK_EMPTY_KEY UINT64_MAX
#define CS_TOK_NO_RANK INT32_MAX

struct cs_tokenizer {
    int32_t sot, eot;
    size_t vocab_size;  /* max id + 1 */
    size_t n_entries;   /* vocab.json entries */
    size_t n_merges;    /* merges read (distinct pairs may be fewer) */
    int32_t byte_id[256];     /* byte-alphabet symbol of each byte */
    int32_t byte_end_id[256]; /* the same with "</w>" */
    cs__tok_merge_slot *merges;
    size_t merge_mask;        /* capacity - 1 (power of two) */
};

static inline uint64_t cs__tok_pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}
static inline size_t cs__tok_pair_hash(uint64_t key)
{
    key ^= key >> 29;
    key *= 0xBF58476D1CE4E5B9ull;
    key ^= key >> 32;
    return (size_t)key;
}
/* The merge of (a, b): rank (CS_TOK_NO_RANK if none) and merged id. */
static inline int32_t cs__tok_merge_lookup(const cs_tokenizer *t, int32_t a, int32_t b,
                                          int32_t *merged)
{
    uint64_t key = cs__tok_pair_key(a, b);
    size_t i = cs__tok_pair_hash(key) & t->merge_mask;
    for (;;) {
        const cs__tok_merge_slot *s = &t->merges[i];
        if (s->key == key) {
            *merged = s->id;
            return s->rank;
        }
        if (s->key == CS_TOK_EMPTY_KEY)
            return CS_TOK_NO_RANK;
        i = (i + 1) & t->merge_mask;
    }
}

/* Parses vocab.json (tokenizer_vocab.c): calls add(token bytes, id) for every entry. */
typedef int (*cs__tok_vocab_add_fn)(void *ctx, const uint8_t *tok, size_t len, int64_t id);
int cs__tok_parse_vocab(const uint8_t *json, size_t len, const char *path,
                       cs__tok_vocab_add_fn add, void *ctx, cs_error *err);

/* ---- token string -> id map, load time only (tokenizer_vmap.c) -------------------- */
typedef struct {
    uint32_t hash;     /* low bits of the 64-bit hash (a quick reject before memcmp) */
    uint32_t off;      /* key bytes in the arena */
    uint32_t len;
    int32_t id;        /* -1: empty slot */
} cs__tok_vslot; /* 16 bytes: the table stays small enough for the cache */

typedef struct {
    cs__tok_vslot *slots;
    size_t mask, count;
    uint8_t *arena;
    size_t arena_len;
    int64_t max_id;
    const char *path;
    cs_error *err;
} cs__tok_vmap;

cs__tok_vslot *cs__tok_vmap_find(const cs__tok_vmap *m, const uint8_t *key, size_t len, uint64_t h);
/* Sizes the table for about `expect` keys (then grows itself as keys are added). */
int cs__tok_vmap_grow(cs__tok_vmap *m, size_t expect);
int32_t cs__tok_vmap_get(const cs__tok_vmap *m, const uint8_t *key, size_t len); /* -1: none */
/* A cs__tok_vocab_add_fn: ctx is the map; the arena must hold all key bytes. */
int cs__tok_vmap_add(void *ctx, const uint8_t *key, size_t len, int64_t id);
/* Reads merges.txt (tokenizer_merges.c) into t->merges / t->n_merges. */
int cs__tok_load_merges(cs_tokenizer *t, const cs__tok_vmap *m, const uint8_t *txt, size_t len,
                       const char *path, size_t limit, cs_error *err);

/* ---- BPE (tokenizer_bpe.c) -------------------------------------------------------- */
/* Growable scratch owned by one encode call; ordinary words fit the inline buffer, so
 * encoding a query does not call malloc for BPE at all. */
#define CS_TOK_WS_INLINE 128
typedef struct {
    int32_t *sym;     /* symbol ids */
    int32_t *rank;    /* scan: rank of pair (i, i+1); heap: unused */
    int32_t *aux;     /* scan: merged id / flags; heap: prev/next links (2 * cap) */
    void *heap;
    size_t cap;       /* symbols */
    size_t heap_cap;  /* heap entries */
    int32_t inline_buf[4 * CS_TOK_WS_INLINE];
} cs__tok_bpe_ws;

void cs__tok_bpe_ws_init(cs__tok_bpe_ws *ws); /* cheap: does not clear the inline buffer */
void cs__tok_bpe_ws_free(cs__tok_bpe_ws *ws);
/* Runs BPE over sym[0..n) (byte-alphabet ids, last one with "</w>") in ws->sym;
 * returns the resulting count (ids in ws->sym[0..count)) or -1 when out of memory.
 * path: 0 = automatic, 1 = force the scan, 2 = force the heap (tests). */
long cs__tok_bpe(const cs_tokenizer *t, cs__tok_bpe_ws *ws, size_t n, int path);
/* Makes ws->sym hold at least n symbols (contents are not kept); false when out of
 * memory. */
bool cs__tok_bpe_reserve(cs__tok_bpe_ws *ws, size_t n);

#endif
