#!/bin/bash
# clipsearch index interrupted by SIGINT (and SIGTERM): it finishes the batch in hand,
# commits, prints the summary (interrupted) and exits 130; everything it reports as
# indexed is stored, and the next run completes the folder.
. "$(dirname "$0")/index_common.bash"
need_counter
N=600
mkdir -p "$TMP/imgs"
"$GEN" png "$TMP/imgs" $N 160 120 12 || die "generating images"

interrupt() {  # SIGNAL: start a run, send SIGNAL after some batches, wait
    "$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --batch 4 --jobs 2 --json \
        "$TMP/imgs" >"$TMP/out.json" 2>"$TMP/err" &
    local pid=$! k=0
    for _ in $(seq 1 1200); do
        sleep 0.05
        k=$(count 2>/dev/null) || k=0
        [ -n "$k" ] || k=0
        [ "$k" -ge "$1" ] && break
        kill -0 $pid 2>/dev/null || break
    done
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

idx "$TMP/imgs"
[ $RC = 0 ] || die "final run exit $RC"
expect "final" unchanged "$I2" indexed $((N - I2)) interrupted False
[ "$(count)" = $N ] || die "count at the end: $(count)"
exit $fail
