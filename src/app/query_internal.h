/* Between query.c and query_terms.c. */
#ifndef CS_APP_QUERY_INTERNAL_H
#define CS_APP_QUERY_INTERNAL_H

#include "clipsearch/query.h"

/* The normalised query vector of req->terms (an algebra query; see query.h). */
int cs__query_embed_terms(const cs_clip *model, const cs_search_request *req, float *out,
                          cs_error *err);

#endif
