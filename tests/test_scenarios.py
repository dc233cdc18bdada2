"""Multi-turn conversation scenarios (tests/scenarios/*.yml) on the real dialogue stack, NLU injected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from .scenario_runner import Scenario, load_scenarios, run_scenario

ALL = load_scenarios()


@pytest.mark.parametrize("scenario", ALL, ids=[f"{s.lang}:{s.name}" for s in ALL])
def test_scenario(scenario: Scenario, tmp_path: Path) -> None:
    asyncio.run(run_scenario(scenario, tmp_path))


def test_scenario_coverage() -> None:
    """At least 80 scenarios, all three scripts, every repair pattern."""
    assert len(ALL) >= 80
    langs = {s.lang for s in ALL}
    assert langs == {"zh-Hans", "zh-Hant", "en"}
    patterns = {p for s in ALL for p in s.patterns}
    required = {"cancel", "digression", "correction", "chitchat", "clarification", "cannot_handle",
                "human_handoff", "still_not_working", "completed", "internal_error", "emergency", "identity",
                "handoff_honesty", "survey"}
    assert required <= patterns, required - patterns
