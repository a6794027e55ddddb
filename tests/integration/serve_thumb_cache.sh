#!/usr/bin/env bash
# clipsearch serve's thumbnail disk cache (issue 10, item 8):
#  - nothing is created until the first thumbnail; then $XDG_CACHE_HOME/clipsearch/thumbs
#    (mode 700) holds one JPEG per content and size (X-Thumb-Cache: miss, then hit, same
#    bytes); another size is another entry; a copy of an indexed photo (same content
#    hash) hits the entry of the original;
#  - a photo edited after indexing gets a new thumbnail, never the stale one;
#  - damaged entries (garbage, truncated, empty, too large, a symlink) and a deleted cache
#    folder are made again, answers stay valid JPEGs;
#  - --thumb-cache-max bounds the folder (least recently used go), --thumb-cache DIR puts
#    it elsewhere, --no-thumb-cache writes nothing (X-Thumb-Cache: off);
#  - many thumbnails and searches at once all answer correctly.
# Store: $CS_TEST_DB_URL when set (PostgreSQL), else a temporary SQLite file.
# shellcheck disable=SC2034  # SERVE_ERR and SERVE_CACHE are read by serve_common.bash
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
GEN=$(dirname "$CS")/cs_index_testimages
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
[ -x "$GEN" ] || { echo "SKIP: $GEN not built"; exit 77; }
# shellcheck source=serve_common.bash
. "$SRC/tests/integration/serve_common.bash"
T=$(mktemp -d)
COLL=thumbs_$$
DB=${CS_TEST_DB_URL:-$T/thumbs.db}
cleanup() {
  serve_kill
  [ -n "${CS_TEST_DB_URL:-}" ] && "$CS" vec drop --db "$DB" "$COLL" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
IMG=$SRC/tests/fixtures/tiny/images
mkdir -p "$T/imgs"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/portrait_444_480x640.jpg" "$T/imgs/"
cp "$IMG/photo_progressive_640x427.jpg" "$T/imgs/edited.jpg"
cp "$IMG/shapes_baseline_300x500.jpg" "$T/imgs/copy of shapes.jpg"
# Noise does not compress: thumbnails of these fill a small cache quickly.
"$GEN" jpg "$T/imgs/big1.jpg" 1600 1200 7 && "$GEN" jpg "$T/imgs/big2.jpg" 1200 1600 8 \
  || { echo "cannot generate images"; exit 1; }
"$CS" index --db "$DB" --collection "$COLL" --quiet "$T/imgs" || { echo "index failed"; exit 1; }

SERVE_CACHE=$T/xdg
CACHE=$T/xdg/clipsearch/thumbs
SERVE_ERR=$T/serve.err
serve_start --db "$DB" --collection "$COLL" || exit 1
B=$SERVE_URL
# thumb ID SIZE OUT: prints "STATUS CACHE-STATE" (X-Thumb-Cache), the body in OUT.
thumb() {
  local code
  code=$(curl -s -m 120 -o "$3" -D "$3.h" -w '%{http_code}' -G "${B}api/thumb" \
              --data-urlencode "id=$1" --data-urlencode "size=$2")
  echo "$code $(tr -d '\r' <"$3.h" | sed -n 's/^[Xx]-[Tt]humb-[Cc]ache: //p')"
}
is_jpeg() { [ "$(head -c 3 "$1" | od -An -tx1 | tr -d ' \n')" = ffd8ff ] && [ "$(tail -c 2 "$1" | od -An -tx1 | tr -d ' \n')" = ffd9 ]; }
entries() { find "$CACHE" -maxdepth 1 -name '*.jpg' -type f 2>/dev/null | wc -l; }

S=$T/imgs/shapes_baseline_300x500.jpg
[ ! -e "$T/xdg" ] || fail "serving created $(find "$T/xdg")"
[ "$(thumb "$S" 64 "$T/a")" = "200 miss" ] || fail "first thumbnail: $(thumb "$S" 64 "$T/x")"
is_jpeg "$T/a" || fail "first thumbnail is not a JPEG"
[ "$(entries)" = 1 ] || fail "entries after one thumbnail: $(entries)"
[ "$(stat -c %a "$CACHE")" = 700 ] || fail "cache folder mode $(stat -c %a "$CACHE")"
[ "$(thumb "$S" 64 "$T/b")" = "200 hit" ] || fail "second request is not a hit"
cmp -s "$T/a" "$T/b" || fail "cached thumbnail differs"
[ "$(thumb "$S" 96 "$T/c")" = "200 miss" ] || fail "another size is not a new entry"
[ "$(entries)" = 2 ] || fail "entries after two sizes: $(entries)"
# Same content, other path: the indexed content hash finds the original's entry.
[ "$(thumb "$T/imgs/copy of shapes.jpg" 64 "$T/d")" = "200 hit" ] || fail "copy does not share the entry"
cmp -s "$T/a" "$T/d" || fail "copy's thumbnail differs"

# An edited photo (other content, size and mtime than indexed) is never shown stale.
E=$T/imgs/edited.jpg
[ "$(thumb "$E" 64 "$T/e1")" = "200 miss" ] || fail "edited.jpg first thumbnail"
cp "$IMG/portrait_444_480x640.jpg" "$E"
[ "$(thumb "$E" 64 "$T/e2")" = "200 miss" ] || fail "edited photo hit the old entry"
thumb "$T/imgs/portrait_444_480x640.jpg" 64 "$T/p" >/dev/null
cmp -s "$T/e2" "$T/p" || fail "edited photo's thumbnail is not of its new content"
cmp -s "$T/e1" "$T/e2" && fail "edited photo shows the old thumbnail"
[ "$(thumb "$E" 64 "$T/e3")" = "200 hit" ] && cmp -s "$T/e2" "$T/e3" || fail "edited photo's new entry"
# Same size, only the mtime changes: a new entry too.
touch -d '2001-02-03 04:05:06' "$E"
[ "$(thumb "$E" 64 "$T/e4")" = "200 miss" ] || fail "touched photo hit the old entry"

# Damaged entries are made again, and the answer is right.
n=0
for f in "$CACHE"/*.jpg; do
  case $((n % 5)) in
    0) printf 'not a jpeg' >"$f" ;;
    1) head -c 100 "$T/a" >"$f.t" && mv "$f.t" "$f" ;;              # truncated
    2) : >"$f" ;;                                                   # empty
    3) rm -f "$f" && ln -s /etc/passwd "$f" ;;                      # not a plain file
    4) { cat "$T/a"; head -c 9000000 /dev/zero; cat "$T/a"; } >"$f" ;;   # far too large
  esac
  n=$((n + 1))
done
[ "$(thumb "$S" 64 "$T/f")" = "200 miss" ] && cmp -s "$T/a" "$T/f" || fail "damaged entry (64) not made again"
[ "$(thumb "$S" 96 "$T/g")" = "200 miss" ] && cmp -s "$T/c" "$T/g" || fail "damaged entry (96) not made again"
[ "$(thumb "$E" 64 "$T/h")" = "200 miss" ] && cmp -s "$T/e4" "$T/h" || fail "damaged entry (edited) not made again"
[ "$(thumb "$S" 64 "$T/i")" = "200 hit" ] || fail "the remade entry is not used"
# A valid JPEG larger than the size asked for (not ours) is refused too.
for f in "$CACHE"/*.jpg; do cp "$T/c" "$f"; done
[ "$(thumb "$S" 64 "$T/i2")" = "200 miss" ] && cmp -s "$T/a" "$T/i2" || fail "96-px entry served for 64 px"
# The whole folder deleted while serving.
rm -rf "$T/xdg"
[ "$(thumb "$S" 64 "$T/j")" = "200 miss" ] && cmp -s "$T/a" "$T/j" || fail "thumbnail after deleting the cache"
[ "$(entries)" = 1 ] || fail "cache not made again: $(entries) entries"

# Many at once: thumbnails of every image and size, and searches, all right.
"$CS" search --db "$DB" --collection "$COLL" --json -k 3 "a colourful gradient" >/dev/null || fail "cli search"
curl -s -m 60 -o "$T/s0" "${B}api/search?q=a+colourful+gradient&k=3" || fail "search"
pids=()
i=0
for f in "$T"/imgs/*; do
  for size in 32 200; do
    i=$((i + 1))
    (thumb "$f" $size "$T/par$i" >"$T/parc$i") & pids+=($!)
  done
  curl -s -m 60 -o "$T/ps$i" "${B}api/search?q=a+colourful+gradient&k=3" & pids+=($!)
done
wait "${pids[@]}"
for j in $(seq 1 $i); do
  case $(cat "$T/parc$j") in "200 hit" | "200 miss") ;; *) fail "parallel thumbnail $j: $(cat "$T/parc$j")" ;; esac
  is_jpeg "$T/par$j" || fail "parallel thumbnail $j is not a JPEG"
done
for f in "$T"/ps*; do cmp -s "$f" "$T/s0" || fail "parallel search answered differently"; done
serve_stop || fail "exit status after SIGTERM: $?"

# A bound of 1 MiB: the least recently used entries go, the folder stays under it.
SERVE_CACHE=$T/xdg2
serve_start --db "$DB" --collection "$COLL" --thumb-cache-max 1 || exit 1
B=$SERVE_URL
CACHE=$T/xdg2/clipsearch/thumbs
written=0
for size in $(seq 1024 -16 256); do
  for f in big1 big2; do
    thumb "$T/imgs/$f.jpg" $size "$T/k" >/dev/null
    written=$((written + $(stat -c %s "$T/k")))
  done
done
total=$(find "$CACHE" -maxdepth 1 -name '*.jpg' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
[ "$written" -gt $((2 << 20)) ] || fail "the bound test wrote only $written bytes"
[ "$total" -le $((1 << 20)) ] || fail "cache holds $total bytes, over its 1 MiB bound (wrote $written)"
[ "$(entries)" -ge 1 ] || fail "the bound emptied the cache"
# The most recent entry is kept.
[ "$(thumb "$T/imgs/big2.jpg" 256 "$T/k")" = "200 hit" ] || fail "the newest entry was evicted"
serve_stop || fail "exit status (bounded)"

# --thumb-cache DIR, --no-thumb-cache.
SERVE_CACHE=$T/xdg3
serve_start --db "$DB" --collection "$COLL" --thumb-cache "$T/mine" || exit 1
B=$SERVE_URL
[ "$(thumb "$S" 64 "$T/l")" = "200 miss" ] && [ -n "$(ls "$T/mine")" ] || fail "--thumb-cache DIR not used"
[ ! -e "$T/xdg3" ] || fail "--thumb-cache DIR also wrote the default folder"
serve_stop || fail "exit status (--thumb-cache)"
serve_start --db "$DB" --collection "$COLL" --no-thumb-cache || exit 1
B=$SERVE_URL
[ "$(thumb "$S" 64 "$T/m")" = "200 off" ] && cmp -s "$T/a" "$T/m" || fail "--no-thumb-cache thumbnail"
[ ! -e "$T/xdg3" ] || fail "--no-thumb-cache wrote $(find "$T/xdg3")"
serve_stop || fail "exit status (--no-thumb-cache)"
"$CS" serve --thumb-cache-max 0 2>/dev/null; [ $? = 2 ] || fail "--thumb-cache-max 0 is not a usage error"
"$CS" serve --no-thumb-cache --thumb-cache "$T/x" 2>/dev/null; [ $? = 2 ] || fail "contradicting cache options"

[ $fails = 0 ] && echo "serve_thumb_cache: all checks passed"
exit $((fails > 0))
