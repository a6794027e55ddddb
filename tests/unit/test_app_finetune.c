/* Fine-tuning (app/finetune*.c): the heads' gradient of both losses against central
 * finite differences, AdamW against PyTorch's numbers, SGD, the schedules at known
 * steps, the pairs formats and their errors, the resume state (round trip, damage,
 * another run's key), and end to end on the tiny fixture model: pooled features times
 * the projections give the embeddings, the saved checkpoint loads and embeds with the
 * trained heads, an interrupted and resumed run equals an uninterrupted one, and
 * nothing is written to --out on error. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/finetune_internal.h"
#include "base/file.h"
#include "clipsearch/clip.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uni(void) /* [-1, 1) */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Central differences (step 1e-4: their O(h^2) error stays near 1e-7) of the double-
 * precision loss over every weight. The weights are
 * float, so the step is taken as the difference of the rounded perturbed values. */
static void check_grad(int loss, int b, bool repeat_image)
{
    cs__ft_dims d = {7, 5, 4};
    float xi[8][7], xt[8][5], wv[4 * 7], wt[4 * 5], gv[4 * 7], gt[4 * 5];
    const float *pi[8], *pt[8];
    for (int i = 0; i < b; i++) {
        for (int c = 0; c < d.dv; c++) xi[i][c] = (float)uni();
        for (int c = 0; c < d.dt; c++) xt[i][c] = (float)uni();
        pi[i] = xi[i];
        pt[i] = xt[i];
    }
    if (repeat_image) pi[b - 1] = xi[0]; /* one image with two captions in the batch */
    for (int k = 0; k < 4 * 7; k++) wv[k] = (float)(0.5 * uni());
    for (int k = 0; k < 4 * 5; k++) wt[k] = (float)(0.5 * uni());
    double scale = 5.0;
    double l0 = cs__ft_batch_loss(&d, pi, pt, b, wv, wt, scale, loss, gv, gt, NULL, NULL);
    CHECK(l0 > 0.0);
    CHECK(fabs(l0 - cs__ft_batch_loss(&d, pi, pt, b, wv, wt, scale, loss, NULL, NULL, NULL, NULL)) == 0.0);
    double worst = 0.0;
    for (int which = 0; which < 2; which++) {
        float *w = which ? wt : wv, *g = which ? gt : gv;
        int n = which ? 4 * 5 : 4 * 7;
        for (int k = 0; k < n; k++) {
            float keep = w[k];
            float wp = (float)(keep + 1e-4), wm = (float)(keep - 1e-4);
            w[k] = wp;
            double lp = cs__ft_batch_loss(&d, pi, pt, b, wv, wt, scale, loss, NULL, NULL, NULL, NULL);
            w[k] = wm;
            double lm = cs__ft_batch_loss(&d, pi, pt, b, wv, wt, scale, loss, NULL, NULL, NULL, NULL);
            w[k] = keep;
            double fd = (lp - lm) / ((double)wp - (double)wm);
            double e = fabs(fd - g[k]) / fmax(1.0, fabs(fd));
            if (e > worst) worst = e;
        }
    }
    CHECK_MSG(worst < 1e-5, "loss %d b %d repeat %d: worst relative gradient error %g", loss, b,
              repeat_image, worst);
}

static void test_gradients(void)
{
    for (int loss = 0; loss < 2; loss++) {
        check_grad(loss, 5, false);
        check_grad(loss, 6, true);
        check_grad(loss, 2, false);
    }
    /* Known value: b identical pairs give every logit the same value: loss = ln b. */
    cs__ft_dims d = {3, 3, 3};
    float x[3] = {1, 2, 3}, w[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    const float *p[4] = {x, x, x, x};
    CHECK(fabs(cs__ft_batch_loss(&d, p, p, 4, w, w, 10.0, CS_FT_LOSS_CLIP, NULL, NULL, NULL, NULL) - log(4.0)) <
          1e-12);
}

static void test_optim(void)
{
    /* torch.optim.AdamW(lr=0.1, weight_decay=0.01) on these values, torch 1.13, float32. */
    float p[4] = {0.5f, -0.25f, 1.5f, 0.0f}, m[4] = {0}, v[4] = {0};
    const float g[3][4] = {{0.3f, -1.0f, 0.0f, 2.0f}, {-0.1f, 0.5f, 0.25f, 2.0f},
                           {0.7f, 0.0f, -3.0f, -1.0f}};
    const float want[3][4] = {{0.399500012f, -0.149750024f, 1.49849999f, -0.0999999866f},
                              {0.359078646f, -0.12296658f, 1.42258787f, -0.199899986f},
                              {0.287767172f, -0.102255687f, 1.48005176f, -0.251265436f}};
    cs__ft_adamw a = {0.9, 0.999, 1e-8, 0.01};
    for (int s = 0; s < 3; s++) {
        cs__ft_adamw_step(&a, p, g[s], m, v, 4, 0.1, s + 1);
        for (int i = 0; i < 4; i++)
            CHECK_MSG(fabsf(p[i] - want[s][i]) < 2e-7f, "adamw step %d [%d]: %.9g vs %.9g", s + 1,
                      i, p[i], want[s][i]);
    }
    float q[2] = {1.0f, -2.0f}, gq[2] = {0.5f, -4.0f};
    cs__ft_sgd_step(q, gq, 2, 0.25);
    CHECK(q[0] == 0.875f && q[1] == -1.0f);

    /* transformers' schedules, lr 1, 10 warm-up steps of 110. */
    CHECK(cs__ft_lr_at(CS_FT_CONSTANT, 1.0, 0, 10, 110) == 0.0);
    CHECK(fabs(cs__ft_lr_at(CS_FT_CONSTANT, 1.0, 5, 10, 110) - 0.5) < 1e-15);
    CHECK(cs__ft_lr_at(CS_FT_CONSTANT, 1.0, 10, 10, 110) == 1.0);
    CHECK(cs__ft_lr_at(CS_FT_CONSTANT, 2.0, 100, 0, 110) == 2.0);
    CHECK(fabs(cs__ft_lr_at(CS_FT_LINEAR, 1.0, 5, 10, 110) - 0.5) < 1e-15);
    CHECK(cs__ft_lr_at(CS_FT_LINEAR, 1.0, 10, 10, 110) == 1.0);
    CHECK(fabs(cs__ft_lr_at(CS_FT_LINEAR, 1.0, 60, 10, 110) - 0.5) < 1e-15);
    CHECK(cs__ft_lr_at(CS_FT_LINEAR, 1.0, 110, 10, 110) == 0.0);
    CHECK(cs__ft_lr_at(CS_FT_LINEAR, 1.0, 130, 10, 110) == 0.0);
    CHECK(cs__ft_lr_at(CS_FT_COSINE, 1.0, 10, 10, 110) == 1.0);
    CHECK(fabs(cs__ft_lr_at(CS_FT_COSINE, 1.0, 35, 10, 110) - 0.5 * (1 + cos(M_PI / 4))) < 1e-15);
    CHECK(fabs(cs__ft_lr_at(CS_FT_COSINE, 1.0, 60, 10, 110) - 0.5) < 1e-15);
    CHECK(fabs(cs__ft_lr_at(CS_FT_COSINE, 1.0, 110, 10, 110)) < 1e-15);
    CHECK(fabs(cs__ft_lr_at(CS_FT_COSINE, 1.0, 3, 0, 4) - 0.5 * (1 + cos(M_PI * 0.75))) < 1e-15);
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

static void test_pairs(const char *tmp)
{
    char p[600];
    cs__ft_pairs pr;
    cs_error err = {0};
    snprintf(p, sizeof p, "%s/pairs.tsv", tmp);
    write_text(p, "a.jpg\ta dog\r\n\n/abs/b.png\tcaption\twith tab\nsub/c.jpg\ta cat\n");
    CHECK_OK(cs__ft_pairs_read(p, &pr, &err), &err);
    CHECK(pr.n == 3);
    if (pr.n == 3) {
        char want[600];
        snprintf(want, sizeof want, "%s/a.jpg", tmp);
        CHECK(!strcmp(pr.v[0].image, want) && !strcmp(pr.v[0].text, "a dog"));
        CHECK(!strcmp(pr.v[1].image, "/abs/b.png") && !strcmp(pr.v[1].text, "caption\twith tab"));
        CHECK(pr.v[1].line == 3 && pr.v[2].line == 4);
    }
    cs__ft_pairs_free(&pr);
    snprintf(p, sizeof p, "%s/pairs.jsonl", tmp);
    write_text(p, "{\"image\": \"x.jpg\", \"text\": \"caf\\u00e9\"}\n\n{\"text\":\"t\",\"image\":\"y.jpg\"}\n");
    CHECK_OK(cs__ft_pairs_read(p, &pr, &err), &err);
    CHECK(pr.n == 2 && !strcmp(pr.v[0].text, "caf\xc3\xa9") && pr.v[1].line == 3);
    cs__ft_pairs_free(&pr);
    write_text(p, "\xEF\xBB\xBF{\"image\": \"/x.jpg\", \"text\": \"bom\"}\n"); /* BOM: still JSON */
    CHECK_OK(cs__ft_pairs_read(p, &pr, &err), &err);
    CHECK(pr.n == 1 && !strcmp(pr.v[0].image, "/x.jpg"));
    cs__ft_pairs_free(&pr);
    write_text(p, "{\"image\": \"x.jpg\", \"text\": \"a\"}\n{\"image\": \"y.jpg\"}\n");
    CHECK(cs__ft_pairs_read(p, &pr, &err) == CS_E_FORMAT && strstr(err.msg, "pairs.jsonl:2:"));
    snprintf(p, sizeof p, "%s/bad.tsv", tmp);
    write_text(p, "a.jpg\tok\nno tab here\n");
    CHECK(cs__ft_pairs_read(p, &pr, &err) == CS_E_FORMAT && strstr(err.msg, "bad.tsv:2:"));
    write_text(p, "\n\n");
    CHECK(cs__ft_pairs_read(p, &pr, &err) == CS_E_ARG);
}

static void test_state(const char *tmp)
{
    char p[600];
    snprintf(p, sizeof p, "%s/state", tmp);
    float w[3 * 5], back[3 * 5];
    for (int i = 0; i < 15; i++) w[i] = (float)i * 0.5f;
    cs__ft_state s = {.key = 42, .epochs_done = 3, .step = 17, .n_seg = 3,
                     .seg = {w, w + 3, w + 5}, .seg_n = {3, 2, 10}};
    cs_error err = {0};
    CHECK_OK(cs__ft_state_save(p, &s, &err), &err);
    cs__ft_state r = {.n_seg = 3, .seg = {back, back + 3, back + 5}, .seg_n = {3, 2, 10}};
    CHECK_OK(cs__ft_state_load(p, 42, &r, &err), &err);
    CHECK(r.epochs_done == 3 && r.step == 17 && !memcmp(back, w, sizeof w));
    CHECK(cs__ft_state_load(p, 43, &r, &err) == CS_E_ARG);
    r.seg_n[0] = 2;
    r.seg_n[1] = 3;
    CHECK(cs__ft_state_load(p, 42, &r, &err) == CS_E_ARG);
    r.seg_n[0] = 3;
    r.seg_n[1] = 2;
    r.n_seg = 2;
    CHECK(cs__ft_state_load(p, 42, &r, &err) == CS_E_ARG);
    r.n_seg = 3;
    FILE *f = fopen(p, "r+b"); /* flip one payload byte: the checksum catches it */
    if (f) {
        fseek(f, 140, SEEK_SET);
        fputc(0x55, f);
        fclose(f);
    }
    CHECK(cs__ft_state_load(p, 42, &r, &err) == CS_E_FORMAT);
}

/* ---- end to end on the tiny fixture ---- */

typedef struct {
    volatile sig_atomic_t flag;
    int stop_after;   /* raise the flag after this epoch (0: never) */
    int epochs_seen;
    double loss0, loss_last, r1_0, r1_last;
} run_ctx;

static void on_epoch(void *ctx, const cs_ft_epoch *e)
{
    run_ctx *r = ctx;
    r->epochs_seen++;
    if (e->epoch == 0) {
        r->loss0 = e->train_loss;
        r->r1_0 = e->val_recall1;
    }
    r->loss_last = e->train_loss;
    r->r1_last = e->val_recall1;
    if (r->stop_after && e->epoch == r->stop_after) r->flag = 1;
}

static void on_warning(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "finetune warning: %s\n", msg);
}

static void opts(cs_finetune_options *o, run_ctx *r)
{
    cs_finetune_options_init(o);
    o->epochs = 3;
    o->batch = 4;
    o->lr = 0.05;
    o->val_split = 0.25;
    o->seed = 7;
    o->schedule = CS_FT_COSINE;
    o->warmup_steps = 2;
    o->n_threads = 1;
    o->on_epoch = on_epoch;
    o->on_warning = on_warning;
    o->ctx = r;
    o->stop = &r->flag;
}

static void projections(const char *dir, float **v, float **t, size_t *nv, size_t *nt)
{
    cs_clip *m = NULL;
    cs_error err = {0};
    *v = *t = NULL;
    CHECK_OK(cs_clip_load(dir, NULL, &m, &err), &err);
    if (!m) return;
    size_t p = (size_t)cs_clip_embed_dim(m);
    *nv = p * (size_t)cs_clip_vision_width(m);
    *nt = p * (size_t)cs_clip_text_width(m);
    *v = malloc(*nv * sizeof(float));
    *t = malloc(*nt * sizeof(float));
    memcpy(*v, cs_clip_visual_projection(m), *nv * sizeof(float));
    memcpy(*t, cs_clip_text_projection(m), *nt * sizeof(float));
    cs_clip_free(m);
}

static const char *const TEXTS[] = {"a red circle", "a gradient", "a grey picture",
                                    "grey with alpha", "a grey photo", "noise",
                                    "a palette image", "a photo", "a portrait",
                                    "transparent colours", "shapes", "a small picture",
                                    "a long strip"};
static const char *const IMAGES[] = {
    "exif_orient6_320x240.jpg", "gradient_rgb_640x480.png", "gray_L_333x256.png",
    "gray_alpha_LA_120x90.png", "gray_baseline_400x300.jpg", "noise_rgb_224x224.png",
    "palette_P_200x150.png", "photo_progressive_640x427.jpg", "portrait_444_480x640.jpg",
    "rgba_256x320.png", "shapes_baseline_300x500.jpg", "small_31x17.png",
    "strip_rgb_1000x37.png"};

/* Pooled features times the stored projection equal the embeddings. */
static void test_pool(const char *model_dir)
{
    cs_clip *m = NULL;
    cs_error err = {0};
    CHECK_OK(cs_clip_load(model_dir, NULL, &m, &err), &err);
    if (!m) return;
    int p = cs_clip_embed_dim(m), dt = cs_clip_text_width(m);
    float pooled[3 * 64], emb[3 * 64];
    CHECK(dt <= 64 && p <= 64);
    CHECK_OK(cs_clip_pool_texts(m, TEXTS, 3, pooled, &err), &err);
    CHECK_OK(cs_clip_embed_texts(m, TEXTS, 3, emb, &err), &err);
    const float *w = cs_clip_text_projection(m);
    double worst = 0;
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < p; r++) {
            double s = 0;
            for (int c = 0; c < dt; c++) s += (double)w[r * dt + c] * pooled[i * dt + c];
            worst = fmax(worst, fabs(s - emb[i * p + r]));
        }
    CHECK_MSG(worst < 1e-5, "text projection of pooled features off by %g", worst);
    cs_clip_free(m);
}

static void embed_all(const char *model_dir, const char *img_dir, float *ti, float *ii, int n)
{
    cs_clip *m = NULL;
    cs_error err = {0};
    CHECK_OK(cs_clip_load(model_dir, NULL, &m, &err), &err);
    if (!m) return;
    int p = cs_clip_embed_dim(m);
    CHECK_OK(cs_clip_embed_texts(m, TEXTS, (size_t)n, ti, &err), &err);
    cs_image_options io;
    cs_image_options_init(&io);
    for (int i = 0; i < n; i++) {
        char path[600];
        cs_image img = {0};
        snprintf(path, sizeof path, "%s/%s", img_dir, IMAGES[i]);
        CHECK_OK(cs_image_decode_file(path, &io, &img, NULL, &err), &err);
        CHECK_OK(cs_clip_embed_image(m, &img, ii + (size_t)i * p, &err), &err);
        cs_image_free(&img);
    }
    cs_clip_free(m);
}

/* The cache holds exactly what inference computes (decode with EXIF orientation,
 * preprocess, tower), and --no-exif-orientation reaches the decoder. */
static void test_cache(const char *model_dir, const char *img_dir, const char *tmp)
{
    char pairs[700], img[PATH_MAX + 80];
    snprintf(pairs, sizeof pairs, "%s/exif.tsv", tmp);
    snprintf(img, sizeof img, "%s/exif_orient6_320x240.jpg", img_dir);
    FILE *f = fopen(pairs, "w");
    if (!f) return;
    fprintf(f, "%s\ta rotated photo\n", img);
    fclose(f);
    cs_clip *m = NULL;
    cs_error err = {0};
    CHECK_OK(cs_clip_load(model_dir, NULL, &m, &err), &err);
    cs__ft_pairs pr = {0};
    CHECK_OK(cs__ft_pairs_read(pairs, &pr, &err), &err);
    if (!m || pr.n != 1) {
        cs_clip_free(m);
        cs__ft_pairs_free(&pr);
        return;
    }
    const cs__ft_pairs *sets[2] = {&pr, NULL};
    cs_finetune_options o;
    cs_finetune_options_init(&o);
    cs__ft_cache on = {0}, off = {0};
    CHECK_OK(cs__ft_cache_build(m, sets, &o, &on, &err), &err);
    o.image.apply_exif_orientation = false;
    CHECK_OK(cs__ft_cache_build(m, sets, &o, &off, &err), &err);
    int dv = cs_clip_vision_width(m), dt = cs_clip_text_width(m);
    const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
    size_t per = 3 * (size_t)pp->crop_height * pp->crop_width;
    float *px = malloc(per * sizeof(float)), *want = malloc((size_t)(dv + dt) * sizeof(float));
    cs_image im = {0};
    cs_image_options io;
    cs_image_options_init(&io);
    CHECK_OK(cs_image_decode_file(img, &io, &im, NULL, &err), &err);
    CHECK_OK(cs_preprocess_image(pp, &im, px, &err), &err);
    CHECK_OK(cs_clip_pool_pixels(m, px, 1, want, &err), &err);
    const char *text = "a rotated photo";
    CHECK_OK(cs_clip_pool_texts(m, &text, 1, want + dv, &err), &err);
    CHECK(on.n_img == 1 && on.n_items[0] == 1 && on.n_txt == 1 && off.n_img == 1);
    if (on.xi && off.xi) {
        CHECK(!memcmp(on.xi, want, (size_t)dv * sizeof(float)));
        CHECK(!memcmp(on.xt, want + dv, (size_t)dt * sizeof(float)));
        CHECK(memcmp(off.xi, want, (size_t)dv * sizeof(float)) != 0);
    }
    cs_image_free(&im);
    free(px);
    free(want);
    cs__ft_cache_free(&on);
    cs__ft_cache_free(&off);
    cs__ft_pairs_free(&pr);
    cs_clip_free(m);
}

static void test_end_to_end(const char *tmp)
{
    char src[PATH_MAX];
    if (!realpath(test_env("CS_SOURCE_DIR", "."), src)) {
        CHECK(!"no source dir");
        return;
    }
    char model[PATH_MAX + 40], imgs[PATH_MAX + 40], pairs[700], outa[700], outb[700], partial[720];
    snprintf(model, sizeof model, "%s/tests/fixtures/tiny/model", src);
    snprintf(imgs, sizeof imgs, "%s/tests/fixtures/tiny/images", src);
    test_pool(model);
    test_cache(model, imgs, tmp);
    snprintf(pairs, sizeof pairs, "%s/train.tsv", tmp);
    FILE *f = fopen(pairs, "w");
    if (!f) {
        CHECK(!"cannot write pairs");
        return;
    }
    for (int i = 0; i < 13; i++) fprintf(f, "%s/%s\t%s\n", imgs, IMAGES[i], TEXTS[i]);
    fprintf(f, "%s/%s\t%s\n", imgs, IMAGES[0], "the same image again");
    fprintf(f, "%s/missing.jpg\tno such file\n", imgs);
    fclose(f);
    snprintf(outa, sizeof outa, "%s/a", tmp);
    snprintf(outb, sizeof outb, "%s/b", tmp);
    snprintf(partial, sizeof partial, "%s.partial", outb);

    /* Uninterrupted run. */
    cs_finetune_options o;
    run_ctx ra = {0};
    opts(&o, &ra);
    cs_finetune_result res;
    cs_error err = {0};
    CHECK_OK(cs_finetune_run(model, pairs, outa, &o, &res, &err), &err);
    CHECK(res.n_skipped == 1 && res.n_images == 14 && res.n_texts == 15);
    CHECK(res.n_train + res.n_val == 14 && res.n_val >= 3);
    CHECK(ra.epochs_seen == 4 && res.first_epoch == 1);

    /* Interrupted after epoch 1, then resumed: the same weights. */
    run_ctx rb = {0};
    rb.stop_after = 1;
    opts(&o, &rb);
    CHECK(cs_finetune_run(model, pairs, outb, &o, &res, &err) == CS_E_INTERRUPTED);
    struct stat st;
    CHECK(stat(outb, &st) != 0 && stat(partial, &st) == 0);
    CHECK(cs_finetune_run(model, pairs, outb, &o, &res, &err) == CS_E_ARG); /* no --resume */
    rb.flag = 0;
    rb.stop_after = 0;
    o.resume = true;
    o.lr = 0.01; /* other options: the state is refused */
    CHECK(cs_finetune_run(model, pairs, outb, &o, &res, &err) == CS_E_ARG &&
          strstr(err.msg, "another model, pairs or options"));
    o.lr = 0.05;
    CHECK_OK(cs_finetune_run(model, pairs, outb, &o, &res, &err), &err);
    CHECK(res.first_epoch == 2 && stat(partial, &st) != 0);
    float *av = NULL, *at = NULL, *bv = NULL, *bt = NULL, *ov = NULL, *ot = NULL;
    size_t nv = 0, nt = 0;
    projections(outa, &av, &at, &nv, &nt);
    projections(outb, &bv, &bt, &nv, &nt);
    projections(model, &ov, &ot, &nv, &nt);
    if (av && bv && ov) {
        double dmax = 0, moved = 0;
        for (size_t i = 0; i < nv; i++) {
            dmax = fmax(dmax, fabs(av[i] - bv[i]));
            moved = fmax(moved, fabs(av[i] - ov[i]));
        }
        for (size_t i = 0; i < nt; i++) {
            dmax = fmax(dmax, fabs(at[i] - bt[i]));
            moved = fmax(moved, fabs(at[i] - ot[i]));
        }
        CHECK_MSG(dmax <= 1e-6, "resumed run differs by %g", dmax);
        CHECK_MSG(moved > 1e-3, "training moved the heads by only %g", moved);
    }

    /* The saved model embeds with the trained heads: its embeddings are the original
     * model's pooled features times the new projections. */
    float t0[13 * 32], i0[13 * 32], t1[13 * 32], i1[13 * 32];
    embed_all(model, imgs, t0, i0, 13);
    embed_all(outa, imgs, t1, i1, 13);
    cs_clip *m = NULL;
    CHECK_OK(cs_clip_load(model, NULL, &m, &err), &err);
    if (m && at && av) {
        int p = cs_clip_embed_dim(m), dt = cs_clip_text_width(m);
        float pooled[13 * 64];
        CHECK(p == 32 && dt <= 64);
        CHECK_OK(cs_clip_pool_texts(m, TEXTS, 13, pooled, &err), &err);
        double worst = 0, change = 0;
        for (int i = 0; i < 13; i++)
            for (int r = 0; r < p; r++) {
                double s = 0;
                for (int c = 0; c < dt; c++) s += (double)at[r * dt + c] * pooled[i * dt + c];
                worst = fmax(worst, fabs(s - t1[i * p + r]));
                change = fmax(change, fabs(t1[i * p + r] - t0[i * p + r]));
            }
        CHECK_MSG(worst < 1e-5, "saved model's text embeddings off by %g", worst);
        CHECK_MSG(change > 1e-3, "saved model embeds like the original (%g)", change);
        double ichange = 0;
        for (int i = 0; i < 13 * p; i++) ichange = fmax(ichange, fabs(i1[i] - i0[i]));
        CHECK(ichange > 1e-3);
    }
    cs_clip_free(m);
    free(av), free(at), free(bv), free(bt), free(ov), free(ot);

    /* --train last:1: the towers' last layer and final norms train too. The loss falls,
     * the saved model's pooled features (which the heads alone never change) move, and a
     * run interrupted after epoch 1 and resumed writes the same checkpoint. */
    {
        char outd[700], oute[720];
        snprintf(outd, sizeof outd, "%s/d", tmp);
        snprintf(oute, sizeof oute, "%s/e", tmp);
        run_ctx rd = {0};
        opts(&o, &rd);
        o.train_layers = 1;
        CHECK_OK(cs_finetune_run(model, pairs, outd, &o, &res, &err), &err);
        CHECK_MSG(rd.epochs_seen == 4 && rd.loss_last < rd.loss0, "last:1 loss %g -> %g",
                  rd.loss0, rd.loss_last);
        run_ctx re = {0};
        re.stop_after = 1;
        opts(&o, &re);
        o.train_layers = 1;
        CHECK(cs_finetune_run(model, pairs, oute, &o, &res, &err) == CS_E_INTERRUPTED);
        re.flag = 0;
        re.stop_after = 0;
        o.resume = true;
        o.train_layers = 0;   /* another run's state: refused */
        CHECK(cs_finetune_run(model, pairs, oute, &o, &res, &err) == CS_E_ARG);
        o.train_layers = 1;
        CHECK_OK(cs_finetune_run(model, pairs, oute, &o, &res, &err), &err);
        CHECK(res.first_epoch == 2);
        char fa[800], fb[800];
        snprintf(fa, sizeof fa, "%s/model.safetensors", outd);
        snprintf(fb, sizeof fb, "%s/model.safetensors", oute);
        uint8_t *da = NULL, *db = NULL;
        size_t la = 0, lb = 0;
        CHECK_OK(cs__read_file(fa, 0, &da, &la, &err), &err);
        CHECK_OK(cs__read_file(fb, 0, &db, &lb, &err), &err);
        CHECK_MSG(da && db && la == lb && !memcmp(da, db, la), "resumed last:1 run differs");
        free(da);
        free(db);
        cs_clip *a = NULL, *b = NULL;
        CHECK_OK(cs_clip_load(model, NULL, &a, &err), &err);
        CHECK_OK(cs_clip_load(outd, NULL, &b, &err), &err);
        if (a && b) {
            float pa[3 * 64], pb[3 * 64];
            int dt = cs_clip_text_width(a);
            CHECK_OK(cs_clip_pool_texts(a, TEXTS, 3, pa, &err), &err);
            CHECK_OK(cs_clip_pool_texts(b, TEXTS, 3, pb, &err), &err);
            double moved = 0;
            for (int i = 0; i < 3 * dt; i++) moved = fmax(moved, fabs(pa[i] - pb[i]));
            CHECK_MSG(moved > 1e-3, "last:1 left the text tower's pooled features as they were (%g)",
                      moved);
        }
        cs_clip_free(a);
        cs_clip_free(b);
        o.resume = false;
    }

    /* Errors leave no output: an occupied --out, nothing usable. */
    run_ctx rc = {0};
    opts(&o, &rc);
    CHECK(cs_finetune_run(model, pairs, outa, &o, &res, &err) == CS_E_ARG &&
          strstr(err.msg, "not empty"));
    char bad[700], outc[700];
    snprintf(bad, sizeof bad, "%s/bad.tsv", tmp);
    snprintf(outc, sizeof outc, "%s/c", tmp);
    write_text(bad, "missing1.jpg\tx\nmissing2.jpg\ty\n");
    CHECK(cs_finetune_run(model, bad, outc, &o, &res, &err) == CS_E_ARG &&
          strstr(err.msg, "0 usable training pairs (2 skipped)"));
    CHECK(stat(outc, &st) != 0);
    snprintf(partial, sizeof partial, "%s.partial", outc);
    CHECK(stat(partial, &st) != 0);
    o.batch = 1;
    CHECK(cs_finetune_run(model, pairs, outc, &o, &res, &err) == CS_E_ARG);
    /* A diverging run (logits of 1e308: the loss overflows) stops with a clear error and
     * writes nothing. */
    opts(&o, &rc);
    o.scale = 1e308;
    CHECK(cs_finetune_run(model, pairs, outc, &o, &res, &err) == CS_E_ARG &&
          strstr(err.msg, "loss is not finite") && strstr(err.msg, "nothing was written"));
    CHECK(stat(outc, &st) != 0 && stat(partial, &st) != 0);
}

int main(void)
{
    char tmp[] = "/tmp/cs_test_finetune_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_gradients();
    test_optim();
    test_pairs(tmp);
    test_state(tmp);
    test_end_to_end(tmp);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
    return TEST_RESULT();
}
