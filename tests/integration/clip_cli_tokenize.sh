#!/bin/bash
# `clipsearch tokenize`: one JSON line per text with the golden ids (SOT, BPE, EOT,
# truncated, unpadded); argument handling and errors.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
SRC=${CS_SOURCE_DIR:-.}
T=$SRC/tests/fixtures/tiny
command -v python3 >/dev/null || { echo "SKIP: python3 needed to check JSON"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

if ! "$BIN" tokenize --model "$T/model" "probe" >/dev/null 2>"$TMP/err"; then
    die "tokenize failed: $(cat "$TMP/err")"
fi
# All golden texts in one call (argument order = output order).
mapfile -d '' texts < <(python3 -c "
import json,sys
for t in json.load(open('$T/golden.json'))['texts']: sys.stdout.write(t['text'] + '\0')")
"$BIN" tokenize --model "$T/st-layout" -- "${texts[@]}" >"$TMP/out.jsonl" 2>"$TMP/err" || die "tokenize: $(cat "$TMP/err")"
python3 - "$T" "$TMP" <<'PY' || fail=1
import json, sys
T, TMP = sys.argv[1], sys.argv[2]
g = json.load(open(f"{T}/golden.json"))["texts"]
rows = [json.loads(l) for l in open(f"{TMP}/out.jsonl", encoding="utf-8")]
bad = 0
if len(rows) != len(g): print("FAIL: lines", len(rows), len(g)); sys.exit(1)
for r, t in zip(rows, g):
    if set(r) != {"text", "ids"}: print("FAIL: keys", r.keys()); bad += 1
    if r["text"] != t["text"]: print("FAIL: text echo", repr(r["text"]), repr(t["text"])); bad += 1
    if r["ids"] != t["input_ids"][: t["length"]]: print("FAIL: ids for", repr(t["text"])); bad += 1
sys.exit(1 if bad else 0)
PY
"$BIN" tokenize --model "$T/model" >/dev/null 2>&1; [[ $? -eq 2 ]] || die "no text should exit 2"
"$BIN" tokenize --model "$T/model" --bogus x >/dev/null 2>&1; [[ $? -eq 2 ]] || die "unknown option should exit 2"
"$BIN" tokenize --model "$TMP/none" x >/dev/null 2>"$TMP/err"; [[ $? -ne 0 ]] && grep -q "^clipsearch: ModelError:" "$TMP/err" || die "missing model: $(cat "$TMP/err")"
[[ $fail -eq 0 ]] && echo "clip_cli_tokenize: OK"
exit $fail
