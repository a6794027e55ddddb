#!/usr/bin/env bash
# HEIC, AVIF, JPEG XL and camera RAW (DNG) against their reference decoders, then
# indexed and searched like any photo:
# - pixels identical to libheif's own 8-bit output (heif-convert) and libjxl's (djxl);
# - orientation: JPEG XL's orientation field (cjxl carries EXIF over) applied, and not
#   with --no-exif-orientation; a HEIF's EXIF block is not applied on top (libheif's
#   irot/imir is the HEIF orientation, as in pillow-heif); a DNG's Orientation (libraw's
#   flip) applied to its embedded preview;
# - truncated files fail with a clear reason; the indexer counts them as failed;
# - index, search --image with each format.
# Encoders come from Debian's libheif-examples and libjxl-tools (scripts/install-deps.sh).
source "$(dirname "$0")/index_common.bash"
for t in heif-enc heif-convert cjxl djxl; do
    command -v $t >/dev/null || { echo "SKIP: $t not installed (scripts/install-deps.sh)"; exit 77; }
done
DUMP=$BUILD/cs_image_dump
IMG=$SRC/tests/fixtures/tiny/images
run() { ${CS_TEST_EXEC:-} "$@"; }
W=$TMP/w
mkdir -p "$W"

# same NAME OURS REFERENCE: our decode of OURS (as displayed) equals our decode of the
# reference decoder's PNG as stored (heif-convert copies the EXIF block into its PNG).
same() {
    run "$DUMP" "$2" >"$W/$1.got.ppm" 2>"$W/$1.got.err" || die "$1: decode failed: $(cat "$W/$1.got.err")"
    run "$DUMP" --stored "$3" >"$W/$1.ref.ppm" 2>/dev/null || die "$1: reference unreadable"
    cmp -s "$W/$1.got.ppm" "$W/$1.ref.ppm" || die "$1: pixels differ from the reference decoder"
}
size_of() { run "$DUMP" ${2:-} "$1" 2>&1 >/dev/null | awk '{print $2}'; }

heif-enc -q 80 "$IMG/gradient_rgb_640x480.png" -o "$W/a.heic" >/dev/null || die "heif-enc"
heif-convert "$W/a.heic" "$W/a_ref.png" >/dev/null || die "heif-convert"
same heic "$W/a.heic" "$W/a_ref.png"
heif-enc -A -q 70 "$IMG/photo_progressive_640x427.jpg" -o "$W/b.avif" >/dev/null || die "heif-enc -A"
heif-convert "$W/b.avif" "$W/b_ref.png" >/dev/null || die "heif-convert avif"
same avif "$W/b.avif" "$W/b_ref.png"
heif-enc -A -L "$IMG/noise_rgb_224x224.png" -o "$W/c.avif" >/dev/null || die "heif-enc -A -L"
heif-convert "$W/c.avif" "$W/c_ref.png" >/dev/null || die "heif-convert avif lossless"
same avif_lossless "$W/c.avif" "$W/c_ref.png"
# EXIF orientation 6 inside a HEIF without irot: stored size kept (320x240).
heif-enc -q 80 "$IMG/exif_orient6_320x240.jpg" -o "$W/o.heic" >/dev/null || die "heif-enc orient"
[ "$(size_of "$W/o.heic")" = 320x240 ] || die "HEIF EXIF orientation applied on top of libheif: $(size_of "$W/o.heic")"

cjxl -d 1 "$IMG/gradient_rgb_640x480.png" "$W/d.jxl" 2>/dev/null || die "cjxl"
djxl "$W/d.jxl" "$W/d_ref.png" >/dev/null 2>&1 || die "djxl"
same jxl "$W/d.jxl" "$W/d_ref.png"
# Lossless JPEG recompression keeps the EXIF orientation as the codestream's.
cjxl "$IMG/exif_orient6_320x240.jpg" "$W/o.jxl" 2>/dev/null || die "cjxl orient"
djxl "$W/o.jxl" "$W/o_ref.png" >/dev/null 2>&1 || die "djxl orient"
same jxl_oriented "$W/o.jxl" "$W/o_ref.png"
[ "$(size_of "$W/o.jxl")" = 240x320 ] || die "JPEG XL orientation not applied: $(size_of "$W/o.jxl")"
[ "$(size_of "$W/o.jxl" --stored)" = 320x240 ] || die "JPEG XL --stored still rotated"

run "$BUILD/cs_make_dng" "$W/e.dng" "$W/e_preview.ppm" 6 || die "cs_make_dng"
run "$DUMP" --stored "$W/e.dng" >"$W/e.ppm" 2>/dev/null || die "DNG decode failed"
cmp -s "$W/e.ppm" "$W/e_preview.ppm" || die "DNG preview pixels differ"
[ "$(size_of "$W/e.dng")" = 64x96 ] || die "DNG orientation (flip 6) not applied: $(size_of "$W/e.dng")"

# Truncated files: a clear error, never a crash.
for f in a.heic b.avif d.jxl e.dng; do
    head -c 300 "$W/$f" >"$W/trunc_$f"
    if run "$DUMP" "$W/trunc_$f" >/dev/null 2>"$W/trunc.err"; then
        die "truncated $f decoded"
    else
        grep -Eqi 'corrupt|truncated|unsupported|not a recognised' "$W/trunc.err" || die "truncated $f: unclear error: $(cat "$W/trunc.err")"
    fi
done

# Indexing: every format embeds; the truncated ones fail with a reason; search by image.
D=$TMP/photos
mkdir -p "$D"
cp "$W/a.heic" "$W/b.avif" "$W/d.jxl" "$W/o.jxl" "$W/e.dng" "$D/"
cp "$SRC/tests/fixtures/tiff/rgb_lzw.tif" "$D/scan.tif"
cp "$W/trunc_a.heic" "$D/broken.heic"
idx "$D"
[ "$RC" = 0 ] || die "index exit $RC: $(cat "$TMP/err")"
expect "formats" indexed 6 failed 1
# The summary counts what was written by container format (HEIC and AVIF are both HEIF;
# DNG is a TIFF).
python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["formats"]; assert f == {"heif": 2, "jxl": 2, "tiff": 2}, f' \
    "$TMP/out.json" || die "formats in the summary: $(cat "$TMP/out.json")"
grep -q "broken.heic" "$TMP/err" || die "the truncated HEIC is not named on stderr: $(cat "$TMP/err")"
for f in a.heic b.avif d.jxl e.dng scan.tif; do
    "$BIN" search --db "$DB" --collection "$COLL" --model "$MODEL" --image "$D/$f" -k 1 --json \
        >"$W/s.json" 2>"$W/s.err" || die "search --image $f: $(cat "$W/s.err")"
    grep -q "$f" "$W/s.json" || die "search --image $f does not find the file itself: $(head -c 500 "$W/s.json")"
done
exit $fail
