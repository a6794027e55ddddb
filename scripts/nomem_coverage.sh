#!/bin/bash
# Which CS_E_NOMEM returns of the library the out-of-memory fault injection reaches
# (issue 12): builds the library and test_fault_alloc with gcov instrumentation in
# build-cov/, runs the test, and lists every source line that sets CS_E_NOMEM with
# whether it ran: every allocation of every scenario (CS_FAULT_ALL=1; CS_FAULT_ALL=0 samples
# the long ones as make check does, much faster), on SQLite and, when
# the PostgreSQL test server starts, on PostgreSQL. Usage:
#   scripts/nomem_coverage.sh [--list] [--report]
# (--list: the lines not reached; --report: list from the previous run's counts)
set -euo pipefail
cd "$(dirname "$0")/.."
B=build-cov
list=
[ "${1:-}" = --list ] && list=1
# --report: only the listing, from the counts a previous run left in build-cov/.
if [ "${1:-}" != --report ] && [ "${2:-}" != --report ]; then
    cmake -S . -B $B -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="--coverage -O0" \
        -DCMAKE_EXE_LINKER_FLAGS=--coverage >/dev/null
    cmake --build $B -j "${JOBS:-2}" --target test_fault_alloc cs_make_dng >/dev/null
    find $B -name '*.gcda' -delete
    (cd $B && CS_FAULT_ALL=${CS_FAULT_ALL-1} CS_SOURCE_DIR=$PWD/.. CS_BUILD_DIR=$PWD ./test_fault_alloc >/dev/null)
    # The store scenario through the PostgreSQL backend, with the test server of make check.
    if bash tests/pg/start.sh "$PWD/$B/pg" >/dev/null 2>&1 && [ -s "$B/pg/url" ]; then
        trap 'bash tests/pg/stop.sh "$PWD/$B/pg" >/dev/null 2>&1 || true' EXIT
        (cd $B && CS_TEST_DB_URL="$(cat pg/url)" CS_SOURCE_DIR=$PWD/.. ./test_fault_alloc >/dev/null)
        bash tests/pg/stop.sh "$PWD/$B/pg" >/dev/null 2>&1 || true
        trap - EXIT
    else
        echo "nomem_coverage: no PostgreSQL test server; the pg backend is not covered" >&2
    fi
fi
reached=0 missed=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for gcno in $(find "$PWD/$B" -path '*clipsearch_*objects.dir/src/*' -name '*.gcno'); do
    (cd "$out" && gcov -p -o "$(dirname "$gcno")" "$gcno" >/dev/null 2>&1) || true
done
for g in "$out"/*.gcov; do
    src=$(sed -n '1s/.*Source://p' "$g")
    case "$src" in */src/*) ;; *) continue ;; esac
    while IFS= read -r line; do
        count=${line%%:*}; count=${count// /}
        rest=${line#*:}; lineno=${rest%%:*}; lineno=${lineno// /}
        if [ "$count" = "#####" ] || [ "$count" = "=====" ]; then
            missed=$((missed + 1))
            [ -n "$list" ] && echo "not reached: ${src#*/src/}:$lineno"
        else
            reached=$((reached + 1))
        fi
    done < <(grep -E '^ *([0-9]+\*?|#####|=====):.*CS_E_NOMEM' "$g" || true)
done
echo "CS_E_NOMEM lines reached by test_fault_alloc: $reached; not reached: $missed"
