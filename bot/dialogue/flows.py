"""A small flow engine: business processes declared in ``data/flows/*.yml`` run on a flow stack.

A flow is a list of steps (``utter``, ``action``, ``bank``, ``collect``, ``handoff``, ``call``,
``link``), each optionally guarded by ``if: {slot, equals}``. ``call`` pushes another flow and comes
back; ``link`` replaces the current flow; ``collect`` stops and waits for the customer's answer.
:meth:`FlowEngine.advance` turns the stack into policy :class:`~bot.dialogue.policy.Step` objects
until a ``collect`` waits or the stack is empty. The stack is plain data (stored in the state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .state import StepKind

DEFAULT_FLOWS = Path(__file__).resolve().parents[2] / "data" / "flows"
STEP_KEYS = ("utter", "action", "bank", "collect", "handoff", "call", "link")
BANK_QUERIES = {"balance", "transactions", "bill", "points", "card_delivery", "transfer_status", "freeze"}


@dataclass
class FlowStep:
    """One step of a flow."""

    kind: str
    target: str
    args: dict[str, Any] = field(default_factory=dict)
    condition: dict[str, Any] | None = None

    def applies(self, slots: dict[str, Any]) -> bool:
        """Whether the step's ``if`` holds for these slots."""
        if not self.condition:
            return True
        return slots.get(str(self.condition.get("slot"))) == self.condition.get("equals")


@dataclass
class Flow:
    """A named business process."""

    name: str
    description: str
    steps: list[FlowStep]
    file: str = ""


@dataclass
class Frame:
    """A running flow on the stack: which flow and the next step's index."""

    flow: str
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Stored form."""
        return {"flow": self.flow, "index": self.index}


def load_flows(folder: str | Path = DEFAULT_FLOWS) -> dict[str, Flow]:
    """All flows of ``folder/*.yml``; raises ``ValueError`` on a malformed step."""
    flows: dict[str, Flow] = {}
    for path in sorted(Path(folder).glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, body in (doc.get("flows") or {}).items():
            steps = []
            for i, raw in enumerate(body.get("steps") or []):
                kinds = [k for k in STEP_KEYS if k in raw]
                if len(kinds) != 1:
                    raise ValueError(f"{path}: flow {name} step {i + 1}: exactly one of {', '.join(STEP_KEYS)}")
                kind = kinds[0]
                args = {k: v for k, v in raw.items() if k not in (kind, "if")}
                steps.append(FlowStep(kind, str(raw[kind]), args, raw.get("if")))
            flows[str(name)] = Flow(str(name), str(body.get("description", "")), steps, str(path))
    return flows


class FlowEngine:
    """Runs flows on a stack held in the conversation state (``state["flow_stack"]``)."""

    def __init__(self, flows: dict[str, Flow] | None = None) -> None:
        """Use ``flows`` (default: ``data/flows``)."""
        self.flows = flows if flows is not None else load_flows()

    def start(self, state: dict[str, Any], name: str) -> None:
        """Push flow ``name`` on the stack."""
        if name not in self.flows:
            raise KeyError(f"no flow {name!r}")
        state.setdefault("flow_stack", []).append(Frame(name).to_dict())

    def waiting_for(self, state: dict[str, Any]) -> str | None:
        """The slot a ``collect`` step is waiting for, if any."""
        stack = state.get("flow_stack") or []
        if not stack:
            return None
        frame = stack[-1]
        steps = self.flows[frame["flow"]].steps
        if frame["index"] < len(steps) and steps[frame["index"]].kind == "collect" and frame.get("asked"):
            return steps[frame["index"]].target
        return None

    def answer(self, state: dict[str, Any], value: Any) -> None:
        """Fill the slot the current ``collect`` waits for and move past it."""
        slot = self.waiting_for(state)
        if slot is None:
            return
        state.setdefault("slots", {})[slot] = value
        frame = state["flow_stack"][-1]
        frame["index"] += 1
        frame.pop("asked", None)

    def cancel(self, state: dict[str, Any]) -> str | None:
        """Drop the current flow (conversation repair: cancel); returns its name."""
        stack = state.get("flow_stack") or []
        return stack.pop()["flow"] if stack else None

    def advance(self, state: dict[str, Any], max_steps: int = 50) -> list[tuple[str, str, dict[str, Any]]]:
        """Run until a ``collect`` waits or the stack is empty; returns ``(StepKind, name, args)`` triples."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        stack: list[dict[str, Any]] = state.setdefault("flow_stack", [])
        slots = state.setdefault("slots", {})
        for _ in range(max_steps):
            if not stack:
                break
            frame = stack[-1]
            steps = self.flows[frame["flow"]].steps
            if frame["index"] >= len(steps):
                stack.pop()
                continue
            step = steps[frame["index"]]
            if not step.applies(slots):
                frame["index"] += 1
                continue
            if step.kind == "collect":
                if not frame.get("asked"):
                    frame["asked"] = True
                    ask = step.args.get("ask")
                    if ask:
                        out.append((StepKind.UTTER.value, str(ask), {"collect": step.target}))
                break
            frame["index"] += 1
            if step.kind == "call":
                stack.append(Frame(step.target).to_dict())
            elif step.kind == "link":
                stack.pop()
                stack.append(Frame(step.target).to_dict())
            else:
                kind = {"utter": StepKind.UTTER, "action": StepKind.ACTION, "bank": StepKind.BANK,
                        "handoff": StepKind.HANDOFF}[step.kind]
                out.append((kind.value, step.target, dict(step.args)))
        return out


def check_flows(flows: dict[str, Flow], responses: set[str], actions: set[str]) -> list[str]:
    """Every reference in the flows exists: responses, actions, flows, bank queries. Returns problems."""
    problems = []
    for flow in flows.values():
        for i, step in enumerate(flow.steps):
            where = f"{flow.file}: flow {flow.name} step {i + 1}"
            if step.kind == "utter" and step.target not in responses:
                problems.append(f"{where}: unknown response {step.target!r}")
            if step.kind == "collect" and step.args.get("ask") and step.args["ask"] not in responses:
                problems.append(f"{where}: unknown response {step.args['ask']!r}")
            if step.kind == "action" and step.target not in actions:
                problems.append(f"{where}: unknown action {step.target!r}")
            if step.kind in ("call", "link") and step.target not in flows:
                problems.append(f"{where}: unknown flow {step.target!r}")
            if step.kind == "bank" and step.target not in BANK_QUERIES:
                problems.append(f"{where}: unknown bank query {step.target!r}")
    return problems
