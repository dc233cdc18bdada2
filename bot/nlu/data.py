"""Training data: Rasa 3 NLU YAML for intents, and the care YAML, with source line numbers.

NLU files look like Rasa's::

    version: "3.1"
    nlu:
    - intent: check_balance
      metadata: {category: inquiry}
      examples: |
        - 我卡里还有多少钱

Care files use ``care:`` blocks with ``labels: [elderly, distressed, positive]`` instead of
``intent``. Entity annotations in Rasa's ``[text](entity)`` form are accepted and stripped
(entities are extracted by rules, see :mod:`bot.nlu.entities`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CATEGORIES = ("consultation", "inquiry", "operation", "value_added")
META_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny", "request_human", "complaint", "out_of_scope")
CARE_LABELS = ("elderly", "distressed", "positive")
_ANNOTATION = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)|\[([^\]]+)\]\{[^}]*\}")


class DataError(ValueError):
    """A data file can't be read; the message names the file and line."""


@dataclass
class Example:
    """One training example."""

    text: str
    intent: str | None = None
    category: str | None = None
    labels: tuple[str, ...] = ()
    source: str = ""
    line: int = 0
    #: weight in the loss (external data counts less than our own)
    weight: float = 1.0
    tags: set[str] = field(default_factory=set)
    #: category written on the example itself (Rasa 3 long form), overriding the intent's default
    example_category: str | None = None


@dataclass
class IntentBlock:
    """One ``- intent:`` block as written, for validation."""

    intent: str
    category: str | None
    source: str
    line: int
    examples: list[Example]
    has_category_key: bool = False


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the line of every mapping (``__line__``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def strip_annotations(text: str) -> str:
    """``[5000元](amount)`` -> ``5000元``."""
    return _ANNOTATION.sub(lambda m: m.group(1) or m.group(2), text)


def _load_yaml(path: Path) -> dict:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataError(f"{where}: YAML syntax error: {getattr(exc, 'problem', exc)}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text") from exc
    if not isinstance(doc, dict):
        raise DataError(f"{path}:1: expected a mapping with 'nlu:' or 'care:' at top level")
    return doc


def _example_items(block: dict, path: Path, key_line: int) -> Iterator[tuple[str, int, str | None]]:
    """``(text, line, per-example category)`` of a block in either Rasa form.

    Short form: ``examples: |`` with ``- text`` lines. Long form (Rasa 3)::

        examples:
        - text: 信用卡账单日和还款日有什么区别
          metadata: {category: consultation}
    """
    raw = block.get("examples")
    if isinstance(raw, list):
        for item in raw:
            line = item.get("__line__", key_line) if isinstance(item, dict) else key_line
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise DataError(f"{path}:{line}: each long-form example needs a 'text' string")
            meta = item.get("metadata") or {}
            if not isinstance(meta, dict):
                raise DataError(f"{path}:{line}: example 'metadata' must be a mapping")
            cat = meta.get("category")  # checked by ``bankbot data validate`` (unknown, or on a meta intent)
            yield strip_annotations(item["text"].strip()), line, None if cat is None else str(cat)
        return
    for text, ln in _example_lines(block, path, key_line):
        yield text, ln, None


def _example_lines(block: dict, path: Path, key_line: int) -> Iterator[tuple[str, int]]:
    raw = block.get("examples")
    if not isinstance(raw, str):
        raise DataError(f"{path}:{key_line}: 'examples' must be a block string ('examples: |') "
                        "or a list of '- text:' items")
    base = key_line + 1
    for offset, line in enumerate(raw.splitlines()):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("- "):
            raise DataError(f"{path}:{base + offset}: example lines must start with '- ': {stripped[:40]!r}")
        yield strip_annotations(stripped[2:].strip()), base + offset


def _find_examples_line(path: Path, block_line: int) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    for i in range(block_line - 1, min(len(lines), block_line + 12)):
        if lines[i].strip().startswith("examples:"):
            return i + 1
    return block_line


def iter_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of ``.yml``/``.yaml`` files."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(x for x in p.rglob("*") if x.suffix in {".yml", ".yaml"})
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    return out


def _top_lists(paths: str | Path | Iterable[str | Path], key: str) -> Iterator[tuple[Path, list[Any]]]:
    """``(file, items)`` for each data file that has the top-level list ``key`` (files without it are skipped)."""
    for path in iter_files(paths):
        doc = _load_yaml(path)
        items = doc.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise DataError(f"{path}:{doc.get('__line__', 1)}: '{key}' must be a list")
        yield path, items


def load_intent_blocks(paths: str | Path | Iterable[str | Path]) -> list[IntentBlock]:
    """Read every ``nlu:`` intent block of the given files/folders."""
    blocks: list[IntentBlock] = []
    for path, items in _top_lists(paths, "nlu"):
        for item in items:
            line = item.get("__line__", 0) if isinstance(item, dict) else 0
            if not isinstance(item, dict) or "intent" not in item:
                if isinstance(item, dict) and ({"synonym", "regex", "lookup"} & item.keys()):
                    continue  # other Rasa NLU item types are accepted and ignored
                raise DataError(f"{path}:{line}: each 'nlu' item needs an 'intent' key")
            meta = item.get("metadata") or {}
            category = meta.get("category") if isinstance(meta, dict) else None
            ex_line = _find_examples_line(path, line)
            block = IntentBlock(str(item["intent"]), category, str(path), line, [],
                                has_category_key=isinstance(meta, dict) and "category" in meta)
            for text, ln, own in _example_items(item, path, ex_line):
                block.examples.append(Example(text, block.intent, own or category, source=str(path), line=ln,
                                              example_category=own))
            blocks.append(block)
    return blocks


def load_nlu(paths: str | Path | Iterable[str | Path]) -> list[Example]:
    """All intent examples; an intent's category comes from any block that declares it."""
    blocks = load_intent_blocks(paths)
    category: dict[str, str | None] = {}
    for b in blocks:
        if b.category:
            category[b.intent] = b.category
    out: list[Example] = []
    for b in blocks:
        for ex in b.examples:
            ex.category = ex.example_category or category.get(b.intent)
            out.append(ex)
    return out


def intent_categories(examples: Iterable[Example]) -> dict[str, str | None]:
    """Map every intent to its default category (None for meta intents); per-example overrides don't count."""
    out: dict[str, str | None] = {}
    for ex in examples:
        if ex.example_category:
            out.setdefault(ex.intent or "", None)
            continue
        if ex.intent and (ex.intent not in out or (ex.category and not out[ex.intent])):
            out[ex.intent] = ex.category
    out.pop("", None)
    return out


def care_training_files(path: str | Path) -> list[Path]:
    """Care training files under ``path`` (a file or a folder); a folder's ``test.yml`` is held out."""
    p = Path(path)
    if p.is_dir():
        return [f for f in iter_files(p) if f.name not in {"test.yml", "test.yaml"}]
    return [p] if p.is_file() else []


def load_care(paths: str | Path | Iterable[str | Path]) -> list[Example]:
    """Read care examples (multi-label: elderly / distressed / positive, or none)."""
    out: list[Example] = []
    for path in iter_files(paths):
        doc = _load_yaml(path)
        for item in doc.get("care") or []:
            line = item.get("__line__", 0)
            labels = item.get("labels")
            if not isinstance(labels, list) or any(lab not in CARE_LABELS for lab in labels):
                raise DataError(f"{path}:{line}: 'labels' must be a list drawn from {CARE_LABELS}")
            for text, ln, _ in _example_items(item, path, _find_examples_line(path, line)):
                out.append(Example(text, labels=tuple(labels), source=str(path), line=ln))
    return out


def data_hash(paths: Iterable[str | Path]) -> str:
    """Stable hash of the training files' contents (for model metadata)."""
    h = hashlib.sha256()
    for path in sorted(iter_files(list(paths))):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


HARD_CLASSES = ("long_story", "pinyin", "cantonese", "typo", "rule_vs_own", "other_institution", "complaint",
                "distress", "impatience", "multi_intent", "out_of_scope", "request_human", "elderly", "plain")


@dataclass
class HardExample:
    """One message of the hard held-out set (``data/test/hard/*.yml``, top key ``hard:``)."""

    text: str
    cls: str
    intent: str
    category: str | None
    intents: tuple[str, ...] = ()
    care: tuple[str, ...] = ()
    institution: str | None = None
    source: str = ""
    line: int = 0


def load_hard(paths: str | Path | Iterable[str | Path]) -> list[HardExample]:
    """Read the hard test set: ``hard: [{class, examples: [{text, intent, category, intents, care, institution}]}]``."""
    out: list[HardExample] = []
    for path, groups in _top_lists(paths, "hard"):
        for group in groups:
            gline = group.get("__line__", 0) if isinstance(group, dict) else 0
            if not isinstance(group, dict) or not isinstance(group.get("examples"), list):
                raise DataError(f"{path}:{gline}: each 'hard' item needs 'class' and an 'examples' list")
            cls = str(group.get("class", "plain"))
            for item in group["examples"]:
                line = int(item.get("__line__") or gline) if isinstance(item, dict) else gline
                if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item.get("intent"):
                    raise DataError(f"{path}:{line}: each hard example needs 'text' and 'intent'")
                cat = item.get("category")
                if cat is not None and cat not in CATEGORIES:
                    raise DataError(f"{path}:{line}: unknown category {cat!r}")
                care = tuple(item.get("care") or ())
                if any(c not in CARE_LABELS for c in care):
                    raise DataError(f"{path}:{line}: 'care' must be drawn from {CARE_LABELS}")
                out.append(HardExample(item["text"], cls, str(item["intent"]), cat,
                                       tuple(item.get("intents") or ()), care,
                                       item.get("institution"), str(path), line))
    return out
