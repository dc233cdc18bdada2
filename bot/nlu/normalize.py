"""Text normalisation: traditional -> simplified Chinese, full-width -> half-width, whitespace.

The original text is always kept next to the normalised one (see :class:`Normalized`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_WS = re.compile(r"\s+")
_CONTROL = {c for c in range(0x20) if chr(c) not in "\t\n\r"} | {0x7F}
# characters that OpenCC leaves in a form less common in mainland banking text
_BANKING_FIXES = str.maketrans({"帐": "账"})


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    from opencc import OpenCC

    return OpenCC("t2s")


def to_halfwidth(text: str) -> str:
    """Map full-width ASCII variants (U+FF01..U+FF5E) and the ideographic space to ASCII."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (OpenCC t2s), plus banking spelling fixes."""
    return _t2s().convert(text).translate(_BANKING_FIXES)


def clean_whitespace(text: str) -> str:
    """Drop control characters, collapse runs of whitespace, strip both ends."""
    text = "".join(ch for ch in text if ord(ch) not in _CONTROL)
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True)
class Normalized:
    """A message before and after normalisation."""

    original: str
    text: str


def normalize(text: str) -> Normalized:
    """Normalise a customer message for the models; keep the original."""
    cleaned = unicodedata.normalize("NFC", text)
    cleaned = clean_whitespace(to_simplified(to_halfwidth(cleaned)))
    return Normalized(original=text, text=cleaned)
