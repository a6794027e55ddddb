#!/usr/bin/env bash
# clipsearch search end to end with the tiny model: table / JSON / HTML output, ranking
# consistency (an indexed image finds itself first with score ~1), mixed queries and their
# weights, -k, --min-score, --filter, --preview (pipe vs terminal), the REPL through a
# pty, and the error cases (usage, FilterError, a missing collection, dimension mismatch).
# Store: $CS_TEST_DB_URL when set (PostgreSQL), else a temporary SQLite file.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?} BUILD=${CS_BUILD_DIR:?}
FIX=$BUILD/cs_query_fixture
[ -x "$FIX" ] || { echo "SKIP: $FIX not built"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
DB=${CS_TEST_DB_URL:-$T/search.db}
COLL=search_cli_$$
IMG=$SRC/tests/fixtures/tiny/images
mkdir -p "$T/imgs"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/portrait_444_480x640.jpg" "$IMG/rgba_256x320.png" "$T/imgs/"
# A name that needs escaping in HTML and JSON.
cp "$IMG/palette_P_200x150.png" "$T/imgs/o'neil <b>&\"x\".png"
"$FIX" images "$DB" "$CLIPSEARCH_MODEL" "$COLL" "$T"/imgs/* || { echo "fixture failed"; exit 1; }
N=6
S() { "$CS" search --db "$DB" --collection "$COLL" "$@"; }

# Table: header + one row per hit, ranks 1..k, scores descending.
S "a colourful gradient" >"$T/table" || fail "text search failed"
[ "$(head -1 "$T/table" | tr -s ' ')" = " rank score path" ] || [ "$(head -1 "$T/table" | tr -s ' ')" = "rank score path" ] || fail "table header: $(head -1 "$T/table")"
[ "$(tail -n +2 "$T/table" | wc -l)" = $N ] || fail "table rows: $(cat "$T/table")"
S -k 3 "a colourful gradient" >"$T/k3"
[ "$(tail -n +2 "$T/k3" | wc -l)" = 3 ] || fail "-k 3: $(cat "$T/k3")"
[ "$(head -4 "$T/table")" = "$(cat "$T/k3")" ] || fail "-k 3 is not the prefix of the full list"

# JSON lines: fields, ranks, descending scores, same order as the table, unquoted words.
S --json a colourful gradient >"$T/json" || fail "json search failed"
python3 - "$T/json" "$T/table" $N <<'PY' || fail "json output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == int(sys.argv[3]), rows
for i, r in enumerate(rows):
    assert list(r) == ["rank", "id", "score", "metadata"], r
    assert r["rank"] == i + 1 and isinstance(r["metadata"], dict) and r["metadata"]["type"]
    assert -1.0001 <= r["score"] <= 1.0001
    if i:
        assert r["score"] <= rows[i - 1]["score"]
table = [l.split(None, 2) for l in open(sys.argv[2]).read().splitlines()[1:]]
assert [t[2] for t in table] == [r["id"] for r in rows]
assert all(abs(float(t[1]) - r["score"]) < 6e-5 for t, r in zip(table, rows))
PY

# Image -> images: each indexed image ranks itself first, score ~1.
for f in "$T"/imgs/*; do
  S --json -k 2 --image "$f" >"$T/self" || { fail "image query $f"; continue; }
  python3 - "$T/self" "$(realpath "$f")" <<'PY' || fail "self match for $f"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["id"] == sys.argv[2] and abs(rows[0]["score"] - 1) < 1e-4, rows
assert len(rows) == 2 and rows[1]["score"] < rows[0]["score"]
PY
done
Q=$T/imgs/shapes_baseline_300x500.jpg
# Mixed query: weight 1/0 reproduces the text query, 0/1 the image query; 0.5/0.5 differs.
S --json --image "$Q" "a colourful gradient" --text-weight 1 --image-weight 0 >"$T/m10"
S --json --image "$Q" >"$T/img"
S --json --image "$Q" "a colourful gradient" --text-weight 0 --image-weight 1 >"$T/m01"
S --json --image "$Q" "a colourful gradient" >"$T/m55"
python3 - "$T" <<'PY' || fail "mixed query weights"
import json, sys
load = lambda n: [(r["id"], r["score"]) for r in map(json.loads, open(sys.argv[1] + "/" + n))]
close = lambda a, b: [i for i, _ in a] == [i for i, _ in b] and all(abs(x - y) < 1e-5 for (_, x), (_, y) in zip(a, b))
assert close(load("m10"), load("json")), "1/0 != text"
assert close(load("m01"), load("img")), "0/1 != image"
assert not close(load("m55"), load("img")) and not close(load("m55"), load("json")), "0.5/0.5 equals a single modality"
PY
S --no-exif-orientation "a colourful gradient" >/dev/null || fail "--no-exif-orientation with a text query"
S --no-exif-orientation --image "$T/imgs/portrait_444_480x640.jpg" -k 1 >/dev/null || fail "--no-exif-orientation with an image"

# --min-score halfway between the 3rd and 4th score keeps 3.
MIN=$(python3 -c 'import json,sys; r=[json.loads(l)["score"] for l in open(sys.argv[1])]; print((r[2]+r[3])/2)' "$T/json")
S --json --min-score "$MIN" "a colourful gradient" >"$T/min"
[ "$(wc -l <"$T/min")" = 3 ] || fail "--min-score $MIN kept $(wc -l <"$T/min")"
S --min-score 1.5 "a colourful gradient" >"$T/none" || fail "--min-score above every score failed"
grep -q 'no results' "$T/none" || fail "empty result message: $(cat "$T/none")"

# --filter reaches the store.
S --json --filter '{"type":{"$eq":"jpg"}}' "a colourful gradient" >"$T/f"
[ "$(wc -l <"$T/f")" = 2 ] && ! grep -v '"type": *"jpg"' "$T/f" | grep -q . || fail "filter jpg: $(cat "$T/f")"
S --json --filter '{"$and":[{"n":{"$gte":1}},{"n":{"$lt":3}}]}' -k 10 "x" >"$T/f2"
[ "$(wc -l <"$T/f2")" = 2 ] || fail "filter \$and: $(cat "$T/f2")"
S --filter '{"type":{"$regex":"j"}}' "x" 2>"$T/err" >/dev/null; rc=$?
[ $rc -ne 0 ] && grep -q '^clipsearch: FilterError: ' "$T/err" || fail "bad filter: rc=$rc $(cat "$T/err")"
S --filter 'not json' "x" 2>"$T/err" >/dev/null && fail "non-JSON filter accepted"

# HTML gallery: self-contained, escaped, one thumbnail per hit, the query shown.
S -k 4 --html "$T/g.html" "a <colourful> gradient" >/dev/null 2>"$T/err" || fail "--html: $(cat "$T/err")"
python3 - "$T/g.html" <<'PY' || fail "html gallery"
import sys
h = open(sys.argv[1]).read()
assert h.startswith("<!DOCTYPE html>"), h[:50]
assert h.count("data:image/jpeg;base64,/9j/") == 4, h.count("data:image/jpeg;base64,")
assert "a &lt;colourful&gt; gradient" in h and "<colourful>" not in h
assert "<b>" not in h and "o'neil" not in h
assert 'src="http' not in h and "<link" not in h and "<script" not in h
PY
S -k 6 --html "$T/g2.html" --image "$Q" >/dev/null 2>&1 || fail "--html image query"
grep -q "o&#39;neil &lt;b&gt;&amp;&quot;x&quot;.png" "$T/g2.html" || fail "escaped path not in gallery"

# --preview only on a terminal: through a pipe the output is the plain table.
S --preview -k 3 "a colourful gradient" >"$T/prev"
cmp -s "$T/prev" "$T/k3" || fail "--preview changed piped output"
if command -v script >/dev/null; then
  script -qec "$CS search --db '$DB' --collection '$COLL' --preview -k 2 'a colourful gradient'" /dev/null >"$T/tty" 2>&1 </dev/null
  grep -q $'\e\\[' "$T/tty" || fail "--preview on a terminal printed no image"
fi

# REPL through a pseudo-terminal: two queries, then Ctrl-D (search_repl.sh has the rest).
export XDG_STATE_HOME=$T/state   # the REPL's history, never the user's
python3 - "$CS" "$DB" "$COLL" "$Q" >"$T/repl" 2>&1 <<'PY' || fail "repl: $(cat "$T/repl")"
import os, pty, sys, time, select, termios
cs, db, coll, img = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    os.execv(cs, [cs, "search", "--db", db, "--collection", coll, "-k", "2"])
out = b""
def read_until(token, timeout=60):
    global out
    end = time.time() + timeout
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return token in out
def wait_line_editing(timeout=60):
    """Handshake: the REPL has put the terminal in raw mode (read from the pty's master);
    a key sent before would meet the kernel's line discipline (Ctrl-D lost as an EOF)."""
    end = time.time() + timeout
    while termios.tcgetattr(fd)[3] & termios.ICANON:
        assert time.time() < end, out
        time.sleep(0.01)
assert read_until(b"search> "), out
wait_line_editing()
os.write(fd, b"a colourful gradient\n")
assert read_until(b"rank"), out
n = out.count(b"search> ")
assert read_until(b"search> ", 60) and out.count(b"search> ") >= 1
wait_line_editing()
os.write(fd, (":image " + img + "\n").encode())
deadline = time.time() + 60
while out.count(b"rank") < 2 and time.time() < deadline:
    read_until(b"\x00", 0.5)
assert out.count(b"rank") >= 2, out
assert img.encode() in out, out
wait_line_editing()
mark = len(out)
os.write(fd, b":image /nonexistent.png\n")
# The error, then the next prompt: the typed line's echo also says "nonexistent", and a
# Ctrl-D sent while that line is still being read is lost to the line discipline.
deadline = time.time() + 60
while b"search> " not in out[mark:] and time.time() < deadline:
    read_until(b"\x00", 0.5)
assert b"nonexistent" in out[mark:] and b"search> " in out[mark:], out
wait_line_editing()
os.write(fd, b"\x04")
deadline = time.time() + 60
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > deadline:
        os.kill(pid, 9)
        sys.exit("the REPL did not end after Ctrl-D: %r" % out[-600:])
    read_until(b"\x00", 0.2)
print(out.decode(errors="replace"))
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
PY

# Errors.
S </dev/null >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'no query' "$T/err" || fail "no query without a terminal: rc=$rc $(cat "$T/err")"
"$CS" search --db "$DB" --collection nope_$$ "x" 2>"$T/err" >/dev/null; rc=$?
[ $rc -ne 0 ] && grep -q "^clipsearch: nothing indexed yet in collection 'nope_$$' of .* run: clipsearch index DIR --db .* --collection nope_$$$" "$T/err" \
  || fail "unknown collection: rc=$rc $(cat "$T/err")"
"$FIX" empty "$DB" "${COLL}_d7" 7 || fail "dim-7 fixture"
"$CS" search --db "$DB" --collection "${COLL}_d7" "x" 2>"$T/err" >/dev/null; rc=$?
[ $rc -ne 0 ] && grep -q 'MismatchedDimension' "$T/err" && grep -q '7' "$T/err" && grep -q '32' "$T/err" \
  || fail "dimension mismatch: rc=$rc $(cat "$T/err")"
for bad in "-k 0" "-k 1001" "-k x" "--min-score x" "--text-weight -1" "--bogus"; do
  # shellcheck disable=SC2086
  S $bad "x" >/dev/null 2>&1; rc=$?
  [ $rc -eq 2 ] || fail "'$bad' exit $rc, expected 2"
done
S --text-weight 0 --image-weight 0 --image "$Q" x >/dev/null 2>&1; [ $? -eq 2 ] || fail "zero weights accepted"
S --image /nonexistent.jpg >/dev/null 2>"$T/err" && fail "missing query image accepted"
grep -q '/nonexistent.jpg' "$T/err" || fail "missing image message: $(cat "$T/err")"
CLIPSEARCH_MODEL=$T/no-model S "x" >/dev/null 2>"$T/err" && fail "missing model accepted"
grep -q 'model download' "$T/err" || fail "missing model message: $(cat "$T/err")"
"$CS" search --help | grep -q 'q = normalize(sum of weight \* normalize(embedding))' || fail "--help does not explain the mix"

# --like ID: the records nearest an indexed one, nothing encoded (the same ranking as a
# query by that image, which embeds the same vector); refused with a text; an unknown id
# names itself and the collection.
LIKE=$(realpath "$T/imgs/noise_rgb_224x224.png")
S --json -k 3 --like "$LIKE" >"$T/like" 2>"$T/err" || fail "--like: $(cat "$T/err")"
S --json -k 3 --image "$LIKE" >"$T/likeimg" 2>"$T/err" || fail "--image for --like: $(cat "$T/err")"
python3 - "$T/like" "$T/likeimg" "$LIKE" <<'PY' || fail "--like output: $(cat "$T/like")"
import json, sys
like = [json.loads(l) for l in open(sys.argv[1])]
img = [json.loads(l) for l in open(sys.argv[2])]
assert len(like) == 3 and like[0]["id"] == sys.argv[3] and abs(like[0]["score"] - 1) < 1e-4, like
assert [r["id"] for r in like] == [r["id"] for r in img]
assert all(abs(a["score"] - b["score"]) < 1e-4 for a, b in zip(like, img))
PY
S --like "$LIKE" "and a text" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--like searches near an indexed record" "$T/err" || fail "--like with a text: rc=$rc $(cat "$T/err")"
S --like /no/such/photo.jpg >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "no record '/no/such/photo.jpg' in collection '$COLL'" "$T/err" || fail "--like unknown: rc=$rc $(cat "$T/err")"

if [ -n "${CS_TEST_DB_URL:-}" ]; then
  "$CS" vec drop "$COLL" --db "$DB" >/dev/null 2>&1; "$CS" vec drop "${COLL}_d7" --db "$DB" >/dev/null 2>&1
fi
[ $fails -eq 0 ] && echo "search_cli: all passed"
exit $((fails > 0))
