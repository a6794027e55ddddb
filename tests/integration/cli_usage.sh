#!/usr/bin/env bash
# The command line's front door: --version (exit 0, version and formats), --help (exit 0,
# every command listed), no command / an unknown one (exit 2, usage on stderr), and the
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
"$BUILD/cs_gen_checkpoint" --help >"$T/out" 2>"$T/err" || fail "cs_gen_checkpoint --help: exit $?"
grep -q '^usage: cs_gen_checkpoint --out DIR' "$T/out" || fail "cs_gen_checkpoint --help: $(cat "$T/out")"
"$BUILD/cs_gen_checkpoint" --bogus >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '--bogus' (see --help)" "$T/err" || fail "cs_gen_checkpoint --bogus: rc=$rc"
[ $fails -eq 0 ] && echo "cli_usage: ok"
exit $((fails > 0))
