#include "base/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

typedef struct {
    const char *key;   /* NULL = empty slot */
    void *value;
} slot;

struct cs__strmap {
    slot *slots;
    size_t cap, n;
};

cs__strmap *cs__strmap_new(void)
{
    cs__strmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void cs__strmap_free(cs__strmap *m)
{
    if (!m) return;
    free(m->slots);
    free(m);
}

static size_t find(const slot *slots, size_t cap, const char *key)
{
    size_t i = (size_t)cs__hash64(key, strlen(key)) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

static int grow(cs__strmap *m)
{
    size_t ncap = m->cap * 2;
    slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) ns[find(ns, ncap, m->slots[i].key)] = m->slots[i];
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int cs__strmap_put(cs__strmap *m, const char *key, void *value)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0) return -1;
    size_t i = find(m->slots, m->cap, key);
    if (!m->slots[i].key) {
        m->slots[i].key = key;
        m->n++;
    }
    m->slots[i].value = value;
    return 0;
}

void *cs__strmap_put_if_absent(cs__strmap *m, const char *key, void *value)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0) return NULL;
    size_t i = find(m->slots, m->cap, key);
    if (!m->slots[i].key) {
        m->slots[i].key = key;
        m->slots[i].value = value;
        m->n++;
    }
    return m->slots[i].value;
}

void *cs__strmap_get(const cs__strmap *m, const char *key)
{
    size_t i = find(m->slots, m->cap, key);
    return m->slots[i].key ? m->slots[i].value : NULL;
}

size_t cs__strmap_len(const cs__strmap *m) { return m->n; }
