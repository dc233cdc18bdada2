"""``bankbot review --week 2026-W47``: dissatisfied conversations for the weekly retrospective."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from ..analytics.review import dissatisfied, render_review, week_window
from ..config import load_settings
from ..dialogue.store import TrackerStore


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot review``."""
    this_week = "{}-W{:02d}".format(*dt.date.today().isocalendar()[:2])
    p.add_argument("--week", default=this_week, help=f"ISO week, e.g. {this_week} (default: this week)")
    p.add_argument("--format", choices=["markdown", "json"], default="markdown")
    p.add_argument("--out", help="write to this file instead of printing")


def run(args: argparse.Namespace) -> int:
    """Group and print the week's dissatisfied conversations (transcripts masked)."""
    settings = load_settings(args.config)
    review = dissatisfied(TrackerStore(settings.database), week_window(args.week))
    if args.format == "json":
        text = json.dumps(review, ensure_ascii=False, indent=2)
    else:
        text = render_review(review, args.week)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{review['conversations']} conversations written to {args.out}")
    else:
        print(text)
    return 0
