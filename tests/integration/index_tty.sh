#!/bin/bash
# clipsearch index on a terminal (a pty): the progress line is redrawn in place
# ("\r\033[K"), a warning clears it, prints its own line and puts the same progress line
# back under it (the bar survives warnings), and the summary replaces the bar.
. "$(dirname "$0")/index_common.bash"
mkdir -p "$TMP/imgs"
"$GEN" png "$TMP/imgs" 6 64 48 3 || die "generating images"
printf 'not an image at all' >"$TMP/imgs/broken1.png"
head -c 120 "$(ls "$TMP"/imgs/*.png | head -1)" >"$TMP/imgs/broken2.png"
python3 - "$BIN" "$DB" "$COLL" "$MODEL" "$TMP/imgs" <<'PY' || die "pty run"
import os, pty, re, sys
bin_, db, coll, model, imgs = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(bin_, [bin_, "index", "--db", db, "--collection", coll, "--model", model,
                    "--jobs", "1", imgs])
out = b""
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
_, status = os.waitpid(pid, 0)
assert os.WEXITSTATUS(status) == 0, (status, out)
text = out.decode("utf-8", "replace").replace("\r\n", "\n")
warnings = [m for m in re.finditer(r"clipsearch: warning: [^\n]*broken[12]\.png: [^\n]*\n", text)]
assert len(warnings) == 2, text
for m in warnings:
    before = text[:m.start()]
    # The line the warning cleared: the last progress line drawn before it.
    assert before.endswith("\r\x1b[K"), repr(before[-80:])
    last = re.split(r"\r\x1b\[K|\n", before[:-len("\r\x1b[K")])[-1]
    after = text[m.end():]
    # Put back at once, as it was (not left blank until the next report).
    assert last and after.startswith(last), (repr(last), repr(after[:120]))
summary = text.rsplit("\r\x1b[K", 1)[-1]
assert re.match(r"6 indexed, 0 unchanged, 0 reused, 2 failed", summary), repr(summary)
PY
exit $fail
