/* TEMPORARY: placeholders until the real files land. */
#include "store/store_internal.h"
#include <string.h>
#define NI(err) cs_error_set(err, CS_E_UNSUPPORTED, "not implemented yet")
int cs_validate_name(const char *name, bool u, cs_error *err) { (void)name; (void)u; (void)err; return 0; }
int cs_sqlite_backend_open(const char *path, cs_backend **out, cs_error *err) { (void)path; *out = NULL; return NI(err); }
int cs_collection_upsert(cs_collection *c, const cs_record_in *r, size_t n, cs_error *err) { (void)c; (void)r; (void)n; return NI(err); }
int cs_collection_fetch(cs_collection *c, const char *const *ids, size_t n, cs_records *o, cs_error *err) { (void)c; (void)ids; (void)n; cs_records_init(o); return NI(err); }
int cs_collection_get_record(cs_collection *c, const char *id, cs_records *o, cs_error *err) { (void)c; (void)id; cs_records_init(o); return NI(err); }
int cs_collection_delete_ids(cs_collection *c, const char *const *ids, size_t n, cs_records *o, cs_error *err) { (void)c; (void)ids; (void)n; if (o) cs_records_init(o); return NI(err); }
int cs_collection_delete_filter(cs_collection *c, const char *f, cs_records *o, cs_error *err) { (void)c; (void)f; if (o) cs_records_init(o); return NI(err); }
void cs_query_init(cs_query *q) { memset(q, 0, sizeof *q); q->limit = 10; q->probes = 10; q->ef_search = 40; }
int cs_collection_query(cs_collection *c, const cs_query *q, cs_records *o, cs_error *err) { (void)c; (void)q; cs_records_init(o); return NI(err); }
int cs_collection_scan(cs_collection *c, const char *f, bool v, cs_records *o, cs_error *err) { (void)c; (void)f; (void)v; cs_records_init(o); return NI(err); }
void cs_index_spec_init(cs_index_spec *s) { memset(s, 0, sizeof *s); s->replace = true; }
int cs_collection_create_index(cs_collection *c, const cs_index_spec *s, cs_error *err) { (void)c; (void)s; return NI(err); }
int cs_filter_parse(const char *t, cs_filter **out, cs_error *err) { (void)t; *out = NULL; return NI(err); }
void cs_filter_free(cs_filter *f) { (void)f; }
const char *cs_filter_op_name(cs_filter_op op) { (void)op; return "?"; }
