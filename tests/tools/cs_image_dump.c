/* cs_image_dump [--stored] FILE: decodes FILE with clipsearch's decoders and writes the
 * RGB pixels as a binary PPM (P6) to stdout, so shell tests can compare them byte for
 * byte with a reference decoder's output. --stored: orientation not applied. The format
 * name goes to stderr. */
#include <stdio.h>
#include <string.h>

#include "clipsearch/image.h"

int main(int argc, char **argv)
{
    cs_image_options opt;
    cs_image_options_init(&opt);
    int a = 1;
    if (a < argc && strcmp(argv[a], "--stored") == 0) opt.apply_exif_orientation = false, a++;
    if (a + 1 != argc) {
        fprintf(stderr, "usage: cs_image_dump [--stored] FILE > OUT.ppm\n");
        return 2;
    }
    cs_image img;
    cs_image_info info;
    cs_error err = {0};
    if (cs_image_decode_file(argv[a], &opt, &img, &info, &err) != 0) {
        fprintf(stderr, "cs_image_dump: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "%s %dx%d\n", cs_image_format_name(info.format), img.width, img.height);
    printf("P6\n%d %d\n255\n", img.width, img.height);
    int ok = fwrite(img.rgb, 3, (size_t)img.width * img.height, stdout) ==
             (size_t)img.width * img.height;
    cs_image_free(&img);
    return ok && fflush(stdout) == 0 ? 0 : 1;
}
