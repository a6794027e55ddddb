/* Loading: checkpoints from tests/tools/cs_gen_checkpoint in every dtype, activation,
 * layout and some odd sizes; incomplete or inconsistent model folders (each a clear
 * CS_E_MODEL naming the file); concurrent use of one model from two threads. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include <cblas.h>

#include "clipsearch/clip.h"
#include "test.h"

static char tmp[] = "/tmp/cs_test_load_XXXXXX";
static const char *gen;

static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd);
}

static void generate(const char *name, const char *flags)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s --out %s/%s %s", gen, tmp, name, flags);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
}

static cs_clip *load(const char *name, cs_error *err)
{
    char d[4200];
    snprintf(d, sizeof d, "%s/%s", tmp, name);
    cs_clip *m = NULL;
    if (cs_clip_load(d, NULL, &m, err) != 0) return NULL;
    return m;
}

/* A fixed input for any model: a pixel pattern and a short id sequence. */
static void embed_both(cs_clip *m, float *img_out, float *txt_out)
{
    cs_error err = {0};
    int s = 0;
    const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
    s = pp->crop_height;
    float *px = malloc(3 * (size_t)s * s * sizeof(float));
    for (int i = 0; i < 3 * s * s; i++) px[i] = (float)((i * 7919) % 255) / 128.0f - 1.0f;
    CHECK_OK(cs_clip_embed_pixels(m, px, 1, img_out, &err), &err);
    free(px);
    int32_t ids[6] = {0, 5, 100, 7, 0, 0};
    ids[0] = cs_tokenizer_sot(cs_clip_tokenizer(m));
    ids[4] = cs_tokenizer_eot(cs_clip_tokenizer(m));
    const int32_t *rows[1] = {ids};
    int n = 5;
    CHECK_OK(cs_clip_embed_token_ids(m, rows, &n, 1, txt_out, &err), &err);
}

static double cosine(const float *a, const float *b, int n)
{
    double d = 0, x = 0, y = 0;
    for (int i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        x += (double)a[i] * a[i];
        y += (double)b[i] * b[i];
    }
    return d / sqrt(x * y);
}

static int all_finite(const float *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* Expects load of tmp/name to fail with `code` and a message containing both needles. */
/* remedy: what the error says would fix it (error.h), checked when not CS_REMEDY_NONE. */
static void expect_fail_remedy(const char *name, int code, int remedy, const char *n1,
                               const char *n2)
{
    cs_error err = {0};
    cs_clip *m = load(name, &err);
    CHECK_MSG(m == NULL, "%s loaded", name);
    cs_clip_free(m);
    CHECK_MSG(err.code == code, "%s: code %d (%s), want %d", name, err.code, err.msg, code);
    CHECK_MSG(!n1 || strstr(err.msg, n1), "%s: '%s' not in: %s", name, n1, err.msg);
    CHECK_MSG(!n2 || strstr(err.msg, n2), "%s: '%s' not in: %s", name, n2, err.msg);
    CHECK_MSG(!remedy || err.remedy == remedy, "%s: remedy %d, want %d", name, err.remedy, remedy);
}

static void expect_fail(const char *name, int code, const char *n1, const char *n2)
{
    expect_fail_remedy(name, code, CS_REMEDY_NONE, n1, n2);
}

typedef struct {
    cs_clip *m;
    float img[32], txt[32];
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (int it = 0; it < 3; it++) embed_both(j->m, j->img, j->txt);
    return NULL;
}

int main(void)
{
    char genpath[4096], gencmd[4600];
    snprintf(genpath, sizeof genpath, "%s/cs_gen_checkpoint", test_env("CS_BUILD_DIR", "build"));
    if (access(genpath, X_OK) != 0) SKIP("%s not built", genpath);
    /* Cross builds run the tool under their emulator too (CS_TEST_EXEC). */
    snprintf(gencmd, sizeof gencmd, "%s %s", test_env("CS_TEST_EXEC", ""), genpath);
    gen = gencmd;
    CHECK(mkdtemp(tmp) != NULL);

    const char *variants[][2] = {
        {"f32", "--seed 1"},
        {"f16", "--seed 1 --dtype f16"},
        {"bf16", "--seed 1 --dtype bf16"},
        {"gelu", "--seed 1 --act gelu --position-ids --legacy-preprocessor"},
        {"st", "--seed 1 --dtype f16 --st-layout"},
        {"odd", "--seed 2 --text-hidden 36 --text-heads 3 --text-layers 1 --text-mlp 50 "
                "--vision-hidden 40 --vision-heads 5 --vision-layers 3 --vision-mlp 24 "
                "--image-size 64 --patch-size 16 --proj 8 --merges 10 --context 20"},
    };
    float ref_img[32], ref_txt[32];
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        generate(variants[v][0], variants[v][1]);
        cs_error err = {0};
        cs_clip *m = load(variants[v][0], &err);
        CHECK_MSG(m != NULL, "%s: %s", variants[v][0], err.msg);
        if (!m) continue;
        int dim = cs_clip_embed_dim(m);
        float img[32], txt[32];
        embed_both(m, img, txt);
        CHECK(all_finite(img, dim) && all_finite(txt, dim));
        if (v == 0) {
            CHECK(dim == 32 && cs_clip_context_length(m) == 77);
            CHECK(fabs(cs_clip_logit_scale(m) - expf(2.6592f)) < 1e-3);
            memcpy(ref_img, img, sizeof img);
            memcpy(ref_txt, txt, sizeof txt);
        } else if (v <= 2 || v == 4) {
            /* Same seed, rounded weights: close to f32 but not identical. */
            double ci = cosine(img, ref_img, dim), ct = cosine(txt, ref_txt, dim);
            CHECK_MSG(ci > 0.999 && ct > 0.999, "%s: cos %f %f", variants[v][0], ci, ct);
            CHECK_MSG(memcmp(img, ref_img, sizeof img) != 0, "%s identical to f32", variants[v][0]);
        } else if (v == 3) {
            CHECK_MSG(cosine(img, ref_img, dim) < 0.999999, "gelu vs quick_gelu indistinguishable");
        } else {
            CHECK(dim == 8 && cs_clip_context_length(m) == 20);
        }
        if (v == 4) CHECK(strstr(cs_clip_model_dir(m), "0_CLIPModel") != NULL);
        cs_clip_free(m);
    }

    /* One model, two threads: the same results as a single-threaded run (within GEMM
     * rounding: concurrent callers may change how OpenBLAS splits its work). */
    {
        cs_error err = {0};
        cs_clip *m = load("f32", &err);
        CHECK(m != NULL);
        if (m) {
            job a = {m, {0}, {0}}, b = {m, {0}, {0}};
            pthread_t ta, tb;
            pthread_create(&ta, NULL, worker, &a);
            pthread_create(&tb, NULL, worker, &b);
            pthread_join(ta, NULL);
            pthread_join(tb, NULL);
            int dim = cs_clip_embed_dim(m);
            CHECK(cosine(a.img, ref_img, dim) >= 0.999999 && cosine(b.img, ref_img, dim) >= 0.999999);
            CHECK(cosine(a.txt, ref_txt, dim) >= 0.999999 && cosine(b.txt, ref_txt, dim) >= 0.999999);
            /* bad ids are argument errors, not crashes */
            int32_t bad[3] = {1, 99999, 2}, neg[2] = {-1, 3};
            const int32_t *r1[1] = {bad}, *r2[1] = {neg};
            int n3 = 3, n2 = 2, n0 = 0, n78 = 78;
            float out[32];
            CHECK(cs_clip_embed_token_ids(m, r1, &n3, 1, out, &err) == CS_E_ARG);
            CHECK(cs_clip_embed_token_ids(m, r2, &n2, 1, out, &err) == CS_E_ARG);
            CHECK(cs_clip_embed_token_ids(m, r2, &n0, 1, out, &err) == CS_E_ARG);
            CHECK(cs_clip_embed_token_ids(m, r2, &n78, 1, out, &err) == CS_E_ARG);
            cs_clip_free(m);
        }
    }

    /* clipsearch's own kernels (layernorm, activations, attention, the few-row GEMM) split
     * rows or columns between the model's threads; each is computed whole by one thread,
     * so the thread count must not change a single bit. A GEMM library promises no such
     * thing for its own split, so the GEMMs are OpenBLAS pinned to one thread for that
     * comparison; with two BLAS threads, and with the default engine (oneDNN where built
     * in) on two threads, the results agree within GEMM rounding. */
    generate("wide", "--seed 4 --vision-hidden 128 --vision-heads 2 --vision-mlp 1024");
    {
        char d[4200];
        snprintf(d, sizeof d, "%s/wide", tmp);
        size_t per = 3 * 224 * 224;
        float *px = malloc(8 * per * sizeof(float)), r1[8 * 32], r2[8 * 32], r3[8 * 32];
        for (size_t i = 0; i < 8 * per; i++) px[i] = (float)((i * 7919) % 255) / 128.0f - 1.0f;
        cs_clip *models[3] = {NULL, NULL, NULL};
        for (int i = 0; i < 3; i++) {
            cs_clip_options o;
            cs_clip_options_init(&o);
            o.n_threads = i == 0 ? 1 : 2;
            o.gemm = i < 2 ? CS_GEMM_OPENBLAS : CS_GEMM_AUTO;
            cs_error err = {0};
            CHECK_OK(cs_clip_load(d, &o, &models[i], &err), &err);
        }
        if (models[0] && models[1] && models[2]) {
            cs_error err = {0};
            openblas_set_num_threads(1);
            CHECK_OK(cs_clip_embed_pixels(models[0], px, 8, r1, &err), &err);
            CHECK_OK(cs_clip_embed_pixels(models[1], px, 8, r2, &err), &err);
            CHECK_MSG(memcmp(r1, r2, sizeof r1) == 0, "own kernels: 1 vs 2 threads differ");
            openblas_set_num_threads(2);
            CHECK_OK(cs_clip_embed_pixels(models[1], px, 8, r3, &err), &err);
            for (int i = 0; i < 8; i++)
                CHECK_MSG(cosine(r1 + 32 * i, r3 + 32 * i, 32) >= 0.999999,
                          "image %d: 1 vs 2 BLAS threads: cosine %.9f", i,
                          cosine(r1 + 32 * i, r3 + 32 * i, 32));
            if (models[2]) {
                CHECK_OK(cs_clip_embed_pixels(models[2], px, 8, r3, &err), &err);
                for (int i = 0; i < 8; i++)
                    CHECK_MSG(cosine(r1 + 32 * i, r3 + 32 * i, 32) >= 0.999999,
                              "image %d: default engine (%s): cosine %.9f", i,
                              cs_clip_engine(models[2]), cosine(r1 + 32 * i, r3 + 32 * i, 32));
            }
        }
        for (int i = 0; i < 3; i++) cs_clip_free(models[i]);
        free(px);
        cs_clip_options o;
        cs_clip_options_init(&o);
        o.n_threads = 1;
        cs_clip *m = NULL;
        cs_error err = {0};
        CHECK_OK(cs_clip_load(d, &o, &m, &err), &err); /* back to one BLAS thread */
        cs_clip_free(m);
    }

    /* Incomplete folders: every required file named, and the remedy for the front end to
     * word (the library's message names no command or flag). */
    const char *required[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt"};
    for (int i = 0; i < 4; i++) {
        CHECK(sh("cp -r %s/f32 %s/missing", tmp, tmp) == 0);
        char p[4200];
        snprintf(p, sizeof p, "%s/missing/%s", tmp, required[i]);
        CHECK(unlink(p) == 0);
        expect_fail_remedy("missing", CS_E_MODEL, CS_REMEDY_CHOOSE_MODEL, required[i], "is missing");
        CHECK(sh("rm -rf %s/missing%s", tmp, "") == 0);
    }
    expect_fail_remedy("no-such-dir", CS_E_MODEL, CS_REMEDY_CHOOSE_MODEL, "does not exist",
                       "Hugging Face layout");
    /* preprocessor_config.json is optional */
    {
        char c[8192];
        snprintf(c, sizeof c, "cp -r %s/f32 %s/nopp && rm %s/nopp/preprocessor_config.json", tmp,
                 tmp, tmp);
        CHECK(system(c) == 0);
        cs_error err = {0};
        cs_clip *m = load("nopp", &err);
        CHECK_MSG(m != NULL, "%s", err.msg);
        cs_clip_free(m);
    }

    /* config.json contradicting the tensors. */
    struct {
        const char *name, *sed, *n1, *n2;
        int code;
    } bad[] = {
        {"hidden", "s/\"hidden_size\": 48/\"hidden_size\": 64/", "token_embedding", "config.json",
         CS_E_MODEL},
        {"layers3", "0,/\"num_hidden_layers\": 2/s//\"num_hidden_layers\": 3/",
         "missing tensor 'text_model.encoder.layers.2.", NULL, CS_E_MODEL},
        {"layers1", "0,/\"num_hidden_layers\": 2/s//\"num_hidden_layers\": 1/", "layers.1",
         "1 layers", CS_E_MODEL},
        {"vocab", "s/\"vocab_size\": 1514/\"vocab_size\": 2000/", "[1514, 48]", "[2000, 48]",
         CS_E_MODEL},
        {"proj", "s/\"projection_dim\": 32,/\"projection_dim\": 16,/", "projection", NULL,
         CS_E_MODEL},
        {"patch", "s/\"patch_size\": 32/\"patch_size\": 16/", "patch_embedding", NULL, CS_E_MODEL},
        {"act", "s/\"hidden_act\": \"quick_gelu\"/\"hidden_act\": \"swish\"/", "swish",
         "config.json", CS_E_UNSUPPORTED},
        {"junk", "s/{/{{/", "config.json", "JSON", CS_E_MODEL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char c[8192];
        snprintf(c, sizeof c,
                 "cp -r %s/f32 %s/%s && sed -i '%s' %s/%s/config.json", tmp, tmp, bad[i].name,
                 bad[i].sed, tmp, bad[i].name);
        CHECK(system(c) == 0);
        expect_fail(bad[i].name, bad[i].code, bad[i].n1, bad[i].n2);
    }
    /* A vocabulary larger than the embedding table (ids could index past it). */
    generate("bigvocab", "--seed 1 --merges 2000");
    {
        char c[8192];
        snprintf(c, sizeof c, "cp -r %s/f32 %s/vocabmix && cp %s/bigvocab/vocab.json %s/bigvocab/merges.txt %s/vocabmix/",
                 tmp, tmp, tmp, tmp, tmp);
        CHECK(system(c) == 0);
        expect_fail("vocabmix", CS_E_MODEL, "vocab.json", "vocab_size 1514");
    }
    /* Truncated weights file in an otherwise complete folder. */
    {
        char c[8192];
        snprintf(c, sizeof c, "cp -r %s/f32 %s/trunc && truncate -s 100000 %s/trunc/model.safetensors",
                 tmp, tmp, tmp);
        CHECK(system(c) == 0);
        expect_fail("trunc", CS_E_FORMAT, "model.safetensors", "outside the file");
    }
    CHECK(sh("rm -rf %s%s", tmp, "") == 0);
    return TEST_RESULT();
}
