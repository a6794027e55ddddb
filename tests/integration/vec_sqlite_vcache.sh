#!/usr/bin/env bash
# The SQLite store's vector cache file ("<db>.vcache/<table>.bin") across processes: the
# first query writes it, a later process maps it without rewriting it (same inode, mtime,
# size), a write by another process makes it stale (rebuilt, new result), a truncated or
# corrupted file is ignored, a cache directory that cannot be created changes nothing,
# and dropping the collection removes it. Every answer is compared with a brute force in
# Python (double precision), plain and filtered.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
command -v python3 >/dev/null || { echo "SKIP: python3 needed"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DB=$TMP/v.db
VC=$DB.vcache
fail=0
die() { echo "FAIL: $*"; fail=1; }
vec() { "$BIN" vec --db "$DB" "$@" 2>/dev/null; }
Q='[0.3,-0.2,0.9,0.1,-0.5,0.4,0.05,-0.7]'
F='{"g":{"$eq":2}}'
N=3000

# Records: random 8-d vectors (fixed seed), metadata g = i % 5; r0 may be replaced later.
python3 - "$N" >"$TMP/recs.jsonl" <<'EOF'
import json, random, sys
random.seed(7)
for i in range(int(sys.argv[1])):
    v = [round(random.uniform(-1, 1), 6) for _ in range(8)]
    print(json.dumps({"id": "r%d" % i, "vector": v, "metadata": {"g": i % 5}}))
EOF

# ref [FILTER]: the brute-force top-10 ids (one per line) over $TMP/recs.jsonl.
ref() {
    python3 - "$Q" "${1:-}" "$TMP/recs.jsonl" <<'EOF'
import json, math, sys
q = json.loads(sys.argv[1]); filt = sys.argv[2]
rows = {}
for line in open(sys.argv[3]):
    r = json.loads(line); rows[r["id"]] = r   # later lines replace earlier ones (upsert)
def dist(v):
    d = sum(a * b for a, b in zip(q, v))
    return 1 - d / math.sqrt(sum(a * a for a in q) * sum(b * b for b in v))
sel = [r for r in rows.values() if not filt or r["metadata"]["g"] == 2]
for r in sorted(sel, key=lambda r: dist(r["vector"]))[:10]:
    print(r["id"])
EOF
}
# got [FILTER]: the store's top-10 ids, one per line.
got() {
    if [ -n "${1:-}" ]; then vec query c --vector "$Q" --limit 10 --filter "$1"
    else vec query c --vector "$Q" --limit 10; fi |
        python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin]'
}
check() {  # check LABEL: plain and filtered answers equal the brute force
    [ "$(got)" = "$(ref)" ] || die "$1: top-10 differs from brute force"
    [ "$(got "$F")" = "$(ref "$F")" ] || die "$1: filtered top-10 differs from brute force"
}
fid() { python3 -c 'import glob,os,sys
f = glob.glob(sys.argv[1] + "/*.bin")
s = os.stat(f[0]) if len(f) == 1 else None
print("%d %d %d" % (s.st_ino, s.st_mtime_ns, s.st_size) if s else "none")' "$VC"; }

vec create c --dim 8 >/dev/null || die "create"
vec upsert c <"$TMP/recs.jsonl" >/dev/null || die "upsert"
[ "$(fid)" = none ] || die "a write created the cache file"

check "first process"
built=$(fid)
[ "$built" != none ] || die "first query wrote no cache file"
check "second process"
[ "$(fid)" = "$built" ] || die "a later process rewrote a current cache file"

# Another process makes r0 the query itself: the next process must see it.
echo "{\"id\":\"r0\",\"vector\":$Q,\"metadata\":{\"g\":2}}" >>"$TMP/recs.jsonl"
tail -n 1 "$TMP/recs.jsonl" | vec upsert c >/dev/null || die "upsert r0"
[ "$(got | head -n 1)" = r0 ] || die "stale cache used after a write"
check "after write"
rebuilt=$(fid)
[ "$rebuilt" != "$built" ] && [ "$rebuilt" != none ] || die "stale cache file not replaced"

f=$(ls "$VC"/*.bin)
truncate -s -64 "$f"
check "truncated cache"
[ "$(fid)" != none ] || die "truncated cache not rewritten"
printf 'XXXXXXXX' | dd of="$f" bs=1 seek=0 conv=notrunc 2>/dev/null
check "bad magic"
dd if=/dev/zero of="$f" bs=1 count=16 seek=40 conv=notrunc 2>/dev/null
check "zeroed header fields"

# The cache cannot be created (its directory name is a plain file): still exact.
rm -rf "$VC" && touch "$VC"
check "no cache directory"
rm -f "$VC"

check "recreated"
vec drop c >/dev/null || die "drop"
[ ! -e "$VC" ] || die "cache directory left after drop: $(ls "$VC")"
[ $fail -eq 0 ] && echo "vec_sqlite_vcache: ok"
exit $fail
