#!/usr/bin/env bash
# clipsearch serve stays safe and answering (issue 10, item 8):
#  - every response carries Cross-Origin-Resource-Policy: same-origin (and nosniff);
#  - a POST another site sent is refused with 403 + JSON (Sec-Fetch-Site cross-site, or
#    same-site without this server's Origin; an Origin of another origin, or "null"),
#    while the page's own POSTs and clients that send neither header (curl) are served;
#  - the Host check refuses an empty Host, userinfo (evil@127.0.0.1, 127.0.0.1@evil,
#    localhost:80@evil), bad ports and junk, and still accepts the loopback names;
#  - /api/thumb and /api/file refuse a file over the indexer's limit (413);
#  - with 64 slow clients holding half-sent requests open, a search still answers at
#    once (the latency is printed).
# shellcheck disable=SC2034  # SERVE_ERR is read by serve_common.bash
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
# shellcheck source=serve_common.bash
. "$SRC/tests/integration/serve_common.bash"
T=$(mktemp -d)
SLOW=()
close_slow() { local fd; for fd in "${SLOW[@]}"; do exec {fd}>&-; done; SLOW=(); }
trap 'close_slow; serve_kill; rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
IMG=$SRC/tests/fixtures/tiny/images
mkdir -p "$T/imgs"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/photo_progressive_640x427.jpg" "$T/imgs/"
cp "$IMG/small_31x17.png" "$T/imgs/grows.png"
DB=$T/guard.db
"$CS" index --db "$DB" --quiet "$T/imgs" || { echo "index failed"; exit 1; }
SERVE_ERR=$T/serve.err
serve_start --db "$DB" || exit 1
PORT=$SERVE_PORT
B=http://127.0.0.1:$PORT
Q=$T/imgs/shapes_baseline_300x500.jpg
# req NAME WANT_STATUS [WANT_CATEGORY] -- curl-args...: status (and JSON error category).
req() {
  local name=$1 want=$2 cat=$3 code
  shift 4
  code=$(curl -s -m 60 -o "$T/body" -D "$T/head" -w '%{http_code}' "$@")
  [ "$code" = "$want" ] || { fail "$name: status $code, wanted $want ($(head -c 300 "$T/body"))"; return; }
  if [ -n "$cat" ]; then
    grep -q "^{\"error\":{\"category\":\"$cat\",\"message\":\"..*\"}}$" "$T/body" \
      || fail "$name: body $(head -c 300 "$T/body")"
  fi
}

# ---- Cross-Origin-Resource-Policy and nosniff on every kind of answer ------------------
corp() {   # corp CURL-ARGS...: the answer has both headers
  curl -s -m 60 -o /dev/null -D "$T/h" "$@"
  tr -d '\r' <"$T/h" | grep -qi '^cross-origin-resource-policy: same-origin$' || fail "$*: no CORP header: $(cat "$T/h")"
  tr -d '\r' <"$T/h" | grep -qi '^x-content-type-options: nosniff$' || fail "$*: no nosniff"
}
corp "$B/"
corp "$B/api/collections"
corp "$B/api/search?q=x"
corp "$B/api/search?q=x&k=0"
corp "$B/nope"
corp -G "$B/api/thumb?size=32" --data-urlencode "id=$Q"
corp -G "$B/api/file" --data-urlencode "id=$Q"
corp -X POST "$B/api/search/image" -H 'Sec-Fetch-Site: cross-site'
corp -H 'Host: evil.example' "$B/api/collections"

# ---- POSTs from other sites -------------------------------------------------------------
post() { req "$1" "$2" "$3" -- "$B/api/search/image?k=2" --data-binary "@$Q" "${@:4}"; }
post "plain client" 200 ""
post "same-origin" 200 "" -H 'Sec-Fetch-Site: same-origin' -H "Origin: http://127.0.0.1:$PORT"
post "user action" 200 "" -H 'Sec-Fetch-Site: none'
post "localhost page" 200 "" -H "Host: localhost:$PORT" -H "Origin: http://localhost:$PORT" -H 'Sec-Fetch-Site: same-origin'
post "Origin only, same" 200 "" -H "Origin: http://127.0.0.1:$PORT"
post "same-site with this origin" 200 "" -H 'Sec-Fetch-Site: same-site' -H "Origin: http://127.0.0.1:$PORT"
post "cross-site" 403 Forbidden -H 'Sec-Fetch-Site: cross-site'
post "cross-site with a forged same Origin" 403 Forbidden -H 'Sec-Fetch-Site: cross-site' -H "Origin: http://127.0.0.1:$PORT"
post "same-site, no Origin" 403 Forbidden -H 'Sec-Fetch-Site: same-site'
post "same-site, other port" 403 Forbidden -H 'Sec-Fetch-Site: same-site' -H "Origin: http://127.0.0.1:$((PORT == 65535 ? 1 : PORT + 1))"
post "unknown Sec-Fetch-Site" 403 Forbidden -H 'Sec-Fetch-Site: sideways'
post "Origin of another site" 403 Forbidden -H 'Origin: http://evil.example'
post "Origin null" 403 Forbidden -H 'Origin: null'
post "Origin https" 403 Forbidden -H "Origin: https://127.0.0.1:$PORT"
post "Origin with userinfo" 403 Forbidden -H "Origin: http://evil@127.0.0.1:$PORT"
post "Origin on another host name" 403 Forbidden -H "Origin: http://localhost:$PORT"
req "cross-site multipart form" 403 Forbidden -- "$B/api/search/image" -F "image=@$Q" -H 'Sec-Fetch-Site: cross-site'
# Refused before the upload is read: a large one gets its 403 all the same.
head -c 20000000 /dev/zero >"$T/big.bin"
req "cross-site large upload" 403 Forbidden -- "$B/api/search/image" --data-binary "@$T/big.bin" -H 'Origin: http://evil.example'
# GETs are not refused for their origin (they change nothing; CORP keeps answers in).
req "cross-site GET" 200 "" -- "$B/api/search?q=x" -H 'Sec-Fetch-Site: cross-site'

# ---- Host --------------------------------------------------------------------------------
for h in "localhost:$PORT" "127.0.0.1:$PORT" "[::1]:$PORT" "LOCALHOST" "127.0.0.1"; do
  req "Host: $h" 200 "" -- "$B/api/collections" -H "Host: $h"
done
for h in "evil@127.0.0.1" "evil@127.0.0.1:$PORT" "127.0.0.1@evil.example" "localhost:80@evil.example" \
         "127.0.0.1:$PORT@evil.example" "127.0.0.1:" "127.0.0.1:0" "127.0.0.1:99999" "127.0.0.1:80x" \
         "[::1]x" "[::1" "[]:80" "local host" "127.0.0.1/x" "evil.example" "127.0.0.1.evil.example"; do
  req "Host: $h" 403 ArgError -- "$B/api/collections" -H "Host: $h"
done
req "empty Host" 403 ArgError -- "$B/api/collections" -H 'Host;'
req "no Host (HTTP/1.0)" 403 ArgError -- "$B/api/collections" -0 -H 'Host:'

# ---- the indexer's file size limit --------------------------------------------------------
# The file grows past 512 MiB after indexing (sparse: no disk used).
truncate -s 600M "$T/imgs/grows.png"
req "thumb of a file over the limit" 413 TooLarge -- -G "$B/api/thumb" --data-urlencode "id=$T/imgs/grows.png"
grep -q '536870912 bytes' "$T/body" || fail "limit not named: $(cat "$T/body")"
req "file over the limit" 413 TooLarge -- -G "$B/api/file" --data-urlencode "id=$T/imgs/grows.png"
rm -f "$T/imgs/grows.png"

# ---- 64 slow clients ------------------------------------------------------------------------
threads() { ls "/proc/$SERVE_PID/task" | wc -l; }
base=$(threads)
for _ in $(seq 1 64); do
  exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || { fail "cannot open a slow connection"; break; }
  # Half a request: the headers never end.
  printf 'GET /api/collections HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nX-Slow: ' "$PORT" >&"$fd"
  SLOW+=("$fd")
done
# Handshake: the server holds all of them (a thread each) before the real request.
for _ in $(seq 1 600); do
  [ "$(threads)" -ge $((base + 64)) ] && break
  kill -0 "$SERVE_PID" || break
  sleep 0.1
done
[ "$(threads)" -ge $((base + 64)) ] || fail "the server holds $(($(threads) - base)) of 64 slow connections"
t=$(curl -s -m 60 -o "$T/slow" -w '%{http_code} %{time_total}' "$B/api/search?q=a+colourful+gradient&k=3")
echo "serve_guard: /api/search with 64 slow connections open: status ${t%% *}, ${t#* } s"
[ "${t%% *}" = 200 ] || fail "search with 64 slow connections: status ${t%% *}"
# Far below the 30 s the server gives a silent client: nothing waited for the slow ones.
awk -v s="${t#* }" 'BEGIN { exit !(s < 10) }' || fail "search took ${t#* } s with 64 slow connections"
t=$(curl -s -m 60 -o /dev/null -w '%{http_code} %{time_total}' -G "$B/api/thumb" --data-urlencode "id=$Q")
[ "${t%% *}" = 200 ] || fail "thumbnail with 64 slow connections: status ${t%% *}"
close_slow

serve_stop || fail "exit status after SIGTERM: $? ($(cat "$SERVE_ERR"))"
[ $fails = 0 ] && echo "serve_guard: all checks passed"
exit $((fails > 0))
