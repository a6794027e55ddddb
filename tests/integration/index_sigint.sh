#!/bin/bash
# clipsearch index interrupted by SIGINT (and SIGTERM): it finishes the batch in hand,
# commits, prints the summary (interrupted) and exits 130; everything it reports as
# indexed is stored, and the next run completes the folder.
. "$(dirname "$0")/index_common.bash"
need_counter
N=600
mkdir -p "$TMP/imgs"
"$GEN" png "$TMP/imgs" $N 160 120 12 || die "generating images"

interrupt() {  # COUNT SIGNAL [twice]: start a run, send SIGNAL after COUNT records, wait
    # Twice: batches of 200, so that the second signal, sent once the first one is
    # acknowledged on stderr, finds the batch still in hand.
    "$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --batch "$([ "${3:-}" = twice ] && echo 200 || echo 4)" \
        --jobs 2 --json "$TMP/imgs" >"$TMP/out.json" 2>"$TMP/err" &
    local pid=$! k=0
    for _ in $(seq 1 1200); do
        sleep 0.05
        k=$(count 2>/dev/null) || k=0
        [ -n "$k" ] || k=0
        [ "$k" -ge "$1" ] && break
        kill -0 $pid 2>/dev/null || break
    done
    if [ "${3:-}" = twice ] && kill -"$2" $pid 2>/dev/null; then
        # An impatient Ctrl-C Ctrl-C: the second once the first is acknowledged.
        for _ in $(seq 1 1200); do
            grep -q 'stopping after the batch in hand' "$TMP/err" && break
            kill -0 $pid 2>/dev/null || break
            sleep 0.01
        done
    fi
    if ! kill -"$2" $pid 2>/dev/null; then
        wait $pid
        echo "SKIP: the run finished before the signal (machine too fast for $N images)"
        exit 77
    fi
    wait $pid
    RC=$?
}

interrupt 8 INT
[ $RC = 130 ] || die "exit status after SIGINT: $RC ($(cat "$TMP/err"))"
expect "sigint" interrupted True failed 0
I=$(j indexed)
[ "$I" -ge 8 ] && [ "$I" -lt $N ] || die "indexed after SIGINT: $I"
[ "$(count)" = "$I" ] || die "summary says $I indexed, store holds $(count)"

interrupt $((I + 8)) TERM
[ $RC = 130 ] || die "exit status after SIGTERM: $RC"
expect "sigterm" interrupted True unchanged "$I"
I2=$(($(j indexed) + I))
[ "$(count)" = "$I2" ] || die "after SIGTERM: store holds $(count), expected $I2"

# Twice: stopped at once, or (when the batch ended first) the usual summary; either way
# exit 130, a line that says where the run stood, and a store that resumes.
interrupt $((I2 + 8)) INT twice
[ $RC = 130 ] || die "exit status after SIGINT twice: $RC ($(cat "$TMP/err"))"
if grep -q 'interrupted again' "$TMP/err"; then
    grep -Eq '^clipsearch: index: interrupted again: stopped without committing the batch in hand; [0-9]+ of '"$N"' files done \(new [0-9]+, reused 0, unchanged '"$I2"', failed 0\); every committed batch is stored' "$TMP/err" ||
        die "second-signal line: $(cat "$TMP/err")"
    [ ! -s "$TMP/out.json" ] || die "a half-written summary after the second signal: $(cat "$TMP/out.json")"
else
    expect "sigint twice" interrupted True unchanged "$I2"
fi
grep -q '^clipsearch: index: stopping after the batch in hand (Ctrl-C again to stop at once)$' "$TMP/err" ||
    die "the first signal was not acknowledged: $(cat "$TMP/err")"
I3=$(count)
[ "$I3" -ge "$I2" ] && [ "$I3" -lt $N ] || die "after SIGINT twice: store holds $I3"

idx "$TMP/imgs"
[ $RC = 0 ] || die "final run exit $RC"
expect "final" unchanged "$I3" indexed $((N - I3)) interrupted False
[ "$(count)" = $N ] || die "count at the end: $(count)"
exit $fail
