/* The collection's attributes (store.h): validated as a JSON object and stored compact,
 * so what a backend keeps is always parseable whatever the caller passed. */
#include <jansson.h>
#include <stdlib.h>

#include "store/store_internal.h"

int cs_collection_get_attrs(cs_collection *coll, char **json, cs_error *err)
{
    *json = NULL;
    cs_backend *b = coll->store->backend;
    return b->ops->get_attrs(b, coll->name, json, err);
}

int cs_collection_set_attrs(cs_collection *coll, const char *json, cs_error *err)
{
    cs_backend *b = coll->store->backend;
    int rc = cs__store_check_writable(coll->store, "set collection attributes", err);
    if (rc) return rc;
    if (!json) return b->ops->set_attrs(b, coll->name, NULL, err);
    json_error_t je;
    json_t *v = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!v || !json_is_object(v)) {
        json_decref(v);
        return cs_error_set(err, CS_E_ARG, "collection attributes must be a JSON object%s%s",
                            v ? "" : ": ", v ? "" : je.text);
    }
    char *compact = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    if (!compact) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    rc = b->ops->set_attrs(b, coll->name, compact, err);
    free(compact);
    return rc;
}
