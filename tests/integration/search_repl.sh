#!/usr/bin/env bash
# The search REPL: on a terminal (a pty) line editing with history kept in
# $XDG_STATE_HOME/clipsearch/search_history (reloaded by the next session, Up recalls),
# Ctrl-C clears the half-typed line, the ':' commands (:help :k :filter :image with ~/,
# an unknown one is not searched), UTF-8 queries answered as the one-shot search answers
# them, Ctrl-D quits with status 0; from a pipe, one query per line (a table per query, or
# one JSON line per query with --json), a failing query reported and the rest answered
# (status 1), an empty pipe a usage error (2). $CS_TEST_DB_URL selects PostgreSQL.
set -uo pipefail
CS=${CLIPSEARCH:?} SRC=${CS_SOURCE_DIR:?} BUILD=${CS_BUILD_DIR:?}
FIX=$BUILD/cs_query_fixture
[ -x "$FIX" ] || { echo "SKIP: $FIX not built"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
export CLIPSEARCH_MODEL=$SRC/tests/fixtures/tiny/model
export XDG_STATE_HOME=$T/state HOME=$T/home
DB=${CS_TEST_DB_URL:-$T/repl.db}
COLL=search_repl_$$
IMG=$SRC/tests/fixtures/tiny/images
mkdir -p "$T/imgs" "$HOME"
cp "$IMG/gradient_rgb_640x480.png" "$IMG/shapes_baseline_300x500.jpg" "$IMG/noise_rgb_224x224.png" \
   "$IMG/portrait_444_480x640.jpg" "$IMG/rgba_256x320.png" "$T/imgs/"
cp "$IMG/noise_rgb_224x224.png" "$HOME/q.png"
"$FIX" images "$DB" "$CLIPSEARCH_MODEL" "$COLL" "$T"/imgs/* || { echo "fixture failed"; exit 1; }
S() { "$CS" search --db "$DB" --collection "$COLL" "$@"; }
S --json -k 3 "café rouge €" >"$T/utf8" 2>/dev/null || fail "one-shot UTF-8 query"
S --json -k 3 --image "$HOME/q.png" >"$T/img" 2>/dev/null || fail "one-shot image query"
S --json -k 2 --filter '{"type":{"$eq":"jpg"}}' "a photo" >"$T/filt" 2>/dev/null || fail "one-shot filter"

# session SCRIPT...: drives the REPL through a pty; prints its output.
session() {
    python3 - "$CS" "$DB" "$COLL" "$@" <<'PY'
import json, os, pty, select, signal, sys, termios, time
cs, db, coll, script = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(cs, [cs, "search", "--db", db, "--collection", coll, "--json"])
out = b""
def read_until(token, start, timeout=60):
    """Reads until token shows up in the output after position start."""
    global out
    end = time.time() + timeout
    while token not in out[start:]:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        if not r:
            sys.exit("timeout waiting for %r; output so far: %r" % (token, out[-600:]))
        try:
            out += os.read(fd, 65536)
        except OSError:
            sys.exit("the REPL ended early: %r" % out[-600:])
def wait_line_editing(timeout=60):
    """Handshake: waits until the REPL has put the terminal in raw mode (the pty's master
    reads the terminal's settings). Keys sent before that would meet the kernel's line
    discipline instead of the line editor (echoed, or Ctrl-D taken as end of file)."""
    end = time.time() + timeout
    while termios.tcgetattr(fd)[3] & termios.ICANON:
        if time.time() > end:
            sys.exit("the REPL never started editing a line; output so far: %r" % out[-600:])
        time.sleep(0.01)
# Each step: send (optional; \xNN escapes), then wait for its token in what follows;
# after Enter or Ctrl-C also for the next prompt (the REPL is ready again).
for step in json.loads(script):
    mark = len(out)
    data = step.get("send", "").encode("utf-8").decode("unicode_escape").encode("latin-1")
    if data:
        wait_line_editing()
        os.write(fd, data)
    if step.get("wait"):
        read_until(step["wait"].encode(), mark)
    if data.endswith(b"\x04"):
        break
    if data.endswith((b"\r", b"\x03")):
        read_until(b"search> ", mark)
# What is left to read, then the exit status (the pty reads EIO once the child is gone).
end = time.time() + 60
while True:
    r, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
    if not r:
        os.kill(pid, signal.SIGKILL)
        sys.exit("the REPL did not end after Ctrl-D; output: %r" % out[-600:])
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
print("\nEXIT %d" % os.WEXITSTATUS(status))
PY
}

# First session: every command, a UTF-8 query, a Ctrl-C'd half line, Ctrl-D.
session '[{"wait": "search> "},
  {"send": ":help\r", "wait": ":filter JSON"},
  {"send": ":k 3\r"},
  {"send": "caf\\xc3\\xa9 rouge \\xe2\\x82\\xac\r", "wait": "rank"},
  {"send": ":image ~/q.png\r", "wait": "q.png"},
  {"send": "half typed", "wait": "typed"},
  {"send": "\\x03"},
  {"send": ":bogus thing\r", "wait": "unknown command"},
  {"send": ":k 0\r", "wait": "1..1000"},
  {"send": ":k 2\r"},
  {"send": ":filter {\"type\":{\"$eq\":\"jpg\"}}\r", "wait": "filter set"},
  {"send": "a photo\r", "wait": "jpg"},
  {"send": ":filter\r", "wait": "filter cleared"},
  {"send": "\\x04"}]' >"$T/s1" 2>&1 || fail "session 1: $(tail -c 800 "$T/s1")"
python3 - "$T/s1" "$T/utf8" "$T/img" "$T/filt" <<'PY' || fail "session 1 output: $(tail -c 1500 "$T/s1")"
import json, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
assert text.rstrip().endswith("EXIT 0"), text[-300:]
rows = [json.loads(l) for l in text.replace("\r", "").split("\n") if l.startswith('{"rank"')]
want = [json.loads(l) for f in sys.argv[2:5] for l in open(f)]
got = [(r["id"], round(r["score"], 6)) for r in rows]
assert got == [(r["id"], round(r["score"], 6)) for r in want], (got, want)
assert "unknown command ':bogus'" in text and "half typed" in text
PY
HIST=$XDG_STATE_HOME/clipsearch/search_history
[ -f "$HIST" ] || fail "no history file at $HIST"
grep -q 'half' "$HIST" && fail "the Ctrl-C'd line went into the history"
[ "$(stat -c %a "$XDG_STATE_HOME/clipsearch")" = 700 ] || fail "history folder mode $(stat -c %a "$XDG_STATE_HOME/clipsearch")"

# The history holds the lines entered, in order, without the Ctrl-C'd one.
python3 - "$HIST" <<'PY' || fail "history content: $(cat -v "$HIST")"
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")[1:-1]
lines = [l.replace("\\040", " ") for l in lines]
assert lines == [":help", ":k 3", "café rouge €", ":image ~/q.png", ":bogus thing", ":k 0",
                 ":k 2", ':filter {"type":{"$eq":"jpg"}}', "a photo", ":filter"], lines
PY
# Second session: the history is back: after ":k 3", Up x9 is the UTF-8 query again.
session '[{"wait": "search> "},
  {"send": ":k 3\r"},
  {"send": "\\x1b[A\\x1b[A\\x1b[A\\x1b[A\\x1b[A\\x1b[A\\x1b[A\\x1b[A\\x1b[A\r", "wait": "rank"},
  {"send": "\\x04"}]' >"$T/s2" 2>&1 || fail "session 2: $(tail -c 800 "$T/s2")"
python3 - "$T/s2" "$T/utf8" <<'PY' || fail "history recall: $(tail -c 1500 "$T/s2")"
import json, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
rows = [json.loads(l) for l in text.replace("\r", "").split("\n") if l.startswith('{"rank"')]
want = [json.loads(l) for l in open(sys.argv[2])]
assert [r["id"] for r in rows] == [r["id"] for r in want], (rows, want)
PY

# From a pipe: a table per query; with --json one line per query.
printf 'café rouge €\n\n:k 2\na photo\n' | S -k 3 >"$T/p1" 2>"$T/perr" || fail "piped queries: $(cat "$T/perr")"
[ "$(grep -c '^query: ' "$T/p1")" = 2 ] && grep -q '^query: café rouge €$' "$T/p1" || fail "piped table: $(cat "$T/p1")"
printf 'café rouge €\n:image %s\n' "$HOME/q.png" | S -k 3 --json >"$T/p2" 2>"$T/perr" || fail "piped --json: $(cat "$T/perr")"
python3 - "$T/p2" "$T/utf8" "$T/img" <<'PY' || fail "piped --json output: $(cat "$T/p2")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 2, lines
for answer, f in zip(lines, sys.argv[2:]):
    want = [json.loads(l) for l in open(f)]
    assert [(r["id"], round(r["score"], 6)) for r in answer["results"]] == [(r["id"], round(r["score"], 6)) for r in want]
assert lines[0]["query"] == "café rouge €", lines[0]["query"]
PY
# :like ID from a pipe: the same answer as a one-shot --like.
LIKEID=$(S --json -k 1 --image "$HOME/q.png" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
S --json -k 3 --like "$LIKEID" >"$T/like1" 2>"$T/perr" || fail "one-shot --like: $(cat "$T/perr")"
printf ':like %s\n' "$LIKEID" | S -k 3 --json >"$T/p4" 2>"$T/perr" || fail "piped :like: $(cat "$T/perr")"
python3 - "$T/p4" "$T/like1" <<'PY' || fail "piped :like output: $(cat "$T/p4")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
assert len(lines) == 1 and [r["id"] for r in lines[0]["results"]] == [r["id"] for r in want], lines
assert lines[0]["results"][0]["score"] > 0.9999
PY
printf 'red +\nred\n' | S --json >"$T/p3" 2>"$T/perr"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/p3")" = 1 ] && grep -q "nothing after '+'" "$T/perr" || fail "a failing piped query: rc=$rc $(cat "$T/p3" "$T/perr")"
printf '\n\n' | S >/dev/null 2>"$T/perr"; rc=$?
[ $rc -eq 2 ] && grep -q 'no query' "$T/perr" || fail "empty pipe: rc=$rc $(cat "$T/perr")"

[ -n "${CS_TEST_DB_URL:-}" ] && "$CS" vec drop --db "$DB" "$COLL" >/dev/null 2>&1
[ $fails -eq 0 ] && echo "search_repl: ok"
exit $((fails > 0))
