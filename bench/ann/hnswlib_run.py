"""hnswlib side of bench/ann, run by main.go with Debian's /usr/bin/python3.

  python3 hnswlib_run.py run GT_FILE NQ EF,EF,...   -> one JSON object on stdout
  python3 hnswlib_run.py plot JSON_FILE PNG_FILE    -> the recall/qps plot

Reads Fashion-MNIST from Debian's dataset-fashion-mnist; one thread; M=16,
efConstruction=200, as the issue asks.
"""
import gzip
import json
import sys
import time

DIR = "/usr/share/datasets/fashion-mnist"


def idx(path, header):
    import numpy as np
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def run(gt_file, nq, efs):
    import numpy as np
    import hnswlib

    base = idx(f"{DIR}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32)
    test = idx(f"{DIR}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32)[:nq]
    gt = np.fromfile(gt_file, dtype="<u4").reshape(nq, -1)
    k = gt.shape[1]
    p = hnswlib.Index(space="l2", dim=784)
    p.init_index(max_elements=base.shape[0], M=16, ef_construction=200, random_seed=100)
    p.set_num_threads(1)
    t = time.perf_counter()
    p.add_items(base, np.arange(base.shape[0]))
    build = time.perf_counter() - t
    points = []
    for ef in efs:
        p.set_ef(ef)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            labels, _ = p.knn_query(test, k=k, num_threads=1)
            times.append(time.perf_counter() - t)
        times.sort()
        hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(labels, gt))
        points.append({"ef": ef, "recall": hits / (nq * k), "qps": nq / times[1]})
    print(json.dumps({"build_s": build, "points": points}))


def plot(json_file, png_file):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(json_file) as f:
        r = json.load(f)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, style in (("hnswlib", "o--"), ("larch", "s-"), ("larch, label filter 10%", "^-"), ("larch, label+attr filter 1%", "v-")):
        pts = r["curves"].get(name)
        if not pts:
            continue
        ax.plot([p["recall"] for p in pts], [p["qps"] for p in pts], style, label=name)
        for p in pts:
            ax.annotate(str(p["ef"]), (p["recall"], p["qps"]), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries/s (1 thread)")
    ax.set_yscale("log")
    ax.set_title("Fashion-MNIST 60k×784, 1,000 queries, top-10 (labels: ef)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_file)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")])
    elif sys.argv[1] == "plot":
        plot(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: hnswlib_run.py run|plot ...")
