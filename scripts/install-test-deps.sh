#!/usr/bin/env bash
# Installs what the test suite uses beyond the build dependencies:
#  - tests/pg: PGlite + pgvector served over the PostgreSQL wire protocol (DESIGN.md §3.4),
#    pinned by tests/pg/package-lock.json;
#  - jq for finetune_cli.sh;
#  - tests/web: playwright-core (pinned by tests/web/package-lock.json) and the Debian
#    packages chromium + fonts-dejavu-core for the browser test of `clipsearch serve`
#    (playwright never downloads a browser here).
# Idempotent and quiet: does nothing when node_modules matches each lock file and the
# packages are installed. Failures are reported, not fatal: without them the pg and
# browser tests skip (the browser test fails instead when CS_REQUIRE_BROWSER=1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# npm_ci DIR WHAT FILE...: `npm ci` in DIR unless its node_modules already matches the
# lock file and holds every FILE (relative to node_modules).
npm_ci() {
  local dir=$1 what=$2
  shift 2
  [ -f "$dir/package-lock.json" ] || return 0
  local stamp=$dir/node_modules/.clipsearch-lock ok=1 f
  for f in "$@"; do [ -f "$dir/node_modules/$f" ] || ok=0; done
  if [ $ok = 1 ] && [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: npm not found; the $what tests will be skipped" >&2
    return 0
  fi
  if (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
        npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>npm-ci.log); then
    cp "$dir/package-lock.json" "$stamp"
    rm -f "$dir/npm-ci.log"
  else
    echo "install-test-deps: npm ci failed (see ${dir#"$ROOT"/}/npm-ci.log); the $what tests will be skipped" >&2
  fi
}

# Debian packages of the browser test, installed only when missing.
install_browser() {
  local list=() p
  # jq: finetune_cli.sh reads the per-epoch JSON lines with it.
  for p in chromium fonts-dejavu-core jq; do
    # A Chromium from elsewhere will do ($CHROMIUM, as the test reads it).
    if [ "$p" = chromium ] && [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || list+=("$p")
  done
  [ ${#list[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "install-test-deps: not root; the browser and finetune tests need the Debian packages: ${list[*]}" \
           "(sudo apt-get install ${list[*]}); it will be skipped" >&2
      return 0
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: no apt-get; the browser and finetune tests need: ${list[*]}; it will be skipped" >&2
    return 0
  fi
  echo "install-test-deps: installing ${list[*]}" >&2
  if ! { $sudo apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
           "${list[@]}"; } >/dev/null 2>"$ROOT/tests/web/apt.log"; then
    echo "install-test-deps: apt-get failed (see tests/web/apt.log); the browser test will be skipped" >&2
    return 0
  fi
  rm -f "$ROOT/tests/web/apt.log"
}

npm_ci "$ROOT/tests/pg" PostgreSQL \
  @electric-sql/pglite-socket/package.json @electric-sql/pglite-pgvector/package.json
npm_ci "$ROOT/tests/web" browser playwright-core/package.json
install_browser
exit 0
