"""``bankbot data export-corrections``: agents' intent corrections and uncertain handed-off messages as
Rasa NLU YAML under ``data/review/<date>/`` for a trainer to review."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from ..analytics.metrics import Window, load_events
from ..config import load_settings
from ..db import make_engine
from ..dialogue.store import TrackerStore
from ..nlu.review_data import export_corrections


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot data export-corrections``."""
    p.add_argument("--since", help="only events since YYYY-MM-DD (default: 30 days)")
    p.add_argument("--out", help="folder (default: data/review/<today>)")


def run(args: argparse.Namespace) -> int:
    """Export and print counts per intent."""
    from handoff.store import HandoffStore

    settings = load_settings(args.config)
    window = Window.parse(args.since)
    labels = [r for r in HandoffStore(make_engine(settings.database)).all_labels() if r.created_at >= window.start]
    convs = load_events(TrackerStore(make_engine(settings.database)), window)
    out = Path(args.out or Path("data/review") / dt.date.today().isoformat())
    summary = export_corrections(labels, convs, [settings.nlu_data], out, settings.confirm_threshold)
    print(f"corrections by intent:    {summary['corrections'] or '-'}")
    print(f"low-confidence by intent: {summary['low_confidence'] or '-'}")
    print("files: " + (", ".join(summary["files"]) or "(nothing to export)"))
    return 0
