"""Fallback hnswlib side of bench/ann when g++ or libhnswlib-dev is missing:
Debian's python3-hnswlib, run with /usr/bin/python3. Same data file and
stdin/stdout protocol as hnsw_anchor.cpp:

    python3 hnsw_anchor.py DATA_FILE M EF_CONSTRUCTION

    build        -> "build SECONDS"                (single thread)
    query EF K LO HI -> "query SECONDS ID ID ..."  (queries LO..HI-1, single thread)
    quit
"""
import sys
import time

import hnswlib
import numpy as np


def main():
    path, m, efc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path, "rb") as f:
        n, nq, dim = np.frombuffer(f.read(12), dtype="<u4")
        base = np.frombuffer(f.read(int(n) * int(dim) * 4), dtype="<f4").reshape(n, dim)
        queries = np.frombuffer(f.read(int(nq) * int(dim) * 4), dtype="<f4").reshape(nq, dim)
    index = None
    print(f"ready n={n} nq={nq} dim={dim} simd=python3-hnswlib", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "build":
            index = None
            t = time.perf_counter()
            index = hnswlib.Index(space="l2", dim=int(dim))
            index.init_index(max_elements=int(n), M=m, ef_construction=efc, random_seed=100)
            index.set_num_threads(1)
            index.add_items(base, np.arange(n), num_threads=1)
            print(f"build {time.perf_counter() - t:.6f}", flush=True)
        elif cmd[0] == "query":
            ef, k, lo, hi = int(cmd[1]), int(cmd[2]), int(cmd[3]), int(cmd[4])
            index.set_ef(ef)
            t = time.perf_counter()
            labels, _ = index.knn_query(queries[lo:hi], k=k, num_threads=1)
            s = time.perf_counter() - t
            print(f"query {s:.6f} " + " ".join(str(int(x)) for x in labels.reshape(-1)), flush=True)
        elif cmd[0] == "quit":
            return
        else:
            sys.exit(f"unknown command {cmd[0]}")


main()
