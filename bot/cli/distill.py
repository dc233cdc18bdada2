"""``bankbot distill``: distil a smaller, faster e5 student for the ONNX backend (once; reused afterwards)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ..config import load_settings
from ..nlu.data import care_training_files


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot distill``."""
    p.add_argument("--data", nargs="+", default=["data/nlu"], help="NLU YAML files or folders (default: data/nlu)")
    p.add_argument("--layers", type=int, default=6, help="transformer layers of the student (default 6 of 12)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the texts (default 3)")
    p.add_argument("--minutes", type=float, default=25.0,
                   help="time budget, teacher embeddings included (default 25; training stops early if reached)")
    p.add_argument("--max-texts", type=int, default=0, help="distil on at most this many texts (0: all)")
    p.add_argument("--no-external", action="store_true", help="don't add BANKING77/CLINC150 texts")
    p.add_argument("--seed", type=int, default=42)


def run(args: argparse.Namespace) -> int:
    """Distil, save the student and say how to use it."""
    from ..nlu.distill import distill, distill_texts

    settings = load_settings(args.config)
    texts = distill_texts(args.data, care_training_files("data/care"), external=not args.no_external)
    if args.max_texts:
        texts = texts[: args.max_texts]
    report = distill(settings.models_dir, texts, layers=args.layers, epochs=args.epochs,
                     budget_s=args.minutes * 60, seed=args.seed, threads=settings.encoder_threads or None)
    print(json.dumps(asdict(report), indent=1))
    print("train heads on it with: bankbot train --encoder-backend onnx-student")
    return 0
