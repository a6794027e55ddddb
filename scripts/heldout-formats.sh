#!/usr/bin/env bash
# Held-out check of the new decoders on real photos (not a test: it needs the dev photos,
# ../shared/data/get-dev-images.sh, and Debian's python3-pil):
#  - every TIFF of the dev set decodes to exactly Pillow's convert("RGB");
#  - N dev photos converted to TIFF (LZW, Deflate, JPEG-in-TIFF, tiled) by Pillow decode to
#    exactly what Pillow reads back; to JPEG XL (cjxl, lossless) exactly to the source
#    pixels; to HEIC and AVIF (heif-enc) exactly to heif-convert's output;
#  - with a model (MODEL=DIR), the embeddings of the converted files against the source's
#    (cosine; lossless formats must give 1).
# Usage: scripts/heldout-formats.sh [DEV_DIR] [N]
set -u
DEV=${1:-/tmp/imgcorpus/dev}
N=${2:-20}
BUILD=${CS_BUILD_DIR:-build}
PY=/usr/bin/python3
DUMP=$BUILD/cs_image_dump
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
$PY -c 'import PIL' 2>/dev/null || { echo "needs Debian's python3-pil"; exit 2; }
fail=0
pil_ppm() { $PY - "$1" "$2" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
open(sys.argv[2], "wb").write(b"P6\n%d %d\n255\n" % im.size + im.tobytes())
PY
}
same() { # NAME OURS_PPM REF_PPM
    if cmp -s "$2" "$3"; then echo "  same  $1"; else echo "  DIFF  $1"; fail=1; fi
}
echo "TIFFs of the dev set vs Pillow:"
while IFS= read -r f; do
    "$DUMP" --stored "$f" >"$TMP/o.ppm" 2>"$TMP/e" || { echo "  FAIL  $f: $(cat "$TMP/e")"; fail=1; continue; }
    pil_ppm "$f" "$TMP/r.ppm"
    same "$(basename "$f")" "$TMP/o.ppm" "$TMP/r.ppm"
done < <(find "$DEV" -name '*.tif' -o -name '*.tiff')

echo "$N dev photos converted:"
find "$DEV" -name '*.jpg' | sort | head -n "$N" >"$TMP/list"
i=0
while IFS= read -r f; do
    i=$((i + 1))
    b=$TMP/p$i
    $PY - "$f" "$b" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im.save(sys.argv[2] + ".png")
im.save(sys.argv[2] + "_lzw.tif", compression="tiff_lzw")
im.save(sys.argv[2] + "_jpeg.tif", compression="jpeg", quality=90)
im.save(sys.argv[2] + "_deflate.tif", compression="tiff_adobe_deflate")
PY
    tiffcp -t -w 256 -l 256 "${b}_lzw.tif" "${b}_tiled.tif"
    cjxl -d 0 "$b.png" "$b.jxl" >/dev/null 2>&1
    heif-enc -q 85 "$b.png" -o "$b.heic" >/dev/null 2>&1
    heif-enc -A -q 85 "$b.png" -o "$b.avif" >/dev/null 2>&1
    heif-convert "$b.heic" "${b}_heic_ref.png" >/dev/null 2>&1
    heif-convert "$b.avif" "${b}_avif_ref.png" >/dev/null 2>&1
    "$DUMP" "$b.png" >"$b.src.ppm" 2>/dev/null
    for t in lzw jpeg deflate tiled; do
        "$DUMP" "${b}_$t.tif" >"$TMP/o.ppm" 2>/dev/null; pil_ppm "${b}_$t.tif" "$TMP/r.ppm"
        same "$(basename "$f") tiff-$t vs Pillow" "$TMP/o.ppm" "$TMP/r.ppm"
    done
    "$DUMP" "$b.jxl" >"$TMP/o.ppm" 2>/dev/null; same "$(basename "$f") jxl-lossless vs source" "$TMP/o.ppm" "$b.src.ppm"
    for t in heic avif; do
        "$DUMP" "$b.$t" >"$TMP/o.ppm" 2>/dev/null; "$DUMP" --stored "${b}_${t}_ref.png" >"$TMP/r.ppm" 2>/dev/null
        same "$(basename "$f") $t vs heif-convert" "$TMP/o.ppm" "$TMP/r.ppm"
    done
done <"$TMP/list"

if [ -n "${MODEL:-}" ]; then
    echo "embeddings vs the source PNG (cosine):"
    args=()
    for f in "$TMP"/p*.png "$TMP"/p*_lzw.tif "$TMP"/p*_jpeg.tif "$TMP"/p*.jxl "$TMP"/p*.heic "$TMP"/p*.avif; do
        case "$f" in *_ref.png) continue ;; esac
        args+=(--image "$f")
    done
    "$BUILD/clipsearch" embed --model "$MODEL" "${args[@]}" >"$TMP/emb.jsonl" 2>"$TMP/e" || { echo "embed failed: $(cat "$TMP/e")"; exit 1; }
    python3 - "$TMP/emb.jsonl" <<'PY'
import json, math, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["input"]: r["embedding"] for r in rows}
def cos(a, b): return sum(x*y for x, y in zip(a, b)) / math.sqrt(sum(x*x for x in a) * sum(y*y for y in b))
kinds = {}
for k, v in by.items():
    m = re.search(r"/p(\d+)(_lzw\.tif|_jpeg\.tif|\.jxl|\.heic|\.avif)$", k)
    if not m: continue
    src = re.sub(r"(_lzw\.tif|_jpeg\.tif|\.jxl|\.heic|\.avif)$", ".png", k)
    kinds.setdefault(m.group(2), []).append(cos(v, by[src]))
for k, cs in sorted(kinds.items()):
    cs.sort()
    print("  %-10s n=%d min %.6f median %.6f" % (k, len(cs), cs[0], cs[len(cs)//2]))
PY
fi
exit $fail
