#!/usr/bin/env bash
# add-text + search over a text collection: image -> text and text -> text, ids are the
# texts, metadata {"type":"text"}, duplicates written once, stdin input, --json counts,
# a text gallery, and dimension/usage errors. $CS_TEST_DB_URL selects PostgreSQL.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
DB=${CS_TEST_DB_URL:-$T/text.db}
C=captions_$$
IMG=$SRC/tests/fixtures/tiny/images

cat >"$T/captions.txt" <<'TXT'
a red square on a white background

a blue circle
  green and yellow stripes  
a red square on a white background
random coloured noise
<b>bold</b> & "quoted"
TXT
"$CS" add-text "$T/captions.txt" --db "$DB" --collection "$C" --json >"$T/out" || fail "add-text"
grep -q '"lines":6,"upserted":5,"duplicates":1,"new":5' "$T/out" || fail "counts: $(cat "$T/out")"
"$CS" add-text - --db "$DB" --collection "$C" --batch 1 <<<"one more line" >"$T/out2" || fail "add-text from stdin"
grep -q "added 1 texts to collection '$C' (1 new, 0 already there" "$T/out2" || fail "stdin add-text: $(cat "$T/out2")"
# Again, with one new line among known ones (batch 2: both kinds in one batch).
printf 'a blue circle\none more line\na green triangle\n' >"$T/more.txt"
"$CS" add-text "$T/more.txt" --db "$DB" --collection "$C" --batch 2 --json >"$T/out3" || fail "add-text again"
grep -q '"lines":3,"upserted":3,"duplicates":0,"new":1' "$T/out3" || fail "new count: $(cat "$T/out3")"

# text -> text: an exact caption is its own nearest neighbour.
"$CS" search --db "$DB" --collection "$C" --json "green and yellow stripes" >"$T/tt" || fail "text->text"
python3 - "$T/tt" <<'PY' || fail "text->text results"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 7, rows
assert rows[0]["id"] == "green and yellow stripes" and abs(rows[0]["score"] - 1) < 1e-4, rows[0]
assert all(r["metadata"] == {"type": "text"} for r in rows), rows
PY
# image -> text, table says "text".
"$CS" search --db "$DB" --collection "$C" --image "$IMG/noise_rgb_224x224.png" -k 3 >"$T/it" || fail "image->text"
head -1 "$T/it" | grep -q 'text' && [ "$(wc -l <"$T/it")" = 4 ] || fail "image->text table: $(cat "$T/it")"
"$CS" search --db "$DB" --collection "$C" --image "$IMG/noise_rgb_224x224.png" --html "$T/t.html" >/dev/null 2>&1 || fail "text gallery"
grep -q '&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;' "$T/t.html" || fail "text gallery escaping"
grep -q 'data:image/jpeg' "$T/t.html" || fail "text gallery lacks the query image"

"$CS" add-text "$T/none.txt" --db "$DB" --collection "$C" 2>/dev/null && fail "missing file accepted"
"$CS" add-text --db "$DB" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no FILE: not a usage error"
"$CS" add-text "$T/captions.txt" --batch 0 --db "$DB" >/dev/null 2>&1; [ $? -eq 2 ] || fail "--batch 0 accepted"
"${CS_BUILD_DIR:?}/cs_query_fixture" empty "$DB" "${C}_d7" 7
"$CS" add-text "$T/captions.txt" --db "$DB" --collection "${C}_d7" 2>"$T/err" >/dev/null && fail "dim mismatch accepted"
grep -q 'MismatchedDimension' "$T/err" || fail "dim mismatch message: $(cat "$T/err")"
if [ -n "${CS_TEST_DB_URL:-}" ]; then
  "$CS" vec drop "$C" --db "$DB" >/dev/null 2>&1; "$CS" vec drop "${C}_d7" --db "$DB" >/dev/null 2>&1
fi
[ $fails -eq 0 ] && echo "search_text_collections: all passed"
exit $((fails > 0))
