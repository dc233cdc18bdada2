"""``bankbot train``: train the NLU model (deterministic for a given seed)."""

from __future__ import annotations

import argparse
import json

from ..config import load_settings
from ..nlu.encoder import BACKENDS
from ..nlu.finetune import FINETUNE_ANCHOR, FINETUNE_EPOCHS, FINETUNE_LAYERS
from ..nlu.training import finetune_encoder, train_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot train``."""
    p.add_argument("--data", nargs="+", help="NLU YAML files or folders (default: data/nlu)")
    p.add_argument("--care", nargs="*",
                   help="care YAML files or folders (default: data/care without test.yml; none to skip)")
    p.add_argument("--out", help="model directory (default: models/nlu-<timestamp>)")
    p.add_argument("--seed", type=int, help="random seed (default 42)")
    p.add_argument("--epochs", type=int, help="training epochs for the heads")
    p.add_argument("--augment", action="store_true",
                   help="add pinyin / initials / HK-TW / homophone variants of the Chinese examples (experimental)")
    p.add_argument("--no-external", action="store_true", help="don't add BANKING77/CLINC150 material")
    p.add_argument("--encoder-backend", choices=list(BACKENDS), help="encoder used to embed the data")
    p.add_argument("--finetune", action="store_true",
                   help="first fine-tune the encoder's top layers on the project's examples, then train the heads on "
                        "it (backend onnx-finetuned; measured in the README)")
    p.add_argument("--finetune-layers", type=int, default=FINETUNE_LAYERS,
                   help=f"top layers to fine-tune (default {FINETUNE_LAYERS} of 12)")
    p.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS,
                   help=f"fine-tuning passes over the examples (default {FINETUNE_EPOCHS})")
    p.add_argument("--finetune-anchor", type=float, default=FINETUNE_ANCHOR,
                   help=f"weight of the term keeping the tuned embedding near e5's own (default {FINETUNE_ANCHOR:g})")
    p.add_argument("--finetune-minutes", type=float, default=15.0,
                   help="fine-tuning time budget (default 15; it stops early if reached)")


def run(args: argparse.Namespace) -> int:
    """Train and print a summary."""
    settings = load_settings(args.config, seed=args.seed, encoder_backend=args.encoder_backend)
    if args.finetune:
        backend = finetune_encoder(settings, args.data, args.finetune_layers, args.finetune_epochs,
                                   args.finetune_minutes, anchor=args.finetune_anchor)
        settings = load_settings(args.config, seed=args.seed, encoder_backend=backend)
    path = train_model(settings, args.data, args.care, args.out, external=not args.no_external,
                       epochs=args.epochs, augmented=args.augment)
    meta = json.loads((path / "metadata.json").read_text())
    print(f"model saved to {path}")
    print(json.dumps({k: meta[k] for k in ("examples", "own_examples", "external_examples", "care_examples",
                                            "train_seconds", "data_hash", "validation")}, ensure_ascii=False, indent=2))
    return 0
