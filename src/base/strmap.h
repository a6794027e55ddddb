/* String-keyed hash map (open addressing). Keys are NOT copied: they must outlive the
 * map (the indexer keeps them in its record/job arrays). */
#ifndef CS_BASE_STRMAP_H
#define CS_BASE_STRMAP_H

#include <stddef.h>

typedef struct cs__strmap cs__strmap;

cs__strmap *cs__strmap_new(void);
void cs__strmap_free(cs__strmap *m);
/* Inserts or replaces. 0, or -1 on OOM. */
int cs__strmap_put(cs__strmap *m, const char *key, void *value);
/* Inserts only when absent; returns the value now stored (existing or new), NULL on OOM. */
void *cs__strmap_put_if_absent(cs__strmap *m, const char *key, void *value);
void *cs__strmap_get(const cs__strmap *m, const char *key);
size_t cs__strmap_len(const cs__strmap *m);

#endif
