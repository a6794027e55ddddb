/* Record ids of files and display text of paths. Ids: a lossless, injective mapping between a path's raw bytes (Linux
 * names need not be UTF-8) and a string that every store can hold and every terminal can
 * print (valid UTF-8, no control characters).
 *
 *   - A path that is valid UTF-8, has no control character (U+0000-U+001F, U+007F,
 *     U+0080-U+009F) and does not start with "file:" is its own id: what Python vecs users
 *     and the search results show is the real path.
 *   - Any other path P becomes a file: IRI (RFC 8089 / RFC 3987): "file://" + E(P) when
 *     P starts with "/", else "file:" + E(P), where E keeps ASCII letters, digits,
 *     - . _ ~ ! $ & ' ( ) * + , ; = : @ / and valid UTF-8 characters beyond ASCII that are
 *     not controls, and writes every other byte as %XX (upper-case hex) — "%" and "\"
 *     included. E.g. /photos/caf<E9>.jpg -> file:///photos/caf%E9.jpg,
 *     /photos/a<LF>b.jpg -> file:///photos/a%0Ab.jpg, while a file literally named
 *     "caf\xE9.jpg" or "caf%E9.jpg" keeps that name as its id.
 * Injective: clean paths never start with "file:" and every marked id decodes back to
 * its path, so decode(encode(p)) == p for every byte string. In Python:
 * `urllib.parse.unquote_to_bytes(id.removeprefix("file://"))` for a marked id. */
#ifndef CS_BASE_PATHID_H
#define CS_BASE_PATHID_H

#include <stdbool.h>

#include "clipsearch/error.h"

/* Whether path is its own id (the first rule above). */
bool cs__path_id_is_plain(const char *path);
/* The id of a path's bytes. malloc'd; NULL on OOM. */
char *cs__path_to_id(const char *path);
/* The path an id names: the id itself unless it starts with "file:"; then the
 * percent-decoded rest ("file://" must be followed by "/": a host other than the empty
 * one names no local file). CS_E_ARG for a malformed "file:" id (bad %-escape, %00,
 * a host), CS_E_NOMEM. *out is malloc'd. Any %XX is accepted (lower-case hex, escaped
 * characters that needed none), so ids other programs wrote as file: URIs work too. */
int cs__path_from_id(const char *id, char **out, cs_error *err);

/* A file:// URL of an absolute path for links (gallery): every byte that is not an
 * unreserved or safe ASCII character written as %XX. NULL for a relative path or OOM. */
char *cs__path_to_file_url(const char *path);

/* Display text of a raw path (the indexer's metadata "name"): valid UTF-8
 * where bytes that are not part of valid UTF-8 and control characters (as above) become
 * "\xNN". Readable but not lossless: "\xE9" may also be the four characters of a name;
 * ids are the lossless form. NULL on OOM. */
char *cs__path_escape(const char *raw);

#endif
