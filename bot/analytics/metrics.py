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
    report.update(_handoff_metrics(handoff_store, window) if handoff_store is not None else {})
    return report


def _handoff_metrics(hstore: Any, window: Window) -> dict[str, Any]:
    rows = [r for r in hstore.all_sessions() if window.start <= r.created_at < window.end]
    waits = [r.assigned_at - r.created_at for r in rows if r.assigned_at]
    handles = [r.closed_at - r.assigned_at for r in rows if r.assigned_at and r.closed_at]
    per_agent: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r.agent_id is not None and r.assigned_at:
            per_agent[r.agent_id].append((r.assigned_at, r.closed_at or window.end))
    names = {a.id: a.name for a in hstore.all_agents()}
    concurrency = {}
    for aid, spans in per_agent.items():
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
        concurrency[names.get(aid, str(aid))] = {"max": peak, "mean": round(area / busy, 2), "chats": len(spans)}
    return {
        "queue_wait_seconds": {"n": len(waits), "p50": _pct(waits, 50), "p90": _pct(waits, 90)},
        "handle_time_seconds": {"n": len(handles), "p50": _pct(handles, 50), "mean": round(float(np.mean(handles)), 1)
                                if handles else None},
        "agent_concurrency": concurrency,
        "dispositions": dict(Counter(r.disposition for r in rows if r.disposition)),
    }
