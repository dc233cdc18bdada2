"""``bankbot agents``: manage the people of the human side (list, add, set capacity/skills)."""

from __future__ import annotations

import argparse
import getpass
import json
import os

from ..config import load_settings
from ..db import make_engine

SKILLS = ("consultation", "inquiry", "operation", "value_added", "general")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot agents``."""
    p.add_argument("action", choices=["list", "add", "set", "seed-demo"],
                   help="seed-demo adds the demo agents with their PUBLISHED passwords (development only)")
    p.add_argument("username", nargs="?")
    p.add_argument("--name", help="display name (default: the username)")
    p.add_argument("--role", choices=["agent", "supervisor", "trainer"], default="agent")
    p.add_argument("--skills", default=",".join(SKILLS), help="comma-separated skill groups")
    p.add_argument("--capacity", type=int, help="concurrent chats (default 5)")
    p.add_argument("--password-env", default="BANKBOT_AGENT_PASSWORD",
                   help="environment variable holding the password (else it is asked for)")


def run(args: argparse.Namespace) -> int:
    """List agents, add one, or change capacity/skills."""
    from handoff.store import HandoffStore, agent_dict

    store = HandoffStore(make_engine(load_settings(args.config).database))
    if args.action == "list":
        for row in store.all_agents():
            print(json.dumps(agent_dict(row), ensure_ascii=False))
        return 0
    if args.action == "seed-demo":
        from handoff.queue import seed_demo_agents

        added = seed_demo_agents(store)
        print(f"WARNING: demo agents with published passwords added: {', '.join(added) or 'none (already there)'}"
              " - never do this on a production database")
        return 0
    if not args.username:
        raise ValueError("give a username")
    skills = [s.strip() for s in args.skills.split(",") if s.strip()]
    unknown = set(skills) - set(SKILLS)
    if unknown:
        raise ValueError(f"unknown skills {sorted(unknown)}; use {', '.join(SKILLS)}")
    if args.capacity is not None and not 0 <= args.capacity <= 50:
        raise ValueError("--capacity must be between 0 and 50")
    if args.action == "add":
        password = os.environ.get(args.password_env) or getpass.getpass(f"password for {args.username}: ")
        if len(password) < 8:
            raise ValueError("the password needs at least 8 characters")
        aid = store.add_agent(args.username, args.name or args.username, args.role, password, skills,
                              args.capacity if args.capacity is not None else 5)
        print(f"agent {args.username} added (id {aid})")
        return 0
    matches = [r for r in store.all_agents() if r.username == args.username]
    if not matches:
        raise ValueError(f"no agent {args.username!r}")
    row = matches[0]
    values: dict[str, object] = {"skills": json.dumps(skills)}
    if args.capacity is not None:
        values["capacity"] = args.capacity
    store.set_agent(row.id, **values)
    print(f"agent {args.username} updated")
    return 0
