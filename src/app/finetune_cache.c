/* Feature cache of fine-tuning: with the towers frozen, each distinct image and caption
 * goes through its tower once, and every epoch only multiplies the cached pooled
 * features by the heads being trained. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/finetune_internal.h"
#include "base/strmap.h"

#define IMAGE_BATCH 32  /* the vision tower's own chunk size */
#define TEXT_BATCH 256
#define MAX_SKIP_NOTICES 20
#define PROGRESS_EVERY 512   /* images between progress notes */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void warn_skip(const cs_finetune_options *opt, const char *file, long line,
                      const char *why)
{
    if (!opt->on_warning) return;
    char msg[1400];
    snprintf(msg, sizeof msg, "%s:%ld: %s (pair skipped)", file, line, why);
    opt->on_warning(opt->ctx, msg);
}

void cs__ft_cache_free(cs__ft_cache *c)
{
    if (!c) return;
    free(c->xi);
    free(c->xt);
    free(c->items[0]);
    free(c->items[1]);
    free(c->hi);
    free(c->ht);
    free(c->t_off);
    free(c->t_rows);
    memset(c, 0, sizeof *c);
}

static bool stopped(const cs_finetune_options *opt)
{
    return opt->stop && *opt->stop;
}

/* Distinct strings of one field across both sets, in order of first appearance;
 * idx[s][i] is pair i's entry. Keys are borrowed from the pairs. */
static int distinct(const cs__ft_pairs *sets[2], bool image, const char ***list, size_t *n,
                    uint32_t *idx[2], cs_error *err)
{
    size_t total = sets[0]->n + (sets[1] ? sets[1]->n : 0);
    cs__strmap *map = cs__strmap_new();
    *list = malloc(total * sizeof **list);
    idx[0] = malloc(total * sizeof *idx[0]);
    idx[1] = idx[0] + sets[0]->n;
    *n = 0;
    int rc = !map || !*list || !idx[0] ? cs_error_set(err, CS_E_NOMEM, "out of memory") : 0;
    for (int s = 0; !rc && s < 2; s++)
        for (size_t i = 0; !rc && sets[s] && i < sets[s]->n; i++) {
            const char *key = image ? sets[s]->v[i].image : sets[s]->v[i].text;
            uintptr_t v = (uintptr_t)cs__strmap_get(map, key);
            if (!v) {
                v = ++*n;
                if (cs__strmap_put(map, key, (void *)v)) {
                    rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
                    break;
                }
                (*list)[v - 1] = key;
            }
            idx[s][i] = (uint32_t)(v - 1);
        }
    cs__strmap_free(map);
    return rc;
}

/* Decodes + preprocesses images in batches and pools them; ok[k] = 0 for the ones that
 * failed (their message goes into msgs[k]). */
static int cache_images(const cs_clip *m, const cs_tower_trainer *tr, const char **paths,
                        size_t n, const cs_finetune_options *opt, float *out, char **msgs,
                        cs_error *err)
{
    const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
    size_t per = 3 * (size_t)pp->crop_height * pp->crop_width, dv = (size_t)cs_clip_vision_width(m);
    /* With a trainer, each image's hidden states below its trainable layers. */
    if (tr) dv = (size_t)cs_tower_trainer_image_rows(tr) * cs_tower_trainer_input_width(tr);
    float *px = malloc(IMAGE_BATCH * per * sizeof(float) + IMAGE_BATCH * dv * sizeof(float));
    size_t slot[IMAGE_BATCH];
    if (!px) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    float *pooled = px + IMAGE_BATCH * per;
    int rc = 0;
    for (size_t i = 0; !rc && i < n;) {
        size_t b = 0;
        for (; i < n && b < IMAGE_BATCH; i++) {
            if (stopped(opt)) {
                rc = cs_error_set(err, CS_E_INTERRUPTED, "interrupted while caching features");
                break;
            }
            cs_image img = {0};
            cs_error e = {0};
            if (cs_image_decode_file(paths[i], &opt->image, &img, NULL, &e) == 0 &&
                cs_preprocess_image(pp, &img, px + b * per, &e) == 0)
                slot[b++] = i;
            else if (!(msgs[i] = strdup(e.msg[0] ? e.msg : "cannot decode")))
                rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            cs_image_free(&img);
        }
        if (!rc && b)
            rc = tr ? cs_tower_trainer_prefix_pixels(tr, px, b, pooled, err)
                    : cs_clip_pool_pixels(m, px, b, pooled, err);
        for (size_t k = 0; !rc && k < b; k++)
            memcpy(out + slot[k] * dv, pooled + k * dv, dv * sizeof(float));
        /* Caching is the long part (minutes for thousands of images): say how far. */
        if (!rc && opt->on_notice && i < n && i % PROGRESS_EVERY < IMAGE_BATCH) {
            char msg[96];
            snprintf(msg, sizeof msg, "features: %zu of %zu images", i, n);
            opt->on_notice(opt->ctx, msg);
        }
    }
    free(px);
    return rc;
}

/* Each caption's hidden states below the trainable layers, one after the other. */
static int cache_text_states(const cs_tower_trainer *tr, const char **texts, size_t n,
                             const cs_finetune_options *opt, cs__ft_cache *c, cs_error *err)
{
    size_t d = (size_t)cs_tower_trainer_input_width(tr), cap = 0, used = 0;
    c->t_off = malloc((n + 1) * sizeof *c->t_off);
    c->t_rows = malloc((n + 1) * sizeof *c->t_rows);
    if (!c->t_off || !c->t_rows) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (stopped(opt))
            return cs_error_set(err, CS_E_INTERRUPTED, "interrupted while caching features");
        float *x = NULL;
        int rows = 0;
        int rc = cs_tower_trainer_prefix_text(tr, texts[i], &x, &rows, err);
        if (rc) return rc;
        size_t need = used + (size_t)rows * d;
        if (need > cap) {
            size_t ncap = cap ? cap * 2 : 64 * d;
            while (ncap < need) ncap *= 2;
            float *g = realloc(c->ht, ncap * sizeof(float));
            if (!g) {
                free(x);
                return cs_error_set(err, CS_E_NOMEM, "out of memory caching caption states");
            }
            c->ht = g;
            cap = ncap;
        }
        memcpy(c->ht + used, x, (size_t)rows * d * sizeof(float));
        free(x);
        c->t_off[i] = used;
        c->t_rows[i] = rows;
        used = need;
    }
    return 0;
}

static int cache_texts(const cs_clip *m, const char **texts, size_t n,
                       const cs_finetune_options *opt, float *out, cs_error *err)
{
    size_t dt = (size_t)cs_clip_text_width(m);
    for (size_t i = 0; i < n; i += TEXT_BATCH) {
        if (stopped(opt))
            return cs_error_set(err, CS_E_INTERRUPTED, "interrupted while caching features");
        size_t b = n - i < TEXT_BATCH ? n - i : TEXT_BATCH;
        int rc = cs_clip_pool_texts(m, texts + i, b, out + i * dt, err);
        if (rc) return rc;
    }
    return 0;
}

/* The cached hidden states of every image (and, at most, every caption at full context)
 * must leave room for the rest: at most half the machine's memory. */
static int check_memory(const cs_clip *m, cs_tower_trainer *const tr[2], const cs__ft_cache *c,
                        cs_error *err)
{
    double bytes = 4.0 * ((double)c->n_img * cs_tower_trainer_image_rows(tr[0]) *
                              cs_tower_trainer_input_width(tr[0]) +
                          (double)c->n_txt * cs_clip_context_length(m) *
                              cs_tower_trainer_input_width(tr[1]));
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double half = pages > 0 && page > 0 ? 0.5 * (double)pages * (double)page : 0.0;
    if (half > 0.0 && bytes > half)
        return cs_error_set(err, CS_E_ARG,
                            "training the towers' last layers caches the hidden states of %zu "
                            "images and %zu captions, up to %.1f GiB: more than half of this "
                            "machine's memory (%.1f GiB); train the heads only, or on fewer "
                            "pairs",
                            c->n_img, c->n_txt, bytes / 1073741824.0, half / 1073741824.0);
    return 0;
}

static int build(const cs_clip *m, cs_tower_trainer *const tr[2], const cs__ft_pairs *sets[2],
                 const cs_finetune_options *opt, cs__ft_cache *c, cs_error *err)
{
    memset(c, 0, sizeof *c);
    c->dv = cs_clip_vision_width(m);
    c->dt = cs_clip_text_width(m);
    const char **imgs = NULL, **txts = NULL;
    uint32_t *ii[2] = {NULL, NULL}, *ti[2] = {NULL, NULL};
    char **msgs = NULL;
    int rc = distinct(sets, true, &imgs, &c->n_img, ii, err);
    if (!rc) rc = distinct(sets, false, &txts, &c->n_txt, ti, err);
    if (!rc && tr) rc = check_memory(m, tr, c, err);
    if (!rc && tr) {
        c->img_rows = cs_tower_trainer_image_rows(tr[0]);
        c->in_v = cs_tower_trainer_input_width(tr[0]);
        c->in_t = cs_tower_trainer_input_width(tr[1]);
        /* Zeroed: an image that does not decode leaves its rows unwritten, and the
         * refresh runs every image through the layers (its result is never used). */
        c->hi = calloc(c->n_img * (size_t)c->img_rows * c->in_v + 1, sizeof(float));
        if (!c->hi) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    if (!rc) {
        c->xi = malloc(c->n_img * (size_t)c->dv * sizeof(float) + 1);
        c->xt = malloc(c->n_txt * (size_t)c->dt * sizeof(float) + 1);
        msgs = calloc(c->n_img + 1, sizeof *msgs);
        if (!c->xi || !c->xt || !msgs) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    if (!rc && opt->on_notice) {
        char msg[160];
        snprintf(msg, sizeof msg, "caching the features of %zu images and %zu captions",
                 c->n_img, c->n_txt);
        opt->on_notice(opt->ctx, msg);
    }
    double t0 = now();
    if (!rc) rc = cache_images(m, tr ? tr[0] : NULL, imgs, c->n_img, opt, tr ? c->hi : c->xi,
                               msgs, err);
    double t1 = now();
    if (!rc && tr) rc = cache_text_states(tr[1], txts, c->n_txt, opt, c, err);
    else if (!rc) rc = cache_texts(m, txts, c->n_txt, opt, c->xt, err);
    /* The pooled features as the trainable layers make them now. */
    if (!rc && tr) rc = cs__ft_cache_refresh(c, tr, err);
    c->image_seconds = t1 - t0;
    c->text_seconds = now() - t1;
    for (int s = 0; !rc && s < 2; s++) {
        if (!sets[s]) continue;
        c->items[s] = malloc(sets[s]->n * sizeof *c->items[s]);
        if (!c->items[s]) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < sets[s]->n; i++) {
            const char *why = msgs[ii[s][i]];
            if (!why) {
                c->items[s][c->n_items[s]++] = (cs__ft_item){ii[s][i], ti[s][i]};
                continue;
            }
            if (c->n_skipped++ < MAX_SKIP_NOTICES)
                warn_skip(opt, sets[s]->path, sets[s]->v[i].line, why);
        }
    }
    if (!rc && c->n_skipped > MAX_SKIP_NOTICES && opt->on_warning) {
        char msg[160];
        snprintf(msg, sizeof msg, "... %zu more pairs skipped", c->n_skipped - MAX_SKIP_NOTICES);
        opt->on_warning(opt->ctx, msg);
    }
    for (size_t k = 0; msgs && k < c->n_img; k++) free(msgs[k]);
    free(msgs);
    free(imgs);
    free(txts);
    free(ii[0]);
    free(ti[0]);
    if (rc) cs__ft_cache_free(c);
    return rc;
}

int cs__ft_cache_build(const cs_clip *m, const cs__ft_pairs *sets[2],
                      const cs_finetune_options *opt, cs__ft_cache *c, cs_error *err)
{
    return build(m, NULL, sets, opt, c, err);
}

int cs__ft_cache_build_towers(const cs_clip *m, cs_tower_trainer *const tr[2],
                             const cs__ft_pairs *sets[2], const cs_finetune_options *opt,
                             cs__ft_cache *c, cs_error *err)
{
    return build(m, tr, sets, opt, c, err);
}

#define REFRESH_BATCH 32

int cs__ft_cache_refresh(cs__ft_cache *c, cs_tower_trainer *const tr[2], cs_error *err)
{
    const float *x[REFRESH_BATCH];
    int rows[REFRESH_BATCH];
    size_t dv = (size_t)c->dv, dt = (size_t)c->dt;
    for (size_t i = 0; i < c->n_img; i += REFRESH_BATCH) {
        int b = (int)(c->n_img - i < REFRESH_BATCH ? c->n_img - i : REFRESH_BATCH);
        for (int k = 0; k < b; k++) {
            x[k] = c->hi + (i + k) * c->img_rows * (size_t)c->in_v;
            rows[k] = c->img_rows;
        }
        int rc = cs_tower_trainer_forward(tr[0], x, rows, b, c->xi + i * dv, err);
        if (rc) return rc;
    }
    for (size_t i = 0; i < c->n_txt; i += REFRESH_BATCH) {
        int b = (int)(c->n_txt - i < REFRESH_BATCH ? c->n_txt - i : REFRESH_BATCH);
        for (int k = 0; k < b; k++) {
            x[k] = c->ht + c->t_off[i + k];
            rows[k] = c->t_rows[i + k];
        }
        int rc = cs_tower_trainer_forward(tr[1], x, rows, b, c->xt + i * dt, err);
        if (rc) return rc;
    }
    return 0;
}
