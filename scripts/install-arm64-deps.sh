#!/usr/bin/env bash
# Installs what `make check-arm64` needs: Debian's aarch64 cross compiler, the :arm64
# -dev packages of the libraries clipsearch links (multiarch), and qemu-user to run the
# unit tests. Idempotent. Exit status: 0 when everything is there, 3 when it cannot be
# installed here (no root, no apt-get, a package refused); the reason goes to stderr in
# one line, so the caller can say why the stage was skipped.
set -uo pipefail

# libpq-dev is not co-installable across architectures (installing :arm64 removes the
# native one), so only the arm64 runtime libpq5 is installed; the cross build uses the
# native (architecture-independent) headers with it (cmake/aarch64-linux-gnu.cmake).
LIBS=(libopenblas-dev libjansson-dev libutf8proc-dev libjpeg62-turbo-dev libpng-dev
      libwebp-dev libgif-dev libexif-dev libtiff-dev libheif-dev libjxl-dev libraw-dev
      libsqlite3-dev libpq5 libmicrohttpd-dev
      libcurl4-openssl-dev libchafa-dev libglib2.0-dev libxxhash-dev libedit-dev libssl-dev)
PKGS=(crossbuild-essential-arm64 qemu-user)
for l in "${LIBS[@]}"; do PKGS+=("$l:arm64"); done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "not root and no password-less sudo to install ${missing[*]}" >&2
    exit 3
  fi
fi
command -v apt-get >/dev/null 2>&1 || { echo "no apt-get to install ${missing[*]}" >&2; exit 3; }
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
echo "install-arm64-deps: installing ${#missing[@]} packages (cross compiler, :arm64 libraries, qemu-user)" >&2
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64 >"$LOG" 2>&1 || { echo "dpkg --add-architecture arm64 failed: $(tail -1 "$LOG")" >&2; exit 3; }
fi
if ! { $SUDO apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
         "${missing[@]}"; } >"$LOG" 2>&1; then
  echo "apt-get could not install the arm64 packages: $(grep -E '^E:' "$LOG" | head -1)" >&2
  exit 3
fi
exit 0
