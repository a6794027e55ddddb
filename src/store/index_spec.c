/* create_index arguments (spec §8): vecs' client-side checks in vecs' order, the ranges
 * pgvector enforces (used by the SQLite backend to refuse what the server would), index
 * names of vecs' form and the IVFFlat default list count. */
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void cs_index_spec_init(cs_index_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->method = CS_INDEX_AUTO;
    spec->measure = CS_MEASURE_COSINE;
    spec->m = spec->ef_construction = spec->n_lists = CS_INDEX_ARG_DEFAULT;
    spec->replace = true;
}

int cs__index_spec_validate(const cs_index_spec *in, bool hnsw_available, cs_index_spec *out,
                           cs_error *err)
{
    if ((unsigned)in->method > CS_INDEX_IVFFLAT)
        return cs_error_set(err, CS_E_ARG, "invalid index method %d", (int)in->method);
    bool hnsw_args = in->m != CS_INDEX_ARG_DEFAULT || in->ef_construction != CS_INDEX_ARG_DEFAULT,
         ivf_args = in->n_lists != CS_INDEX_ARG_DEFAULT;
    if (hnsw_args || ivf_args) {
        if (in->method == CS_INDEX_AUTO)
            return cs_error_set(err, CS_E_ARG,
                                "index arguments are only allowed with an explicit index method "
                                "(hnsw or ivfflat), not auto");
        if (in->method == CS_INDEX_HNSW && ivf_args)
            return cs_error_set(err, CS_E_ARG, "n_lists is an IVFFlat argument, not valid for hnsw");
        if (in->method == CS_INDEX_IVFFLAT && hnsw_args)
            return cs_error_set(err, CS_E_ARG,
                                "m / ef_construction are HNSW arguments, not valid for ivfflat");
    }
    *out = *in;
    if (out->method == CS_INDEX_AUTO) out->method = hnsw_available ? CS_INDEX_HNSW : CS_INDEX_IVFFLAT;
    if (out->method == CS_INDEX_HNSW && !hnsw_available)
        return cs_error_set(err, CS_E_ARG,
                            "HNSW Unavailable. Upgrade your pgvector installation to > 0.5.0 to "
                            "enable HNSW support");
    if ((unsigned)in->measure > CS_MEASURE_L1)
        return cs_error_set(err, CS_E_ARG, "Unknown index measure %d", (int)in->measure);
    if (out->method == CS_INDEX_HNSW) {
        if (in->m == CS_INDEX_ARG_DEFAULT) out->m = 16;
        if (in->ef_construction == CS_INDEX_ARG_DEFAULT) out->ef_construction = 64;
    }
    return 0;
}

int cs__index_spec_check_ranges(const cs_index_spec *spec, int dimension, cs_error *err)
{
    if (spec->method == CS_INDEX_HNSW) {
        if (spec->m < 2 || spec->m > 100)
            return cs_error_set(err, CS_E_DATABASE,
                                "value %d out of bounds for option \"m\" (valid values are between 2 and 100)",
                                spec->m);
        if (spec->ef_construction < 4 || spec->ef_construction > 1000)
            return cs_error_set(err, CS_E_DATABASE,
                                "value %d out of bounds for option \"ef_construction\" (valid values are "
                                "between 4 and 1000)",
                                spec->ef_construction);
        if (dimension > 2000)
            return cs_error_set(err, CS_E_DATABASE,
                                "column cannot have more than 2000 dimensions for hnsw index");
        if (spec->ef_construction < 2 * spec->m)
            return cs_error_set(err, CS_E_DATABASE,
                                "ef_construction must be greater than or equal to 2 * m");
        return 0;
    }
    if (spec->measure == CS_MEASURE_L1)
        return cs_error_set(err, CS_E_DATABASE,
                            "operator class \"vector_l1_ops\" does not exist for access method \"ivfflat\"");
    if (spec->n_lists < 1 || spec->n_lists > 32768)
        return cs_error_set(err, CS_E_DATABASE,
                            "value %d out of bounds for option \"lists\" (valid values are between 1 and 32768)",
                            spec->n_lists);
    if (dimension > 2000)
        return cs_error_set(err, CS_E_DATABASE,
                            "column cannot have more than 2000 dimensions for ivfflat index");
    return 0;
}

int cs__ivfflat_default_lists(int64_t rows)
{
    if (rows < 1000000) {
        double l = (double)rows / 1000.0;
        return (int)(l > 30 ? l : 30);
    }
    return (int)sqrt((double)rows);
}

int cs__index_name_format(const cs_index_spec *spec, int lists, char *buf, size_t bufsize)
{
    /* vecs: the first 7 hex digits of a random UUID. */
    unsigned int r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16) ^ (unsigned)(size_t)buf;
    char suffix[8];
    snprintf(suffix, sizeof suffix, "%07x", r & 0xFFFFFFFu);
    int n;
    if (spec->method == CS_INDEX_HNSW)
        n = snprintf(buf, bufsize, "ix_%s_hnsw_m%d_efc%d_%s", cs_measure_opclass(spec->measure),
                     spec->m, spec->ef_construction, suffix);
    else
        n = snprintf(buf, bufsize, "ix_%s_ivfflat_nl%d_%s", cs_measure_opclass(spec->measure),
                     lists, suffix);
    return n < 0 || (size_t)n >= bufsize ? -1 : 0;
}

bool cs__index_covers(const char *index_name, cs_measure m)
{
    if (!index_name || (unsigned)m > CS_MEASURE_L1) return false;
    return strstr(index_name, cs_measure_opclass(m)) != NULL;
}
