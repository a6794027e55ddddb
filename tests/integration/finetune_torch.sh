#!/usr/bin/env bash
# One optimisation step of clipsearch finetune equals an independent PyTorch step on the
# same inputs: the tiny fixture model, six fixture images with captions, one batch in
# file order, for heads, last:1 and all, SGD and AdamW. The PyTorch side
# (tests/tools/finetune_torch_step.py, float64) runs where Debian's python3-torch is
# installed; everywhere its results come from the golden kept in
# tests/fixtures/finetune_step/ (written by that script: FINETUNE_GOLDEN_WRITE=1 rewrites
# it), so the check never depends on torch being there. Compared: every sampled entry of
# every trained tensor, the weight within 1e-5 of the tensor's scale, and for SGD also
# the update itself (new - old) within 1e-3 of the tensor's largest update.
# Where torch is installed, it also reads the written checkpoint (all, SGD) and embeds
# the inputs: cosine with clipsearch's embeddings from --model OUT at least 0.99999.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
BUILD=${CS_BUILD_DIR:-build}
SRC=$(realpath "${CS_SOURCE_DIR:-.}")
EXEC=${CS_TEST_EXEC:-}
INPUTS=$BUILD/cs_ft_inputs
[ -x "$BIN" ] && [ -x "$INPUTS" ] || { echo "SKIP: $BIN or $INPUTS not built"; exit 77; }
MODEL=$SRC/tests/fixtures/tiny/model
IMG=$SRC/tests/fixtures/tiny/images
GOLD=$SRC/tests/fixtures/finetune_step
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

i=0
for f in gradient_rgb_640x480.png shapes_baseline_300x500.jpg noise_rgb_224x224.png \
         palette_P_200x150.png portrait_444_480x640.jpg rgba_256x320.png; do
    captions=("a smooth colour gradient" "a few shapes" "random noise" "a small palette picture"
              "a portrait photo" "a picture with transparency")
    printf '%s/%s\t%s\n' "$IMG" "$f" "${captions[$i]}" >>"$TMP/pairs.tsv"
    i=$((i + 1))
done
$EXEC "$INPUTS" "$MODEL" "$TMP/pairs.tsv" >"$TMP/inputs.json" || die "cs_ft_inputs"

# Debian's python3-torch belongs to the system's interpreter, which a user's PATH may hide
# (pyenv, a venv): look there too.
have_torch=0 TORCH_PY=
# FINETUNE_TORCH=0 checks the golden path where torch is installed.
for py in python3 /usr/bin/python3; do
    [ "${FINETUNE_TORCH:-1}" = 0 ] && break
    if command -v "$py" >/dev/null && "$py" -c 'import torch' 2>/dev/null; then
        have_torch=1 TORCH_PY=$py
        break
    fi
done
[ $have_torch -eq 1 ] || echo "note: no python3 with torch here (or FINETUNE_TORCH=0): comparing with the golden in $GOLD"

for cfg in "heads sgd 0.5" "heads adamw 0.01" "last:1 sgd 0.5" "last:1 adamw 0.01" "all sgd 0.5" "all adamw 0.01"; do
    read -r train opt lr <<<"$cfg"
    tag=${train/:/}_$opt
    out=$TMP/out_$tag
    $EXEC "$BIN" finetune --model "$MODEL" --pairs "$TMP/pairs.tsv" --out "$out" --train "$train" \
        --optimizer "$opt" --lr "$lr" --epochs 1 --batch 6 --no-shuffle --val-split 0 --quiet \
        2>"$TMP/err" >/dev/null || { die "finetune $cfg: $(cat "$TMP/err")"; continue; }
    golden=$GOLD/$tag.json
    if [ $have_torch -eq 1 ]; then
        "$TORCH_PY" "$SRC/tests/tools/finetune_torch_step.py" "$TMP/inputs.json" "$MODEL" "$train" "$opt" \
            "$lr" "$TMP/torch_$tag.json" || { die "torch step $cfg"; continue; }
        if [ "${FINETUNE_GOLDEN_WRITE:-0}" = 1 ]; then
            mkdir -p "$GOLD" && cp "$TMP/torch_$tag.json" "$golden"
        elif [ -s "$golden" ]; then
            # The kept golden is what torch computes here too (float64: to 1e-9).
            python3 - "$golden" "$TMP/torch_$tag.json" <<'PY' || die "$cfg: torch disagrees with the kept golden"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["tensors"].keys() == b["tensors"].keys()
for n in a["tensors"]:
    for (i, x), (j, y) in zip(a["tensors"][n], b["tensors"][n]):
        assert i == j and abs(x - y) <= 1e-9 * max(1.0, abs(x)), (n, i, x, y)
PY
        fi
        golden=$TMP/torch_$tag.json
    fi
    [ -s "$golden" ] || { die "no golden for $cfg ($golden)"; continue; }
    python3 - "$golden" "$out/model.safetensors" "$MODEL/model.safetensors" "$opt" "$SRC/tests/tools" <<'PY' || die "$cfg: clipsearch's step differs from PyTorch's"
import json, sys
sys.path.insert(0, sys.argv[5])
from safetensors_read import floats
def tensors(path):
    return {k: v for k, (_, v) in floats(path).items()}
gold = json.load(open(sys.argv[1]))
new, old, sgd = tensors(sys.argv[2]), tensors(sys.argv[3]), sys.argv[4] == "sgd"
changed = {k for k in new if new[k] != old[k]}
# What changed is what trained; only the keys' bias, whose gradient is exactly zero, may
# stay as it was (plain SGD has no weight decay to move it).
assert changed <= set(gold["tensors"]), ("changed but not trained", sorted(changed - set(gold["tensors"])))
still = set(gold["tensors"]) - changed
assert all(n.endswith("k_proj.bias") for n in still), ("trained but unchanged", sorted(still))
worst_w = worst_u = 0.0
for name, entries in gold["tensors"].items():
    scale = max(abs(v) for _, v in entries) or 1.0
    # Updates are compared to the tensor's largest, and never to less than a millionth of
    # its scale (float32 rounding of a weight is about 6e-8 of it).
    upd = max(max(abs(v - old[name][i]) for i, v in entries), 1e-6 * scale)
    for i, want in entries:
        got = new[name][i]
        ew = abs(got - want) / scale
        eu = abs((got - old[name][i]) - (want - old[name][i])) / upd if sgd else 0.0
        if ew > 1e-5 or eu > 1e-3:
            print(f"  {name}[{i}]: clipsearch {got:.9g}, torch {want:.9g}, before {old[name][i]:.9g}")
        worst_w, worst_u = max(worst_w, ew), max(worst_u, eu)
print(f"{gold['train']} {gold['optimizer']}: {len(gold['tensors'])} tensors, weights within "
      f"{worst_w:.1e} of their scale" + (f", updates within {worst_u:.1e}" if sgd else ""))
assert worst_w <= 1e-5, worst_w
assert worst_u <= 1e-3, worst_u
PY
done
# The written checkpoint, read by the independent implementation: its embeddings of the
# same inputs equal clipsearch's from --model OUT (the most changed one: all, SGD).
if [ $have_torch -eq 1 ] && [ -s "$TMP/out_all_sgd/model.safetensors" ]; then
    "$TORCH_PY" "$SRC/tests/tools/finetune_torch_step.py" embed "$TMP/inputs.json" "$TMP/out_all_sgd" \
        "$TMP/torch_emb.json" || die "torch embed of the output"
    args=()
    while IFS=$'\t' read -r img cap; do args+=(--image "$img" --text "$cap"); done <"$TMP/pairs.tsv"
    $EXEC "$BIN" embed --model "$TMP/out_all_sgd" "${args[@]}" >"$TMP/cs_emb.jsonl" 2>"$TMP/err" ||
        die "clipsearch embed of the output: $(cat "$TMP/err")"
    python3 - "$TMP/torch_emb.json" "$TMP/cs_emb.jsonl" <<'PY' || die "the output checkpoint embeds differently in PyTorch"
import json, sys
t = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])]
imgs = [r["embedding"] for r in rows if r["kind"] == "image"]
txts = [r["embedding"] for r in rows if r["kind"] == "text"]
assert len(imgs) == len(t["images"]) and len(txts) == len(t["texts"]), (len(imgs), len(txts))
worst = min(sum(a * b for a, b in zip(x, y)) for x, y in zip(imgs + txts, t["images"] + t["texts"]))
print(f"output checkpoint read by PyTorch: embeddings' cosine with clipsearch's >= {worst:.7f}")
assert worst >= 0.99999, worst
PY
fi
[ $fail -eq 0 ] && echo "finetune_torch: all passed"
exit $fail
