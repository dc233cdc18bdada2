"""``bankbot benchmark intents``: train bankbot's intent pipeline on a public dataset and score it.

    bankbot benchmark intents --train FILE [--test FILE] --format banking77|clinc150|rasa [--out report.json]

* ``banking77``: CSV with ``text,category``.
* ``clinc150``: the OOS-eval JSON (``train``/``val``/``test`` and ``oos_*`` splits). Training uses
  ``train`` + ``oos_train`` (as the class ``oos``); the test file's ``test``/``oos_test`` splits are
  scored, or ``val``/``oos_val`` when it has no test split.
* ``rasa``: Rasa NLU YAML files or folders.

Without ``--test`` a stratified 20 % of the training file is held out. Prints JSON with
``accuracy``, ``macro_f1``, ``in_scope_accuracy`` and ``oos_recall`` (CLINC150), ``train_seconds``,
``parse_ms_p50`` and ``parse_ms_p99`` (one message at a time, as served).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import load_settings
from ..nlu.data import Example, load_nlu

OOS = "oos"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot benchmark``."""
    p.add_argument("what", choices=["intents"], help="what to benchmark")
    p.add_argument("--train", required=True, help="training file")
    p.add_argument("--test", help="test file (default: hold out 20%% of --train)")
    p.add_argument("--format", required=True, choices=["banking77", "clinc150", "rasa"])
    p.add_argument("--out", help="write the JSON report here too")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--latency-samples", type=int, default=300, help="messages timed one at a time")


def _banking77(path: str) -> list[Example]:
    with open(path, encoding="utf-8") as fh:
        return [Example(r["text"].strip(), r["category"].strip(), source=path, line=i + 2)
                for i, r in enumerate(csv.DictReader(fh)) if r.get("text", "").strip()]


def _clinc(path: str, role: str) -> list[Example]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if role == "train":
        keys = ["train", "oos_train"]
    else:
        keys = ["test", "oos_test"] if "test" in data else ["val", "oos_val"]
    out = []
    for key in keys:
        for text, intent in data.get(key, []):
            out.append(Example(text, OOS if intent == "oos" else intent, source=f"{path}:{key}"))
    return out


def load_dataset(path: str, fmt: str, role: str) -> list[Example]:
    """Examples (text + intent) of a benchmark file."""
    if fmt == "banking77":
        return _banking77(path)
    if fmt == "clinc150":
        return _clinc(path, role)
    return load_nlu([path])


def _macro_f1(gold: list[str], pred: list[str]) -> float:
    from ..nlu.evaluate import prf

    return float(prf(gold, pred)["macro_f1"])


def run(args: argparse.Namespace) -> int:
    """Train, evaluate, time, print JSON."""
    from ..nlu.encoder import make_encoder
    from ..nlu.heads import TrainConfig, stratified_split
    from ..nlu.model import NLUModel, featurize
    from ..nlu.pipeline import NLUPipeline, ParseOptions

    settings = load_settings(args.config)
    train = load_dataset(args.train, args.format, "train")
    if args.test:
        test = load_dataset(args.test, args.format, "test")
    else:
        split = stratified_split([e.intent or "" for e in train], 0.2, args.seed)
        test = [train[i] for i in split.valid]
        train = [train[i] for i in split.train]
    for e in train + test:
        e.category = None
    encoder = make_encoder(settings.encoder_backend, settings.models_dir, settings.encoder_threads or None)
    started = time.time()
    model = NLUModel.train(train, [], encoder, settings.encoder_backend, TrainConfig(seed=args.seed),
                           log=lambda s: None, oos_label=OOS if args.format == "clinc150" else None,
                           oos_policy="in_scope_floor")
    train_seconds = time.time() - started
    probs = model.predict(featurize(encoder, [e.text for e in test]))["intent"]
    threshold = float(model.config.get("fallback_threshold", 0.0)) if args.format == "clinc150" else 0.0
    top = probs.argmax(1)
    pred = [OOS if (args.format == "clinc150" and probs[i, top[i]] < threshold) else model.intents[top[i]]
            for i in range(len(test))]
    gold = [e.intent or "" for e in test]
    report: dict[str, Any] = {
        "format": args.format, "train": args.train, "test": args.test or "20% of train", "train_examples": len(train),
        "test_examples": len(test), "intents": len(model.intents),
        "accuracy": round(float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])), 4),
        "macro_f1": round(_macro_f1(gold, pred), 4), "train_seconds": round(train_seconds, 1),
        "encoder_backend": settings.encoder_backend,
    }
    if args.format == "clinc150":
        ins = [i for i, g in enumerate(gold) if g != OOS]
        oos = [i for i, g in enumerate(gold) if g == OOS]
        report["in_scope_accuracy"] = round(float(np.mean([gold[i] == pred[i] for i in ins])), 4) if ins else None
        report["oos_recall"] = round(float(np.mean([pred[i] == OOS for i in oos])), 4) if oos else None
        report["oos_threshold"] = threshold
    pipe = NLUPipeline(model, encoder, ParseOptions(fallback_threshold=threshold))
    sample = [e.text for e in test[: args.latency_samples]]
    for t in sample[:10]:
        pipe.parse(t)
    times = []
    for t in sample:
        s = time.perf_counter()
        pipe.parse(t)
        times.append((time.perf_counter() - s) * 1000)
    times.sort()
    report["parse_ms_p50"] = round(times[len(times) // 2], 2)
    report["parse_ms_p99"] = round(times[min(len(times) - 1, int(0.99 * len(times)))], 2)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0
