#!/usr/bin/env python3
"""The two backends must behave identically (DESIGN.md §3.3, spec §15): the same
`clipsearch vec` commands run against a temporary SQLite file and against PostgreSQL +
pgvector (CS_TEST_DB_URL) and their outputs are compared: exit status, error category,
records, metadata text, and distances within the spec's tolerance (1e-6 + 1e-5|x|).
The data set and filters exercise jsonb semantics (spec §7.3-7.5): cross-type order, the
empty array, byte-order strings, 1 == 1.0, null vs missing, non-object metadata."""
import json
import math
import os
import subprocess
import sys
import tempfile

CLI = os.environ["CLIPSEARCH"]
PG = os.environ["CS_TEST_DB_URL"]
NAME = "agree_%d" % os.getpid()

X_VALUES = [1, 1.0, 1.5, -2, 9007199254740993, 0.1, "a", "B", "abc", "é", "z", "", True, False,
            None, [], [1, 2], [3], ["a", 1], {}, {"y": 1}, {"aa": 1, "c": 1}, "MISSING"]


def records():
    out = []
    for i, x in enumerate(X_VALUES):
        meta = {"i": i, "grp": "even" if i % 2 == 0 else "odd"}
        if x != "MISSING":
            meta["x"] = x
        if i % 5 == 0:
            meta["tags"] = ["t%d" % (i % 3), "all"]
        vec = [math.cos(i * 0.7) * (1 + i % 4), math.sin(i * 1.3) + 0.01 * i, (i % 7) - 3.0]
        out.append({"id": "r%02d" % i, "vector": vec, "metadata": meta})
    # Metadata that is not an object, and an id needing care.
    out.append({"id": "arr", "vector": [0.5, -0.25, 2.0], "metadata": [1, 2]})
    out.append({"id": "str 'q\"", "vector": [-0.5, 0.75, -1.0], "metadata": "x"})
    out.append({"id": "zero", "vector": [0.0, 0.0, 0.0], "metadata": {"x": 2}})
    return out


FILTERS = [
    {"x": {"$eq": 1}}, {"x": {"$eq": 1.0}}, {"x": {"$eq": "a"}}, {"x": {"$eq": True}},
    {"x": {"$eq": None}}, {"x": {"$eq": [1, 2]}}, {"x": {"$eq": {"y": 1}}}, {"x": {"$eq": []}},
    {"x": {"$eq": 9007199254740993}}, {"x": {"$eq": 9007199254740992}}, {"x": {"$eq": 0.1}},
    {"x": {"$ne": "a"}}, {"x": {"$ne": 1}},
    {"x": {"$gt": 1}}, {"x": {"$gte": 1}}, {"x": {"$lt": "a"}}, {"x": {"$lte": "a"}},
    {"x": {"$gt": None}}, {"x": {"$lt": True}}, {"x": {"$gt": []}}, {"x": {"$lt": [1]}},
    {"x": {"$gt": {}}}, {"x": {"$gte": [1, 2]}}, {"x": {"$lt": "é"}}, {"x": {"$gt": "B"}},
    {"x": {"$in": [1, "a", True]}}, {"x": {"$in": []}}, {"x": {"$in": [1.5, "z", False]}},
    {"tags": {"$contains": "all"}}, {"tags": {"$contains": "t1"}}, {"x": {"$contains": 1}},
    {"$and": [{"grp": {"$eq": "even"}}, {"x": {"$gte": 0}}]},
    {"$or": [{"x": {"$eq": "z"}}, {"i": {"$lt": 3}}]},
    {"$or": [{"$and": [{"i": {"$gte": 5}}, {"i": {"$lte": 8}}]}, {"x": {"$eq": {}}}]},
    {"a.b": {"$eq": 1}}, {"$not": {"$eq": 1}},
    # Rejected by the shared parser (FilterError) — both backends must say so.
    {"x": {"$eq": 1, "$ne": 2}}, {"x": {"$in": [[1]]}}, {"x": {"$contains": [1]}},
    {"x": {"$regex": "a"}}, {"$and": {"x": {"$eq": 1}}},
]


def run(db, *args, stdin=None):
    p = subprocess.run([CLI, "vec", *args, "--db", db], input=stdin, capture_output=True,
                       text=True, timeout=120)
    err = p.stderr.strip().splitlines()
    # Keep the error category only: messages may word a server refusal differently.
    cat = [l.split(":")[1].strip() for l in err if l.startswith("clipsearch:") and
           "warning" not in l]
    warn = [l for l in err if "warning" in l]
    return p.returncode, cat, warn, [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def close(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):   # NaN spelled as text
        return str(a).lower() == str(b).lower()
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 1e-6 + 1e-5 * abs(b)


def value_of(r):
    v = r.get("value")
    return float("nan") if v is None or isinstance(v, str) else v


def same_results(a, b):
    """Rows in order; rows whose values tie (within tolerance, or both NaN) may swap."""
    if len(a) != len(b):
        return False
    i = 0
    while i < len(a):
        j = i + 1
        while j < len(a) and close(value_of(a[j]), value_of(a[i])):
            j += 1
        key = lambda r: r["id"]
        ga, gb = sorted(a[i:j], key=key), sorted(b[i:j], key=key)
        for ra, rb in zip(ga, gb):
            if set(ra) != set(rb):
                return False
            for k in ra:
                if k == "value":
                    if not close(value_of(ra), value_of(rb)):
                        return False
                elif ra[k] != rb[k]:
                    return False
        i = j
    return True


def main():
    fails = []
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {"sqlite": os.path.join(tmp, "agree.db"), "postgres": PG}
        data = "".join(json.dumps(r) + "\n" for r in records())
        for db in dbs.values():
            run(db, "drop", NAME)
            rc, cat, _, _ = run(db, "create", NAME, "--dim", "3")
            assert rc == 0, cat
            rc, cat, _, _ = run(db, "upsert", NAME, stdin=data)
            assert rc == 0, cat

        def compare(label, *args):
            got = {k: run(db, *args) for k, db in dbs.items()}
            s, p = got["sqlite"], got["postgres"]
            ok = s[0] == p[0] and s[1] == p[1] and len(s[2]) == len(p[2])
            if ok and args[0] in ("query",):
                ok = same_results(s[3], p[3])
            elif ok:
                ok = sorted(map(json.dumps, s[3])) == sorted(map(json.dumps, p[3]))
            if not ok:
                fails.append("%s: %s\n  sqlite:   %s\n  postgres: %s" % (label, args, s, p))

        compare("describe", "describe", NAME)
        compare("fetch", "fetch", NAME, *["r%02d" % i for i in range(len(X_VALUES))], "arr",
                "str 'q\"", "zero", "missing")
        for f in FILTERS:
            compare("filter", "query", NAME, "--vector", "[1,0.5,-1]", "--limit", "1000",
                    "--filter", json.dumps(f), "--include-value")
        for m in ("cosine_distance", "l2_distance", "max_inner_product", "l1_distance"):
            for v in ("[1,0.5,-1]", "[0,0,0]", "[-3,2.5,100]"):
                compare("measure", "query", NAME, "--vector", v, "--measure", m, "--limit", "7",
                        "--include-value", "--include-metadata", "--include-vector")
        compare("limit 0", "query", NAME, "--vector", "[1,0.5,-1]", "--limit", "0")
        compare("limit -1", "query", NAME, "--vector", "[1,0.5,-1]", "--limit", "-1")
        compare("probes", "query", NAME, "--vector", "[1,0.5,-1]", "--probes", "32769")
        compare("dim", "query", NAME, "--vector", "[1,0.5]")
        # Indexes: names differ only in the random suffix; errors must agree.
        for args in (["--method", "ivfflat", "--measure", "l1_distance"],
                     ["--method", "hnsw", "--m", "1"],
                     ["--method", "hnsw", "--m", "8", "--ef-construction", "8"],
                     ["--method", "ivfflat", "--n-lists", "40000"]):
            compare("bad index", "create-index", NAME, *args)
        for db in dbs.values():
            run(db, "create-index", NAME, "--method", "hnsw", "--measure", "l2_distance")
        compare("no-replace", "create-index", NAME, "--no-replace")
        compare("covered", "query", NAME, "--vector", "[1,0.5,-1]", "--measure", "l2_distance",
                "--limit", "30", "--include-value")
        compare("uncovered", "query", NAME, "--vector", "[1,0.5,-1]", "--limit", "30")
        # Writes: deletes by filter and ids, then the remaining set.
        compare("delete filter", "delete", NAME, "--filter", json.dumps({"x": {"$lt": 1}}))
        compare("delete ids", "delete", NAME, "--ids", "r00", "r01", "nope", "r01")
        compare("bad upsert", "upsert", NAME)   # no stdin records: both the same
        compare("after", "query", NAME, "--vector", "[0,1,0]", "--limit", "1000",
                "--include-metadata", "--include-value")
        for db in dbs.values():
            run(db, "drop", NAME)
    for f in fails:
        print("DIFFER " + f)
    print("%d comparisons differ" % len(fails) if fails else "backends agree")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
