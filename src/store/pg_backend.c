/* PostgreSQL + pgvector backend: connection, ops table, error mapping (spec §1.1). */
#include <stdlib.h>

#include <libpq-fe.h>

#include "store/backend.h"

int cs_pg_backend_open(const char *conninfo_url, cs_backend **out, cs_error *err)
{
    *out = NULL;
    PGconn *conn = PQconnectdb(conninfo_url);
    if (!conn) return cs_error_set(err, CS_E_NOMEM, "out of memory connecting to PostgreSQL");
    PQfinish(conn);
    return cs_error_set(err, CS_E_UNSUPPORTED, "PostgreSQL backend not implemented yet");
}
