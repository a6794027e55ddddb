#!/usr/bin/env bash
# clipsearch serve: the HTTP JSON API end to end with the tiny model on a temporary SQLite
# store filled by `clipsearch index`. Text search shape and order, -k, filters, min_score,
# image POST (multipart and raw body, mixed with text) ranking the image itself first,
# thumbnails and original files only of stored ids, collections, the page, error statuses and categories,
# the loopback-only rules, and a clean stop on SIGTERM (exit 0).
# shellcheck disable=SC2016,SC2034  # JSON and Python in single quotes; SERVE_ERR is read by serve_common.bash
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
# shellcheck source=serve_common.bash
. "$SRC/tests/integration/serve_common.bash"
T=$(mktemp -d)
trap 'serve_kill; rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
IMG=$SRC/tests/fixtures/tiny/images
mkdir -p "$T/imgs"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/portrait_444_480x640.jpg" "$IMG/photo_progressive_640x427.jpg" "$T/imgs/"
# An id that needs escaping in URLs, JSON and HTML.
SPECIAL="$T/imgs/o'neil <b>&\"x\" #1?.png"
cp "$IMG/palette_P_200x150.png" "$SPECIAL"
cp "$IMG/small_31x17.png" "$T/not-indexed.png"
DB=$T/serve.db
"$CS" index --db "$DB" --quiet "$T/imgs" || { echo "index failed"; exit 1; }
"$CS" index --db "$DB" --collection other --quiet "$T/imgs" || { echo "index other failed"; exit 1; }

# Refusals before anything is served.
"$CS" serve --db "$DB" --host 8.8.8.8 --port 0 2>"$T/remote.err" && fail "non-loopback host accepted"
grep -q "allow-remote" "$T/remote.err" || fail "non-loopback message: $(cat "$T/remote.err")"
"$CS" serve --port 99999 2>/dev/null; [ $? = 2 ] || fail "bad --port is not a usage error"

SERVE_ERR=$T/serve.err
serve_start --db "$DB" --max-upload 1 || exit 1
PORT=$SERVE_PORT
B=http://127.0.0.1:$PORT
# get URL OUTFILE -> prints the status code
get() { curl -s -m 60 -o "$2" -w '%{http_code}' "${@:3}" "$1"; }
check() {   # check NAME FILE PYTHON... (python gets the parsed JSON as j)
  python3 - "$2" "$3" <<PY || fail "$1: $(head -c 600 "$2")"
import json, sys
j = json.load(open(sys.argv[1]))
exec(sys.argv[2])
PY
}

# Text search: shape, ranks, scores descending, k.
[ "$(get "$B/api/search?q=a+colourful+gradient&k=4" "$T/s1")" = 200 ] || fail "text search status"
check "text search shape" "$T/s1" '
assert set(j) == {"query", "results", "missing_skipped", "warning"} and j["missing_skipped"] == 0 and j["warning"] is None, j.keys()
assert j["query"]["text"] == "a colourful gradient" and j["query"]["k"] == 4 and j["query"]["collection"] == "image_vectors", j["query"]
r = j["results"]
assert len(r) == 4, len(r)
for i, x in enumerate(r):
    assert list(x) == ["rank", "id", "score", "metadata"], x
    assert x["rank"] == i + 1 and x["id"].startswith("/") and isinstance(x["metadata"], dict)
    assert x["metadata"]["type"] in ("png", "jpg") and -1.0001 <= x["score"] <= 1.0001
    assert i == 0 or x["score"] <= r[i - 1]["score"]'

# The filters people use: under (absolute folders only), name, after, before.
U=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$(realpath "$T/imgs")")
[ "$(get "$B/api/search?q=x&k=100&name=PORTRAIT&under=$U&before=2100-01-01" "$T/f1")" = 200 ] || fail "filtered search status"
check "name + under + before" "$T/f1" '
assert [x["metadata"]["name"] for x in j["results"]] == ["portrait_444_480x640.jpg"], j["results"]
q = j["query"]
assert q["name"] == "PORTRAIT" and q["before"] == "2100-01-01" and q["after"] is None and q["under"].endswith("/imgs"), q'
[ "$(get "$B/api/search?q=x&k=100&under=$U%2Fnope" "$T/f2")" = 200 ] || fail "under a missing folder status"
check "under a missing folder" "$T/f2" 'assert j["results"] == [], j'
[ "$(get "$B/api/search?q=x&k=100&after=2100" "$T/f3")" = 200 ] || fail "after status"
check "after 2100" "$T/f3" 'assert j["results"] == [], j'
F=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("{\"mtime\":{\"$gt\":\"2024-01-01\"}}"))')
[ "$(get "$B/api/search?q=x&filter=$F" "$T/f6")" = 200 ] || fail "type-mismatch filter status"
check "type-mismatch warning" "$T/f6" 'assert "holds numbers but is compared with strings" in j["warning"], j'
check "no warning" "$T/f1" 'assert j["warning"] is None, j'
[ "$(get "$B/api/search?q=x&under=imgs" "$T/f4")" = 400 ] || fail "relative under not refused"
grep -q "absolute folder" "$T/f4" || fail "relative under message: $(cat "$T/f4")"
[ "$(get "$B/api/search?q=x&after=2024-13" "$T/f5")" = 400 ] || fail "bad date not refused"
grep -q "is not a date" "$T/f5" || fail "bad date message: $(cat "$T/f5")"
# The same ranking as the CLI gives.
"$CS" search --db "$DB" --json -k 4 "a colourful gradient" >"$T/cli.json" || fail "cli search"
python3 - "$T/s1" "$T/cli.json" <<'PY' || fail "API and CLI rank differently"
import json, sys
api = json.load(open(sys.argv[1]))["results"]
cli = [json.loads(l) for l in open(sys.argv[2])]
assert [a["id"] for a in api] == [c["id"] for c in cli]
assert all(abs(a["score"] - c["score"]) < 1e-6 for a, c in zip(api, cli))
PY
# Filter and min_score.
get "$B/api/search?q=photo&k=100" "$T/all" >/dev/null
get "$B/api/search" "$T/jpg" -G --data-urlencode 'q=photo' --data-urlencode 'k=100' \
    --data-urlencode 'filter={"type":{"$eq":"jpg"}}' >/dev/null
check "filter" "$T/jpg" '
r = j["results"]
assert len(r) == 3 and all(x["metadata"]["type"] == "jpg" for x in r), r
assert j["query"]["filter"] == {"type": {"$eq": "jpg"}}'
MID=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print((r[1]["score"]+r[2]["score"])/2)' "$T/all")
get "$B/api/search?q=photo&k=100&min_score=$MID" "$T/min" >/dev/null
check "min_score" "$T/min" 'assert len(j["results"]) == 2, len(j["results"])'
# like=ID: the stored record's own vector; the record itself comes first with score ~1.
get "$B/api/search?k=3" "$T/like" -G --data-urlencode "like=$T/imgs/noise_rgb_224x224.png" >/dev/null
check "like" "$T/like" "
r = j['results']
assert j['query']['like'] == '$T/imgs/noise_rgb_224x224.png' and j['query']['text'] is None
assert len(r) == 3 and r[0]['id'] == j['query']['like'] and abs(r[0]['score'] - 1) < 1e-4, r"
# Another collection by name.
get "$B/api/search?q=photo&collection=other" "$T/other" >/dev/null
check "collection param" "$T/other" 'assert j["query"]["collection"] == "other" and len(j["results"]) == 6'

# Image query: multipart, raw body, mixed; the image ranks itself first with score ~1.
Q=$T/imgs/shapes_baseline_300x500.jpg
[ "$(get "$B/api/search/image?k=3" "$T/img1" -F "image=@$Q")" = 200 ] || fail "multipart image status"
check "multipart self match" "$T/img1" "
r = j['results']
assert r[0]['id'] == '$Q' and abs(r[0]['score'] - 1) < 1e-4 and len(r) == 3, r
assert j['query']['image'] == 'shapes_baseline_300x500.jpg' and j['query']['text'] is None"
[ "$(get "$B/api/search/image?k=2" "$T/img2" --data-binary "@$Q" -H 'Content-Type: image/jpeg')" = 200 ] \
    || fail "raw image status"
check "raw body self match" "$T/img2" "assert j['results'][0]['id'] == '$Q' and abs(j['results'][0]['score'] - 1) < 1e-4"
get "$B/api/search/image?k=2" "$T/sp" --data-binary "@$SPECIAL" >/dev/null
python3 - "$T/sp" "$SPECIAL" <<'PY' || fail "special name self match: $(cat "$T/sp")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["results"][0]["id"] == sys.argv[2], j
PY
get "$B/api/search/image?k=6" "$T/mix" -F "image=@$Q" -F "q=a colourful gradient" \
    -F text_weight=1 -F image_weight=0 >/dev/null
get "$B/api/search?q=a+colourful+gradient&k=6" "$T/txt" >/dev/null
python3 - "$T/mix" "$T/txt" <<'PY' || fail "mixed query with weights 1/0 differs from the text query"
import json, sys
m, t = (json.load(open(p)) for p in sys.argv[1:3])
assert m["query"]["text"] == "a colourful gradient" and m["query"]["image"]
assert [x["id"] for x in m["results"]] == [x["id"] for x in t["results"]]
assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(m["results"], t["results"]))
PY

# Thumbnails: only of stored ids.
[ "$(get "$B/api/thumb?size=64" "$T/th.jpg" -G --data-urlencode "id=$Q")" = 200 ] || fail "thumb status"
[ "$(head -c 3 "$T/th.jpg" | od -An -tx1 | tr -d ' ')" = ffd8ff ] || fail "thumb is not a JPEG"
python3 - "$T/th.jpg" <<'PY' || fail "thumb size"
import struct, sys
d = open(sys.argv[1], "rb").read(); i = 2
while d[i + 1] not in (0xC0, 0xC2):
    i += 2 + struct.unpack(">H", d[i + 2:i + 4])[0]
h, w = struct.unpack(">HH", d[i + 5:i + 9])
assert max(w, h) == 64 and (w, h) == (38, 64), (w, h)
PY
[ "$(get "$B/api/thumb" "$T/ths" -G --data-urlencode "id=$SPECIAL")" = 200 ] || fail "thumb of the special name"
for bad in "$T/not-indexed.png" /etc/passwd "$T/imgs/../not-indexed.png" "imgs/noise_rgb_224x224.png"; do
  [ "$(get "$B/api/thumb" "$T/th404" -G --data-urlencode "id=$bad")" = 404 ] || fail "thumb of $bad is not 404"
  check "thumb 404 body" "$T/th404" 'assert j["error"]["category"] == "NotFound"'
done
[ "$(get "$B/api/thumb?size=5" "$T/thz" -G --data-urlencode "id=$Q")" = 400 ] || fail "thumb size=5 is not 400"
# The original file of a record (the page's links): its bytes, its type from its content,
# never a file that is not a record, never a gone one.
[ "$(get "$B/api/file" "$T/orig" -G --data-urlencode "id=$Q" -D "$T/orig.h")" = 200 ] || fail "file status"
cmp -s "$T/orig" "$Q" || fail "/api/file is not the original file"
grep -qi '^content-type: image/jpeg' "$T/orig.h" && grep -qi "^content-security-policy: default-src 'none'; sandbox" "$T/orig.h" \
  || fail "file headers: $(cat "$T/orig.h")"
[ "$(get "$B/api/file" "$T/origs" -G --data-urlencode "id=$SPECIAL")" = 200 ] && cmp -s "$T/origs" "$SPECIAL" || fail "file of the special name"
for bad in "$T/not-indexed.png" /etc/passwd "$T/imgs/../not-indexed.png" "imgs/noise_rgb_224x224.png"; do
  [ "$(get "$B/api/file" "$T/f404" -G --data-urlencode "id=$bad")" = 404 ] || fail "file of $bad is not 404"
  check "file 404 body" "$T/f404" 'assert j["error"]["category"] == "NotFound"'
done
[ "$(get "$B/api/file" "$T/f400")" = 400 ] || fail "file without id is not 400"

# Collections and the page.
get "$B/api/collections" "$T/colls" >/dev/null
check "collections" "$T/colls" '
names = {c["name"]: c for c in j["collections"]}
assert j["default"] == "image_vectors" and set(names) == {"image_vectors", "other"}, j
assert names["other"]["count"] == 6 and names["other"]["dimension"] == j["model_dimension"] and names["other"]["searchable"]'
[ "$(get "$B/" "$T/page" -D "$T/page.h")" = 200 ] || fail "page status"
grep -qi '^content-type: text/html' "$T/page.h" || fail "page content type"
grep -qi '^content-security-policy:' "$T/page.h" || fail "page has no CSP"
grep -q 'id="q"' "$T/page" || fail "page has no search box"
grep -Eq '(src|href)="https?:' "$T/page" && fail "page loads external assets"

# Errors: status + {"error": {"category", "message"}}.
err() {   # err NAME STATUS CATEGORY curl-args...
  local code
  code=$(curl -s -m 60 -o "$T/e" -w '%{http_code}' "${@:4}")
  [ "$code" = "$2" ] || fail "$1: status $code, wanted $2 ($(cat "$T/e"))"
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["category"]==sys.argv[2] and e["message"], e' \
      "$T/e" "$3" || fail "$1: body $(cat "$T/e")"
}
err "bad filter" 400 FilterError -G "$B/api/search" --data-urlencode 'q=x' --data-urlencode 'filter={"type":{"$nope":1}}'
err "filter not JSON" 400 FilterError -G "$B/api/search" --data-urlencode 'q=x' --data-urlencode 'filter={bad'
err "unknown collection" 404 CollectionNotFound "$B/api/search?q=x&collection=nope"
err "missing q" 400 ArgError "$B/api/search"
err "q and like" 400 ArgError "$B/api/search?q=x&like=y"
err "like of an unknown id" 404 NotFound "$B/api/search?like=%2Fnot%2Fstored.png"
err "bad k" 400 ArgError "$B/api/search?q=x&k=0"
err "k too big" 400 ArgError "$B/api/search?q=x&k=1001"
err "bad min_score" 400 ArgError "$B/api/search?q=x&min_score=abc"
err "not an image" 400 FormatError "$B/api/search/image" --data-binary 'hello, not an image' -H 'Content-Type: application/octet-stream'
err "no image" 400 ArgError -X POST "$B/api/search/image"
head -c 1100000 /dev/zero >"$T/big.bin"
err "upload over --max-upload" 413 TooLarge "$B/api/search/image" --data-binary "@$T/big.bin"
err "form upload over --max-upload" 413 TooLarge "$B/api/search/image" -F "image=@$T/big.bin"
err "GET image search" 405 ArgError "$B/api/search/image"
err "POST text search" 405 ArgError -d q=x "$B/api/search"
err "unknown route" 404 NotFound "$B/nope"
err "rebinding Host" 403 ArgError -H 'Host: evil.example:80' "$B/api/collections"
for h in "localhost:$PORT" "[::1]:$PORT" "127.0.0.2:$PORT" "127.0.0.1"; do
  [ "$(get "$B/api/collections" "$T/lh" -H "Host: $h")" = 200 ] || fail "Host: $h refused"
done
for h in "localhost.evil.example:$PORT" "128.0.0.1:$PORT" "[::2]:$PORT"; do
  [ "$(get "$B/api/collections" "$T/lh" -H "Host: $h")" = 403 ] || fail "Host: $h accepted"
done

# The port is taken: a second server says so and fails.
"$CS" serve --db "$DB" --port "$PORT" --collection not_there 2>"$T/busy.err" && fail "second server on a busy port"
grep -q "cannot listen" "$T/busy.err" || fail "busy port message: $(cat "$T/busy.err")"
grep -q "collection 'not_there' does not exist yet" "$T/busy.err" || fail "no note of the missing collection"
grep -q "does not exist" "$T/serve.err" && fail "note of a missing collection that exists"

# Concurrent clients: each on its own thread, every answer complete and the same as alone.
pids=()
for i in 1 2 3 4 5 6; do
  get "$B/api/search?q=a+colourful+gradient&k=4" "$T/par$i" >"$T/parc$i" & pids+=($!)
  get "$B/api/search/image?k=3" "$T/pari$i" -F "image=@$Q" >"$T/paric$i" & pids+=($!)
  get "$B/api/thumb?size=64" "$T/part$i" -G --data-urlencode "id=$Q" >"$T/partc$i" & pids+=($!)
done
wait "${pids[@]}"   # not a bare wait: the server is a background job too
for i in 1 2 3 4 5 6; do
  [ "$(cat "$T/parc$i" "$T/paric$i" "$T/partc$i")" = 200200200 ] || fail "parallel request $i statuses"
  cmp -s "$T/par$i" "$T/s1" || fail "parallel text search $i differs"
  cmp -s "$T/pari$i" "$T/img1" || fail "parallel image search $i differs"
  cmp -s "$T/part$i" "$T/th.jpg" || fail "parallel thumbnail $i differs"
done

# A file deleted since indexing: dropped from results (counted), or kept flagged with
# include_missing=1; its original is gone (404).
GONE=$T/imgs/noise_rgb_224x224.png
rm -f "$GONE"
get "$B/api/search?q=photo&k=100" "$T/gone" >/dev/null
check "missing file dropped" "$T/gone" "
assert j['missing_skipped'] == 1 and '$GONE' not in [r['id'] for r in j['results']], j['missing_skipped']"
get "$B/api/search?q=photo&k=100&include_missing=1" "$T/gonei" >/dev/null
check "missing file kept" "$T/gonei" "
assert j['missing_skipped'] == 0
assert [r.get('missing') for r in j['results'] if r['id'] == '$GONE'] == [True], j['results']"
[ "$(get "$B/api/file" "$T/gonef" -G --data-urlencode "id=$GONE")" = 404 ] || fail "file of a deleted image is not 404"

# Still alive after all that; SIGTERM stops it with status 0.
[ "$(get "$B/api/search?q=x" "$T/alive")" = 200 ] || fail "server died"
serve_stop
rc=$?
[ "$rc" = 0 ] || fail "exit status after SIGTERM: $rc ($(cat "$T/serve.err"))"
grep -q "stopping" "$T/serve.err" || fail "no stop message"

[ $fails = 0 ] && echo "serve_api: all checks passed"
exit $((fails > 0))
