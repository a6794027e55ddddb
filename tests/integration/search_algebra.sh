#!/usr/bin/env bash
# Query algebra (clipsearch search): several weighted texts and images in one query,
#   q = normalize(sum w_i * normalize(e_i))
# checked against the vectors `clipsearch embed` gives and the stored records' vectors;
# the syntax ('+'/'-' at a word's start, "W:", image terms by path prefix, repeated
# --image with weights), its equivalences with plain and mixed queries, and its errors.
# Store: $CS_TEST_DB_URL when set (PostgreSQL), else a temporary SQLite file.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?} BUILD=${CS_BUILD_DIR:?}
FIX=$BUILD/cs_query_fixture
[ -x "$FIX" ] || { echo "SKIP: $FIX not built"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
DB=${CS_TEST_DB_URL:-$T/search.db}
COLL=search_algebra_$$
IMG=$SRC/tests/fixtures/tiny/images
mkdir -p "$T/imgs"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/portrait_444_480x640.jpg" "$IMG/rgba_256x320.png" "$IMG/palette_P_200x150.png" "$T/imgs/"
"$FIX" images "$DB" "$CLIPSEARCH_MODEL" "$COLL" "$T"/imgs/* || { echo "fixture failed"; exit 1; }
N=6
S() { "$CS" search --db "$DB" --collection "$COLL" -k $N --json "$@"; }
cd "$T" || exit 1
Q=imgs/shapes_baseline_300x500.jpg
P=imgs/portrait_444_480x640.jpg

# Every record's vector, and the parts' embeddings, for the expected scores.
"$CS" vec fetch --db "$DB" "$COLL" "$T"/imgs/* >"$T/records" || fail "vec fetch"
emb() { "$CS" embed "$@" >>"$T/parts" || fail "embed $*"; }
emb --text "a colourful gradient"; emb --text "red"; emb --text "blue sky"
emb --image "$Q"; emb --image "$P"

# expect NAME RESULTS TERMS...: the results' scores are the cosines of each record with
# normalize(sum w * normalize(part)), TERMS given as WEIGHT:INPUT (the part's "input").
expect() {
    python3 - "$T/records" "$T/parts" "$@" <<'PY' || fail "$1: scores differ from the algebra"
import json, math, sys
recs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    recs[r["id"]] = r["vector"]
parts = {}
for line in open(sys.argv[2]):
    p = json.loads(line)
    parts[p["input"].split("/")[-1]] = p["embedding"]
norm = lambda v: [x / math.sqrt(sum(y * y for y in v)) for x in v]
name, results = sys.argv[3], sys.argv[4]
q = None
for t in sys.argv[5:]:
    w, inp = t.split(":", 1)
    v = [float(w) * x for x in norm(parts[inp])]
    q = v if q is None else [a + b for a, b in zip(q, v)]
q = norm(q)
hits = [json.loads(l) for l in open(results)]
assert len(hits) == len(recs), (name, len(hits))
for h in hits:
    want = sum(a * b for a, b in zip(q, norm(recs[h["id"]])))
    assert abs(h["score"] - want) < 2e-5, (name, h["id"], h["score"], want)
scores = [h["score"] for h in hits]
assert scores == sorted(scores, reverse=True), (name, scores)
PY
}

S "red - blue sky" >"$T/r1" || fail "red - blue sky"
expect "red - blue sky" "$T/r1" "1:red" "-1:blue sky"
S -- "-red" >"$T/r2" || fail "-red"
expect "-red" "$T/r2" "-1:red"
S "2:red +0.5:a colourful gradient -./$Q" >"$T/r3" || fail "weights and an image term"
expect "weights and an image term" "$T/r3" "2:red" "0.5:a colourful gradient" "-1:${Q##*/}"
# Repeated --image with weights; --text-weight/--image-weight multiply the terms' weights.
S red --image "$Q" --image "-0.5:$P" --text-weight 2 --image-weight 1 >"$T/r4" || fail "--image twice"
expect "--image twice" "$T/r4" "2:red" "1:${Q##*/}" "-0.5:${P##*/}"
# Unquoted words are one text term; "t-shirt"-like words are not operators.
S blue sky >"$T/r5a"; S "blue sky" >"$T/r5b"
cmp -s "$T/r5a" "$T/r5b" || fail "unquoted words differ from the quoted text"
S "a colourful-gradient" >/dev/null || fail "a hyphen inside a word"
# A single positive term is the plain query; text + image is the classic mixed query.
S "3:red" >"$T/r6"; S red >"$T/r7"
cmp -s "$T/r6" "$T/r7" || fail "a weighted single term differs from the plain query"
S "red + ./$Q" >"$T/r8"; S --image "$Q" red >"$T/r9"
python3 - "$T/r8" "$T/r9" <<'PY' || fail "'red + ./image' differs from --image with red"
import json, sys
a, b = ([(r["id"], r["score"]) for r in map(json.loads, open(p))] for p in sys.argv[1:])
assert [i for i, _ in a] == [i for i, _ in b] and all(abs(x - y) < 1e-6 for (_, x), (_, y) in zip(a, b))
PY
# ~/ expands to $HOME.
mkdir -p "$T/home" && cp "$Q" "$T/home/q.jpg"
HOME=$T/home S "~/q.jpg" >"$T/r10" && S --image "$Q" >"$T/r11" && cmp -s "$T/r10" "$T/r11" ||
    fail "~/ expansion"

# Errors: usage errors (exit 2), a missing image (exit 1), nothing written to stdout.
for bad in "red +" "red - + blue" "0:red" "2:" "red - red"; do
    S -- "$bad" >"$T/out" 2>"$T/err"; rc=$?
    [ $rc -ne 0 ] && [ ! -s "$T/out" ] || fail "'$bad': rc=$rc $(cat "$T/out")"
done
S "red +" >/dev/null 2>"$T/err"; [ $? -eq 2 ] && grep -q "nothing after '+'" "$T/err" || fail "dangling +: $(cat "$T/err")"
S -- "0:red" >/dev/null 2>"$T/err"; [ $? -eq 2 ] && grep -q "weight" "$T/err" || fail "0 weight: $(cat "$T/err")"
S "red - red" >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "cancel out" "$T/err" || fail "red - red: $(cat "$T/err")"
S "red + ./nosuch.jpg" >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "nosuch.jpg" "$T/err" || fail "missing image term: $(cat "$T/err")"

# The web API reads q with the same syntax (texts only: a path would name a file on the
# server) and adds q's texts to an uploaded image; the answer says how it read q.
. "$SRC/tests/integration/serve_common.bash"
trap 'serve_kill; rm -rf "$T"' EXIT
if serve_start --db "$DB" --collection "$COLL"; then
    B=${SERVE_URL%/}
    api() { curl -s -m 60 -o "$2" -w '%{http_code}' "${@:3}" "$1"; }
    [ "$(api "$B/api/search?k=$N" "$T/w1" -G --data-urlencode 'q=red - blue sky')" = 200 ] || fail "api algebra status: $(cat "$T/w1")"
    python3 - "$T/w1" "$T/r1" <<'PY' || fail "api algebra differs from the CLI: $(head -c 400 "$T/w1")"
import json, sys
w = json.load(open(sys.argv[1]))
assert w["query"]["text"] == "red - blue sky", w["query"]
assert w["query"]["terms"] == [{"kind": "text", "value": "red", "weight": 1.0},
                               {"kind": "text", "value": "blue sky", "weight": -1.0}], w["query"]
cli = [json.loads(l) for l in open(sys.argv[2])]
assert [r["id"] for r in w["results"]] == [r["id"] for r in cli]
assert all(abs(a["score"] - b["score"]) < 1e-6 for a, b in zip(w["results"], cli))
PY
    code=$(api "$B/api/search" "$T/w2" -G --data-urlencode "q=red + ./$Q")
    [ "$code" = 400 ] && grep -q 'would name a file on the server' "$T/w2" || fail "api image term: $code $(cat "$T/w2")"
    # The refusal does not echo the term: '~/' was expanded with the server's $HOME.
    code=$(api "$B/api/search" "$T/w2" -G --data-urlencode "q=red + ~/x.jpg")
    [ "$code" = 400 ] && ! grep -qF "$HOME" "$T/w2" || fail "api ~ term: $code $(cat "$T/w2")"
    # The image route checks q's terms too (the upload is its first image term).
    qe=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "red + ./$Q")
    code=$(api "$B/api/search/image?q=$qe" "$T/w2" -F "image=@$Q")
    [ "$code" = 400 ] && grep -q 'would name a file on the server' "$T/w2" || fail "api image route image term: $code $(cat "$T/w2")"
    code=$(api "$B/api/search" "$T/w3" -G --data-urlencode "q=red +")
    [ "$code" = 400 ] && grep -q "nothing after '+'" "$T/w3" || fail "api dangling +: $code $(cat "$T/w3")"
    # Upload + "2:red -blue sky" = the CLI's --image with those texts.
    [ "$(api "$B/api/search/image?k=$N&q=2%3Ared+-blue+sky" "$T/w4" -F "image=@$Q")" = 200 ] ||
        fail "api image algebra status: $(cat "$T/w4")"
    S "2:red -blue sky" --image "$Q" >"$T/r12"
    python3 - "$T/w4" "$T/r12" <<'PY' || fail "api image algebra differs from the CLI: $(head -c 400 "$T/w4")"
import json, sys
w = json.load(open(sys.argv[1]))
assert [t["kind"] for t in w["query"]["terms"]] == ["image", "text", "text"], w["query"]
cli = [json.loads(l) for l in open(sys.argv[2])]
assert [r["id"] for r in w["results"]] == [r["id"] for r in cli]
assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(w["results"], cli))
PY
    serve_stop || fail "server exit status: $(grep -v "no model record" "$SERVE_ERR" | tail -40)"
else
    fail "server did not start"
fi

"$CS" vec drop --db "$DB" "$COLL" >/dev/null 2>&1
[ $fails -eq 0 ] && echo "search_algebra: ok"
exit $((fails > 0))
