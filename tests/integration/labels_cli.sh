#!/usr/bin/env bash
# clipsearch labels: zero-shot ranking with the tiny model. Probabilities sum to 1, come
# sorted, and equal the softmax of exp(logit_scale) * score (logit_scale = ln 100 in the
# fixture) computed here from the printed cosines; table, --json, --labels-file, stdin,
# errors.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
IMG=$SRC/tests/fixtures/tiny/images/shapes_baseline_300x500.jpg
L="a red circle, a blue square,stripes , a photo of a dog,\"quoted\" label"

"$CS" labels "$IMG" --labels "$L" --json >"$T/j" || fail "labels --json"
python3 - "$T/j" <<'PY' || fail "labels json"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [list(r) for r in rows] == [["label", "probability", "score"]] * 5, rows
assert sorted(r["label"] for r in rows) == sorted(['a red circle', 'a blue square', 'stripes', 'a photo of a dog', '"quoted" label'])
p = [r["probability"] for r in rows]
assert abs(sum(p) - 1) < 1e-9 and p == sorted(p, reverse=True), p
# Manual softmax of 100 * cosine (the fixture's exp(logit_scale)).
z = [100 * r["score"] for r in rows]
m = max(z)
e = [math.exp(x - m) for x in z]
for r, x in zip(rows, e):
    assert abs(r["probability"] - x / sum(e)) < 1e-6, (r, x / sum(e))
PY
"$CS" labels "$IMG" --labels "$L" >"$T/t" || fail "labels table"
[ "$(wc -l <"$T/t")" = 6 ] && head -1 "$T/t" | grep -q probability || fail "table: $(cat "$T/t")"
python3 - "$T/t" "$T/j" <<'PY' || fail "table and json disagree"
import json, sys
t = [l.split(None, 3) for l in open(sys.argv[1]).read().splitlines()[1:]]
j = [json.loads(l) for l in open(sys.argv[2])]
assert [x[3] for x in t] == [r["label"] for r in j]
assert all(abs(float(x[1]) - r["probability"]) < 6e-5 for x, r in zip(t, j))
PY
printf 'a red circle\n\n  a blue square  \nstripes\na photo of a dog\n"quoted" label\n' >"$T/labels.txt"
"$CS" labels "$IMG" --labels-file "$T/labels.txt" --json >"$T/jf" || fail "--labels-file"
cmp -s "$T/j" "$T/jf" || fail "--labels-file differs from --labels"
"$CS" labels "$IMG" --labels-file - --json <"$T/labels.txt" >"$T/js" || fail "--labels-file -"
cmp -s "$T/j" "$T/js" || fail "stdin labels differ"
# One label: probability 1.
"$CS" labels "$IMG" --labels "only" --json | grep -q '"probability": *1\.0' || fail "single label"

# --template: the prompts are embedded, the labels are printed; the numbers differ from
# the bare labels' and equal those of the spelled-out prompts.
"$CS" labels "$IMG" --labels "dog,cat,car" --template "a photo of a {}." --json >"$T/tp" || fail "--template"
"$CS" labels "$IMG" --labels "a photo of a dog.,a photo of a cat.,a photo of a car." --json >"$T/full" || fail "full prompts"
"$CS" labels "$IMG" --labels "dog,cat,car" --json >"$T/bare" || fail "bare labels"
python3 - "$T" <<'PY' || fail "--template results"
import json, sys
load = lambda n: [json.loads(l) for l in open(sys.argv[1] + "/" + n)]
tp, full, bare = load("tp"), load("full"), load("bare")
assert sorted(r["label"] for r in tp) == ["car", "cat", "dog"], tp
assert [r["probability"] for r in tp] == [r["probability"] for r in full]
assert ["a photo of a %s." % r["label"] for r in tp] == [r["label"] for r in full]
assert {r["label"]: r["score"] for r in tp} != {r["label"]: r["score"] for r in bare}
PY
"$CS" labels "$IMG" --labels a --template "no hole" >/dev/null 2>&1; [ $? -eq 2 ] || fail "template without {}"
"$CS" labels "$IMG" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no labels: not a usage error"
"$CS" labels "$IMG" --labels " , ," >/dev/null 2>&1; [ $? -eq 2 ] || fail "empty labels: not a usage error"
"$CS" labels --labels a >/dev/null 2>&1; [ $? -eq 2 ] || fail "no image: not a usage error"
"$CS" labels "$IMG" --labels a --labels-file "$T/labels.txt" >/dev/null 2>&1; [ $? -eq 2 ] || fail "both label sources"
"$CS" labels /nonexistent.png --labels a,b 2>"$T/err" >/dev/null && fail "missing image accepted"
grep -q '/nonexistent.png' "$T/err" || fail "missing image message: $(cat "$T/err")"
"$CS" labels "$IMG" --labels-file /nonexistent.txt 2>"$T/err" >/dev/null && fail "missing labels file accepted"
[ $fails -eq 0 ] && echo "labels_cli: all passed"
exit $((fails > 0))
