/* config.json / preprocessor_config.json parsing: transformers' defaults for missing
 * keys, legacy spellings, validation errors; model directory resolution. */
#include <stdlib.h>

#include "clip/config.h"
#include "test.h"

static int parse(const char *json, cs__clip_config *c, cs_error *err)
{
    return cs__clip_config_parse(json, strlen(json), "cfg.json", c, err);
}

static int parse_pp(const char *json, cs_preprocess_config *c, cs_error *err)
{
    cs_preprocess_config_init(c);
    return cs__preprocess_config_parse(json, strlen(json), "pp.json", c, err);
}

int main(void)
{
    cs__clip_config c;
    cs_error err = {0};
    /* Everything missing: ViT-B/32. */
    CHECK_OK(parse("{}", &c, &err), &err);
    CHECK(c.text.hidden == 512 && c.text.layers == 12 && c.text.heads == 8 &&
          c.text.intermediate == 2048 && c.text.max_positions == 77 &&
          c.text.vocab_size == 49408);
    CHECK(c.vision.hidden == 768 && c.vision.layers == 12 && c.vision.heads == 12 &&
          c.vision.intermediate == 3072 && c.vision.image_size == 224 &&
          c.vision.patch_size == 32);
    CHECK(c.projection_dim == 512 && c.text.ln_eps == 1e-5 && c.vision.ln_eps == 1e-5);
    CHECK(c.text.act == CS_ACT_QUICK_GELU && c.vision.act == CS_ACT_QUICK_GELU);
    /* Partial towers, per-tower act, legacy *_config_dict, nulls ignored. */
    CHECK_OK(parse("{\"projection_dim\":64,\"text_config\":{\"hidden_size\":96,\"num_attention_heads\":"
                   "3,\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-6},\"vision_config_dict\":{"
                   "\"patch_size\":16,\"image_size\":null}}",
                   &c, &err),
             &err);
    CHECK(c.projection_dim == 64 && c.text.hidden == 96 && c.text.heads == 3 &&
          c.text.act == CS_ACT_GELU && c.text.ln_eps == 1e-6 && c.text.layers == 12);
    CHECK(c.vision.patch_size == 16 && c.vision.image_size == 224 &&
          c.vision.act == CS_ACT_QUICK_GELU);
    /* Errors name the file and the key. */
    CHECK(parse("{\"text_config\":{\"hidden_act\":\"relu\"}}", &c, &err) == CS_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "cfg.json") && strstr(err.msg, "relu"));
    CHECK(parse("{\"vision_config\":{\"hidden_size\":100}}", &c, &err) == CS_E_MODEL);
    CHECK(strstr(err.msg, "divisible"));
    CHECK(parse("{\"vision_config\":{\"patch_size\":33}}", &c, &err) == CS_E_MODEL);
    CHECK(parse("{\"text_config\":{\"hidden_size\":\"big\"}}", &c, &err) == CS_E_MODEL);
    CHECK(strstr(err.msg, "text_config.hidden_size"));
    CHECK(parse("{\"text_config\":{\"num_hidden_layers\":0}}", &c, &err) == CS_E_MODEL);
    CHECK(parse("{\"projection_dim\":0}", &c, &err) == CS_E_MODEL);
    CHECK(parse("{\"text_config\":[]}", &c, &err) == CS_E_MODEL);
    CHECK(parse("{oops", &c, &err) == CS_E_MODEL && strstr(err.msg, "invalid JSON"));
    CHECK(parse("[]", &c, &err) == CS_E_MODEL);
    CHECK(cs__clip_config_load("/nonexistent/config.json", &c, &err) == CS_E_IO);

    /* Preprocessor: new style, legacy style and defaults agree. */
    cs_preprocess_config d, n, l;
    cs_preprocess_config_init(&d);
    CHECK(d.shortest_edge == 224 && d.crop_height == 224 && d.crop_width == 224 &&
          d.resample == 3 && d.do_rescale && fabs(d.rescale_factor - 1.0 / 255) < 1e-15 &&
          d.mean[0] == 0.48145466f && d.std[2] == 0.27577711f && d.do_convert_rgb);
    CHECK_OK(parse_pp("{\"size\":{\"shortest_edge\":224},\"crop_size\":{\"height\":224,\"width\":224},"
                      "\"do_rescale\":true,\"rescale_factor\":0.00392156862745098,"
                      "\"image_mean\":[0.48145466,0.4578275,0.40821073],"
                      "\"image_std\":[0.26862954,0.26130258,0.27577711],\"resample\":3}",
                      &n, &err),
             &err);
    CHECK_OK(parse_pp("{\"size\":224,\"crop_size\":224,\"resample\":3}", &l, &err), &err);
    CHECK(memcmp(&d, &n, sizeof d) == 0);
    CHECK(memcmp(&d, &l, sizeof d) == 0);
    CHECK_OK(parse_pp("{\"size\":{\"shortest_edge\":336},\"crop_size\":{\"height\":336,\"width\":320},"
                      "\"image_mean\":[0.5,0.5,0.5],\"do_normalize\":false}",
                      &n, &err),
             &err);
    CHECK(n.shortest_edge == 336 && n.crop_height == 336 && n.crop_width == 320 &&
          n.mean[1] == 0.5f && !n.do_normalize);
    CHECK(parse_pp("{\"resample\":2}", &n, &err) == CS_E_UNSUPPORTED && strstr(err.msg, "pp.json"));
    CHECK(parse_pp("{\"size\":{\"height\":224,\"width\":224}}", &n, &err) == CS_E_UNSUPPORTED);
    CHECK(parse_pp("{\"size\":-3}", &n, &err) == CS_E_MODEL);
    CHECK(parse_pp("{\"image_std\":[1,0,1]}", &n, &err) == CS_E_MODEL);
    CHECK(parse_pp("{\"image_mean\":[1,2]}", &n, &err) == CS_E_MODEL);
    CHECK(parse_pp("nope", &n, &err) == CS_E_MODEL);

    /* Model directory resolution: --model > $CLIPSEARCH_MODEL > default cache. */
    char buf[4096];
    setenv("CLIPSEARCH_MODEL", "/env/model", 1);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    CHECK_OK(cs_clip_resolve_model_dir("/explicit", buf, sizeof buf, &err), &err);
    CHECK(!strcmp(buf, "/explicit"));
    CHECK_OK(cs_clip_resolve_model_dir(NULL, buf, sizeof buf, &err), &err);
    CHECK(!strcmp(buf, "/env/model"));
    unsetenv("CLIPSEARCH_MODEL");
    CHECK_OK(cs_clip_resolve_model_dir("", buf, sizeof buf, &err), &err);
    CHECK(!strcmp(buf, "/xdg/clipsearch/models/clip-vit-base-patch32"));
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    CHECK_OK(cs_clip_default_model_dir("laion/CLIP-ViT-B-32", buf, sizeof buf, &err), &err);
    CHECK(!strcmp(buf, "/home/u/.cache/clipsearch/models/CLIP-ViT-B-32"));
    CHECK(cs_clip_default_model_dir("bad/..", buf, sizeof buf, &err) == CS_E_ARG);
    char small[8];
    CHECK(cs_clip_resolve_model_dir("/a/long/path", small, sizeof small, &err) == CS_E_ARG);
    unsetenv("HOME");
    CHECK(cs_clip_resolve_model_dir(NULL, buf, sizeof buf, &err) == CS_E_ARG);
    return TEST_RESULT();
}
