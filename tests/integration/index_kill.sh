#!/bin/bash
# clipsearch index killed with SIGKILL mid-run (--batch 4): the store stays consistent
# (PRAGMA integrity_check on SQLite), only whole batches were committed, and the next run
# resumes: the committed files are "unchanged", the rest indexed, no duplicates.
. "$(dirname "$0")/index_common.bash"
need_counter
N=600
mkdir -p "$TMP/imgs"
"$GEN" png "$TMP/imgs" $N 160 120 11 || die "generating images"

"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --batch 4 --jobs 2 --quiet \
    "$TMP/imgs" >/dev/null 2>"$TMP/err" &
PID=$!
K=0
for _ in $(seq 1 1200); do
    sleep 0.05
    K=$(count 2>/dev/null) || K=0
    [ -n "$K" ] || K=0
    [ "$K" -ge 12 ] && break
    kill -0 $PID 2>/dev/null || break
done
if ! kill -9 $PID 2>/dev/null; then
    wait $PID
    echo "SKIP: the run finished before it could be killed (machine too fast for $N images)"
    exit 77
fi
wait $PID 2>/dev/null
K=$(count)
echo "killed after $K records"
[ "$K" -ge 12 ] && [ "$K" -lt $N ] || die "records after kill: $K"
[ $((K % 4)) = 0 ] || die "records after kill not whole batches of 4: $K"
if [ "$BACKEND" = sqlite ]; then
    IC=$(sqlite3 "$DB" "PRAGMA integrity_check")
    [ "$IC" = ok ] || die "integrity_check: $IC"
fi
idx "$TMP/imgs" --batch 4
[ $RC = 0 ] || die "resume run exit $RC: $(cat "$TMP/err")"
expect "resume" unchanged "$K" indexed $((N - K)) failed 0 reused 0
[ "$(count)" = $N ] || die "count after resume: $(count)"
idx "$TMP/imgs"
expect "third run" unchanged $N indexed 0
exit $fail
