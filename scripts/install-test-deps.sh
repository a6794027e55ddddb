#!/usr/bin/env bash
# Installs the npm packages the test suite uses (pinned by tests/pg/package-lock.json):
# PGlite + pgvector served over the PostgreSQL wire protocol (DESIGN.md §3.4).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f tests/pg/package-lock.json ] && [ ! -d tests/pg/node_modules/@electric-sql/pglite-socket ]; then
  (cd tests/pg && npm ci --no-audit --no-fund --loglevel=error)
fi
