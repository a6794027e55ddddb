#!/bin/bash
# clipsearch index: what gets indexed. Hidden names and the built-in non-photo trees are
# skipped by default (a DIR itself is always walked); --include-hidden; --exclude globs
# (base name, relative path, directories only); .clipsearchignore files and their
# unsupported lines; the summary's excluded count; "no images found"; records of files
# excluded later are kept (not pruned, counted as excluded_kept), while a deleted file
# is pruned whether or not it would be excluded.
. "$(dirname "$0")/index_common.bash"
need_counter

D=$TMP/d
mkdir -p "$D/sub/private" "$D/.hdir" "$D/node_modules/pkg" "$D/raw" "$D/sub/raw_file"
seed=1
img() { "$GEN" onepng "$1" 24 24 $seed || die "generating $1"; seed=$((seed + 1)); }
img "$D/a.png"
img "$D/sub/b.png"
img "$D/.h.png"                       # hidden file
img "$D/.hdir/c.png"                  # in a hidden folder
img "$D/.hdir/$(printf 'caf\xe9.png')"  # non-UTF-8 name: an escaped id
img "$D/node_modules/pkg/icon.png"    # built-in tree
img "$D/raw/r.png"                    # --exclude 'raw/' (a directory)
img "$D/sub/raw_file/raw"             # a file named raw: not matched by 'raw/'
img "$D/tmp1.png"                     # --exclude 'tmp*'
img "$D/sub/private/p.png"            # sub/.clipsearchignore
img "$D/sub/skip.png"                 # sub/.clipsearchignore
printf '# private things\n\nprivate/\n/skip.png\n!a.png\n' >"$D/sub/.clipsearchignore"

# 1. defaults + --exclude + .clipsearchignore
idx "$D" --exclude 'tmp*' --exclude 'raw/'
[ $RC = 0 ] || die "first run exit $RC: $(cat "$TMP/err")"
# indexed: a, sub/b, sub/raw_file/raw; excluded: .h.png, .hdir, node_modules, raw,
# tmp1.png, sub/private, sub/skip.png
expect "defaults" indexed 3 failed 0 excluded 7 excluded_kept 0
[ "$(count)" = 3 ] || die "record count $(count), expected 3"
grep -q 'sub/.clipsearchignore: line 5: "!" (re-include) is not supported' "$TMP/err" \
    || die "no warning for the unsupported '!' line: $(cat "$TMP/err")"
[ -n "$(meta "$(realpath "$D/sub/raw_file/raw")")" ] || die "sub/raw_file/raw not indexed"
[ -z "$(meta "$(realpath "$D/sub/skip.png")")" ] || die "sub/skip.png indexed"

# 2. --include-hidden: hidden names too; node_modules stays out
idx "$D" --exclude 'tmp*' --exclude 'raw/' --include-hidden
expect "include hidden" indexed 3 unchanged 3 excluded 5
[ "$(count)" = 6 ] || die "record count $(count), expected 6"

# 3. hidden again, with --prune: the hidden files are still on disk, so their records
#    stay (counted, with a note in the text summary), including the escaped id
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --prune \
    --exclude 'tmp*' --exclude 'raw/' "$D" >"$TMP/out.txt" 2>"$TMP/err"
[ $? = 0 ] || die "text run: $(cat "$TMP/err")"
grep -q '0 pruned, 7 excluded' "$TMP/out.txt" || die "text summary: $(cat "$TMP/out.txt")"
grep -q 'note: 3 records of excluded files stay in the collection' "$TMP/out.txt" \
    || die "no note about kept records: $(cat "$TMP/out.txt")"
[ "$(count)" = 6 ] || die "excluded records were pruned: count $(count), expected 6"
idx "$D" --exclude 'tmp*' --exclude 'raw/' --prune
expect "hidden excluded, prune" pruned 0 excluded_kept 3 unchanged 3

# 4. a deleted file is gone, excluded or not: pruned
rm "$D/.h.png"
idx "$D" --exclude 'tmp*' --exclude 'raw/' --prune
expect "deleted hidden file" pruned 1 excluded_kept 2 excluded 6
[ "$(count)" = 5 ] || die "record count $(count), expected 5"

# 5. a hidden DIR named explicitly is walked
idx "$D/.hdir"
expect "explicit hidden root" unchanged 2 excluded 0

# 6. nothing to index: "no images found", with the excluded count, exit 0
E=$TMP/empty
mkdir -p "$E/.git"
img "$E/.only_hidden.png"
img "$E/.git/x.png"
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" "$E" >"$TMP/out.txt" 2>"$TMP/err"
[ $? = 0 ] || die "empty run exit status: $(cat "$TMP/err")"
grep -q "^no images found under $E (2 entries excluded" "$TMP/out.txt" \
    || die "no-images message: $(cat "$TMP/out.txt")"
idx "$E"
expect "empty, json" indexed 0 excluded 2
grep -q "no images found under $E" "$TMP/err" || die "no-images message with --json: $(cat "$TMP/err")"
mkdir -p "$TMP/nothing"
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" "$TMP/nothing" >"$TMP/out.txt" 2>&1
grep -qx "no images found under $TMP/nothing" "$TMP/out.txt" || die "plain no-images: $(cat "$TMP/out.txt")"

# 7. a glob that can match nothing is a usage error
"$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --exclude '' "$D" >/dev/null 2>"$TMP/err"
[ $? = 2 ] || die "--exclude '' not refused: $(cat "$TMP/err")"
exit $fail
