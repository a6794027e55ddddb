#!/usr/bin/env bash
# The naming rule (docs/ARCHITECTURE.md, "Names"): every symbol a layer's library defines
# for other files is either public API, named in include/clipsearch/*.h, or internal and
# named cs__*. Reads the symbol tables of the built layer archives, so a new internal
# function named like the public API (or with a bare module prefix) fails here.
set -u
BUILD=${CS_BUILD_DIR:-build}
SRC=${CS_SOURCE_DIR:-.}
NM=${NM:-nm}
command -v "$NM" >/dev/null || { echo "SKIP: nm needed"; exit 77; }
libs=$(ls "$BUILD"/libclipsearch_*.a 2>/dev/null)
[ -n "$libs" ] || { echo "SKIP: no layer archives in $BUILD"; exit 77; }
public=$(cat "$SRC"/include/clipsearch/*.h | grep -oE '\bcs_[A-Za-z0-9_]+' | sort -u)
fail=0
count=0
for lib in $libs; do
    syms=$("$NM" -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TDBRVW]$/ {print $3}') ||
        { echo "SKIP: $NM cannot read $lib"; exit 77; }
    for s in $syms; do
        count=$((count + 1))
        case $s in
        cs__*) continue ;;
        __* | *.*) continue ;;   # the compiler's own (reserved names; ASan's __odr_asan.*)
        esac
        if ! grep -qx "$s" <<<"$public"; then
            echo "FAIL: $(basename "$lib") defines '$s': neither public (include/clipsearch) nor cs__"
            fail=1
        fi
    done
done
[ "$count" -gt 100 ] || { echo "FAIL: only $count symbols read: is $NM reading the archives?"; fail=1; }
[ $fail = 0 ] && echo "ok: $count symbols follow the naming rule"
exit $fail
