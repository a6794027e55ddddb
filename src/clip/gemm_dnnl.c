/* GEMM engine on oneDNN's matmul (see gemm.h). Built only with oneDNN (CS_HAVE_DNNL);
 * elsewhere the engine is absent and cs__linear keeps to OpenBLAS.
 *
 * Weights: matmul's B is [K = in, N = out]; a row-major W [out, in] is B in layout "ba".
 * At load each W is reordered once into the layout a matmul primitive for this CPU asks
 * for ("any" resolved for a representative row count), as f32 or bf16. Every later
 * primitive is created with exactly that layout, so the weights are read as prepared.
 *
 * Primitives: one per (rows, in, out, strides, bias, accumulate), created on first use and
 * kept (up to CACHE_MAX; past that a call creates and drops its own). Executing one from
 * several threads at once is safe: memory objects, the stream and the scratchpad
 * (user-managed) belong to the call. oneDNN's threads come from OpenMP: the caller's
 * thread count is set per call with omp_set_num_threads, which is per calling thread. */
#include "clip/gemm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if CS_HAVE_DNNL
#include <omp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.h>

#include "base/simd.h"
#include "clip/workspace.h"

#define CACHE_MAX 512
#define WSLOTS 1024          /* weight map slots (a ViT-B/32 has 146 matrices) */
#define REPRESENTATIVE_ROWS 256
#define HUGE ((size_t)2 << 20)

typedef struct {
    const float *key;        /* the original weight pointer */
    int in, out;
    dnnl_memory_desc_t md;   /* prepared layout */
    void *data;              /* its own mapping (huge pages where the kernel gives them) */
    size_t bytes;
} weight;

typedef struct {
    int rows, in, out, ldx, ldy;
    bool bias, acc;
    const weight *w;         /* layouts are per (in, out), but the desc is compared too */
    dnnl_primitive_t prim;
    size_t scratch;
} prim_entry;

/* Per weight shape, what preparing needs: the chosen layout and the reorder into it
 * (creating them is JIT compilation, ~10 ms; a ViT-B/32 has 146 matrices of 4 shapes). */
typedef struct {
    int in, out;
    dnnl_memory_desc_t user, md;
    dnnl_primitive_t reorder;
} shape_entry;
#define SHAPES_MAX 16

struct cs__gemm {
    dnnl_engine_t eng;
    const uint8_t *map;      /* the read-only file mapping the weights may live in */
    size_t map_size;
    pthread_mutex_t wmu;     /* guards the weight map (filled lazily, on first use) */
    shape_entry shapes[SHAPES_MAX];
    int n_shapes;
    int precision;
    char desc[96];
    weight *slots;           /* open addressing on the pointer; written only at load */
    size_t n_weights, weight_bytes;
    pthread_mutex_t mu;      /* guards the primitive cache */
    prim_entry *cache;
    size_t n_cache;
    cs__workspace *ws;        /* converted inputs and scratchpads, reused between calls */
};

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "cpu";
    }
}

static bool isa_has_bf16(dnnl_cpu_isa_t isa)
{
    return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}

int cs__gemm_create(int precision, cs__gemm **out, cs_error *err)
{
    *out = NULL;
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (precision == CS_PRECISION_BF16 && !isa_has_bf16(isa))
        return cs_error_set(err, CS_E_ARG,
                            "bf16 precision needs a CPU with AVX512-BF16 or AMX; this one "
                            "offers %s (use fp32)", isa_name(isa));
    cs__gemm *g = calloc(1, sizeof *g);
    if (g) g->slots = calloc(WSLOTS, sizeof *g->slots);
    if (g) g->cache = calloc(CACHE_MAX, sizeof *g->cache);
    if (g) g->ws = cs__workspace_create();
    if (!g || !g->slots || !g->cache || !g->ws) {
        cs__gemm_free(g);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_mutex_init(&g->wmu, NULL);
    g->precision = precision;
    if (dnnl_engine_create(&g->eng, dnnl_cpu, 0) != dnnl_success) {
        cs__gemm_free(g);
        return cs_error_set(err, CS_E_INTERNAL, "oneDNN: no CPU engine");
    }
    snprintf(g->desc, sizeof g->desc, "onednn %s (%s)",
             precision == CS_PRECISION_BF16 ? "bf16" : "fp32", isa_name(isa));
    *out = g;
    return 0;
}

void cs__gemm_free(cs__gemm *g)
{
    if (!g) return;
    if (g->slots)
        for (size_t i = 0; i < WSLOTS; i++)
            if (g->slots[i].data) munmap(g->slots[i].data, g->slots[i].bytes);
    if (g->cache)
        for (size_t i = 0; i < g->n_cache; i++) dnnl_primitive_destroy(g->cache[i].prim);
    for (int i = 0; i < g->n_shapes; i++) dnnl_primitive_destroy(g->shapes[i].reorder);
    if (g->eng) {
        dnnl_engine_destroy(g->eng);
        pthread_mutex_destroy(&g->mu);
        pthread_mutex_destroy(&g->wmu);
    }
    cs__workspace_free(g->ws);
    free(g->slots);
    free(g->cache);
    free(g);
}

const char *cs__gemm_describe(const cs__gemm *g) { return g->desc; }

void cs__gemm_probe(char *buf, size_t size)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    snprintf(buf, size, "onednn (%s; bf16 %s)", isa_name(isa),
             isa_has_bf16(isa) ? "available" : "not available on this CPU");
}
size_t cs__gemm_weight_bytes(const cs__gemm *g) { return g->weight_bytes; }

static size_t slot_of(const float *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 54) & (WSLOTS - 1);
}

static const weight *find_weight(const cs__gemm *g, const float *w)
{
    for (size_t i = slot_of(w), n = 0; n < WSLOTS; i = (i + 1) & (WSLOTS - 1), n++) {
        if (g->slots[i].key == w) return &g->slots[i];
        if (!g->slots[i].key) return NULL;
    }
    return NULL;
}

static dnnl_data_type_t act_type(const cs__gemm *g)
{
    return g->precision == CS_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* A matmul primitive descriptor; NULL when oneDNN has no implementation for it. */
static dnnl_primitive_desc_t matmul_pd(const cs__gemm *g, int rows, int in, int out, int ldx,
                                       int ldy, const dnnl_memory_desc_t *wmd, bool bias,
                                       bool acc)
{
    dnnl_memory_desc_t src, dst, bmd;
    dnnl_dims_t sd = {rows, in}, ss = {ldx, 1}, dd = {rows, out}, ds = {ldy, 1},
                bd = {1, out};
    if (dnnl_memory_desc_init_by_strides(&src, 2, sd, act_type(g), ss) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, ds) != dnnl_success ||
        (bias && dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab) != dnnl_success))
        return NULL;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &src, wmd, bias ? &bmd : NULL, &dst) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (acc) {
        if (dnnl_post_ops_create(&po) != dnnl_success ||
            dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success)
            goto done;
    }
    if (dnnl_primitive_desc_create(&pd, &md, attr, g->eng, NULL) != dnnl_success) pd = NULL;
done:
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

/* Runs one primitive with arguments given as (id, desc, pointer). */
static bool run(const cs__gemm *g, dnnl_primitive_t prim, int nargs, const int *ids,
                const dnnl_memory_desc_t *const *mds, void *const *ptrs, size_t scratch,
                int threads)
{
    dnnl_memory_t mem[6] = {0};
    dnnl_exec_arg_t args[6];
    dnnl_memory_desc_t smd;
    void *sbuf = NULL;
    dnnl_stream_t stream = NULL;
    bool ok = false;
    for (int i = 0; i < nargs; i++) {
        if (dnnl_memory_create(&mem[i], mds[i], g->eng, ptrs[i]) != dnnl_success) goto out;
        args[i] = (dnnl_exec_arg_t){ids[i], mem[i]};
    }
    if (scratch) {
        dnnl_dims_t sd = {(dnnl_dim_t)scratch};
        sbuf = cs__workspace_take(g->ws, scratch);
        if (!sbuf || dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_a) != dnnl_success ||
            dnnl_memory_create(&mem[nargs], &smd, g->eng, sbuf) != dnnl_success)
            goto out;
        args[nargs] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[nargs]};
        nargs++;
    }
    if (dnnl_stream_create(&stream, g->eng, dnnl_stream_default_flags) != dnnl_success) goto out;
    omp_set_num_threads(threads > 0 ? threads : 1);
    ok = dnnl_primitive_execute(prim, stream, nargs, args) == dnnl_success &&
         dnnl_stream_wait(stream) == dnnl_success;
out:
    if (stream) dnnl_stream_destroy(stream);
    for (int i = 0; i < 6; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    cs__workspace_give(g->ws, sbuf);
    return ok;
}

/* The layout and reorder for weights of this shape (created once per shape). */
static int shape_for(cs__gemm *g, int out, int in, const shape_entry **sh, cs_error *err)
{
    for (int i = 0; i < g->n_shapes; i++)
        if (g->shapes[i].in == in && g->shapes[i].out == out) {
            *sh = &g->shapes[i];
            return 0;
        }
    if (g->n_shapes == SHAPES_MAX)
        return cs_error_set(err, CS_E_INTERNAL, "oneDNN: too many weight shapes");
    shape_entry e = {in, out, {0}, {0}, NULL};
    dnnl_memory_desc_t any;
    dnnl_dims_t wd = {in, out};
    if (dnnl_memory_desc_init_by_tag(&any, 2, wd, act_type(g), dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&e.user, 2, wd, dnnl_f32, dnnl_ba))
        return cs_error_set(err, CS_E_INTERNAL, "oneDNN: weight descriptor %dx%d", out, in);
    dnnl_primitive_desc_t pd =
        matmul_pd(g, REPRESENTATIVE_ROWS, in, out, in, out, &any, false, false);
    if (!pd) return cs_error_set(err, CS_E_INTERNAL, "oneDNN: no matmul for %dx%d", out, in);
    e.md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_desc_t rpd = NULL;
    if (dnnl_reorder_primitive_desc_create(&rpd, &e.user, g->eng, &e.md, g->eng, NULL) !=
            dnnl_success ||
        dnnl_primitive_create(&e.reorder, rpd) != dnnl_success)
        e.reorder = NULL;
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (!e.reorder)
        return cs_error_set(err, CS_E_INTERNAL, "oneDNN: no reorder for a %dx%d weight", out, in);
    g->shapes[g->n_shapes] = e;
    *sh = &g->shapes[g->n_shapes++];
    return 0;
}

/* The original's pages, once a prepared copy exists, are never read again: handed back
 * (re-read from the file if ever needed) so the weights do not count twice in RSS. */
static void release_original(const cs__gemm *g, const float *w, size_t n)
{
    const uint8_t *p = (const uint8_t *)w, *end = p + n * sizeof(float);
    if (!g->map || p < g->map || end > g->map + g->map_size) return; /* not file-backed */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = (uintptr_t)end & ~(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

static int prepare_locked(cs__gemm *g, const float *w, int out, int in, int threads,
                          cs_error *err)
{
    if (find_weight(g, w)) return 0;
    if (g->n_weights * 2 >= WSLOTS)
        return cs_error_set(err, CS_E_INTERNAL, "oneDNN: too many weight matrices");
    const shape_entry *sh = NULL;
    int rc = shape_for(g, out, in, &sh, err);
    if (rc) return rc;
    size_t bytes = dnnl_memory_desc_get_size(&sh->md);
    /* Page faults, not arithmetic, dominate preparing 600 MB: huge pages cut them 512x. */
    size_t mapped = (bytes + HUGE - 1) / HUGE * HUGE;
    void *data = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return cs_error_set(err, CS_E_NOMEM, "out of memory for prepared weights");
    madvise(data, mapped, MADV_HUGEPAGE);
    weight nw = {w, in, out, sh->md, data, mapped};
    int ids[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    const dnnl_memory_desc_t *mds[2] = {&sh->user, &nw.md};
    void *ptrs[2] = {(void *)w, nw.data};
    if (!run(g, sh->reorder, 2, ids, mds, ptrs, 0, threads)) {
        munmap(nw.data, nw.bytes);
        return cs_error_set(err, CS_E_INTERNAL, "oneDNN: reordering a %dx%d weight failed", out,
                            in);
    }
    size_t i = slot_of(w);
    while (g->slots[i].key) i = (i + 1) & (WSLOTS - 1);
    g->slots[i] = nw;
    g->n_weights++;
    g->weight_bytes += bytes;
    release_original(g, w, (size_t)out * in);
    return 0;
}

int cs__gemm_prepare(cs__gemm *g, const float *w, int out, int in, cs_error *err)
{
    pthread_mutex_lock(&g->wmu);
    int rc = prepare_locked(g, w, out, in, 1, err);
    pthread_mutex_unlock(&g->wmu);
    return rc;
}

void cs__gemm_set_file_mapping(cs__gemm *g, const void *map, size_t size)
{
    g->map = map;
    g->map_size = size;
}

/* The cached primitive for a call, or a new one (*owned: the caller destroys it). */
static dnnl_primitive_t get_prim(cs__gemm *g, const weight *w, int rows, int ldx, int ldy,
                                 bool bias, bool acc, size_t *scratch, bool *owned)
{
    *owned = false;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n_cache; i++) {
        prim_entry *e = &g->cache[i];
        if (e->rows == rows && e->in == w->in && e->out == w->out && e->ldx == ldx &&
            e->ldy == ldy && e->bias == bias && e->acc == acc &&
            dnnl_memory_desc_equal(&e->w->md, &w->md)) {
            *scratch = e->scratch;
            pthread_mutex_unlock(&g->mu);
            return e->prim;
        }
    }
    pthread_mutex_unlock(&g->mu);
    /* Created outside the lock (JIT compilation takes a while); a race may create two, and
     * the loser is simply not cached. */
    dnnl_primitive_desc_t pd = matmul_pd(g, rows, w->in, w->out, ldx, ldy, &w->md, bias, acc);
    if (!pd) return NULL;
    dnnl_primitive_t prim = NULL;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    *scratch = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (dnnl_primitive_create(&prim, pd) != dnnl_success) prim = NULL;
    dnnl_primitive_desc_destroy(pd);
    if (!prim) return NULL;
    pthread_mutex_lock(&g->mu);
    if (g->n_cache < CACHE_MAX)
        g->cache[g->n_cache++] = (prim_entry){rows, w->in, w->out, ldx, ldy, bias, acc, w, prim,
                                             *scratch};
    else
        *owned = true;
    pthread_mutex_unlock(&g->mu);
    return prim;
}

/* float -> bf16 of some rows, round to nearest even (NaN kept a NaN); branch-free so
 * it vectorises. */
static CS_HOT_LOOP CS_SIMD_CLONES void to_bf16_rows(const float *x, int ldx, int r0, int r1,
                                                    int in, uint16_t *dst)
{
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * ldx;
        uint16_t *dr = dst + (size_t)r * in;
        for (int i = 0; i < in; i++) {
            uint32_t u;
            memcpy(&u, &xr[i], 4);
            uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
            uint32_t quiet = (u >> 16) | 0x40u;
            bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
            dr[i] = (uint16_t)(nan ? quiet : rounded);
        }
    }
}

/* The conversion of a GEMM's input, split over the GEMM's threads (one pass over the
 * input: it cost as much as all of layernorm when it ran on one). */
static void to_bf16(const float *x, int ldx, int rows, int in, uint16_t *dst, int threads)
{
    int team = threads > 1 && (size_t)rows * in >= ((size_t)1 << 16) ? threads : 1;
#pragma omp parallel num_threads(team)
    {
        int k = omp_get_thread_num(), n = omp_get_num_threads();
        to_bf16_rows(x, ldx, (int)((long long)rows * k / n), (int)((long long)rows * (k + 1) / n),
                     in, dst);
    }
}

bool cs__gemm_linear(cs__gemm *g, const float *x, int ldx, int rows, const float *w, int out,
                    int in, const float *bias, float *y, int ldy, bool accumulate, int threads)
{
    if (rows <= 0) return false;
    pthread_mutex_lock(&g->wmu);
    const weight *pw = find_weight(g, w);
    /* Prepared on first use by a call worth it: a process that only embeds a short query
     * or two (a CLI search) never pays for reordering, and the few-row kernel streams the
     * original weights as fast. bf16 needs the prepared copy whatever the row count. */
    if (!pw && (rows > CS_GEMM_PREPARE_MIN_ROWS || g->precision == CS_PRECISION_BF16) &&
        prepare_locked(g, w, out, in, threads, NULL) == 0)
        pw = find_weight(g, w);
    pthread_mutex_unlock(&g->wmu);
    if (!pw) return false;
    const void *src = x;
    uint16_t *tmp = NULL;
    if (g->precision == CS_PRECISION_BF16) {
        tmp = cs__workspace_take(g->ws, (size_t)rows * pw->in * sizeof *tmp);
        if (!tmp) return false;
        to_bf16(x, ldx, rows, pw->in, tmp, threads);
        src = tmp;
        ldx = pw->in;
    }
    size_t scratch = 0;
    bool owned = false, ok = false;
    dnnl_primitive_t prim = get_prim(g, pw, rows, ldx, ldy, bias != NULL, accumulate, &scratch,
                                     &owned);
    if (prim) {
        dnnl_memory_desc_t smd, dmd, bmd;
        dnnl_dims_t sd = {rows, pw->in}, ss = {ldx, 1}, dd = {rows, pw->out}, ds = {ldy, 1},
                    bd = {1, pw->out};
        dnnl_memory_desc_init_by_strides(&smd, 2, sd, act_type(g), ss);
        dnnl_memory_desc_init_by_strides(&dmd, 2, dd, dnnl_f32, ds);
        dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab);
        int ids[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
        const dnnl_memory_desc_t *mds[4] = {&smd, &pw->md, &dmd, &bmd};
        void *ptrs[4] = {(void *)src, pw->data, y, (void *)bias};
        ok = run(g, prim, bias ? 4 : 3, ids, mds, ptrs, scratch, threads);
        if (owned) dnnl_primitive_destroy(prim);
    }
    cs__workspace_give(g->ws, tmp);
    return ok;
}

#else /* no oneDNN in this build: cs__linear keeps to OpenBLAS */

int cs__gemm_create(int precision, cs__gemm **out, cs_error *err)
{
    *out = NULL;
    if (precision == CS_PRECISION_BF16)
        return cs_error_set(err, CS_E_ARG,
                            "bf16 precision needs oneDNN, which this build does not have "
                            "(use fp32)");
    return 0;
}
void cs__gemm_free(cs__gemm *g) { (void)g; }
int cs__gemm_prepare(cs__gemm *g, const float *w, int out, int in, cs_error *err)
{
    (void)g, (void)w, (void)out, (void)in, (void)err;
    return 0;
}
void cs__gemm_set_file_mapping(cs__gemm *g, const void *map, size_t size)
{
    (void)g, (void)map, (void)size;
}
bool cs__gemm_linear(cs__gemm *g, const float *x, int ldx, int rows, const float *w, int out,
                    int in, const float *bias, float *y, int ldy, bool accumulate, int threads)
{
    (void)g, (void)x, (void)ldx, (void)rows, (void)w, (void)bias, (void)y, (void)ldy;
    (void)out, (void)in;
    (void)accumulate, (void)threads;
    return false;
}
const char *cs__gemm_describe(const cs__gemm *g) { (void)g; return "openblas"; }
void cs__gemm_probe(char *buf, size_t size)
{
    snprintf(buf, size, "openblas (no oneDNN in this build; bf16 not available)");
}
size_t cs__gemm_weight_bytes(const cs__gemm *g) { (void)g; return 0; }

#endif
