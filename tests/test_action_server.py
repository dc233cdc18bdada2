"""Our ``actions`` package runs unchanged as a standard rasa-sdk action server."""

from __future__ import annotations

import subprocess
import sys

import httpx

from .conftest import ROOT, free_port, wait_http


def _call(action: str, slots: dict) -> dict:
    return {"next_action": action, "sender_id": "u-action", "version": "3.6.21",
            "tracker": {"sender_id": "u-action", "slots": slots, "latest_message": {}, "events": [],
                        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None},
            "domain": {}}


def test_rasa_sdk_action_server_runs_our_actions() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60)
        names = {a["name"] for a in httpx.get(f"http://127.0.0.1:{port}/actions").json()}
        assert {"action_show_guide", "action_handoff", "action_survey", "action_create_ticket"} <= names

        r = httpx.post(f"http://127.0.0.1:{port}/webhook",
                       json=_call("action_show_guide", {"guide_id": "reset_password", "language": "en"}))
        assert r.status_code == 200
        body = r.json()
        guide = body["responses"][0]["custom"]
        assert guide["type"] == "guide" and guide["steps"] and guide["deep_link"].startswith("bankapp://")
        assert guide["steps"][0]["image"].startswith("/guides/img/en/")

        r = httpx.post(f"http://127.0.0.1:{port}/webhook",
                       json=_call("action_show_guide", {"guide_id": "reset_password", "language": "zh",
                                                        "care_mode": True, "guide_step": 2.0}))
        step = r.json()["responses"][0]["custom"]
        assert step["type"] == "guide_step" and step["n"] == 2 and step["large"] is True
        slot = [e for e in r.json()["events"] if e.get("event") == "slot" and e.get("name") == "guide_step"]
        assert slot and slot[0]["value"] == 3.0

        r = httpx.post(f"http://127.0.0.1:{port}/webhook", json=_call("action_create_ticket", {"language": "zh"}))
        events = r.json()["events"]
        assert events[0]["name"] == "ticket_id" and events[0]["value"].startswith("T")
        assert r.json()["responses"][0]["response"] == "utter_ticket_created"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
