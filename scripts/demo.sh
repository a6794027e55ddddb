#!/usr/bin/env bash
# demo.sh [BUILD_DIR] — `make demo`: model + a few real photos + an index + searches.
#
#   1. model: $CLIPSEARCH_MODEL if set, else the cache if it holds one, else
#      `clipsearch model download` (stops with the offline message when that fails);
#   2. images: $IMAGES=DIR if set, else scikit-image's sample photos (BSD-3-Clause),
#      extracted from the Debian package python3-skimage into the cache (nothing is
#      installed: apt-get download + dpkg-deb -x, as shared/data/get-dev-images.sh does);
#   3. index them into ${XDG_CACHE_HOME:-~/.cache}/clipsearch/demo.db (incremental: a
#      second run re-embeds nothing);
#   4. text -> image, image -> image and zero-shot label queries, printed.
set -euo pipefail
BUILD=${1:-build}
CS=$BUILD/clipsearch
[ -x "$CS" ] || { echo "demo: $CS not found: run 'make' first" >&2; exit 2; }
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/clipsearch
DB=${DEMO_DB:-$CACHE/demo.db}
MODEL_DIR=$CACHE/models/clip-vit-base-patch32
mkdir -p "$CACHE"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# --- 1. model ---------------------------------------------------------------------------
if [ -n "${CLIPSEARCH_MODEL:-}" ]; then
  say "model: \$CLIPSEARCH_MODEL=$CLIPSEARCH_MODEL"
elif [ -f "$MODEL_DIR/config.json" ] && [ -f "$MODEL_DIR/model.safetensors" ]; then
  say "model: $MODEL_DIR (cached)"
else
  say "model: downloading openai/clip-vit-base-patch32 (~600 MB, resumable)"
  if ! "$CS" model download; then
    echo "demo: the model could not be downloaded (see the message above)." >&2
    echo "demo: offline? Copy a Hugging Face CLIP folder (config.json, model.safetensors," >&2
    echo "      vocab.json, merges.txt) to $MODEL_DIR, or set CLIPSEARCH_MODEL=DIR, and run 'make demo' again." >&2
    exit 1
  fi
fi
"$CS" model info | sed -n '1,4p'

# --- 2. images --------------------------------------------------------------------------
if [ -n "${IMAGES:-}" ]; then
  IMGS=$IMAGES
  [ -d "$IMGS" ] || { echo "demo: IMAGES=$IMGS is not a directory" >&2; exit 2; }
else
  IMGS=$CACHE/demo-images/skimage
  if [ ! -f "$IMGS/.complete" ]; then
    say "images: scikit-image sample photos from Debian's python3-skimage"
    for t in apt-get dpkg-deb; do
      command -v $t >/dev/null || { echo "demo: $t not found; set IMAGES=DIR to use your own photos" >&2; exit 2; }
    done
    work=$CACHE/demo-images/.work
    rm -rf "$work"; mkdir -p "$work"
    apt_opts=()
    [ "$(id -u)" = 0 ] && apt_opts=(-o APT::Sandbox::User=root)
    if ! (cd "$work" && apt-get download -q "${apt_opts[@]}" python3-skimage >&2); then
      if [ "$(id -u)" = 0 ]; then apt-get update -qq && (cd "$work" && apt-get download -q "${apt_opts[@]}" python3-skimage >&2); fi
    fi
    deb=$(ls "$work"/python3-skimage_*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || { echo "demo: could not download python3-skimage; set IMAGES=DIR to use your own photos" >&2; exit 1; }
    dpkg-deb -x "$deb" "$work/root"
    data=$(find "$work/root" -type d -path '*skimage/data' | head -1)
    rm -rf "$IMGS"; mkdir -p "$IMGS"
    # The photographs (and a few drawings); skimage's deliberately broken test files stay out.
    find "$data" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) ! -name 'truncated.jpg' \
      -exec cp {} "$IMGS/" \;
    cp "$work/root/usr/share/doc/python3-skimage/copyright" "$IMGS/COPYRIGHT.txt" 2>/dev/null || true
    rm -rf "$work"
    touch "$IMGS/.complete"
  fi
fi
# Every file counts here (what is an image is decided by content, not by name): the index
# summary below says how many were written, by format.
echo "images: $IMGS ($(find "$IMGS" -type f ! -path '*/.*' | wc -l) files)"

# --- 3. index ---------------------------------------------------------------------------
# One collection per embedding size, so switching models never hits a dimension mismatch.
DIM=$("$CS" model info --json | grep -o '"projection_dim":[0-9]*' | cut -d: -f2)
COLL=demo_d${DIM:-512}
say "index into $DB (collection $COLL)"
"$CS" index "$IMGS" --db "$DB" --collection "$COLL"

# --- 4. searches ------------------------------------------------------------------------
pick() {  # first existing image among the names, else any image
  for n in "$@"; do [ -f "$IMGS/$n" ] && { echo "$IMGS/$n"; return; }; done
  find "$IMGS" -type f \( -iname '*.png' -o -iname '*.jpg' \) | sort | head -1
}
for q in "a cat" "a cup of coffee" "a rocket on the launch pad" "an astronaut"; do
  say "search \"$q\""
  "$CS" search --db "$DB" --collection "$COLL" -k 3 "$q"
done
Q=$(pick chelsea.png coffee.png astronaut.png)
say "search --image $(basename "$Q")   (image -> image: itself first, score ~1)"
"$CS" search --db "$DB" --collection "$COLL" -k 3 --image "$Q"
say "search --image $(basename "$Q") \"in black and white\"   (mixed 0.5/0.5)"
"$CS" search --db "$DB" --collection "$COLL" -k 3 --image "$Q" "in black and white"
say "labels $(basename "$Q")"
"$CS" labels "$Q" --labels "a cat,a dog,a cup of coffee,a rocket,an astronaut,a horse,a coin"
HTML=$CACHE/demo.html
"$CS" search --db "$DB" --collection "$COLL" -k 12 --html "$HTML" "a cat" >/dev/null
say "done: gallery of \"a cat\" in $HTML; try: $CS search --db $DB --collection $COLL   (interactive)"
