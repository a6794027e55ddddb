#!/usr/bin/env bash
# Stops the server start.sh started (nothing to do for CLIPSEARCH_TEST_PG_URL).
#   usage: stop.sh STATE_DIR
set -uo pipefail
state="${1:?usage: stop.sh STATE_DIR}"
if [ -f "$state/pid" ]; then
  pid="$(cat "$state/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
rm -f "$state/pid" "$state/url" "$state/skip"
exit 0
