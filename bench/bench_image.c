/* bench_image: decode + CLIP preprocessing throughput (one thread).
 *
 *   bench_image [--runs R]
 *
 * Generates two photo-like JPEGs in memory with libjpeg (4000x3000 and 640x480,
 * quality 90, 4:2:0), then reports, as medians over R runs: decode time, preprocess
 * (resize + crop + normalise) time and images/s for the exact (PIL-identical) path, and
 * for the opt-in fast_jpeg_downscale path (libjpeg DCT scaling), with how far the fast
 * path's 224x224 crop is from the exact one. images/s is given by wall time and by the
 * thread's CPU time (the latter is what to compare on a shared, busy machine). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "clipsearch/clip.h"
#include "clipsearch/image.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: stable when the machine is shared, where wall time is not. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Smooth shapes plus fine noise: compresses like a photo, not like a flat test card. */
static unsigned char *make_jpeg(int w, int h, unsigned long *len)
{
    unsigned char *row = malloc((size_t)w * 3);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    *len = 0;
    jpeg_mem_dest(&c, &buf, len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint32_t r = 1;
    while (c.next_scanline < (JDIMENSION)h) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < w; x++) {
            double u = (double)x / w, v = (double)y / h;
            r = r * 1664525u + 1013904223u;
            int n = (int)(r >> 28) - 8;
            double d = hypot(u - 0.4, v - 0.5);
            int base = d < 0.25 ? 200 : 60;
            row[3 * x] = (unsigned char)(base + 40 * sin(20 * u) + n);
            row[3 * x + 1] = (unsigned char)(120 + 80 * v + n);
            row[3 * x + 2] = (unsigned char)(90 + 60 * cos(13 * v + 7 * u) + n);
        }
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return buf;
}

static void cfg_default(cs_preprocess_config *c)
{
    /* Same values as cs_preprocess_config_init (kept local so the bench needs nothing
     * else from src/clip). */
    memset(c, 0, sizeof *c);
    c->do_convert_rgb = c->do_resize = c->do_center_crop = c->do_rescale = c->do_normalize = true;
    c->shortest_edge = 224;
    c->resample = 3;
    c->crop_height = c->crop_width = 224;
    c->rescale_factor = 1.0 / 255.0;
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(c->mean, mean, sizeof mean);
    memcpy(c->std, std, sizeof std);
}

static void run(const char *label, const unsigned char *jpg, unsigned long len, int runs,
                int fast, float *pixels_out)
{
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.fast_jpeg_downscale = fast;
    cs_preprocess_config cfg;
    cfg_default(&cfg);
    double *td = malloc(sizeof(double) * runs), *tp = malloc(sizeof(double) * runs);
    double *tc = malloc(sizeof(double) * runs);
    int dw = 0, dh = 0;
    for (int i = 0; i < runs; i++) {
        cs_image img;
        cs_error err;
        double c0 = cpu_now();
        double t0 = now();
        if (cs_image_decode_memory(jpg, len, &opt, &img, NULL, &err) != 0) {
            fprintf(stderr, "decode failed: %s\n", err.msg);
            exit(1);
        }
        double t1 = now();
        if (cs_preprocess_image(&cfg, &img, pixels_out, &err) != 0) {
            fprintf(stderr, "preprocess failed: %s\n", err.msg);
            exit(1);
        }
        double t2 = now();
        tc[i] = cpu_now() - c0;
        td[i] = t1 - t0;
        tp[i] = t2 - t1;
        dw = img.width;
        dh = img.height;
        cs_image_free(&img);
    }
    double d = median(td, runs), p = median(tp, runs), cpu = median(tc, runs);
    printf("%-24s decoded %5dx%-5d decode %7.2f ms  preprocess %6.2f ms (wall)  -> %6.1f "
           "images/s wall, %6.1f by CPU time\n",
           label, dw, dh, d * 1e3, p * 1e3, 1.0 / (d + p), 1.0 / cpu);
    free(tc);
    free(td);
    free(tp);
}

static void compare(const char *label, const float *a, const float *b)
{
    size_t n = 3 * 224 * 224;
    double dot = 0, na = 0, nb = 0, maxd = 0, sumd = 0;
    for (size_t i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
        double d = fabs((double)a[i] - b[i]);
        sumd += d;
        if (d > maxd) maxd = d;
    }
    /* One uint8 level is 1/255/std ~ 0.0146 in normalised units. */
    printf("%-28s fast vs exact tensor: cosine %.6f, mean |diff| %.4f (%.2f levels), max %.3f\n",
           label, dot / sqrt(na * nb), sumd / n, sumd / n / 0.0146, maxd);
}

int main(int argc, char **argv)
{
    int runs = 5;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    if (runs < 1) runs = 1;
    float *exact = malloc(sizeof(float) * 3 * 224 * 224), *fast = malloc(sizeof(float) * 3 * 224 * 224);
    struct { int w, h, runs; } sizes[2] = {{4000, 3000, runs}, {640, 480, runs * 10}};
    for (int s = 0; s < 2; s++) {
        unsigned long len;
        unsigned char *jpg = make_jpeg(sizes[s].w, sizes[s].h, &len);
        char label[64];
        printf("JPEG %dx%d, %lu bytes\n", sizes[s].w, sizes[s].h, len);
        snprintf(label, sizeof label, "  exact (PIL-identical)");
        run(label, jpg, len, sizes[s].runs, 0, exact);
        snprintf(label, sizeof label, "  fast_jpeg_downscale");
        run(label, jpg, len, sizes[s].runs, 1, fast);
        compare("  ", exact, fast);
        free(jpg);
    }
    free(exact);
    free(fast);
    return 0;
}
