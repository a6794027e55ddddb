/* CLIPImageProcessor settings: defaults and preprocessor_config.json in both the current
 * ({"shortest_edge": N}, {"height", "width"}) and the legacy (plain ints) spelling. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "clip/config.h"

void cs_preprocess_config_init(cs_preprocess_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->do_convert_rgb = true;
    cfg->do_resize = true;
    cfg->shortest_edge = 224;
    cfg->resample = 3;
    cfg->do_center_crop = true;
    cfg->crop_height = cfg->crop_width = 224;
    cfg->do_rescale = true;
    cfg->rescale_factor = 1.0 / 255.0;
    cfg->do_normalize = true;
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(cfg->mean, mean, sizeof mean);
    memcpy(cfg->std, std, sizeof std);
}

static int get_bool(json_t *root, const char *key, bool *out)
{
    json_t *v = json_object_get(root, key);
    if (json_is_boolean(v)) *out = json_is_true(v);
    return 0;
}

static int get_size(json_t *v, const char *inner, int *out, const char *path, const char *key,
                    cs_error *err)
{
    if (!v || json_is_null(v)) return 0;
    if (json_is_object(v)) v = json_object_get(v, inner);
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 65536)
        return cs_error_set(err, CS_E_MODEL, "%s: %s must be a positive integer%s%s", path, key,
                            inner ? " or contain " : "", inner ? inner : "");
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_triple(json_t *root, const char *key, float out[3], const char *path,
                      cs_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v) || json_array_size(v) != 3)
        return cs_error_set(err, CS_E_MODEL, "%s: %s must be a list of 3 numbers", path, key);
    for (int i = 0; i < 3; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        if (!json_is_number(x))
            return cs_error_set(err, CS_E_MODEL, "%s: %s must be a list of 3 numbers", path, key);
        out[i] = (float)json_number_value(x);
    }
    return 0;
}

int cs__preprocess_config_parse(const char *json, size_t len, const char *path,
                               cs_preprocess_config *cfg, cs_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return cs_error_set(err, CS_E_MODEL, "%s: invalid JSON (%s, line %d)", path, jerr.text,
                            jerr.line);
    }
    int rc = 0;
    get_bool(root, "do_convert_rgb", &cfg->do_convert_rgb);
    get_bool(root, "do_resize", &cfg->do_resize);
    get_bool(root, "do_center_crop", &cfg->do_center_crop);
    get_bool(root, "do_rescale", &cfg->do_rescale);
    get_bool(root, "do_normalize", &cfg->do_normalize);
    json_t *size = json_object_get(root, "size");
    if (json_is_object(size) && !json_object_get(size, "shortest_edge"))
        rc = cs_error_set(err, CS_E_UNSUPPORTED,
                          "%s: size without shortest_edge (fixed height/width resize) is not "
                          "supported",
                          path);
    if (!rc) rc = get_size(size, "shortest_edge", &cfg->shortest_edge, path, "size", err);
    json_t *crop = json_object_get(root, "crop_size");
    if (!rc && json_is_object(crop)) {
        rc = get_size(json_object_get(crop, "height"), NULL, &cfg->crop_height, path,
                      "crop_size.height", err);
        if (!rc)
            rc = get_size(json_object_get(crop, "width"), NULL, &cfg->crop_width, path,
                          "crop_size.width", err);
    } else if (!rc && crop && !json_is_null(crop)) {
        rc = get_size(crop, NULL, &cfg->crop_height, path, "crop_size", err);
        cfg->crop_width = cfg->crop_height;
    }
    json_t *rs = json_object_get(root, "resample");
    if (!rc && json_is_integer(rs)) {
        cfg->resample = (int)json_integer_value(rs);
        if (cfg->resample != 3)
            rc = cs_error_set(err, CS_E_UNSUPPORTED,
                              "%s: resample %d is not supported (only 3 = BICUBIC)", path,
                              cfg->resample);
    }
    json_t *rf = json_object_get(root, "rescale_factor");
    if (!rc && json_is_number(rf)) cfg->rescale_factor = json_number_value(rf);
    if (!rc) rc = get_triple(root, "image_mean", cfg->mean, path, err);
    if (!rc) rc = get_triple(root, "image_std", cfg->std, path, err);
    for (int c = 0; !rc && c < 3; c++)
        if (!(cfg->std[c] > 0))
            rc = cs_error_set(err, CS_E_MODEL, "%s: image_std must be positive", path);
    json_decref(root);
    return rc;
}

int cs__preprocess_config_load(const char *path, cs_preprocess_config *cfg, cs_error *err)
{
    uint8_t *data;
    size_t len;
    int rc = cs__read_file(path, 1u << 20, &data, &len, err);
    if (rc) return rc;
    rc = cs__preprocess_config_parse((const char *)data, len, path, cfg, err);
    free(data);
    return rc;
}
