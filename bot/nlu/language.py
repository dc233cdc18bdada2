"""Language detection for the two languages bankbot serves: ``zh``, ``en`` or ``mixed``."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str) -> str:
    """Return ``zh``, ``en``, ``mixed`` or ``unknown`` (no letters at all, e.g. emoji only).

    A message is ``mixed`` when it has at least two Latin words *and* Latin words make up
    more than a quarter of the units (CJK characters count one unit each).
    """
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if cjk == 0 and latin == 0:
        return "unknown"
    if cjk == 0:
        return "en"
    if latin == 0:
        return "zh"
    # CJK text is dense: weigh a CJK character as about half a word
    zh_units = cjk / 2
    if latin >= 2 and latin / (latin + zh_units) > 0.25:
        return "mixed" if zh_units >= 1 else "en"
    return "zh" if zh_units >= latin else "en"
