#!/usr/bin/env bash
# The test suite under load: runs `make check-release check-asan` (or the make targets
# given after --) ROUNDS times while every core is kept busy by a CPU hog, for each
# OPENBLAS_CORETYPE value asked for. Proof that the tests coordinate by handshakes and
# compare floating point with tolerances, not by timing or by luck.
#
#   scripts/stress-check.sh [--rounds N] [--coretype VALUE]... [-- TARGET...]
#
# --coretype may be repeated; "unset" runs with OPENBLAS_CORETYPE removed; without it the
# environment's value (or none) is used. The hog is bounded: it ends with this script, and
# by itself after --hog-limit seconds (default 5400).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rounds=3
limit=5400
cores=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --coretype) cores+=("$2"); shift 2 ;;
    --hog-limit) limit=$2; shift 2 ;;
    --) shift; targets=("$@"); break ;;
    *) echo "usage: $0 [--rounds N] [--coretype VALUE|unset]... [--hog-limit S] [-- TARGET...]" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=(check-release check-asan)
[ ${#cores[@]} -eq 0 ] && cores=("${OPENBLAS_CORETYPE:-unset}")

mkdir -p "$ROOT/build"
hogs=()
stop_hogs() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; wait "${hogs[@]}" 2>/dev/null; hogs=(); }
trap stop_hogs EXIT
for _ in $(seq "$(nproc)"); do
  timeout "$limit" sh -c 'while :; do :; done' &
  hogs+=($!)
done
echo "stress-check: ${#hogs[@]} CPU hogs running (bounded to ${limit} s)"

failed=0
for core in "${cores[@]}"; do
  for r in $(seq "$rounds"); do
    t0=$(date +%s)
    if [ "$core" = unset ]; then
      env -u OPENBLAS_CORETYPE make -C "$ROOT" --no-print-directory "${targets[@]}" >"$ROOT/build/stress-$core-$r.log" 2>&1
    else
      OPENBLAS_CORETYPE=$core make -C "$ROOT" --no-print-directory "${targets[@]}" >"$ROOT/build/stress-$core-$r.log" 2>&1
    fi
    rc=$?
    summary=$(grep -E 'tests passed|tests failed' "$ROOT/build/stress-$core-$r.log" | tr '\n' ';')
    echo "stress-check: OPENBLAS_CORETYPE=$core round $r: exit $rc in $(( $(date +%s) - t0 )) s: $summary"
    if [ $rc -ne 0 ]; then
      failed=$((failed + 1))
      grep -E 'Failed|FAIL|CHECK failed' "$ROOT/build/stress-$core-$r.log" | head -20
    fi
  done
done
stop_hogs
echo "stress-check: $failed failed run(s)"
[ $failed -eq 0 ]
