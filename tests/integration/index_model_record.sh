#!/bin/bash
# The model record of a collection (clipsearch/model_record.h), on SQLite and (as
# index_model_record_pg) on PostgreSQL:
# - index records the model (fingerprint, name, path, dimension), the preprocessing
#   options and the precision; vec describe shows it;
# - search, index and serve with another checkpoint of the same shape (another seed: only
#   the fingerprint tells them apart) fail with ModelMismatch naming both, and write
#   nothing; so does index with other preprocessing options;
# - index --reembed moves the collection to the other model; killed with SIGKILL midway,
#   the collection says so (queries warn, plain index refuses), and the next --reembed
#   finishes without redoing the records already done;
# - a collection without a record (written like Python vecs would) works, with one
#   warning that the model cannot be checked.
. "$(dirname "$0")/index_common.bash"
need_counter
OTHER=$TMP/other-model
run_exec() { ${CS_TEST_EXEC:-} "$@"; }
run_exec "$BUILD/cs_gen_checkpoint" --out "$OTHER" --preset tiny --seed 4242 >/dev/null || die "cs_gen_checkpoint"
N=200
mkdir -p "$TMP/imgs"
"$GEN" png "$TMP/imgs" $N 96 72 5 || die "generating images"

idx "$TMP/imgs" --batch 8
[ "$RC" = 0 ] || die "first index: $(cat "$TMP/err")"
"$BIN" vec describe --db "$DB" "$COLL" >"$TMP/desc.json" || die "describe"
python3 - "$TMP/desc.json" "$(cd "$MODEL" && pwd -P)" <<'PY' || die "model record after the first index: $(cat "$TMP/desc.json")"
import json, sys
d = json.load(open(sys.argv[1])); r = d["model_record"]
assert r["model"]["path"] == sys.argv[2] and r["model"]["name"] == "model", r
assert len(r["model"]["fingerprint"]) == 32 and r["model"]["dim"] == 32, r
assert r["preprocess"] == {"exif_orientation": True, "fast_decode": False}, r
assert r["precision"] == ["fp32"] and "reembed_from" not in r, r
PY
ANY=$("$BIN" vec query --db "$DB" "$COLL" --vector "[$(python3 -c 'print(",".join(["0.1"]*32))')]" --limit 1 --include-metadata 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
OLDKEY=$(meta "$ANY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["embedder"])') || die "no embedder in the metadata"
[ ${#OLDKEY} = 16 ] || die "embedder key: '$OLDKEY'"

# Same shape, other weights: refused everywhere, nothing written.
"$BIN" search --db "$DB" --collection "$COLL" --model "$OTHER" "a dog" >"$TMP/s.out" 2>"$TMP/s.err"
[ $? != 0 ] || die "search with another model succeeded"
grep -q "ModelMismatch" "$TMP/s.err" && grep -q "other-model" "$TMP/s.err" && grep -q "'model'" "$TMP/s.err" ||
    die "search mismatch message: $(cat "$TMP/s.err")"
"$BIN" search --db "$DB" --collection "$COLL" --model "$MODEL" "a dog" >/dev/null 2>"$TMP/s.err" || die "search with the right model: $(cat "$TMP/s.err")"
[ ! -s "$TMP/s.err" ] || die "search with the right model warned: $(cat "$TMP/s.err")"
touch "$TMP/imgs"/*.png
"$BIN" index --db "$DB" --collection "$COLL" --model "$OTHER" --quiet "$TMP/imgs" 2>"$TMP/err"
[ $? != 0 ] && grep -q "ModelMismatch" "$TMP/err" || die "index with another model: $(cat "$TMP/err")"
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --no-exif-orientation --quiet "$TMP/imgs" 2>"$TMP/err"
[ $? != 0 ] && grep -q "EXIF orientation" "$TMP/err" || die "index with other options: $(cat "$TMP/err")"
[ "$(meta "$ANY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["embedder"])')" = "$OLDKEY" ] || die "a refused run wrote records"

# --reembed, killed midway, then finished.
not_old() {
    if [ "$BACKEND" = sqlite ]; then
        local tbl
        tbl=$(sqlite3 "$DB" "select tbl from cs_collections where name='$COLL'")
        sqlite3 "$DB" "select count(*) from \"$tbl\" where json_extract(metadata, '\$.embedder') <> '$OLDKEY'"
    else
        psql "$DB" -tAc "select count(*) from vecs.\"$COLL\" where metadata->>'embedder' <> '$OLDKEY'"
    fi
}
"$BIN" index --db "$DB" --collection "$COLL" --model "$OTHER" --reembed --batch 4 --jobs 1 --quiet \
    "$TMP/imgs" >/dev/null 2>"$TMP/err" &
PID=$!
K=0
for _ in $(seq 1 2400); do
    sleep 0.05
    K=$(not_old 2>/dev/null) || K=0
    [ -n "$K" ] || K=0
    [ "$K" -ge 8 ] && break
    kill -0 $PID 2>/dev/null || break
done
if kill -9 $PID 2>/dev/null; then
    wait $PID 2>/dev/null
    K=$(not_old)
    echo "killed after $K re-embedded records"
    "$BIN" search --db "$DB" --collection "$COLL" --model "$OTHER" "a dog" >/dev/null 2>"$TMP/s.err" ||
        die "search during an unfinished re-embedding: $(cat "$TMP/s.err")"
    grep -q "being re-embedded" "$TMP/s.err" || die "no warning about the unfinished re-embedding: $(cat "$TMP/s.err")"
    "$BIN" index --db "$DB" --collection "$COLL" --model "$OTHER" --quiet "$TMP/imgs" 2>"$TMP/err"
    [ $? != 0 ] && grep -q "middle of a re-embedding" "$TMP/err" || die "plain index during a re-embedding: $(cat "$TMP/err")"
    "$BIN" index --db "$DB" --collection "$COLL" --model "$OTHER" --reembed --json "$TMP/imgs" \
        >"$TMP/out.json" 2>"$TMP/err" || die "resumed --reembed: $(cat "$TMP/err")"
    expect "resumed re-embedding" unchanged "$K" indexed $((N - K)) reused 0 stale 0
else
    wait $PID
    echo "the re-embedding finished before it could be killed"
    K=0
fi
"$BIN" index --db "$DB" --collection "$COLL" --model "$OTHER" --reembed --json "$TMP/imgs" >"$TMP/out.json" 2>"$TMP/err"
[ $? = 0 ] || die "final --reembed: $(cat "$TMP/err")"
expect "after the re-embedding" indexed 0 unchanged $N stale 0
[ "$(not_old)" = $N ] || die "records still by the old model: $((N - $(not_old)))"
"$BIN" vec describe --db "$DB" "$COLL" >"$TMP/desc.json"
python3 - "$TMP/desc.json" <<'PY' || die "model record after the re-embedding: $(cat "$TMP/desc.json")"
import json, sys
r = json.load(open(sys.argv[1]))["model_record"]
assert r["model"]["name"] == "other-model" and "reembed_from" not in r, r
PY
"$BIN" search --db "$DB" --collection "$COLL" --model "$OTHER" "a dog" >/dev/null 2>"$TMP/s.err" || die "search after re-embedding: $(cat "$TMP/s.err")"
[ ! -s "$TMP/s.err" ] || die "warning after the re-embedding: $(cat "$TMP/s.err")"
"$BIN" search --db "$DB" --collection "$COLL" --model "$MODEL" "a dog" >/dev/null 2>&1 && die "the old model still searches the re-embedded collection"

# A collection written like Python vecs (no record): works, with one warning.
BARE=${COLL}_bare
"$BIN" vec create --db "$DB" "$BARE" --dim 32 >/dev/null || die "vec create"
python3 -c 'import json; print(json.dumps({"id": "x", "vector": [0.1] * 32, "metadata": {}}))' >"$TMP/rec.jsonl"
"$BIN" vec upsert --db "$DB" "$BARE" <"$TMP/rec.jsonl" >/dev/null || die "vec upsert"
"$BIN" search --db "$DB" --collection "$BARE" --model "$MODEL" "a dog" >"$TMP/s.out" 2>"$TMP/s.err" || die "search without a record: $(cat "$TMP/s.err")"
[ "$(grep -c 'no model record' "$TMP/s.err")" = 1 ] || die "expected one warning: $(cat "$TMP/s.err")"
grep -q x "$TMP/s.out" || die "search without a record found nothing"
"$BIN" vec drop --db "$DB" "$BARE" >/dev/null 2>&1
exit $fail
