"""Runs the multi-turn scenarios in ``tests/scenarios/*.yml`` against the real dialogue stack.

Real components: the assistant, policy, domain responses, rasa-sdk actions, tracker store and the
handoff service with its store (SQLite in a temp folder), the demo bank backend. Only the NLU is
replaced: each turn may state the parse (``intent``, ``confidence``, ``care``); without one a turn
reads as an unrecognised message (``out_of_scope``, fallback). Scenario format:

```yaml
- name: short id
  lang: zh-Hans | zh-Hant | en
  patterns: [cancel, digression, ...]       # what it covers (counted in the report)
  metadata: {customer_id: demo-1001}        # optional channel metadata
  agents_online: [li.na]                    # optional: agents online before the first turn
  turns:
    - user: 查一下我的余额                   # or /payload
      intent: check_balance                 # optional parse
      expect: {says: [验证码], buttons: [收不到验证码], status: bot}
    - agent: {do: join|offline|transfer|transfer_skill|return|close|say|online, who: li.na, to: wang.lei}
      expect: {says: [...]}
```
Expectations: ``says`` / ``not_says`` (substrings of the turn's bot texts), ``silent``, ``buttons``
(titles or payloads), ``customs`` (custom types), ``status`` (handoff status), ``priority`` and
``reason`` of the open handoff, ``agent_sees`` (the customer's text is in the agent's chat),
``survey_score``, ``ticket``, ``frozen`` (a card of the customer is frozen). Every scenario also
checks that no bot text is sent twice in a row.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.bank.backend import DemoBankBackend
from bot.db import make_engine
from bot.dialogue.assistant import Assistant
from bot.dialogue.bot_link import AssistantBotLink
from bot.dialogue.policy import Policy
from bot.dialogue.store import TrackerStore
from handoff.queue import HandoffService, seed_demo_agents
from handoff.store import HandoffStore, agent_dict

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "scenarios"
META = {"greet", "goodbye", "thanks", "affirm", "deny", "request_human", "complaint", "out_of_scope"}


@dataclass
class Scenario:
    """One scenario from the YAML files."""

    name: str
    lang: str
    patterns: list[str]
    turns: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    agents_online: list[str] = field(default_factory=list)
    file: str = ""


def load_scenarios() -> list[Scenario]:
    """All scenarios, in file order."""
    out: list[Scenario] = []
    for path in sorted(SCENARIOS.glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            out.append(Scenario(item["name"], item["lang"], list(item.get("patterns", [])), item["turns"],
                                item.get("metadata") or {}, item.get("agents_online") or [], path.name))
    return out


def make_parse(turn: dict[str, Any]) -> dict[str, Any]:
    """The parse a turn states (the NLU's place in these tests)."""
    text = str(turn.get("user", ""))
    intent = turn.get("intent") or "out_of_scope"
    fallback = turn.get("intent") is None
    conf = float(turn.get("confidence", 0.95 if not fallback else 0.3))
    lang = "en" if re.fullmatch(r"[\x00-\x7f]*", text) and re.search(r"[A-Za-z]", text) else "zh"
    if not re.search(r"[A-Za-z\u4e00-\u9fff]", text):
        lang = turn.get("language", None)
    care = {"elderly": float(turn.get("elderly", 0.0)), "distressed": float(turn.get("distressed", 0.0))}
    category = None if intent in META else turn.get("category", "inquiry")
    institution = turn.get("institution")
    return {"text": text, "intent": {"name": intent, "confidence": conf},
            "topic_category": turn.get("topic_category", category),
            "other_institution": {"name": institution, "text": institution} if institution else None,
            "intent_ranking": [{"name": intent, "confidence": conf}] + [
                {"name": n, "confidence": 0.1} for n in turn.get("candidates", [])],
            "entities": [], "category": category, "categories": {}, "language": lang, "care": care,
            "multi_intent": [{"name": n} for n in turn.get("multi", [])], "fallback": fallback}


class UnavailableBank(DemoBankBackend):
    """A bank backend whose core system is down: every call raises, as a real outage would."""

    def __init__(self) -> None:
        """No connection to set up."""

    def customer(self, customer_id: str) -> Any:
        """The core-banking API is unreachable."""
        raise ConnectionError("core banking unavailable")


class Harness:
    """The dialogue stack of one scenario, with a handoff service and the demo bank."""

    def __init__(self, tmp: Path) -> None:
        """Fresh databases under ``tmp`` (copied from a seeded template: agents' password hashing is slow)."""
        global _TEMPLATE
        db = tmp / "bot.db"
        if _TEMPLATE is None:
            template = Path(tempfile.mkdtemp(prefix="bankbot-scenarios-")) / "template.db"
            seed = make_engine(f"sqlite:///{template}")
            seed_demo_agents(HandoffStore(seed))
            DemoBankBackend(seed)
            TrackerStore(seed)
            seed.dispose()
            _TEMPLATE = template
        shutil.copyfile(_TEMPLATE, db)
        engine = make_engine(f"sqlite:///{db}")
        self.store = TrackerStore(engine)
        self.handoff = HandoffService(HandoffStore(engine))
        self.bank = DemoBankBackend(engine)
        guides = {p for p in _guide_ids()}
        self.next_parse: dict[str, Any] = {}

        async def parse(text: str) -> dict[str, Any]:
            return self.next_parse

        self.assistant = Assistant(parse, self.store, Policy(guide_ids=guides), _intents(), gateway=self.handoff,
                                   bank=self.bank)
        self.handoff.bot = AssistantBotLink(self.assistant)
        self.pushed: list[dict[str, Any]] = []

        async def listener(sender: str, messages: list[dict[str, Any]], kind: str, agent: str | None) -> None:
            self.pushed.extend({**m, "_kind": kind} for m in messages)

        self.assistant.listeners.append(listener)

    async def settle(self) -> None:
        """Wait for the handoff service's background routing to finish."""
        for _ in range(20):
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            if not tasks:
                return
            await asyncio.gather(*tasks)

    def agent(self, username: str) -> dict[str, Any]:
        """The agent as the service sees them."""
        row = next(r for r in self.handoff.store.all_agents() if r.username == username)
        return agent_dict(row)

    def open_chat(self, sender: str) -> Any:
        """The customer's open handoff session row."""
        return self.handoff.store.open_session_for(sender)


_TEMPLATE: Path | None = None
_GUIDES: set[str] | None = None
_INTENTS: set[str] | None = None


def _guide_ids() -> set[str]:
    global _GUIDES
    if _GUIDES is None:
        doc = yaml.safe_load((ROOT / "data" / "guides" / "guides.yml").read_text(encoding="utf-8"))
        items = doc.get("guides", doc)
        _GUIDES = set(items) if isinstance(items, dict) else {g["id"] for g in items}
    return _GUIDES


def _intents() -> set[str]:
    global _INTENTS
    if _INTENTS is None:
        doc = yaml.safe_load((ROOT / "data" / "dialogue" / "policy.yml").read_text(encoding="utf-8"))
        _INTENTS = set(doc["intents"]) | META
    return _INTENTS


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]


async def run_scenario(sc: Scenario, tmp: Path) -> None:
    """Play the scenario; raises ``AssertionError`` naming the turn that failed."""
    h = Harness(tmp)
    sender = "sc-" + re.sub(r"[^A-Za-z0-9_-]", "-", sc.name)[:50]
    for who in sc.agents_online:
        await h.handoff.set_status(h.agent(who), "online")
    all_bot: list[str] = []
    for i, turn in enumerate(sc.turns):
        where = f"{sc.file}:{sc.name} turn {i + 1}"
        h.pushed.clear()
        if "user" in turn:
            h.next_parse = make_parse(turn)
            h.assistant.bank = UnavailableBank() if turn.get("bank_down") else h.bank
            result = await h.assistant.handle(sender, str(turn["user"]), metadata=sc.metadata or None)
            await h.settle()
            assert len(h.pushed) >= len(result.messages)
            messages = list(h.pushed)
        else:
            act = turn["agent"]
            await _agent_action(h, sender, act)
            await h.settle()
            messages = list(h.pushed)
        texts = _texts([m for m in messages if m.get("_kind", "bot") == "bot"])
        all_bot += texts
        _check(h, sender, turn.get("expect") or {}, messages, texts, where)
    bot_texts = [e.get("text") for e in h.store.events(sender, types=["bot"]) if e.get("text")]
    for a, b in zip(bot_texts, bot_texts[1:], strict=False):
        assert a != b, f"{sc.name}: the bot said the same text twice in a row: {a!r}"


async def _agent_action(h: Harness, sender: str, act: dict[str, Any]) -> None:
    do = act["do"]
    who = act.get("who", "li.na")
    if do == "online":
        await h.handoff.set_status(h.agent(who), "online")
        return
    if do == "offline":
        await h.handoff.set_status(h.agent(who), "offline")
        return
    row = h.open_chat(sender)
    assert row is not None, f"no open chat for agent action {do}"
    if do == "join":
        await h.handoff.pull(row.id, h.agent(who))
    elif do == "say":
        await h.handoff.reply(row.id, h.agent(who), {"text": act["text"]})
    elif do == "transfer":
        await h.handoff.transfer(row.id, h.agent(who), to_agent=str(h.agent(act["to"])["id"]))
    elif do == "transfer_skill":
        await h.handoff.transfer(row.id, h.agent(who), to_skill=act["to"])
    elif do in ("return", "close"):
        await h.handoff.finish(row.id, h.agent(who), "returned" if do == "return" else "closed",
                               "resolved" if do == "close" else None)
    else:
        raise AssertionError(f"unknown agent action {do}")


def _check(h: Harness, sender: str, exp: dict[str, Any], messages: list[dict[str, Any]], texts: list[str],
           where: str) -> None:
    joined = "\n".join(texts)
    for s in exp.get("says", []):
        assert s in joined, f"{where}: expected {s!r} in bot texts {texts!r}"
    order = [joined.find(s) for s in exp.get("says_in_order", [])]
    assert all(i >= 0 for i in order) and order == sorted(order), \
        f"{where}: expected {exp.get('says_in_order')!r} in this order in bot texts {texts!r}"
    for s in exp.get("not_says", []):
        assert s not in joined, f"{where}: did not expect {s!r} in bot texts {texts!r}"
    if exp.get("silent"):
        assert not [m for m in messages if m.get("_kind", "bot") == "bot"], f"{where}: expected silence, got {texts!r}"
    if "replies" in exp:
        assert texts, f"{where}: expected a reply"
    buttons = [b for m in messages for b in m.get("buttons", []) or []]
    for want in exp.get("buttons", []):
        assert any(want in (b.get("title") or "") or want == b.get("payload") for b in buttons), \
            f"{where}: expected button {want!r} in {buttons!r}"
    for want in exp.get("no_buttons", []):
        assert not any(want in (b.get("title") or "") or want == b.get("payload") for b in buttons), \
            f"{where}: did not expect button {want!r}"
    customs = [(m.get("custom") or {}) for m in messages]
    for want in exp.get("customs", []):
        assert any(c.get("type") == want for c in customs), f"{where}: expected custom {want!r} in {customs!r}"
    for want in exp.get("no_customs", []):
        assert not any(c.get("type") == want for c in customs), f"{where}: did not expect custom {want!r}"
    if "handoff_status" in exp:
        got = [c.get("status") for c in customs if c.get("type") == "handoff"]
        assert exp["handoff_status"] in got, f"{where}: expected handoff notice {exp['handoff_status']!r}, got {got}"
    if "ahead" in exp:
        got = [c.get("queue_position") for c in customs if c.get("type") == "handoff"]
        assert exp["ahead"] in got, f"{where}: expected {exp['ahead']} ahead, got {got}"
    conv = h.store.load(sender)
    if "status" in exp:
        assert (conv.state.get("handoff_status") or "bot") == exp["status"], \
            f"{where}: status {conv.state.get('handoff_status')!r}, expected {exp['status']!r}"
    row = h.open_chat(sender)
    if "priority" in exp:
        assert row is not None and row.priority == exp["priority"], \
            f"{where}: priority {row.priority if row else None!r}, expected {exp['priority']!r}"
    if "reason" in exp:
        assert row is not None and row.reason == exp["reason"], f"{where}: reason {row.reason if row else None!r}"
    if "agent_sees" in exp:
        assert row is not None, f"{where}: no open chat"
        seen = [m["text"] for m in h.handoff.chat(row.id)["messages"] if m["from"] == "customer"]
        assert exp["agent_sees"] in seen, f"{where}: agent sees {seen!r}"
    if "survey_score" in exp:
        scores = [e["score"] for e in h.store.events(sender, types=["survey"])]
        assert exp["survey_score"] in scores, f"{where}: survey scores {scores!r}"
    if exp.get("ticket"):
        assert h.store.events(sender, types=["ticket"]), f"{where}: expected a ticket"
    if "frozen" in exp:
        cid = conv.state.get("customer_id")
        states = [c.status for c in h.bank.cards(cid)] if cid else []
        assert ("frozen" in states) == bool(exp["frozen"]), f"{where}: card states {states!r}"
    if "no_code_in_store" in exp:
        code = str(exp["no_code_in_store"])
        for e in h.store.events(sender):
            assert code not in str(e), f"{where}: code stored in clear in {e['type']} event"
    if "pending" in exp:
        got = (conv.state.get("pending") or {}).get("type")
        assert got == exp["pending"], f"{where}: pending {got!r}, expected {exp['pending']!r}"
