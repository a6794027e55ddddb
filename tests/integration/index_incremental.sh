#!/bin/bash
# clipsearch index: first run embeds everything; a second run embeds nothing; a
# modified file is re-embedded; a touched file (same content) is not; moved and
# duplicated files reuse the stored vector (no model run: counted as reused); --prune
# deletes only records under the given DIRs; metadata fields; non-images are ignored.
. "$(dirname "$0")/index_common.bash"
need_counter

A=$TMP/a; B=$TMP/b
mkdir -p "$A/sub/deeper" "$B"
cp "$SRC"/tests/fixtures/tiny/images/*.png "$SRC"/tests/fixtures/tiny/images/*.jpg "$A/"
"$GEN" png "$A/sub" 6 48 32 7 || die "generating images"
"$GEN" jpg "$A/sub/deeper/photo.JPEG" 64 48 3
"$GEN" png "$B" 3 40 30 9
cp "$A/sub/img_0001.png" "$A/sub/deeper/no_extension"   # a PNG without extension
# A JPEG whose EXIF says when it was taken (DateTimeOriginal + OffsetTimeOriginal).
python3 - "$A/sub/deeper/photo.JPEG" "$A/dated.jpg" <<'PY' || die "making dated.jpg"
import struct, sys
src = open(sys.argv[1], "rb").read()
t = bytearray(84)
t[0:8] = b"II*\0\x08\0\0\0"
t[8:10] = struct.pack("<H", 1)
t[10:22] = struct.pack("<HHII", 0x8769, 4, 1, 26)          # ExifIFD pointer
t[26:28] = struct.pack("<H", 2)
t[28:40] = struct.pack("<HHII", 0x9003, 2, 20, 56)         # DateTimeOriginal
t[40:52] = struct.pack("<HHII", 0x9011, 2, 7, 76)          # OffsetTimeOriginal
t[56:76] = b"2019:07:14 12:20:30\0"
t[76:83] = b"+02:00\0"
seg = b"Exif\0\0" + bytes(t)
open(sys.argv[2], "wb").write(src[:2] + b"\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg + src[2:])
PY
echo "not an image" >"$A/README.txt"
N_A=$(find "$A" -type f ! -name '*.txt' | wc -l)
N=$((N_A + 3))

# 1. everything new
idx "$A" "$B"
[ $RC = 0 ] || die "first run exit $RC: $(cat "$TMP/err")"
expect "first run" indexed $((N - 1)) reused 1 unchanged 0 failed 0 ignored 1
[ "$(count)" = "$N" ] || die "record count $(count), expected $N"

# 2. nothing changed: nothing embedded, nothing decoded
idx "$A" "$B"
expect "second run" indexed 0 reused 0 unchanged "$N" failed 0

# 3. metadata
ID=$(realpath "$A/sub/deeper/photo.JPEG")
M=$(meta "$ID")
python3 - "$M" "$A/sub/deeper/photo.JPEG" <<'PY' || die "metadata of photo.JPEG: $M"
import json, os, sys
m = json.loads(sys.argv[1]); st = os.stat(sys.argv[2])
assert m["type"] == "jpeg" and m["format"] == "jpeg", m
assert m["name"] == "photo.JPEG" and m["width"] == 64 and m["height"] == 48, m
assert m["bytes"] == st.st_size, m
assert m["mtime"] == st.st_mtime_ns // 10**9 and m["mtime_ns"] == st.st_mtime_ns % 10**9, m
assert len(m["hash"]) == 32 and all(c in "0123456789abcdef" for c in m["hash"]), m
assert m["taken"] == m["mtime"], m     # no EXIF date: taken is the mtime
PY
M=$(meta "$(realpath "$A/dated.jpg")")
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); assert m["taken"]==1563099630, m' "$M" \
    || die "EXIF DateTimeOriginal 2019-07-14 12:20:30+02:00 not taken as 1563099630: $M"
M=$(meta "$(realpath "$A/sub/deeper/no_extension")")
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); assert m["type"]=="png" and m["name"]=="no_extension", m' "$M" \
    || die "metadata of a PNG without extension: $M"
M=$(meta "$(realpath "$A/exif_orient6_320x240.jpg")")
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); assert (m["type"],m["width"],m["height"])==("jpg",240,320), m' "$M" \
    || die "EXIF-rotated size (as displayed): $M"

# 4. modified content -> re-embedded; touched only -> unchanged (hash), metadata refreshed
"$GEN" onepng "$A/sub/img_0002.png" 48 32 999
touch -d '2001-02-03 04:05:06' "$A/sub/img_0003.png"
idx "$A" "$B"
expect "after modify+touch" indexed 1 reused 0 unchanged $((N - 1)) failed 0
M=$(meta "$(realpath "$A/sub/img_0003.png")")
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); assert m["mtime"]==981173106, m' "$M" \
    || die "touched file: mtime not refreshed: $M"
idx "$A" "$B"
expect "after modify+touch, again" indexed 0 unchanged "$N"

# 5. moved file and duplicated file: reused, no model run
mv "$A/sub/img_0004.png" "$A/sub/deeper/moved.png"
cp "$A/sub/img_0005.png" "$A/copy_of_5.png"
idx "$A" "$B"
expect "after move+copy" indexed 0 reused 2 unchanged $((N - 1))
[ "$(count)" = $((N + 2)) ] || die "count after move+copy without prune: $(count)"

# 6. prune: only under the DIRs given
rm "$B/img_0000.png"
idx "$A" --prune
expect "prune A" pruned 1 indexed 0 unchanged $((N + 1 - 3))
[ "$(count)" = $((N + 1)) ] || die "count after prune of A: $(count)"
idx "$B" --prune
expect "prune B" pruned 1 unchanged 2
[ "$(count)" = "$N" ] || die "count after prune of B: $(count)"

# 7. an in-run duplicate: both new, embedded once
mkdir -p "$TMP/c"
"$GEN" onepng "$TMP/c/x.png" 30 30 4242
cp "$TMP/c/x.png" "$TMP/c/y.png"
idx "$TMP/c"
expect "in-run duplicate" indexed 1 reused 1

# 7b. five copies of one new image among others, small batches and two decoders: the copies
# that arrive before the first one is written wait for it (not decoded), those after take
# it from the store; all five get one vector. Three copies of a damaged JPEG: the first
# fails, the others are decoded in turn and fail with it.
mkdir -p "$TMP/d"
"$GEN" onepng "$TMP/d/orig.png" 40 30 777
for i in 1 2 3 4; do cp "$TMP/d/orig.png" "$TMP/d/copy$i.png"; done
for i in 1 2 3 4 5 6; do "$GEN" onepng "$TMP/d/other$i.png" 20 20 $((900 + i)); done
printf '\xff\xd8\xff\xe0damaged' >"$TMP/d/bad1.jpg"
cp "$TMP/d/bad1.jpg" "$TMP/d/bad2.jpg"; cp "$TMP/d/bad1.jpg" "$TMP/d/bad3.jpg"
idx "$TMP/d" --jobs 2 --batch 2
expect "copies in one run" indexed 7 reused 4 failed 3
"$BIN" vec fetch --db "$DB" "$COLL" "$TMP"/d/orig.png "$TMP"/d/copy*.png >"$TMP/copies.json" ||
    die "vec fetch of the copies"
python3 - "$TMP/copies.json" <<'PY' || die "the copies' vectors differ"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
recs = recs[0] if len(recs) == 1 and isinstance(recs[0], list) else recs
vecs = [r["vector"] if isinstance(r, dict) else r[1] for r in recs]
assert len(vecs) == 5 and all(v == vecs[0] for v in vecs), len(vecs)
# The copies were not decoded, yet their metadata describes the image as the original's.
metas = [r["metadata"] if isinstance(r, dict) else r[2] for r in recs]
assert all(m.get("width") == 40 and m.get("height") == 30 for m in metas), metas
PY

# 8. the human summary and exit status without --json
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" "$A" >"$TMP/h.out" 2>"$TMP/h.err"
[ $? = 0 ] || die "plain run exit status"
grep -q "0 indexed, $((N + 1 - 3)) unchanged" "$TMP/h.out" || die "human summary: $(cat "$TMP/h.out")"
# --quiet: nothing on stderr
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --quiet "$A" >"$TMP/q.out" 2>"$TMP/q.err"
[ -s "$TMP/q.err" ] && die "--quiet printed on stderr: $(cat "$TMP/q.err")"
# a missing DIR is an error before any work; usage errors exit 2
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" "$TMP/nope" >/dev/null 2>&1
[ $? = 1 ] || die "missing DIR should exit 1"
"$BIN" index --db "$DB" --model "$MODEL" --batch 0 "$A" >/dev/null 2>&1
[ $? = 2 ] || die "--batch 0 should be a usage error"
exit $fail
