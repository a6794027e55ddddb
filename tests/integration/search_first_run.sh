#!/usr/bin/env bash
# First run and results you can act on (issue 10, items 2 and 3):
#  - read-only commands (search, labels, serve, vec list/describe/query/fetch/get) never
#    create a database file, nor its folder, at --db or at the default location; search
#    says "nothing indexed yet in DB - run: clipsearch index DIR" (non-zero exit), also for
#    an empty file and for a missing collection (naming --collection);
#  - search drops results whose files are gone (one line on stderr) and still returns k;
#    --include-missing keeps them flagged ("missing": true, marked in the table); --paths
#    prints only paths; the --html gallery links each image to its file.
# Store: $CS_TEST_DB_URL when set (PostgreSQL: the no-file checks run on SQLite paths
# there too, the rest against the server), else a temporary SQLite file.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
command -v python3 >/dev/null || { echo "SKIP: python3 needed"; exit 77; }
T=$(mktemp -d)
SERVE_PID=
COLL=first_run_$$
DB=${CS_TEST_DB_URL:-$T/search.db}
cleanup() {
  [ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null
  [ -n "${CS_TEST_DB_URL:-}" ] && "$CS" vec drop --db "$DB" "$COLL" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
IMG=$SRC/tests/fixtures/tiny/images
DASH=$'\u2014'

# ---- nothing indexed: no file, no folder, a message that says what to run -------------
NONE=$T/nowhere/clip.db
"$CS" search --db "$NONE" "a dog" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] || fail "search without a database exited 0"
[ "$(cat "$T/err")" = "clipsearch: nothing indexed yet in $NONE $DASH run: clipsearch index DIR --db $NONE" ] \
  || fail "first-run message: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "search without a database printed: $(cat "$T/out")"
# The default location (XDG_DATA_HOME): neither the file nor its folder appear.
env -u CLIPSEARCH_DB XDG_DATA_HOME="$T/xdg" "$CS" search "a dog" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ "$(cat "$T/err")" = "clipsearch: nothing indexed yet in $T/xdg/clipsearch/clipsearch.db $DASH run: clipsearch index DIR" ] \
  || fail "default location: rc=$rc $(cat "$T/err")"
[ ! -e "$T/xdg" ] || fail "search created $(find "$T/xdg")"
# Every read-only command, at a mistyped --db and at the default location.
for args in "vec list" "vec describe image_vectors" "vec fetch image_vectors x" "vec get image_vectors x" \
            "vec query image_vectors --vector [1,0] --limit 1" \
            "labels $IMG/gradient_rgb_640x480.png --labels a,b"; do
  # shellcheck disable=SC2086
  "$CS" $args --db "$NONE" >/dev/null 2>"$T/err"; rc=$?
  case $args in
    labels*) [ $rc -eq 0 ] || fail "$args: rc=$rc $(cat "$T/err")" ;;   # reads no store
    *) [ $rc -ne 0 ] && grep -q "StoreNotFound: no database at $NONE (nothing indexed yet: run clipsearch index DIR" "$T/err" \
         || fail "$args: rc=$rc $(cat "$T/err")" ;;
  esac
  # shellcheck disable=SC2086
  env -u CLIPSEARCH_DB XDG_DATA_HOME="$T/xdg" "$CS" $args >/dev/null 2>&1
  [ ! -e "$T/nowhere" ] && [ ! -e "$T/xdg" ] || fail "'$args' created $(find "$T/nowhere" "$T/xdg" 2>/dev/null)"
done
# serve: starts on the empty store, says so, creates nothing.
"$CS" serve --port 0 --db "$NONE" 2>"$T/serve.err" &
SERVE_PID=$!
for _ in $(seq 1 600); do
  grep -q '^clipsearch: serving' "$T/serve.err" && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "^clipsearch: note: nothing indexed yet in $NONE $DASH run: clipsearch index DIR --db $NONE" "$T/serve.err" \
  || fail "serve note: $(cat "$T/serve.err")"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || fail "serve exit status $?"
SERVE_PID=
[ ! -e "$T/nowhere" ] || fail "serve created $(find "$T/nowhere")"
# An existing empty file (touch) stays empty; a file of another program stays as it is.
: >"$T/empty.db"
"$CS" search --db "$T/empty.db" x >/dev/null 2>"$T/err" && fail "search on an empty file exited 0"
grep -q "^clipsearch: nothing indexed yet in $T/empty.db $DASH run: " "$T/err" || fail "empty file: $(cat "$T/err")"
"$CS" vec list --db "$T/empty.db" >"$T/out" 2>&1 && [ ! -s "$T/out" ] || fail "vec list on an empty file: $(cat "$T/out")"
[ ! -s "$T/empty.db" ] && [ "$(ls "$T" | grep -c '^empty\.db')" = 1 ] || fail "empty file written: $(ls -l "$T")"

# ---- an indexed collection ---------------------------------------------------------------
mkdir -p "$T/imgs"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/portrait_444_480x640.jpg" "$IMG/rgba_256x320.png" "$IMG/palette_P_200x150.png" \
   "$IMG/small_31x17.png" "$T/imgs/"
cp "$IMG/photo_progressive_640x427.jpg" "$T/imgs/two words & more.jpg"
"$CS" index --db "$DB" --collection "$COLL" --quiet "$T/imgs" || { echo "FAIL: index"; exit 1; }
S() { "$CS" search --db "$DB" --collection "$COLL" "$@"; }
# A missing collection in an existing store names it and the existing ones.
"$CS" search --db "$DB" --collection "${COLL}_typo" x >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "^clipsearch: nothing indexed yet in collection '${COLL}_typo' of .*$COLL.* $DASH run: clipsearch index DIR --db .* --collection ${COLL}_typo$" "$T/err" \
  || fail "missing collection: rc=$rc $(cat "$T/err")"
"$CS" vec list --db "$DB" | grep -q "\"${COLL}_typo\"" && fail "search created the collection"
if [ -z "${CS_TEST_DB_URL:-}" ]; then
  # A search writes nothing into the database file.
  sum=$(sha256sum <"$DB")
  S x >/dev/null 2>&1 || fail "search"
  [ "$(sha256sum <"$DB")" = "$sum" ] || fail "search changed the database file"
fi

Q="a colourful gradient"
S --json -k 8 "$Q" >"$T/all" 2>"$T/err" || fail "search: $(cat "$T/err")"
[ "$(wc -l <"$T/all")" = 8 ] || fail "8 results expected: $(cat "$T/all")"
[ -s "$T/err" ] && fail "stderr without missing files: $(cat "$T/err")"
# Delete the files of the two best hits.
python3 - "$T/all" >"$T/gone" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n".join(r["id"] for r in rows[:2]))
PY
while read -r f; do rm -f "$f"; done <"$T/gone"

# Dropped by default, one line on stderr, still k results: ranks 3..5 of before.
S --json -k 3 "$Q" >"$T/k3" 2>"$T/err" || fail "search after deleting: $(cat "$T/err")"
[ "$(cat "$T/err")" = "clipsearch: 2 results skipped: files no longer exist; run clipsearch index DIR --prune (or search --include-missing)" ] \
  || fail "skipped line: $(cat "$T/err")"
python3 - "$T/all" "$T/k3" <<'PY' || fail "results after deleting"
import json, sys
before = [json.loads(l) for l in open(sys.argv[1])]
after = [json.loads(l) for l in open(sys.argv[2])]
assert [r["id"] for r in after] == [r["id"] for r in before[2:5]], after
assert [r["rank"] for r in after] == [1, 2, 3], after
assert all("missing" not in r for r in after), after
PY
# -k beyond the first round: 6 asked, 6 of the 6 remaining files.
S --json -k 6 "$Q" 2>/dev/null | wc -l | grep -qx 6 || fail "-k 6 after deleting 2 of 8"
# The table, too.
S -k 3 "$Q" >"$T/table" 2>/dev/null
[ "$(tail -n +2 "$T/table" | wc -l)" = 3 ] && ! grep -q missing "$T/table" || fail "table: $(cat "$T/table")"

# --include-missing: the same top 3 as before, the gone ones flagged.
S --json -k 3 --include-missing "$Q" >"$T/inc" 2>"$T/err" || fail "--include-missing"
[ ! -s "$T/err" ] || fail "--include-missing printed: $(cat "$T/err")"
python3 - "$T/all" "$T/inc" <<'PY' || fail "--include-missing results"
import json, sys
before = [json.loads(l) for l in open(sys.argv[1])]
inc = [json.loads(l) for l in open(sys.argv[2])]
assert [r["id"] for r in inc] == [r["id"] for r in before[:3]], inc
assert [r.get("missing") for r in inc] == [True, True, None], inc
assert list(inc[0]) == ["rank", "id", "score", "metadata", "missing"], inc[0]
PY
S -k 3 --include-missing "$Q" >"$T/inc.table" 2>/dev/null
[ "$(grep -c '(missing: file no longer exists)$' "$T/inc.table")" = 2 ] || fail "table marks: $(cat "$T/inc.table")"

# --paths: only the paths, one per line, usable by xargs.
S --paths -k 3 "$Q" >"$T/paths" 2>/dev/null || fail "--paths"
python3 - "$T/k3" "$T/paths" <<'PY' || fail "--paths output: $(cat "$T/paths")"
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
assert open(sys.argv[2]).read().splitlines() == ids
PY
tr '\n' '\0' <"$T/paths" | xargs -0 ls >/dev/null || fail "--paths | xargs ls"
S --paths --json x >/dev/null 2>&1; [ $? -eq 2 ] || fail "--paths with --json accepted"

# The gallery links each image to its file (file:// URL, escaped); gone files are flagged.
S -k 8 --include-missing --html "$T/g.html" "$Q" >/dev/null 2>&1 || fail "--html"
python3 - "$T/g.html" "$T/all" "$T/gone" <<'PY' || fail "gallery links"
import json, sys, urllib.parse
h = open(sys.argv[1]).read()
ids = [json.loads(l)["id"] for l in open(sys.argv[2])]
gone = set(open(sys.argv[3]).read().split("\n")) - {""}
for i in ids:
    url = "file://" + urllib.parse.quote(i, safe="/-._~!$&'()*+,;=:@")
    href = 'href="' + url.replace("&", "&amp;").replace("'", "&#39;") + '"'
    assert (href in h) == (i not in gone), (i, href)
assert h.count('data-missing="true"') == 2 and h.count("(file no longer exists)") == 2
assert "file:///" in h and "two%20words%20&amp;%20more.jpg" in h
PY

[ $fails -eq 0 ] && echo "search_first_run: all passed"
exit $((fails > 0))
