/* cs_make_dng OUT.dng PREVIEW.ppm [ORIENTATION]: writes a small but well-formed DNG (what
 * cameras and Adobe's converter produce, reduced to the essentials) with libtiff: IFD0 is
 * an 8-bit RGB preview (NewSubfileType 1) carrying DNGVersion, Make/Model and the
 * Orientation tag; a SubIFD holds a 16-bit Bayer (RGGB) mosaic. The preview's pixels are
 * also written as PPM, for the test to compare with what clipsearch decodes. Real RAW
 * files cannot be committed (size, licences) and no camera is at hand: this is the
 * stand-in, and it goes through the same libraw code paths (DNG parsing, thumbnail). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#define PW 96
#define PH 64
#define RW 192
#define RH 128

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cs_make_dng OUT.dng PREVIEW.ppm [ORIENTATION]\n");
        return 2;
    }
    int orientation = argc > 3 ? atoi(argv[3]) : 1;
    static uint8_t prev[PH][PW * 3];
    uint32_t x = 12345;
    for (int y = 0; y < PH; y++)
        for (int i = 0; i < PW * 3; i++) {
            x = x * 1664525u + 1013904223u;
            prev[y][i] = (uint8_t)((i * 3 + y * 5 + (int)(x >> 28)) & 0xff);
        }
    TIFF *t = TIFFOpen(argv[1], "w");
    if (!t) return 1;
    static const uint8_t dng_version[4] = {1, 4, 0, 0};
    static const uint16_t cfa_dim[2] = {2, 2};
    static const uint8_t cfa_pattern[4] = {0, 1, 1, 2};
    uint64_t sub_offset = 0;
    TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, PW);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, PH);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, PH);
    TIFFSetField(t, TIFFTAG_ORIENTATION, orientation);
    TIFFSetField(t, TIFFTAG_MAKE, "Canon");
    TIFFSetField(t, TIFFTAG_MODEL, "Canon EOS 5D Mark III");
    TIFFSetField(t, TIFFTAG_UNIQUECAMERAMODEL, "Canon EOS 5D Mark III");
    TIFFSetField(t, TIFFTAG_DNGVERSION, dng_version);
    TIFFSetField(t, TIFFTAG_DNGBACKWARDVERSION, dng_version);
    TIFFSetField(t, TIFFTAG_SUBIFD, 1, &sub_offset);
    for (int y = 0; y < PH; y++)
        if (TIFFWriteScanline(t, prev[y], (uint32_t)y, 0) < 0) return 1;
    if (!TIFFWriteDirectory(t)) return 1;
    /* The SubIFD: the raw mosaic. */
    TIFFSetField(t, TIFFTAG_SUBFILETYPE, 0);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, RW);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, RH);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, 32803);   /* CFA */
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, RH);
    TIFFSetField(t, TIFFTAG_CFAREPEATPATTERNDIM, cfa_dim);
    TIFFSetField(t, TIFFTAG_CFAPATTERN, 4, cfa_pattern);
    static uint16_t row[RW];
    for (int y = 0; y < RH; y++) {
        for (int i = 0; i < RW; i++) row[i] = (uint16_t)((i * 97 + y * 31) & 0x3fff);
        if (TIFFWriteScanline(t, row, (uint32_t)y, 0) < 0) return 1;
    }
    if (!TIFFWriteDirectory(t)) return 1;
    TIFFClose(t);
    FILE *f = fopen(argv[2], "wb");
    if (!f) return 1;
    fprintf(f, "P6\n%d %d\n255\n", PW, PH);
    fwrite(prev, 1, sizeof prev, f);
    return fclose(f) == 0 ? 0 : 1;
}
