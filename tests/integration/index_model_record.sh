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
#   warning that the model cannot be checked;
# - a new collection has its record before its first batch is written;
# - --reembed deletes the old records it cannot redo under the DIRs (failed, excluded)
#   and finishes; records outside the DIRs keep it unfinished.
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
# The library states the facts; the CLI adds its own flags as the remedy.
grep -q -- "--model DIR picks the model; .clipsearch index --reembed --model DIR" "$TMP/s.err" ||
    die "search mismatch without the CLI's hint: $(cat "$TMP/s.err")"
"$BIN" search --db "$DB" --collection "$COLL" --model "$MODEL" "a dog" >/dev/null 2>"$TMP/s.err" || die "search with the right model: $(cat "$TMP/s.err")"
[ ! -s "$TMP/s.err" ] || die "search with the right model warned: $(cat "$TMP/s.err")"
touch "$TMP/imgs"/*.png
"$BIN" index --db "$DB" --collection "$COLL" --model "$OTHER" --quiet "$TMP/imgs" 2>"$TMP/err"
[ $? != 0 ] && grep -q "ModelMismatch" "$TMP/err" || die "index with another model: $(cat "$TMP/err")"
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --no-exif-orientation --quiet "$TMP/imgs" 2>"$TMP/err"
[ $? != 0 ] && grep -q "EXIF orientation" "$TMP/err" && grep -q -- "--no-exif-orientation and --fast-decode" "$TMP/err" ||
    die "index with other options: $(cat "$TMP/err")"
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
    [ $? != 0 ] && grep -q "middle of a re-embedding" "$TMP/err" && grep -q -- "run .clipsearch index --reembed DIR\.\.\.. again" "$TMP/err" ||
        die "plain index during a re-embedding: $(cat "$TMP/err")"
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

# A new collection gets its record before its first batch: seen while the first run is
# still going (or, if it finished first, after it), never records without a record.
FRESH=${COLL}_fresh
rows_and_record() {
    "$BIN" vec describe --db "$DB" "$FRESH" 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["model_record"] is not None)'
}
"$BIN" index --db "$DB" --collection "$FRESH" --model "$MODEL" --batch 4 --jobs 1 --quiet "$TMP/imgs" >/dev/null 2>"$TMP/err" &
PID=$!
SEEN=""
for _ in $(seq 1 2400); do
    S=$(rows_and_record) || S=""
    case "$S" in [1-9]*) SEEN=$S; break ;; esac
    kill -0 $PID 2>/dev/null || break
    sleep 0.05
done
kill -9 $PID 2>/dev/null
wait $PID 2>/dev/null
[ -n "$SEEN" ] || SEEN=$(rows_and_record) || die "first run: $(cat "$TMP/err")"
case "$SEEN" in *" True") echo "first run: '$SEEN' (rows, record)" ;;
    *) die "a new collection's first run wrote records before its model record: '$SEEN'" ;; esac
"$BIN" vec drop --db "$DB" "$FRESH" >/dev/null 2>&1

# --reembed finishes even when some files under the DIRs cannot be redone: a file that no
# longer decodes and an excluded one lose their old-model records (dropped); a record
# outside the DIRs stays stale until a run covers its folder.
LEFT=${COLL}_left
mkdir -p "$TMP/left/a" "$TMP/left/b"
"$GEN" png "$TMP/left/a" 4 64 48 11 || die "generating images"
"$GEN" png "$TMP/left/b" 1 64 48 12 || die "generating images"
"$BIN" index --db "$DB" --collection "$LEFT" --model "$MODEL" --quiet "$TMP/left" >/dev/null 2>"$TMP/err" || die "index left: $(cat "$TMP/err")"
set -- "$TMP"/left/a/*.png
printf 'not an image any more' >"$1"
"$BIN" index --db "$DB" --collection "$LEFT" --model "$OTHER" --reembed --json --exclude "$(basename "$2")" \
    "$TMP/left/a" >"$TMP/out.json" 2>"$TMP/err"
[ $? = 0 ] || die "--reembed with leftovers: $(cat "$TMP/err")"
expect "re-embedding a/ only" indexed 2 failed 1 dropped 2 stale 1
left_record() {
    "$BIN" vec describe --db "$DB" "$LEFT" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], "reembed_from" in d["model_record"])'
}
[ "$(left_record)" = "3 True" ] || die "after re-embedding a/: $(left_record)"
"$BIN" index --db "$DB" --collection "$LEFT" --model "$OTHER" --reembed --json --exclude "$(basename "$2")" \
    "$TMP/left" >"$TMP/out.json" 2>"$TMP/err"
[ $? = 0 ] || die "--reembed of the whole tree: $(cat "$TMP/err")"
expect "re-embedding the whole tree" indexed 1 failed 1 dropped 0 stale 0
[ "$(left_record)" = "3 False" ] || die "the re-embedding did not finish: $(left_record)"
"$BIN" vec drop --db "$DB" "$LEFT" >/dev/null 2>&1

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
