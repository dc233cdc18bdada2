"""Flow engine and reference checks (no model, no server)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.dialogue.flows import FlowEngine, load_flows
from bot.dialogue.references import ROOT, check_references


def test_shipped_flows_cover_the_processes_and_refer_to_existing_things() -> None:
    flows = load_flows()
    assert {"guide", "identity_check", "card_emergency", "handoff", "survey", "ticket", "leave_message"} <= set(flows)
    assert check_references() == []


def test_stack_call_collect_answer_and_link() -> None:
    engine = FlowEngine()
    state: dict = {}
    engine.start(state, "balance_inquiry")
    first = engine.advance(state)
    # identity_check was called: the code is asked and the engine waits
    assert first == [("utter", "utter_ask_otp", {"collect": "otp_code"})]
    assert engine.waiting_for(state) == "otp_code"
    assert engine.advance(state) == [], "a waiting collect asks only once"
    engine.answer(state, "******")
    rest = engine.advance(state)
    assert [n for _, n, _ in rest] == ["utter_otp_ok", "balance", "action_show_guide", "utter_followup"]
    assert state["flow_stack"] == [] and state["slots"]["otp_code"] == "******"


def test_conditions_pick_the_emergency_script() -> None:
    engine = FlowEngine()
    for kind, response in (("fraud", "utter_emergency_fraud"), ("lost_card", "utter_emergency_lost")):
        state: dict = {"slots": {"emergency": kind}}
        engine.start(state, "card_emergency")
        steps = engine.advance(state)
        assert [n for _, n, _ in steps] == [response, "emergency"]
        assert steps[-1][2]["priority"] == "urgent"


def test_cancel_pops_the_current_flow() -> None:
    engine = FlowEngine()
    state: dict = {}
    engine.start(state, "leave_message")
    engine.advance(state)
    assert engine.cancel(state) == "leave_message" and engine.waiting_for(state) is None


def test_validate_reports_unknown_references(tmp_path: Path) -> None:
    for part in ("data/dialogue", "data/guides/guides.yml", "actions"):
        src = ROOT / part
        dst = tmp_path / part
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    (tmp_path / "bot" / "dialogue").mkdir(parents=True)
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "flows").mkdir(parents=True)
    (tmp_path / "data" / "flows" / "bad.yml").write_text(
        "flows:\n  broken:\n    steps:\n      - utter: utter_nothing_here\n      - link: no_such_flow\n"
        "      - action: action_missing\n      - bank: teleport\n", encoding="utf-8")
    policy = tmp_path / "data" / "dialogue" / "policy.yml"
    policy.write_text(policy.read_text(encoding="utf-8") + "  extra: {guide: no_such_guide}\n", encoding="utf-8")
    messages = [str(i) for i in check_references(tmp_path)]
    for needle in ("utter_nothing_here", "no_such_flow", "action_missing", "teleport", "no_such_guide"):
        assert any(needle in m for m in messages), (needle, messages)


def test_every_handoff_notice_has_display_names() -> None:
    """The console shows each handoff status change by name, in both languages, from the one labels file."""
    from handoff.interface import NoticeKind
    from handoff.labels import LANGS, load_labels

    names = load_labels()["handoff_notices"]
    for kind in NoticeKind:
        assert all(names[kind.value].get(lang) for lang in LANGS), kind
