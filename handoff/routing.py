"""Routing rules: skill group of a chat, queue order, and which agent gets it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_ROUTING = Path(__file__).resolve().parents[1] / "data" / "handoff" / "routing.yml"


@dataclass
class RoutingConfig:
    """Routing settings (see ``data/handoff/routing.yml`` for the documented defaults).

    ``BANKBOT_HANDOFF_GRACE`` overrides the disconnect grace period (seconds).
    """

    skills: dict[str, str] = field(default_factory=dict)
    default_skill: str = "general"
    default_capacity: int = 5
    high_priority_weight: float = 600.0
    requeued_weight: float = 3600.0
    disconnect_grace_seconds: float = 3.0
    handle_seconds: float = 180.0

    @classmethod
    def load(cls, path: str | Path = DEFAULT_ROUTING) -> "RoutingConfig":
        """Read the YAML file."""
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if os.environ.get("BANKBOT_HANDOFF_GRACE"):
            doc["disconnect_grace_seconds"] = float(os.environ["BANKBOT_HANDOFF_GRACE"])
        weights = doc.get("weights", {})
        return cls(skills=doc.get("skills", {}), default_skill=doc.get("default_skill", "general"),
                   default_capacity=int(doc.get("default_capacity", 5)),
                   high_priority_weight=float(weights.get("high_priority", 600)),
                   requeued_weight=float(weights.get("requeued", 3600)),
                   disconnect_grace_seconds=float(doc.get("disconnect_grace_seconds", 3)),
                   handle_seconds=float(doc.get("handle_seconds", 180)))


def chat_skill(context: dict[str, Any], config: RoutingConfig) -> str:
    """Skill group from the latest business category the bot recognised."""
    for item in reversed(context.get("intents", [])):
        if item.get("category"):
            return config.skills.get(item["category"], config.default_skill)
    return config.default_skill


def queue_score(session: dict[str, Any], config: RoutingConfig, now: float | None = None) -> float:
    """Higher first: priority weight + seconds waited + requeue boost."""
    now = now or time.time()
    score = now - session["created_at"]
    if session["priority"] == "urgent":  # fraud / lost card: before everyone else
        score += 100 * config.high_priority_weight
    elif session["priority"] == "high":
        score += config.high_priority_weight
    if session.get("requeued"):
        score += config.requeued_weight
    return score


def can_serve(agent: dict[str, Any], skill: str) -> bool:
    """An agent serves their skills; `general` chats go to anyone who takes chats."""
    return agent["role"] in ("agent", "supervisor") and (skill in agent["skills"] or skill == "general")


def pick_agent(agents: list[dict[str, Any]], skill: str, load: dict[int, int],
               last_assigned: dict[int, float]) -> dict[str, Any] | None:
    """The least-loaded online agent with the skill and spare capacity (ties: longest idle)."""
    eligible = [a for a in agents if a["status"] == "online" and can_serve(a, skill)
                and load.get(a["id"], 0) < a["capacity"]]
    if not eligible:
        return None
    return min(eligible, key=lambda a: (load.get(a["id"], 0), last_assigned.get(a["id"], 0.0), a["id"]))
