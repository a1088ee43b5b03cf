"""Fallback hnswlib side of bench/ann and bench/scale when g++ or
libhnswlib-dev is missing: Debian's python3-hnswlib, run with
/usr/bin/python3. Same data file and stdin/stdout protocol as
hnsw_anchor.cpp:

    python3 hnsw_anchor.py DATA_FILE M EF_CONSTRUCTION [serve]

    build        -> "build SECONDS CPU_SECONDS"    (single thread)
    save PATH    -> "save SECONDS"
    load PATH    -> "load SECONDS"
    query EF K LO HI -> "query SECONDS CPU_SECONDS ID ID ..."  (queries LO..HI-1, single thread)
    mem          -> "mem RSS_BYTES PEAK_RSS_BYTES"
    quit
"""
import os
import sys
import time

import hnswlib
import numpy as np


def status_bytes(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    return -1


def main():
    path, m, efc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    serve = len(sys.argv) > 4 and sys.argv[4] == "serve"
    with open(path, "rb") as f:
        n, nq, dim = (int(x) for x in np.frombuffer(f.read(12), dtype="<u4"))
        base = None
        if serve:
            f.seek(12 + n * dim * 4)
        else:
            base = np.frombuffer(f.read(n * dim * 4), dtype="<f4").reshape(n, dim)
        queries = np.frombuffer(f.read(nq * dim * 4), dtype="<f4").reshape(nq, dim)
    index = None
    print(f"ready n={n} nq={nq} dim={dim} simd=python3-hnswlib", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "build":
            index = None
            t = time.perf_counter()
            c = time.process_time()
            index = hnswlib.Index(space=os.environ.get("HNSW_ANCHOR_SPACE", "l2"), dim=dim)
            index.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)
            index.set_num_threads(1)
            index.add_items(base, np.arange(n), num_threads=1)
            print(f"build {time.perf_counter() - t:.6f} {time.process_time() - c:.6f}", flush=True)
        elif cmd[0] == "save":
            t = time.perf_counter()
            index.save_index(cmd[1])
            print(f"save {time.perf_counter() - t:.6f}", flush=True)
        elif cmd[0] == "load":
            index = None
            t = time.perf_counter()
            index = hnswlib.Index(space=os.environ.get("HNSW_ANCHOR_SPACE", "l2"), dim=dim)
            index.load_index(cmd[1])
            print(f"load {time.perf_counter() - t:.6f}", flush=True)
        elif cmd[0] == "query":
            ef, k, lo, hi = int(cmd[1]), int(cmd[2]), int(cmd[3]), int(cmd[4])
            index.set_ef(ef)
            t = time.perf_counter()
            c = time.process_time()
            labels, _ = index.knn_query(queries[lo:hi], k=k, num_threads=1)
            s = time.perf_counter() - t
            c = time.process_time() - c
            print(f"query {s:.6f} {c:.6f} " + " ".join(str(int(x)) for x in labels.reshape(-1)), flush=True)
        elif cmd[0] == "mem":
            print(f"mem {status_bytes('VmRSS')} {status_bytes('VmHWM')}", flush=True)
        elif cmd[0] == "quit":
            return
        else:
            sys.exit(f"unknown command {cmd[0]}")


main()
