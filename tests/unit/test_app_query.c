/* Query side of the library with the tiny CLIP fixture: query vectors (text, image,
 * mixed weights), top-k / min-score / filters / dimension checks over a real collection,
 * zero-shot labels against a hand-computed softmax, add-text, thumbnails and the HTML
 * gallery. Store: $CS_TEST_DB_URL when set (e.g. pgvector), else a temporary SQLite. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "clipsearch/clip.h"
#include "clipsearch/gallery.h"
#include "clipsearch/labels.h"
#include "clipsearch/query.h"
#include "clipsearch/search_session.h"
#include "clipsearch/text_collection.h"
#include <jansson.h>
#include <pthread.h>
#include "test.h"

#define NIMG 6
static const char *IMAGES[NIMG] = {
    "gradient_rgb_640x480.png", "shapes_baseline_300x500.jpg", "noise_rgb_224x224.png",
    "palette_P_200x150.png",    "portrait_444_480x640.jpg",    "rgba_256x320.png"};

static char *img_path(const char *src, const char *name)
{
    static char buf[NIMG + 2][4096];
    static int next;
    char *b = buf[next++ % (NIMG + 2)];
    snprintf(b, 4096, "%s/tests/fixtures/tiny/images/%s", src, name);
    return b;
}

static double dot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void test_split(void)
{
    cs_error err = {0};
    char **v = NULL;
    size_t n = 0;
    CHECK_OK(cs_labels_split(" a dog, a cat ,,\tcar\t,", &v, &n, &err), &err);
    CHECK(n == 3);
    if (n == 3) CHECK(!strcmp(v[0], "a dog") && !strcmp(v[1], "a cat") && !strcmp(v[2], "car"));
    cs_strings_free(v, n);
    CHECK_OK(cs_lines_split("one\r\n\n  two  \nthree", &v, &n, &err), &err);
    CHECK(n == 3);
    if (n == 3) CHECK(!strcmp(v[0], "one") && !strcmp(v[1], "two") && !strcmp(v[2], "three"));
    cs_strings_free(v, n);
    CHECK_OK(cs_lines_split("", &v, &n, &err), &err);
    CHECK(n == 0);
    cs_strings_free(v, n);
}

static void test_embed(const cs_clip *m, const char *src)
{
    int d = cs_clip_embed_dim(m);
    float *t = malloc(sizeof(float) * d), *i = malloc(sizeof(float) * d);
    float *mix = malloc(sizeof(float) * d), *ref = malloc(sizeof(float) * d);
    cs_error err = {0};
    cs_search_request r;
    cs_search_request_init(&r);
    CHECK(r.k == 10 && r.text_weight == 0.5f && r.image_weight == 0.5f);
    CHECK(cs_query_embed(m, &r, t, &err) == CS_E_ARG);

    r.text = "a photo of a red square";
    CHECK_OK(cs_query_embed(m, &r, t, &err), &err);
    CHECK(fabs(dot(t, t, d) - 1) < 1e-5);
    /* Same as the engine's own embedding, normalised. */
    const char *txt = r.text;
    CHECK_OK(cs_clip_embed_texts(m, &txt, 1, ref, &err), &err);
    cs_l2_normalize(ref, (size_t)d);
    CHECK(dot(t, ref, d) > 0.99999);

    r.text = NULL;
    r.image_path = img_path(src, IMAGES[0]);
    CHECK_OK(cs_query_embed(m, &r, i, &err), &err);
    CHECK(fabs(dot(i, i, d) - 1) < 1e-5);

    /* Mixed: normalise(wt*t + wi*i) with t, i unit vectors. */
    r.text = "a photo of a red square";
    r.text_weight = 0.3f;
    r.image_weight = 0.7f;
    CHECK_OK(cs_query_embed(m, &r, mix, &err), &err);
    for (int k = 0; k < d; k++) ref[k] = 0.3f * t[k] + 0.7f * i[k];
    cs_l2_normalize(ref, (size_t)d);
    CHECK(dot(mix, ref, d) > 0.99999);
    /* A zero weight reduces to the other modality. */
    r.text_weight = 0;
    r.image_weight = 1;
    CHECK_OK(cs_query_embed(m, &r, mix, &err), &err);
    CHECK(dot(mix, i, d) > 0.99999);
    r.text_weight = 2;
    r.image_weight = 0;
    CHECK_OK(cs_query_embed(m, &r, mix, &err), &err);
    CHECK(dot(mix, t, d) > 0.99999);
    r.text_weight = 0;
    CHECK(cs_query_embed(m, &r, mix, &err) == CS_E_ARG);
    r.text_weight = NAN;
    r.image_weight = 1;
    CHECK(cs_query_embed(m, &r, mix, &err) == CS_E_ARG);

    /* A missing image names the file. */
    cs_search_request_init(&r);
    r.image_path = "/nonexistent/q.jpg";
    CHECK(cs_query_embed(m, &r, mix, &err) != 0);
    CHECK(strstr(err.msg, "/nonexistent/q.jpg") != NULL);
    free(t);
    free(i);
    free(mix);
    free(ref);
}

/* Indexes NIMG fixture images (id = path, metadata {"type","name","n"}). */
static void fill(const cs_clip *m, cs_collection *c, const char *src)
{
    int d = cs_clip_embed_dim(m);
    float *v = malloc(sizeof(float) * d * NIMG);
    cs_record_in recs[NIMG];
    char meta[NIMG][128];
    cs_error err = {0};
    for (int k = 0; k < NIMG; k++) {
        cs_search_request r;
        cs_search_request_init(&r);
        r.image_path = img_path(src, IMAGES[k]);
        CHECK_OK(cs_query_embed(m, &r, v + k * d, &err), &err);
        const char *ext = strrchr(IMAGES[k], '.') + 1;
        snprintf(meta[k], sizeof meta[k], "{\"type\":\"%s\",\"name\":\"%s\",\"n\":%d}", ext,
                 IMAGES[k], k);
        recs[k].id = strdup(img_path(src, IMAGES[k]));
        recs[k].vector = v + k * d;
        recs[k].metadata_json = meta[k];
    }
    CHECK_OK(cs_collection_upsert(c, recs, NIMG, &err), &err);
    for (int k = 0; k < NIMG; k++) free((char *)recs[k].id);
    free(v);
}

static void test_search(const cs_clip *m, cs_store *s, const char *src)
{
    cs_error err = {0};
    cs_collection *c = NULL;
    cs_store_drop(s, "test_app_query_images", &err);
    CHECK_OK(cs_store_get_or_create(s, "test_app_query_images", cs_clip_embed_dim(m), &c, &err), &err);
    if (!c) return;
    fill(m, c, src);

    /* Image -> images: every indexed image finds itself first with score ~1, and scores
     * are descending. */
    for (int k = 0; k < NIMG; k++) {
        cs_search_request r;
        cs_search_request_init(&r);
        r.image_path = img_path(src, IMAGES[k]);
        cs_hits h = {0};
        CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
        CHECK(h.n == NIMG);
        if (h.n) {
            CHECK_MSG(!strcmp(h.items[0].id, r.image_path), "%s ranks %s first", IMAGES[k], h.items[0].id);
            CHECK(fabs(h.items[0].score - 1) < 1e-4);
            CHECK(h.items[0].rank == 1);
            CHECK(strstr(h.items[0].metadata_json, IMAGES[k]) != NULL);
        }
        for (size_t j = 1; j < h.n; j++) {
            CHECK(h.items[j].score <= h.items[j - 1].score);
            CHECK(h.items[j].rank == (int)j + 1);
        }
        cs_hits_free(&h);
    }

    cs_search_request r;
    cs_search_request_init(&r);
    r.text = "a colourful gradient";
    cs_hits all = {0}, h = {0};
    CHECK_OK(cs_query_run(m, c, &r, &all, &err), &err);
    CHECK(all.n == NIMG);
    /* -k keeps the prefix. */
    r.k = 2;
    CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
    CHECK(h.n == 2);
    for (size_t j = 0; j < h.n && j < all.n; j++) CHECK(!strcmp(h.items[j].id, all.items[j].id));
    cs_hits_free(&h);
    /* --min-score between the 3rd and 4th score keeps exactly 3. */
    if (all.n == NIMG) {
        r.k = 10;
        r.has_min_score = true;
        r.min_score = (all.items[2].score + all.items[3].score) / 2;
        CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
        CHECK_MSG(h.n == 3, "min-score kept %zu", h.n);
        for (size_t j = 0; j < h.n; j++) CHECK(h.items[j].score >= r.min_score);
        cs_hits_free(&h);
        r.min_score = 2;   /* above any cosine */
        CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
        CHECK(h.n == 0);
        cs_hits_free(&h);
        r.has_min_score = false;
        /* ef_search reaches the store, which checks its range. */
        r.ef_search = 1001;
        CHECK(cs_query_run(m, c, &r, &h, &err) == CS_E_ARG && strstr(err.msg, "ef_search"));
        cs_hits_free(&h);
        r.ef_search = 200;
        CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
        CHECK(h.n == all.n);
        cs_hits_free(&h);
        r.ef_search = 0;
    }
    /* Filters go to the store: only the JPEGs. */
    r.filter_json = "{\"type\":{\"$eq\":\"jpg\"}}";
    CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
    CHECK(h.n == 2);
    for (size_t j = 0; j < h.n; j++) CHECK(strstr(h.items[j].id, ".jpg") != NULL);
    cs_hits_free(&h);
    r.filter_json = "{\"n\":{\"$gte\":4}}";
    CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
    CHECK(h.n == 2);
    cs_hits_free(&h);
    r.filter_json = "{\"type\":{\"$regex\":\"x\"}}";
    CHECK(cs_query_run(m, c, &r, &h, &err) == CS_E_FILTER);
    CHECK(h.n == 0);
    r.filter_json = NULL;

    /* Gallery of the text query: self-contained, escaped. */
    char html[] = "/tmp/cs_gallery_XXXXXX";
    int fd = mkstemp(html);
    close(fd);
    cs_gallery_options g;
    cs_gallery_options_init(&g);
    g.title = "<script>alert(1)</script> & \"q\"";
    g.thumb_size = 64;
    CHECK_OK(cs_gallery_write_html(html, &all, &g, &err), &err);
    uint8_t *page = NULL;
    size_t len = 0;
    CHECK_OK(cs__read_file(html, 0, &page, &len, &err), &err);
    if (page) {
        const char *p = (const char *)page;
        CHECK(strstr(p, "<script>") == NULL);
        CHECK(strstr(p, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;") != NULL);
        /* One JPEG data: URI per hit (base64 of FF D8 FF starts with /9j/). */
        size_t imgs = 0;
        for (const char *q = p; (q = strstr(q, "data:image/jpeg;base64,/9j/")); q++) imgs++;
        CHECK_MSG(imgs == all.n, "%zu thumbnails for %zu hits", imgs, all.n);
        CHECK(strstr(p, "src=\"http") == NULL);
        for (size_t j = 0; j < all.n; j++) CHECK(strstr(p, all.items[j].id) != NULL);
        char sc[32];
        snprintf(sc, sizeof sc, "%.4f", all.items[0].score);
        CHECK(strstr(p, sc) != NULL);
    }
    free(page);
    remove(html);
    CHECK(cs_gallery_write_html("/nonexistent/dir/x.html", &all, &g, &err) == CS_E_IO);
    cs_hits_free(&all);
    cs_collection_free(c);

    /* A collection of another dimension: a clear error naming both. */
    CHECK_OK(cs_store_get_or_create(s, "test_app_query_dim7", 7, &c, &err), &err);
    if (c) {
        cs_search_request_init(&r);
        r.text = "x";
        CHECK(cs_query_run(m, c, &r, &h, &err) == CS_E_MISMATCHED_DIMENSION);
        CHECK(strstr(err.msg, "7") && strstr(err.msg, "32"));
        cs_collection_free(c);
    }
    cs_store_drop(s, "test_app_query_dim7", &err);
    cs_store_drop(s, "test_app_query_images", &err);
}

static void test_labels(const cs_clip *m, const char *src)
{
    cs_error err = {0};
    cs_image img = {0};
    CHECK_OK(cs_image_decode_file(img_path(src, IMAGES[1]), NULL, &img, NULL, &err), &err);
    const char *labels[] = {"a red circle", "a blue square", "stripes", "a photo of a dog"};
    size_t n = 4;
    cs_label_score out[4];
    CHECK_OK(cs_labels_rank(m, &img, labels, n, out, &err), &err);
    int d = cs_clip_embed_dim(m);
    float *t = malloc(sizeof(float) * d * n), *iv = malloc(sizeof(float) * d);
    CHECK_OK(cs_clip_embed_texts(m, labels, n, t, &err), &err);
    CHECK_OK(cs_clip_embed_image(m, &img, iv, &err), &err);
    cs_l2_normalize(iv, (size_t)d);
    double logits[4], mx = -1e30, sum = 0, psum = 0;
    for (size_t k = 0; k < n; k++) {
        cs_l2_normalize(t + k * d, (size_t)d);
        logits[k] = cs_clip_logit_scale(m) * dot(t + k * d, iv, d);
        if (logits[k] > mx) mx = logits[k];
    }
    for (size_t k = 0; k < n; k++) sum += exp(logits[k] - mx);
    for (size_t k = 0; k < n; k++) {
        psum += out[k].probability;
        if (k) CHECK(out[k].probability <= out[k - 1].probability);
        size_t j = 0;
        while (j < n && strcmp(labels[j], out[k].label)) j++;
        CHECK(j < n);
        if (j < n) {
            CHECK(fabs(out[k].probability - exp(logits[j] - mx) / sum) < 1e-6);
            CHECK(fabs(out[k].score - logits[j] / cs_clip_logit_scale(m)) < 1e-5);
        }
    }
    CHECK(fabs(psum - 1) < 1e-9);
    CHECK(fabs(cs_clip_logit_scale(m) - 100) < 1e-3);
    CHECK(cs_labels_rank(m, &img, labels, 0, out, &err) == CS_E_ARG);
    free(t);
    free(iv);
    cs_image_free(&img);
}

static void test_add_text(const cs_clip *m, cs_store *s)
{
    cs_error err = {0};
    cs_collection *c = NULL;
    cs_store_drop(s, "test_app_query_texts", &err);
    CHECK_OK(cs_store_get_or_create(s, "test_app_query_texts", cs_clip_embed_dim(m), &c, &err), &err);
    if (!c) return;
    const char *texts[] = {"a red square", "a blue circle", "a red square", "green stripes",
                           "a blue circle", "noise"};
    cs_add_text_stats st;
    CHECK_OK(cs_add_texts(m, c, texts, 6, 2, &st, &err), &err);
    CHECK(st.lines == 6 && st.upserted == 4 && st.duplicates == 2);
    int64_t count = 0;
    CHECK_OK(cs_collection_count(c, &count, &err), &err);
    CHECK(count == 4);
    cs_search_request r;
    cs_search_request_init(&r);
    r.text = "green stripes";
    cs_hits h = {0};
    CHECK_OK(cs_query_run(m, c, &r, &h, &err), &err);
    CHECK(h.n == 4);
    if (h.n) {
        CHECK(!strcmp(h.items[0].id, "green stripes"));
        CHECK(fabs(h.items[0].score - 1) < 1e-4);
        CHECK(strstr(h.items[0].metadata_json, "\"text\"") != NULL);
    }
    cs_hits_free(&h);
    cs_collection_free(c);
    cs_store_drop(s, "test_app_query_texts", &err);
}

static void test_thumbnail(const char *src)
{
    cs_error err = {0};
    uint8_t *j = NULL;
    size_t len = 0;
    CHECK_OK(cs_thumbnail_jpeg(img_path(src, "portrait_444_480x640.jpg"), 64, 80, true, &j, &len, &err), &err);
    cs_image img = {0};
    CHECK(len > 100 && j && j[0] == 0xFF && j[1] == 0xD8);
    CHECK_OK(cs_image_decode_memory(j, len, NULL, &img, NULL, &err), &err);
    CHECK(img.width == 48 && img.height == 64);
    cs_image_free(&img);
    free(j);
    /* Never upscaled. */
    CHECK_OK(cs_thumbnail_jpeg(img_path(src, "small_31x17.png"), 64, 80, true, &j, &len, &err), &err);
    CHECK_OK(cs_image_decode_memory(j, len, NULL, &img, NULL, &err), &err);
    CHECK(img.width == 31 && img.height == 17);
    cs_image_free(&img);
    free(j);
    CHECK(cs_thumbnail_jpeg("/nonexistent.png", 64, 80, true, &j, &len, &err) != 0);
}

/* Gallery rows that are not images: a deleted file, one flagged missing
 * (search --include-missing) and a text record. */
static void test_gallery_non_images(void)
{
    cs_hit items[3] = {{1, "/nonexistent/gone.jpg", 0.5, "{\"type\":\"jpg\"}", false},
                       {2, "a <caption> & more", 0.25, "{\"type\":\"text\"}", false},
                       {3, "/nonexistent/flagged.jpg", 0.125, "{\"type\":\"jpg\"}", true}};
    cs_hits hits = {items, 3, 0, NULL};
    char html[] = "/tmp/cs_gallery2_XXXXXX";
    int fd = mkstemp(html);
    close(fd);
    cs_error err = {0};
    CHECK_OK(cs_gallery_write_html(html, &hits, NULL, &err), &err);
    uint8_t *page = NULL;
    size_t len = 0;
    CHECK_OK(cs__read_file(html, 0, &page, &len, &err), &err);
    if (page) {
        const char *p = (const char *)page;
        CHECK(strstr(p, "(image not readable)") != NULL);
        CHECK(strstr(p, "/nonexistent/gone.jpg") != NULL);
        CHECK(strstr(p, "<div class=\"text\">a &lt;caption&gt; &amp; more</div>") != NULL);
        CHECK(strstr(p, "data:image") == NULL);
        CHECK(strstr(p, "0.2500") != NULL && strstr(p, "3 results") != NULL);
        /* A file that is there links to itself; a flagged one says it is gone. */
        CHECK(strstr(p, "href=\"file:///nonexistent/gone.jpg\"") != NULL);
        CHECK(strstr(p, "data-missing=\"true\"") != NULL);
        CHECK(strstr(p, "(file no longer exists)") != NULL);
        CHECK(strstr(p, "href=\"file:///nonexistent/flagged.jpg\"") == NULL);
    }
    free(page);
    remove(html);
}

/* ---- the search session (search_session.h) ----------------------------------------- */

static void count_warning(void *ctx, const char *msg)
{
    (void)msg;
    (*(int *)ctx)++;
}

/* Counts encodings; runs them on the calling thread under a lock, as the web server's
 * one model thread would serialise them. */
typedef struct { int n; pthread_mutex_t mu; } encodings;
static void count_encoding(void *ctx, void (*fn)(void *), void *arg)
{
    encodings *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->n++;
    fn(arg);
    pthread_mutex_unlock(&e->mu);
}

typedef struct { cs_search_session *s; const char *like; int failures; cs_hits first; } worker;

static void *session_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 10; i++) {
        cs_search_request r;
        cs_search_request_init(&r);
        if (i % 2) r.like_id = w->like;
        else r.text = "a colourful gradient";
        cs_hits h = {0};
        cs_error err = {0};
        if (cs_search_session_run(w->s, NULL, &r, &h, &err) != 0 || h.n != NIMG) w->failures++;
        if (i == 0 && w->first.n == 0) w->first = h;
        else cs_hits_free(&h);
    }
    return NULL;
}

static void test_session(const cs_clip *m, cs_store *store, const char *url, const char *src)
{
    cs_error err = {0};
    cs_collection *fill_c = NULL;
    cs_store_drop(store, "test_app_query_session", &err);
    CHECK_OK(cs_store_get_or_create(store, "test_app_query_session", cs_clip_embed_dim(m),
                                    &fill_c, &err), &err);
    if (!fill_c) return;
    fill(m, fill_c, src);
    cs_collection_free(fill_c);
    cs_search_session *s = NULL;
    cs_search_session_options o;
    cs_search_session_options_init(&o);
    CHECK(cs_search_session_open(&o, &s, &err) == CS_E_ARG && !s);
    int warnings = 0;
    encodings enc = {0};
    pthread_mutex_init(&enc.mu, NULL);
    o.store_url = url;
    o.warm = true;
    o.warn = count_warning;
    o.warn_ctx = &warnings;
    o.run_encoding = count_encoding;
    o.run_encoding_ctx = &enc;
    /* Nothing to search: the open says so, and nothing is kept. */
    o.collection = "test_app_query_nosuch";
    CHECK(cs_search_session_open(&o, &s, &err) == CS_E_COLLECTION_NOT_FOUND && !s);
    o.collection = "test_app_query_session";
    CHECK_OK(cs_search_session_open(&o, &s, &err), &err);
    if (!s) return;
    cs_search_request r;
    cs_search_request_init(&r);
    r.text = "a colourful gradient";
    cs_hits h = {0}, ref = {0};
    CHECK(cs_search_session_run(s, NULL, &r, &h, &err) == CS_E_ARG);   /* no model yet */
    CHECK_OK(cs_search_session_set_model(s, m, &err), &err);
    CHECK(cs_search_session_set_model(s, m, &err) == CS_E_ARG);
    CHECK(cs_search_session_model_dim(s) == cs_clip_embed_dim(m));
    CHECK(!strcmp(cs_search_session_default_collection(s), "test_app_query_session"));
    CHECK_OK(cs_search_session_check(s, NULL, &err), &err);
    /* The fixture's collection has no model record: said once, not on every query. */
    CHECK_MSG(warnings == 1, "%d warnings", warnings);

    /* A text query answers as cs_query_run does, through the encoding hook. */
    cs_collection *c = NULL;
    CHECK_OK(cs_store_get(store, "test_app_query_session", &c, &err), &err);
    CHECK_OK(cs_search_session_run(s, NULL, &r, &h, &err), &err);
    if (c) CHECK_OK(cs_query_run(m, c, &r, &ref, &err), &err);
    CHECK(h.n == NIMG && ref.n == NIMG && enc.n == 1 && warnings == 1);
    for (size_t i = 0; i < h.n && i < ref.n; i++)
        CHECK(!strcmp(h.items[i].id, ref.items[i].id) &&
              fabs(h.items[i].score - ref.items[i].score) < 1e-5);
    cs_hits_free(&ref);

    /* The answer as JSON: the query echoed, the hits in order. */
    cs_search_echo echo = {.text = r.text, .collection = "test_app_query_session"};
    char *answer = cs_search_answer_json(&r, &echo, &h);
    json_t *j = answer ? json_loads(answer, 0, NULL) : NULL;
    CHECK(j && json_array_size(json_object_get(j, "results")) == NIMG);
    CHECK(json_integer_value(json_object_get(j, "missing_skipped")) == 0);
    CHECK(json_is_null(json_object_get(j, "warning")));
    json_t *q = json_object_get(j, "query");
    CHECK(!strcmp(json_string_value(json_object_get(q, "text")), r.text) &&
          json_integer_value(json_object_get(q, "k")) == 10 &&
          json_is_null(json_object_get(q, "like")));
    if (h.n) {
        json_t *first = json_array_get(json_object_get(j, "results"), 0);
        CHECK(!strcmp(json_string_value(json_object_get(first, "id")), h.items[0].id));
        char *one = cs_hit_json(&h.items[0]);
        json_t *o1 = one ? json_loads(one, 0, NULL) : NULL;
        CHECK(o1 && json_equal(o1, first) && json_is_object(json_object_get(o1, "metadata")));
        json_decref(o1);
        free(one);
    }
    json_decref(j);
    free(answer);
    cs_hits_free(&h);

    /* like: a stored record's vector, nothing encoded; it finds itself first. */
    const char *like = img_path(src, IMAGES[2]);
    cs_search_request_init(&r);
    r.like_id = like;
    CHECK_OK(cs_search_session_run(s, NULL, &r, &h, &err), &err);
    CHECK(h.n == NIMG && enc.n == 1);
    if (h.n) CHECK(!strcmp(h.items[0].id, like) && fabs(h.items[0].score - 1) < 1e-4);
    if (c) CHECK_OK(cs_query_run(m, c, &r, &ref, &err), &err);
    CHECK(ref.n == h.n && ref.n && !strcmp(ref.items[ref.n - 1].id, h.items[h.n - 1].id));
    cs_hits_free(&ref);
    cs_hits_free(&h);
    r.like_id = "/no/such/record.jpg";
    CHECK(cs_search_session_run(s, NULL, &r, &h, &err) == CS_E_NOT_FOUND);
    CHECK(strstr(err.msg, "/no/such/record.jpg") && strstr(err.msg, "test_app_query_session"));
    r.like_id = like;
    r.text = "and a text";
    CHECK(cs_search_session_run(s, NULL, &r, &h, &err) == CS_E_ARG);
    CHECK(enc.n == 1);

    /* Record lookups for a front end. */
    cs_records rec = {0};
    CHECK_OK(cs_search_session_record(s, NULL, like, &rec, &err), &err);
    CHECK(rec.n == 1 && rec.items[0].vector && strstr(rec.items[0].metadata_json, IMAGES[2]));
    cs_records_free(&rec);
    CHECK(cs_search_session_record(s, NULL, "/nope", &rec, &err) == CS_E_NOT_FOUND);
    CHECK(cs_search_session_record(s, "test_app_query_nosuch", like, &rec, &err) ==
          CS_E_COLLECTION_NOT_FOUND);

    /* A collection of another dimension: refused before anything is encoded, listed as
     * not searchable. */
    cs_collection *other = NULL;
    cs_store_drop(store, "test_app_query_dim3", &err);
    CHECK_OK(cs_store_get_or_create(store, "test_app_query_dim3", 3, &other, &err), &err);
    cs_collection_free(other);
    cs_search_request_init(&r);
    r.text = "a colourful gradient";
    CHECK(cs_search_session_run(s, "test_app_query_dim3", &r, &h, &err) ==
          CS_E_MISMATCHED_DIMENSION);
    CHECK(enc.n == 1);
    cs_search_collection *list = NULL;
    size_t n = 0;
    CHECK_OK(cs_search_session_list(s, &list, &n, &err), &err);
    bool seen_images = false, seen_dim3 = false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(list[i].name, "test_app_query_session"))
            seen_images = list[i].searchable && list[i].count == NIMG;
        if (!strcmp(list[i].name, "test_app_query_dim3"))
            seen_dim3 = !list[i].searchable && list[i].dimension == 3;
    }
    CHECK(seen_images && seen_dim3);
    cs_search_collections_free(list, n);

    /* Several threads at once (as the web server's connections): every query answers,
     * and the same query gives the same ranking. */
    worker w[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (worker){.s = s, .like = like};
        pthread_create(&t[i], NULL, session_worker, &w[i]);
    }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) {
        CHECK(w[i].failures == 0 && w[i].first.n == NIMG);
        for (size_t k = 0; k < w[i].first.n && w[0].first.n == NIMG; k++)
            CHECK(!strcmp(w[i].first.items[k].id, w[0].first.items[k].id));
    }
    for (int i = 0; i < 3; i++) cs_hits_free(&w[i].first);
    CHECK(enc.n == 1 + 3 * 5);
    cs_search_session_close(s);
    cs_collection_free(c);
    cs_store_drop(store, "test_app_query_dim3", &err);
    cs_store_drop(store, "test_app_query_session", &err);
    pthread_mutex_destroy(&enc.mu);

    /* A store URL with no database behind it: the open says so, and creates nothing. */
    char none[4200];
    snprintf(none, sizeof none, "/tmp/cs_query_none_%d/x.db", (int)getpid());
    cs_search_session_options_init(&o);
    o.store_url = none;
    o.index_command = "clipsearch index PHOTOS";
    CHECK_OK(cs_search_session_open(&o, &s, &err), &err);   /* lazy: opened when needed */
    list = NULL;
    CHECK_OK(cs_search_session_list(s, &list, &n, &err), &err);
    CHECK(n == 0 && !list);
    CHECK(cs_search_session_record(s, NULL, "x", &rec, &err) == CS_E_STORE_NOT_FOUND);
    CHECK(strstr(err.msg, "nothing indexed yet: run clipsearch index PHOTOS") != NULL);
    CHECK(access(none, F_OK) != 0);
    cs_search_session_close(s);
}

int main(void)
{
    const char *src = test_env("CS_SOURCE_DIR", ".");
    char dir[4096], url[4200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/tiny/model", src);
    cs_error err = {0};
    test_split();
    test_gallery_non_images();
    test_thumbnail(src);
    cs_clip_options opt;
    cs_clip_options_init(&opt);
    opt.n_threads = 1;
    cs_clip *m = NULL;
    CHECK_OK(cs_clip_load(dir, &opt, &m, &err), &err);
    if (!m) return TEST_RESULT();
    test_embed(m, src);
    test_labels(m, src);

    char db[] = "/tmp/cs_query_XXXXXX";
    const char *pg = getenv("CS_TEST_DB_URL");
    if (pg && *pg) {
        snprintf(url, sizeof url, "%s", pg);
    } else {
        int fd = mkstemp(db);
        close(fd);
        remove(db);
        snprintf(url, sizeof url, "%s", db);
    }
    cs_store *s = NULL;
    CHECK_OK(cs_store_open(url, &s, &err), &err);
    if (s) {
        test_search(m, s, src);
        test_add_text(m, s);
        test_session(m, s, url, src);
        cs_store_close(s);
    }
    if (!(pg && *pg)) {
        remove(db);
        char side[4200];
        snprintf(side, sizeof side, "%s-wal", db);
        remove(side);
        snprintf(side, sizeof side, "%s-shm", db);
        remove(side);
    }
    cs_clip_free(m);
    return TEST_RESULT();
}
