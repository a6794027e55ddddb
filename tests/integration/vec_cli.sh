#!/usr/bin/env bash
# The `clipsearch vec` contract (DESIGN.md §3.5): JSON-lines output shapes, the one-line
# "clipsearch: <Category>: <message>" error format with a non-zero exit, warnings on
# stderr, and nothing written when a command fails. Runs on $CS_TEST_DB_URL when set
# (PostgreSQL variant, registered by tests/pg/fixture.cmake), else on a temp SQLite file.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
command -v python3 >/dev/null || { echo "SKIP: python3 needed to read JSON"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
TMP=$(mktemp -d)
if [ -n "${CS_TEST_DB_URL:-}" ]; then DB=$CS_TEST_DB_URL; else DB=$TMP/vec.db; fi
P=vc$$_
cleanup() {
    for c in "${P}a" "${P}b" "${P}x"; do "$BIN" vec drop --db "$DB" "$c" >/dev/null 2>&1; done
    rm -rf "$TMP"
}
trap cleanup EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }
vec() { "$BIN" vec --db "$DB" "$@"; }

# run NAME ARGS... : stdout -> $TMP/out, stderr -> $TMP/err, status -> $rc
run() { vec "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }
# expect_error CATEGORY ARGS... : non-zero exit, empty stdout, exactly one stderr line.
expect_error() {
    local cat=$1; shift
    run "$@"
    [ $rc -ne 0 ] || die "vec $*: exit 0, expected $cat"
    [ ! -s "$TMP/out" ] || die "vec $*: stdout not empty on error: $(head -c 200 "$TMP/out")"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || die "vec $*: stderr is not one line: $(cat "$TMP/err")"
    grep -q "^clipsearch: $cat: ." "$TMP/err" || die "vec $*: want '$cat', got: $(cat "$TMP/err")"
}
# json_check PYTHON-EXPR : evaluated with L = list of parsed stdout lines.
json_check() {
    python3 - "$TMP/out" "$1" <<'PY' || die "check failed: $1 on $(head -c 400 "$TMP/out")"
import json, math, sys
L = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)
PY
}
count() { vec describe "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }

A=${P}a
run create "$A" --dim 3
[ $rc -eq 0 ] || die "create: $(cat "$TMP/err")"
json_check "L == [{'name': '$A', 'dimension': 3}]"
run create "$A" --dim 3
json_check "L == [{'name': '$A', 'dimension': 3}]"
expect_error MismatchedDimension create "$A" --dim 4
expect_error ArgError create "$A" --dim 0
expect_error ArgError create "$A"
expect_error InvalidName create "_${P}u" --dim 3
expect_error InvalidName create "$(printf 'n%.0s' $(seq 64))" --dim 3
expect_error DatabaseError create "${P}x" --dim 16001
run list
json_check "{'name': '$A', 'dimension': 3} in L and all(set(d) == {'name', 'dimension'} for d in L) and not any(d['name'] == '${P}x' for d in L)"
run describe "$A"
json_check "L == [{'name': '$A', 'dimension': 3, 'count': 0, 'index': None, 'model_record': None, 'vector_copy': 'none'}]"

cat >"$TMP/recs.jsonl" <<'J'
{"id": "r1", "vector": [0.1, 0, 0], "metadata": {"kind": "cat", "n": 1, "big": 9007199254740993}}
{"id": "r2", "vector": [0, 1, 0], "metadata": {"kind": "dog", "n": 2.0}}

{"id": "r3", "vector": [1, 1, 0]}
J
run upsert "$A" <"$TMP/recs.jsonl"
[ $rc -eq 0 ] || die "upsert: $(cat "$TMP/err")"
json_check "L == [{'upserted': 3}]"
[ "$(count "$A")" = 3 ] || die "count after upsert"

# vector-copy: the SQLite store keeps it (queries answer the same, see
# test_store_vector_copy); PostgreSQL refuses; bad names and arity are ArgErrors.
run query "$A" --vector '[1,0.5,0]' --limit 3 --include-value
cp "$TMP/out" "$TMP/plain"
expect_error ArgError vector-copy "$A" int4
expect_error ArgError vector-copy "$A"
if [ -n "${CS_TEST_DB_URL:-}" ]; then
    expect_error ArgError vector-copy "$A" int8
else
    run vector-copy "$A" int8
    json_check "L == [{'name': '$A', 'vector_copy': 'int8'}]"
    run describe "$A"
    json_check "L[0]['vector_copy'] == 'int8'"
    run query "$A" --vector '[1,0.5,0]' --limit 3 --include-value
    cmp -s "$TMP/out" "$TMP/plain" || die "query with an int8 copy differs: $(cat "$TMP/out")"
    run vector-copy "$A" none
    json_check "L == [{'name': '$A', 'vector_copy': 'none'}]"
fi
expect_error CollectionNotFound vector-copy "${P}x" int8

run fetch "$A" r1 r3 missing r1
json_check "len(L) == 2 and all(list(d) == ['id', 'vector', 'metadata'] for d in L)"
json_check "{d['id']: d for d in L}['r3']['metadata'] == {} and {d['id']: d for d in L}['r1']['metadata'] == {'kind': 'cat', 'n': 1, 'big': 9007199254740993}"
grep -q '"vector":\[0.100000001,0,0\]' "$TMP/out" || die "float32 with 9 significant digits: $(cat "$TMP/out")"
run get "$A" r2
json_check "L == [{'id': 'r2', 'vector': [0, 1, 0], 'metadata': {'kind': 'dog', 'n': 2.0}}]"
expect_error NotFound get "$A" nope

# query: shapes, key order, values, warning on stderr without failing
run query "$A" --vector '[1,0,0]'
[ $rc -eq 0 ] || die "query: $(cat "$TMP/err")"
json_check "[d['id'] for d in L] == ['r1', 'r3', 'r2'] and all(list(d) == ['id'] for d in L)"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q '^clipsearch: warning: no index of .* covers cosine_distance queries' "$TMP/err" && ! grep -q 'Collection\.' "$TMP/err" || die "warning line: $(cat "$TMP/err")"
run query "$A" --vector '[1,0,0]' --include-value --include-metadata --include-vector --limit 2
json_check "[list(d) for d in L] == [['id', 'value', 'vector', 'metadata']] * 2 and abs(L[0]['value']) < 1e-6 and abs(L[1]['value'] - (1 - 1 / math.sqrt(2))) < 1e-6"
run query "$A" --vector '[1,0,0]' --include-value --measure max_inner_product --limit 1
json_check "L[0]['id'] == 'r3' and abs(L[0]['value'] + 1) < 1e-6"
run query "$A" --vector '[1,0,0]' --include-value --measure l2_distance --limit 1
json_check "L[0]['id'] == 'r1' and abs(L[0]['value'] - 0.9) < 1e-6"
run query "$A" --vector '[1,0,0]' --include-value --measure l1_distance --limit 1
json_check "L[0]['id'] == 'r1' and abs(L[0]['value'] - 0.9) < 1e-6"
run query "$A" --vector '[1,0,0]' --filter '{"kind":{"$eq":"dog"}}'
json_check "[d['id'] for d in L] == ['r2']"
run query "$A" --vector '[1,0,0]' --filter '{"big":{"$eq":9007199254740993}}'
json_check "[d['id'] for d in L] == ['r1']"
run query "$A" --vector '[1,0,0]' --limit 0
json_check "L == []"
run query "$A" --vector '[0,0,0]' --include-value --limit 1
json_check "math.isnan(L[0]['value'])"
expect_error ArgError query "$A" --vector '[1,0,0]' --limit 1001
expect_error ArgError query "$A" --vector '[1,0,0]' --probes 0
expect_error ArgError query "$A" --vector '[1,0,0]' --measure cosine
expect_error FilterError query "$A" --vector '[1,0,0]' --filter '{"kind":"dog"}'
expect_error FilterError query "$A" --vector '[1,0,0]' --filter '{"$or":[]}'
expect_error DimensionError query "$A" --vector '[1,0]'
expect_error ArgError query "$A" --vector 'nope'
expect_error ArgError query "$A"

# failing upserts write nothing
printf '%s\n' '{"id":"w1","vector":[1,2,3]}' '{"id":7,"vector":[1,2,3]}' >"$TMP/bad1"
expect_error ArgError upsert "$A" <"$TMP/bad1"
printf '%s\n' '{"id":"w1","vector":[1,2,3]}' '{"id":"w1","vector":[1,2,4]}' >"$TMP/bad2"
expect_error DatabaseError upsert "$A" <"$TMP/bad2"
printf '%s\n' '{"id":"w1","vector":[1,2,3]}' '{"id":"w2","vector":[1,2]}' >"$TMP/bad3"
expect_error DimensionError upsert "$A" <"$TMP/bad3"
printf '%s\n' '{"id":"w1","vector":[1,2,3]}' '{"id":"w2","vector":[NaN,2,3]}' >"$TMP/bad4"
expect_error DatabaseError upsert "$A" <"$TMP/bad4"
printf '%s\n' '{"id":"w1","vector":[1,2,3]}' '{"id":"w2","vector":[1,2,3]' >"$TMP/bad5"
expect_error ArgError upsert "$A" <"$TMP/bad5"
# strings that cannot be text are refused, never altered (an id with \u0000 used to be
# stored without it): in ids, metadata values and metadata keys
printf '%s\n' '{"id":"w1","vector":[1,2,3],"metadata":{"s":"a\u0000b"}}' >"$TMP/bad6"
expect_error ArgError upsert "$A" <"$TMP/bad6"
grep -q "metadata is not text" "$TMP/err" || die "\\u0000 in metadata: $(cat "$TMP/err")"
for rec in '{"id":"nul\u0000x","vector":[1,2,3]}' '{"id":"sur\ud800","vector":[1,2,3]}' \
           '{"id":"lo\udc00x","vector":[1,2,3]}' \
           '{"id":"w3","vector":[1,2,3],"metadata":{"k\u0000":"v"}}' \
           '{"id":"w3","vector":[1,2,3],"metadata":{"k":["\udc00"]}}' \
           '{"id":"w3","vector":[1,2,3],"metadata":{"k":"\ud83d"}}'; do
    printf '%s\n' '{"id":"w1","vector":[1,2,3]}' "$rec" >"$TMP/bad7"
    expect_error ArgError upsert "$A" <"$TMP/bad7"
    grep -q "is not text" "$TMP/err" || die "upsert $rec: $(cat "$TMP/err")"
done
run fetch "$A" nulx nul sur lo w3
json_check "L == []"
[ "$(count "$A")" = 3 ] || die "a failed upsert wrote records"
run fetch "$A" w1 w2
json_check "L == []"

# delete rules
expect_error ArgError delete "$A"
expect_error ArgError delete "$A" --ids r1 --filter '{"n":{"$eq":1}}'
expect_error FilterError delete "$A" --filter '{"$and":[]}'
expect_error FilterError delete "$A" --filter '{"n":1}'
run delete "$A" --ids
[ $rc -eq 0 ] || die "delete --ids (empty): $(cat "$TMP/err")"
json_check "L == []"
run delete "$A" --filter '{}'
json_check "L == []"
[ "$(count "$A")" = 3 ] || die "a no-op delete deleted"
run delete "$A" --ids r1 r1 nope
json_check "L == [{'id': 'r1'}]"
run delete "$A" --filter '{"n":{"$gte":2}}'
json_check "L == [{'id': 'r2'}]"
[ "$(count "$A")" = 1 ] || die "count after deletes"

# create-index
expect_error ArgError create-index "$A" --method bogus
expect_error ArgError create-index "$A" --m 8
expect_error ArgError create-index "$A" --method ivfflat --m 8
expect_error DatabaseError create-index "$A" --method hnsw --m 1
expect_error DatabaseError create-index "$A" --method ivfflat --measure l1_distance
# An explicit 0 is passed on as vecs does (pgvector: lists 1..32768, m 2..100), on both stores.
expect_error DatabaseError create-index "$A" --method ivfflat --n-lists 0
expect_error DatabaseError create-index "$A" --method hnsw --m 0
expect_error ArgError create-index "$A" --n-lists 0
run describe "$A"
json_check "L[0]['index'] is None"
run create-index "$A" --method hnsw --m 8 --ef-construction 32
json_check "len(L) == 1 and L[0]['index'].startswith('ix_vector_cosine_ops_hnsw_m8_efc32_') and len(L[0]['index']) == len('ix_vector_cosine_ops_hnsw_m8_efc32_') + 7"
run query "$A" --vector '[1,0,0]'
[ $rc -eq 0 ] && [ ! -s "$TMP/err" ] || die "indexed query still warns: $(cat "$TMP/err")"
expect_error ArgError create-index "$A" --no-replace
run create-index "$A" --method ivfflat --measure l2_distance --n-lists 7
json_check "L[0]['index'].startswith('ix_vector_l2_ops_ivfflat_nl7_')"

# unknown collection
B=${P}b
for args in "describe $B" "fetch $B r1" "get $B r1" "query $B --vector [1]" "delete $B --ids r1" "create-index $B"; do
    # shellcheck disable=SC2086
    expect_error CollectionNotFound $args
done
expect_error CollectionNotFound upsert "$B" <"$TMP/recs.jsonl"
run drop "$B"
[ $rc -eq 0 ] || die "drop of a missing collection must succeed"
run drop "$A"
[ $rc -eq 0 ] || die "drop"
expect_error CollectionNotFound describe "$A"

# hostile names are names
H="${P}x\"; drop table y; --"
run create "$H" --dim 2
json_check "L == [{'name': '''$H''', 'dimension': 2}]"
run drop "$H"
expect_error ArgError bogus-command

# a surrogate pair is one character, stored and returned as it is
X=${P}x
run create "$X" --dim 2
printf '%s\n' '{"id":"pair\ud83d\ude00","vector":[1,2],"metadata":{"k\ud83d\ude00":"\ud83d\ude00"}}' >"$TMP/pair"
run upsert "$X" <"$TMP/pair"
[ $rc -eq 0 ] || die "upsert of a surrogate pair: $(cat "$TMP/err")"
run fetch "$X" "pair$(printf '\xf0\x9f\x98\x80')"
json_check "L == [{'id': 'pair\U0001F600', 'vector': [1, 2], 'metadata': {'k\U0001F600': '\U0001F600'}}]"
run drop "$X"
exit $fail
