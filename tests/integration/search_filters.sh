#!/usr/bin/env bash
# The filters people use: search --under DIR / --name TEXT / --after DATE / --before DATE,
# alone, together and with --filter; the metadata they read ("dirs", "name", "taken")
# as `index` writes it; records written before "dirs" existed are refreshed by the next
# index; the REPL's :under/:name/:after/:before; usage errors for bad dates.
# Store: $CS_TEST_DB_URL when set (PostgreSQL), else a temporary SQLite file.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
export TZ=UTC   # dates are local time; UTC makes the expected boundaries plain numbers
DB=${CS_TEST_DB_URL:-$T/filters.db}
C=search_filters_$$
IMG=$SRC/tests/fixtures/tiny/images
I=$T/imgs
CAFE=$(printf 'caf\xe9')   # a folder whose name is not UTF-8 (its id is a file: IRI)
mkdir -p "$I/2023/trip" "$I/2024" "$I/2024x" "$I/$CAFE"
cp "$IMG/shapes_baseline_300x500.jpg" "$I/2023/trip/Beach_Day.jpg"
cp "$IMG/portrait_444_480x640.jpg" "$I/2023/trip/portrait.jpg"
cp "$IMG/gradient_rgb_640x480.png" "$I/2024/holiday_SNOW.png"
cp "$IMG/noise_rgb_224x224.png" "$I/2024x/noise.png"
cp "$IMG/palette_P_200x150.png" "$I/$CAFE/small.png"
# A JPEG whose EXIF DateTimeOriginal (2019-07-14 12:20:30+02:00) differs from its mtime.
python3 - "$IMG/gray_baseline_400x300.jpg" "$I/2024/dated.jpg" <<'PY' || { echo "making dated.jpg failed"; exit 1; }
import struct, sys
src = open(sys.argv[1], "rb").read()
t = bytearray(84)
t[0:8] = b"II*\0\x08\0\0\0"
t[8:10] = struct.pack("<H", 1)
t[10:22] = struct.pack("<HHII", 0x8769, 4, 1, 26)
t[26:28] = struct.pack("<H", 2)
t[28:40] = struct.pack("<HHII", 0x9003, 2, 20, 56)
t[40:52] = struct.pack("<HHII", 0x9011, 2, 7, 76)
t[56:76] = b"2019:07:14 12:20:30\0"
t[76:83] = b"+02:00\0"
seg = b"Exif\0\0" + bytes(t)
open(sys.argv[2], "wb").write(src[:2] + b"\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg + src[2:])
PY
touch -d "2023-07-01 12:00:00" "$I/2023/trip/Beach_Day.jpg"
touch -d "2023-12-31 23:59:59" "$I/2023/trip/portrait.jpg"
touch -d "2024-01-01 00:00:00" "$I/2024/holiday_SNOW.png"
touch -d "2024-05-05 10:00:00" "$I/2024/dated.jpg"
touch -d "2024-06-01 08:00:00" "$I/2024x/noise.png"
touch -d "2022-02-02 02:02:02" "$I/$CAFE/small.png"
ln -s "$I/2024" "$T/link2024"
cd "$T" || exit 1
"$CS" index "$I" --db "$DB" --collection "$C" --quiet || { echo "index failed"; exit 1; }

# got NAME EXPECTED-BASENAMES... -- ARGS: the result set of a search with ARGS.
got() {
  local name=$1; shift
  local want=()
  while [ "$1" != "--" ]; do want+=("$1"); shift; done
  shift
  local out
  out=$("$CS" search --db "$DB" --collection "$C" --json -k 100 "$@" "anything" 2>"$T/err") \
    || { fail "$name: exit $?: $(cat "$T/err")"; return; }
  local have
  have=$(printf '%s\n' "$out" | python3 -c '
import json, sys
print(" ".join(sorted(json.loads(l)["metadata"]["name"] for l in sys.stdin if l.strip())))')
  local expect
  expect=$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
  [ "$have" = "$expect" ] || fail "$name: got [$have], expected [$expect]"
}

got "everything" Beach_Day.jpg portrait.jpg holiday_SNOW.png dated.jpg noise.png small.png --
got "--under a folder" Beach_Day.jpg portrait.jpg -- --under "$I/2023"
got "--under is not a name prefix" holiday_SNOW.png dated.jpg -- --under "$I/2024"
got "--under a symlink" holiday_SNOW.png dated.jpg -- --under "$T/link2024"
got "--under, relative and untidy" Beach_Day.jpg portrait.jpg -- --under "imgs/./2024/../2023/trip/"
got "--under a non-UTF-8 folder" small.png -- --under "$I/$CAFE"
got "--under the indexed root" Beach_Day.jpg portrait.jpg holiday_SNOW.png dated.jpg noise.png small.png -- --under "$I"
got "--under a folder that does not exist" -- --under "$I/nope"
got "--name, any case" Beach_Day.jpg -- --name bEaCh
got "--name, an extension" holiday_SNOW.png noise.png small.png -- --name .PNG
got "--name matches no folder" -- --name trip
got "--after a year (inclusive)" holiday_SNOW.png noise.png -- --after 2024
got "--before a year" Beach_Day.jpg portrait.jpg dated.jpg small.png -- --before 2024
got "--after/--before one day" Beach_Day.jpg -- --after 2023-07-01 --before 2023-07-02
got "EXIF time, to the second" dated.jpg -- --after 2019-07-14T10:20:30 --before "2019-07-14 10:20:31"
got "EXIF time, one second later" -- --after 2019-07-14T10:20:31 --before 2019-07-15
got "a month" portrait.jpg -- --after 2023-12 --before 2024-01
got "all together with --filter" holiday_SNOW.png -- --under "$I" --name DAY --after 2023-12-31T23:59:59 \
    --before 2024-07 --filter '{"type":{"$eq":"png"}}'
got "--filter alone still works" Beach_Day.jpg portrait.jpg dated.jpg -- --filter '{"type":{"$eq":"jpg"}}'
# The local time zone decides a day's first second.
if [ -e /usr/share/zoneinfo/Asia/Tokyo ]; then
  TZ=Asia/Tokyo got "--after in local time (UTC+9)" holiday_SNOW.png noise.png portrait.jpg -- --after 2024-01-01T08:59:59
else
  echo "note: no tzdata here: the local-time check is left out"
fi

# A comparison across types (a date string against numbers: jsonb ranks every number
# above every string, so $gt matches all) is run, and said.
"$CS" search --db "$DB" --collection "$C" --json -k 100 --filter '{"taken":{"$gt":"2024-01-01"}}' x >"$T/out" 2>"$T/err" \
  || fail "string against numbers: exit $?"
[ "$(wc -l <"$T/out")" = 6 ] || fail "string against numbers: jsonb semantics changed? $(cat "$T/out")"
grep -q "warning: filter: 'taken' holds numbers but is compared with strings: '\$gt' matches every record that has it" "$T/err" \
  || fail "no type-mismatch warning: $(cat "$T/err")"
"$CS" search --db "$DB" --collection "$C" --json --filter '{"tkaen":{"$gt":5}}' x >/dev/null 2>"$T/err"
grep -q "has the metadata key 'tkaen' (a typo?)" "$T/err" || fail "no missing-key warning: $(cat "$T/err")"
"$CS" search --db "$DB" --collection "$C" --json --after 2020 --filter '{"type":{"$eq":"png"}}' x >/dev/null 2>"$T/err"
! grep -q warning "$T/err" || fail "a sound filter warned: $(cat "$T/err")"
"$CS" vec query --db "$DB" "$C" --vector "$("$CS" vec fetch --db "$DB" "$C" "$(realpath "$I/2024/dated.jpg")" |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["vector"]))')" \
  --filter '{"taken":{"$lt":"2025"}}' >/dev/null 2>"$T/err" || fail "vec query with a filter"
grep -q "warning: filter: 'taken' holds numbers" "$T/err" || fail "vec query: no warning: $(cat "$T/err")"

# Bad dates are usage errors (exit 2), named, before anything is loaded.
for bad in 2024-13-01 2024-02-30 2023-02-29 24-01-01 2024-1-1 "2024-01-01T25:00" yesterday ""; do
  [ -z "$bad" ] && continue
  "$CS" search --db "$DB" --collection "$C" --after "$bad" x >/dev/null 2>"$T/err"; rc=$?
  [ $rc = 2 ] && grep -q "is not a date" "$T/err" || fail "--after '$bad': exit $rc: $(cat "$T/err")"
done
"$CS" search --db "$DB" --collection "$C" --after 2024-02-29 x >/dev/null 2>&1 || fail "a leap day refused"
"$CS" search --db "$DB" --collection "$C" --after 2025 --before 2024 x >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "no photo can match" "$T/err" || fail "--after after --before: exit $rc: $(cat "$T/err")"

# The REPL: :under, :name, :after, :before set and clear the filters of the next queries.
printf '%s\n' ":under $I/2023" "x" ":under" ":name snow" "x" ":name" ":after 2024" ":before 2024-02" "x" \
    ":after 2024-99" "x" ":before" ":after" "x" |
  "$CS" search --db "$DB" --collection "$C" --json -k 100 >"$T/repl" 2>"$T/repl_err"
rc=$?
[ $rc = 1 ] || fail "REPL: a bad :after should make the exit status 1, got $rc: $(cat "$T/repl_err")"
grep -q ":after: '2024-99' is not a date" "$T/repl_err" || fail "REPL: bad :after not reported: $(cat "$T/repl_err")"
python3 - "$T/repl" <<'PY' || fail "REPL filters: $(cat "$T/repl")"
import json, sys
# one JSON line per answered query: its results' names
lists = [sorted(h["metadata"]["name"] for h in json.loads(l)["results"]) for l in open(sys.argv[1])]
want = [sorted(["Beach_Day.jpg", "portrait.jpg"]), ["holiday_SNOW.png"], ["holiday_SNOW.png"],
        ["holiday_SNOW.png"], sorted(["Beach_Day.jpg", "portrait.jpg", "holiday_SNOW.png", "dated.jpg", "noise.png", "small.png"])]
assert lists == want, lists
PY

# Records written before "dirs" (older clipsearch; vecs from Python) lack it: --under
# does not find them until the next index refreshes them, vectors kept.
ID=$(realpath "$I/2023/trip/Beach_Day.jpg")
"$CS" vec fetch --db "$DB" "$C" "$ID" >"$T/rec" || fail "vec fetch"
python3 - "$T/rec" >"$T/rec_old" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read())
del r["metadata"]["dirs"]
print(json.dumps(r))
PY
"$CS" vec upsert --db "$DB" "$C" <"$T/rec_old" >/dev/null || fail "vec upsert"
got "a record without dirs" portrait.jpg -- --under "$I/2023"
"$CS" index "$I" --db "$DB" --collection "$C" --json >"$T/sum" 2>/dev/null || fail "re-index"
got "refreshed by the next index" Beach_Day.jpg portrait.jpg -- --under "$I/2023"
"$CS" vec fetch --db "$DB" "$C" "$ID" >"$T/rec2" || fail "vec fetch after"
python3 - "$T/rec" "$T/rec2" <<'PY' || fail "refresh changed the vector or the dirs"
import json, sys
a, b = (json.loads(open(p).read()) for p in sys.argv[1:3])
assert a["vector"] == b["vector"]
assert a["metadata"]["dirs"] == b["metadata"]["dirs"], (a["metadata"], b["metadata"])
import os
parent = os.path.dirname(b["id"])
assert b["metadata"]["dirs"][-2:] == [os.path.dirname(parent), parent], b["metadata"]
PY

[ $fails = 0 ] && echo "search_filters: all passed"
exit $((fails > 0))
