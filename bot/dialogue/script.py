"""The customer's script: traditional-Chinese customers get traditional replies (OpenCC).

Detection compares the message with its OpenCC conversions; output goes through ``s2twp``
(Taiwan phrasing, e.g. 軟體, 簡訊) or ``s2hk`` for Hong Kong customers (metadata ``region: HK``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from opencc import OpenCC

#: keys whose values are identifiers, links or names: never converted
KEEP_KEYS = {"image", "deep_link", "payload", "url", "web_link", "link", "type", "guide_id", "mode", "status",
             "agent", "recipient_id", "intent", "to_skill", "priority"}


@lru_cache(maxsize=4)
def _cc(config: str) -> OpenCC:
    return OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional → simplified (for matching patterns)."""
    return str(_cc("t2s").convert(text))


def detect_script(text: str, previous: str = "hans") -> str:
    """``hant`` when the message is written in traditional characters, ``hans`` for simplified, else ``previous``."""
    if not any("\u4e00" <= c <= "\u9fff" for c in text):
        return previous
    if _cc("t2s").convert(text) != text:
        return "hant"
    if _cc("s2t").convert(text) != text:
        return "hans"
    return previous


def localize(value: Any, script: str, region: str | None = None) -> Any:
    """Convert every customer-facing string in a message (recursively) to the customer's script."""
    if script != "hant":
        return value
    cc = _cc("s2hk" if region == "HK" else "s2twp")

    def walk(v: Any, key: str | None = None) -> Any:
        if isinstance(v, str):
            return v if key in KEEP_KEYS else str(cc.convert(v))
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, key) for x in v]
        return v

    return walk(value)
