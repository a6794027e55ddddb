# Shared by tests/integration/index_*.sh (sourced; not a test itself: not *.sh).
# Store: $CS_TEST_DB_URL when set (PostgreSQL variant), else a temp SQLite file.
# Each script gets its own collection, so variants may share one server.
set -u
BIN=${CLIPSEARCH:-build/clipsearch}
SRC=${CS_SOURCE_DIR:-.}
BUILD=${CS_BUILD_DIR:-build}
MODEL=$SRC/tests/fixtures/tiny/model
GEN=$BUILD/cs_index_testimages
command -v python3 >/dev/null || { echo "SKIP: python3 needed to read JSON"; exit 77; }
[ -x "$GEN" ] || { echo "SKIP: $GEN not built"; exit 77; }
TMP=$(mktemp -d)
COLL=ix_$(basename "$0" .sh)_$$
if [ -n "${CS_TEST_DB_URL:-}" ]; then
    DB=$CS_TEST_DB_URL
    BACKEND=postgres
else
    DB=$TMP/index.db
    BACKEND=sqlite
fi
cleanup() {
    chmod -R u+rwx "$TMP" 2>/dev/null
    if [ "$BACKEND" = postgres ]; then
        "$BIN" vec drop --db "$DB" "$COLL" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

# idx ARGS...: one indexing run; the JSON summary goes to $TMP/out.json, stderr to
# $TMP/err, the exit status to $RC.
idx() {
    "$BIN" index --db "$DB" --collection "$COLL" --model "$MODEL" --json "$@" \
        >"$TMP/out.json" 2>"$TMP/err"
    RC=$?
}
# j KEY: a field of the last summary.
j() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/out.json" "$1"; }
# expect KEY VALUE [KEY VALUE...]: compares fields of the last summary.
expect() {
    local what=$1; shift
    while [ $# -gt 0 ]; do
        local got
        got=$(j "$1")
        [ "$got" = "$2" ] || die "$what: $1 = $got, expected $2 (summary: $(cat "$TMP/out.json"); stderr: $(head -c 2000 "$TMP/err"))"
        shift 2
    done
}
# count: number of records in the collection.
count() {
    if [ "$BACKEND" = sqlite ]; then
        local tbl
        tbl=$(sqlite3 "$DB" "select tbl from cs_collections where name='$COLL'")
        sqlite3 "$DB" "select count(*) from \"$tbl\""
    else
        psql "$DB" -tAc "select count(*) from vecs.\"$COLL\""
    fi
}
# meta ID: the metadata JSON of one record.
meta() {
    if [ "$BACKEND" = sqlite ]; then
        local tbl
        tbl=$(sqlite3 "$DB" "select tbl from cs_collections where name='$COLL'")
        sqlite3 "$DB" "select metadata from \"$tbl\" where id='$1'"
    else
        psql "$DB" -tAc "select metadata from vecs.\"$COLL\" where id='$1'"
    fi
}
need_counter() {
    if [ "$BACKEND" = sqlite ]; then
        command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 CLI needed"; exit 77; }
    else
        command -v psql >/dev/null || { echo "SKIP: psql needed"; exit 77; }
    fi
}
