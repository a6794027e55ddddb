#!/usr/bin/env bash
# The naming rule (docs/ARCHITECTURE.md, "Names"): every symbol a layer's library defines
# for other files is either public API, named in include/clipsearch/*.h, or internal and
# named cs__*. Reads the symbol tables of the built layer archives, so a new internal
# function named like the public API (or with a bare module prefix) fails here; and the
# types src/*/*.h declare, so an internal type named like the public API fails too.
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
# Types: every type an internal header declares (the last name of a typedef) is cs__*.
types=0
while IFS= read -r hit; do
    types=$((types + 1))
    name=${hit##*:}
    case $name in
    cs__*) ;;
    *) echo "FAIL: ${hit%%:*} declares the type '$name': internal types are cs__*"; fail=1 ;;
    esac
done < <(cd "$SRC" && {
    # "} name;" closing a typedef'd struct, union or enum; "typedef T name;"; and
    # "typedef R (*name)(...)".
    grep -rHE '^\} *[a-z_][a-z0-9_]*;' src --include=*.h | sed -E 's/^([^:]*):\} *([a-z0-9_]+);.*/\1:\2/'
    grep -rHE '^typedef [^(]*[ *][a-z_][a-z0-9_]*;' src --include=*.h |
        sed -E 's/^([^:]*):.*[ *]([a-z_][a-z0-9_]*);.*/\1:\2/'
    grep -rHE '^typedef .*\(\*[a-z_][a-z0-9_]*\)' src --include=*.h |
        sed -E 's/^([^:]*):.*\(\*([a-z_][a-z0-9_]*)\).*/\1:\2/'
})
[ "$types" -gt 50 ] || { echo "FAIL: only $types internal types found"; fail=1; }
[ $fail = 0 ] && echo "ok: $count symbols and $types internal types follow the naming rule"
exit $fail
