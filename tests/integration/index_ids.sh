#!/bin/bash
# Record ids are lossless: names that the old "\xNN" escaping merged (a file literally
# named a\x0Ab.jpg and one named a<newline>b.jpg; café in Latin-1 and the text caf\xE9),
# tabs, invalid UTF-8, backslashes, names that look like escapes or like file: ids, and a
# non-UTF-8 folder each get their own id (the path itself when it is printable UTF-8, a
# file: IRI otherwise, as README "Record ids" says and Python decodes); every file is
# found by its own image, a second run changes nothing, --prune deletes exactly the
# deleted file, and the gallery, the terminal preview path and /api/thumb open files
# by id.
. "$(dirname "$0")/index_common.bash"
. "$(dirname "$0")/serve_common.bash"
need_counter
trap 'serve_kill; cleanup' EXIT

D=$TMP/ids
mkdir -p "$D" "$D/$(printf 'dir\xfe')"
NAMES=(
    'a\x0Ab.png' "$(printf 'a\nb.png')" "$(printf 'caf\xe9.png')" 'caf\xE9.png' 'caf%E9.png'
    "$(printf 't\tb.png')" 't\tb.png' "$(printf 'bad\xff\xfe.png')" 'back\slash.png'
    "$(printf 'back\\slash\xff.png')" 'file:x.png' 'file%3Ax.png' "$(printf 'csi\xc2\x9b.png')"
    "$(printf 'dir\xfe')/inside.png" "caf$(printf '\xc3\xa9').png"
)
seed=100
for n in "${NAMES[@]}"; do
    "$GEN" onepng "$D/$n" 28 28 $seed || die "generating $n"
    seed=$((seed + 1))
done
N=${#NAMES[@]}
[ "$(find "$D" -type f -printf x | wc -c)" = "$N" ] || die "the file system merged names: expected $N files"

idx "$D"
[ $RC = 0 ] || die "index exit $RC: $(cat "$TMP/err")"
expect "first run" indexed "$N" failed 0 reused 0
[ "$(count)" = "$N" ] || die "record count $(count), expected $N"

# Every file is found by its own image, under the id Python computes from its bytes.
for n in "${NAMES[@]}"; do
    "$BIN" search --db "$DB" --collection "$COLL" --model "$MODEL" --json -k 1 --image "$D/$n" \
        >"$TMP/hit" 2>"$TMP/err" || { die "search for $(printf %q "$n"): $(cat "$TMP/err")"; continue; }
    python3 - "$TMP/hit" "$D/$n" <<'PY' || die "search for $(printf %q "$n")"
import json, os, sys, urllib.parse
hit = json.loads(open(sys.argv[1]).readline())
path = os.fsencode(os.path.realpath(os.fsencode(sys.argv[2])))

def expected_id(b):
    # README "Record ids": plain when printable UTF-8 not starting with "file:".
    ctrl = lambda c: ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F
    try:
        s = b.decode("utf-8")
        if not s.startswith("file:") and not any(ctrl(c) for c in s):
            return s
    except UnicodeDecodeError:
        pass
    keep = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/")
    out = []
    for c in b.decode("utf-8", "surrogateescape"):
        if 0xDC80 <= ord(c) <= 0xDCFF:
            out.append("%%%02X" % (ord(c) - 0xDC00))
        elif c in keep or (ord(c) >= 0x80 and not ctrl(c)):
            out.append(c)
        else:
            out.extend("%%%02X" % x for x in c.encode("utf-8"))
    return ("file://" if b.startswith(b"/") else "file:") + "".join(out)

def decode(i):  # the Python recipe of README "Record ids"
    if not i.startswith("file:"):
        return os.fsencode(i)
    return urllib.parse.unquote_to_bytes(i[7:] if i.startswith("file://") else i[5:])

want = expected_id(path)
assert hit["id"] == want, (hit["id"], want)
assert decode(hit["id"]) == path, (decode(hit["id"]), path)
assert hit["score"] > 0.9999, hit
assert hit["metadata"]["bytes"] == os.stat(path).st_size, hit
PY
done

# Nothing changed: every file is matched to its record again.
idx "$D"
expect "second run" indexed 0 unchanged "$N" failed 0
# Deleting the Latin-1 café prunes exactly that record (not the text caf\xE9).
rm "$D/$(printf 'caf\xe9.png')"
idx "$D" --prune
expect "prune" pruned 1 unchanged $((N - 1))
[ "$(count)" = $((N - 1)) ] || die "record count after prune $(count), expected $((N - 1))"
"$GEN" onepng "$D/$(printf 'caf\xe9.png')" 28 28 102   # back, for the checks below
idx "$D"
expect "restored" indexed 1 unchanged $((N - 1))

# The gallery opens files by id: every hit has a thumbnail, none is "not readable".
"$BIN" search --db "$DB" --collection "$COLL" --model "$MODEL" -k 100 --html "$TMP/g.html" \
    "anything" >/dev/null 2>"$TMP/err" || die "search --html: $(cat "$TMP/err")"
imgs=$(grep -o '<img loading' "$TMP/g.html" | wc -l)
[ "$imgs" = "$N" ] || die "gallery: $imgs thumbnails, expected $N"
grep -q 'image not readable' "$TMP/g.html" && die "gallery: an image was not readable by its id"

# /api/thumb serves every record by its id.
serve_start --db "$DB" --collection "$COLL" --model "$MODEL" || die "serve did not start"
if [ -n "$SERVE_PID" ]; then
    "$BIN" search --db "$DB" --collection "$COLL" --model "$MODEL" -k 100 --json "x" >"$TMP/all"
    python3 - "$TMP/all" "$SERVE_URL" "$COLL" "$N" <<'PY' || die "/api/thumb by id"
import json, sys, urllib.parse, urllib.request
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
assert len(ids) == int(sys.argv[4]), len(ids)
for i in ids:
    q = urllib.parse.urlencode({"id": i, "size": 32, "collection": sys.argv[3]})
    with urllib.request.urlopen(sys.argv[2] + "api/thumb?" + q) as r:
        body = r.read()
        assert r.status == 200 and body[:2] == b"\xff\xd8", (i, r.status)
PY
    serve_stop || die "serve exit status"
fi
exit $fail
