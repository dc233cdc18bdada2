"""Text normalisation: traditional -> simplified Chinese, full-width -> half-width, whitespace,
Cantonese and HK/TW wording -> Mandarin, typos and banking homophones, pinyin -> characters.

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
    #: the message was Cantonese / HK-TW wording mapped to Mandarin
    dialect: bool = False
    #: the message was typed in pinyin and decoded into characters
    pinyin: bool = False


_PATTERNS: dict[int, tuple[dict[str, str], re.Pattern[str]]] = {}


def _replace_all(text: str, table: dict[str, str]) -> str:
    """Replace every key of ``table`` (longest first) in one pass."""
    if not table:
        return text
    cached = _PATTERNS.get(id(table))
    if cached is None or cached[0] is not table:
        keys = sorted(table, key=len, reverse=True)
        cached = (table, re.compile("|".join(re.escape(k) for k in keys)))
        _PATTERNS[id(table)] = cached
    return cached[1].sub(lambda m: table[m.group(0)], text)


# 系 as Cantonese "is", not inside 系统 / 联系 / 关系 / 体系 / 派系 / 系列
_CANTONESE_XI = re.compile(r"(?<![联关体派直])系(?![统列数])")


def mandarin_from_cantonese(text: str) -> str:
    """Map Cantonese and Hong Kong / Taiwan banking wording (simplified script) to Mandarin."""
    from .lexicon import CANTONESE, CANTONESE_MARKERS, REGIONAL

    marked = any(m in text for m in CANTONESE_MARKERS)
    out = _replace_all(text, REGIONAL)
    if marked:
        out = _CANTONESE_XI.sub("是", out)
    return _replace_all(out, CANTONESE)


@lru_cache(maxsize=1)
def _homophones() -> dict[tuple[int, int, str], list[tuple[str, tuple[str, ...]]]]:
    """(length, position, character) -> banking words with that character there, with their toneless pinyin."""
    from .lexicon import BANK_WORDS
    from .pinyin_table import load

    words = load().words
    out: dict[tuple[int, int, str], list[tuple[str, tuple[str, ...]]]] = {}
    for w in BANK_WORDS:
        if len(w) in (2, 3) and w in words:
            for k, c in enumerate(w):
                out.setdefault((len(w), k, c), []).append((w, words[w]))
    return out


def _readings(ch: str) -> frozenset[str]:
    """Every toneless reading of one character (a character without any reads as itself, as in pypinyin)."""
    from .pinyin_table import load

    return load().readings.get(ch) or frozenset({ch})


@lru_cache(maxsize=1)
def _jieba_freq() -> dict[str, int]:
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    return jieba.dt.FREQ  # type: ignore[no-any-return]


def _is_dictionary_word(word: str) -> bool:
    """Whether jieba's dictionary has ``word`` (looked up in place: a copy of its 245k short words is 13 MB)."""
    return _jieba_freq().get(word, 0) > 0


def fix_typos(text: str) -> str:
    """Explicit typo table, then one-character homophone slips of banking words (查余鹅 -> 查余额).

    A 2-3 character window is replaced by a banking word when it differs from the word in one
    character that can be read like the word's character there, and the window is not itself a
    dictionary word.
    """
    from .lexicon import TYPOS

    text = _replace_all(text, TYPOS)
    if not any("\u4e00" <= c <= "\u9fff" for c in text):
        return text
    table = _homophones()
    chars = list(text)
    i = 0
    while i < len(chars):
        replaced = 0
        for n in (3, 2):
            window = chars[i : i + n]
            if len(window) < n or not all("\u4e00" <= c <= "\u9fff" for c in window):
                continue
            for k in range(n):
                for word, py in table.get((n, k, window[k]), ()):
                    diff = [j for j in range(n) if word[j] != window[j]]
                    if len(diff) == 1 and py[diff[0]] in _readings(window[diff[0]]) \
                            and not _is_dictionary_word("".join(window)):
                        chars[i : i + n] = list(word)
                        replaced = n
                        break
                if replaced:
                    break
            if replaced:
                break
        i += replaced or 1
    return "".join(chars)


_TONE_MARKS = frozenset("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü\u0300\u0301\u030c\u0304")
_TONE_DIGIT = re.compile(r"(?<=[a-zü])[1-5]")
_PINYIN_TEXT = re.compile(r"^[a-zü' ,.?!，。？！~]+$")


@lru_cache(maxsize=1)
def _pinyin_tables() -> tuple[frozenset[str], dict[str, str], dict[str, str]]:
    """Valid syllables, syllable -> common character, concatenated pinyin -> banking word."""
    from .lexicon import BANK_WORDS, COMMON_CHARS
    from .pinyin_table import load

    table = load()
    syllables = {s.replace("ü", "v") for s in table.default.values() if s.isalpha()}
    single: dict[str, str] = {}
    for ch in COMMON_CHARS:
        single.setdefault(table.default.get(ch, ch).replace("ü", "v"), ch)
    words: dict[str, str] = {}
    for w in BANK_WORDS:
        if w in table.words:
            words.setdefault("".join(table.words[w]).replace("ü", "v"), w)
    return frozenset(syllables), single, words


def _strip_tones(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower().replace("ü", "v"))
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _TONE_DIGIT.sub("", plain.replace("u\u0308", "v"))


def decode_pinyin(text: str) -> str | None:
    """Characters for a message typed in pinyin (``xiugai mima`` -> ``修改密码``), or None if it isn't pinyin.

    Every letter run must split into valid syllables, and banking words must cover at least half of
    the syllables, so English messages are left alone.
    """
    plain = _strip_tones(text)
    if not _PINYIN_TEXT.match(plain) or not any(c.isalpha() for c in plain):
        return None
    syllables, single, words = _pinyin_tables()
    letters = "".join(c for c in plain.replace("'", "") if c.isalpha() or c == "v")
    n = len(letters)
    # typed one syllable per token ("zhe ge yue"): a word that spans fewer tokens than it has syllables
    # (余额 for "yue") scores only the tokens it covers, so 这个月 beats 这个 + 余额 there
    tokens = [t for t in ("".join(c for c in t if c.isalpha() or c == "v")
                          for t in plain.replace("'", " ").split()) if t]
    ends: dict[int, int] = {}
    if len(tokens) > 1 and all(t in syllables for t in tokens):
        pos = 0
        ends[0] = 0
        for k, t in enumerate(tokens):
            pos += len(t)
            ends[pos] = k + 1
    # best[i] = (score, -pieces, syllables covered by banking words, syllables, output) for letters[:i]
    best: list[tuple[int, int, int, int, str] | None] = [None] * (n + 1)
    best[0] = (0, 0, 0, 0, "")
    max_word = max((len(k) for k in words), default=1)
    for i in range(n):
        cur = best[i]
        if cur is None:
            continue
        for j in range(i + 1, min(n, i + max_word) + 1):
            piece = letters[i:j]
            cands: list[tuple[int, int, int, int, str]] = []
            if piece in words:
                w = words[piece]
                score = len(w)
                if ends:
                    spans = ends[j] - ends[i] if i in ends and j in ends else 0
                    score = min(score, spans)
                cands.append((cur[0] + score, cur[1] - 1, cur[2] + len(w), cur[3] + len(w), cur[4] + w))
            if piece in syllables and j - i <= 6 and (piece not in words or ends):
                cands.append((cur[0], cur[1] - 1, cur[2], cur[3] + 1, cur[4] + single.get(piece, piece)))
            for cand in cands:
                old = best[j]
                if old is None or cand[:2] > old[:2]:
                    best[j] = cand
    last = best[n]
    if last is None:
        return None
    _, _, covered, total, out = last
    if covered < 2 or covered * 2 < total:
        return None
    return out


def normalize(text: str) -> Normalized:
    """Normalise a customer message for the models; keep the original."""
    cleaned = unicodedata.normalize("NFC", text)
    cleaned = clean_whitespace(to_simplified(to_halfwidth(cleaned)))
    decoded = decode_pinyin(cleaned) if cleaned.isascii() or any(c in _TONE_MARKS for c in cleaned) else None
    if decoded:
        return Normalized(original=text, text=fix_typos(decoded), pinyin=True)
    mandarin = mandarin_from_cantonese(cleaned)
    fixed = fix_typos(mandarin)
    return Normalized(original=text, text=fixed, dialect=mandarin != cleaned)
