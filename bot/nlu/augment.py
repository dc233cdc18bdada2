"""Honest programmatic augmentation of the Chinese training examples.

Customers type pinyin without choosing characters (with or without spaces and tones, or initials
only), write traditional characters with Hong Kong / Taiwan phrasing, and slip on homophones.
For a seeded sample of each intent's Chinese examples this module writes those variants; they
go through the same normalisation as live messages, so what the model learns is what it will see.
Variants that normalise back to their source add nothing and are dropped.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .data import Example
from .normalize import normalize


@dataclass
class AugmentConfig:
    """How many variants of which kind per intent (documented defaults)."""

    pinyin_per_intent: int = 6
    initials_per_intent: int = 3
    regional_per_intent: int = 3
    typo_per_intent: int = 4
    weight: float = 0.5
    seed: int = 7


def _is_zh(text: str) -> bool:
    return sum("\u4e00" <= c <= "\u9fff" for c in text) >= max(2, len(text) // 2)


def pinyin_variants(text: str) -> list[str]:
    """``修改密码`` -> ``xiugai mima``, ``xiugaimima``, ``xiūgǎi mìmǎ``, ``xiu1gai3 mi4ma3``."""
    import jieba
    from pypinyin import Style, lazy_pinyin

    from .lexicon import WORD_READINGS

    words = [w for w in jieba.lcut(text) if w.strip() and not all(c in "，。？！,.?!、" for c in w)]

    def read(w: str, style: Style) -> str:
        # the lexicon's reading where pypinyin reads a heteronym the other way (还款: huan, not hai), toneless
        return WORD_READINGS[w].replace(" ", "") if w in WORD_READINGS else "".join(lazy_pinyin(w, style=style))

    plain = [read(w, Style.NORMAL) for w in words]
    tone = [read(w, Style.TONE) for w in words]
    tone3 = [read(w, Style.TONE3) for w in words]
    return [" ".join(plain), "".join(plain), " ".join(tone), " ".join(tone3)]


def initials_variant(text: str) -> str:
    """``修改密码`` -> ``xgmm`` (first letters)."""
    from pypinyin import Style, lazy_pinyin

    return "".join(p for p in lazy_pinyin(text, style=Style.FIRST_LETTER) if p.isalpha())


@lru_cache(maxsize=4)
def _opencc(config: str):  # type: ignore[no-untyped-def]
    from opencc import OpenCC

    return OpenCC(config)


def regional_variants(text: str) -> list[str]:
    """Traditional script with Taiwan phrasing (s2twp) and Hong Kong characters (s2hk)."""
    return [_opencc("s2twp").convert(text), _opencc("s2hk").convert(text)]


@lru_cache(maxsize=1)
def _homophone_chars() -> dict[str, list[str]]:
    """Toneless syllable -> common characters with that reading (from the banking lexicon's neighbours)."""
    import jieba
    from pypinyin import Style, lazy_pinyin

    from .lexicon import COMMON_CHARS, TYPOS

    jieba.setLogLevel(60)
    jieba.initialize()
    frequent = {w for w, f in jieba.dt.FREQ.items() if len(w) == 1 and f >= 3000}
    pool = set(COMMON_CHARS) | {c for k in TYPOS for c in k} | frequent
    out: dict[str, list[str]] = defaultdict(list)
    for ch in sorted(pool):
        if "\u4e00" <= ch <= "\u9fff":
            out[lazy_pinyin(ch, style=Style.NORMAL)[0]].append(ch)
    return out


def typo_variant(text: str, rng: random.Random) -> str | None:
    """Replace one character of a banking word with a same-sounding character (余额 -> 余鹅)."""
    from pypinyin import Style, lazy_pinyin

    from .lexicon import BANK_WORDS

    spots = [(text.find(w), w) for w in BANK_WORDS if len(w) >= 2 and w in text]
    if not spots:
        return None
    pos, word = rng.choice(spots)
    k = rng.randrange(len(word))
    ch = word[k]
    others = [c for c in _homophone_chars().get(lazy_pinyin(ch, style=Style.NORMAL)[0], []) if c != ch]
    if not others:
        return None
    i = pos + k
    return text[:i] + rng.choice(others) + text[i + 1 :]


def augment(examples: Iterable[Example], cfg: AugmentConfig | None = None) -> list[Example]:
    """Pinyin, initials, HK/TW and homophone variants of a seeded sample of each intent's Chinese examples."""
    cfg = cfg or AugmentConfig()
    rng = random.Random(cfg.seed)
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        if e.intent and "external" not in e.tags and _is_zh(e.text) and len(e.text) <= 40:
            by_intent[e.intent].append(e)
    seen = {normalize(e.text).text for e in examples}
    out: list[Example] = []

    def add(src: Example, text: str | None, kind: str) -> None:
        if not text:
            return
        norm = normalize(text).text
        if norm in seen:
            return
        seen.add(norm)
        out.append(Example(text, src.intent, src.category, source=f"{src.source}+{kind}", line=src.line,
                           weight=cfg.weight * src.weight, tags={"augmented", kind},
                           example_category=src.example_category))

    for intent in sorted(by_intent):
        pool = by_intent[intent]
        for e in rng.sample(pool, min(cfg.pinyin_per_intent, len(pool))):
            add(e, rng.choice(pinyin_variants(e.text)), "pinyin")
        short = [e for e in pool if len(e.text) <= 10]
        for e in rng.sample(short, min(cfg.initials_per_intent, len(short))):
            add(e, initials_variant(e.text), "initials")
        for e in rng.sample(pool, min(cfg.regional_per_intent, len(pool))):
            add(e, rng.choice(regional_variants(e.text)), "regional")
        for e in rng.sample(pool, min(cfg.typo_per_intent, len(pool))):
            add(e, typo_variant(e.text, rng), "typo")
    return out
