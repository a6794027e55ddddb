#!/usr/bin/env bash
# Crash safety of the SQLite store (DESIGN.md §3.3: every write is one transaction): a
# `vec upsert` of 200k records fed from a pipe is killed with SIGKILL at several points;
# afterwards the collection holds exactly the old state or exactly the new one, never a
# mix, PRAGMA integrity_check passes and the store stays writable.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
BUILD=${CS_BUILD_DIR:-build}
TOOL=$BUILD/cs_sqlite_tool
command -v python3 >/dev/null || { echo "SKIP: python3 needed"; exit 77; }
[ -x "$BIN" ] && [ -x "$TOOL" ] || { echo "SKIP: $BIN or $TOOL not built"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DB=$TMP/crash.db
fail=0
die() { echo "FAIL: $*"; fail=1; }
vec() { "$BIN" vec --db "$DB" "$@"; }
N=200000
# Under the sanitizers (make check-asan) the same test with fewer records: it is about
# durability, not memory, and ASan makes every record several times slower.
[ -n "${CS_SANITIZED:-}" ] && N=50000
gen() {  # gen GEN COUNT: records n0..n<COUNT-1> with metadata {"gen": GEN}
    python3 -c '
import sys
g, n = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for i in range(n):
    out.write("{\"id\":\"n%d\",\"vector\":[%d,%d,1,0,0,0,0,%d],\"metadata\":{\"gen\":%d}}\n" % (i, i % 97, i % 13, g, g))
' "$1" "$2"
}
count() { vec describe c | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
gens() { vec fetch c n0 n500 n999 | python3 -c 'import json,sys; print(",".join(str(json.loads(l)["metadata"]["gen"]) for l in sys.stdin))'; }

vec create c --dim 8 >/dev/null || die "create"
gen 1 1000 | vec upsert c >/dev/null || die "base upsert"
gen 2 $N >"$TMP/big.jsonl"
# Time a full upsert once (on a copy), and the same input failing validation at its last
# record (= reading and parsing only), to aim the kills at both phases.
ms() { echo $(( $(date +%s%N) / 1000000 )); }
cp "$DB" "$TMP/probe.db"
t=$(ms)
"$BIN" vec --db "$TMP/probe.db" upsert c <"$TMP/big.jsonl" >/dev/null || die "probe upsert"
total_ms=$(( $(ms) - t ))
{ cat "$TMP/big.jsonl"; echo '{"id":"bad","vector":[1]}'; } >"$TMP/bad.jsonl"
t=$(ms)
"$BIN" vec --db "$TMP/probe.db" upsert c <"$TMP/bad.jsonl" >/dev/null 2>&1
parse_ms=$(( $(ms) - t ))
write_ms=$(( total_ms > parse_ms ? total_ms - parse_ms : 1 ))
echo "upsert of $N records: ${total_ms} ms, of which reading/parsing ${parse_ms} ms"
rm -f "$TMP"/probe.db* "$TMP/bad.jsonl"

check_state() {  # after a kill: exactly the old or exactly the new state
    "$TOOL" check "$DB" >"$TMP/check" 2>&1 || die "integrity_check after kill ($1): $(head -3 "$TMP/check")"
    local n g
    n=$(count); g=$(gens)
    echo "kill $1: count=$n gens=$g"
    if [ "$n" = 1000 ]; then
        [ "$g" = "1,1,1" ] || die "old count with new data: $g"
    elif [ "$n" = $N ]; then
        [ "$g" = "2,2,2" ] || die "new count with old data: $g"
        gen 1 1000 | vec upsert c >/dev/null || die "restore"
        vec delete c --filter '{"gen":{"$eq":2}}' >/dev/null || die "reset"
        [ "$(count)" = 1000 ] || die "reset count"
    else
        die "mixed state after kill ($1): count=$n"
    fi
}
mkfifo "$TMP/fifo"
# While reading: kill at a fraction of the parsing time.
for pct in 20 60; do
    "$BIN" vec --db "$DB" upsert c <"$TMP/fifo" >/dev/null 2>&1 &
    pid=$!
    cat "$TMP/big.jsonl" >"$TMP/fifo" 2>/dev/null &
    cpid=$!
    sleep "$(python3 -c "print($parse_ms * $pct / 100000)")"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    kill $cpid 2>/dev/null
    wait $cpid 2>/dev/null
    check_state "at ${pct}% of parsing"
done
# While writing: the input is fully consumed when cat has finished; kill at a fraction of
# the writing time after that.
for pct in 10 40 70 90; do
    "$BIN" vec --db "$DB" upsert c <"$TMP/fifo" >/dev/null 2>&1 &
    pid=$!
    cat "$TMP/big.jsonl" >"$TMP/fifo"
    sleep "$(python3 -c "print($write_ms * $pct / 100000)")"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    check_state "at ${pct}% of writing"
done
# Still writable and readable after the crashes.
gen 3 2000 | vec upsert c >/dev/null || die "upsert after crashes"
[ "$(count)" = 2000 ] || die "count after final upsert"
vec query c --vector '[1,0,0,0,0,0,0,0]' --limit 3 >/dev/null 2>&1 || die "query after crashes"
"$TOOL" check "$DB" >/dev/null || die "final integrity_check"
exit $fail
