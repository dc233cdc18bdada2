"""``bankbot report``: service metrics from the event store, as text, JSON or HTML, with PNG charts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..analytics.metrics import Window, compute
from ..analytics.report import charts, check_lang, render_html, render_text
from ..config import load_settings
from ..db import make_engine
from ..dialogue.store import TrackerStore


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot report``."""
    p.add_argument("--since", help="start date YYYY-MM-DD (default: 30 days ago)")
    p.add_argument("--until", help="end date YYYY-MM-DD (default: now)")
    p.add_argument("--format", choices=["text", "json", "html"], default="text")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of the text/HTML report and charts")
    p.add_argument("--out", help="folder for the report file and PNG charts (default: print only)")


def run(args: argparse.Namespace) -> int:
    """Compute, print and optionally write the report and charts."""
    from handoff.store import HandoffStore

    settings = load_settings(args.config)
    window = Window.parse(args.since, args.until)
    engine = make_engine(settings.database)
    report = compute(TrackerStore(engine), window, HandoffStore(engine))
    lang = check_lang(args.lang)
    pngs = charts(report, lang) if args.out or args.format == "html" else {}
    body = {"text": lambda: render_text(report, lang),
            "json": lambda: json.dumps(report, ensure_ascii=False, indent=2),
            "html": lambda: render_html(report, pngs, lang)}[args.format]()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"report.{ {'text': 'txt'}.get(args.format, args.format) }").write_text(body, encoding="utf-8")
        for name, data in pngs.items():
            (out / f"{name}.png").write_bytes(data)
        print(f"report written to {out}")
    else:
        print(body)
    return 0
