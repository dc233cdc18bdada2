"""Hashed lexical features (fastText-style) that complement the e5 sentence embedding.

Character 1-3-grams catch Chinese keywords and typos; word uni/bigrams from spaCy (jieba for
Chinese) catch phrases. Digits are folded to ``0`` so that amounts and card numbers don't become
features. Hashing uses CRC32, so features are stable across processes.
"""

from __future__ import annotations

import re
import zlib

N_BUCKETS = 1 << 17
_DIGITS = re.compile(r"\d")


def _h(s: str) -> int:
    return zlib.crc32(s.encode("utf-8")) % N_BUCKETS


def feature_ids(text: str, tokens: list[str]) -> list[int]:
    """Bucket ids of the n-gram features of a normalised message (never empty)."""
    low = _DIGITS.sub("0", text.lower())
    feats = set()
    padded = f"^{low}$"
    for n in (1, 2, 3):
        for i in range(len(padded) - n + 1):
            gram = padded[i : i + n]
            if gram.strip():
                feats.add("c" + gram)
    words = [_DIGITS.sub("0", t.lower()) for t in tokens if t.strip()]
    for i, w in enumerate(words):
        feats.add("w" + w)
        if i + 1 < len(words):
            feats.add("b" + w + "|" + words[i + 1])
    if not feats:
        feats.add("<empty>")
    return sorted(_h(f) for f in feats)
