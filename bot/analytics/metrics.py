"""Service metrics computed from the event store (tracker events + handoff tables).

Definitions (all over conversations with at least one customer message in the window):

* containment: share of conversations that never had a handoff;
* handoff rate and reasons: share with a handoff; handoff events counted by reason;
* first-contact resolution (FCR): a *contact* is the first message of an intent in a visit (a new visit
  starts after 30 minutes of silence); it is resolved at first contact when the same customer does not
  come back with the same intent within 7 days;
* CSAT: survey scores (mean, distribution), split by who served (bot / agent); dissatisfaction reasons are
  the reasons given with scores of 3 or lower;
* queue wait: assigned_at - created_at of handoff sessions (p50 / p90); handle time: closed/returned - assigned;
* concurrency per agent: the most chats an agent held at once, and the time-weighted average;
* per agent (``agents``): chats, mean handle time, mean queue wait before the chat reached them, mean hold
  (a customer message until the agent's next reply), CSAT of the surveys after their chats, peak concurrency;
* care-mode share: conversations that switched to care mode;
* top and fastest-growing intents (second half of the window vs first half);
* failing guides: guides followed by "还是不行"/deny (the customer said it didn't help);
* volume per category per day and per ISO week.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from ..dialogue.store import TrackerStore, conversations, events

VISIT_GAP = 30 * 60
#: longest date range the report accepts (``Window.from_dates``)
MAX_RANGE_DAYS = 366
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FCR_WINDOW = 7 * 24 * 3600
NOT_HELPED = re.compile(r"还是不行|还不行|没用|没解决|没成功|不管用|didn'?t work|doesn'?t work|not working|still not",
                        re.IGNORECASE)
META = {"greet", "goodbye", "thanks", "affirm", "deny", "request_human", "complaint", "out_of_scope", "survey",
        "leave_message"}


@dataclass
class Window:
    """A time window ``[start, end)`` in UNIX seconds."""

    start: float
    end: float

    @classmethod
    def parse(cls, since: str | None, until: str | None = None) -> "Window":
        """``since``/``until`` as ``YYYY-MM-DD`` (or ISO datetimes); defaults: 30 days back, now."""
        def ts(value: str) -> float:
            d = dt.datetime.fromisoformat(value)
            if d.tzinfo is None:
                d = d.replace(tzinfo=dt.UTC)
            return d.timestamp()

        end = ts(until) if until else dt.datetime.now(dt.UTC).timestamp() + 1
        start = ts(since) if since else end - 30 * 86400
        if start >= end:
            raise ValueError("'since' must be before 'until'")
        return cls(start, end)

    @classmethod
    def from_dates(cls, first: str | None, last: str | None, today: dt.date | None = None) -> "Window":
        """Whole UTC days ``first`` .. ``last`` (both ``YYYY-MM-DD``, both included).

        Defaults: ``last`` today, ``first`` six days before ``last`` (a week). Raises ``ValueError`` with a
        message for the user on a malformed date, ``first`` after ``last``, or more than ``MAX_RANGE_DAYS``.
        """
        def day(value: str, name: str) -> dt.date:
            if not _DATE.fullmatch(value):
                raise ValueError(f"'{name}' must be a date YYYY-MM-DD, got {value[:40]!r}")
            try:
                return dt.date.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"'{name}' is not a calendar date: {value!r}") from exc

        end_day = day(last, "to") if last else (today or dt.datetime.now(dt.UTC).date())
        start_day = day(first, "from") if first else end_day - dt.timedelta(days=6)
        if start_day > end_day:
            raise ValueError(f"'from' ({start_day}) must not be after 'to' ({end_day})")
        if (end_day - start_day).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(f"the date range may span at most {MAX_RANGE_DAYS} days")
        midnight = dt.time(tzinfo=dt.UTC)
        return cls(dt.datetime.combine(start_day, midnight).timestamp(),
                   dt.datetime.combine(end_day + dt.timedelta(days=1), midnight).timestamp())

    def days(self) -> list[str]:
        """Every UTC day the window touches, ``YYYY-MM-DD``, in order."""
        out: list[str] = []
        day = dt.datetime.fromtimestamp(self.start, dt.UTC).date()
        last = dt.datetime.fromtimestamp(max(self.start, self.end - 1e-3), dt.UTC).date()
        while day <= last and len(out) <= MAX_RANGE_DAYS:
            out.append(day.isoformat())
            day += dt.timedelta(days=1)
        return out


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def _week(ts: float) -> str:
    y, w, _ = dt.datetime.fromtimestamp(ts, dt.UTC).isocalendar()
    return f"{y}-W{w:02d}"


def load_events(store: TrackerStore, window: Window, lookahead: float = 0.0) -> dict[str, list[dict[str, Any]]]:
    """Events per conversation with at least one event in the window (plus ``lookahead`` seconds after it)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(events).where(events.c.ts >= window.start, events.c.ts < window.end + lookahead)
                            .order_by(events.c.id)).all()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r.sender_id].append({**json.loads(r.data), "id": r.id, "ts": r.ts, "type": r.type})
    return dict(out)


def conversation_states(store: TrackerStore) -> dict[str, dict[str, Any]]:
    """The saved dialogue state of every conversation."""
    with store.engine.connect() as conn:
        return {r.sender_id: json.loads(r.state) for r in conn.execute(select(conversations)).all()}


def compute(store: TrackerStore, window: Window, handoff_store: Any | None = None) -> dict[str, Any]:
    """All metrics for the window (``handoff_store``: a ``handoff.store.HandoffStore`` for queue/agent data)."""
    all_events = load_events(store, window, lookahead=FCR_WINDOW)
    inside = {s: [e for e in evs if window.start <= e["ts"] < window.end] for s, evs in all_events.items()}
    convs = {s: evs for s, evs in inside.items() if any(e["type"] == "user" for e in evs)}
    n = len(convs)
    handed = {s for s, evs in convs.items() if any(e["type"] == "handoff" for e in evs)}
    reasons = Counter(e["reason"] for evs in convs.values() for e in evs if e["type"] == "handoff")
    states = conversation_states(store)
    care = {s for s, evs in convs.items() if any(e["type"] == "care" and e.get("care_mode") for e in evs)
            or states.get(s, {}).get("care_mode")}

    # surveys
    surveys = [e for evs in convs.values() for e in evs if e["type"] == "survey"]
    csat: dict[str, Any] = {}
    for who in ("all", "bot", "agent"):
        scores = [e["score"] for e in surveys if who == "all" or e.get("served_by") == who]
        csat[who] = {"n": len(scores), "mean": round(float(np.mean(scores)), 3) if scores else None,
                     "distribution": {str(k): scores.count(k) for k in range(1, 6)}}
    dissatisfaction: Counter[str] = Counter()
    for e in surveys:
        if e["score"] <= 3:
            reason = e.get("reason")
            for r in (reason if isinstance(reason, list) else [reason] if reason else ["(none given)"]):
                for part in str(r).split("、"):
                    dissatisfaction[part.strip() or "(none given)"] += 1

    # intents, categories, FCR, failing guides
    intents: Counter[str] = Counter()
    first_half: Counter[str] = Counter()
    second_half: Counter[str] = Counter()
    mid = (window.start + window.end) / 2
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    per_week: dict[str, Counter[str]] = defaultdict(Counter)
    contacts: list[tuple[str, str, float]] = []
    guide_shown: Counter[str] = Counter()
    guide_failed: Counter[str] = Counter()
    for sender, evs in all_events.items():
        last_ts_by_intent: dict[str, float] = {}
        last_user_ts = -1e18
        last_guide: str | None = None
        for e in evs:
            if e["type"] in ("bot", "agent"):
                custom = e.get("custom") or {}
                if custom.get("type") in ("guide", "guide_step") and custom.get("guide_id"):
                    if custom.get("type") == "guide" or custom.get("n") == 1:
                        if window.start <= e["ts"] < window.end:
                            guide_shown[custom["guide_id"]] += 1
                    last_guide = custom["guide_id"]
                continue
            if e["type"] != "user":
                continue
            p = e.get("parse_data", {})
            name = p.get("intent", {}).get("name", "")
            in_window = window.start <= e["ts"] < window.end
            if last_guide and (name == "deny" or NOT_HELPED.search(e.get("text", ""))):
                if in_window:
                    guide_failed[last_guide] += 1
                last_guide = None
            elif name not in ("affirm",):
                last_guide = None if name not in META else last_guide
            new_visit = e["ts"] - last_user_ts > VISIT_GAP
            last_user_ts = e["ts"]
            if name in META or not name:
                continue
            if in_window:
                intents[name] += 1
                (first_half if e["ts"] < mid else second_half)[name] += 1
                cat = p.get("category") or "none"
                per_day[_day(e["ts"])][cat] += 1
                per_week[_week(e["ts"])][cat] += 1
            prev = last_ts_by_intent.get(name)
            is_contact = prev is None or new_visit or e["ts"] - prev > VISIT_GAP
            last_ts_by_intent[name] = e["ts"]
            if is_contact:
                contacts.append((sender, name, e["ts"]))
    by_key: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s, i, t in contacts:
        by_key[(s, i)].append(t)
    resolved = total = 0
    for times in by_key.values():
        for k, t in enumerate(times):
            if not window.start <= t < window.end:
                continue
            total += 1
            if not any(t < u <= t + FCR_WINDOW for u in times[k + 1:]):
                resolved += 1
    growth = sorted(((i, second_half[i] - first_half[i]) for i in intents), key=lambda x: (-x[1], x[0]))

    report: dict[str, Any] = {
        "window": {"since": dt.datetime.fromtimestamp(window.start, dt.UTC).isoformat(),
                   "until": dt.datetime.fromtimestamp(window.end, dt.UTC).isoformat()},
        "conversations": n,
        "containment": round((n - len(handed)) / n, 4) if n else None,
        "handoff_rate": round(len(handed) / n, 4) if n else None,
        "handoff_reasons": dict(reasons.most_common()),
        "first_contact_resolution": round(resolved / total, 4) if total else None,
        "contacts": total,
        "csat": csat,
        "dissatisfaction_reasons": dict(dissatisfaction.most_common()),
        "care_mode_share": round(len(care) / n, 4) if n else None,
        "top_intents": [{"intent": i, "count": c} for i, c in intents.most_common(10)],
        "fastest_growing_intents": [{"intent": i, "growth": g, "first_half": first_half[i],
                                     "second_half": second_half[i]} for i, g in growth[:5] if g > 0],
        "failing_guides": [{"guide_id": g, "failed": c, "shown": guide_shown[g],
                            "failure_rate": round(c / guide_shown[g], 3) if guide_shown[g] else None}
                           for g, c in guide_failed.most_common(10)],
        "per_day": {d: dict(c) for d, c in sorted(per_day.items())},
        "per_week": {w: dict(c) for w, c in sorted(per_week.items())},
    }
    report.update(_handoff_metrics(handoff_store, window, all_events) if handoff_store is not None else {})
    return report


@dataclass
class AgentStats:
    """One agent's line of the report's per-agent breakdown (times in seconds, ``None`` without data)."""

    agent_id: int
    agent: str
    chats: int
    handle_time_mean: float | None
    wait_mean: float | None
    hold_mean: float | None
    csat_mean: float | None
    csat_n: int
    peak_concurrency: int
    mean_concurrency: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)


def _mean(values: list[float], digits: int = 1) -> float | None:
    return round(float(np.mean(values)), digits) if values else None


def _concurrency(spans: list[tuple[float, float]]) -> tuple[int, float]:
    """The most chats held at once and the time-weighted mean over the busy span."""
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    cur = peak = 0
    area = 0.0
    last = points[0][0]
    for t, d in points:
        area += cur * (t - last)
        last = t
        cur += d
        peak = max(peak, cur)
    busy = max(points[-1][0] - points[0][0], 1e-9)
    return peak, round(area / busy, 2)


def _hold_times(evs: list[dict[str, Any]], start: float, end: float) -> list[float]:
    """For each customer message in ``[start, end]``: seconds until the agent's next message (if one came)."""
    out: list[float] = []
    waiting: float | None = None
    for e in evs:
        if not start <= e["ts"] <= end:
            continue
        if e["type"] == "user" and waiting is None:
            waiting = e["ts"]
        elif e["type"] == "agent" and waiting is not None:
            out.append(e["ts"] - waiting)
            waiting = None
    return out


def _handoff_metrics(hstore: Any, window: Window, all_events: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    rows = [r for r in hstore.all_sessions() if window.start <= r.created_at < window.end]
    waits = [r.assigned_at - r.created_at for r in rows if r.assigned_at]
    handles = [r.closed_at - r.assigned_at for r in rows if r.assigned_at and r.closed_at]
    per_agent: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        if r.agent_id is not None and r.assigned_at:
            per_agent[r.agent_id].append(r)
    # an agent-served survey belongs to the sender's latest agent chat that ended before it
    csat: dict[int, list[float]] = defaultdict(list)
    ended = sorted((r for r in rows if r.agent_id is not None and r.closed_at), key=lambda r: r.closed_at)
    for sender, evs in all_events.items():
        for e in evs:
            if e["type"] != "survey" or e.get("served_by") != "agent" or not window.start <= e["ts"] < window.end:
                continue
            before = [r for r in ended if r.sender_id == sender and r.closed_at <= e["ts"]]
            if before and isinstance(e.get("score"), (int, float)):
                csat[before[-1].agent_id].append(float(e["score"]))
    names = {a.id: a.name for a in hstore.all_agents()}
    concurrency = {}
    agents: list[AgentStats] = []
    for aid, sessions in per_agent.items():
        spans = [(r.assigned_at, r.closed_at or window.end) for r in sessions]
        peak, mean = _concurrency(spans)
        name = names.get(aid, str(aid))
        concurrency[name] = {"max": peak, "mean": mean, "chats": len(spans)}
        holds = [h for r in sessions for h in _hold_times(all_events.get(r.sender_id, []), r.assigned_at,
                                                           r.closed_at or window.end)]
        scores = csat.get(aid, [])
        agents.append(AgentStats(
            agent_id=aid, agent=name, chats=len(sessions),
            handle_time_mean=_mean([r.closed_at - r.assigned_at for r in sessions if r.closed_at]),
            wait_mean=_mean([r.assigned_at - r.created_at for r in sessions]), hold_mean=_mean(holds),
            csat_mean=_mean(scores, 3), csat_n=len(scores),
            peak_concurrency=peak, mean_concurrency=mean))
    agents.sort(key=lambda a: (-a.chats, a.agent))
    return {
        "queue_wait_seconds": {"n": len(waits), "p50": _pct(waits, 50), "p90": _pct(waits, 90)},
        "handle_time_seconds": {"n": len(handles), "p50": _pct(handles, 50), "mean": _mean(handles)},
        "agent_concurrency": concurrency,
        "agents": [a.as_dict() for a in agents],
        "dispositions": dict(Counter(r.disposition for r in rows if r.disposition)),
    }
