"""Rasa-style responses from ``data/dialogue/domain.yml``, picked by the ``language`` slot."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DOMAIN = Path(__file__).resolve().parents[2] / "data" / "dialogue" / "domain.yml"


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Responses:
    """Renders ``utter_*`` responses with Rasa's slot conditions and ``{placeholder}`` filling."""

    def __init__(self, domain_path: str | Path = DEFAULT_DOMAIN) -> None:
        """Load the domain file."""
        self.domain: dict[str, Any] = yaml.safe_load(Path(domain_path).read_text(encoding="utf-8")) or {}
        self.responses: dict[str, list[dict[str, Any]]] = self.domain.get("responses", {})
        self._rng = random.Random(0)

    def render(self, name: str, slots: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        """The message for response ``name`` (``None`` if unknown)."""
        variants = self.responses.get(name)
        if not variants:
            return None
        matching = [v for v in variants if all(slots.get(c["name"]) == c["value"] for c in v.get("condition", []))]
        choice = dict((matching or [v for v in variants if not v.get("condition")] or variants)[0])
        choice.pop("condition", None)
        values = _SafeDict({**{k: v for k, v in slots.items() if v is not None}, **kwargs})
        if "text" in choice:
            choice["text"] = str(choice["text"]).format_map(values)
        return choice
