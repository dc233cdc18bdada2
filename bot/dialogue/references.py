"""Cross-file reference checks for ``bankbot data validate``.

Flows, the policy, guides and the dialogue code may refer only to intents, guides, responses, actions
and flows that exist: policy intents are NLU intents, policy ``guide``s are guides, every ``utter_*``
the dialogue code, actions or flows use is a domain response, flow links name flows.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..nlu.lint import Issue
from .flows import BANK_QUERIES, check_flows, load_flows

ROOT = Path(__file__).resolve().parents[2]
UTTER_RE = re.compile(r"[\"'](utter_[a-z0-9_]+)[\"']")
ACTION_RE = re.compile(r"return \"(action_[a-z0-9_]+)\"")


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def check_references(root: Path = ROOT) -> list[Issue]:
    """All problems found (errors)."""
    issues: list[Issue] = []
    domain = _yaml(root / "data" / "dialogue" / "domain.yml")
    responses = set((domain.get("responses") or {}).keys())
    policy_path = root / "data" / "dialogue" / "policy.yml"
    policy = _yaml(policy_path).get("intents") or {}
    nlu_intents: set[str] = set()
    for path in sorted((root / "data" / "nlu").glob("*.yml")):
        for item in _yaml(path).get("nlu") or []:
            if isinstance(item, dict) and item.get("intent"):
                nlu_intents.add(str(item["intent"]))
    guides_doc = _yaml(root / "data" / "guides" / "guides.yml")
    raw_guides = guides_doc.get("guides", guides_doc)
    guide_ids = set(raw_guides) if isinstance(raw_guides, dict) else {g.get("id") for g in raw_guides or []}
    for intent, rules in policy.items():
        where = f"{policy_path.relative_to(root)}: intent {intent}"
        if nlu_intents and intent not in nlu_intents:
            issues.append(Issue("error", where, "not an NLU intent in data/nlu"))
        rules = rules or {}
        if rules.get("guide") and rules["guide"] not in guide_ids:
            issues.append(Issue("error", where, f"unknown guide {rules['guide']!r}"))
        if rules.get("reveals") and rules["reveals"] not in BANK_QUERIES:
            issues.append(Issue("error", where, f"unknown bank query {rules['reveals']!r}"))
    actions: set[str] = set()
    for path in sorted((root / "actions").glob("*.py")):
        actions |= set(ACTION_RE.findall(path.read_text(encoding="utf-8")))
    for folder in ("bot/dialogue", "actions"):
        for path in sorted((root / folder).glob("*.py")):
            for name in sorted(set(UTTER_RE.findall(path.read_text(encoding="utf-8")))):
                if name not in responses:
                    issues.append(Issue("error", str(path.relative_to(root)), f"unknown response {name!r}"))
    try:
        flows = load_flows(root / "data" / "flows")
    except ValueError as exc:
        return issues + [Issue("error", "data/flows", str(exc))]
    for problem in check_flows(flows, responses, actions):
        where, _, message = problem.partition(": flow ")
        issues.append(Issue("error", where, "flow " + message))
    return issues
