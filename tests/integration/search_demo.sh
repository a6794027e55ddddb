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
run() { XDG_CACHE_HOME=$T/cache IMAGES=$T/imgs CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model \
          "$SRC/scripts/demo.sh" "$BUILD" >"$T/out" 2>&1; }
run || fail "demo failed: $(cat "$T/out")"
grep -q 'search "a cat"' "$T/out" && grep -q '^   1   1.0000 ' "$T/out" && grep -q 'probability' "$T/out" \
  || fail "demo output: $(cat "$T/out")"
[ -s "$T/cache/clipsearch/demo.db" ] && [ -s "$T/cache/clipsearch/demo.html" ] || fail "demo db/gallery missing"
run || fail "second demo run failed"
grep -q ' 0 indexed' "$T/out" || grep -q '^0 indexed' "$T/out" || fail "second run re-indexed: $(grep indexed "$T/out")"
[ $fails -eq 0 ] && echo "search_demo: all passed"
exit $((fails > 0))
