"""The hard held-out test set (data/test/hard) is well formed and uses only the project's intents."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.nlu.data import intent_categories, load_nlu

ROOT = Path(__file__).resolve().parents[1]
HARD = ROOT / "data" / "test" / "hard"
CATEGORIES = {"consultation", "inquiry", "operation", "value_added"}


@dataclass
class HardItem:
    """One hard-set message with its expected labels."""

    cls: str
    text: str
    intent: str
    category: str | None
    intents: list[str] = field(default_factory=list)
    care: list[str] = field(default_factory=list)
    institution: str | None = None


def _items() -> list[HardItem]:
    out: list[HardItem] = []
    for path in sorted(HARD.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc.get("nlu") is None, f"{path.name}: the hard set must never be loadable as training data"
        for block in doc["hard"]:
            for ex in block["examples"]:
                assert set(ex) <= {"text", "intent", "category", "intents", "care", "institution"}, ex
                out.append(HardItem(str(block["class"]), str(ex["text"]), str(ex["intent"]), ex["category"],
                                    list(ex.get("intents") or []), list(ex.get("care") or []),
                                    ex.get("institution")))
    return out


def test_hard_set_size_and_labels() -> None:
    """At least 450 messages; every intent exists; categories follow the intent except in rule_vs_own."""
    cats = intent_categories(load_nlu(ROOT / "data" / "nlu"))
    items = _items()
    assert len(items) >= 450
    for it in items:
        assert it.intent in cats, it
        assert all(extra in cats for extra in it.intents), it
        if it.cls == "rule_vs_own":
            assert it.category in CATEGORIES, it
        else:
            assert it.category == cats[it.intent], it
        assert set(it.care) <= {"elderly", "distressed"}, it
        if it.cls == "multi_intent":
            assert len(it.intents) >= 2, it
        if it.cls == "other_institution":
            assert it.intent == "out_of_scope" and it.institution, it


def test_hard_set_not_in_training_data() -> None:
    """No hard-set text appears verbatim in the training data."""
    train = {e.text.strip().lower() for e in load_nlu(ROOT / "data" / "nlu")}
    leaked = [it.text for it in _items() if it.text.strip().lower() in train]
    assert leaked == []
