"""``bankbot db``: schema migrations (``upgrade`` to the newest revision, ``current`` to show it)."""

from __future__ import annotations

import argparse

from ..config import load_settings
from ..db import make_engine


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot db``."""
    p.add_argument("action", choices=["upgrade", "current"], help="upgrade: apply migrations; current: show revision")
    p.add_argument("--revision", default="head", help="target revision of 'upgrade' (default: head)")


def run(args: argparse.Namespace) -> int:
    """Apply or show migrations on the configured database (``BANKBOT_DATABASE_URL`` or SQLite under var/)."""
    from ..migrations import current, head, upgrade

    engine = make_engine(load_settings(args.config).database)
    if args.action == "upgrade":
        rev = upgrade(engine, args.revision)
        print(f"database at revision {rev} (head {head()})")
    else:
        print(f"database at revision {current(engine)} (head {head()})")
    return 0
