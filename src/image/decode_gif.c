/* GIF via giflib: the first frame, as PIL 9.4 loads frame 0 and converts it to RGB:
 * the canvas is the logical screen (grown if the frame sticks out), filled with the
 * frame's transparent index if it has one, else index 0; the frame's indices are
 * written at its offset (transparent ones too: PIL keeps them in frame 0); then every
 * index is looked up in the local palette, else the global one, else a grey ramp.
 * Animation and disposal do not matter for frame 0. */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "image/image_internal.h"

typedef struct {
    const uint8_t *data;
    size_t len, pos;
} gif_src;

static int on_read(GifFileType *g, GifByteType *buf, int n)
{
    gif_src *s = g->UserData;
    size_t avail = s->len - s->pos;
    size_t k = n < 0 ? 0 : (size_t)n;
    if (k > avail) k = avail;
    memcpy(buf, s->data + s->pos, k);
    s->pos += k;
    return (int)k;
}

static int gif_fail(const cs__decode_req *req, int code, cs_error *err)
{
    const char *why = GifErrorString(code);
    return cs_error_set(err, CS_E_FORMAT, "%s: corrupt GIF: %s", req->name,
                        why ? why : "unknown error");
}

int cs__probe_gif(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    if (req->len < 10)
        return cs_error_set(err, CS_E_FORMAT, "%s: GIF header is truncated", req->name);
    info->width = req->data[6] | req->data[7] << 8;
    info->height = req->data[8] | req->data[9] << 8;
    if (info->width == 0 || info->height == 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: GIF has zero width or height", req->name);
    return 0;
}

static void load_palette(uint8_t pal[768], const ColorMapObject *cm)
{
    cs__palette_init_ramp(pal);
    if (!cm || !cm->Colors) return;
    for (int i = 0; i < cm->ColorCount && i < 256; i++) {
        pal[3 * i] = cm->Colors[i].Red;
        pal[3 * i + 1] = cm->Colors[i].Green;
        pal[3 * i + 2] = cm->Colors[i].Blue;
    }
}

int cs__decode_gif(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err)
{
    int rc = cs__probe_gif(req, info, err);
    if (rc != 0) return rc;
    rc = cs__check_size(req, (uint64_t)info->width, (uint64_t)info->height, err);
    if (rc != 0) return rc;

    gif_src src = {req->data, req->len, 0};
    int gerr = 0;
    GifFileType *g = DGifOpen(&src, on_read, &gerr);
    if (!g) return gif_fail(req, gerr, err);

    int transparent = -1;
    uint8_t *idx = NULL, *line = NULL;
    rc = CS_E_FORMAT;
    for (;;) {
        GifRecordType t;
        if (DGifGetRecordType(g, &t) == GIF_ERROR) goto gif_error;
        if (t == TERMINATE_RECORD_TYPE) {
            rc = cs_error_set(err, CS_E_FORMAT, "%s: GIF contains no image", req->name);
            goto done;
        }
        if (t == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext;
            if (DGifGetExtension(g, &code, &ext) == GIF_ERROR) goto gif_error;
            /* Graphic control: ext[0] is the block length, ext[1] the flags. */
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4)
                transparent = (ext[1] & 1) ? ext[4] : -1;
            while (ext) {
                if (DGifGetExtensionNext(g, &ext) == GIF_ERROR) goto gif_error;
            }
            continue;
        }
        if (t != IMAGE_DESC_RECORD_TYPE) continue;
        if (DGifGetImageDesc(g) == GIF_ERROR) goto gif_error;
        GifImageDesc *d = &g->Image;
        int fx = d->Left, fy = d->Top, fw = d->Width, fh = d->Height;
        if (fw <= 0 || fh <= 0) {
            rc = cs_error_set(err, CS_E_FORMAT, "%s: GIF frame has zero size", req->name);
            goto done;
        }
        /* PIL grows the canvas when the first frame sticks out of the logical screen. */
        int cw = g->SWidth > fx + fw ? g->SWidth : fx + fw;
        int ch = g->SHeight > fy + fh ? g->SHeight : fy + fh;
        rc = cs__check_size(req, (uint64_t)cw, (uint64_t)ch, err);
        if (rc != 0) goto done;
        rc = CS_E_FORMAT;
        idx = malloc((size_t)cw * ch);
        line = malloc((size_t)fw);
        if (!idx || !line) {
            rc = cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
            goto done;
        }
        memset(idx, transparent >= 0 ? transparent : 0, (size_t)cw * ch);
        /* Interlaced frames store rows in four passes. */
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        int npass = d->Interlace ? 4 : 1;
        for (int p = 0; p < npass; p++) {
            int y0 = d->Interlace ? start[p] : 0, dy = d->Interlace ? step[p] : 1;
            for (int y = y0; y < fh; y += dy) {
                if (DGifGetLine(g, line, fw) == GIF_ERROR) goto gif_error;
                memcpy(idx + (size_t)(fy + y) * cw + fx, line, (size_t)fw);
            }
        }
        uint8_t pal[768];
        load_palette(pal, d->ColorMap ? d->ColorMap : g->SColorMap);
        rc = cs__image_alloc(out, cw, ch, req->name, err);
        if (rc != 0) goto done;
        for (size_t i = 0; i < (size_t)cw * ch; i++) memcpy(out->rgb + 3 * i, pal + 3 * idx[i], 3);
        info->width = g->SWidth;
        info->height = g->SHeight;
        rc = 0;
        goto done;
    }
gif_error:
    rc = gif_fail(req, g->Error, err);
done:
    free(idx);
    free(line);
    DGifCloseFile(g, &gerr);
    if (rc != 0) cs_image_free(out);
    return rc;
}
