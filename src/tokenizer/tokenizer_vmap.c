/* Token string -> id map used while loading (vocab.json keys; merges.txt looks its
 * tokens up here). Open addressing over 16-byte slots, keys in one arena. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer/tokenizer_internal.h"

cs__tok_vslot *cs__tok_vmap_find(const cs__tok_vmap *m, const uint8_t *key, size_t len, uint64_t h)
{
    size_t i = (size_t)(h >> 32) & m->mask;
    for (;;) {
        cs__tok_vslot *s = &m->slots[i];
        if (s->id < 0 || (s->hash == (uint32_t)h && s->len == len &&
                          memcmp(m->arena + s->off, key, len) == 0))
            return s;
        i = (i + 1) & m->mask;
    }
}

/* Sizes the table for about `expect` keys (grown later if needed). */
int cs__tok_vmap_grow(cs__tok_vmap *m, size_t expect)
{
    size_t cap = m->slots ? 2 * (m->mask + 1) : 1024;
    while (cap < 2 * expect)
        cap *= 2;
    cs__tok_vslot *old = m->slots;
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
            *cs__tok_vmap_find(m, k, old[i].len, XXH3_64bits(k, old[i].len)) = old[i];
        }
    free(old);
    return 0;
}

int32_t cs__tok_vmap_get(const cs__tok_vmap *m, const uint8_t *key, size_t len)
{
    return cs__tok_vmap_find(m, key, len, XXH3_64bits(key, len))->id;
}

int cs__tok_vmap_add(void *ctx, const uint8_t *key, size_t len, int64_t id)
{
    cs__tok_vmap *m = ctx;
    if ((m->count + 1) * 2 > m->mask + 1 && cs__tok_vmap_grow(m, 0) != 0)
        return m->err->code;
    uint64_t h = XXH3_64bits(key, len);
    cs__tok_vslot *s = cs__tok_vmap_find(m, key, len, h);
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
