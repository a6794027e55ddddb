#!/usr/bin/env bash
# The `clipsearch serve` page in a real headless Chromium (tests/web/ui_test.mjs through
# playwright-core, pinned by tests/web/package-lock.json; the browser is the system's
# /usr/bin/chromium or $CHROMIUM, installed by scripts/install-test-deps.sh). Types a
# query, checks result cards, thumbnails, scores, escaping of a hostile path, k, the
# filter input, file-picker and drag-and-drop image queries, the cards' links to the
# original files (/api/file), and the empty state of a server started before anything was
# indexed (no database, none created); saves a screenshot as $CS_BUILD_DIR/web_ui.png.
# Without a browser, node or playwright-core: skip (77), or fail when CS_REQUIRE_BROWSER=1.
# shellcheck disable=SC2153  # SERVE_URL comes from serve_common.bash
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?} BUILD=${CS_BUILD_DIR:?}
WEB=$SRC/tests/web
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
missing() {
  if [ "${CS_REQUIRE_BROWSER:-0}" = 1 ]; then
    echo "FAIL: $1 (CS_REQUIRE_BROWSER=1; run scripts/install-test-deps.sh as root)" >&2
    exit 1
  fi
  echo "SKIP: $1 (run scripts/install-test-deps.sh; set CS_REQUIRE_BROWSER=1 to make this a failure)"
  exit 77
}
[ -x "$CHROMIUM" ] || missing "no Chromium at $CHROMIUM (Debian package chromium)"
command -v node >/dev/null || missing "node not found"
[ -f "$WEB/node_modules/playwright-core/package.json" ] || missing "playwright-core not installed in tests/web (npm ci)"
export CHROMIUM

# shellcheck source=serve_common.bash
. "$SRC/tests/integration/serve_common.bash"
T=$(mktemp -d)
EMPTY_PID=
trap 'serve_kill; [ -n "$EMPTY_PID" ] && kill -KILL "$EMPTY_PID" 2>/dev/null; rm -rf "$T"' EXIT
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
IMG=$SRC/tests/fixtures/tiny/images
mkdir -p "$T/imgs"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/portrait_444_480x640.jpg" "$IMG/photo_progressive_640x427.jpg" "$IMG/rgba_256x320.png" "$T/imgs/"
# A path that would run a script if the page inserted it as markup.
SPECIAL="$T/imgs/o'neil <b>&\"x\" <img src=x onerror=window.__pwned=1>.png"
cp "$IMG/palette_P_200x150.png" "$SPECIAL"
"$CS" index --db "$T/ui.db" --quiet "$T/imgs" || { echo "index failed"; exit 1; }
# First a server on a database that does not exist (yet): the page's empty state.
SERVE_ERR=$T/empty.err
serve_start --db "$T/none.db" || exit 1
EMPTY_PID=$SERVE_PID EMPTY_URL=$SERVE_URL
SERVE_ERR=$T/serve.err
serve_start --db "$T/ui.db" || exit 1

start=$(date +%s)
node "$WEB/ui_test.mjs" "$SERVE_URL" "$(realpath "$SPECIAL")" \
     "$(realpath "$T/imgs/shapes_baseline_300x500.jpg")" "$BUILD/web_ui.png" "$EMPTY_URL"
rc=$?
echo "web_ui: browser part took $(($(date +%s) - start)) s; screenshot $BUILD/web_ui.png"
serve_stop || { echo "FAIL: server exit status $? ($(cat "$SERVE_ERR"))" >&2; rc=1; }
SERVE_PID=$EMPTY_PID EMPTY_PID=
serve_stop || { echo "FAIL: empty server exit status $?" >&2; rc=1; }
[ ! -e "$T/none.db" ] || { echo "FAIL: serve created $T/none.db" >&2; rc=1; }
exit $rc
