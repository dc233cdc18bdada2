"""``bankbot data merge FILE...``: add reviewed examples to the training data (duplicates skipped, conflicts
with existing examples reported, not merged)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import load_settings
from ..nlu.lint import check_nlu
from ..nlu.review_data import merge_reviewed


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot data merge``."""
    p.add_argument("files", nargs="+", help="reviewed NLU YAML files (e.g. data/review/<date>/corrections.yml)")
    p.add_argument("--into", default="data/nlu/reviewed.yml", help="training file to add to")


def run(args: argparse.Namespace) -> int:
    """Merge, validate the result, print what changed."""
    settings = load_settings(args.config)
    result = merge_reviewed(args.files, [settings.nlu_data], Path(args.into))
    print(f"added: {result['added'] or '-'}; duplicates skipped: {result['duplicates_skipped']}")
    for c in result["conflicts"]:
        print(f"conflict: {c['text']!r} reviewed as {c['reviewed_intent']} but trained as {c['training_intent']} "
              f"({c['where']}) — not merged")
    errors = [i for i in check_nlu([settings.nlu_data], min_examples=1) if i.level == "error"]
    for e in errors:
        print(e)
    return 1 if errors else 0
