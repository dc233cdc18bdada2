"""``bankbot data validate`` finds real problems and names file:line."""

from __future__ import annotations

from pathlib import Path

from bot.nlu.data import load_care, load_nlu
from bot.nlu.lint import check_nlu, check_responses

from .conftest import ROOT, run_cli

BAD_NLU = """version: "3.1"
nlu:
- intent: check_balance
  metadata:
    category: inquiry
  examples: |
    - 查余额
    - 查余额
    - [5000元](amount)能转吗
- intent: report_lost_card
  metadata:
    category: operations
  examples: |
    - 查余额
    - 卡丢了
- intent: greet
  metadata:
    category: inquiry
  examples: |
    - 你好
"""


def test_project_data_is_valid() -> None:
    proc = run_cli("data", "validate")
    assert proc.returncode == 0, proc.stdout.decode()[-2000:]
    assert "0 errors" in proc.stdout.decode()
    examples = load_nlu(ROOT / "data" / "nlu")
    intents = {e.intent for e in examples}
    assert len(intents) >= 40
    assert all(sum(e.intent == i for e in examples) >= 25 for i in intents)
    assert {e.category for e in examples} == {"consultation", "inquiry", "operation", "value_added", None}
    assert len(load_care(ROOT / "data" / "care")) > 500


def test_validator_reports_each_problem_with_location(tmp_path: Path) -> None:
    f = tmp_path / "bad.yml"
    f.write_text(BAD_NLU, encoding="utf-8")
    messages = [str(i) for i in check_nlu([f], min_examples=2)]
    text = "\n".join(messages)
    assert f"{f}:8: warning: duplicate example '查余额'" in text
    assert f"{f}:14: error: example '查余额' is under 'report_lost_card' and 'check_balance'" in text
    assert "unknown category 'operations'" in text
    assert "meta intent 'greet' must not have a category" in text
    assert "intent 'greet' has 1 examples (at least 2 needed)" in text
    # annotations are stripped, not treated as text
    assert [e.text for e in load_nlu([f])][2] == "5000元能转吗"


def test_cli_exit_status_and_yaml_errors(tmp_path: Path) -> None:
    f = tmp_path / "broken.yml"
    f.write_text("nlu:\n- intent: x\n  examples: |\n    - a\n   - b: [\n", encoding="utf-8")
    proc = run_cli("data", "validate", "--data", str(f), "--care", "--responses")
    assert proc.returncode == 1
    assert f"{f}:" in proc.stdout.decode()


def test_service_language_lint(tmp_path: Path) -> None:
    f = tmp_path / "domain.yml"
    f.write_text("responses:\n  utter_ok:\n  - text: 我们可以帮您在App里办理\n  utter_bad:\n"
                 "  - text: 这个不能在线办理\n  utter_en:\n  - text: Sorry, we can't do that online\n",
                 encoding="utf-8")
    issues = [str(i) for i in check_responses([f])]
    assert len(issues) == 2
    assert "'不能'" in issues[0] and ":5:" in issues[0]
    assert "can't" in issues[1] and ":7:" in issues[1]


LONG_FORM = """version: "3.1"
nlu:
- intent: card_bill
  metadata:
    category: inquiry
  examples:
  - text: 我这期账单还要还多少
  - text: 信用卡账单日和还款日有啥不一样
    metadata:
      category: consultation
  - text: 问一下账单
    metadata:
      category: value_adde
"""


def test_rasa_long_form_sets_a_category_per_example(tmp_path: Path) -> None:
    """Rasa 3's long form: an example's own category overrides its intent's default; a bad one is an error."""
    f = tmp_path / "long.yml"
    f.write_text(LONG_FORM, encoding="utf-8")
    examples = {e.text: e for e in load_nlu(f)}
    assert examples["我这期账单还要还多少"].category == "inquiry"
    assert examples["信用卡账单日和还款日有啥不一样"].category == "consultation"
    assert examples["信用卡账单日和还款日有啥不一样"].intent == "card_bill"
    errors = [i for i in check_nlu([f], min_examples=1) if i.level == "error"]
    assert len(errors) == 1 and "value_adde" in errors[0].message and f"{f}:11" in errors[0].where
