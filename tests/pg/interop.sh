#!/usr/bin/env bash
# Interop with Python vecs through PostgreSQL, at the command line (DESIGN.md §3.3):
#  1. a collection made with vecs' own statements (its DDL, text vector literals, jsonb,
#     ON CONFLICT upsert, its index names) is listed, described, fetched and queried with
#     `clipsearch vec`;
#  2. a collection written with `clipsearch vec` is read back with the SQL vecs runs.
# Python vecs is not installable here, so its statements are reproduced from
# shared/spec/vecs-semantics.md §1, §4, §6, §8. Needs CS_TEST_DB_URL (tests/pg/fixture.cmake).
set -euo pipefail
: "${CS_TEST_DB_URL:?set by tests/pg/run-with-url.sh}"
: "${CLIPSEARCH:?path to the clipsearch binary}"
command -v psql >/dev/null || { echo "SKIP: psql not installed" >&2; exit 77; }
DB="$CS_TEST_DB_URL"
A="vecs_made_$$"
B="cs_made_$$"
fails=0

psql_q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$DB" "$@"; }
vec() { "$CLIPSEARCH" vec "$@" --db "$DB"; }
expect() {   # expect NAME ACTUAL EXPECTED
  if [ "$2" != "$3" ]; then
    echo "FAIL $1:"; echo "  got:      $2"; echo "  expected: $3"; fails=$((fails + 1))
  fi
}
# Prints JSON text in one canonical form for comparison: sorted keys, every number as the
# float32 it rounds to (vectors are float32; 1e-7 prints as 1.00000001e-07).
canon() { python3 -c 'import json,struct,sys
f32=lambda x: struct.unpack("f", struct.pack("f", float(x)))[0]
for l in sys.stdin:
    l=l.strip()
    if l: print(json.dumps(json.loads(l, parse_int=f32, parse_float=f32), sort_keys=True, separators=(",",":")))'; }
cleanup() { psql_q -c "DROP TABLE IF EXISTS vecs.\"$A\"; DROP TABLE IF EXISTS vecs.\"$B\"" \
  >/dev/null 2>&1 || true; }
trap cleanup EXIT

# --- 1. vecs writes, clipsearch reads ------------------------------------------------------
vec list >/dev/null   # opening the store creates schema vecs and the extension, as vecs' client
psql_q >/dev/null <<SQL
CREATE TABLE vecs."$A" (id VARCHAR NOT NULL, vec VECTOR(3) NOT NULL,
  metadata JSONB DEFAULT '{}'::jsonb NOT NULL, PRIMARY KEY (id));
BEGIN;
INSERT INTO vecs."$A" (id, vec, metadata) VALUES
  ('img1', '[0.1,0.2,0.3]', '{"type": "jpg", "year": 2020}'),
  ('img2', '[1e-07,-2.5,16777216]', '{"type": "png", "year": 2021, "tags": ["a", "b"]}'),
  ('img3', '[-1,0,0.5]', '{"type": "jpg", "year": 2022}')
ON CONFLICT (id) DO UPDATE SET vec = EXCLUDED.vec, metadata = EXCLUDED.metadata;
COMMIT;
CREATE INDEX ix_vector_l2_ops_hnsw_m16_efc64_0a1b2c3 ON vecs."$A"
  USING hnsw (vec vector_l2_ops) WITH (m = 16, ef_construction = 64);
SQL

expect "list" "$(vec list | grep "\"$A\"")" "{\"name\":\"$A\",\"dimension\":3}"
expect "describe" "$(vec describe "$A")" \
  "{\"name\":\"$A\",\"dimension\":3,\"count\":3,\"index\":\"ix_vector_l2_ops_hnsw_m16_efc64_0a1b2c3\",\"model_record\":null,\"vector_copy\":\"none\"}"
expect "fetch" "$(vec fetch "$A" img2 | canon)" \
  "$(echo '{"id":"img2","metadata":{"tags":["a","b"],"type":"png","year":2021},"vector":[1e-07,-2.5,16777216]}' | canon)"
# The index covers l2_distance: no warning on stderr.
out="$(vec query "$A" --vector '[-1,0,0.5]' --measure l2_distance --filter '{"type":{"$eq":"jpg"}}' \
  --include-value 2>"${TMPDIR:-/tmp}/interop_err_$$")"
expect "query ids" "$(echo "$out" | python3 -c 'import json,sys; print(",".join(json.loads(l)["id"] for l in sys.stdin))')" "img3,img1"
expect "query value" "$(echo "$out" | head -1 | python3 -c 'import json,sys; print(float(json.load(sys.stdin)["value"]))')" "0.0"
expect "no warning" "$(cat "${TMPDIR:-/tmp}/interop_err_$$")" ""
rm -f "${TMPDIR:-/tmp}/interop_err_$$"
# vecs' filters on its own data: $contains, $in, $gte.
expect "contains" "$(vec query "$A" --vector '[1,1,1]' --filter '{"tags":{"$contains":"b"}}' 2>/dev/null)" '{"id":"img2"}'
expect "in/gte" "$(vec query "$A" --vector '[1,1,1]' --measure l2_distance \
  --filter '{"$and":[{"type":{"$in":["jpg","gif"]}},{"year":{"$gte":2021}}]}')" '{"id":"img3"}'
# clipsearch's create-index replaces vecs' index, named as vecs names it.
vec create-index "$A" --method ivfflat --measure cosine_distance >/dev/null
expect "index replaced" "$(psql_q -c "SELECT string_agg(indexname, ',') FROM pg_indexes WHERE schemaname = 'vecs' AND tablename = '$A' AND indexname LIKE 'ix_%'" | sed 's/_[0-9a-f]\{7\}$/_SUFFIX/')" \
  "ix_vector_cosine_ops_ivfflat_nl30_SUFFIX"

# --- 2. clipsearch writes, vecs reads ------------------------------------------------------
vec create "$B" --dim 3 >/dev/null
printf '%s\n' \
  '{"id":"/p/a.jpg","vector":[0.1,0.2,0.3],"metadata":{"type":"jpg","w":640,"exif":{"iso":100}}}' \
  '{"id":"/p/ü b.png","vector":[1e-7,-2.5,16777216],"metadata":{"type":"png","w":1.5e3}}' \
  '{"id":"","vector":[-1,0,0.5]}' | vec upsert "$B" >/dev/null
vec create-index "$B" --method hnsw --measure max_inner_product --m 8 --ef-construction 32 >/dev/null

# vecs' list_collections query.
expect "vecs list" "$(psql_q -c "SELECT relname, atttypmod FROM pg_class pc JOIN pg_attribute pa ON pc.oid = pa.attrelid WHERE pc.relnamespace = 'vecs'::regnamespace AND pc.relkind = 'r' AND pa.attname = 'vec' AND NOT pc.relname ^@ '_' AND relname = '$B'")" "$B|3"
# vecs' fetch: SELECT id, vec, metadata ... WHERE id IN (...).
got="$(psql_q -F $'\t' -c "SELECT id, vec, metadata FROM vecs.\"$B\" WHERE id IN ('/p/a.jpg', '/p/ü b.png', '') ORDER BY id" |
  python3 -c 'import json,sys
for l in sys.stdin:
    i,v,m=l.rstrip("\n").split("\t")
    print(json.dumps({"id":i,"vector":json.loads(v),"metadata":json.loads(m)}))' | canon)"
want="$(printf '%s\n' '{"id":"","vector":[-1,0,0.5],"metadata":{}}' \
  '{"id":"/p/a.jpg","vector":[0.1,0.2,0.3],"metadata":{"type":"jpg","w":640,"exif":{"iso":100}}}' \
  '{"id":"/p/ü b.png","vector":[1e-7,-2.5,16777216],"metadata":{"type":"png","w":1500}}' | canon)"
expect "vecs fetch" "$got" "$want"
# vecs' recognised index (ILIKE 'ix_vector%') and its definition.
expect "vecs index" "$(psql_q -c "SELECT pi.relname FROM pg_class pi JOIN pg_index i ON pi.oid = i.indexrelid JOIN pg_class pt ON pt.oid = i.indrelid WHERE pi.relkind = 'i' AND pi.relnamespace = 'vecs'::regnamespace AND pt.relname = '$B' AND pi.relname ILIKE 'ix_vector%'" | sed 's/_[0-9a-f]\{7\}$/_SUFFIX/')" \
  "ix_vector_ip_ops_hnsw_m8_efc32_SUFFIX"
expect "index def" "$(psql_q -c "SELECT regexp_replace(indexdef, '_[0-9a-f]{7} ', '_SUFFIX ') FROM pg_indexes WHERE schemaname = 'vecs' AND tablename = '$B' AND indexname LIKE 'ix_%'")" \
  "CREATE INDEX ix_vector_ip_ops_hnsw_m8_efc32_SUFFIX ON vecs.$B USING hnsw (vec vector_ip_ops) WITH (m='8', ef_construction='32')"
# vecs' query: SET LOCAL + ORDER BY vec <#> q LIMIT k gives clipsearch's order and values.
sqlq="$(psql_q -F ',' -c "BEGIN; SET LOCAL ivfflat.probes = 10; SET LOCAL hnsw.ef_search = 40; SELECT id, vec <#> '[1,2,3]' FROM vecs.\"$B\" ORDER BY vec <#> '[1,2,3]' LIMIT 10; COMMIT;")"
csq="$(vec query "$B" --vector '[1,2,3]' --measure max_inner_product --include-value |
  python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); print("%s,%s" % (r["id"], repr(float(r["value"]))))')"
expect "vecs query" "$(echo "$sqlq" | python3 -c 'import sys
for l in sys.stdin:
    i,v=l.rstrip("\n").rsplit(",",1); print("%s,%s" % (i, repr(float(v))))')" "$csq"

if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "interop: ok"
