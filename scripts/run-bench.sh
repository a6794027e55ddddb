#!/usr/bin/env bash
# Benchmarks: `make bench` runs `./scripts/run-bench.sh build`.
#
# The script is a sequence of sections. Each section is a function named section_<name>
# that uses $BUILD (the build folder) and $WORK (a scratch folder under /tmp, removed at
# the end); register it by appending its name to SECTIONS. Run a subset with
# BENCH_SECTIONS="clip image" ./scripts/run-bench.sh build. A failing section is
# reported and the others still run; the exit status is non-zero if any failed.
set -uo pipefail

BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd) || { echo "run-bench: no build folder '$1'" >&2; exit 2; }
WORK=$(mktemp -d /tmp/clipsearch-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SECTIONS=()

# --- clip: CLIP inference engine (bench/bench_clip.c) ----------------------------------
# A full-size random ViT-B/32 (same architecture and cost as openai/clip-vit-base-patch32;
# ~600 MB, generated in a second, never committed), measured with 1 and 2 BLAS threads.
section_clip() {
    local model="$WORK/vit-b-32"
    "$BUILD/cs_gen_checkpoint" --preset vit-b-32 --seed 1 --out "$model" || return 1
    # Each engine and precision side by side in one run; each bench_clip prints its own
    # GEMM-only ceiling (same engine, same shapes) and the ratio to it; bf16 also prints its
    # agreement with fp32. bf16 is skipped (with the reason) where the CPU has no bf16.
    # The peer: Debian's PyTorch on the same checkpoint (bench/torch_clip.py), installed
    # here if missing and possible (tests never need it).
    local torch_py=/usr/bin/python3
    if ! "$torch_py" -c 'import torch' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "(installing python3-torch for the peer comparison)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch \
            >"$WORK/torch-install.log" 2>&1 || echo "(python3-torch could not be installed)"
    fi
    for t in 1 2; do
        local out="$WORK/clip-$t"
        : >"$out"
        for cfg in "--gemm openblas" "--gemm auto --precision fp32" "--gemm auto --precision bf16"; do
            # shellcheck disable=SC2086
            "$BUILD/bench_clip" --model "$model" --threads "$t" --runs "${BENCH_CLIP_RUNS:-5}" $cfg |
                tee -a "$out" || [[ $cfg == *bf16* ]] || return 1
            echo
        done
        if "$torch_py" -c 'import torch' 2>/dev/null; then
            "$torch_py" "$(dirname "$0")/../bench/torch_clip.py" --model "$model" --threads "$t" \
                --runs "${BENCH_CLIP_RUNS:-5}" | tee -a "$out"
            # Ratios to PyTorch: engine lines and images/s lines in order of appearance.
            awk '/^engine/ {e=$2" "$3} /^pytorch/ {e="pytorch"}
                 /^images\/s batch 32/ {v[e]=$4} /^images\/s batch 1 / {w[e]=$4}
                 END { p=v["pytorch"]; q=w["pytorch"]; if (p > 0) for (k in v) if (k != "pytorch")
                       printf "vs pytorch, %d threads: %-14s batch 32 %.1fx, batch 1 %.1fx\n", T, k, v[k]/p, w[k]/q }' \
                T="$t" "$out"
        else
            echo "PyTorch: not installed here, no comparison"
        fi
        echo
    done
    rm -rf "$model"
}
SECTIONS+=(clip)

# --- search: cold `clipsearch search "TEXT"` over 100k records (bench/bench_search.c) ---
# Random unit vectors (dim 512) in a SQLite collection, a full-size random ViT-B/32;
# process start to exit, with the files in the page cache and evicted (--evict).
section_search() {
    local model="$WORK/search-vit-b-32"
    "$BUILD/cs_gen_checkpoint" --preset vit-b-32 --seed 1 --out "$model" >/dev/null || return 1
    "$BUILD/bench_search" --model "$model" --db "$WORK/search.db" --clipsearch "$BUILD/clipsearch" \
        --n "${BENCH_SEARCH_N:-100000}" --runs "${BENCH_SEARCH_RUNS:-5}" || return 1
    "$BUILD/bench_search" --model "$model" --db "$WORK/search.db" --clipsearch "$BUILD/clipsearch" \
        --n "${BENCH_SEARCH_N:-100000}" --runs 3 --evict || return 1
    rm -rf "$model" "$WORK/search.db"
}
SECTIONS+=(search)

# --- serve: searches while a page of thumbnails loads (bench/bench_serve.c) -------------
# Ten 6000x4000 JPEGs (cs_index_testimages: gradients and noise, ~10 MB each) indexed with
# a full-size random ViT-B/32; search latency alone, while their 256-px thumbnails load
# on 6 connections with a cold and a warm thumbnail cache, and with 64 slow clients open.
section_serve() {
    local model="$WORK/serve-vit-b-32" photos="$WORK/serve-photos"
    "$BUILD/cs_gen_checkpoint" --preset vit-b-32 --seed 1 --out "$model" >/dev/null || return 1
    mkdir -p "$photos"
    for i in $(seq 1 10); do "$BUILD/cs_index_testimages" jpg "$photos/p$i.jpg" 6000 4000 "$i" || return 1; done
    "$BUILD/clipsearch" index "$photos" --db "$WORK/serve.db" --model "$model" --quiet || return 1
    "$BUILD/bench_serve" --clipsearch "$BUILD/clipsearch" --db "$WORK/serve.db" --model "$model" \
        --photos "$photos" --runs "${BENCH_SERVE_RUNS:-9}" || return 1
    rm -rf "$model" "$photos" "$WORK/serve.db"
}
SECTIONS+=(serve)

# --- store: SQLite vector store (bench/bench_store.c) vs faiss IndexFlatIP -------------
# Upsert rate and exact top-10 latency (median, p95) with and without a metadata filter,
# for 100k, 1M and 5M x 512-d clustered unit vectors (BENCH_STORE_SIZES to change; at 5M
# the vectors are streamed and HNSW is not built, see bench_store.c), then
# faiss's exact IndexFlatIP on the same data (Debian python3-faiss, installed here when
# missing and possible; never needed by the tests).
section_store() {
    # Debian's python3-faiss lives in the system interpreter, which another python3 on
    # PATH (pyenv, venv) may shadow.
    local py=python3
    [ -x /usr/bin/python3 ] && py=/usr/bin/python3
    if ! "$py" -c 'import faiss, numpy' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-faiss python3-numpy >/dev/null 2>&1 ||
                echo "(could not install python3-faiss)"
        else
            echo "(python3-faiss not installed and not root: run apt-get install python3-faiss)"
        fi
    fi
    local n dir big
    for n in ${BENCH_STORE_SIZES:-100000 1000000 5000000}; do
        dir="$WORK/store-$n"
        mkdir -p "$dir"
        # Over 1M the vectors are streamed into the store (on any machine: the numbers
        # then mean the same everywhere), and faiss, which would hold them twice (numpy
        # array and index), is not run.
        big=0
        [ "$n" -gt 1000000 ] && big=1
        if [ $big = 1 ]; then
            "$BUILD/bench_store" --n "$n" --dim 512 --queries "${BENCH_STORE_QUERIES:-200}" \
                --db "$dir/bench.db" --stream 1 || return 1
        else
            "$BUILD/bench_store" --n "$n" --dim 512 --queries "${BENCH_STORE_QUERIES:-200}" \
                --db "$dir/bench.db" --stream 0 --dump "$dir" || return 1
        fi
        if [ $big = 1 ]; then
            echo "faiss: no comparison over 1M records (it would hold the vectors twice)"
        elif "$py" -c 'import faiss, numpy' 2>/dev/null; then
            "$py" "$(dirname "$0")/../bench/faiss_compare.py" "$dir" 512 || return 1
        else
            echo "faiss: not available, no comparison"
        fi
        rm -rf "$dir"
        echo
    done
}
SECTIONS+=(store)

# --- duplicates: all-pairs grouping of `clipsearch duplicates` (bench/bench_duplicates.c) ---
# 100k random 512-d unit vectors with planted near and exact copies; median of 3 runs,
# with the default pass (int8 prefilter where oneDNN is built in) and the float pass.
section_duplicates() {
    "$BUILD/bench_duplicates" --n "${BENCH_DUP_N:-100000}" --dim 512 --runs "${BENCH_DUP_RUNS:-3}" || return 1
    "$BUILD/bench_duplicates" --n "${BENCH_DUP_N:-100000}" --dim 512 --runs "${BENCH_DUP_RUNS:-3}" --float
}
SECTIONS+=(duplicates)

# --- tokenizer: CLIP BPE tokenizer (bench/bench_tokenizer.c) ----------------------------
# Load time and texts/s with the real CLIP vocabulary from shared/reference when present
# (else the tiny fixture's).
section_tokenizer() {
    CS_SHARED_DIR=${CS_SHARED_DIR:-$(dirname "$0")/../../shared} \
        CS_SOURCE_DIR=$(dirname "$0")/.. "$BUILD/bench_tokenizer" --seconds 1
}
SECTIONS+=(tokenizer)

# --- index: end-to-end `clipsearch index` vs the embed-only rate (bench/bench_index.c) ---
# The 263 real photos of shared/data/get-dev-images.sh (fetched into /tmp/imgcorpus from
# Debian packages when missing; BENCH_INDEX_IMAGES to use another folder) with a full-size
# random ViT-B/32: embed-only images/s (pre-decoded, model calls only), end-to-end
# indexing images/s into a fresh SQLite file, their ratio, peak RSS, and the unchanged
# re-run (embed-only and index runs alternate, medians reported: the machine may be
# shared). Aims: ratio >= 0.8, peak RSS < 1 GiB.
section_index() {
    local images=${BENCH_INDEX_IMAGES:-/tmp/imgcorpus/dev}
    if [ ! -d "$images" ]; then
        local get
        get="$(cd "$(dirname "$0")/.." && pwd)/../shared/data/get-dev-images.sh"
        [ -x "$get" ] || get="bash $get"
        $get /tmp/imgcorpus >"$WORK/get-images.log" 2>&1 ||
            { echo "cannot fetch the photo corpus (see get-dev-images.sh):"; tail -3 "$WORK/get-images.log"; return 1; }
    fi
    local model="$WORK/index-vit-b-32"
    "$BUILD/cs_gen_checkpoint" --preset vit-b-32 --seed 1 --out "$model" >/dev/null || return 1
    "$BUILD/bench_index" --model "$model" --images "$images" --db "$WORK/index.db" \
        --rounds "${BENCH_INDEX_ROUNDS:-3}" || return 1
    echo
    # --fast: bf16 (where the CPU has it) and fast JPEG decoding, with the agreement of its
    # embeddings with the exact path on the same photos.
    local prec=fp32
    "$BUILD/clipsearch" model info --model "$model" | grep -q "bf16 available" && prec=bf16
    "$BUILD/bench_index" --model "$model" --images "$images" --db "$WORK/index.db" \
        --rounds "${BENCH_INDEX_ROUNDS:-3}" --precision "$prec" --fast-decode on || return 1
    rm -rf "$model" "$WORK"/index.db*
}
SECTIONS+=(index)

# --- finetune: what each --train costs on the full-size model -------------------------------
# A random ViT-B/32, 64 generated 320x240 JPEG/caption pairs, batch 32, one
# epoch (2 steps) of heads, last:2 and all on every core: seconds per step (the epoch's time, which
# includes the evaluation's forward pass over the pairs, over its steps) and peak RSS.
section_finetune() {
    local model="$WORK/ft-vit-b-32" data="$WORK/ft"
    "$BUILD/cs_gen_checkpoint" --preset vit-b-32 --seed 1 --out "$model" >/dev/null || return 1
    mkdir -p "$data/img"
    for i in $(seq 0 63); do
        "$BUILD/cs_index_testimages" jpg "$data/img/$i.jpg" 320 240 $((i + 1)) || return 1
        printf 'img/%d.jpg\tpicture number %d\n' "$i" "$i" >>"$data/pairs.tsv"
    done
    for train in heads last:2 all; do
        rm -rf "$data/out"
        /usr/bin/time -f "%M" -o "$WORK/ft.rss" "$BUILD/clipsearch" finetune --model "$model" \
            --pairs "$data/pairs.tsv" --out "$data/out" --train "$train" --epochs 1 --batch 32 \
            --val-split 0 --json >"$WORK/ft.json" 2>"$WORK/ft.err" ||
            { cat "$WORK/ft.err"; return 1; }
        awk -v t="$train" -v rss="$(cat "$WORK/ft.rss")" -F'[,:]' '
            /"epoch":1,/ { for (i = 1; i < NF; i++) { if ($i == "\"steps\"") st = $(i + 1);
                                                     if ($i == "\"seconds\"") sec = $(i + 1) } }
            /"cache_seconds"/ { for (i = 1; i < NF; i++) if ($i == "\"cache_seconds\"") c = $(i + 1) }
            END { printf "finetune --train %-6s  %.2f s/step (%.3f steps/s), caching %.1f s, peak RSS %.0f MiB\n",
                         t, sec / st, st / sec, c, rss / 1024 }' "$WORK/ft.json"
    done
    rm -rf "$model" "$data"
}
SECTIONS+=(finetune)

# --- (append further sections above this line) ------------------------------------------

failed=0
for s in ${BENCH_SECTIONS:-${SECTIONS[@]}}; do
    echo "== $s =="
    if ! "section_$s"; then
        echo "run-bench: section $s failed" >&2
        failed=1
    fi
    echo
done
exit $failed
