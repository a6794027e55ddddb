#include "clip/config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

void cs__clip_config_defaults(cs__clip_config *cfg)
{
    /* eos_token_id 2: transformers' legacy default; pooling ignores it (see text.c). */
    *cfg = (cs__clip_config){
        .text = {.hidden = 512, .intermediate = 2048, .layers = 12, .heads = 8,
                 .act = CS_ACT_QUICK_GELU, .ln_eps = 1e-5, .vocab_size = 49408,
                 .max_positions = 77, .eos_token_id = 2},
        .vision = {.hidden = 768, .intermediate = 3072, .layers = 12, .heads = 12,
                   .act = CS_ACT_QUICK_GELU, .ln_eps = 1e-5, .image_size = 224,
                   .patch_size = 32, .num_channels = 3},
        .projection_dim = 512,
    };
}

static int get_int(json_t *obj, const char *key, int *out, const char *path, const char *where,
                   cs_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000)
        return cs_error_set(err, CS_E_MODEL, "%s: %s%s must be a non-negative integer", path,
                            where, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_act(json_t *obj, cs__clip_act *out, const char *path, const char *where,
                   cs_error *err)
{
    json_t *v = json_object_get(obj, "hidden_act");
    if (!v || json_is_null(v)) return 0;
    const char *s = json_string_value(v);
    if (s && !strcmp(s, "quick_gelu")) *out = CS_ACT_QUICK_GELU;
    else if (s && !strcmp(s, "gelu")) *out = CS_ACT_GELU;
    else
        return cs_error_set(err, CS_E_UNSUPPORTED,
                            "%s: %shidden_act '%s' is not supported (quick_gelu or gelu)", path,
                            where, s ? s : "(not a string)");
    return 0;
}

static int parse_tower(json_t *obj, cs__clip_tower_config *t, int is_text, const char *path,
                       cs_error *err)
{
    const char *w = is_text ? "text_config." : "vision_config.";
    int rc = 0;
    if (!obj) return 0;
    if (!json_is_object(obj))
        return cs_error_set(err, CS_E_MODEL, "%s: %.*s is not an object", path,
                            (int)strlen(w) - 1, w);
    if ((rc = get_int(obj, "hidden_size", &t->hidden, path, w, err)) ||
        (rc = get_int(obj, "intermediate_size", &t->intermediate, path, w, err)) ||
        (rc = get_int(obj, "num_hidden_layers", &t->layers, path, w, err)) ||
        (rc = get_int(obj, "num_attention_heads", &t->heads, path, w, err)) ||
        (rc = get_act(obj, &t->act, path, w, err)))
        return rc;
    json_t *eps = json_object_get(obj, "layer_norm_eps");
    if (eps && !json_is_null(eps)) {
        if (!json_is_number(eps) || json_number_value(eps) < 0)
            return cs_error_set(err, CS_E_MODEL, "%s: %slayer_norm_eps must be a number", path, w);
        t->ln_eps = json_number_value(eps);
    }
    if (is_text) {
        if ((rc = get_int(obj, "vocab_size", &t->vocab_size, path, w, err)) ||
            (rc = get_int(obj, "max_position_embeddings", &t->max_positions, path, w, err)) ||
            (rc = get_int(obj, "eos_token_id", &t->eos_token_id, path, w, err)))
            return rc;
    } else {
        if ((rc = get_int(obj, "image_size", &t->image_size, path, w, err)) ||
            (rc = get_int(obj, "patch_size", &t->patch_size, path, w, err)) ||
            (rc = get_int(obj, "num_channels", &t->num_channels, path, w, err)))
            return rc;
    }
    return 0;
}

static int validate(const cs__clip_tower_config *t, int is_text, const char *path, cs_error *err)
{
    const char *w = is_text ? "text_config" : "vision_config";
    if (t->hidden <= 0 || t->intermediate <= 0 || t->layers <= 0 || t->heads <= 0)
        return cs_error_set(err, CS_E_MODEL, "%s: %s sizes must be positive", path, w);
    if (t->hidden % t->heads)
        return cs_error_set(err, CS_E_MODEL,
                            "%s: %s.hidden_size %d is not divisible by num_attention_heads %d",
                            path, w, t->hidden, t->heads);
    if (is_text && (t->vocab_size <= 0 || t->max_positions < 2))
        return cs_error_set(err, CS_E_MODEL, "%s: %s vocab_size/max_position_embeddings invalid",
                            path, w);
    if (!is_text && (t->patch_size <= 0 || t->image_size < t->patch_size ||
                     t->image_size % t->patch_size || t->num_channels != 3))
        return cs_error_set(err, CS_E_MODEL,
                            "%s: %s image_size %d / patch_size %d / num_channels %d unsupported",
                            path, w, t->image_size, t->patch_size, t->num_channels);
    return 0;
}

int cs__clip_config_parse(const char *json, size_t len, const char *path, cs__clip_config *cfg,
                         cs_error *err)
{
    cs__clip_config_defaults(cfg);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return cs_error_set(err, CS_E_MODEL, "%s: invalid JSON (%s, line %d)", path, jerr.text,
                            jerr.line);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = cs_error_set(err, CS_E_MODEL, "%s: not a JSON object", path);
        goto done;
    }
    /* Configs written before transformers 4.2x used *_config_dict. */
    json_t *tc = json_object_get(root, "text_config");
    if (!tc || json_is_null(tc)) tc = json_object_get(root, "text_config_dict");
    json_t *vc = json_object_get(root, "vision_config");
    if (!vc || json_is_null(vc)) vc = json_object_get(root, "vision_config_dict");
    if ((rc = parse_tower(json_is_null(tc) ? NULL : tc, &cfg->text, 1, path, err)) ||
        (rc = parse_tower(json_is_null(vc) ? NULL : vc, &cfg->vision, 0, path, err)) ||
        (rc = get_int(root, "projection_dim", &cfg->projection_dim, path, "", err)))
        goto done;
    if (cfg->projection_dim <= 0) {
        rc = cs_error_set(err, CS_E_MODEL, "%s: projection_dim must be positive", path);
        goto done;
    }
    if ((rc = validate(&cfg->text, 1, path, err)) || (rc = validate(&cfg->vision, 0, path, err)))
        goto done;
done:
    json_decref(root);
    return rc;
}

int cs__clip_config_load(const char *path, cs__clip_config *cfg, cs_error *err)
{
    uint8_t *data;
    size_t len;
    int rc = cs__read_file(path, 16u << 20, &data, &len, err);
    if (rc) return rc;
    rc = cs__clip_config_parse((const char *)data, len, path, cfg, err);
    free(data);
    return rc;
}

int cs__clip_find_weights_dir(const char *dir, char **weights_dir, cs_error *err)
{
    *weights_dir = NULL;
    char *modules = cs__path_join(dir, "modules.json");
    if (!modules) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (!cs__file_exists(modules)) {
        free(modules);
        *weights_dir = strdup(dir);
        return *weights_dir ? 0 : cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    uint8_t *data;
    size_t len;
    int rc = cs__read_file(modules, 1u << 20, &data, &len, err);
    if (rc) {
        free(modules);
        return rc;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, 0, &jerr);
    free(data);
    const char *sub = NULL;
    for (size_t i = 0; json_is_array(root) && i < json_array_size(root); i++) {
        json_t *m = json_array_get(root, i);
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *p = json_string_value(json_object_get(m, "path"));
        if (type && p && !strcmp(type, "sentence_transformers.models.CLIPModel")) sub = p;
    }
    if (!sub) rc = cs_error_set(err, CS_E_MODEL,
                                "%s: no sentence_transformers.models.CLIPModel module listed",
                                modules);
    else if (strstr(sub, "..") || sub[0] == '/')
        rc = cs_error_set(err, CS_E_MODEL, "%s: module path '%s' leaves the model folder",
                          modules, sub);
    else if (!(*weights_dir = cs__path_join(dir, sub)))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    json_decref(root);
    free(modules);
    return rc;
}
