/* cs_index_run at the library level (SQLite, tiny model): stored vectors are the
 * normalised embeddings of the right files (no mix-up across batches and threads),
 * callbacks (progress phases, warnings naming the file), the stop flag, a collection of
 * another dimension, argument checks, and the metadata helpers. */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/indexer_internal.h"
#include "base/file.h"
#include "clipsearch/indexer.h"
#include "test.h"

static const char *IMAGES[] = {"gradient_rgb_640x480.png", "shapes_baseline_300x500.jpg",
    "noise_rgb_224x224.png", "strip_rgb_1000x37.png", "gray_L_333x256.png",
    "rgba_256x320.png", "palette_P_200x150.png", "photo_progressive_640x427.jpg",
    "portrait_444_480x640.jpg", "exif_orient6_320x240.jpg", "small_31x17.png",
    "gray_baseline_400x300.jpg", "gray_alpha_LA_120x90.png"};
#define N_IMAGES 13

static void copy_file(const char *from, const char *to)
{
    uint8_t *data;
    size_t len;
    cs_error err = {0};
    if (cs__read_file(from, 0, &data, &len, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    FILE *f = fopen(to, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
    free(data);
}

typedef struct {
    int progress_calls, index_calls, warnings;
    char last_warning_file[1024], last_reason[1024];
    volatile sig_atomic_t stop;
    uint64_t stop_after;
} cb_state;

static void on_progress(const cs_index_progress *p, void *user)
{
    cb_state *s = user;
    s->progress_calls++;
    if (!strcmp(p->phase, "index")) s->index_calls++;
    if (s->stop_after && p->indexed >= s->stop_after) s->stop = 1;
}

static void on_warning(const char *file, const char *reason, void *user)
{
    cb_state *s = user;
    s->warnings++;
    snprintf(s->last_warning_file, sizeof s->last_warning_file, "%s", file);
    snprintf(s->last_reason, sizeof s->last_reason, "%s", reason);
}

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

int main(void)
{
    const char *src = test_env("CS_SOURCE_DIR", ".");
    char model_dir[4096], tmpl[] = "/tmp/cs_ixrun_XXXXXX", p[4096], q[4096];
    snprintf(model_dir, sizeof model_dir, "%s/tests/fixtures/tiny/model", src);
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return TEST_RESULT();
    snprintf(p, sizeof p, "%s/imgs", dir);
    mkdir(p, 0755);
    for (int i = 0; i < N_IMAGES; i++) {
        snprintf(p, sizeof p, "%s/tests/fixtures/tiny/images/%s", src, IMAGES[i]);
        snprintf(q, sizeof q, "%s/imgs/%s", dir, IMAGES[i]);
        copy_file(p, q);
    }
    snprintf(q, sizeof q, "%s/imgs/zero.png", dir);
    close(open(q, O_WRONLY | O_CREAT, 0644));

    cs_error err = {0};
    cs_clip *model = NULL;
    CHECK_OK(cs_clip_load(model_dir, NULL, &model, &err), &err);
    cs_store *store = NULL;
    snprintf(p, sizeof p, "%s/db.sqlite", dir);
    CHECK_OK(cs_store_open(p, &store, &err), &err);
    if (!model || !store) return TEST_RESULT();
    int dim = cs_clip_embed_dim(model);

    snprintf(p, sizeof p, "%s/imgs", dir);
    const char *dirs[] = {p};
    cb_state st;
    memset(&st, 0, sizeof st);
    cs_indexer_options opt;
    cs_indexer_options_init(&opt);
    opt.collection = "run_test";
    opt.batch = 4;
    opt.jobs = 3;
    opt.apply_exif_orientation = false;
    opt.progress = on_progress;
    opt.progress_user = &st;
    opt.progress_interval_s = 1e-9;
    opt.warning = on_warning;
    opt.warning_user = &st;
    cs_index_summary sum;
    CHECK_OK(cs_index_run(model, store, dirs, 1, &opt, &sum, &err), &err);
    CHECK_MSG(sum.indexed == N_IMAGES, "%llu", (unsigned long long)sum.indexed);
    CHECK(sum.failed == 1 && sum.n_failures == 1 && sum.found == N_IMAGES + 1);
    CHECK(st.warnings == 1 && strstr(st.last_warning_file, "/imgs/zero.png") &&
          strstr(st.last_reason, "empty"));
    CHECK(st.progress_calls >= 3 && st.index_calls >= 1);
    char *json = NULL;
    CHECK_OK(cs_index_summary_json(&sum, &json, &err), &err);
    CHECK(json && strstr(json, "\"indexed\":13") && strstr(json, "\"images_per_second\":") &&
          strstr(json, "\"failures\":[{\"file\":") && strstr(json, "zero.png"));
    free(json);
    cs_index_summary_free(&sum);

    /* Each stored vector is the normalised embedding of its own file. */
    cs_collection *coll = NULL;
    CHECK_OK(cs_store_get(store, "run_test", &coll, &err), &err);
    float *want = malloc(sizeof(float) * (size_t)dim);
    int worst = -1;
    double worst_cos = 2;
    for (int i = 0; i < N_IMAGES && coll; i++) {
        snprintf(q, sizeof q, "%s/imgs/%s", dir, IMAGES[i]);
        char *id = realpath(q, NULL);
        cs_records recs;
        const char *ids[] = {id};
        CHECK_OK(cs_collection_fetch(coll, ids, 1, &recs, &err), &err);
        CHECK(recs.n == 1);
        cs_image img = {0};
        cs_image_options io;
        cs_image_options_init(&io);
        io.apply_exif_orientation = false;
        CHECK_OK(cs_image_decode_file(q, &io, &img, NULL, &err), &err);
        CHECK_OK(cs_clip_embed_image(model, &img, want, &err), &err);
        if (recs.n == 1 && recs.items[0].vector) {
            double c = cosine(recs.items[0].vector, want, dim), norm = 0;
            for (int k = 0; k < dim; k++) norm += (double)recs.items[0].vector[k] * recs.items[0].vector[k];
            CHECK(fabs(norm - 1.0) < 1e-5);
            if (c < worst_cos) {
                worst_cos = c;
                worst = i;
            }
        }
        cs_image_free(&img);
        cs_records_free(&recs);
        free(id);
    }
    CHECK_MSG(worst_cos > 0.99999, "worst cosine %f for %s", worst_cos, worst >= 0 ? IMAGES[worst] : "?");
    free(want);
    cs_collection_free(coll);

    /* Stop flag: set by the progress callback after the first batches. */
    memset(&st, 0, sizeof st);
    st.stop_after = 4;
    opt.collection = "run_stop";
    opt.batch = 2;
    opt.jobs = 2;
    opt.stop = &st.stop;
    int rc = cs_index_run(model, store, dirs, 1, &opt, &sum, &err);
    CHECK_MSG(rc == CS_E_INTERRUPTED, "rc %d %s", rc, err.msg);
    CHECK(sum.interrupted && sum.indexed >= 4 && sum.indexed < N_IMAGES);
    uint64_t first = sum.indexed;
    cs_index_summary_free(&sum);
    opt.stop = NULL;
    CHECK_OK(cs_index_run(model, store, dirs, 1, &opt, &sum, &err), &err);
    CHECK(sum.unchanged == first && sum.indexed == N_IMAGES - first && !sum.interrupted);
    cs_index_summary_free(&sum);

    /* A collection of another dimension is refused clearly. */
    cs_collection *other = NULL;
    CHECK_OK(cs_store_get_or_create(store, "dim7", 7, &other, &err), &err);
    cs_collection_free(other);
    opt.collection = "dim7";
    rc = cs_index_run(model, store, dirs, 1, &opt, &sum, &err);
    CHECK_MSG(rc == CS_E_MISMATCHED_DIMENSION && strstr(err.msg, "dim7"), "%d %s", rc, err.msg);
    CHECK(sum.indexed == 0);
    cs_index_summary_free(&sum);
    opt.batch = -1;
    CHECK(cs_index_run(model, store, dirs, 1, &opt, &sum, &err) == CS_E_ARG);
    cs_index_summary_free(&sum);

    /* Metadata helpers. */
    char buf[16];
    CHECK(!strcmp(cs__ix_type_for("/a/B.JPG", "jpeg", buf, sizeof buf), "jpg"));
    CHECK(!strcmp(cs__ix_type_for("/a/x.jpeg", "jpeg", buf, sizeof buf), "jpeg"));
    CHECK(!strcmp(cs__ix_type_for("/a/noext", "png", buf, sizeof buf), "png"));
    CHECK(!strcmp(cs__ix_type_for("/a/b.txt", "gif", buf, sizeof buf), "gif"));
    CHECK(!strcmp(cs__ix_type_for("/a.d/.hidden", "webp", buf, sizeof buf), "webp"));
    CHECK(cs__ix_has_image_ext("x.WebP") && !cs__ix_has_image_ext("x.txt") && !cs__ix_has_image_ext("jpg"));
    cs__ix_stored s;
    cs__ix_meta_parse("{\"bytes\":12,\"mtime\":1700000000,\"mtime_ns\":5,\"width\":3,\"height\":4,"
                  "\"hash\":\"0123456789abcdef0123456789abcdef\"}", &s);
    CHECK(s.bytes == 12 && s.mtime == 1700000000 && s.mtime_ns == 5 && s.width == 3 &&
          s.height == 4 && !strcmp(s.hash, "0123456789abcdef0123456789abcdef"));
    CHECK(!s.meta_current);   /* written before "taken"/"dirs": refreshed by the next run */
    cs__ix_meta_parse("{\"bytes\":12,\"taken\":1,\"dirs\":[\"/a\"]}", &s);
    CHECK(s.meta_current);
    cs__ix_meta_parse("{\"bytes\":12,\"taken\":1}", &s);
    CHECK(!s.meta_current);
    cs__ix_meta_parse("{\"bytes\":\"12\",\"hash\":\"short\"}", &s);
    CHECK(s.bytes == -1 && s.mtime == -1 && s.hash[0] == '\0');
    cs__ix_meta_parse("not json", &s);
    CHECK(s.bytes == -1 && !s.meta_current);

    cs_store_close(store);
    cs_clip_free(model);
    snprintf(q, sizeof q, "rm -rf '%s'", dir);
    if (system(q) != 0) fprintf(stderr, "cleanup failed\n");
    return TEST_RESULT();
}
