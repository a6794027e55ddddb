#!/usr/bin/env bash
# Differential test: the C tokenizer (build/tokenize_hex) against a Python reference of
# openai/CLIP's SimpleTokenizer on random tricky strings (scripts/tokenizer_crosscheck.py).
# Skips (77) without python3 + the `regex` module. Uses the tiny fixture vocabulary and,
# when the shared reference directory is present, the real CLIP vocabulary.
set -u
src=${CS_SOURCE_DIR:-.}
build=${CS_BUILD_DIR:-build}
shared=${CS_SHARED_DIR:-../shared}
tool=$build/tokenize_hex
if ! python3 -c 'import regex' 2>/dev/null; then
    echo "SKIP: python3 with the regex module is needed for the reference tokenizer"
    exit 77
fi
[ -x "$tool" ] || { echo "missing $tool"; exit 1; }
rc=0
python3 "$src/scripts/tokenizer_crosscheck.py" "$tool" \
    "$src/tests/fixtures/tiny/model/vocab.json" "$src/tests/fixtures/tiny/model/merges.txt" \
    --n 1500 --seed 11 || rc=1
python3 "$src/scripts/tokenizer_crosscheck.py" "$tool" \
    "$src/tests/fixtures/tiny/model/vocab.json" "$src/tests/fixtures/tiny/model/merges.txt" \
    --n 300 --seed 12 --ctx 9 || rc=1
real=$shared/reference/clip-vocab
if [ -f "$real/vocab.json" ]; then
    python3 "$src/scripts/tokenizer_crosscheck.py" "$tool" "$real/vocab.json" \
        "$real/merges.txt" --n 1500 --seed 13 || rc=1
else
    echo "real vocabulary not found under $real: checked the tiny fixture only"
fi
exit $rc
