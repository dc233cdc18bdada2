"""Other institutions and non-bank services named in a message (WeChat Pay, a courier, another bank).

The gazetteer is ``data/nlu/institutions.yml`` (name, aliases, kind): the one list, read once. Aliases in
Latin letters match whole words only ("wise" is not in "wisely"); a Chinese character next to them is a
boundary ("weixin零钱" names WeChat Pay).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

#: the gazetteer shipped with the project
GAZETTEER = Path(__file__).resolve().parents[2] / "data" / "nlu" / "institutions.yml"


@dataclass(frozen=True)
class InstitutionMatch:
    """Another institution or non-bank service named in a message."""

    name: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Institution:
    """One gazetteer entry: the name shown to the customer, the lower-cased aliases, the kind."""

    name: str
    aliases: tuple[str, ...]
    kind: str


@functools.lru_cache(maxsize=4)
def load_gazetteer(path: str | Path = GAZETTEER) -> tuple[Institution, ...]:
    """Entries of the gazetteer file; entries with the same name are merged (longest alias first)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    merged: dict[str, tuple[list[str], str]] = {}
    for item in raw.get("institutions") or []:
        name = str(item["name"])
        aliases, kind = merged.setdefault(name, ([], str(item.get("kind") or "other")))
        for alias in [name, *[str(a) for a in item.get("aliases") or []]]:
            low = alias.lower().strip()
            if low and low not in aliases:
                aliases.append(low)
    return tuple(Institution(n, tuple(sorted(a, key=len, reverse=True)), k) for n, (a, k) in merged.items())


def _word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def find_institution(simplified: str, gazetteer: tuple[Institution, ...] | None = None) -> InstitutionMatch | None:
    """First gazetteer hit (longest alias at the earliest position) in the simplified, half-width text."""
    low = simplified.lower()
    best: InstitutionMatch | None = None
    for inst in gazetteer if gazetteer is not None else load_gazetteer():
        for alias in inst.aliases:
            pos = low.find(alias)
            while pos >= 0 and alias.isascii() and (
                    (pos > 0 and _word_char(low[pos - 1]))
                    or (pos + len(alias) < len(low) and _word_char(low[pos + len(alias)]))):
                pos = low.find(alias, pos + 1)
            if pos < 0:
                continue
            if best is None or pos < best.start or (pos == best.start and len(alias) > best.end - best.start):
                best = InstitutionMatch(inst.name, simplified[pos : pos + len(alias)], pos, pos + len(alias))
            break
    return best
