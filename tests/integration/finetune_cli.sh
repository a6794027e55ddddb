#!/usr/bin/env bash
# clipsearch finetune (projection heads, and with --train last:K the towers' last layers) on a generated tiny model and 16 generated
# image/caption pairs: training lowers the loss and lifts text->image recall@1 on the
# training pairs (evaluated as --val); the output is a complete checkpoint that embeds
# differently from the input; TSV and JSON lines agree; a run interrupted by SIGINT and
# resumed writes the same weights as an uninterrupted one; skipped pairs are counted and
# named; bad options exit 2 and errors leave nothing at --out.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
BUILD=${CS_BUILD_DIR:-build}
EXEC=${CS_TEST_EXEC:-}
GEN=$BUILD/cs_index_testimages
CKPT=$BUILD/cs_gen_checkpoint
command -v jq >/dev/null || { echo "SKIP: jq needed to read JSON"; exit 77; }
[ -x "$BIN" ] && [ -x "$GEN" ] && [ -x "$CKPT" ] || { echo "SKIP: $BIN, $GEN or $CKPT not built"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }
ft() { $EXEC "$BIN" finetune --model "$TMP/model" "$@"; }
export CS_TOOLS=$(realpath "${CS_SOURCE_DIR:-.}")/tests/tools   # safetensors_read.py

$EXEC "$CKPT" --out "$TMP/model" --preset tiny --seed 3 || die "cs_gen_checkpoint"
mkdir -p "$TMP/data/img"
words=(red green blue dog cat boat tree house car bird sun moon road hill lake rock)
for i in $(seq 0 15); do
    $EXEC "$GEN" jpg "$TMP/data/img/$i.jpg" 64 48 $((i + 1)) || die "image $i"
    printf 'img/%d.jpg\ta %s picture number %d\n' "$i" "${words[$i]}" "$i" >>"$TMP/data/pairs.tsv"
    printf '{"image": "img/%d.jpg", "text": "a %s picture number %d"}\n' "$i" "${words[$i]}" "$i" >>"$TMP/data/pairs.jsonl"
done
P=$TMP/data/pairs.tsv
TRAIN=(--val "$P" --epochs 300 --lr 0.02 --batch 8 --seed 5 --json)

# --- acceptance: training lowers the loss and improves recall@1 --------------------------
ft --pairs "$P" --out "$TMP/out" "${TRAIN[@]}" >"$TMP/run.jsonl" 2>"$TMP/err" || die "finetune: $(cat "$TMP/err")"
jq -se '
  (map(select(has("epoch")))) as $e
  | ($e | length) == 301 and $e[0].epoch == 0 and $e[-1].epoch == 300
  and $e[-1].train_loss < 0.5 * $e[0].train_loss
  and $e[-1].val_loss < 0.5 * $e[0].val_loss
  and $e[-1].val_recall_1 >= 0.75 and $e[-1].val_recall_1 > $e[0].val_recall_1 + 0.5
  and $e[-1].val_i2t_recall_1 > $e[0].val_i2t_recall_1 + 0.3
  and ($e[-1].steps == 600)' "$TMP/run.jsonl" >/dev/null ||
    die "training did not learn: $(jq -c '[.epoch, .train_loss, .val_loss, .val_recall_1, .val_i2t_recall_1]' "$TMP/run.jsonl" | sed -n '1p;$p' | tr '\n' ' ')"
jq -se '.[-1] | .n_train == 16 and .n_val == 16 and .n_skipped == 0 and .n_images == 16 and .first_epoch == 1' \
    "$TMP/run.jsonl" >/dev/null || die "summary: $(tail -1 "$TMP/run.jsonl")"
for f in config.json model.safetensors vocab.json merges.txt preprocessor_config.json; do
    [ -s "$TMP/out/$f" ] || die "output lacks $f"
done
[ ! -e "$TMP/out.partial" ] || die "resume state left behind"
ls -d "$TMP"/out.tmp-* >/dev/null 2>&1 && die "temporary folder left behind"
$EXEC "$BIN" model info --model "$TMP/out" | grep -q 'stored F32' || die "model info on the output"
emb() { $EXEC "$BIN" embed --model "$1" --text "a dog picture number 3" --image "$TMP/data/img/3.jpg" | jq -c .embedding; }
emb "$TMP/model" >"$TMP/e0" && emb "$TMP/out" >"$TMP/e1" || die "embed with the output model"
[ "$(wc -l <"$TMP/e1")" = 2 ] && ! cmp -s "$TMP/e0" "$TMP/e1" || die "the output embeds like the input"

# JSON lines give the same run (same pairs, same order).
ft --pairs "$TMP/data/pairs.jsonl" --out "$TMP/outj" --val "$TMP/data/pairs.jsonl" --epochs 300 \
    --lr 0.02 --batch 8 --seed 5 --json >"$TMP/runj.jsonl" 2>"$TMP/err" || die "jsonl: $(cat "$TMP/err")"
cmp -s "$TMP/out/model.safetensors" "$TMP/outj/model.safetensors" || die "TSV and JSON lines runs differ"

# Text->image loss with plain SGD and a linear decay: runs, learns, the rate reaches 0.
ft --pairs "$P" --out "$TMP/outs" --val "$P" --epochs 100 --batch 8 --loss mnrl --optimizer sgd \
    --lr 1 --schedule linear --json >"$TMP/runs.jsonl" 2>"$TMP/err" || die "mnrl/sgd: $(cat "$TMP/err")"
jq -se 'map(select(has("epoch"))) | .[-1].val_loss < .[0].val_loss - 0.02 and .[-1].lr < 0.01 and .[1].lr > 0.9' \
    "$TMP/runs.jsonl" >/dev/null || die "mnrl/sgd did not learn: $(sed -n '1p;101p' "$TMP/runs.jsonl")"

# --- a synthetic task, held-out images ----------------------------------------------------
# Captions say what the picture shows ("a red circle"): 4 colours x 2 shapes, noisy
# backgrounds and positions, 6 training and 2 held-out images of each kind. Training the
# heads must carry over to the held-out images: image -> text recall@1 among the 8
# captions well above chance (1/8), the validation loss well down (averaged over the last
# 10 epochs: the margin, not a tuned number).
mkdir -p "$TMP/syn"
python3 - "$TMP/syn" <<'PY' || die "synthetic images"
import os, random, struct, sys
os.chdir(sys.argv[1])
random.seed(1)
colors = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 50, 220), "yellow": (230, 220, 30)}
def bmp(path, w, h, px):
    row = (w * 3 + 3) & ~3
    data = bytearray()
    for y in range(h - 1, -1, -1):
        for x in range(w):
            r, g, b = px(x, y)
            data += bytes((b, g, r))
        data += b"\0" * (row - w * 3)
    open(path, "wb").write(b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54) +
                           struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0) + data)
train, val, i = open("train.tsv", "w"), open("val.tsv", "w"), 0
for cname, fg in colors.items():
    for shape in ("circle", "square"):
        for k in range(8):
            bg = (random.randint(0, 60),) * 3
            cx, cy, r = random.randint(20, 44), random.randint(16, 32), random.randint(8, 14)
            def px(x, y):
                inside = ((x - cx) ** 2 + (y - cy) ** 2 <= r * r if shape == "circle"
                          else abs(x - cx) <= r and abs(y - cy) <= r)
                n = random.randint(-15, 15)
                return tuple(max(0, min(255, v + n)) for v in (fg if inside else bg))
            bmp(f"img{i}.bmp", 64, 48, px)
            (val if k >= 6 else train).write(f"img{i}.bmp\ta {cname} {shape}\n")
            i += 1
PY
ft --pairs "$TMP/syn/train.tsv" --val "$TMP/syn/val.tsv" --out "$TMP/synout" --epochs 100 --lr 0.01 \
    --batch 16 --seed 2 --json >"$TMP/syn.jsonl" 2>"$TMP/err" || die "synthetic task: $(cat "$TMP/err")"
jq -se 'map(select(has("epoch"))) as $e | ($e[-10:]) as $t
  | $e[0].n_val == 16 and $e[0].val_i2t_recall_1 <= 0.25
  and ([$t[].val_i2t_recall_1] | add / length) >= $e[0].val_i2t_recall_1 + 0.35
  and ([$t[].val_loss] | add / length) < 0.6 * $e[0].val_loss' "$TMP/syn.jsonl" >/dev/null ||
    die "held-out synthetic task not learnt: $(jq -c '[.epoch, .val_loss, .val_i2t_recall_1]' "$TMP/syn.jsonl" | sed -n '1p;101p' | tr '\n' ' ')"

# --- interrupted and resumed = uninterrupted ---------------------------------------------
# The run writes one JSON line per epoch into a FIFO that we stop reading after epoch 1
# (its state is saved before the line is written): 600 lines of ~230 bytes overflow the pipe (64 KiB at most by default), so it
# blocks before its last epoch and SIGINT always finds it unfinished, whatever the
# machine's speed. (Started directly, not through ft, so that $! is its pid.)
R=(--model "$TMP/model" --pairs "$P" --val-split 0.25 --epochs 600 --lr 0.01 --batch 4 --schedule cosine --warmup-steps 10 --seed 9 --json)
$EXEC "$BIN" finetune "${R[@]}" --out "$TMP/ref" >/dev/null 2>"$TMP/err" || die "reference run: $(cat "$TMP/err")"
mkfifo "$TMP/fifo"
$EXEC "$BIN" finetune "${R[@]}" --out "$TMP/res" >"$TMP/fifo" 2>"$TMP/err" &
pid=$!
exec 3<"$TMP/fifo"
read -r _ <&3 && read -r _ <&3 || die "no line for epochs 0 and 1"
kill -INT $pid
cat <&3 >/dev/null
exec 3<&-
wait $pid
rc=$?
[ $rc -eq 130 ] || die "interrupted run: status $rc, $(cat "$TMP/err")"
grep -q 'interrupted in epoch' "$TMP/err" && grep -q -- '(--resume continues the run)' "$TMP/err" ||
    die "interrupt message: $(cat "$TMP/err")"
[ ! -e "$TMP/res" ] && [ -s "$TMP/res.partial" ] || die "after the interruption: no state, or an output"
$EXEC "$BIN" finetune "${R[@]}" --out "$TMP/res" >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q -- '--resume' "$TMP/err" || die "existing state without --resume: $rc $(cat "$TMP/err")"
$EXEC "$BIN" finetune "${R[@]}" --out "$TMP/res" --resume >"$TMP/resumed.jsonl" 2>"$TMP/err" || die "resume: $(cat "$TMP/err")"
jq -se '.[-1].first_epoch > 1' "$TMP/resumed.jsonl" >/dev/null || die "resume started over: $(tail -1 "$TMP/resumed.jsonl")"
cmp -s "$TMP/ref/model.safetensors" "$TMP/res/model.safetensors" || die "resumed run differs from the uninterrupted one"
[ ! -e "$TMP/res.partial" ] || die "state left after the resumed run"

# --- --train last:K: the towers' last layers and final norms train too -------------------
ft --pairs "$P" --out "$TMP/outk" --val "$P" --train last:1 --epochs 40 --lr 0.003 --batch 8 --seed 5 \
    --json >"$TMP/runk.jsonl" 2>"$TMP/err" || die "last:1: $(cat "$TMP/err")"
jq -se 'map(select(has("epoch"))) | .[-1].train_loss < 0.7 * .[0].train_loss
        and .[-1].val_recall_1 >= .[0].val_recall_1' "$TMP/runk.jsonl" >/dev/null ||
    die "last:1 did not learn: $(jq -c '[.epoch, .train_loss, .val_recall_1]' "$TMP/runk.jsonl" | sed -n '1p;41p' | tr '\n' ' ')"
# What trained changed in the checkpoint, what did not stayed bit for bit: the tiny model
# has 2 layers per tower, so layer 1 and the final norms train, layer 0 and the
# embeddings do not.
python3 - "$TMP/model/model.safetensors" "$TMP/outk/model.safetensors" <<'PY' || die "last:1 checkpoint tensors"
import os, sys
sys.path.insert(0, os.environ["CS_TOOLS"])
from safetensors_read import raw as tensors
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys(), set(a) ^ set(b)
changed = {k for k in a if a[k] != b[k]}
for tower in ("vision_model", "text_model"):
    for part in ("layer_norm1.weight", "self_attn.q_proj.weight", "self_attn.k_proj.bias",
                 "self_attn.out_proj.weight", "mlp.fc1.weight", "mlp.fc2.bias"):
        assert f"{tower}.encoder.layers.1.{part}" in changed, (tower, part)
        assert f"{tower}.encoder.layers.0.{part}" not in changed, (tower, part)
assert {"vision_model.post_layernorm.weight", "text_model.final_layer_norm.bias",
        "visual_projection.weight", "text_projection.weight"} <= changed
assert not {k for k in changed if "embed" in k or "pre_layrnorm" in k or k == "logit_scale"}, changed
PY
# --st-layout: sentence-transformers' folder (modules.json -> 0_CLIPModel), the same
# weights as the plain layout, and --model reads it.
ft --pairs "$P" --out "$TMP/outst" --val "$P" --train last:1 --epochs 40 --lr 0.003 --batch 8 --seed 5 \
    --st-layout --quiet >/dev/null 2>"$TMP/err" || die "--st-layout: $(cat "$TMP/err")"
jq -e 'length == 1 and .[0].path == "0_CLIPModel" and .[0].type == "sentence_transformers.models.CLIPModel"' \
    "$TMP/outst/modules.json" >/dev/null || die "modules.json: $(cat "$TMP/outst/modules.json")"
cmp -s "$TMP/outk/model.safetensors" "$TMP/outst/0_CLIPModel/model.safetensors" || die "--st-layout weights differ"
[ -s "$TMP/outst/0_CLIPModel/config.json" ] && [ -s "$TMP/outst/0_CLIPModel/vocab.json" ] || die "--st-layout files"
emb "$TMP/outk" >"$TMP/ek" && emb "$TMP/outst" >"$TMP/est" && cmp -s "$TMP/ek" "$TMP/est" || die "--model on the st layout"
# --train all: every weight but logit_scale, the embeddings included.
ft --pairs "$P" --out "$TMP/outall" --val "$P" --train all --epochs 20 --lr 0.002 --batch 8 --seed 5 \
    --json >"$TMP/runall.jsonl" 2>"$TMP/err" || die "--train all: $(cat "$TMP/err")"
jq -se 'map(select(has("epoch"))) | .[-1].train_loss < 0.8 * .[0].train_loss' "$TMP/runall.jsonl" >/dev/null ||
    die "--train all did not learn: $(jq -c '[.epoch, .train_loss]' "$TMP/runall.jsonl" | sed -n '1p;21p' | tr '\n' ' ')"
python3 - "$TMP/model/model.safetensors" "$TMP/outall/model.safetensors" <<'PY' || die "--train all checkpoint tensors"
import os, sys
sys.path.insert(0, os.environ["CS_TOOLS"])
from safetensors_read import raw as tensors
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
same = {k for k in a if a[k] == b[k]}
# logit_scale stays; the keys' biases have no gradient (plain AdamW decay still moves them).
assert "logit_scale" in same, same
for k in ("vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.class_embedding",
          "vision_model.embeddings.position_embedding.weight", "vision_model.pre_layrnorm.weight",
          "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
          "vision_model.encoder.layers.0.mlp.fc1.weight", "text_model.encoder.layers.0.self_attn.q_proj.weight"):
    assert k not in same, k
PY
# On a terminal a progress line per step (epoch, bar, step, loss); never in a pipe.
if command -v script >/dev/null; then
    script -qec "$EXEC $BIN finetune --model $TMP/model --pairs $P --out $TMP/outbar --train last:1 --epochs 2 --batch 4 --val-split 0" \
        /dev/null >"$TMP/tty.out" 2>&1 || die "finetune on a terminal: $(cat "$TMP/tty.out")"
    grep -q 'epoch 2/2 \[#*\.*\] [0-9]*/4  loss [0-9.]* (mean [0-9.]*)' "$TMP/tty.out" ||
        die "no progress line on a terminal: $(cat -v "$TMP/tty.out" | head -5)"
fi
grep -q '\[#' "$TMP/err" "$TMP/runk.jsonl" && die "a progress line went to a pipe"
ft --pairs "$P" --out "$TMP/outk9" --train last:9 --epochs 1 >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'cannot train its last 9 layers (it has 2)' "$TMP/err" && [ ! -e "$TMP/outk9" ] ||
    die "last:9 on a 2-layer model: $rc $(cat "$TMP/err")"

# --- skipped pairs, errors --------------------------------------------------------------
cp "$P" "$TMP/data/skip.tsv"
printf 'img/missing.jpg\ta missing picture\n' >>"$TMP/data/skip.tsv"
printf 'not an image' >"$TMP/data/img/bad.jpg"
printf 'img/bad.jpg\tan undecodable picture\n' >>"$TMP/data/skip.tsv"
ft --pairs "$TMP/data/skip.tsv" --out "$TMP/skip" --epochs 1 --json >"$TMP/out.jsonl" 2>"$TMP/err" || die "run with skipped pairs: $(cat "$TMP/err")"
jq -se '.[-1].n_skipped == 2' "$TMP/out.jsonl" >/dev/null || die "skip count: $(tail -1 "$TMP/out.jsonl")"
grep -q 'skip.tsv:17: .*missing.jpg' "$TMP/err" && grep -q 'skip.tsv:18: .*bad.jpg' "$TMP/err" || die "skip warnings: $(cat "$TMP/err")"

printf 'img/missing.jpg\tx\nimg/bad.jpg\ty\n' >"$TMP/data/none.tsv"
ft --pairs "$TMP/data/none.tsv" --out "$TMP/none" 2>"$TMP/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q '0 usable training pairs (2 skipped)' "$TMP/err" || die "nothing usable: $rc $(cat "$TMP/err")"
[ ! -e "$TMP/none" ] && [ ! -e "$TMP/none.partial" ] || die "output written on error"
printf 'img/1.jpg\tok\nno tab\n' >"$TMP/data/malformed.tsv"
ft --pairs "$TMP/data/malformed.tsv" --out "$TMP/none" 2>"$TMP/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q 'malformed.tsv:2:' "$TMP/err" || die "malformed line: $rc $(cat "$TMP/err")"
ft --pairs "$P" --out "$TMP/out" --epochs 1 2>"$TMP/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q 'not empty' "$TMP/err" || die "occupied --out: $rc $(cat "$TMP/err")"
cmp -s "$TMP/out/model.safetensors" "$TMP/outj/model.safetensors" || die "occupied --out was modified"

ft --pairs "$P" --out "$TMP/no/such/dir" --epochs 1 2>"$TMP/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q 'does not exist' "$TMP/err" && ! grep -q caching "$TMP/err" ||
    die "--out in a missing folder: $rc $(cat "$TMP/err")"

usage() {  # ARGS...: must be a usage error (exit 2) that writes nothing
    ft "$@" >/dev/null 2>"$TMP/err"; local rc=$?
    [ $rc -eq 2 ] || die "finetune $*: status $rc (want 2): $(cat "$TMP/err")"
}
usage --pairs "$P" --out "$TMP/u" --train last:0
usage --pairs "$P" --out "$TMP/u" --train last:x
usage --pairs "$P" --out "$TMP/u" --train everything
usage --pairs "$P"
usage --out "$TMP/u"
usage --pairs "$P" --out "$TMP/u" --batch 1
usage --pairs "$P" --out "$TMP/u" --lr 0
usage --pairs "$P" --out "$TMP/u" --lr abc
usage --pairs "$P" --out "$TMP/u" --epochs 0
usage --pairs "$P" --out "$TMP/u" --loss triplet
usage --pairs "$P" --out "$TMP/u" --optimizer adam
usage --pairs "$P" --out "$TMP/u" --schedule step
usage --pairs "$P" --out "$TMP/u" --val-split 1
usage --pairs "$P" --out "$TMP/u" --val "$P" --val-split 0.2
usage --pairs "$P" --out "$TMP/u" --scale -1
usage --pairs "$P" --out "$TMP/u" --bogus
usage --pairs "$P" --out "$TMP/u" extra
[ ! -e "$TMP/u" ] || die "a usage error wrote --out"
$EXEC "$BIN" finetune --help | grep -q -- '--pairs FILE' || die "--help"
$EXEC "$BIN" --help 2>&1 | grep -q finetune || die "finetune missing from the command list"

[ $fail -eq 0 ] && echo "finetune_cli: all passed"
exit $fail
