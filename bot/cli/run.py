"""``bankbot run``: start the bot server on the embedded defaults (trains a model first if none)."""

from __future__ import annotations

import argparse

from ..config import load_settings
from ..nlu.model import ModelNotFound
from ..nlu.registry import resolve_model
from ..nlu.training import train_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot run``."""
    p.add_argument("--model", help="model directory or name (default: latest)")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 5005)")
    p.add_argument("--no-train", action="store_true", help="fail instead of training when no model exists")
    p.add_argument("--demo", action="store_true",
                   help="add the demo agents (published passwords; development only, announced at start)")


def run(args: argparse.Namespace) -> int:
    """Ensure a model exists, then serve."""
    settings = load_settings(args.config, model=args.model, host=args.host, port=args.port,
                             demo=True if args.demo else None)
    try:
        resolve_model(settings)
    except ModelNotFound:
        if args.no_train or settings.model != "latest":
            raise
        print("no trained model found: training one now (first run, a minute or two) ...")
        train_model(settings)
        if settings.encoder_backend == "onnx":
            print("for faster parses, distil a smaller encoder once (about 25 minutes on 2 cores): "
                  "`bankbot distill`, then `bankbot train --encoder-backend onnx-student`")
    from ..server import serve

    serve(settings)
    return 0
