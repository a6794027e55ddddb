#!/usr/bin/env bash
# Runs a command with CS_TEST_DB_URL set to the URL of the pgvector test server that the
# CTest fixture started (read now, at test run time, from the state file).
#   usage: run-with-url.sh STATE_DIR COMMAND [ARGS...]
# Exits 77 (skip) when the fixture could not provide a server (no node / npm packages).
set -euo pipefail
state="${1:?usage: run-with-url.sh STATE_DIR COMMAND...}"
shift
if [ -f "$state/skip" ]; then
  echo "SKIP: $(cat "$state/skip")" >&2
  exit 77
fi
if [ ! -s "$state/url" ]; then
  echo "run-with-url.sh: no server URL in $state/url (fixture pg_server not run?)" >&2
  exit 1
fi
CS_TEST_DB_URL="$(cat "$state/url")"
export CS_TEST_DB_URL
exec "$@"
