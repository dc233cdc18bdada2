"""Chart of the benchmark results in ``benchmarks/results/`` -> ``benchmarks/results/comparison.png``.

    python benchmarks/plot_results.py

Reads whichever of ``rasa_side_by_side.json``, ``banking77.json``, ``clinc150.json`` and ``load.json``
exist, and draws bankbot against Rasa 3.6 (same data, same machine) and the published anchors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ANCHORS = {"BANKING77 BERT-base": 93.66, "CLINC150 BERT in-scope": 96.9, "CLINC150 Rasa in-scope": 91.5,
           "CLINC150 BERT OOS recall": 40.3, "CLINC150 Rasa OOS recall": 45.3}


def load(name: str) -> dict | None:
    """One results file, if present."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> int:
    """Draw the chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side, b77, clinc = load("rasa_side_by_side"), load("banking77"), load("clinc150")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    labels, ours, theirs = [], [], []
    if side:
        for key, label in (("intent_accuracy", "intent acc\n(data/test)"),
                           ("category_accuracy", "category acc\n(data/test)")):
            labels.append(label)
            ours.append(side["bankbot"][key] * 100)
            theirs.append(side["rasa"][key] * 100)
    if b77:
        labels.append("BANKING77\n(val split)")
        ours.append(b77["accuracy"] * 100)
        theirs.append(ANCHORS["BANKING77 BERT-base"])
    if clinc:
        labels += ["CLINC150\nin-scope", "CLINC150\nOOS recall"]
        ours += [clinc["in_scope_accuracy"] * 100, clinc["oos_recall"] * 100]
        theirs += [ANCHORS["CLINC150 Rasa in-scope"], ANCHORS["CLINC150 Rasa OOS recall"]]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], ours, 0.4, label="bankbot", color="#c8102e")
    ax.bar([x + 0.2 for x in xs], theirs, 0.4, label="Rasa 3.6 / published anchor", color="#6b7280")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_title("Accuracy (%)")
    ax.legend(fontsize=8, loc="lower left")
    if side:
        for ax, keys, title in ((axes[1], ("parse_ms_p50", "parse_ms_p99"), "Parse latency via HTTP (ms)"),
                                (axes[2], ("rest_messages_per_second", "train_seconds", "server_start_seconds"),
                                 "Throughput (msg/s), train and start time (s)")):
            keys = tuple(k for k in keys if k in side["bankbot"] and k in side["rasa"])  # a reused model: no train time
            xs = range(len(keys))
            ax.bar([x - 0.2 for x in xs], [side["bankbot"][k] for k in keys], 0.4, label="bankbot", color="#c8102e")
            ax.bar([x + 0.2 for x in xs], [side["rasa"][k] for k in keys], 0.4, label="Rasa 3.6", color="#6b7280")
            ax.set_xticks(list(xs))
            ax.set_xticklabels([k.replace("_", " ") for k in keys], fontsize=8)
            ax.set_title(title)
            ax.legend(fontsize=8)
            if "train_seconds" in keys:
                ax.set_yscale("log")
    fig.suptitle("bankbot vs Rasa 3.6 on the same 2-core machine and data; BANKING77/CLINC150 vs published numbers")
    fig.tight_layout()
    out = RESULTS / "comparison.png"
    fig.savefig(out, dpi=100)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
