#!/usr/bin/env bash
# Installs the npm packages the test suite uses (pinned by tests/pg/package-lock.json):
# PGlite + pgvector served over the PostgreSQL wire protocol (DESIGN.md §3.4).
# Idempotent and quiet: does nothing when node_modules matches the lock file. Without npm or
# network the pg tests skip (tests/pg/start.sh), so a failure here is reported, not fatal.
set -euo pipefail
cd "$(dirname "$0")/../tests/pg"
[ -f package-lock.json ] || exit 0
stamp=node_modules/.clipsearch-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp" &&
   [ -f node_modules/@electric-sql/pglite-socket/package.json ] &&
   [ -f node_modules/@electric-sql/pglite-pgvector/package.json ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-test-deps: npm not found; the PostgreSQL tests will be skipped" >&2
  exit 0
fi
if npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>npm-ci.log; then
  cp package-lock.json "$stamp"
  rm -f npm-ci.log
else
  echo "install-test-deps: npm ci failed (see tests/pg/npm-ci.log); the PostgreSQL tests will be skipped" >&2
fi
exit 0
