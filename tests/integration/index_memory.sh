#!/bin/bash
# The decoding memory budget: files of a few dozen bytes that declare a 10000x10000 GIF
# canvas (within the pixel limit: each decodes to 300 MB of RGB) indexed with --jobs 8.
# With --max-memory 400M the decodes take turns and the process's peak RSS stays under
# 900 MiB; with a budget that allows all of them at once the peak is far higher, which
# shows that the budget, not luck, bounds it. Both runs index every file.
. "$(dirname "$0")/index_common.bash"
mkdir -p "$TMP/imgs"
python3 - "$TMP/imgs" <<'PY'
import struct, sys
W = H = 10000
# A 1x1 image at (0,0) of a 10000x10000 logical screen, two-colour global table.
# Each file has its own colour, so that none is a duplicate of another.
for i in range(8):
    gif = (b"GIF89a" + struct.pack("<HHBBB", W, H, 0x80, 0, 0) + bytes([i * 30, 0, 0]) +
           b"\xff\xff\xff" + b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) +
           b"\x02\x02\x44\x01\x00" + b";")
    open("%s/canvas%d.gif" % (sys.argv[1], i), "wb").write(gif)
PY
# peak_rss_mib ARGS...: runs clipsearch index, prints its peak RSS in MiB; summary in out.json.
peak_rss_mib() {
    # Under ASan, freed blocks wait in a quarantine (256 MB by default) before they are
    # reused: kept small here, so the peak measures what the program holds.
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8" python3 - "$BIN" "$TMP/out.json" "$TMP/err" "$@" <<'PY'
import resource, subprocess, sys
with open(sys.argv[2], "wb") as out, open(sys.argv[3], "wb") as err:
    rc = subprocess.call(sys.argv[1:2] + sys.argv[4:], stdout=out, stderr=err)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024 if rc == 0 else -1)
PY
}
BOUNDED=$(peak_rss_mib index --db "$DB" --collection "$COLL" --model "$MODEL" --json --jobs 8 \
    --max-memory 400M "$TMP/imgs")
[ "$BOUNDED" -gt 0 ] || die "bounded run failed: $(cat "$TMP/err")"
expect "bounded" indexed 8 failed 0
echo "peak RSS with --max-memory 400M: $BOUNDED MiB"
[ "$BOUNDED" -lt 900 ] || die "peak RSS $BOUNDED MiB with --max-memory 400M"
# What the budget itself accounted: each file's estimate (~800 MB: the canvas plus the
# decoder's buffers) is above the budget, so each ran alone: one estimate, never two.
PEAK=$(j decode_memory_peak)
[ "$PEAK" -gt $((300 * 1000 * 1000)) ] && [ "$PEAK" -lt $((1200 * 1000 * 1000)) ] ||
    die "decode_memory_peak $PEAK with --max-memory 400M: not one decode at a time"
# The unbounded run holds all eight decodes at once (~3 GiB): only where that much memory
# is free, so a small machine runs the bounded half rather than swapping or being killed.
AVAIL_MIB=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
if [ "${AVAIL_MIB:-0}" -lt 4096 ]; then
    echo "only $AVAIL_MIB MiB available: the unbounded comparison is not run"
else
"$BIN" vec drop --db "$DB" "$COLL" >/dev/null 2>&1
UNBOUNDED=$(peak_rss_mib index --db "$DB" --collection "$COLL" --model "$MODEL" --json --jobs 8 \
    --max-memory 64G "$TMP/imgs")
[ "$UNBOUNDED" -gt 0 ] || die "unbounded run failed: $(cat "$TMP/err")"
expect "unbounded" indexed 8 failed 0
echo "peak RSS with --max-memory 64G: $UNBOUNDED MiB"
[ "$UNBOUNDED" -gt $((BOUNDED + 400)) ] ||
    die "the budget made no difference ($BOUNDED vs $UNBOUNDED MiB): the test would not catch its loss"
PEAK_UNBOUNDED=$(j decode_memory_peak)
[ "$PEAK_UNBOUNDED" -ge $((2 * PEAK)) ] || die "decode_memory_peak $PEAK_UNBOUNDED unbounded vs $PEAK bounded"
fi
# Bad sizes are usage errors.
for bad in 10M 0 -5G 12Q; do
    "$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --max-memory "$bad" "$TMP/imgs" \
        >/dev/null 2>&1
    [ $? = 2 ] || die "--max-memory $bad accepted"
done
exit $fail
