/* Between query.c, query_terms.c and search_session.c. */
#ifndef CS_APP_QUERY_INTERNAL_H
#define CS_APP_QUERY_INTERNAL_H

#include "clipsearch/query.h"

/* The normalised query vector of req->terms (an algebra query; see query.h). */
int cs__query_embed_terms(const cs_clip *model, const cs_search_request *req, float *out,
                          cs_error *err);

/* CS_E_MISMATCHED_DIMENSION when coll holds vectors of another dimension than model's. */
int cs__query_check_dimension(const cs_clip *model, cs_collection *coll, cs_error *err);

/* The vector of the record req->like_id (malloc'd, *dim floats): CS_E_NOT_FOUND naming
 * the id and the collection; CS_E_ARG when req also has terms, a text or an image. */
int cs__query_like_vector(cs_collection *coll, const cs_search_request *req, float **vec,
                          int *dim, cs_error *err);

#endif
