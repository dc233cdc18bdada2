"""Other institutions and non-bank services named in a message (WeChat Pay, a courier, another bank).

The gazetteer is ``data/nlu/institutions.yml`` (name, aliases, kind): the one list, read once. Aliases in
Latin letters match whole words only ("wise" is not in "wisely"); a Chinese character next to them is a
boundary ("weixin零钱" names WeChat Pay).
"""

from __future__ import annotations

import functools
import re
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
    kind: str = "other"


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
                best = InstitutionMatch(inst.name, simplified[pos : pos + len(alias)], pos, pos + len(alias), inst.kind)
            break
    return best


#: kinds whose own products a customer may ask about ("建行房贷利率", "HSBC savings rate"); a government
#: fund (公积金 loans are made by banks), a courier or a utility is not a provider of banking products
PROVIDER_KINDS = frozenset({"bank", "wallet", "credit", "payment", "broker", "platform", "crypto", "insurer",
                            "telecom"})
#: a product, price or service right after the institution's name: the customer asks about *its* product
_PRODUCT_AFTER = re.compile(
    r"\s*(?:的|'s)?\s*(?:房贷|贷款|车贷|利率|利息|存款|定期|理财|基金|信用卡|借记卡|年费|手续费|额度|积分|优惠|活动|app|客服|网点|"
    r"savings?\b|rates?\b|mortgage|loans?\b|credit card|card\b|fees?\b|cd\b|account\b)", re.IGNORECASE)
#: ... unless money moves to or from it through us, or it is named beside our own service
_THROUGH_US = re.compile(r"往|转到|转给|转入|转进|汇到|汇给|打到|打给|收款|到账|跨行|绑|还你们|你们的|你们家|"
                         r"\bto\b|\bat\b|\binto\b|\bfrom\b|\breach", re.IGNORECASE)


def asks_about_provider(simplified: str, match: InstitutionMatch) -> bool:
    """Whether the message asks about the other institution's own product (its rate, card, account, app),
    not about moving money to or from it through us (``往工行的卡转``, ``transfer to my Chase account``)."""
    if match.kind not in PROVIDER_KINDS:
        return False
    after = simplified[match.end :]
    if not _PRODUCT_AFTER.match(after):
        return False
    return not _THROUGH_US.search(simplified[: match.start]) and not _THROUGH_US.search(after[:12])
