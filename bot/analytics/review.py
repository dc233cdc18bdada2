"""Weekly review: dissatisfied conversations (CSAT <= 3 or a complaint), grouped by trigger and intent."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from ..dialogue.store import TrackerStore
from .metrics import META, Window, load_events


def week_window(week: str) -> Window:
    """``2026-W47`` -> that ISO week (Monday 00:00 UTC to next Monday)."""
    try:
        year, num = week.upper().split("-W")
        monday = dt.datetime.fromisocalendar(int(year), int(num), 1).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise ValueError(f"--week must look like 2026-W47, got {week!r}") from exc
    return Window(monday.timestamp(), (monday + dt.timedelta(days=7)).timestamp())


def dissatisfied(store: TrackerStore, window: Window) -> dict[str, Any]:
    """Conversations to review, grouped ``trigger -> intent -> [conversation]`` with masked transcripts."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    count = 0
    for sender, evs in sorted(load_events(store, window).items()):
        scores = [e["score"] for e in evs if e["type"] == "survey"]
        complained = any(e["type"] == "user" and e.get("parse_data", {}).get("intent", {}).get("name") == "complaint"
                         for e in evs)
        low = [s for s in scores if s <= 3]
        if not low and not complained:
            continue
        handoffs = [e["reason"] for e in evs if e["type"] == "handoff"]
        trigger = "complaint" if complained else (f"low_csat_after_{handoffs[-1]}" if handoffs else "low_csat_bot_only")
        intents = [e["parse_data"]["intent"]["name"] for e in evs if e["type"] == "user"
                   and e.get("parse_data", {}).get("intent", {}).get("name") not in META]
        intent = intents[0] if intents else "(no business intent)"
        transcript = [{"from": {"user": "customer"}.get(e["type"], e["type"]),
                       "text": e.get("text") or (e.get("custom") or {}).get("title") or "",
                       "time": dt.datetime.fromtimestamp(e["ts"], dt.UTC).strftime("%m-%d %H:%M")}
                      for e in evs if e["type"] in ("user", "bot", "agent")]
        survey = next((e for e in evs if e["type"] == "survey"), None)
        groups[trigger][intent].append({"sender_id": sender, "csat": min(scores) if scores else None,
                                        "reason": survey.get("reason") if survey else None,
                                        "comment": survey.get("comment") if survey else None,
                                        "transcript": transcript})
        count += 1
    return {"conversations": count, "groups": {t: dict(i) for t, i in groups.items()}}


def render_review(review: dict[str, Any], title: str) -> str:
    """Markdown for the weekly retrospective."""
    lines = [f"# Weekly review {title}", "", f"{review['conversations']} dissatisfied conversations", ""]
    for trigger, intents in sorted(review["groups"].items()):
        lines.append(f"## {trigger}")
        for intent, convs in sorted(intents.items()):
            lines.append(f"### {intent} ({len(convs)})")
            for c in convs:
                lines.append(f"- **{c['sender_id']}** CSAT {c['csat']} reason {c['reason']} {c['comment'] or ''}")
                lines += [f"    - {t['time']} {t['from']}: {t['text']}" for t in c["transcript"]]
        lines.append("")
    return "\n".join(lines) + "\n"
