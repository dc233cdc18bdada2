"""Two requests in one message without a connector ("查一下账单 分期手续费多少", "check my balance send
200 to Tom", "gua shi chong zhi mi ma").

Messages with punctuation or a connector are split by :func:`bot.nlu.pipeline.split_segments`. The rest
are split here, but only when the whole-message prediction looks mixed (two business intents share the
probability mass): then every word boundary of a short message is a candidate split, both halves of
every candidate are scored in one encoder batch, and the split whose weaker half is most confident wins,
if both halves name different requests with enough confidence. Single requests rarely look mixed, so
the extra encoder work is paid by few messages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: requests that count in a two-request message besides the business intents
META_REQUESTS = ("complaint", "request_human")
#: never part of a multi-intent answer
_NEVER = {"greet", "goodbye", "thanks", "affirm", "deny", "out_of_scope"}
_WORD = re.compile(r"\S+")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class MultiOptions:
    """Thresholds of the split search."""

    #: the second request of the whole message must have at least this probability (calibrated
    #: probabilities are sharp: a two-request message keeps about 0.5 % or more on its second request)
    mixed_second: float = 0.005
    #: ... and the first at most this (a confident single request is not searched)
    mixed_first: float = 0.995
    #: each half's request must be at least this confident
    half_confidence: float = 0.8
    #: both halves' requests must be among this many top requests of the whole message
    whole_rank: int = 3
    #: each half has at least this many words (space-separated) or characters (Chinese)
    min_half: int = 2
    #: at most this many cuts are scored, the ones nearest the middle (0: all); two requests in one
    #: message split near the middle, and each cut costs two encoder rows
    max_cuts: int = 3
    #: longest message searched, in words (space-separated) or characters (Chinese without spaces)
    max_words: int = 16
    max_han_chars: int = 24


def is_request(name: str, intent_category: dict[str, str | None]) -> bool:
    """A request worth answering in a multi-intent message: a business intent, a complaint or a person."""
    if name in _NEVER:
        return False
    return intent_category.get(name) is not None or name in META_REQUESTS


def looks_mixed(p: np.ndarray, intents: Sequence[str], intent_category: dict[str, str | None],
                opts: MultiOptions) -> bool:
    """Whether the whole-message distribution has two requests sharing its mass."""
    order = [j for j in np.argsort(-p) if is_request(intents[j], intent_category)][:2]
    if len(order) < 2:
        return False
    return float(p[order[0]]) <= opts.mixed_first and float(p[order[1]]) >= opts.mixed_second


def candidate_splits(text: str, opts: MultiOptions, han_words: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(left, right) halves of ``text`` at its word boundaries; empty for long or one-word messages.

    Space-separated text (English, pinyin, Chinese typed with spaces) splits at spaces; Chinese without
    spaces splits between the words given in ``han_words`` (jieba's segmentation of ``text``).
    """
    words = _WORD.findall(text)
    if len(words) >= 2:
        if len(words) > opts.max_words:
            return []
        cuts = range(opts.min_half, len(words) - opts.min_half + 1)
        return _central([(" ".join(words[:k]), " ".join(words[k:])) for k in cuts], opts.max_cuts)
    if han_words is None or len(text) > opts.max_han_chars or not _HAN.search(text):
        return []
    out: list[tuple[str, str]] = []
    cut = 0
    pieces = [w for w in han_words if w]
    for w in pieces[:-1]:
        cut += len(w)
        left, right = text[:cut], text[cut:]
        if len(left) >= opts.min_half and len(right) >= opts.min_half:
            out.append((left, right))
    return _central(out, opts.max_cuts)


def _central(cuts: list[tuple[str, str]], most: int) -> list[tuple[str, str]]:
    """The ``most`` cuts nearest the middle of the message, in their order (all when ``most`` is 0)."""
    if not most or len(cuts) <= most:
        return cuts
    keep = set(sorted(range(len(cuts)), key=lambda i: abs(len(cuts[i][0]) - len(cuts[i][1])))[:most])
    return [c for i, c in enumerate(cuts) if i in keep]


def best_split(
    halves: Sequence[tuple[str, str]], p_left: np.ndarray, p_right: np.ndarray, intents: Sequence[str],
    intent_category: dict[str, str | None], opts: MultiOptions, p_whole: np.ndarray | None = None,
) -> tuple[int, str, float, str, float] | None:
    """The best candidate: ``(index, left intent, its confidence, right intent, its confidence)``.

    ``p_left[i]`` / ``p_right[i]`` are the intent distributions of ``halves[i]``. A candidate counts when
    both halves' top intents are requests, differ, reach ``half_confidence`` and (given ``p_whole``, the
    whole message's distribution) are among its ``whole_rank`` top requests; the winner maximises the
    weaker half's confidence.
    """
    best: tuple[int, str, float, str, float] | None = None
    best_score = 0.0
    top: set[str] | None = None
    if p_whole is not None:
        ranked = [intents[j] for j in np.argsort(-p_whole) if is_request(intents[j], intent_category)]
        top = set(ranked[: opts.whole_rank])
    for i in range(len(halves)):
        jl, jr = int(np.argmax(p_left[i])), int(np.argmax(p_right[i]))
        nl, nr = intents[jl], intents[jr]
        cl, cr = float(p_left[i][jl]), float(p_right[i][jr])
        if nl == nr or not is_request(nl, intent_category) or not is_request(nr, intent_category):
            continue
        if top is not None and (nl not in top or nr not in top):
            continue
        score = min(cl, cr)
        if score >= opts.half_confidence and score > best_score:
            best, best_score = (i, nl, cl, nr, cr), score
    return best
