# Helpers for the `clipsearch serve` tests (sourced; not a test itself).
# serve_start ARGS...: starts "$CLIPSEARCH serve --port 0 ARGS..." in the background,
# waits for its "serving" line and sets SERVE_PID, SERVE_PORT and SERVE_URL
# (http://127.0.0.1:PORT/). Its stderr goes to $SERVE_ERR. Returns 1 if it did not start.
# serve_stop: SIGTERM, wait; returns the server's exit status.
# Thumbnails are cached under $XDG_CACHE_HOME: the server gets $SERVE_CACHE, a temporary
# folder (removed by serve_kill) unless the test sets one, never the user's cache.
SERVE_PID=
SERVE_CACHE_TMP=
serve_start() {
  SERVE_ERR=${SERVE_ERR:-$(mktemp)}
  if [ -z "${SERVE_CACHE:-}" ]; then SERVE_CACHE=$(mktemp -d); SERVE_CACHE_TMP=$SERVE_CACHE; fi
  XDG_CACHE_HOME=$SERVE_CACHE "${CLIPSEARCH:?}" serve --port 0 "$@" 2>"$SERVE_ERR" &
  SERVE_PID=$!
  SERVE_PORT=
  for _ in $(seq 1 600); do
    SERVE_PORT=$(sed -n 's#^clipsearch: serving http://127\.0\.0\.1:\([0-9][0-9]*\)/$#\1#p' "$SERVE_ERR")
    [ -n "$SERVE_PORT" ] && break
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$SERVE_PORT" ]; then
    echo "server did not start: $(cat "$SERVE_ERR")" >&2
    return 1
  fi
  # shellcheck disable=SC2034  # read by the sourcing test
  SERVE_URL=http://127.0.0.1:$SERVE_PORT/
}
serve_stop() {
  local rc
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID"
  rc=$?
  SERVE_PID=
  return $rc
}
# For EXIT traps: kill a server still running.
serve_kill() {
  if [ -n "$SERVE_PID" ]; then kill -KILL "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; fi
  SERVE_PID=
  if [ -n "$SERVE_CACHE_TMP" ]; then rm -rf "$SERVE_CACHE_TMP"; fi
  SERVE_CACHE_TMP=
}
