#!/usr/bin/env bash
# clipsearch model download/info against a loopback Hugging Face stand-in
# (tests/tools/hf_server.py) serving a copy of the tiny fixture checkpoint: plain
# download, already-installed, resume inside one run and across runs, SHA-256 mismatch,
# 404 of a required file and of model.safetensors, a server without Range support,
# offline, and model info.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
T=$(mktemp -d)
SERVER_PID=
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
trap 'stop_server; rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

REPO=testorg/tiny-clip
mkdir -p "$T/hub/$REPO"
cp "$SRC"/tests/fixtures/tiny/model/* "$T/hub/$REPO/"
SIZE=$(stat -c %s "$T/hub/$REPO/model.safetensors")

start_server() {  # extra args for hf_server.py
  stop_server
  rm -f "$T/port" "$T/log"
  python3 "$SRC/tests/tools/hf_server.py" --root "$T/hub" --port-file "$T/port" --log "$T/log" "$@" &
  SERVER_PID=$!
  # Polls until the server writes its port (the limit only fails a hung start).
  for _ in $(seq 1200); do
    [ -s "$T/port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -s "$T/port" ] || { echo "server did not start" >&2; exit 1; }
  CLIPSEARCH_HF_ENDPOINT=http://127.0.0.1:$(cat "$T/port")
  export CLIPSEARCH_HF_ENDPOINT
}
dl() {  # cache dir, args...
  local cache=$1; shift
  XDG_CACHE_HOME=$cache "$CS" model download "$@" >"$T/out" 2>"$T/err"
}
DEST() { echo "$1/clipsearch/models/tiny-clip"; }
same_files() {  # installed dir == fixture
  for f in config.json model.safetensors vocab.json merges.txt preprocessor_config.json; do
    cmp -s "$SRC/tests/fixtures/tiny/model/$f" "$1/$f" || { echo "differs: $f"; return 1; }
  done
}

# 1. Plain download: everything installed, optional files that 404 are fine.
start_server
C=$T/c1
dl "$C" "$REPO" || fail "plain download: $(cat "$T/err")"
same_files "$(DEST "$C")" || fail "plain download: files differ"
[ ! -e "$C/clipsearch/models/.tiny-clip.partial" ] || fail "partial dir left behind"
compgen -G "$(DEST "$C")/*.part*" >/dev/null && fail "a .part file was installed"
grep -q 'installed testorg/tiny-clip' "$T/out" || fail "no success line: $(cat "$T/out")"
grep -q 'model.safetensors' "$T/err" || fail "no progress on stderr"
grep -q "HEAD /$REPO/resolve/main/model.safetensors" "$T/log" || fail "no HEAD for the LFS file"
grep -q "GET /cdn/$REPO/model.safetensors" "$T/log" || fail "redirect to the CDN not followed"
# 2. Second run: already installed, nothing fetched.
: >"$T/log"
dl "$C" "$REPO" || fail "second run failed"
grep -q 'already installed' "$T/out" || fail "second run: $(cat "$T/out")"
[ ! -s "$T/log" ] || fail "second run made requests"

# 3. model info, table and JSON.
XDG_CACHE_HOME=$C "$CS" model info --model "$(DEST "$C")" --json >"$T/info" || fail "model info --json"
python3 - "$T/info" "$SIZE" <<'PY' || fail "model info JSON"
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["architecture"] == "CLIPModel", d
assert d["projection_dim"] == 32 and d["vision"]["hidden_size"] == 64 and d["text"]["layers"] == 2, d
assert d["storage_dtypes"] == "F32", d
files = {f["name"]: f["bytes"] for f in d["files"]}
assert files["model.safetensors"] == int(sys.argv[2]), files
# what this build and CPU compute with: the GEMM library and the kernel family
import re
assert re.fullmatch(r"gemm (onednn|openblas) \(.*\), kernels (avx512|avx2|neon|portable)", d["compute"]), d
PY
CLIPSEARCH_MODEL=$(DEST "$C") "$CS" model info >"$T/info" || fail "model info (CLIPSEARCH_MODEL)"
grep -q 'embedding dim: *32' "$T/info" || fail "model info table: $(cat "$T/info")"
grep -q '^compute: *gemm ' "$T/info" || fail "model info table, compute line: $(cat "$T/info")"
"$CS" model info --json --model "$SRC/tests/fixtures/tiny/st-layout" >"$T/st" || fail "model info (sentence-transformers)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["layout"]=="sentence-transformers" and d["storage_dtypes"]=="F16" and d["path"].endswith("0_CLIPModel"), d' "$T/st" \
  || fail "sentence-transformers info: $(cat "$T/st")"
"$CS" model info --json --model "$SRC/tests/fixtures/tiny/model-gelu" >"$T/gelu" || fail "model info (gelu)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["vision"]["hidden_act"]=="gelu" and "I64" in d["storage_dtypes"], d' "$T/gelu" \
  || fail "gelu info: $(cat "$T/gelu")"
"$CS" model info --model "$T/nope" 2>"$T/err" && fail "model info of a missing dir succeeded"
grep -q 'model download' "$T/err" || fail "missing model message: $(cat "$T/err")"

# 4. Connection cut once: resumed inside the same run with a Range request.
start_server --cut-after 20000 --cut-times 1
C=$T/c2
dl "$C" "$REPO" || fail "download with one cut: $(cat "$T/err")"
same_files "$(DEST "$C")" || fail "resumed download: files differ"
grep -q "GET /cdn/$REPO/model.safetensors bytes=20000-" "$T/log" || fail "no Range request after the cut: $(cat "$T/log")"

# 5. Cut with --retries 0: fails, keeps the .part, nothing installed; the next run resumes.
start_server --cut-after 30000 --cut-times 1
C=$T/c3
dl "$C" "$REPO" --retries 0 && fail "cut with --retries 0 succeeded"
grep -q 'run the command again to resume' "$T/err" || fail "interrupted message: $(cat "$T/err")"
[ ! -e "$(DEST "$C")" ] || fail "an interrupted download was installed"
PART=$C/clipsearch/models/.tiny-clip.partial/model.safetensors.part
[ "$(stat -c %s "$PART" 2>/dev/null)" = 30000 ] || fail "part file size $(stat -c %s "$PART" 2>/dev/null)"
: >"$T/log"
dl "$C" "$REPO" --retries 0 || fail "resume run: $(cat "$T/err")"
same_files "$(DEST "$C")" || fail "cross-run resume: files differ"
grep -q "bytes=30000-" "$T/log" || fail "second run did not resume: $(cat "$T/log")"
grep -q "resumed" "$T/out" || fail "no resume note: $(cat "$T/out")"
grep -q "GET /$REPO/resolve/main/config.json" "$T/log" && fail "verified small files were fetched again"

# 6. A server that ignores Range: the part is restarted from byte 0 and still verifies.
start_server --cut-after 25000 --cut-times 1 --no-range
C=$T/c4
dl "$C" "$REPO" || fail "no-range server: $(cat "$T/err")"
same_files "$(DEST "$C")" || fail "no-range server: files differ"

# 7. SHA-256 mismatch: error, nothing installed, no .part kept.
start_server --bad-sha
C=$T/c5
dl "$C" "$REPO" && fail "bad sha accepted"
grep -q 'SHA-256' "$T/err" || fail "bad sha message: $(cat "$T/err")"
[ ! -e "$(DEST "$C")" ] || fail "bad sha: model installed"
[ ! -e "$C/clipsearch/models/.tiny-clip.partial/model.safetensors.part" ] || fail "bad sha: .part kept"
# ... and an existing installation survives a failed --force download.
C=$T/c1
dl "$C" "$REPO" --force && fail "bad sha with --force accepted"
same_files "$(DEST "$C")" || fail "failed --force damaged the installed model"

# 8. A required file 404s.
start_server --missing vocab.json
C=$T/c6
dl "$C" "$REPO" && fail "missing vocab.json accepted"
grep -q 'vocab.json' "$T/err" && grep -q '404' "$T/err" || fail "404 message: $(cat "$T/err")"
[ ! -e "$(DEST "$C")" ] || fail "404: model installed"
# 9. No model.safetensors: pytorch_model.bin is not supported, and says so.
start_server --missing model.safetensors
dl "$T/c7" "$REPO" && fail "missing safetensors accepted"
grep -q 'pytorch_model.bin' "$T/err" || fail "safetensors message: $(cat "$T/err")"
# 10. Unknown repository.
dl "$T/c8" nobody/nothing && fail "unknown repo accepted"

# 11. Offline (connection refused): clear message with the manual alternative.
stop_server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export CLIPSEARCH_HF_ENDPOINT=http://127.0.0.1:$PORT
dl "$T/c9" "$REPO"; rc=$?
[ $rc -ne 0 ] || fail "offline download succeeded"
grep -q 'offline' "$T/err" && grep -q -- '--model DIR' "$T/err" && grep -q CLIPSEARCH_MODEL "$T/err" \
  || fail "offline message: $(cat "$T/err")"
[ ! -e "$(DEST "$T/c9")" ] || fail "offline: model installed"

# DNS failure (the .invalid TLD never resolves); a resolver that times out is not our test.
CLIPSEARCH_HF_ENDPOINT=http://hub.nonexistent.invalid timeout 60 env XDG_CACHE_HOME="$T/c10" \
  "$CS" model download "$REPO" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -ne 124 ]; then
  [ $rc -ne 0 ] && grep -q 'offline' "$T/err" && grep -q 'resolve' "$T/err" || fail "DNS failure message: $(cat "$T/err")"
fi

# A second download of the same model while one runs: refused, not interleaved.
if command -v flock >/dev/null; then
  mkdir -p "$T/c11/clipsearch/models"
  flock "$T/c11/clipsearch/models/.tiny-clip.lock" env XDG_CACHE_HOME="$T/c11" \
    "$CS" model download "$REPO" >/dev/null 2>"$T/err" && fail "concurrent download not refused"
  grep -q 'another' "$T/err" || fail "concurrent download message: $(cat "$T/err")"
fi

# 12. Usage errors.
"$CS" model frobnicate 2>/dev/null; [ $? -eq 2 ] || fail "unknown sub-command not a usage error"
"$CS" model download a b 2>/dev/null; [ $? -eq 2 ] || fail "two names not a usage error"

[ $fails -eq 0 ] && echo "model_download: all passed"
exit $((fails > 0))
