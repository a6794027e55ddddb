/* Store handle: URL dispatch to a backend, default location, collection lifecycle
 * (list, get_or_create, get, drop) with vecs' validation order (spec §2). */
#include "store/store_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *opclass;
} MEASURES[] = {
    [CS_MEASURE_COSINE] = {"cosine_distance", "vector_cosine_ops"},
    [CS_MEASURE_L2] = {"l2_distance", "vector_l2_ops"},
    [CS_MEASURE_IP] = {"max_inner_product", "vector_ip_ops"},
    [CS_MEASURE_L1] = {"l1_distance", "vector_l1_ops"},
};

int cs_measure_parse(const char *name, cs_measure *out, cs_error *err)
{
    for (int m = 0; m < 4; m++)
        if (name && !strcmp(name, MEASURES[m].name)) {
            *out = (cs_measure)m;
            return 0;
        }
    return cs_error_set(err, CS_E_ARG, "Invalid index measure '%s'", name ? name : "(null)");
}

const char *cs_measure_name(cs_measure m)
{
    return (unsigned)m < 4 ? MEASURES[m].name : "unknown";
}

const char *cs_measure_opclass(cs_measure m)
{
    return (unsigned)m < 4 ? MEASURES[m].opclass : "unknown";
}

int cs_store_open(const char *url, cs_store **out, cs_error *err)
{
    return cs_store_open_ex(url, 0, out, err);
}

int cs_store_open_ex(const char *url, unsigned flags, cs_store **out, cs_error *err)
{
    *out = NULL;
    bool ro = flags & CS_STORE_READ_ONLY;
    if (!url || !*url) return cs_error_set(err, CS_E_ARG, "empty store URL");
    cs__backend *b = NULL;
    int rc;
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
        rc = cs__pg_backend_open(url, ro, &b, err);
    } else {
        /* sqlite:///abs.db -> "/abs.db"; sqlite://rel.db -> "rel.db"; else a plain path. */
        const char *path = url;
        if (!strncmp(url, "sqlite://", 9)) path = url + 9;
        else if (strstr(url, "://"))
            return cs_error_set(err, CS_E_ARG, "unsupported store URL scheme in '%.*s'",
                                (int)(strstr(url, "://") - url), url);
        if (!*path) return cs_error_set(err, CS_E_ARG, "store URL '%s' names no file", url);
        rc = cs__sqlite_backend_open(path, ro, &b, err);
    }
    if (rc) return rc;
    cs_store *s = calloc(1, sizeof *s);
    if (!s) {
        b->ops->close(b);
        return cs_error_set(err, CS_E_NOMEM, "out of memory opening store");
    }
    s->backend = b;
    s->read_only = ro;
    *out = s;
    return 0;
}

bool cs_store_is_read_only(const cs_store *store)
{
    return store->read_only;
}

const char *cs_store_location(const cs_store *store)
{
    return store->backend->location ? store->backend->location : "";
}

int cs__store_check_writable(const cs_store *store, const char *what, cs_error *err)
{
    if (!store->read_only) return 0;
    return cs_error_set(err, CS_E_ARG, "cannot %s: the store %s is open read-only", what,
                        cs_store_location(store));
}

void cs_store_close(cs_store *store)
{
    if (!store) return;
    store->backend->ops->close(store->backend);
    free(store);
}

const char *cs_store_backend_name(const cs_store *store)
{
    return store->backend->ops->name;
}

bool cs_store_caches_vectors(const cs_store *store)
{
    return store->backend->ops->caches_vectors;
}

int cs_store_default_url(char *buf, size_t bufsize, cs_error *err)
{
    const char *env = getenv("CLIPSEARCH_DB");
    int n;
    if (env && *env) {
        n = snprintf(buf, bufsize, "%s", env);
    } else {
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && *xdg) {
            n = snprintf(buf, bufsize, "%s/clipsearch/clipsearch.db", xdg);
        } else {
            const char *home = getenv("HOME");
            if (!home || !*home)
                return cs_error_set_remedy(err, CS_E_ARG, CS_REMEDY_CHOOSE_DB,
                                           "cannot find a default database: neither "
                                           "XDG_DATA_HOME nor HOME is set");
            n = snprintf(buf, bufsize, "%s/.local/share/clipsearch/clipsearch.db", home);
        }
    }
    if (n < 0 || (size_t)n >= bufsize)
        return cs_error_set(err, CS_E_ARG, "default database path too long");
    return 0;
}

int cs_store_list(cs_store *store, cs_collection_info **out, size_t *n, cs_error *err)
{
    *out = NULL;
    *n = 0;
    return store->backend->ops->list(store->backend, out, n, err);
}

void cs_collection_info_free(cs_collection_info *infos, size_t n)
{
    if (!infos) return;
    for (size_t i = 0; i < n; i++) free(infos[i].name);
    free(infos);
}

static int make_collection(cs_store *store, const char *name, int dim, cs_collection **out,
                           cs_error *err)
{
    cs_collection *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name))) {
        free(c);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    c->store = store;
    c->dim = dim;
    *out = c;
    return 0;
}

int cs_store_get_or_create(cs_store *store, const char *name, int dimension,
                           cs_collection **out, cs_error *err)
{
    *out = NULL;
    /* vecs: a missing or zero dimension is "not given" -> ArgError (spec §2.1 step 2). */
    if (dimension == 0)
        return cs_error_set(err, CS_E_ARG, "dimension is required for collection '%s'",
                            name ? name : "");
    int rc = cs__validate_name(name, false, err);
    if (rc) return rc;
    cs__backend *b = store->backend;
    int stored = 0;
    bool found = false;
    if ((rc = b->ops->lookup(b, name, &stored, &found, err))) return rc;
    if (found) {
        if (stored != dimension)
            return cs_error_set(err, CS_E_MISMATCHED_DIMENSION,
                                "collection '%s' has dimension %d, not %d", name, stored,
                                dimension);
        return make_collection(store, name, stored, out, err);
    }
    if ((rc = cs__store_check_writable(store, "create a collection", err))) return rc;
    /* The server refuses vector(D) outside 1..16000 (spec §2.1 step 4). */
    if (dimension < 1 || dimension > CS_DIM_MAX)
        return cs_error_set(err, CS_E_DATABASE,
                            "dimensions for type vector must be between 1 and %d (got %d for '%s')",
                            CS_DIM_MAX, dimension, name);
    if ((rc = b->ops->create(b, name, dimension, err))) return rc;
    return make_collection(store, name, dimension, out, err);
}

int cs_store_get(cs_store *store, const char *name, cs_collection **out, cs_error *err)
{
    *out = NULL;
    int rc = cs__validate_name(name, true, err);
    if (rc) return rc;
    if (name[0] == '_')   /* never a collection (spec §1.3) */
        return cs_error_set(err, CS_E_COLLECTION_NOT_FOUND, "collection '%s' not found", name);
    int stored = 0;
    bool found = false;
    if ((rc = store->backend->ops->lookup(store->backend, name, &stored, &found, err)))
        return rc;
    if (!found)
        return cs_error_set(err, CS_E_COLLECTION_NOT_FOUND, "collection '%s' not found", name);
    return make_collection(store, name, stored, out, err);
}

int cs_store_drop(cs_store *store, const char *name, cs_error *err)
{
    /* DROP TABLE IF EXISTS drops any table of that name, '_' names included (spec §2.4). */
    int rc = cs__validate_name(name, true, err);
    if (rc) return rc;
    if ((rc = cs__store_check_writable(store, "drop a collection", err))) return rc;
    return store->backend->ops->drop(store->backend, name, err);
}

void cs_collection_free(cs_collection *coll)
{
    if (!coll) return;
    free(coll->name);
    free(coll);
}

const char *cs_collection_name(const cs_collection *coll)
{
    return coll->name;
}

int cs_collection_dimension(const cs_collection *coll)
{
    return coll->dim;
}
