/* cs_gen_checkpoint: writes a random-weight CLIP checkpoint in Hugging Face layout
 * (config.json, model.safetensors, preprocessor_config.json, vocab.json, merges.txt),
 * deterministic from --seed. For loader tests, benchmarks and anyone who needs a model
 * of a given architecture without downloading one.
 *
 * Usage:
 *   cs_gen_checkpoint --out DIR [--preset tiny|vit-b-32] [--seed N]
 *       [--dtype f32|f16|bf16] [--act quick_gelu|gelu] [--text-act A] [--vision-act A]
 *       [--text-hidden N] [--text-layers N] [--text-heads N] [--text-mlp N]
 *       [--merges N] [--context N]
 *       [--vision-hidden N] [--vision-layers N] [--vision-heads N] [--vision-mlp N]
 *       [--image-size N] [--patch-size N] [--proj N]
 *       [--legacy-preprocessor] [--position-ids] [--st-layout]
 *
 * Presets: tiny (default; the sizes of tests/fixtures/tiny: text 48/2 layers/4 heads/MLP
 * 192, vision 64/2/4/256, patch 32, image 224, projection 32, 1000 merges) and vit-b-32
 * (openai/clip-vit-base-patch32: text 512/12/8/2048, vocab 49408, vision 768/12/12/3072,
 * projection 512; ~600 MB in f32). Flags after --preset override its sizes.
 * The vocabulary is CLIP's byte alphabet (256 byte tokens in CLIP's order, the same 256
 * with "</w>"), then --merges synthetic merges (ids 512.., one per merges.txt line), then
 * <|startoftext|> and <|endoftext|>; vocab_size = 514 + merges. --position-ids adds the
 * I64 *.position_ids tensors of old checkpoints; --st-layout writes a sentence-
 * transformers folder (modules.json + 0_CLIPModel/). Exit status 0 on success. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/half.h"
#include "clip/safetensors.h"

typedef struct {
    int hidden, layers, heads, mlp;
    const char *act;
} tower;

typedef struct {
    tower text, vision;
    int merges, context, image, patch, proj;
    int dtype; /* 0 f32, 1 f16, 2 bf16 */
    uint64_t seed;
    int legacy_pp, position_ids, st_layout;
    const char *out;
} gen_cfg;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [-1, 1) */
static float rng_sym(uint64_t *s) { return (float)((rng_next(s) >> 40) * (2.0 / 16777216.0) - 1.0); }

/* ---- tensor list ---- */

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[4];
    int kind;      /* 0 weight (uniform * scale), 1 LN weight (1 + 0.1u), 2 scalar value, 3 I64 positions */
    float scale;
    size_t numel, begin, end;
} tensor;

typedef struct {
    tensor *t;
    size_t n, cap;
} tlist;

static tensor *add(tlist *l, const char *name, int kind, float scale, int ndim, int64_t a,
                   int64_t b, int64_t c, int64_t d)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->t = realloc(l->t, l->cap * sizeof *l->t);
        if (!l->t) exit(1);
    }
    tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->scale = scale;
    t->ndim = ndim;
    int64_t sh[4] = {a, b, c, d};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = sh[i];
        t->numel *= (size_t)sh[i];
    }
    return t;
}

static void add_tower(tlist *l, const char *pfx, const tower *tw)
{
    char n[128];
    int d = tw->hidden, m = tw->mlp;
    float sd = 1.0f / sqrtf((float)d), sm = 1.0f / sqrtf((float)m);
    for (int i = 0; i < tw->layers; i++) {
        const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int p = 0; p < 4; p++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.self_attn.%s.weight", pfx, i, proj[p]);
            add(l, n, 0, sd, 2, d, d, 0, 0);
            snprintf(n, sizeof n, "%s.encoder.layers.%d.self_attn.%s.bias", pfx, i, proj[p]);
            add(l, n, 0, 0.02f, 1, d, 0, 0, 0);
        }
        for (int k = 1; k <= 2; k++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm%d.weight", pfx, i, k);
            add(l, n, 1, 0.1f, 1, d, 0, 0, 0);
            snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm%d.bias", pfx, i, k);
            add(l, n, 0, 0.02f, 1, d, 0, 0, 0);
        }
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc1.weight", pfx, i);
        add(l, n, 0, sd, 2, m, d, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc1.bias", pfx, i);
        add(l, n, 0, 0.02f, 1, m, 0, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc2.weight", pfx, i);
        add(l, n, 0, sm, 2, d, m, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc2.bias", pfx, i);
        add(l, n, 0, 0.02f, 1, d, 0, 0, 0);
    }
}

static void build_tensors(const gen_cfg *g, tlist *l)
{
    int vocab = 514 + g->merges, dt = g->text.hidden, dv = g->vision.hidden;
    int grid = g->image / g->patch, np = grid * grid + 1;
    add(l, "text_model.embeddings.token_embedding.weight", 0, 0.5f, 2, vocab, dt, 0, 0);
    add(l, "text_model.embeddings.position_embedding.weight", 0, 0.1f, 2, g->context, dt, 0, 0);
    add_tower(l, "text_model", &g->text);
    add(l, "text_model.final_layer_norm.weight", 1, 0.1f, 1, dt, 0, 0, 0);
    add(l, "text_model.final_layer_norm.bias", 0, 0.02f, 1, dt, 0, 0, 0);
    add(l, "vision_model.embeddings.class_embedding", 0, 0.5f, 1, dv, 0, 0, 0);
    add(l, "vision_model.embeddings.patch_embedding.weight", 0,
        1.0f / sqrtf(3.0f * g->patch * g->patch), 4, dv, 3, g->patch, g->patch);
    add(l, "vision_model.embeddings.position_embedding.weight", 0, 0.1f, 2, np, dv, 0, 0);
    add(l, "vision_model.pre_layrnorm.weight", 1, 0.1f, 1, dv, 0, 0, 0);
    add(l, "vision_model.pre_layrnorm.bias", 0, 0.02f, 1, dv, 0, 0, 0);
    add_tower(l, "vision_model", &g->vision);
    add(l, "vision_model.post_layernorm.weight", 1, 0.1f, 1, dv, 0, 0, 0);
    add(l, "vision_model.post_layernorm.bias", 0, 0.02f, 1, dv, 0, 0, 0);
    add(l, "visual_projection.weight", 0, 1.0f / sqrtf((float)dv), 2, g->proj, dv, 0, 0);
    add(l, "text_projection.weight", 0, 1.0f / sqrtf((float)dt), 2, g->proj, dt, 0, 0);
    add(l, "logit_scale", 2, 2.6592f, 0, 0, 0, 0, 0);
    if (g->position_ids) {
        add(l, "text_model.embeddings.position_ids", 3, 0, 2, 1, g->context, 0, 0);
        add(l, "vision_model.embeddings.position_ids", 3, 0, 2, 1, np, 0, 0);
    }
}

/* ---- safetensors ---- */

static const char *DTYPE_NAMES[3] = {"F32", "F16", "BF16"};

/* Streams the tensors through the library's safetensors writer (clip/safetensors.h):
 * one writer for every producer, so generated checkpoints have what saved ones have. */
static int write_safetensors(const gen_cfg *g, const char *path)
{
    tlist l = {0};
    build_tensors(g, &l);
    size_t esize = g->dtype == 0 ? 4 : 2;
    cs__st_entry *e = calloc(l.n, sizeof *e);
    if (!e) exit(1);
    for (size_t i = 0; i < l.n; i++) {
        const tensor *t = &l.t[i];
        e[i].name = t->name;
        e[i].dtype = t->kind == 3 ? "I64" : DTYPE_NAMES[g->dtype];
        e[i].ndim = t->ndim;
        for (int k = 0; k < t->ndim; k++) e[i].shape[k] = t->shape[k];
    }
    cs_error err = {0};
    cs__st_writer *w = NULL;
    int rc = cs__st_writer_open(path, e, l.n, &w, &err);
    uint64_t rng = g->seed * 0x2545f4914f6cdd1dull + 1;
    enum { CHUNK = 1 << 16 };
    static uint8_t buf[CHUNK * 8];
    for (size_t i = 0; !rc && i < l.n; i++) {
        tensor *t = &l.t[i];
        for (size_t done = 0; !rc && done < t->numel;) {
            size_t n = t->numel - done < CHUNK ? t->numel - done : CHUNK;
            for (size_t k = 0; k < n; k++) {
                if (t->kind == 3) {
                    int64_t v = (int64_t)((done + k) % (size_t)t->shape[1]);
                    memcpy(buf + 8 * k, &v, 8);
                    continue;
                }
                float v = t->kind == 2   ? t->scale
                          : t->kind == 1 ? 1.0f + t->scale * rng_sym(&rng)
                                         : t->scale * rng_sym(&rng);
                if (g->dtype == 0) memcpy(buf + 4 * k, &v, 4);
                else {
                    uint16_t h = g->dtype == 1 ? cs__f32_to_f16(v) : cs__f32_to_bf16(v);
                    memcpy(buf + 2 * k, &h, 2);
                }
            }
            rc = cs__st_writer_put(w, buf, n * (t->kind == 3 ? 8 : esize), &err);
            done += n;
        }
    }
    if (w) {
        if (rc) cs__st_writer_abort(w);
        else rc = cs__st_writer_close(w, &err);
    }
    free(e);
    free(l.t);
    if (rc) fprintf(stderr, "cs_gen_checkpoint: %s\n", err.msg);
    return rc != 0;
}

/* ---- vocabulary ---- */

static int utf8_put(char *p, unsigned cp)
{
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    p[0] = (char)(0xc0 | (cp >> 6));
    p[1] = (char)(0x80 | (cp & 0x3f));
    return 2; /* the byte alphabet stays below U+0800 */
}

/* Open-addressing set of token strings, to keep merge results unique. */
typedef struct {
    char **slot;
    size_t cap;
} strset;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

static int set_add(strset *s, char *str)
{
    size_t i = hash_str(str) & (s->cap - 1);
    while (s->slot[i]) {
        if (!strcmp(s->slot[i], str)) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->slot[i] = str;
    return 1;
}

static int write_vocab(const gen_cfg *g, const char *vocab_path, const char *merges_path)
{
    int total = 514 + g->merges;
    char **tok = calloc((size_t)total, sizeof *tok);
    strset set = {NULL, 1};
    while (set.cap < (size_t)total * 4) set.cap <<= 1;
    set.slot = calloc(set.cap, sizeof *set.slot);
    FILE *mf = fopen(merges_path, "w");
    if (!tok || !set.slot || !mf) {
        fprintf(stderr, "cs_gen_checkpoint: cannot write %s\n", merges_path);
        return 1;
    }
    /* CLIP's bytes_to_unicode order: printable bytes first, then the rest as 256+n. */
    int n = 0, extra = 0;
    unsigned order[256];
    for (unsigned b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) order[n++] = b;
    for (unsigned b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174))) order[n++] = b;
    for (int i = 0; i < 256; i++) {
        unsigned b = order[i];
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        unsigned cp = printable ? b : 256 + (unsigned)extra++;
        char s[8] = {0};
        utf8_put(s, cp);
        tok[i] = strdup(s);
        char w[16];
        snprintf(w, sizeof w, "%s</w>", s);
        tok[256 + i] = strdup(w);
    }
    for (int i = 0; i < 512; i++) set_add(&set, tok[i]);
    fprintf(mf, "#version: 0.2\n");
    uint64_t rng = g->seed * 0x9e3779b97f4a7c15ull + 7;
    for (int k = 0; k < g->merges; k++) {
        int id = 512 + k;
        for (;;) {
            /* Favour the byte tokens and early merges, as real BPE merges do. */
            int lim = id < 600 ? id : 600 + (int)(rng_next(&rng) % (uint64_t)(id - 599));
            int a = (int)(rng_next(&rng) % (uint64_t)lim);
            int b = (int)(rng_next(&rng) % (uint64_t)lim);
            size_t la = strlen(tok[a]);
            if (la >= 4 && !strcmp(tok[a] + la - 4, "</w>")) continue; /* left ends a word */
            if (a >= 256 && a < 512) continue;
            char *s = malloc(la + strlen(tok[b]) + 1);
            strcpy(s, tok[a]);
            strcat(s, tok[b]);
            if (!set_add(&set, s)) {
                free(s);
                continue;
            }
            tok[id] = s;
            fprintf(mf, "%s %s\n", tok[a], tok[b]);
            break;
        }
    }
    tok[total - 2] = strdup("<|startoftext|>");
    tok[total - 1] = strdup("<|endoftext|>");
    int rc = fclose(mf) != 0;
    json_t *v = json_object();
    for (int i = 0; i < total; i++) json_object_set_new(v, tok[i], json_integer(i));
    rc |= json_dump_file(v, vocab_path, JSON_COMPACT | JSON_ENSURE_ASCII) != 0;
    json_decref(v);
    for (int i = 0; i < total; i++) free(tok[i]);
    free(tok);
    free(set.slot);
    if (rc) fprintf(stderr, "cs_gen_checkpoint: cannot write %s\n", vocab_path);
    return rc;
}

/* ---- configs ---- */

static json_t *tower_json(const tower *t, int is_text, const gen_cfg *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "hidden_size", json_integer(t->hidden));
    json_object_set_new(o, "intermediate_size", json_integer(t->mlp));
    json_object_set_new(o, "num_hidden_layers", json_integer(t->layers));
    json_object_set_new(o, "num_attention_heads", json_integer(t->heads));
    json_object_set_new(o, "hidden_act", json_string(t->act));
    json_object_set_new(o, "layer_norm_eps", json_real(1e-5));
    json_object_set_new(o, "projection_dim", json_integer(g->proj));
    if (is_text) {
        json_object_set_new(o, "vocab_size", json_integer(514 + g->merges));
        json_object_set_new(o, "max_position_embeddings", json_integer(g->context));
        json_object_set_new(o, "bos_token_id", json_integer(512 + g->merges));
        json_object_set_new(o, "eos_token_id", json_integer(513 + g->merges));
        json_object_set_new(o, "model_type", json_string("clip_text_model"));
    } else {
        json_object_set_new(o, "image_size", json_integer(g->image));
        json_object_set_new(o, "patch_size", json_integer(g->patch));
        json_object_set_new(o, "num_channels", json_integer(3));
        json_object_set_new(o, "model_type", json_string("clip_vision_model"));
    }
    return o;
}

static int write_configs(const gen_cfg *g, const char *dir)
{
    char p[4200];
    json_t *c = json_object();
    json_object_set_new(c, "architectures", json_pack("[s]", "CLIPModel"));
    json_object_set_new(c, "model_type", json_string("clip"));
    json_object_set_new(c, "projection_dim", json_integer(g->proj));
    json_object_set_new(c, "logit_scale_init_value", json_real(2.6592));
    json_object_set_new(c, "torch_dtype",
                        json_string(g->dtype == 0 ? "float32" : g->dtype == 1 ? "float16" : "bfloat16"));
    json_object_set_new(c, "text_config", tower_json(&g->text, 1, g));
    json_object_set_new(c, "vision_config", tower_json(&g->vision, 0, g));
    snprintf(p, sizeof p, "%s/config.json", dir);
    int rc = json_dump_file(c, p, JSON_INDENT(2)) != 0;
    json_decref(c);
    json_t *pp = json_object();
    if (g->legacy_pp) {
        json_object_set_new(pp, "size", json_integer(g->image));
        json_object_set_new(pp, "crop_size", json_integer(g->image));
    } else {
        json_object_set_new(pp, "size", json_pack("{si}", "shortest_edge", g->image));
        json_object_set_new(pp, "crop_size", json_pack("{sisi}", "height", g->image, "width", g->image));
        json_object_set_new(pp, "do_rescale", json_true());
        json_object_set_new(pp, "rescale_factor", json_real(1.0 / 255.0));
        json_object_set_new(pp, "do_convert_rgb", json_true());
    }
    json_object_set_new(pp, "do_resize", json_true());
    json_object_set_new(pp, "do_center_crop", json_true());
    json_object_set_new(pp, "do_normalize", json_true());
    json_object_set_new(pp, "resample", json_integer(3));
    json_object_set_new(pp, "image_mean", json_pack("[fff]", 0.48145466, 0.4578275, 0.40821073));
    json_object_set_new(pp, "image_std", json_pack("[fff]", 0.26862954, 0.26130258, 0.27577711));
    snprintf(p, sizeof p, "%s/preprocessor_config.json", dir);
    rc |= json_dump_file(pp, p, JSON_INDENT(2)) != 0;
    json_decref(pp);
    if (rc) fprintf(stderr, "cs_gen_checkpoint: cannot write configs in %s\n", dir);
    return rc;
}

/* ---- main ---- */

static void preset(gen_cfg *g, const char *name)
{
    if (!strcmp(name, "vit-b-32")) {
        g->text = (tower){512, 12, 8, 2048, g->text.act};
        g->vision = (tower){768, 12, 12, 3072, g->vision.act};
        g->merges = 49408 - 514;
        g->proj = 512;
    } else if (!strcmp(name, "tiny")) {
        g->text = (tower){48, 2, 4, 192, g->text.act};
        g->vision = (tower){64, 2, 4, 256, g->vision.act};
        g->merges = 1000;
        g->proj = 32;
    } else {
        fprintf(stderr, "cs_gen_checkpoint: unknown preset '%s' (tiny, vit-b-32)\n", name);
        exit(2);
    }
    g->context = 77;
    g->image = 224;
    g->patch = 32;
}

static int posint(const char *flag, const char *v)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x <= 0 || x > 1000000) {
        fprintf(stderr, "cs_gen_checkpoint: %s needs a positive integer\n", flag);
        exit(2);
    }
    return (int)x;
}

static void usage(FILE *f)
{
    fputs("usage: cs_gen_checkpoint --out DIR [--preset tiny|vit-b-32] [--seed N]\n"
          "         [--dtype f32|f16|bf16] [--act quick_gelu|gelu] [--text-act A] [--vision-act A]\n"
          "         [--text-hidden N] [--text-layers N] [--text-heads N] [--text-mlp N]\n"
          "         [--merges N] [--context N]\n"
          "         [--vision-hidden N] [--vision-layers N] [--vision-heads N] [--vision-mlp N]\n"
          "         [--image-size N] [--patch-size N] [--proj N]\n"
          "         [--legacy-preprocessor] [--position-ids] [--st-layout]\n"
          "\n"
          "Writes a random-weight CLIP checkpoint in Hugging Face layout, deterministic from\n"
          "--seed. Presets: tiny (default; tests/fixtures/tiny's sizes) and vit-b-32\n"
          "(openai/clip-vit-base-patch32's sizes, ~600 MB in f32); flags after --preset\n"
          "override its sizes. --st-layout writes a sentence-transformers folder.\n", f);
}

int main(int argc, char **argv)
{
    gen_cfg g = {0};
    g.text.act = g.vision.act = "quick_gelu";
    preset(&g, "tiny");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (!strcmp(a, "--out")) g.out = v;
        else if (!strcmp(a, "--preset")) preset(&g, v ? v : "");
        else if (!strcmp(a, "--seed")) g.seed = (uint64_t)strtoull(v ? v : "0", NULL, 10);
        else if (!strcmp(a, "--dtype")) {
            if (v && !strcmp(v, "f32")) g.dtype = 0;
            else if (v && !strcmp(v, "f16")) g.dtype = 1;
            else if (v && !strcmp(v, "bf16")) g.dtype = 2;
            else {
                fprintf(stderr, "cs_gen_checkpoint: --dtype f32|f16|bf16\n");
                return 2;
            }
        } else if (!strcmp(a, "--act")) g.text.act = g.vision.act = v;
        else if (!strcmp(a, "--text-act")) g.text.act = v;
        else if (!strcmp(a, "--vision-act")) g.vision.act = v;
        else if (!strcmp(a, "--text-hidden")) g.text.hidden = posint(a, v);
        else if (!strcmp(a, "--text-layers")) g.text.layers = posint(a, v);
        else if (!strcmp(a, "--text-heads")) g.text.heads = posint(a, v);
        else if (!strcmp(a, "--text-mlp")) g.text.mlp = posint(a, v);
        else if (!strcmp(a, "--merges")) g.merges = posint(a, v);
        else if (!strcmp(a, "--context")) g.context = posint(a, v);
        else if (!strcmp(a, "--vision-hidden")) g.vision.hidden = posint(a, v);
        else if (!strcmp(a, "--vision-layers")) g.vision.layers = posint(a, v);
        else if (!strcmp(a, "--vision-heads")) g.vision.heads = posint(a, v);
        else if (!strcmp(a, "--vision-mlp")) g.vision.mlp = posint(a, v);
        else if (!strcmp(a, "--image-size")) g.image = posint(a, v);
        else if (!strcmp(a, "--patch-size")) g.patch = posint(a, v);
        else if (!strcmp(a, "--proj")) g.proj = posint(a, v);
        else {
            used = 0;
            if (!strcmp(a, "--legacy-preprocessor")) g.legacy_pp = 1;
            else if (!strcmp(a, "--position-ids")) g.position_ids = 1;
            else if (!strcmp(a, "--st-layout")) g.st_layout = 1;
            else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                usage(stdout);
                return 0;
            } else {
                fprintf(stderr, "cs_gen_checkpoint: unknown option '%s' (see --help)\n", a);
                return 2;
            }
        }
        if (used) {
            if (!v) {
                fprintf(stderr, "cs_gen_checkpoint: %s needs a value\n", a);
                return 2;
            }
            i++;
        }
    }
    if (!g.out || !g.text.act || !g.vision.act) {
        fprintf(stderr, "usage: cs_gen_checkpoint --out DIR [--preset tiny|vit-b-32] ...\n");
        return 2;
    }
    char dir[4096], p1[4200], p2[4200];
    mkdir(g.out, 0755);
    snprintf(dir, sizeof dir, "%s", g.out);
    if (g.st_layout) {
        snprintf(p1, sizeof p1, "%s/modules.json", g.out);
        FILE *f = fopen(p1, "w");
        if (!f) return 1;
        fprintf(f, "[{\"idx\": 0, \"name\": \"0\", \"path\": \"0_CLIPModel\", "
                   "\"type\": \"sentence_transformers.models.CLIPModel\"}]\n");
        fclose(f);
        snprintf(dir, sizeof dir, "%s/0_CLIPModel", g.out);
        mkdir(dir, 0755);
    }
    snprintf(p1, sizeof p1, "%s/model.safetensors", dir);
    if (write_safetensors(&g, p1) || write_configs(&g, dir)) return 1;
    snprintf(p1, sizeof p1, "%s/vocab.json", dir);
    snprintf(p2, sizeof p2, "%s/merges.txt", dir);
    return write_vocab(&g, p1, p2);
}
