"""Checks on training data and bot responses (used by ``bankbot data validate``)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .data import CATEGORIES, META_INTENTS, DataError, iter_files, load_care, load_intent_blocks

# Service language: say what we *can* do. These phrasings are flagged in bot texts.
NEGATIVE_PHRASES = re.compile(
    r"不能|不可以|不会|无法|不行|不支持|办不到|做不到|没办法|"
    r"\bcan(?:'|’)?t\b|\bcannot\b|\bcan not\b|\bwon(?:'|’)t\b|\bunable to\b|\bnot able to\b|\bnot allowed\b",
    re.IGNORECASE,
)


#: A positive rewrite to offer for each kind of negative phrasing (service-language assist in the console).
REWRITES_ZH = {
    "不能": "这个我们可以这样帮您…", "不可以": "这个我们可以换一种方式帮您…", "不会": "我们会尽力为您…",
    "无法": "我们可以通过…为您处理", "不行": "我们可以试试…", "不支持": "目前我们可以通过…办理",
    "办不到": "我们可以这样帮您…", "做不到": "我们可以这样帮您…", "没办法": "我们可以这样帮您…",
}
REWRITE_EN = "Here's what we can do: …"


@dataclass(frozen=True)
class NegativeSpan:
    """One negative phrasing in a text: where it is and a positive rewrite to suggest."""

    start: int
    end: int
    phrase: str
    suggestion: str


def negative_spans(text: str) -> list[NegativeSpan]:
    """Every negative phrasing in ``text`` (the same rule ``bankbot data validate`` applies to bot texts)."""
    return [NegativeSpan(m.start(), m.end(), m.group(0), REWRITES_ZH.get(m.group(0), REWRITE_EN))
            for m in NEGATIVE_PHRASES.finditer(text)]


@dataclass
class Issue:
    """One finding: ``error`` fails validation, ``warning`` does not."""

    level: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message}"


def check_nlu(paths: Iterable[str | Path], min_examples: int = 25) -> list[Issue]:
    """Schema, duplicates, conflicts, too-few examples and category checks for NLU files."""
    issues: list[Issue] = []
    try:
        blocks = load_intent_blocks(list(paths))
    except DataError as exc:
        return [Issue("error", str(exc).split(": ", 1)[0], str(exc).split(": ", 1)[-1])]
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    categories: dict[str, set[str]] = defaultdict(set)
    first_block: dict[str, str] = {}
    for b in blocks:
        where = f"{b.source}:{b.line}"
        first_block.setdefault(b.intent, where)
        if b.has_category_key and b.category not in CATEGORIES:
            issues.append(Issue("error", where, f"intent {b.intent!r}: unknown category {b.category!r} "
                                                f"(use one of {', '.join(CATEGORIES)})"))
        if b.category:
            categories[b.intent].add(b.category)
        if b.intent in META_INTENTS and b.category:
            issues.append(Issue("error", where, f"meta intent {b.intent!r} must not have a category"))
        if not b.examples:
            issues.append(Issue("error", where, f"intent {b.intent!r} has no examples"))
        for ex in b.examples:
            counts[b.intent] += 1
            if ex.example_category and (ex.example_category not in CATEGORIES or b.intent in META_INTENTS):
                issues.append(Issue("error", f"{ex.source}:{ex.line}",
                                    f"example category {ex.example_category!r} is unknown or on a meta intent"))
            key = ex.text.strip().lower()
            if not key:
                issues.append(Issue("error", f"{ex.source}:{ex.line}", "empty example"))
                continue
            reported: set[str] = set()
            for other_intent, other_where in seen[key]:
                if other_intent in reported:
                    continue
                reported.add(other_intent)
                if other_intent == b.intent:
                    issues.append(Issue("warning", f"{ex.source}:{ex.line}",
                                        f"duplicate example {ex.text!r} (also at {other_where})"))
                else:
                    issues.append(Issue("error", f"{ex.source}:{ex.line}",
                                        f"example {ex.text!r} is under {b.intent!r} and {other_intent!r} "
                                        f"({other_where})"))
            seen[key].append((b.intent, f"{ex.source}:{ex.line}"))
    for intent, cats in categories.items():
        if len(cats) > 1:
            issues.append(Issue("error", first_block[intent],
                                f"intent {intent!r} has several categories: {sorted(cats)}"))
    for intent, n in sorted(counts.items()):
        if intent not in META_INTENTS and not categories.get(intent):
            issues.append(Issue("error", first_block[intent],
                                f"business intent {intent!r} has no metadata.category"))
        if n < min_examples:
            issues.append(Issue("error", first_block[intent], f"intent {intent!r} has {n} examples "
                                                              f"(at least {min_examples} needed)"))
    return issues


def check_care(paths: Iterable[str | Path]) -> list[Issue]:
    """Schema and conflicting-label checks for care data."""
    try:
        examples = load_care(list(paths))
    except DataError as exc:
        return [Issue("error", str(exc).split(": ", 1)[0], str(exc).split(": ", 1)[-1])]
    issues = []
    seen: dict[str, tuple[tuple[str, ...], str]] = {}
    for ex in examples:
        key = ex.text.strip().lower()
        where = f"{ex.source}:{ex.line}"
        if key in seen and set(seen[key][0]) != set(ex.labels):
            issues.append(Issue("error", where, f"{ex.text!r} has labels {list(ex.labels)} here and "
                                                f"{list(seen[key][0])} at {seen[key][1]}"))
        elif key in seen:
            issues.append(Issue("warning", where, f"duplicate care example {ex.text!r} (also at {seen[key][1]})"))
        seen.setdefault(key, (ex.labels, where))
    return issues


def _bot_texts(node: Any, path: str) -> Iterable[tuple[str, str]]:
    """Every string under a ``responses``/``guides`` tree, with a dotted location."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in {"image", "url", "deep_link", "web_link", "payload", "link", "screenshot", "id", "intent"}:
                continue
            yield from _bot_texts(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _bot_texts(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def check_responses(paths: Iterable[str | Path]) -> list[Issue]:
    """Service-language lint: flag negative phrasing (不能/不可以/不会/can't/won't …) in bot texts."""
    issues = []
    for path in iter_files(list(paths)):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            issues.append(Issue("error", str(path), f"YAML syntax error: {exc}"))
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for key in ("responses", "guides", "phrases"):
            if key not in doc:
                continue
            for where, text in _bot_texts(doc[key], key):
                m = NEGATIVE_PHRASES.search(text)
                if m:
                    lineno = next((i + 1 for i, ln in enumerate(lines) if m.group(0) in ln and text[:12] in ln), 0)
                    issues.append(Issue("error", f"{path}:{lineno}", f"{where}: service language: "
                                        f"{m.group(0)!r} in {text!r} — say what we can do instead"))
    return issues
