#!/usr/bin/env bash
# Starts the pgvector test server for CTest (fixture pg_server, DESIGN.md §3.4) and writes
# its URL to <state>/url and its PID to <state>/pid.
#   usage: start.sh STATE_DIR
# With CLIPSEARCH_TEST_PG_URL set, that server is used instead (nothing is started): the URL
# is only checked and recorded. Otherwise PGlite + pgvector (npm, pinned by package-lock.json)
# is served over the wire protocol on 127.0.0.1 and a free port.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${1:?usage: start.sh STATE_DIR}"
mkdir -p "$state"
bash "$here/stop.sh" "$state"   # a server left over from an interrupted run

if [ -n "${CLIPSEARCH_TEST_PG_URL:-}" ]; then
  if ! pg_isready -q -d "$CLIPSEARCH_TEST_PG_URL" -t 10; then
    echo "start.sh: CLIPSEARCH_TEST_PG_URL does not answer" >&2
    exit 1
  fi
  printf '%s\n' "$CLIPSEARCH_TEST_PG_URL" > "$state/url"
  exit 0
fi

server="$here/node_modules/@electric-sql/pglite-socket/dist/scripts/server.js"
if [ ! -f "$server" ]; then
  bash "$here/../../scripts/install-test-deps.sh" >&2 || true
fi
if [ ! -f "$server" ] || ! command -v node >/dev/null; then
  # No node or no packages (offline machine): the pg tests skip (exit 77) rather than fail.
  echo "start.sh: PGlite server not installed (run scripts/install-test-deps.sh); pg tests skip" >&2
  echo "no PGlite server" > "$state/skip"
  exit 0
fi

# A free port: ask the kernel for one, then hand it to the server. A race with another
# process grabbing it in between is retried below.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

for attempt in 1 2 3; do
  port="$(free_port)"
  log="$state/server.log"
  # setsid: the server outlives this script (CTest fixture) and stop.sh ends its group.
  setsid node "$server" --host 127.0.0.1 --port "$port" --max-connections 16 \
    --extensions @electric-sql/pglite-pgvector:vector >"$log" 2>&1 < /dev/null &
  pid=$!
  url="postgresql://postgres:postgres@127.0.0.1:$port/postgres?sslmode=disable"
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if grep -q "listening" "$log" 2>/dev/null && pg_isready -q -h 127.0.0.1 -p "$port" -t 2; then
      printf '%s\n' "$pid" > "$state/pid"
      printf '%s\n' "$url" > "$state/url"
      exit 0
    fi
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
echo "start.sh: PGlite server did not start; log:" >&2
cat "$state/server.log" >&2 || true
exit 1
