/* cs_clip: loading a model directory and the public embedding entry points. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/file.h"
#include "base/pool.h"
#include "clip/workspace.h"
#include "base/simd.h"
#include "clip/gemm.h"
#include "clip/model.h"

#define CS_MODEL_NEEDED "a CLIP model folder in Hugging Face layout is needed"

void cs_clip_options_init(cs_clip_options *opt)
{
    memset(opt, 0, sizeof *opt);
}

void cs_clip_free(cs_clip *m)
{
    if (!m) return;
    cs__gemm_free(m->gemm);
    cs__pool_free(m->pool);
    cs__workspace_free(m->ws);
    if (m->arena) munmap(m->arena, m->arena_bytes);
    free(m->txt_layers);
    free(m->vis_layers);
    cs__st_close(&m->st);
    cs_tokenizer_free(m->tok);
    free(m->dir);
    free(m);
}

/* path = dir/name, failing with CS_REMEDY_CHOOSE_MODEL when the file is absent. */
static int need_file(const char *dir, const char *name, char **path, cs_error *err)
{
    *path = cs__path_join(dir, name);
    if (!*path) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (cs__file_exists(*path)) return 0;
    int rc = cs_error_set_remedy(err, CS_E_MODEL, CS_REMEDY_CHOOSE_MODEL,
                                 "model folder %s is incomplete: %s is missing; %s", dir, name,
                                 CS_MODEL_NEEDED);
    free(*path);
    *path = NULL;
    return rc;
}

static int load_parts(cs_clip *m, cs_error *err)
{
    char *cfg = NULL, *st = NULL, *vocab = NULL, *merges = NULL, *pp = NULL;
    int rc;
    if ((rc = need_file(m->dir, "config.json", &cfg, err)) ||
        (rc = need_file(m->dir, "model.safetensors", &st, err)) ||
        (rc = need_file(m->dir, "vocab.json", &vocab, err)) ||
        (rc = need_file(m->dir, "merges.txt", &merges, err)))
        goto done;
    if ((rc = cs__clip_config_load(cfg, &m->cfg, err))) goto done;
    cs_preprocess_config_init(&m->pp);
    pp = cs__path_join(m->dir, "preprocessor_config.json");
    if (!pp) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        goto done;
    }
    if (cs__file_exists(pp) && (rc = cs__preprocess_config_load(pp, &m->pp, err))) goto done;
    if (m->pp.crop_height != m->cfg.vision.image_size ||
        m->pp.crop_width != m->cfg.vision.image_size) {
        rc = cs_error_set(err, CS_E_MODEL,
                          "%s: crop_size %dx%d does not match vision_config.image_size %d", pp,
                          m->pp.crop_height, m->pp.crop_width, m->cfg.vision.image_size);
        goto done;
    }
    if ((rc = cs__st_open(st, &m->st, err))) goto done;
    /* Weights are read in full by the first forward pass; start the read-ahead now. */
    madvise(m->st.map, m->st.size, MADV_WILLNEED);
    if ((rc = cs__clip_bind_weights(m, err))) goto done;
    if ((rc = cs_tokenizer_load(vocab, merges, &m->tok, err))) goto done;
    m->eot_id = cs_tokenizer_eot(m->tok);
    size_t nv = cs_tokenizer_vocab_size(m->tok);
    if (nv > (size_t)m->cfg.text.vocab_size || m->eot_id < 0 ||
        m->eot_id >= m->cfg.text.vocab_size)
        rc = cs_error_set(err, CS_E_MODEL,
                          "%s: vocabulary has %zu tokens (<|endoftext|> = %d) but %s says "
                          "vocab_size %d",
                          vocab, nv, (int)m->eot_id, cfg, m->cfg.text.vocab_size);
done:
    free(cfg);
    free(st);
    free(vocab);
    free(merges);
    free(pp);
    return rc;
}

/* Creates the GEMM engine; it prepares each weight on first use (gemm.h). */
static int prepare_gemm(cs_clip *m, const cs_clip_options *opt, cs_error *err)
{
    m->precision = opt ? opt->precision : CS_PRECISION_FP32;
    int choice = opt ? opt->gemm : CS_GEMM_AUTO;
    if (m->precision != CS_PRECISION_FP32 && m->precision != CS_PRECISION_BF16)
        return cs_error_set(err, CS_E_ARG, "unknown precision %d", m->precision);
    if (choice == CS_GEMM_OPENBLAS) {
        if (m->precision == CS_PRECISION_BF16)
            return cs_error_set(err, CS_E_ARG, "bf16 precision needs the oneDNN engine");
        return 0;
    }
    int rc = cs__gemm_create(m->precision, &m->gemm, err);
    if (rc) return rc;
    if (!m->gemm) {
        if (choice == CS_GEMM_ONEDNN)
            return cs_error_set(err, CS_E_ARG, "this build has no oneDNN GEMM engine");
        return 0;
    }
    cs__gemm_set_file_mapping(m->gemm, m->st.map, m->st.size);
    return 0;
}

void cs_clip_compute_info(char *buf, size_t size)
{
    char g[128];
    cs__gemm_probe(g, sizeof g);
    snprintf(buf, size, "gemm %s, kernels %s", g, cs__simd_level());
}

const char *cs_clip_engine(const cs_clip *m)
{
    return m->gemm ? cs__gemm_describe(m->gemm) : "openblas fp32";
}

int cs_clip_load(const char *dir, const cs_clip_options *opt, cs_clip **out, cs_error *err)
{
    *out = NULL;
    if (!dir || !*dir) return cs_error_set(err, CS_E_ARG, "no model directory given");
    if (!cs__dir_exists(dir))
        return cs_error_set_remedy(err, CS_E_MODEL, CS_REMEDY_CHOOSE_MODEL,
                                   "model folder %s does not exist; %s", dir, CS_MODEL_NEEDED);
    cs_clip *m = calloc(1, sizeof *m);
    if (!m) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    int rc = cs__clip_find_weights_dir(dir, &m->dir, err);
    if (!rc) rc = load_parts(m, err);
    if (!rc) rc = prepare_gemm(m, opt, err);
    if (rc) {
        cs_clip_free(m);
        return rc;
    }
    /* OpenBLAS keeps one process-wide thread count: the last model loaded with an
     * explicit n_threads sets it for everyone (0 keeps OpenBLAS' default, all cores or
     * $OPENBLAS_NUM_THREADS). */
    if (opt && opt->n_threads > 0) openblas_set_num_threads(opt->n_threads);
    /* clipsearch's own kernels follow the same count, but per model: their results do
     * not depend on it (each row or sequence is computed whole by one thread). */
    m->n_threads = opt && opt->n_threads > 0 ? opt->n_threads : openblas_get_num_threads();
    if ((m->n_threads > 1 && !(m->pool = cs__pool_create(m->n_threads))) ||
        !(m->ws = cs__workspace_create())) {
        cs_clip_free(m);
        return cs_error_set(err, CS_E_NOMEM, "out of memory for the model's threads");
    }
    *out = m;
    return 0;
}

int cs_clip_embed_dim(const cs_clip *m) { return m->cfg.projection_dim; }
int cs_clip_context_length(const cs_clip *m) { return m->cfg.text.max_positions; }
float cs_clip_logit_scale(const cs_clip *m) { return expf(m->logit_scale); }
const cs_preprocess_config *cs_clip_preprocess_config(const cs_clip *m) { return &m->pp; }
const cs_tokenizer *cs_clip_tokenizer(const cs_clip *m) { return m->tok; }
const char *cs_clip_model_dir(const cs_clip *m) { return m->dir; }
int cs_clip_precision(const cs_clip *m) { return m->precision; }

int cs_clip_embed_token_ids(const cs_clip *m, const int32_t *const *ids, const int *n_ids,
                            size_t n, float *out, cs_error *err)
{
    return cs__text_forward(m, ids, n_ids, n, out, err);
}

/* Tokenizes texts as the model does (context length, truncation) and runs the text tower,
 * projected or pooled. */
static int texts_run(const cs_clip *m, const char *const *texts, size_t n, bool project,
                     float *out, cs_error *err)
{
    int ctx = m->cfg.text.max_positions;
    if (n == 0) return 0;
    int32_t *buf = malloc(n * (size_t)ctx * sizeof *buf);
    int32_t **rows = malloc(n * sizeof *rows);
    int *lens = malloc(n * sizeof *lens);
    int rc = 0;
    if (!buf || !rows || !lens) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        rows[i] = buf + i * (size_t)ctx;
        rc = cs_tokenizer_encode(m->tok, texts[i], ctx, rows[i], &lens[i], err);
    }
    if (!rc)
        rc = project ? cs__text_forward(m, (const int32_t *const *)rows, lens, n, out, err)
                     : cs__text_pool(m, (const int32_t *const *)rows, lens, n, out, err);
    free(buf);
    free(rows);
    free(lens);
    return rc;
}

int cs_clip_embed_texts(const cs_clip *m, const char *const *texts, size_t n, float *out,
                        cs_error *err)
{
    return texts_run(m, texts, n, true, out, err);
}

int cs_clip_pool_texts(const cs_clip *m, const char *const *texts, size_t n, float *out,
                       cs_error *err)
{
    return texts_run(m, texts, n, false, out, err);
}

int cs_clip_pool_pixels(const cs_clip *m, const float *pixels, size_t n, float *out,
                        cs_error *err)
{
    return cs__vision_pool(m, pixels, n, out, err);
}

int cs_clip_vision_width(const cs_clip *m) { return m->cfg.vision.hidden; }
int cs_clip_text_width(const cs_clip *m) { return m->cfg.text.hidden; }
const float *cs_clip_visual_projection(const cs_clip *m) { return m->vis_proj; }
const float *cs_clip_text_projection(const cs_clip *m) { return m->text_proj; }

int cs_clip_embed_pixels(const cs_clip *m, const float *pixels, size_t n, float *out,
                         cs_error *err)
{
    return cs__vision_forward(m, pixels, n, out, err);
}

void cs_l2_normalize(float *v, size_t dim)
{
    double ss = 0.0;
    for (size_t i = 0; i < dim; i++) ss += (double)v[i] * v[i];
    if (ss <= 0.0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (size_t i = 0; i < dim; i++) v[i] *= inv;
}
