"""``bankbot parse``: one message per line on stdin -> one JSON parse result per line on stdout."""

from __future__ import annotations

import argparse
import json
import sys

from ..config import load_settings
from ..nlu.pipeline import NLUPipeline, ParseInputError, to_json_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot parse``."""
    p.add_argument("--model", help="model directory or name (default: latest)")


def run(args: argparse.Namespace) -> int:
    """Read stdin line by line; bad lines get ``{"error": ...}`` and parsing goes on."""
    settings = load_settings(args.config, model=args.model)
    pipe = NLUPipeline.from_settings(settings)
    stdin = sys.stdin.buffer
    status = 0
    for raw in stdin:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        try:
            out = to_json_line(pipe.parse(line))
        except ParseInputError as exc:
            out = json.dumps({"text": line[:200], "error": str(exc)}, ensure_ascii=False)
            status = 0
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    return status
