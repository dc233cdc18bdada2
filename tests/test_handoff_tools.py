"""Agent tools against a real server: labels, service-language lint, urgency, notes, tags, tickets, customer
panel, supervisor watch/assign, trainer corrections and background jobs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import BotServer
from .test_handoff import customer, login, status


@pytest.fixture(scope="module")
def srv(trained_model: Path, model_env: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    """One server for this module (tests use their own customers)."""
    s = BotServer(trained_model, {**model_env, "BANKBOT_HANDOFF_GRACE": "30"},
                  tmp_path_factory.mktemp("tools")).start()
    try:
        yield s
    finally:
        s.stop()


def wait_for(fn, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """Poll ``fn`` until it returns something truthy (an event, not a fixed sleep)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_labels_and_service_language(srv: BotServer) -> None:
    labels = httpx.get(srv.base + "/agent/labels").json()
    for key in ("statuses", "roles", "reasons", "skills", "intents", "tags", "urgency", "phrase_groups"):
        assert labels[key], key
    assert labels["intents"]["card_bill"] == {"zh": "信用卡账单", "en": "Card bill"}
    auth = login(srv.base, "li.na")
    r = httpx.post(srv.base + "/agent/lint", json={"text": "年费不能退，这个不可以操作"}, headers=auth).json()
    assert [i["phrase"] for i in r["issues"]] == ["不能", "不可以"]
    assert r["issues"][0]["start"] == 2 and "可以" in r["issues"][0]["suggestion"]
    assert httpx.post(srv.base + "/agent/lint", json={"text": "这个我们可以这样帮您"}, headers=auth).json() == {
        "issues": []}
    en = httpx.post(srv.base + "/agent/lint", json={"text": "Sorry, we can't and won't"}, headers=auth).json()
    assert len(en["issues"]) == 2
    assert httpx.post(srv.base + "/agent/lint", json={"text": 5}, headers=auth).status_code == 400
    phrases = httpx.get(srv.base + "/agent/phrases", headers=auth).json()
    groups = {p["group"] for p in phrases}
    assert {"greeting", "soothing", "elderly", "fraud", "complaint", "closing"} <= groups
    assert any(p["lang"] == "en" and p["group"] == "complaint" for p in phrases)


def test_urgency_and_tools(srv: BotServer) -> None:
    sv = login(srv.base, "zhao.min")
    calm, _ = customer(srv.base, "人工客服")
    fraud, _ = customer(srv.base, "我被骗了，对方冒充客服让我转账，快帮我转人工")
    def queued() -> dict[str, dict]:
        got = {c["sender_id"]: c for c in httpx.get(srv.base + "/agent/queue", headers=sv).json()}
        return got if calm in got and fraud in got else {}

    by_sender = wait_for(queued)
    assert by_sender[calm]["urgency"]["level"] == "none", (by_sender[calm]["urgency"], by_sender[calm]["care"])
    assert by_sender[fraud]["urgency"]["level"] == "fraud"
    assert by_sender[fraud]["preview"] and by_sender[calm]["customer_name"].startswith("客户**")
    assert by_sender[calm]["salutation"] == ""

    # the supervisor watches the waiting fraud chat and assigns it to li.na
    agent = login(srv.base, "li.na")
    status(srv.base, agent, "online")
    fraud_id = by_sender[fraud]["id"]
    mine = wait_for(lambda: [c for c in httpx.get(srv.base + "/agent/chats", headers=agent).json()
                             if c["sender_id"] in (calm, fraud)])
    sid = mine[0]["id"]
    watched = httpx.get(srv.base + f"/supervisor/chats/{sid}", headers=sv).json()
    assert watched["messages"] and watched["urgency"]["level"] in ("fraud", "none")
    listed = httpx.get(srv.base + "/supervisor/chats", headers=sv).json()
    assert {c["id"] for c in listed} >= {c["id"] for c in mine}
    assert httpx.get(srv.base + "/supervisor/chats", headers=agent).status_code == 403
    assert httpx.post(srv.base + f"/supervisor/chats/{sid}/assign", json={"to_agent": "x"},
                      headers=sv).status_code == 400
    lina_id = httpx.get(srv.base + "/agent/me", headers=agent).json()["id"]
    again = httpx.post(srv.base + f"/supervisor/chats/{sid}/assign", json={"to_agent": lina_id}, headers=sv)
    assert again.status_code == 409

    # notes are private, tags come from the label list, tickets can be listed and done
    r = httpx.post(srv.base + f"/agent/chats/{sid}/notes", json={"text": "客户卡号6222021234567890，已核实"},
                   headers=agent)
    assert r.status_code == 200 and "6222021234567890" not in r.json()["text"]
    assert httpx.post(srv.base + f"/agent/chats/{sid}/notes", json={"text": ""}, headers=agent).status_code == 400
    assert httpx.post(srv.base + f"/agent/chats/{sid}/tags", json={"tag": "fraud_risk"},
                      headers=agent).json()["tags"] == ["fraud_risk"]
    assert httpx.post(srv.base + f"/agent/chats/{sid}/tags", json={"tag": "nope"}, headers=agent).status_code == 400
    t = httpx.post(srv.base + f"/agent/chats/{sid}/ticket", json={"kind": "callback", "due_at": time.time() + 3600,
                                                                 "note": "回电"}, headers=agent).json()
    tickets = httpx.get(srv.base + "/agent/tickets", headers=agent).json()
    assert t["ticket_id"] in [x["id"] for x in tickets]
    panel = httpx.get(srv.base + f"/agent/chats/{sid}/customer", headers=agent).json()
    assert panel["open_tickets"] and panel["notes"] and "previous_chats" in panel
    assert httpx.post(srv.base + f"/agent/tickets/{t['ticket_id']}/done", headers=agent).status_code == 200
    assert t["ticket_id"] not in [x["id"] for x in httpx.get(srv.base + "/agent/tickets", headers=agent).json()]
    sender = mine[0]["sender_id"]
    msgs = wait_for(lambda: [e for e in httpx.get(f"{srv.base}/conversations/{sender}/events",
                                                  headers={"authorization": f"Bearer {srv.token}"}).json()["events"]
                             if "已处理完成" in (e.get("text") or "")])
    assert msgs
    other = login(srv.base, "wang.lei")
    assert httpx.get(srv.base + f"/agent/chats/{sid}/notes", headers=other).status_code == 403
    assert fraud_id


def test_trainer_corrections_and_jobs(srv: BotServer) -> None:
    agent = login(srv.base, "li.na")
    status(srv.base, agent, "online")
    sender, _ = customer(srv.base, "转人工 " + uuid.uuid4().hex[:4])
    chat = wait_for(lambda: [c for c in httpx.get(srv.base + "/agent/chats", headers=agent).json()
                             if c["sender_id"] == sender])[0]
    event = next(m for m in chat["messages"] if m["from"] == "customer")
    r = httpx.post(srv.base + f"/agent/messages/{event['event_id']}/label?sender={sender}",
                   json={"intent": "request_human"}, headers=agent)
    assert r.status_code == 200
    trainer = login(srv.base, "chen.yu")
    assert httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=trainer).status_code == 403
    pending = [c for c in httpx.get(srv.base + "/trainer/corrections", headers=trainer).json()
               if c["review"] == "pending"]
    assert pending
    done = httpx.post(srv.base + f"/trainer/corrections/{pending[0]['id']}", json={"action": "accept"},
                      headers=trainer).json()
    assert done["review"] == "accepted"
    assert httpx.post(srv.base + f"/trainer/corrections/{pending[0]['id']}", json={"action": "relabel",
                      "intent": "no_such_intent"}, headers=trainer).status_code == 400
    assert httpx.get(srv.base + "/trainer/corrections", headers=agent).status_code == 403
    for path in ("/trainer/low-confidence", "/trainer/intents", "/trainer/review"):
        assert httpx.get(srv.base + path, headers=trainer).status_code == 200, path
    assert httpx.post(srv.base + "/trainer/jobs", json={"kind": "nope"}, headers=trainer).status_code == 400
    job = httpx.post(srv.base + "/trainer/jobs", json={"kind": "retrain"}, headers=trainer)
    assert job.status_code == 202 and job.json()["state"] == "running"
    jid = job.json()["id"]
    wait_for(lambda: any(j["id"] == jid and j["log"] for j in
                         httpx.get(srv.base + "/trainer/jobs", headers=trainer).json()), timeout=60)
    stopped = httpx.post(srv.base + f"/trainer/jobs/{jid}/cancel", headers=trainer).json()
    assert stopped["state"] == "cancelled"
