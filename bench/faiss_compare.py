#!/usr/bin/env python3
"""faiss IndexFlatIP on the same data as bench_store (its --dump DIR): single-query top-10
latency (median, p95), batched throughput, and how often our exact top-10 ids agree with
faiss's (the vectors are unit length, so inner-product order is cosine order).

    faiss_compare.py DIR DIM
"""
import sys
import time

import faiss
import numpy as np


def main():
    d, dim = sys.argv[1], int(sys.argv[2])
    xb = np.fromfile(f"{d}/base.f32", dtype="float32").reshape(-1, dim)
    xq = np.fromfile(f"{d}/queries.f32", dtype="float32").reshape(-1, dim)
    ours = np.fromfile(f"{d}/ours.i32", dtype="int32").reshape(-1, 10)
    index = faiss.IndexFlatIP(dim)
    t = time.perf_counter()
    index.add(xb)
    add = time.perf_counter() - t
    lat = []
    found = None
    for i in range(len(xq)):
        t = time.perf_counter()
        _, ids = index.search(xq[i:i + 1], 10)
        lat.append(time.perf_counter() - t)
        found = ids if found is None else np.vstack([found, ids])
    lat.sort()
    med = lat[len(lat) // 2]
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
    t = time.perf_counter()
    index.search(xq, 10)
    batch = time.perf_counter() - t
    agree = np.mean([len(set(a) & set(b)) / 10.0 for a, b in zip(ours, found)])
    print(f"faiss {faiss.__version__} IndexFlatIP, {xb.shape[0]} x {dim}, "
          f"{faiss.omp_get_max_threads()} threads: add {xb.shape[0] / add:.0f} vectors/s")
    print(f"  single query top-10: median {med * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms; "
          f"batch of {len(xq)}: {batch * 1e3 / len(xq):.2f} ms/query")
    print(f"  top-10 agreement with clipsearch: {agree * 100:.2f}%")


if __name__ == "__main__":
    main()
