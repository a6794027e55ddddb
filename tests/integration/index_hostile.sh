#!/bin/bash
# clipsearch index on a hostile folder: corrupt, truncated, zero-byte, unsupported,
# wrongly named, enormous-dimension, fifo, device, dangling symlink, symlink loop,
# unreadable file and directory (not testable as root: chmod 000 does not stop root),
# non-UTF-8 names. Every bad file is skipped with a warning naming it and a reason, and
# counted as failed; the good ones are indexed; nothing hangs or crashes.
. "$(dirname "$0")/index_common.bash"

D=$TMP/h
mkdir -p "$D/sub"
F=$SRC/tests/fixtures/tiny/images
good=0; bad=0
cp "$F/gradient_rgb_640x480.png" "$D/good1.png"; good=$((good + 1))
cp "$F/shapes_baseline_300x500.jpg" "$D/sub/good2.jpg"; good=$((good + 1))
"$GEN" onepng "$D/good3.png" 20 20 5; good=$((good + 1))
# a JPEG named .png is recognised by content and indexed
cp "$F/gray_baseline_400x300.jpg" "$D/actually_jpeg.png"; good=$((good + 1))
# a valid image whose name is not UTF-8: indexed, id escaped
cp "$F/small_31x17.png" "$D/$(printf 'caf\xe9.png')"; good=$((good + 1))

head -c 200 "$F/photo_progressive_640x427.jpg" >"$D/truncated.jpg"; bad=$((bad + 1))
head -c 3000 "$F/rgba_256x320.png" >"$D/truncated.png"; bad=$((bad + 1))
# corrupt: bytes inside the PNG image data overwritten (CRC mismatch)
cp "$F/gradient_rgb_640x480.png" "$D/corrupt.png"
printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' | dd of="$D/corrupt.png" bs=1 seek=2000 conv=notrunc 2>/dev/null; bad=$((bad + 1))
: >"$D/zero.jpg"; bad=$((bad + 1))
printf 'II*\0\x08\0\0\0garbage-tiff' >"$D/scan.tif"; bad=$((bad + 1))      # corrupt TIFF
echo "this is text" >"$D/wrong.jpg"; bad=$((bad + 1))                     # wrongly named
head -c 100 /dev/urandom >"$D/$(printf 'bad\xff\xfe.gif')"; bad=$((bad + 1))   # non-UTF-8 + corrupt
"$GEN" huge-png "$D/huge.png" 100000 100000; bad=$((bad + 1))             # enormous dimensions
mkfifo "$D/fifo.jpg"; bad=$((bad + 1))
ln -s does-not-exist "$D/dangling.png"; bad=$((bad + 1))
ln -s .. "$D/sub/loop"                                                     # loop: no count
echo "notes" >"$D/notes.txt"                                                # ignored
: >"$D/empty.dat"                                                           # ignored
ROOT=0; [ "$(id -u)" = 0 ] && ROOT=1
if [ $ROOT = 1 ]; then
    mknod "$D/device.jpg" c 1 3 && bad=$((bad + 1))
    echo "note: running as root: chmod 000 does not stop reading; unreadable file/directory cases skipped"
else
    cp "$F/noise_rgb_224x224.png" "$D/unreadable.png"; chmod 000 "$D/unreadable.png"; bad=$((bad + 1))
    mkdir "$D/locked"; cp "$F/noise_rgb_224x224.png" "$D/locked/x.png"; chmod 000 "$D/locked"; bad=$((bad + 1))
fi

timeout 120 "$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --json --jobs 3 "$D" \
    >"$TMP/out.json" 2>"$TMP/err"
RC=$?
[ $RC = 0 ] || die "exit status $RC (124 = hung): $(cat "$TMP/err")"
expect "hostile" indexed $good failed $bad ignored 2
python3 - "$TMP/out.json" "$TMP/err" "$ROOT" <<'PY' || die "failure details (see above)"
import json, sys
s = json.load(open(sys.argv[1])); err = open(sys.argv[2], encoding="utf-8", errors="replace").read()
root = sys.argv[3] == "1"
fails = {f["file"].rsplit("/", 1)[-1]: f["reason"] for f in s["failures"]}
want = {"truncated.jpg": "", "truncated.png": "", "corrupt.png": "", "zero.jpg": "empty",
        "scan.tif": "corrupt TIFF", "wrong.jpg": "not a supported image",
        "bad%FF%FE.gif": "", "huge.png": "", "fifo.jpg": "not a regular file (fifo)",
        "dangling.png": "broken symbolic link"}
if root: want["device.jpg"] = "not a regular file (character device)"
else: want.update({"unreadable.png": "cannot open", "locked": "cannot read directory"})
ok = True
for name, frag in want.items():
    if name not in fails:
        print("missing failure for", name, "in", sorted(fails)); ok = False; continue
    if frag not in fails[name]:
        print("reason for", name, "is", repr(fails[name]), "expected", repr(frag)); ok = False
    if "warning: " not in err or name not in err:
        print("no warning naming", name, "on stderr"); ok = False
for name in fails:
    if name not in want: print("unexpected failure", name, fails[name]); ok = False
print("huge.png:", fails.get("huge.png"))
sys.exit(0 if ok else 1)
PY
# The non-UTF-8 good file is stored under a file: id (lossless); its name is for display.
if [ "$BACKEND" = sqlite ]; then
    M=$(meta "file://$(realpath "$D")/caf%E9.png")
    python3 -c 'import json,sys; m=json.loads(sys.argv[1]); assert m["name"]=="caf\\xE9.png" and m["width"]==31, m' "$M" \
        || die "escaped id/name of the non-UTF-8 file: '$M'"
fi
# A second run: the good files are unchanged, the bad ones fail again (not stored).
idx "$D"
expect "hostile again" indexed 0 unchanged $good failed $bad
exit $fail
