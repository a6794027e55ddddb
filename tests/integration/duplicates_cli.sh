#!/usr/bin/env bash
# `clipsearch duplicates`: groups of exact copies (same metadata hash) and near-duplicates
# (cosine >= --threshold) on records written with `vec upsert` (vectors chosen so every
# similarity is known) and on images indexed with the tiny model (an exact copy, a resized
# copy, distinct images); text, --json, --limit, --html (escaped, thumbnails), and errors
# (bad threshold, unknown collection: non-zero exit, nothing written). $CS_TEST_DB_URL
# selects PostgreSQL (the _pg variant).
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
SRC=${CS_SOURCE_DIR:-.}
BUILD=${CS_BUILD_DIR:-build}
GEN=$BUILD/cs_index_testimages
command -v python3 >/dev/null || { echo "SKIP: python3 needed to read JSON"; exit 77; }
[ -x "$BIN" ] && [ -x "$GEN" ] || { echo "SKIP: $BIN or $GEN not built"; exit 77; }
TMP=$(mktemp -d)
if [ -n "${CS_TEST_DB_URL:-}" ]; then DB=$CS_TEST_DB_URL; else DB=$TMP/dup.db; fi
P=dup$$_
cleanup() {
    for c in "${P}v" "${P}i" "${P}e"; do "$BIN" vec drop --db "$DB" "$c" >/dev/null 2>&1; done
    rm -rf "$TMP"
}
trap cleanup EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }
# dup ARGS...: stdout -> $TMP/out, stderr -> $TMP/err, status -> $rc
dup() { "$BIN" duplicates --db "$DB" "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }
# json_check PYTHON-EXPR: evaluated with L = the parsed stdout lines.
json_check() {
    python3 - "$TMP/out" "$1" <<'PY' || die "check failed: $1 on $(head -c 600 "$TMP/out")"
import json, sys
L = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)
PY
}

# --- records with known vectors -----------------------------------------------------
V=${P}v
"$BIN" vec create --db "$DB" "$V" --dim 4 >/dev/null || die "create"
m() { printf '{"hash":"%s","bytes":%s,"width":%s,"height":%s}' "$@"; }
cat >"$TMP/recs.jsonl" <<EOF
{"id":"/v/a.jpg","vector":[1,0,0,0],"metadata":$(m h1 1000 640 480)}
{"id":"/v/a copy.jpg","vector":[1,0,0,0],"metadata":$(m h1 1000 640 480)}
{"id":"/v/a-small.jpg","vector":[0.99,0.1,0,0],"metadata":$(m h2 300 320 240)}
{"id":"/v/b.jpg","vector":[0,2,0,0],"metadata":$(m h3 50 10 10)}
{"id":"/v/b <i>&amp;.jpg","vector":[0,1,0,0],"metadata":$(m h3 50 10 10)}
{"id":"/v/c.jpg","vector":[0,0,1,0],"metadata":$(m h4 70 20 20)}
{"id":"/v/c2.jpg","vector":[0,0,0.96,0.28],"metadata":$(m h5 60 20 10)}
{"id":"/v/d.jpg","vector":[0.5,-0.5,0.5,-0.5],"metadata":$(m h6 80 30 30)}
{"id":"/v/e.jpg","vector":[-0.5,0.5,0.5,0.5],"metadata":{"type":"jpg"}}
EOF
"$BIN" vec upsert --db "$DB" "$V" <"$TMP/recs.jsonl" >/dev/null || die "upsert"

dup --collection "$V"
[ $rc -eq 0 ] || die "text: exit $rc: $(cat "$TMP/err")"
grep -q '^group 1: 3 records, exact copies and near-duplicates, similarity 0.9949-1.0000$' "$TMP/out" ||
    die "text group 1: $(cat "$TMP/out")"
grep -q '^group 2: 2 records, exact copies, similarity 1.0000-1.0000$' "$TMP/out" || die "text group 2"
grep -q '^group 3: 2 records, near-duplicates, similarity 0.9600-0.9600$' "$TMP/out" || die "text group 3"
grep -Eq '^  =1 +1\.0000 +1000 +640x480  /v/a\.jpg$' "$TMP/out" || die "text member line: $(cat "$TMP/out")"
grep -q '^3 groups (3 shown), 7 records in groups, of 9 compared (threshold 0.9500)$' "$TMP/out" ||
    die "text summary: $(tail -1 "$TMP/out")"

dup --collection "$V" --json
[ $rc -eq 0 ] || die "json: exit $rc"
json_check "len(L) == 3 and [g['group'] for g in L] == [1, 2, 3] and [g['size'] for g in L] == [3, 2, 2]"
json_check "[g['kind'] for g in L] == ['mixed', 'exact', 'near']"
json_check "[m['id'] for m in L[0]['members']] == ['/v/a copy.jpg', '/v/a.jpg', '/v/a-small.jpg']"
json_check "[m['copy'] for m in L[0]['members']] == [1, 1, 0]"
json_check "L[0]['members'][2] == {'id': '/v/a-small.jpg', 'path': '/v/a-small.jpg', 'bytes': 300, 'width': 320, 'height': 240, 'hash': 'h2', 'copy': 0, 'similarity': L[0]['members'][2]['similarity']}"
json_check "abs(L[0]['min_similarity'] - 0.99 / (0.99**2 + 0.01) ** 0.5) < 1e-5 and L[0]['max_similarity'] == 1.0"
json_check "abs(L[2]['max_similarity'] - 0.96) < 1e-5 and abs(L[2]['members'][0]['similarity'] - 0.96) < 1e-5"
json_check "sorted(m['id'] for m in L[1]['members']) == ['/v/b <i>&amp;.jpg', '/v/b.jpg']"
json_check "all(set(g) == {'group', 'kind', 'size', 'max_similarity', 'min_similarity', 'members'} for g in L)"

dup --collection "$V" --json --threshold 0.97
json_check "[g['size'] for g in L] == [3, 2]"
dup --collection "$V" --json --threshold 1
json_check "[g['kind'] for g in L] == ['exact', 'exact']"
# 0.6: e joins c~c2 through e.c2 = 0.62 (a chain: e.c = 0.5 is the group's minimum).
dup --collection "$V" --json --threshold 0.6
json_check "[g['size'] for g in L] == [3, 3, 2] and L[1]['kind'] == 'near'"
json_check "abs(L[1]['min_similarity'] - 0.5) < 1e-5 and L[1]['members'][2]['id'] == '/v/e.jpg'"
json_check "L[1]['members'][2]['bytes'] is None and L[1]['members'][2]['hash'] is None and L[1]['members'][2]['width'] is None"
dup --collection "$V" --json --threshold 0.6 --limit 1
json_check "len(L) == 1 and L[0]['size'] == 3 and L[0]['kind'] == 'mixed'"
dup --collection "$V" --limit 2
[ "$(grep -c '^group ' "$TMP/out")" = 2 ] || die "--limit 2 text: $(cat "$TMP/out")"

# --html: one section per group, everything escaped, written atomically.
dup --collection "$V" --html "$TMP/v.html"
[ $rc -eq 0 ] && [ -s "$TMP/v.html" ] || die "html: exit $rc: $(cat "$TMP/err")"
grep -q "wrote $TMP/v.html" "$TMP/err" || die "html: no 'wrote' note"
[ "$(grep -c '<section class="group"' "$TMP/v.html")" = 3 ] || die "html: expected 3 sections"
grep -q '/v/b &lt;i&gt;&amp;amp;.jpg' "$TMP/v.html" || die "html: id not escaped"
! grep -q '<i>' "$TMP/v.html" || die "html: raw <i> from data"
ls "$TMP" | grep -q '\.tmp\.' && die "html: temp file left"

# --- errors: non-zero exit, nothing on stdout, no file written ----------------------
for bad in 0 -0.1 1.5 abc nan inf ''; do
    dup --collection "$V" --threshold "$bad" --html "$TMP/bad.html"
    [ $rc -eq 2 ] || die "--threshold '$bad': exit $rc, expected 2"
    [ ! -s "$TMP/out" ] || die "--threshold '$bad': stdout not empty"
    grep -q '^clipsearch: duplicates: --threshold needs' "$TMP/err" || die "--threshold '$bad': $(cat "$TMP/err")"
done
dup --collection "$V" --limit 0
[ $rc -eq 2 ] || die "--limit 0: exit $rc"
dup --collection "${P}nosuch" --html "$TMP/bad.html"
[ $rc -eq 1 ] || die "unknown collection: exit $rc"
[ ! -s "$TMP/out" ] || die "unknown collection: stdout not empty"
grep -q "^clipsearch: nothing indexed yet in collection '${P}nosuch'" "$TMP/err" || die "unknown collection: $(cat "$TMP/err")"
[ ! -e "$TMP/bad.html" ] || die "an error wrote the html file"

E=${P}e
"$BIN" vec create --db "$DB" "$E" --dim 4 >/dev/null
dup --collection "$E"
[ $rc -eq 0 ] && grep -q '^no duplicates among 0 records' "$TMP/out" || die "empty: $(cat "$TMP/out" "$TMP/err")"
dup --collection "$E" --json
[ $rc -eq 0 ] && [ ! -s "$TMP/out" ] || die "empty --json"

# --- indexed images: an exact copy, a resized copy, distinct images --------------------
I=${P}i
mkdir -p "$TMP/img/sub"
"$GEN" jpg "$TMP/img/a.jpg" 320 240 1 && cp "$TMP/img/a.jpg" "$TMP/img/sub/a copy.jpg" &&
    "$GEN" resize "$TMP/img/a.jpg" "$TMP/img/a_small.jpg" 160 || die "making images"
for s in 2 3 4 5; do "$GEN" jpg "$TMP/img/d$s.jpg" 300 200 "$s" || die "making d$s"; done
"$GEN" onepng "$TMP/img/p.png" 64 64 9 || die "making p.png"
"$BIN" index "$TMP/img" --db "$DB" --collection "$I" --model "$SRC/tests/fixtures/tiny/model" \
    --quiet || die "index"
A=$(realpath "$TMP/img/a.jpg")
dup --collection "$I" --json --html "$TMP/i.html"
[ $rc -eq 0 ] || die "indexed: exit $rc: $(cat "$TMP/err")"
json_check "len(L) == 1 and L[0]['kind'] == 'mixed' and L[0]['size'] == 3"
json_check "[m['id'].rsplit('/', 1)[1] for m in L[0]['members']] == ['a.jpg', 'a copy.jpg', 'a_small.jpg']"
json_check "[(m['width'], m['height']) for m in L[0]['members']] == [(320, 240), (320, 240), (160, 120)]"
json_check "L[0]['members'][0]['bytes'] == $(stat -c %s "$TMP/img/a.jpg") and L[0]['members'][0]['path'] == '$A'"
json_check "[m['copy'] for m in L[0]['members']] == [1, 1, 0] and len(L[0]['members'][0]['hash']) == 32"
json_check "L[0]['members'][0]['hash'] == L[0]['members'][1]['hash'] != L[0]['members'][2]['hash']"
json_check "0.95 <= L[0]['min_similarity'] < 0.9999"
[ "$(grep -c '<img loading="lazy"' "$TMP/i.html")" = 3 ] || die "indexed html: expected 3 thumbnails"
grep -q 'src="data:image/jpeg;base64,/9j/' "$TMP/i.html" || die "indexed html: no data: JPEG"
# The resized copy drops out at a threshold above its similarity; the exact copy stays.
dup --collection "$I" --json --threshold 0.9999
json_check "len(L) == 1 and L[0]['kind'] == 'exact' and L[0]['size'] == 2"

[ $fail -eq 0 ] && echo "duplicates_cli: all passed"
exit $fail
