#!/bin/bash
# `clipsearch embed`: JSON-lines format, argument order, --raw vs normalised, golden
# agreement for images (tiny fixture) and texts, --no-exif-orientation, model resolution
# (--model > CLIPSEARCH_MODEL) and error reporting.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
SRC=${CS_SOURCE_DIR:-.}
T=$SRC/tests/fixtures/tiny
command -v python3 >/dev/null || { echo "SKIP: python3 needed to check JSON"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

# Images in golden order; JPEGs both as files (libjpeg-turbo decode) and as the
# lossless PIL decodes (must match exactly like PNGs).
args=()
for f in $(python3 -c "import json;print(' '.join(json.load(open('$T/images/index.json'))))"); do
    if [[ $f == *.jpg ]]; then args+=(--image "$T/images/decoded/${f%.jpg}.png"); else args+=(--image "$T/images/$f"); fi
done
"$BIN" embed --model "$T/model" --raw --no-exif-orientation "${args[@]}" >"$TMP/raw.jsonl" 2>"$TMP/err" || die "embed --raw failed: $(cat "$TMP/err")"
"$BIN" embed --model "$T/model" --no-exif-orientation "${args[@]}" >"$TMP/norm.jsonl" 2>"$TMP/err" || die "embed failed: $(cat "$TMP/err")"
jpgs=()
for f in shapes_baseline_300x500 photo_progressive_640x427 portrait_444_480x640 exif_orient6_320x240 gray_baseline_400x300; do jpgs+=(--image "$T/images/$f.jpg"); done
"$BIN" embed --model "$T/model" --raw --no-exif-orientation "${jpgs[@]}" >"$TMP/jpg.jsonl" 2>"$TMP/err" || die "embed jpg failed: $(cat "$TMP/err")"
"$BIN" embed --model "$T/model" --raw --image "$T/images/exif_orient6_320x240.jpg" >"$TMP/exif.jsonl" 2>"$TMP/err" || die "embed exif failed"

python3 - "$T" "$TMP" <<'PY' || fail=1
import json, math, re, sys
T, TMP = sys.argv[1], sys.argv[2]
g = json.load(open(f"{T}/golden.json"))
gm = g["models"]["model"]
names = json.load(open(f"{T}/images/index.json"))
bad = 0
def rows(p):
    out = []
    for line in open(p):
        o = json.loads(line)
        assert set(o) == {"kind", "input", "embedding"}, o.keys()
        assert o["kind"] == "image"
        out.append(o)
    return out
def cmp(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    cos = dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    return cos, max(abs(x - y) for x, y in zip(a, b))
raw, norm = rows(f"{TMP}/raw.jsonl"), rows(f"{TMP}/norm.jsonl")
if len(raw) != 13 or len(norm) != 13: print("FAIL: expected 13 lines"); sys.exit(1)
for i, (r, n) in enumerate(zip(raw, norm)):
    stem = names[i].rsplit(".", 1)[0]
    if stem not in r["input"]: print("FAIL: order", i, r["input"]); bad += 1
    cos, mx = cmp(r["embedding"], gm["image_embeds"][i])
    if cos < 0.999999 or mx > 1e-4: print(f"FAIL: image {i} raw cos {cos} max {mx}"); bad += 1
    nn = math.sqrt(sum(x * x for x in n["embedding"]))
    cos2, mx2 = cmp(n["embedding"], gm["image_embeds_normalized"][i])
    if abs(nn - 1) > 1e-6 or mx2 > 1e-5: print(f"FAIL: image {i} normalised norm {nn} max {mx2}"); bad += 1
# at least 9 significant digits for non-trivial values
line = open(f"{TMP}/raw.jsonl").readline()
nums = re.findall(r"-?\d+\.\d+(?:e-?\d+)?", line)
short = [x for x in nums if len(re.sub(r"[-.]|e.*|^[-0.]+", "", x)) < 9]
if len(short) > len(nums) // 4: print("FAIL: too few digits", short[:5]); bad += 1
idx = {n: i for i, n in enumerate(names)}
for o in rows(f"{TMP}/jpg.jsonl"):
    f = o["input"].rsplit("/", 1)[1]
    cos, mx = cmp(o["embedding"], gm["image_embeds"][idx[f]])
    if cos < 0.999: print(f"FAIL: jpeg {f} cos {cos}"); bad += 1
e = rows(f"{TMP}/exif.jsonl")[0]
cos, _ = cmp(e["embedding"], gm["image_embeds"][idx["exif_orient6_320x240.jpg"]])
if cos > 0.9999: print(f"FAIL: EXIF orientation not applied by default (cos {cos})"); bad += 1
sys.exit(1 if bad else 0)
PY

# Texts (needs the tokenizer): mixed order, golden text embeddings.
if "$BIN" embed --model "$T/model" --raw --text "a photo of a cat" --image "$T/images/noise_rgb_224x224.png" --text "a diagram" >"$TMP/mix.jsonl" 2>"$TMP/err"; then
    python3 - "$T" "$TMP" <<'PY' || fail=1
import json, math, sys
T, TMP = sys.argv[1], sys.argv[2]
g = json.load(open(f"{T}/golden.json")); gm = g["models"]["model"]
texts = [t["text"] for t in g["texts"]]
rows = [json.loads(l) for l in open(f"{TMP}/mix.jsonl")]
want = [("text", "a photo of a cat"), ("image", None), ("text", "a diagram")]
bad = 0
for r, (k, inp) in zip(rows, want):
    if r["kind"] != k or (inp and r["input"] != inp): print("FAIL: order/kind", r["kind"], r["input"]); bad += 1
for r in (rows[0], rows[2]):
    gv = gm["text_embeds"][texts.index(r["input"])]
    a = r["embedding"]
    cos = sum(x * y for x, y in zip(a, gv)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in gv))
    if cos < 0.999999: print("FAIL: text", r["input"], cos); bad += 1
sys.exit(1 if bad or len(rows) != 3 else 0)
PY
else
    die "embed --text failed: $(cat "$TMP/err")"
fi

# Model resolution: CLIPSEARCH_MODEL, overridden by --model; sentence-transformers folder.
CLIPSEARCH_MODEL="$T/model" "$BIN" embed --raw --image "$T/images/small_31x17.png" >"$TMP/env.jsonl" 2>/dev/null || die "CLIPSEARCH_MODEL not used"
CLIPSEARCH_MODEL=/nonexistent "$BIN" embed --model "$T/model" --raw --image "$T/images/small_31x17.png" >"$TMP/env2.jsonl" 2>/dev/null || die "--model does not override CLIPSEARCH_MODEL"
cmp -s "$TMP/env.jsonl" "$TMP/env2.jsonl" || die "env and --model outputs differ"
"$BIN" embed --model "$T/st-layout" --image "$T/images/small_31x17.png" >/dev/null 2>&1 || die "sentence-transformers folder"

# Errors: category on stderr, non-zero exit, nothing on stdout.
out=$(CLIPSEARCH_MODEL= XDG_CACHE_HOME="$TMP/cache" "$BIN" embed --image "$T/images/small_31x17.png" 2>"$TMP/err"); rc=$?
[[ $rc -ne 0 && -z $out ]] || die "missing default model: rc=$rc"
grep -q "^clipsearch: ModelError: .*clipsearch model download" "$TMP/err" || die "missing model message: $(cat "$TMP/err")"
"$BIN" embed --model "$T/model" --image "$TMP/absent.png" >"$TMP/o" 2>"$TMP/err"; rc=$?
[[ $rc -ne 0 && ! -s "$TMP/o" ]] && grep -q "^clipsearch: IOError: .*absent.png" "$TMP/err" || die "absent image: $(cat "$TMP/err")"
"$BIN" embed --model "$T/model" --bogus >/dev/null 2>&1; [[ $? -eq 2 ]] || die "unknown option should exit 2"
"$BIN" embed --model "$T/model" >/dev/null 2>&1; [[ $? -eq 2 ]] || die "no inputs should exit 2"
"$BIN" embed --model "$T/model" --image >/dev/null 2>&1; [[ $? -eq 2 ]] || die "--image without value should exit 2"
cp -r "$T/model" "$TMP/broken" && rm "$TMP/broken/merges.txt"
"$BIN" embed --model "$TMP/broken" --image "$T/images/small_31x17.png" >/dev/null 2>"$TMP/err"
grep -q "^clipsearch: ModelError: .*merges.txt is missing" "$TMP/err" || die "incomplete model: $(cat "$TMP/err")"

[[ $fail -eq 0 ]] && echo "clip_cli_embed: OK"
exit $fail
