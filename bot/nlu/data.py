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
    #: category set on this example (Rasa 3 long form), overriding its intent's default category
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


def _example_lines(block: dict, path: Path, key_line: int) -> Iterator[tuple[str, int]]:
    raw = block.get("examples")
    if not isinstance(raw, str):
        raise DataError(f"{path}:{key_line}: 'examples' must be a block string ('examples: |')")
    base = key_line + 1
    for offset, line in enumerate(raw.splitlines()):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("- "):
            raise DataError(f"{path}:{base + offset}: example lines must start with '- ': {stripped[:40]!r}")
        yield strip_annotations(stripped[2:].strip()), base + offset


def _example_items(block: dict, path: Path, key_line: int) -> Iterator[tuple[str, int, str | None]]:
    """(text, line, per-example category) for the block-string form and Rasa 3's long form::

        examples:
        - text: 信用卡账单日和还款日有啥不一样
          metadata:
            category: consultation
    """
    raw = block.get("examples")
    if not isinstance(raw, list):
        for text, ln in _example_lines(block, path, key_line):
            yield text, ln, None
        return
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise DataError(f"{path}:{key_line}: each item of an 'examples' list needs a 'text' string")
        meta = item.get("metadata") or {}
        category = meta.get("category") if isinstance(meta, dict) else None
        yield strip_annotations(item["text"].strip()), int(item.get("__line__", key_line)), category


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


def load_intent_blocks(paths: str | Path | Iterable[str | Path]) -> list[IntentBlock]:
    """Read every ``nlu:`` intent block of the given files/folders."""
    blocks: list[IntentBlock] = []
    for path in iter_files(paths):
        doc = _load_yaml(path)
        items = doc.get("nlu")
        if items is None:
            continue
        if not isinstance(items, list):
            raise DataError(f"{path}:{doc.get('__line__', 1)}: 'nlu' must be a list")
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
            for text, ln, ex_category in _example_items(item, path, ex_line):
                block.examples.append(Example(text, block.intent, ex_category or category, source=str(path),
                                              line=ln, example_category=ex_category))
            blocks.append(block)
    return blocks


def load_nlu(paths: str | Path | Iterable[str | Path]) -> list[Example]:
    """All intent examples; an intent's category comes from any block that declares it, unless the example
    declares its own (Rasa 3 long form)."""
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
    """Map every intent to its category (None for meta intents)."""
    out: dict[str, str | None] = {}
    for ex in examples:
        if ex.example_category:
            continue
        if ex.intent and (ex.intent not in out or ex.category):
            out[ex.intent] = ex.category
    return out


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
            for text, ln in _example_lines(item, path, _find_examples_line(path, line)):
                out.append(Example(text, labels=tuple(labels), source=str(path), line=ln))
    return out


def data_hash(paths: Iterable[str | Path]) -> str:
    """Stable hash of the training files' contents (for model metadata)."""
    h = hashlib.sha256()
    for path in sorted(iter_files(list(paths))):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
