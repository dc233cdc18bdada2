"""The retraining loop's data side: export what agents corrected, merge reviewed examples back."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .data import META_INTENTS, intent_categories, load_intent_blocks, load_nlu


def write_nlu_yaml(path: Path, examples: dict[str, list[str]], categories: dict[str, str | None],
                   extra_metadata: dict[str, Any] | None = None) -> None:
    """Write ``{intent: [texts]}`` as Rasa 3 NLU YAML (categories as ``metadata``)."""
    lines = ['version: "3.1"', "nlu:"]
    for intent in sorted(examples):
        lines.append(f"- intent: {intent}")
        meta = dict(extra_metadata or {})
        if categories.get(intent):
            meta["category"] = categories[intent]
        if meta:
            lines.append("  metadata:")
            lines += [f"    {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in meta.items()]
        lines.append("  examples: |")
        lines += [f"    - {t}" for t in examples[intent]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yaml.safe_load(path.read_text(encoding="utf-8"))  # must stay loadable


def _clean(text: str) -> str:
    return " ".join(text.replace("\n", " ").split())


def export_corrections(labels: Iterable[Any], conversations: dict[str, list[dict[str, Any]]], training: list[str],
                       out_dir: Path, confirm_threshold: float = 0.6) -> dict[str, Any]:
    """Write ``corrections.yml`` (agent labels) and ``low_confidence.yml`` (uncertain messages that ended in a
    handoff, under their most likely intent, to be checked) plus ``summary.json``; returns the summary."""
    cats = intent_categories(load_nlu(training))
    corrected: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for row in labels:
        text = _clean(row.text)
        if text and text.lower() not in seen:
            seen.add(text.lower())
            corrected[row.intent].append(text)
    uncertain: dict[str, list[str]] = defaultdict(list)
    details = []
    for sender, events in conversations.items():
        if not any(e["type"] == "handoff" for e in events):
            continue
        for e in events:
            p = e.get("parse_data", {})
            if e["type"] != "user" or p.get("from_button"):
                continue
            conf = float(p.get("intent", {}).get("confidence", 1.0))
            if not (p.get("fallback") or conf < confirm_threshold):
                continue
            candidates = [r["name"] for r in p.get("intent_ranking", []) if r["name"] not in META_INTENTS]
            text = _clean(e.get("text", ""))
            if not candidates or not text or text.lower() in seen:
                continue
            seen.add(text.lower())
            uncertain[candidates[0]].append(text)
            details.append({"text": text, "sender_id": sender, "predicted": p.get("intent", {}).get("name"),
                            "confidence": conf, "candidates": candidates[:3]})
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    if corrected:
        write_nlu_yaml(out_dir / "corrections.yml", corrected, cats, {"source": "agent_corrections"})
        files.append(str(out_dir / "corrections.yml"))
    if uncertain:
        write_nlu_yaml(out_dir / "low_confidence.yml", uncertain, cats, {"source": "low_confidence_handoff",
                                                                          "review": "check the intent of each line"})
        files.append(str(out_dir / "low_confidence.yml"))
    summary = {"corrections": {i: len(t) for i, t in sorted(corrected.items())},
               "low_confidence": {i: len(t) for i, t in sorted(uncertain.items())},
               "files": files, "low_confidence_details": details}
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def merge_reviewed(review_files: list[str], training: list[str], into: Path) -> dict[str, Any]:
    """Add reviewed examples to the training data file ``into``; skip duplicates, report conflicts."""
    existing = load_nlu(training)
    cats = intent_categories(existing)
    known = {e.text.strip().lower(): e.intent for e in existing}
    target: dict[str, list[str]] = defaultdict(list)
    if into.is_file():
        for b in load_intent_blocks([into]):
            target[b.intent] += [e.text for e in b.examples]
            if b.category:
                cats[b.intent] = b.category
    added: Counter[str] = Counter()
    duplicates = 0
    conflicts = []
    for block in load_intent_blocks(review_files):
        if block.category:
            cats.setdefault(block.intent, block.category)
        for ex in block.examples:
            key = ex.text.strip().lower()
            if key in known and known[key] == block.intent:
                duplicates += 1
                continue
            if key in known:
                conflicts.append({"text": ex.text, "reviewed_intent": block.intent, "training_intent": known[key],
                                  "where": f"{ex.source}:{ex.line}"})
                continue
            known[key] = block.intent
            target[block.intent].append(ex.text)
            added[block.intent] += 1
    write_nlu_yaml(into, dict(target), cats, None)
    return {"added": dict(added), "duplicates_skipped": duplicates, "conflicts": conflicts, "into": str(into)}
