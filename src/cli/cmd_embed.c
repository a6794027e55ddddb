/* clipsearch embed [--model DIR] [--raw] [--no-exif-orientation] (--text T | --image F)...
 * One JSON object per input, in argument order:
 *   {"kind":"text"|"image","input":...,"embedding":[...]}
 * L2-normalised unless --raw (then the projected vector, as sentence-transformers'
 * encode returns it). Texts and images are each embedded in batches. Nothing is printed
 * unless every input succeeds. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_json.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/clip.h"

#define IMAGE_BATCH 32

typedef struct {
    int is_image;
    const char *value;
} input;

static void usage(FILE *out)
{
    fprintf(out, "usage: clipsearch embed [--model DIR] [--raw] [--no-exif-orientation] "
                 "[--precision fp32|bf16] [--fast-decode] [--fast] "
                 "(--text TEXT | --image FILE)...\n"
                 "Prints one JSON line per input: kind, input, embedding (unit length unless "
                 "--raw).\n"
                 "fp32 with exact decoding reproduces the reference numbers; bf16 (CPUs with "
                 "AVX512-BF16 or AMX) and --fast-decode (libjpeg DCT scaling) are faster and "
                 "slightly different; --fast is both.\n");
}

/* Decodes, preprocesses and embeds images [0, n) of paths into out (n * dim). */
static int embed_images(const cs_clip *m, const char *const *paths, size_t n,
                        const cs_image_options *io, float *out, cs_error *err)
{
    const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
    size_t per = 3 * (size_t)pp->crop_height * pp->crop_width;
    size_t dim = (size_t)cs_clip_embed_dim(m);
    float *px = malloc(IMAGE_BATCH * per * sizeof(float));
    if (!px) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    int rc = 0;
    for (size_t start = 0; !rc && start < n; start += IMAGE_BATCH) {
        size_t b = n - start < IMAGE_BATCH ? n - start : IMAGE_BATCH;
        for (size_t i = 0; !rc && i < b; i++) {
            cs_image img = {0};
            rc = cs_image_decode_file(paths[start + i], io, &img, NULL, err);
            if (!rc) {
                rc = cs_preprocess_image(pp, &img, px + i * per, err);
                if (rc) cs_error_prefix(err, "%s", paths[start + i]);
            }
            cs_image_free(&img);
        }
        if (!rc) rc = cs_clip_embed_pixels(m, px, b, out + start * dim, err);
    }
    free(px);
    return rc;
}

int cmd_embed(int argc, char **argv)
{
    const char *model_arg = NULL;
    int raw = 0, precision = CS_PRECISION_FP32;
    cs_image_options io;
    cs_image_options_init(&io);
    input *in = calloc((size_t)argc, sizeof *in);
    const char **texts = calloc((size_t)argc, sizeof *texts);
    const char **images = calloc((size_t)argc, sizeof *images);
    size_t n = 0, nt = 0, ni = 0;
    int status = 0;
    if (!in || !texts || !images) {
        fprintf(stderr, "clipsearch: embed: out of memory\n");
        status = 1;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            goto done;
        } else if (!strcmp(a, "--raw")) {
            raw = 1;
        } else if (!strcmp(a, "--no-exif-orientation")) {
            io.apply_exif_orientation = false;
        } else if (!strcmp(a, "--fast-decode")) {
            io.fast_jpeg_downscale = true;
        } else if (!strcmp(a, "--fast")) {
            io.fast_jpeg_downscale = true;
            precision = CS_PRECISION_BF16;
        } else if (!strcmp(a, "--precision")) {
            if (i + 1 >= argc || !cli_parse_precision(argv[i + 1], &precision)) {
                status = cli_usage_error("embed", "--precision is fp32 or bf16");
                goto done;
            }
            i++;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--text") || !strcmp(a, "--image")) {
            if (i + 1 >= argc) {
                status = cli_usage_error("embed", "%s needs a value", a);
                goto done;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--model")) model_arg = v;
            else if (!strcmp(a, "--text")) in[n++] = (input){0, v}, texts[nt++] = v;
            else in[n++] = (input){1, v}, images[ni++] = v;
        } else {
            status = cli_usage_error("embed", "unknown argument '%s' (see --help)", a);
            goto done;
        }
    }
    if (n == 0) {
        usage(stderr);
        status = 2;
        goto done;
    }
    cs_error err = {0};
    char dir[PATH_MAX];
    cs_clip *m = NULL;
    cs_clip_options opt;
    cs_clip_options_init(&opt);
    opt.precision = precision;
    if (cs_clip_resolve_model_dir(model_arg, dir, sizeof dir, &err) ||
        cs_clip_load(dir, &opt, &m, &err)) {
        status = cli_fail(&err);
        goto done;
    }
    cli_note_fast_mode("embed", precision, io.fast_jpeg_downscale);
    size_t dim = (size_t)cs_clip_embed_dim(m);
    float *tv = calloc(nt * dim + 1, sizeof(float)), *iv = calloc(ni * dim + 1, sizeof(float));
    int rc = !tv || !iv ? cs_error_set(&err, CS_E_NOMEM, "out of memory") : 0;
    if (!rc && nt) rc = cs_clip_embed_texts(m, texts, nt, tv, &err);
    if (!rc && ni) rc = embed_images(m, images, ni, &io, iv, &err);
    if (rc) {
        status = cli_fail(&err);
    } else {
        size_t ti = 0, ii = 0;
        for (size_t k = 0; k < n; k++) {
            float *v = in[k].is_image ? iv + dim * ii++ : tv + dim * ti++;
            if (!raw) cs_l2_normalize(v, dim);
            printf("{\"kind\":\"%s\",\"input\":", in[k].is_image ? "image" : "text");
            cli_json_string(stdout, in[k].value);
            printf(",\"embedding\":");
            cli_json_floats(stdout, v, dim);
            printf("}\n");
        }
        if (fflush(stdout) != 0) status = 1;
    }
    free(tv);
    free(iv);
    cs_clip_free(m);
done:
    free(in);
    free(texts);
    free(images);
    return status;
}
