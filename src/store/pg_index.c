/* create_index (spec §8): drop the recognised vector index and create the new one in one
 * transaction, with vecs' names, defaults and IVFFlat list formula. pgvector enforces its
 * own ranges (m, ef_construction, lists, dimensions, no IVFFlat for L1); its refusals roll
 * the transaction back, so the previous index is kept. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "store/pg_internal.h"

/* vecs uses the first 7 hex digits of a random UUID; getrandom keeps the library free of
 * global PRNG state. */
static int random_suffix(char out[8], cs_error *err)
{
    unsigned char bytes[4];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
        return cs_error_set(err, CS_E_INTERNAL, "cannot read random bytes for an index name");
    snprintf(out, 8, "%02x%02x%02x%x", bytes[0], bytes[1], bytes[2], bytes[3] & 0xf);
    return 0;
}

/* Spec §8: n < 1,000,000 -> trunc(max(n / 1000, 30)), else trunc(sqrt(n)). */
static int default_lists(int64_t n)
{
    if (n < 1000000) return n / 1000 > 30 ? (int)(n / 1000) : 30;
    return (int)sqrt((double)n);
}

static int create_in_tx(cs__pg *pg, const char *name, const cs_index_spec *spec, cs_error *err)
{
    char *old = NULL;
    int rc = cs__pg_find_index(pg, name, &old, err);
    if (rc) return rc;
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    if (old) {
        if (!spec->replace) {
            free(old);
            return cs_error_set(err, CS_E_ARG, "replace is set to False but an index exists");
        }
        cs__pg_sql_add(&s, "DROP INDEX vecs.");
        cs__pg_sql_ident(&s, old);
        free(old);
        rc = cs__pg_run(pg, &s, NULL, err);
        cs__pg_sql_free(&s);
        if (rc) return rc;
    }
    char suffix[8];
    if ((rc = random_suffix(suffix, err))) return rc;
    const char *ops = cs__pg_measure_opclass(spec->measure);
    char ix[128];
    if (spec->method == CS_INDEX_IVFFLAT) {
        int lists = spec->n_lists;
        if (lists == CS_INDEX_ARG_DEFAULT) {
            int64_t n = 0;
            if ((rc = cs__pg_count(&pg->base, name, &n, err))) return rc;
            lists = default_lists(n);
        }
        snprintf(ix, sizeof ix, "ix_%s_ivfflat_nl%d_%s", ops, lists, suffix);
        cs__pg_sql_add(&s, "CREATE INDEX ");
        cs__pg_sql_ident(&s, ix);
        cs__pg_sql_add(&s, " ON ");
        cs__pg_sql_table(&s, name);
        cs__pg_sql_addf(&s, " USING ivfflat (vec %s) WITH (lists = %d)", ops, lists);
    } else {
        int m = spec->m == CS_INDEX_ARG_DEFAULT ? 16 : spec->m;
        int efc = spec->ef_construction == CS_INDEX_ARG_DEFAULT ? 64 : spec->ef_construction;
        snprintf(ix, sizeof ix, "ix_%s_hnsw_m%d_efc%d_%s", ops, m, efc, suffix);
        cs__pg_sql_add(&s, "CREATE INDEX ");
        cs__pg_sql_ident(&s, ix);
        cs__pg_sql_add(&s, " ON ");
        cs__pg_sql_table(&s, name);
        cs__pg_sql_addf(&s, " USING hnsw (vec %s) WITH (m = %d, ef_construction = %d)", ops,
                       m, efc);
    }
    rc = cs__pg_run(pg, &s, NULL, err);
    cs__pg_sql_free(&s);
    return rc;
}

int cs__pg_create_index(cs__backend *b, const char *name, const cs_index_spec *spec,
                       cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    int rc = cs__pg_begin(pg, err);
    if (rc) return rc;
    rc = cs__pg_end(pg, create_in_tx(pg, name, spec, err), err);
    if (rc && rc != CS_E_ARG) cs_error_prefix(err, "create_index on '%s'", name);
    return rc;
}
