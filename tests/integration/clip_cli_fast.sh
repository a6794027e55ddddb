#!/usr/bin/env bash
# The opt-in fast modes: --precision bf16 (oneDNN on AVX512-BF16/AMX; a clear refusal
# elsewhere), --fast-decode (libjpeg DCT scaling) and --fast (both), on embed, index,
# search and labels. Each stays close to the exact fp32 result and says so on stderr; fp32
# through oneDNN's AVX2 kernels (ONEDNN_MAX_CPU_ISA) agrees with the default within GEMM
# rounding; the default output never changes.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
BUILD=${CS_BUILD_DIR:-build}
M=tests/fixtures/tiny/model
command -v python3 >/dev/null || { echo "SKIP: python3 needed"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }
"$BUILD/cs_index_testimages" jpg "$TMP/big.jpg" 2000 1500 7 || die "test image"
cp tests/fixtures/tiny/images/photo_progressive_640x427.jpg "$TMP/"

# cos FILE_A FILE_B MIN [MAX]: every embedding line of A against B's
cos() {
    python3 - "$@" <<'PY'
import json, math, sys
a = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
b = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
lo = float(sys.argv[3]); hi = float(sys.argv[4]) if len(sys.argv) > 4 else 2
assert len(a) == len(b) and a, (len(a), len(b))
for x, y in zip(a, b):
    c = sum(p * q for p, q in zip(x, y)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
    assert lo <= c <= hi, "cosine %.9f not in [%g, %g]" % (c, lo, hi)
PY
}
E() { "$BIN" embed --model "$M" --image "$TMP/big.jpg" --image "$TMP/photo_progressive_640x427.jpg" --text "a red bicycle" "$@"; }

E >"$TMP/exact" 2>"$TMP/exact.err" || die "exact embed: $(cat "$TMP/exact.err")"
[ -s "$TMP/exact.err" ] && die "exact embed printed a note: $(cat "$TMP/exact.err")"

# fast decode: changes the large JPEG slightly, the small one not at all
E --fast-decode >"$TMP/fd" 2>"$TMP/fd.err" || die "--fast-decode: $(cat "$TMP/fd.err")"
grep -q "note: fast JPEG decoding" "$TMP/fd.err" || die "--fast-decode note missing: $(cat "$TMP/fd.err")"
cos "$TMP/exact" "$TMP/fd" 0.99 || die "--fast-decode far from exact"
head -1 "$TMP/exact" | cmp -s - <(head -1 "$TMP/fd") && die "--fast-decode did not change the 2000x1500 JPEG"
sed -n 2,3p "$TMP/exact" | cmp -s - <(sed -n 2,3p "$TMP/fd") || die "--fast-decode changed a small JPEG or a text"

# oneDNN limited to AVX2: fp32 agrees within GEMM rounding; bf16 is refused clearly there
ONEDNN_MAX_CPU_ISA=AVX2 E >"$TMP/avx2" 2>"$TMP/avx2.err" || die "fp32 on AVX2: $(cat "$TMP/avx2.err")"
cos "$TMP/exact" "$TMP/avx2" 0.999999 || die "fp32 on AVX2 kernels disagrees"
ONEDNN_MAX_CPU_ISA=AVX2 E --precision bf16 >"$TMP/no" 2>"$TMP/no.err"
r=$?
if "$BIN" model info --model "$M" | grep -q "gemm onednn"; then
    [ $r -ne 0 ] && grep -q "bf16 precision needs a CPU with AVX512-BF16 or AMX" "$TMP/no.err" &&
        [ ! -s "$TMP/no" ] || die "bf16 without bf16 instructions: exit $r, $(cat "$TMP/no.err")"
fi

# bf16 where the CPU has it; the same clear refusal where it has not
if "$BIN" model info --model "$M" | grep -q "bf16 available"; then
    E --precision bf16 >"$TMP/bf16" 2>"$TMP/bf16.err" || die "bf16: $(cat "$TMP/bf16.err")"
    grep -q "note: bf16 arithmetic" "$TMP/bf16.err" || die "bf16 note missing"
    cos "$TMP/exact" "$TMP/bf16" 0.99 0.9999999 || die "bf16 not close to (or identical to) fp32"
    E --fast >"$TMP/fast" 2>"$TMP/fast.err" || die "--fast: $(cat "$TMP/fast.err")"
    grep -q "note: bf16 arithmetic and fast JPEG decoding" "$TMP/fast.err" || die "--fast note"
    cos "$TMP/exact" "$TMP/fast" 0.99 || die "--fast far from exact"
    # index --fast, then search and labels in bf16 find the same best match as fp32
    mkdir "$TMP/imgs" && cp "$TMP/big.jpg" tests/fixtures/tiny/images/*.jpg tests/fixtures/tiny/images/*.png "$TMP/imgs/"
    "$BIN" index --db "$TMP/f.db" --model "$M" --fast --json "$TMP/imgs" >"$TMP/idx" 2>"$TMP/idx.err" ||
        die "index --fast: $(cat "$TMP/idx.err")"
    grep -q "note: bf16 arithmetic and fast JPEG decoding" "$TMP/idx.err" || die "index --fast note"
    "$BIN" index --db "$TMP/e.db" --model "$M" --quiet "$TMP/imgs" || die "index exact"
    for db in e f; do
        "$BIN" search --db "$TMP/$db.db" --model "$M" --image "$TMP/big.jpg" -k 1 --json >"$TMP/s.$db" ||
            die "search $db"
    done
    grep -q "big.jpg" "$TMP/s.f" && grep -q "big.jpg" "$TMP/s.e" || die "self-match after index --fast"
    "$BIN" search --db "$TMP/e.db" --model "$M" --precision bf16 "a photo" -k 3 --json >"$TMP/sb" 2>/dev/null ||
        die "search --precision bf16"
    [ "$(wc -l <"$TMP/sb")" = 3 ] || die "search --precision bf16: $(cat "$TMP/sb")"
    "$BIN" labels "$TMP/big.jpg" --model "$M" --labels "a,b,c" --precision bf16 --json >"$TMP/lb" 2>/dev/null ||
        die "labels --precision bf16"
    [ "$(wc -l <"$TMP/lb")" = 3 ] || die "labels --precision bf16: $(cat "$TMP/lb")"
else
    E --precision bf16 >"$TMP/bf16" 2>"$TMP/bf16.err"
    r=$?
    [ $r -ne 0 ] && grep -q "bf16" "$TMP/bf16.err" && [ ! -s "$TMP/bf16" ] ||
        die "bf16 without support: exit $r, $(cat "$TMP/bf16.err")"
    echo "note: this CPU or build has no bf16 GEMM; checked the refusal only"
fi
"$BIN" embed --model "$M" --text x --precision fp16 >/dev/null 2>"$TMP/bad.err"
[ $? = 2 ] && grep -q "fp32 or bf16" "$TMP/bad.err" || die "--precision fp16 not a usage error"
exit $fail
