"""``bankbot data validate``: schema, duplicates, conflicts, counts, categories, service language."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..dialogue.references import check_references
from ..nlu.lint import check_care, check_nlu, check_responses


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot data validate``."""
    p.add_argument("--data", nargs="+", default=["data/nlu"], help="NLU files/folders (default: data/nlu)")
    p.add_argument("--care", nargs="*", default=None, help="care files (default: data/care)")
    p.add_argument("--responses", nargs="*", default=None,
                   help="domain/guide files with bot texts (default: data/guides and data/dialogue/domain.yml)")
    p.add_argument("--min-examples", type=int, default=25, help="fewest examples an intent may have (default 25)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")


def run(args: argparse.Namespace) -> int:
    """Print every finding as ``file:line: level: message``; exit 1 on errors."""
    issues = check_nlu(args.data, args.min_examples)
    care = args.care if args.care is not None else [p for p in ["data/care"] if Path(p).exists()]
    if care:
        issues += check_care(care)
    responses = args.responses if args.responses is not None else [
        p for p in ("data/guides", "data/dialogue/domain.yml", "data/handoff/phrases.yml") if Path(p).exists()]
    if responses:
        issues += check_responses(responses)
    issues += check_references()
    for issue in issues:
        print(issue)
    errors = sum(i.level == "error" for i in issues)
    warnings = len(issues) - errors
    print(f"{errors} errors, {warnings} warnings")
    return 1 if errors or (args.strict and warnings) else 0
