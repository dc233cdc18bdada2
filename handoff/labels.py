"""The display names of ``data/handoff/labels.yml``: one source for the console, the widget and the report.

Every list maps an id the API uses (a status, role, reason, intent, ...) to its zh and en names.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

LABELS_FILE = Path(__file__).resolve().parents[1] / "data" / "handoff" / "labels.yml"
Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
Labels = dict[str, dict[str, dict[str, str]]]


@lru_cache(maxsize=1)
def load_labels() -> Labels:
    """The whole labels document (read once): ``{kind: {id: {"zh": ..., "en": ...}}}``."""
    doc = yaml.safe_load(LABELS_FILE.read_text(encoding="utf-8")) or {}
    return {str(kind): {str(k): {str(lang): str(name) for lang, name in (v or {}).items()}
                        for k, v in (items or {}).items()}
            for kind, items in doc.items()}


def display(kind: str, key: str, lang: Lang = "zh") -> str:
    """The ``lang`` name of ``key`` in list ``kind``; the zh name, else the key itself, when it has none."""
    item = load_labels().get(kind, {}).get(key)
    if not item:
        return key
    return item.get(lang) or item.get("zh") or key
