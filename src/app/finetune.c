/* cs_finetune_run: fine-tuning on image/caption pairs. Reads the pairs, caches what the
 * frozen part of the towers makes of them (pooled features, or the hidden states that
 * enter the trainable last layers), runs the epochs (shuffled batches, contrastive loss,
 * AdamW or SGD under a schedule; with trainable layers a forward and backward pass
 * through them per batch), evaluates after each epoch, keeps a resume state beside the
 * output, and saves the checkpoint atomically at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/finetune_internal.h"
#include "base/file.h"
#include "base/hash.h"

#define VISUAL_PROJ "visual_projection.weight"
#define TEXT_PROJ "text_projection.weight"

void cs_finetune_options_init(cs_finetune_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->val_split = 0.1;
    opt->epochs = 1;
    opt->batch = 32;
    opt->lr = 1e-4;
    opt->weight_decay = 0.01;
    opt->shuffle = true;
    cs_image_options_init(&opt->image);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* splitmix64: the only randomness (shuffles, split), a pure function of the seed. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void shuffle(size_t *v, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(&s) % i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static int check_options(const cs_finetune_options *o, cs_error *err)
{
    if (o->epochs < 1) return cs_error_set(err, CS_E_ARG, "epochs must be at least 1");
    if (o->train_layers < -1)
        return cs_error_set(err, CS_E_ARG, "train layers must be >= 0, or -1 for all");
    if (o->batch < 2) return cs_error_set(err, CS_E_ARG, "batch must be at least 2 (contrastive)");
    if (!(o->lr > 0.0) || !isfinite(o->lr)) return cs_error_set(err, CS_E_ARG, "lr must be > 0");
    if (!(o->weight_decay >= 0.0)) return cs_error_set(err, CS_E_ARG, "weight decay must be >= 0");
    if (o->warmup_steps < 0) return cs_error_set(err, CS_E_ARG, "warmup steps must be >= 0");
    if (!(o->val_split >= 0.0 && o->val_split < 1.0))
        return cs_error_set(err, CS_E_ARG, "val split must be in [0, 1)");
    if (o->loss != CS_FT_LOSS_CLIP && o->loss != CS_FT_LOSS_MNRL)
        return cs_error_set(err, CS_E_ARG, "unknown loss %d", o->loss);
    if (o->optimizer != CS_FT_ADAMW && o->optimizer != CS_FT_SGD)
        return cs_error_set(err, CS_E_ARG, "unknown optimizer %d", o->optimizer);
    if (o->schedule < CS_FT_CONSTANT || o->schedule > CS_FT_COSINE)
        return cs_error_set(err, CS_E_ARG, "unknown schedule %d", o->schedule);
    if (!isfinite(o->scale)) return cs_error_set(err, CS_E_ARG, "scale must be finite");
    return 0;
}

/* Everything a run's numbers depend on, hashed: a resume state made by another model,
 * other data or other options is refused instead of silently mixed in. */
static int run_key(const cs_clip *m, const char *pairs, const char *val,
                   const cs_finetune_options *o, uint64_t *key, cs_error *err)
{
    char buf[512], fp[33], hp[CS_HASH_HEX_LEN + 1], hv[CS_HASH_HEX_LEN + 1] = "";
    int rc = cs_clip_fingerprint(m, fp, err);
    if (!rc) rc = cs__hash128_file_hex(pairs, hp, err);
    if (!rc && val) rc = cs__hash128_file_hex(val, hv, err);
    if (rc) return rc;
    snprintf(buf, sizeof buf, "%s|%s|%s|%d|%d|%d|%d|%d|%ld|%.17g|%.17g|%.17g|%llu|%d|%.17g|%d|%d",
             fp, hp, hv, o->loss, o->optimizer, o->schedule, o->epochs, o->batch,
             o->warmup_steps, o->lr, o->weight_decay, o->scale, (unsigned long long)o->seed,
             o->shuffle, o->val_split, o->image.apply_exif_orientation, o->train_layers);
    *key = cs__hash64(buf, strlen(buf));
    return 0;
}

/* Train/val items: with a validation file, its pairs; otherwise a seeded choice of
 * distinct images (all their captions with them, so no image is on both sides). */
static int split(cs__ft_cache *c, bool have_val_file, const cs_finetune_options *o,
                 cs__ft_item **train, size_t *n_train, cs__ft_item **val, size_t *n_val,
                 cs_error *err)
{
    size_t n = c->n_items[0];
    *train = malloc((n + 1) * sizeof **train);
    *val = malloc((n + c->n_items[1] + 1) * sizeof **val);
    unsigned char *held = calloc(c->n_img + 1, 1);
    size_t *imgs = malloc((c->n_img + 1) * sizeof *imgs);
    int rc = !*train || !*val || !held || !imgs ? cs_error_set(err, CS_E_NOMEM, "out of memory") : 0;
    *n_train = *n_val = 0;
    if (!rc && have_val_file) {
        memcpy(*train, c->items[0], n * sizeof **train);
        *n_train = n;
        memcpy(*val, c->items[1], c->n_items[1] * sizeof **val);
        *n_val = c->n_items[1];
    } else if (!rc) {
        /* Distinct usable images in order of first appearance, then a seeded pick. */
        unsigned char *seen = held;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!seen[c->items[0][i].img]) {
                seen[c->items[0][i].img] = 1;
                imgs[k++] = c->items[0][i].img;
            }
        memset(held, 0, c->n_img + 1);
        size_t nv = (size_t)floor(o->val_split * (double)k + 0.5);
        if (o->val_split > 0.0 && nv == 0 && k >= 2) nv = 1;
        if (nv >= k) nv = k ? k - 1 : 0; /* keep at least one image to train on */
        shuffle(imgs, k, o->seed ^ 0x5eed5eed5eedull);
        for (size_t i = 0; i < nv; i++) held[imgs[i]] = 1;
        for (size_t i = 0; i < n; i++) {
            if (held[c->items[0][i].img]) (*val)[(*n_val)++] = c->items[0][i];
            else (*train)[(*n_train)++] = c->items[0][i];
        }
    }
    free(held);
    free(imgs);
    return rc;
}

/* A file, or a folder with anything in it: not a place to write the output into. */
static bool occupied(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return false;
    if (!S_ISDIR(st.st_mode)) return true;
    DIR *d = opendir(path);
    if (!d) return true;
    struct dirent *de;
    bool any = false;
    while (!any && (de = readdir(d))) any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return any;
}

typedef struct {
    float *wv, *wt, *mv, *vv, *mt, *vt, *gv, *gt;   /* one allocation, at wv */
    size_t nv, nt;
} heads;

static int heads_init(heads *h, const cs_clip *m, cs_error *err)
{
    size_t p = (size_t)cs_clip_embed_dim(m);
    h->nv = p * (size_t)cs_clip_vision_width(m);
    h->nt = p * (size_t)cs_clip_text_width(m);
    h->wv = calloc(4 * (h->nv + h->nt), sizeof(float));
    if (!h->wv) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    h->wt = h->wv + h->nv;
    h->mv = h->wt + h->nt;
    h->vv = h->mv + h->nv;
    h->mt = h->vv + h->nv;
    h->vt = h->mt + h->nt;
    h->gv = h->vt + h->nt;
    h->gt = h->gv + h->nv;
    memcpy(h->wv, cs_clip_visual_projection(m), h->nv * sizeof(float));
    memcpy(h->wt, cs_clip_text_projection(m), h->nt * sizeof(float));
    return 0;
}

/* The towers' trainable last layers (--train last:K), with their AdamW moments, and the
 * batch's buffers for the passes through them. */
typedef struct {
    cs_tower_trainer *tr[2];        /* vision, text; NULL when only the heads train */
    float *p[2], *g[2], *m[2], *v[2];
    size_t n[2];
    float *pooled[2], *gx[2];       /* batch * width */
    const float **x[2];
    int *rows[2];
} towers;

static void towers_free(towers *w)
{
    for (int i = 0; i < 2; i++) {
        cs_tower_trainer_free(w->tr[i]);
        free(w->m[i]);
        free(w->pooled[i]);
        free(w->x[i]);
    }
}

static int towers_init(towers *w, const cs_clip *m, int k, int batch, cs_error *err)
{
    memset(w, 0, sizeof *w);
    if (k == 0) return 0;
    for (int i = 0; i < 2; i++) {
        /* k < 0: every layer and the embeddings (--train all). */
        int rc = cs_tower_trainer_new(m, i == 0 ? CS_TOWER_VISION : CS_TOWER_TEXT, k < 0 ? 0 : k,
                                      k < 0, &w->tr[i], err);
        if (rc) return rc;
        w->p[i] = cs_tower_trainer_params(w->tr[i], &w->n[i]);
        w->g[i] = cs_tower_trainer_grads(w->tr[i]);
        size_t d = (size_t)cs_tower_trainer_width(w->tr[i]);
        w->m[i] = calloc(2 * w->n[i], sizeof(float));
        w->pooled[i] = malloc(2 * (size_t)batch * d * sizeof(float));
        w->x[i] = malloc((size_t)batch * (sizeof *w->x[i] + sizeof *w->rows[i]));
        if (!w->m[i] || !w->pooled[i] || !w->x[i]) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        w->v[i] = w->m[i] + w->n[i];
        w->gx[i] = w->pooled[i] + (size_t)batch * d;
        w->rows[i] = (int *)(w->x[i] + batch);
    }
    return 0;
}

/* The state's segments: heads, then the towers' parameters and moments. */
static cs__ft_state as_state(const heads *h, const towers *w, uint64_t key, int epochs_done,
                            long step)
{
    cs__ft_state s = {.key = key, .epochs_done = epochs_done, .step = step};
    float *seg[] = {h->wv, h->wt, h->mv, h->vv, h->mt, h->vt};
    size_t n[] = {h->nv, h->nt, h->nv, h->nv, h->nt, h->nt};
    for (int i = 0; i < 6; i++) {
        s.seg[s.n_seg] = seg[i];
        s.seg_n[s.n_seg++] = n[i];
    }
    for (int i = 0; w->tr[0] && i < 2; i++) {
        float *ts[] = {w->p[i], w->m[i], w->v[i]};
        for (int j = 0; j < 3; j++) {
            s.seg[s.n_seg] = ts[j];
            s.seg_n[s.n_seg++] = w->n[i];
        }
    }
    return s;
}

/* One batch through the trainable layers: the pooled features (t->xi/xt point at them),
 * the loss and every gradient. Returns the loss, or a negative value with err set. */
static double tower_batch(cs__ft_trainer *t, towers *w, const heads *h, const cs__ft_item *items,
                          const size_t *order, size_t from, int b, cs_error *err)
{
    const cs__ft_cache *c = t->c;
    size_t dv = (size_t)c->dv, dt = (size_t)c->dt;
    for (int k = 0; k < b; k++) {
        const cs__ft_item *it = &items[order ? order[from + k] : from + k];
        w->x[0][k] = c->hi + (size_t)it->img * c->img_rows * c->in_v;
        w->rows[0][k] = c->img_rows;
        w->x[1][k] = c->ht + c->t_off[it->txt];
        w->rows[1][k] = c->t_rows[it->txt];
    }
    for (int i = 0; i < 2; i++) {
        cs_tower_trainer_zero_grads(w->tr[i]);
        if (cs_tower_trainer_forward(w->tr[i], w->x[i], w->rows[i], b, w->pooled[i], err))
            return -1.0;
    }
    for (int k = 0; k < b; k++) {
        t->xi[k] = w->pooled[0] + (size_t)k * dv;
        t->xt[k] = w->pooled[1] + (size_t)k * dt;
    }
    double l = cs__ft_batch_loss(&t->dims, t->xi, t->xt, b, h->wv, h->wt, t->scale, t->loss,
                                h->gv, h->gt, w->gx[0], w->gx[1]);
    if (l < 0.0) {
        cs_error_set(err, CS_E_NOMEM, "out of memory");
        return -1.0;
    }
    for (int i = 0; i < 2; i++)
        if (cs_tower_trainer_backward(w->tr[i], w->gx[i], err)) return -1.0;
    return l;
}

static void report(const cs_finetune_options *o, cs__ft_trainer *t, const heads *h, int epoch,
                   long step, double lr, double train_loss, const cs__ft_item *val, size_t n_val,
                   size_t n_train, double t0)
{
    if (!o->on_epoch) return;
    /* With trainable layers, t->c's pooled features were refreshed by the caller. */
    cs_ft_epoch e = {.epoch = epoch, .epochs = o->epochs, .steps = step, .lr = lr,
                     .train_loss = train_loss, .n_train = n_train, .n_val = n_val};
    e.val_loss = cs__ft_eval_loss(t, val, n_val, o->batch, h->wv, h->wt);
    cs__ft_recall(t, val, n_val, h->wv, h->wt, &e.val_recall1, &e.val_recall5,
                 &e.val_i2t_recall1, &e.val_i2t_recall5);
    e.seconds = now() - t0;
    o->on_epoch(o->ctx, &e);
}

/* The epochs from `first` on; the state is saved after each. */
static int train(const cs_finetune_options *o, cs__ft_trainer *t, heads *h, towers *w,
                 cs__ft_cache *cache, const cs__ft_item *tr,
                 size_t n_train, const cs__ft_item *val, size_t n_val, int first, long *step,
                 uint64_t key, const char *state_path, cs_error *err)
{
    size_t *order = malloc(n_train * sizeof *order);
    if (!order) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    long per_epoch = (long)((n_train + (size_t)o->batch - 1) / (size_t)o->batch);
    long total = per_epoch * o->epochs;
    cs__ft_adamw aw = {0.9, 0.999, 1e-8, o->weight_decay};
    int rc = 0;
    double lr = 0.0;
    for (int e = first; !rc && e <= o->epochs; e++) {
        double t0 = now(), sum = 0.0;
        for (size_t i = 0; i < n_train; i++) order[i] = i;
        /* Each epoch's order depends only on (seed, epoch): a resumed run sees the same. */
        if (o->shuffle) shuffle(order, n_train, o->seed * 0x9e3779b97f4a7c15ull + (uint64_t)e);
        for (size_t i = 0; !rc && i < n_train; i += (size_t)o->batch) {
            if (o->stop && *o->stop) {
                if (e > 1)
                    rc = cs_error_set_remedy(err, CS_E_INTERRUPTED, CS_REMEDY_RESUME,
                                             "interrupted in epoch %d; the state after epoch "
                                             "%d is kept in %s, from where a resumed run "
                                             "continues",
                                             e, e - 1, state_path);
                else
                    rc = cs_error_set(err, CS_E_INTERRUPTED,
                                      "interrupted in epoch 1: no epoch finished, nothing kept");
                break;
            }
            int b = (int)(n_train - i < (size_t)o->batch ? n_train - i : (size_t)o->batch);
            lr = cs__ft_lr_at(o->schedule, o->lr, *step, o->warmup_steps, total);
            double l;
            if (w->tr[0]) {
                l = tower_batch(t, w, h, tr, order, i, b, err);
            } else {
                cs__ft_gather(t, tr, order, i, b);
                l = cs__ft_batch_loss(&t->dims, t->xi, t->xt, b, h->wv, h->wt, t->scale, t->loss,
                                     h->gv, h->gt, NULL, NULL);
                if (l < 0.0) cs_error_set(err, CS_E_NOMEM, "out of memory");
            }
            if (l < 0.0) {
                rc = err->code;
                break;
            }
            /* A diverged run would only write garbage: stop, keep the last good state. */
            if (!isfinite(l)) {
                rc = cs_error_set(err, CS_E_ARG,
                                  "the loss is not finite (%g) at step %ld of epoch %d: "
                                  "training diverged; try a lower learning rate (now %g) or "
                                  "scale; nothing was written%s",
                                  l, *step + 1, e, o->lr,
                                  e > 1 ? " (the state after the last finished epoch is kept)"
                                        : "");
                break;
            }
            sum += b * l;
            ++*step;
            if (o->on_step) {
                cs_ft_step st = {e, o->epochs, (long)(i / (size_t)o->batch) + 1, per_epoch, l,
                                 sum / (double)(i + (size_t)b)};
                o->on_step(o->ctx, &st);
            }
            if (o->optimizer == CS_FT_SGD) {
                cs__ft_sgd_step(h->wv, h->gv, h->nv, lr);
                cs__ft_sgd_step(h->wt, h->gt, h->nt, lr);
            } else {
                cs__ft_adamw_step(&aw, h->wv, h->gv, h->mv, h->vv, h->nv, lr, *step);
                cs__ft_adamw_step(&aw, h->wt, h->gt, h->mt, h->vt, h->nt, lr, *step);
            }
            for (int k = 0; w->tr[0] && k < 2; k++) {
                if (o->optimizer == CS_FT_SGD) cs__ft_sgd_step(w->p[k], w->g[k], w->n[k], lr);
                else cs__ft_adamw_step(&aw, w->p[k], w->g[k], w->m[k], w->v[k], w->n[k], lr, *step);
            }
        }
        if (rc) break;
        cs__ft_state st = as_state(h, w, key, e, *step);
        rc = cs__ft_state_save(state_path, &st, err);
        /* Evaluation sees the layers as they are now. */
        if (!rc && w->tr[0]) rc = cs__ft_cache_refresh(cache, w->tr, err);
        if (!rc) report(o, t, h, e, *step, lr, sum / (double)n_train, val, n_val, n_train, t0);
    }
    free(order);
    return rc;
}

/* The checkpoint with the heads and, when they trained, the towers' layers replaced. */
static int save(const cs_clip *m, const char *out, const heads *h, const towers *w,
                bool st_layout, cs_error *err)
{
    size_t n = 2;
    for (int i = 0; w->tr[0] && i < 2; i++) n += cs_tower_trainer_tensors(w->tr[i]);
    cs_clip_tensor_update *up = malloc(n * sizeof *up);
    if (!up) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    up[0] = (cs_clip_tensor_update){VISUAL_PROJ, h->wv};
    up[1] = (cs_clip_tensor_update){TEXT_PROJ, h->wt};
    size_t k = 2;
    for (int i = 0; w->tr[0] && i < 2; i++)
        for (size_t j = 0; j < cs_tower_trainer_tensors(w->tr[i]); j++) {
            size_t off;
            const char *name = cs_tower_trainer_tensor(w->tr[i], j, &off, NULL);
            up[k++] = (cs_clip_tensor_update){name, w->p[i] + off};
        }
    int rc = st_layout ? cs_clip_save_st(m, out, up, n, err) : cs_clip_save(m, out, up, n, err);
    free(up);
    return rc;
}

static int prepare(const char *out_dir, const cs_finetune_options *o, char **out, char **state,
                   cs_error *err)
{
    size_t len = strlen(out_dir);
    while (len > 1 && out_dir[len - 1] == '/') len--;
    *out = strndup(out_dir, len);
    *state = malloc(len + 9);
    if (!*out || !*state) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    snprintf(*state, len + 9, "%s.partial", *out);
    if (occupied(*out))
        return cs_error_set(err, CS_E_ARG,
                            "%s exists and is not empty; choose another output folder or "
                            "remove it",
                            *out);
    if (!o->resume && cs__file_exists(*state))
        return cs_error_set_remedy(err, CS_E_ARG, CS_REMEDY_RESUME,
                                   "%s holds the state of an interrupted run: resume the run "
                                   "to continue it, or delete it to start again",
                                   *state);
    /* The state and the output are written beside DIR: find out now, not after hours
     * of training, that this is impossible. */
    char *parent = strdup(*out);
    if (!parent) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    char *slash = strrchr(parent, '/');
    if (slash) slash[slash == parent] = '\0';
    const char *where = slash ? parent : ".";
    int rc = 0;
    if (!cs__dir_exists(where))
        rc = cs_error_set(err, CS_E_ARG, "cannot write %s: folder %s does not exist", *out, where);
    else if (access(where, W_OK) != 0)
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: folder %s is not writable", *out,
                          where);
    free(parent);
    return rc;
}

int cs_finetune_run(const char *model_dir, const char *pairs_path, const char *out_dir,
                    const cs_finetune_options *o, cs_finetune_result *res, cs_error *err)
{
    memset(res, 0, sizeof *res);
    char *out = NULL, *state_path = NULL;
    cs_clip *m = NULL;
    cs__ft_pairs sets[2] = {{0}};
    cs__ft_cache cache = {0};
    cs__ft_item *tr = NULL, *val = NULL;
    heads h = {0};
    towers w = {0};
    cs__ft_trainer t = {0};
    size_t n_train = 0, n_val = 0;
    long step = 0;
    int first = 1;
    uint64_t key = 0;
    int rc = check_options(o, err);
    if (!rc) rc = prepare(out_dir, o, &out, &state_path, err);
    cs_clip_options copt;
    cs_clip_options_init(&copt);
    copt.n_threads = o->n_threads;
    if (!rc) rc = cs_clip_load(model_dir, &copt, &m, err);
    if (!rc) rc = cs__ft_pairs_read(pairs_path, &sets[0], err);
    if (!rc && o->val_path) rc = cs__ft_pairs_read(o->val_path, &sets[1], err);
    if (!rc) rc = run_key(m, pairs_path, o->val_path, o, &key, err);
    if (!rc) rc = heads_init(&h, m, err);
    if (!rc) rc = towers_init(&w, m, o->train_layers, o->batch, err);
    /* The resume state is checked before the long feature caching, so a state of another
     * run is refused at once. */
    if (!rc && o->resume && cs__file_exists(state_path)) {
        cs__ft_state st = as_state(&h, &w, key, 0, 0);
        rc = cs__ft_state_load(state_path, key, &st, err);
        if (!rc) {
            first = st.epochs_done + 1;
            step = st.step;
        }
    } else if (!rc && o->resume && o->on_notice) {
        o->on_notice(o->ctx, "no resume state found: starting from the first epoch");
    }
    if (!rc) {
        const cs__ft_pairs *sp[2] = {&sets[0], o->val_path ? &sets[1] : NULL};
        rc = w.tr[0] ? cs__ft_cache_build_towers(m, w.tr, sp, o, &cache, err)
                     : cs__ft_cache_build(m, sp, o, &cache, err);
    }
    if (!rc) rc = split(&cache, o->val_path != NULL, o, &tr, &n_train, &val, &n_val, err);
    if (!rc && n_train < 2)
        rc = cs_error_set(err, CS_E_ARG,
                          "%zu usable training pairs (%zu skipped): contrastive training needs "
                          "at least 2",
                          n_train, cache.n_skipped);
    if (!rc) {
        res->n_train = n_train;
        res->n_val = n_val;
        res->n_images = cache.n_img;
        res->n_texts = cache.n_txt;
        res->n_skipped = cache.n_skipped;
        res->cache_seconds = cache.image_seconds + cache.text_seconds;
        res->images_per_second =
            cache.image_seconds > 0 ? (double)cache.n_img / cache.image_seconds : 0.0;
        t.c = &cache;
        t.dims = (cs__ft_dims){cache.dv, cache.dt, cs_clip_embed_dim(m)};
        t.scale = o->scale > 0.0 ? o->scale : (double)cs_clip_logit_scale(m);
        t.loss = o->loss;
        t.xi = malloc((size_t)o->batch * sizeof *t.xi);
        t.xt = malloc((size_t)o->batch * sizeof *t.xt);
        if (!t.xi || !t.xt) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    double t0 = now();
    if (!rc && first == 1)
        report(o, &t, &h, 0, 0, 0.0, cs__ft_eval_loss(&t, tr, n_train, o->batch, h.wv, h.wt), val,
               n_val, n_train, t0);
    res->first_epoch = first;
    if (!rc) rc = train(o, &t, &h, &w, &cache, tr, n_train, val, n_val, first, &step, key,
                        state_path, err);
    res->train_seconds = now() - t0;
    if (!rc) rc = save(m, out, &h, &w, o->st_layout, err);
    if (!rc) unlink(state_path);
    free(t.xi);
    free(t.xt);
    free(h.wv);
    towers_free(&w);
    free(tr);
    free(val);
    cs__ft_cache_free(&cache);
    cs__ft_pairs_free(&sets[0]);
    cs__ft_pairs_free(&sets[1]);
    cs_clip_free(m);
    free(out);
    free(state_path);
    return rc;
}
