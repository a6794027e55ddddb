/* Compressed copies of a vector cache (cs_vector_copy, store.h) and the exact top-k that
 * scans them first.
 *
 * The copy holds every row of a cs__vcache base as fp16 (round to nearest even) or int8
 * with one scale per row (x ~ scale * c, c in -127..127, scale = max|x| / 127). A query
 * scans the copy, which is 2x or 4x fewer bytes than the float32 vectors, and gets for
 * each row an approximate distance with a proven error bound (quantisation error plus
 * the float32 rounding of both kernels). Every row whose lower bound does not exceed the
 * k-th smallest upper bound may be in the exact top k; only those rows are scored again,
 * by cs__vscan_topk itself on the float32 vectors. The result is therefore the float32
 * scan's own, bit for bit, ties and NaN included: compression changes the speed, never
 * the answer. Rows whose bound is not finite (zero or overflowing vectors) are always
 * re-scored.
 *
 * The copy is derived like the cache: built from the float32 rows, and saved next to the
 * cache file ("<table>.fp16" / "<table>.int8" beside "<table>.bin") for the generation
 * of the rows it copies, so later processes map it. */
#ifndef CS_STORE_VQUANT_H
#define CS_STORE_VQUANT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "clipsearch/store.h"
#include "store/vcache.h"
#include "store/vscan.h"

/* Quantises every row of vc into a copy of `kind` held in memory (replacing any copy);
 * kind NONE drops the copy. 0, or -1 when out of memory (vc then has no copy). */
int cs__vquant_build(cs__vcache *vc, cs_vector_copy kind);
/* Frees or unmaps vc's copy; vc->copy becomes NONE. */
void cs__vquant_release(cs__vcache *vc);

/* The copy file that goes with the cache file `bin_file` ("....bin"); -1 when it does not
 * fit in cap. */
int cs__vquant_path(const char *bin_file, cs_vector_copy kind, char *out, size_t cap);
/* Maps `file` as vc's copy when it is a valid copy of kind `kind` for vc's table,
 * dimension, row count and generation: 0, else 1 (absent, stale or damaged). */
int cs__vquant_open(const char *file, const char *tbl, cs__vcache *vc, cs_vector_copy kind);
/* Writes the copy of the concatenated runs (see cs__vcache_save_runs) at generation gen,
 * taking each run's rows from its own copy when it has one of this kind and quantising
 * the others. Best effort: 0 or -1 (no file); gives up soon after *stop is set. */
int cs__vquant_save_runs(const cs__vcache_run *runs, size_t nruns, cs_vector_copy kind,
                         int dim, int64_t gen, const char *tbl, const char *file,
                         const atomic_bool *stop);

/* Whether a query with measure m can scan vc's copy (L1 cannot: no bound is kept for it). */
bool cs__vquant_usable(const cs__vcache *vc, cs_measure m);
/* Exactly cs__vscan_topk(m, q, vc->vecs, vc->norms2, vc->dim, rows, n, k, hits), computed
 * through the copy (see above), except that without `rows` the ascending positions
 * skip[0..nskip) are left out (rows deleted since the base was made). Returns the number
 * of hits or -1 when out of memory. */
long cs__vscan_topk_quant(cs_measure m, const float *q, const cs__vcache *vc,
                          const uint32_t *rows, size_t n, const uint32_t *skip, size_t nskip,
                          size_t k, cs__vscan_hit *hits);

#endif
