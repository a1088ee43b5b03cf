"""Plot of bench/ann and bench/scale: recall@10 on x, queries/s (log) on y, one curve per
system, points labelled with ef. Run by main.go with /usr/bin/python3.

    python3 plot.py RESULTS_JSON PNG_FILE
"""
import json
import sys

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

with open(sys.argv[1]) as f:
    r = json.load(f)
fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
for curve, style in zip(r["curves"], ("o--", "s-", "^-", "v-", "d-")):
    pts = curve["points"]
    ax.plot([p["recall"] for p in pts], [p["qps"] for p in pts], style, label=curve["name"])
    for p in pts:
        ax.annotate(str(p["ef"]), (p["recall"], p["qps"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
for x in (0.95, 0.99):
    ax.axvline(x, color="grey", lw=0.6, ls=":")
ax.set_xlabel("recall@10")
ax.set_ylabel("queries/s, one thread (log scale)")
ax.set_yscale("log")
fmt = matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:,.0f}")
ax.yaxis.set_major_formatter(fmt)
ax.yaxis.set_minor_formatter(fmt)
ax.tick_params(axis="y", which="minor", labelsize=7)
ax.set_title(r["title"], fontsize=9)
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[2])
