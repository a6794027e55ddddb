/* Terminal thumbnails with libchafa: symbol art in truecolor or 256 colours, which works
 * in every terminal (sixel/kitty detection is chafa's CLI business, not ours). */
#include <chafa.h>
#include <stdlib.h>
#include <string.h>

#include "cli/search_output.h"

bool preview_print(FILE *out, const char *path, int max_cols, int max_rows, bool apply_exif)
{
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.apply_exif_orientation = apply_exif;
    cs_image img = {0};
    cs_error err = {0};
    if (cs_image_decode_file(path, &opt, &img, NULL, &err) != 0) return false;
    gint cols = max_cols, rows = max_rows;
    /* Terminal cells are about twice as tall as wide: font ratio 0.5 keeps the aspect. */
    chafa_calc_canvas_geometry(img.width, img.height, &cols, &rows, 0.5f, TRUE, FALSE);
    const char *ct = getenv("COLORTERM");
    bool truecolor = ct && (!strcmp(ct, "truecolor") || !strcmp(ct, "24bit"));
    ChafaSymbolMap *map = chafa_symbol_map_new();
    chafa_symbol_map_add_by_tags(map, CHAFA_SYMBOL_TAG_BLOCK | CHAFA_SYMBOL_TAG_SPACE);
    ChafaCanvasConfig *cfg = chafa_canvas_config_new();
    chafa_canvas_config_set_geometry(cfg, cols, rows);
    chafa_canvas_config_set_canvas_mode(cfg, truecolor ? CHAFA_CANVAS_MODE_TRUECOLOR
                                                       : CHAFA_CANVAS_MODE_INDEXED_240);
    chafa_canvas_config_set_symbol_map(cfg, map);
    ChafaCanvas *canvas = chafa_canvas_new(cfg);
    chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGB8, img.rgb, img.width, img.height,
                                 img.width * 3);
    GString *s = chafa_canvas_print(canvas, NULL);
    fwrite(s->str, 1, s->len, out);
    /* Reset colours so the next table row is plain. */
    fputs("\033[0m\n", out);
    g_string_free(s, TRUE);
    chafa_canvas_unref(canvas);
    chafa_canvas_config_unref(cfg);
    chafa_symbol_map_unref(map);
    cs_image_free(&img);
    return true;
}
