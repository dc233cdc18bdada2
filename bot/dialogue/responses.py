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

    def render(self, name: str, slots: dict[str, Any], avoid: str | None = None,
               **kwargs: Any) -> dict[str, Any] | None:
        """The message for response ``name`` (``None`` if unknown).

        With ``avoid`` (the bot's previous text), another matching variation is preferred so the
        bot never sends the same text twice in a row when the domain offers an alternative.
        """
        variants = self.responses.get(name)
        if not variants:
            return None
        matching = [v for v in variants if all(slots.get(c["name"]) == c["value"] for c in v.get("condition", []))]
        values = _SafeDict({**{k: v for k, v in slots.items() if v is not None}, **kwargs})
        rendered = []
        for v in (matching or [v for v in variants if not v.get("condition")] or variants):
            choice = dict(v)
            choice.pop("condition", None)
            if "text" in choice:
                choice["text"] = str(choice["text"]).format_map(values)
            rendered.append(choice)
        for choice in rendered:
            if avoid is None or choice.get("text") != avoid:
                return choice
        return rendered[0]
