#!/usr/bin/env bash
# Installs the Debian packages clipsearch builds and tests with (DESIGN.md §2).
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libopenblas-dev libdnnl-dev libjansson-dev libutf8proc-dev
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libexif-dev
  libtiff-dev libheif-dev libjxl-dev libraw-dev
  libheif-examples libjxl-tools libtiff-tools
  libsqlite3-dev sqlite3 libpq-dev postgresql-client
  libmicrohttpd-dev libcurl4-openssl-dev libchafa-dev libglib2.0-dev libxxhash-dev libedit-dev libssl-dev
  python3 nodejs npm
)

# Asked for the native architecture: a machine that also has :arm64 packages (make
# check-arm64) must not count a foreign -dev package as this one.
ARCH=$(dpkg --print-architecture 2>/dev/null || echo "")
missing=()
for p in "${PKGS[@]}"; do
  q=$p
  case "$p" in lib*) [ -n "$ARCH" ] && q="$p:$ARCH" ;; esac
  dpkg-query -W -f='${Status}' "$q" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node and npm may come from outside Debian (e.g. nodesource); accept what is on PATH.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 || filtered+=("$p") ;;
    npm) command -v npm >/dev/null 2>&1 || filtered+=("$p") ;;
    python3) command -v python3 >/dev/null 2>&1 || filtered+=("$p") ;;
    # psql and pg_isready (pg tests) may come from a versioned postgresql-client-NN.
    postgresql-client) { command -v psql && command -v pg_isready; } >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
missing=("${filtered[@]+"${filtered[@]}"}")

[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
