#!/usr/bin/env bash
# scripts/demo.sh (`make demo`) without network: offline it stops with the clear message
# and a non-zero status; with IMAGES=DIR and the tiny model it indexes and prints the
# text / image / mixed / labels queries (the image query finds itself, score 1.0000), and
# a second run re-embeds nothing.
set -uo pipefail
SRC=${CS_SOURCE_DIR:?} BUILD=${CS_BUILD_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
unset CLIPSEARCH_MODEL CLIPSEARCH_DB
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
XDG_CACHE_HOME=$T/offline CLIPSEARCH_HF_ENDPOINT=http://127.0.0.1:$PORT \
  "$SRC/scripts/demo.sh" "$BUILD" >"$T/out" 2>&1 && fail "offline demo succeeded"
grep -q 'offline' "$T/out" && grep -q 'CLIPSEARCH_MODEL' "$T/out" || fail "offline demo message: $(cat "$T/out")"

mkdir -p "$T/imgs"
cp "$SRC"/tests/fixtures/tiny/images/*.png "$T/imgs/"
cp "$SRC/tests/fixtures/tiff/rgb_lzw.tif" "$T/imgs/scan.tif"
cp "$SRC/tests/fixtures/tiny/images/gray_baseline_400x300.jpg" "$T/imgs/photo.JPG"
NPNG=$(ls "$SRC"/tests/fixtures/tiny/images/*.png | wc -l)
run() { XDG_CACHE_HOME=$T/cache IMAGES=$T/imgs CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model \
          "$SRC/scripts/demo.sh" "$BUILD" >"$T/out" 2>&1; }
run || fail "demo failed: $(cat "$T/out")"
grep -q 'search "a cat"' "$T/out" && grep -q '^   1   1.0000 ' "$T/out" && grep -q 'probability' "$T/out" \
  || fail "demo output: $(cat "$T/out")"
# Every file is counted, and the summary names every format written.
grep -q "images: $T/imgs ($((NPNG + 2)) files)" "$T/out" || fail "demo file count: $(grep 'images:' "$T/out")"
grep -q "written by format: .*png $NPNG" "$T/out" && grep -q "written by format: .*tiff 1" "$T/out" &&
  grep -q "written by format: .*jpeg 1" "$T/out" || fail "demo format counts: $(grep -A1 indexed "$T/out")"
[ -s "$T/cache/clipsearch/demo.db" ] && [ -s "$T/cache/clipsearch/demo.html" ] || fail "demo db/gallery missing"
run || fail "second demo run failed"
grep -q ' 0 indexed' "$T/out" || grep -q '^0 indexed' "$T/out" || fail "second run re-indexed: $(grep indexed "$T/out")"
[ $fails -eq 0 ] && echo "search_demo: all passed"
exit $((fails > 0))
