/* Character properties for the CLIP tokenizer: utf8proc categories and case mapping,
 * corrected by the generated tables where Python (or the `regex` module) differs. */
#include <stdlib.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_internal.h"

/* bsearch comparators: a code point against a sorted table's entry. */
static int cmp_range(const void *key, const void *entry)
{
    uint32_t cp = *(const uint32_t *)key;
    const cs__tok_range *r = entry;
    return cp < r->lo ? -1 : cp > r->hi ? 1 : 0;
}

static int cmp_cpmap(const void *key, const void *entry)
{
    uint32_t cp = *(const uint32_t *)key, from = ((const cs__tok_cpmap *)entry)->from;
    return cp < from ? -1 : cp > from ? 1 : 0;
}

bool cs__tok_in_ranges(const cs__tok_range *r, size_t n, uint32_t cp)
{
    return bsearch(&cp, r, n, sizeof *r, cmp_range) != NULL;
}

static const cs__tok_cpmap *find_cpmap(const cs__tok_cpmap *m, size_t n, uint32_t cp)
{
    return bsearch(&cp, m, n, sizeof *m, cmp_cpmap);
}

bool cs__tok_is_py_space_slow(uint32_t cp)
{
    return cs__tok_in_ranges(cs__tok_py_space, cs__tok_py_space_count, cp);
}

bool cs__tok_is_white_space_slow(uint32_t cp)
{
    return cs__tok_in_ranges(cs__tok_white_space, cs__tok_white_space_count, cp);
}

/* Non-ASCII code points (the ASCII cases are inline in tokenizer_internal.h). */
cs__tok_class cs__tok_classify_slow(uint32_t cp)
{
    if (cs__tok_is_white_space_slow(cp))
        return CS_TOK_SPACE;
    for (size_t i = 0; i < cs__tok_class_overrides_count; i++)
        if (cs__tok_class_overrides[i].cp == cp)
            return cs__tok_class_overrides[i].cls;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return CS_TOK_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return CS_TOK_NUMBER;
    default:
        return CS_TOK_OTHER;
    }
}

uint32_t cs__tok_ascii_fold_cp(uint32_t cp)
{
    if (cp < 0x80)
        return cp;
    const cs__tok_cpmap *m = find_cpmap(cs__tok_ascii_fold, cs__tok_ascii_fold_count, cp);
    return m ? m->to : cp;
}

size_t cs__tok_lower_cp(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    for (size_t i = 0; i < cs__tok_lower_exceptions_count; i++) {
        const cs__tok_lower_exc *e = &cs__tok_lower_exceptions[i];
        if (e->cp == cp && e->n > 0) {
            for (uint32_t k = 0; k < e->n; k++)
                out[k] = e->seq[k];
            return e->n;
        }
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

int cs__tok_sigma_class(uint32_t cp)
{
    if (cs__tok_in_ranges(cs__tok_case_ignorable, cs__tok_case_ignorable_count, cp))
        return CS_TOK_SIGMA_IGNORABLE;
    if (cs__tok_in_ranges(cs__tok_cased, cs__tok_cased_count, cp))
        return CS_TOK_SIGMA_CASED;
    return CS_TOK_SIGMA_OTHER;
}
