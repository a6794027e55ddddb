/* Which model directory to use: the folder the caller names > $CLIPSEARCH_MODEL > the
 * default cache that `clipsearch model download` fills (DESIGN.md 3.2). Pure string work,
 * no file checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipsearch/clip.h"


static int put(char *buf, size_t bufsize, cs_error *err, const char *what, const char *fmt,
               const char *a, const char *b)
{
    int n = snprintf(buf, bufsize, fmt, a, b);
    if (n < 0 || (size_t)n >= bufsize)
        return cs_error_set(err, CS_E_ARG, "model directory path too long (%s)", what);
    return 0;
}

int cs_clip_default_model_dir(const char *model_name, char *buf, size_t bufsize, cs_error *err)
{
    if (!model_name || !*model_name) model_name = CS_DEFAULT_MODEL_NAME;
    const char *slash = strrchr(model_name, '/');
    const char *base = slash ? slash + 1 : model_name;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return cs_error_set(err, CS_E_ARG, "invalid model name '%s'", model_name);
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg)
        return put(buf, bufsize, err, "XDG_CACHE_HOME", "%s/clipsearch/models/%s", xdg, base);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return cs_error_set_remedy(err, CS_E_ARG, CS_REMEDY_CHOOSE_MODEL,
                                   "neither XDG_CACHE_HOME nor HOME is set: no default model "
                                   "folder");
    return put(buf, bufsize, err, "HOME", "%s/.cache/clipsearch/models/%s", home, base);
}

int cs_clip_resolve_model_dir(const char *explicit_dir, char *buf, size_t bufsize,
                              cs_error *err)
{
    if (explicit_dir && *explicit_dir)
        return put(buf, bufsize, err, "the folder given", "%s%s", explicit_dir, "");
    const char *env = getenv("CLIPSEARCH_MODEL");
    if (env && *env) return put(buf, bufsize, err, "CLIPSEARCH_MODEL", "%s%s", env, "");
    return cs_clip_default_model_dir(CS_DEFAULT_MODEL_NAME, buf, bufsize, err);
}
