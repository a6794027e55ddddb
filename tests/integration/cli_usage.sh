#!/usr/bin/env bash
# The command line's front door: --version (exit 0, version and formats), --help (exit 0,
# every command listed), no command / an unknown one (exit 2, usage on stderr), each
# command's --help and the exact words of its option errors (src/cli/cli_options.c: the
# commands word an unknown option in different styles, which scripts may match), and the
# test tool cs_gen_checkpoint's --help.
set -uo pipefail
CS=${CLIPSEARCH:?} BUILD=${CS_BUILD_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
for v in --version -V version; do
    "$CS" $v >"$T/out" 2>"$T/err" || fail "$v: exit $?"
    grep -Eq '^clipsearch [0-9]+\.[0-9]+\.[0-9]+$' "$T/out" || fail "$v: $(cat "$T/out")"
    grep -q '^image formats: .*HEIC/HEIF.*JPEG XL' "$T/out" || fail "$v formats: $(cat "$T/out")"
    [ ! -s "$T/err" ] || fail "$v wrote to stderr: $(cat "$T/err")"
done
"$CS" --help >"$T/out" || fail "--help: exit $?"
for c in index search duplicates add-text labels embed tokenize vec model serve finetune; do
    grep -q "^  $c " "$T/out" || fail "--help does not list $c"
done
grep -q -- '--version' "$T/out" || fail "--help does not mention --version"
"$CS" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ ! -s "$T/out" ] && grep -q '^usage: clipsearch' "$T/err" || fail "no command: rc=$rc"
"$CS" frobnicate >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'frobnicate'" "$T/err" || fail "unknown command: rc=$rc"
# Each command's --help: exit 0, its usage on stdout, nothing on stderr.
for c in index search duplicates add-text labels serve finetune "model download" "model info" \
         model vec; do
    for h in --help -h; do
        "$CS" $c $h >"$T/out" 2>"$T/err"; rc=$?
        [ $rc -eq 0 ] && [ ! -s "$T/err" ] && grep -q "^usage: clipsearch ${c%% *}" "$T/out" ||
            fail "$c $h: rc=$rc $(cat "$T/err")"
    done
done
# Option errors, before anything is loaded: exit 2 and this exact line on stderr.
usage_error() {
    local want=$1; shift
    "$CS" "$@" >"$T/out" 2>"$T/err" </dev/null; local rc=$?
    [ $rc -eq 2 ] && [ ! -s "$T/out" ] && [ "$(cat "$T/err")" = "clipsearch: $want" ] ||
        fail "$*: rc=$rc, want '$want', got '$(cat "$T/err")'"
}
usage_error "index: unknown option '--bogus'" index --bogus /tmp
usage_error "index: --jobs needs a value" index /tmp --jobs
usage_error "index: --jobs needs a number 1..1024, got '0'" index --jobs 0 /tmp
usage_error "index: --jobs needs a number 1..1024, got 'x'" index --jo=x /tmp
usage_error "index: --max-memory needs a size such as 512M or 2G (at least 16M), got '15M'" \
    index --max-memory 15M /tmp
usage_error "index: --precision is fp32 or bf16, got 'fp16'" index --precision fp16 /tmp
usage_error "index: unknown option '--p'" index --p bf16 /tmp
usage_error "search: unknown or incomplete option '--bogus' (see --help)" search --bogus x
usage_error "search: unknown or incomplete option '-x' (see --help)" search -xy
usage_error "search: unknown or incomplete option '-k' (see --help)" search -k
usage_error "search: -k needs an integer 1..1000, got '0'" search -k 0 x
usage_error "search: --text-weight needs a number >= 0, got '-1'" search --text-weight -1 x
usage_error "search: --min-score needs a number, got 'nan'" search --min-score nan x
usage_error "search: --ef-search needs an integer 1..1000, got '0'" search --ef-search 0 x
usage_error "search: unknown or incomplete option '--json=1' (see --help)" search --json=1 x
usage_error "duplicates: --threshold needs a cosine similarity in (0, 1], got '0'" \
    duplicates --threshold 0
usage_error "duplicates: unknown or incomplete option '--limit' (see --help)" duplicates --limit
usage_error "duplicates: unexpected argument 'x' (see --help)" duplicates x
usage_error "add-text: unknown or incomplete option '-x' (see --help)" add-text -x f
usage_error "add-text: --batch needs an integer 1..4096, got '0'" add-text --batch 0 f
usage_error "labels: --template needs a {} where the label goes" labels --template x img
usage_error "labels: --precision is fp32 or bf16, got 'x'" labels --precision x img
usage_error "labels: unknown or incomplete option '--label' (see --help)" labels --label a img
usage_error "model download: unknown or incomplete option '--bogus'" model download --bogus
usage_error "model download: --retries needs 0..100, got '101'" model download --retries 101
usage_error "model info: unknown or incomplete option '--model'" model info --model
usage_error "serve: --port needs an integer 0..65535, got '65536'" serve --port 65536
usage_error "serve: --thumb-cache needs a folder" serve --thumb-cache ''
usage_error "serve: unknown or incomplete option '--h' (see --help)" serve --h
usage_error "finetune: --train last:K needs K >= 1, got 'last:0'" finetune --train last:0
usage_error "finetune: --train is heads, last:K or all, got 'x'" finetune --train x
usage_error "finetune: --loss is clip or mnrl, got 'x'" finetune --loss x
usage_error "finetune: --seed needs an integer >= 0, got '-1'" finetune --seed -1
usage_error "finetune: --pairs FILE and --out DIR are required (see --help)" finetune
"$BUILD/cs_gen_checkpoint" --help >"$T/out" 2>"$T/err" || fail "cs_gen_checkpoint --help: exit $?"
grep -q '^usage: cs_gen_checkpoint --out DIR' "$T/out" || fail "cs_gen_checkpoint --help: $(cat "$T/out")"
"$BUILD/cs_gen_checkpoint" --bogus >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '--bogus' (see --help)" "$T/err" || fail "cs_gen_checkpoint --bogus: rc=$rc"
[ $fails -eq 0 ] && echo "cli_usage: ok"
exit $((fails > 0))
