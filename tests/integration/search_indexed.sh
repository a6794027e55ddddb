#!/usr/bin/env bash
# index -> search consistency: images indexed by `clipsearch index` are found by their own
# image query first with score ~1 (same decoding, orientation and preprocessing on both
# sides), the indexer's metadata filters, and an EXIF-rotated photo matches itself only
# when both sides apply the orientation. $CS_TEST_DB_URL selects PostgreSQL.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
DB=${CS_TEST_DB_URL:-$T/idx.db}
C=search_indexed_$$
mkdir -p "$T/imgs/sub"
cp "$SRC"/tests/fixtures/tiny/images/*.jpg "$T/imgs/"
cp "$SRC"/tests/fixtures/tiny/images/*.png "$T/imgs/sub/"
"$CS" index "$T/imgs" --db "$DB" --collection "$C" --quiet || { echo "index failed"; exit 1; }
N=$(find "$T/imgs" -type f | wc -l)

for f in $(find "$T/imgs" -type f | sort); do
  "$CS" search --db "$DB" --collection "$C" --json -k 1 --image "$f" >"$T/r" || { fail "query $f"; continue; }
  python3 - "$T/r" "$(realpath "$f")" <<'PY' || fail "self match: $f"
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["id"] == sys.argv[2] and r["score"] > 0.9999, r
assert r["metadata"]["name"] == sys.argv[2].rsplit("/", 1)[1], r
PY
done
"$CS" search --db "$DB" --collection "$C" --json -k 100 "x" >"$T/all"
[ "$(wc -l <"$T/all")" = "$N" ] || fail "expected $N results, got $(wc -l <"$T/all")"
"$CS" search --db "$DB" --collection "$C" --json -k 100 --filter '{"type":{"$eq":"jpg"}}' "x" >"$T/jpg"
[ "$(wc -l <"$T/jpg")" = "$(find "$T/imgs" -name '*.jpg' | wc -l)" ] || fail "type filter: $(cat "$T/jpg")"
"$CS" search --db "$DB" --collection "$C" --json -k 100 --filter '{"width":{"$gte":480}}' "x" >"$T/wide"
python3 - "$T/wide" "$T/all" <<'PY' || fail "width filter"
import json, sys
wide = [json.loads(l) for l in open(sys.argv[1])]
every = [json.loads(l) for l in open(sys.argv[2])]
assert wide and all(r["metadata"]["width"] >= 480 for r in wide)
assert len(wide) == sum(r["metadata"]["width"] >= 480 for r in every)
PY
# EXIF orientation 6: the indexer embeds the photo as displayed; so does the query by
# default. Without orientation on the query side the pixels differ and so does the vector.
E=$T/imgs/exif_orient6_320x240.jpg
"$CS" search --db "$DB" --collection "$C" --json -k 1 --image "$E" --no-exif-orientation >"$T/e"
python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read()); assert r["score"] < 0.9999 or r["id"] != sys.argv[2], r' \
  "$T/e" "$(realpath "$E")" || fail "--no-exif-orientation made no difference"
if [ -n "${CS_TEST_DB_URL:-}" ]; then "$CS" vec drop "$C" --db "$DB" >/dev/null 2>&1; fi
[ $fails -eq 0 ] && echo "search_indexed: all passed"
exit $((fails > 0))
