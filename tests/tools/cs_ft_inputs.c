/* cs_ft_inputs MODEL_DIR PAIRS_FILE: what clipsearch finetune feeds the towers for each
 * pair of the file, as one JSON object on stdout -- the preprocessed pixels of each
 * image (cs_preprocess_image, EXIF orientation applied) and the token ids of each
 * caption cut at its pooling position (the first <|endoftext|>) -- so that an
 * independent implementation (tests/tools/finetune_torch_step.py) computes its
 * training step from exactly the same inputs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "app/finetune_internal.h"
#include "clipsearch/clip.h"
#include "clipsearch/tokenizer.h"

static int fail(const cs_error *err)
{
    fprintf(stderr, "cs_ft_inputs: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cs_ft_inputs MODEL_DIR PAIRS_FILE\n");
        return 2;
    }
    cs_error err = {0};
    cs_clip *m = NULL;
    if (cs_clip_load(argv[1], NULL, &m, &err)) return fail(&err);
    cs__ft_pairs pairs;
    if (cs__ft_pairs_read(argv[2], &pairs, &err)) return fail(&err);
    const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
    size_t per = 3 * (size_t)pp->crop_height * pp->crop_width;
    int ctx = cs_clip_context_length(m);
    int32_t eot = cs_tokenizer_eot(cs_clip_tokenizer(m));
    float *px = malloc(per * sizeof *px);
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    json_t *images = json_array(), *texts = json_array();
    for (size_t i = 0; i < pairs.n; i++) {
        cs_image_options opt;
        cs_image_options_init(&opt);
        cs_image img = {0};
        if (cs_image_decode_file(pairs.v[i].image, &opt, &img, NULL, &err) ||
            cs_preprocess_image(pp, &img, px, &err))
            return fail(&err);
        cs_image_free(&img);
        json_t *a = json_array();
        for (size_t k = 0; k < per; k++) json_array_append_new(a, json_real(px[k]));
        json_array_append_new(images, a);
        int n = 0;
        if (cs_tokenizer_encode(cs_clip_tokenizer(m), pairs.v[i].text, ctx, ids, &n, &err))
            return fail(&err);
        json_t *t = json_array();
        for (int k = 0; k < n; k++) {
            json_array_append_new(t, json_integer(ids[k]));
            if (ids[k] == eot) break;
        }
        json_array_append_new(texts, t);
    }
    json_t *out = json_pack("{s:o,s:o,s:I,s:i}", "pixels", images, "ids", texts, "eot",
                            (json_int_t)eot, "image_size", pp->crop_height);
    char *s = json_dumps(out, JSON_COMPACT);
    puts(s ? s : "null");
    free(s);
    json_decref(out);
    free(px);
    free(ids);
    cs__ft_pairs_free(&pairs);
    cs_clip_free(m);
    return 0;
}
