"""Guide content for the actions: ``data/guides/guides.yml`` and link settings.

Environment overrides: ``BANKBOT_GUIDES`` (file), ``BANKBOT_DEEP_LINK_SCHEME`` (default ``bankapp``),
``BANKBOT_WEB_BASE`` (default ``https://m.demo-bank.example/``), ``BANKBOT_IMAGE_BASE``
(default ``/guides/img/``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_GUIDES = Path(__file__).resolve().parents[1] / "data" / "guides" / "guides.yml"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return doc.get("guides", {})


def guides() -> dict[str, Any]:
    """All guides by id."""
    return _load(os.environ.get("BANKBOT_GUIDES", str(DEFAULT_GUIDES)))


def deep_link(path: str) -> str:
    """``bankapp://<path>`` with the configured scheme."""
    return f"{os.environ.get('BANKBOT_DEEP_LINK_SCHEME', 'bankapp')}://{path.lstrip('/')}"


def web_link(path: str) -> str:
    """The web fallback for a deep-link path."""
    return os.environ.get("BANKBOT_WEB_BASE", "https://m.demo-bank.example/").rstrip("/") + "/" + path.lstrip("/")


def image_url(rel: str) -> str:
    """Public URL of a screenshot (``zh/reset_password_1.png`` -> ``/guides/img/zh/reset_password_1.png``)."""
    return os.environ.get("BANKBOT_IMAGE_BASE", "/guides/img/").rstrip("/") + "/" + rel.lstrip("/")


def localized(guide: dict[str, Any], language: str) -> dict[str, Any]:
    """The guide's text in ``language`` (falls back to Chinese)."""
    return guide.get(language) or guide.get("zh") or next(iter(v for v in guide.values() if isinstance(v, dict)))
