"""``POST /model/parse``, ``/health`` and ``/version`` against a real server process."""

from __future__ import annotations

import httpx


def test_health_and_version(server: str) -> None:
    assert httpx.get(server + "/health").json() == {"status": "ok"}
    v = httpx.get(server + "/version").json()
    assert v["version"] and v["model"] and v["encoder"]["name"] == "multilingual-e5-small"


def test_model_parse_matches_contract(server: str) -> None:
    r = httpx.post(server + "/model/parse", json={"text": "我想查一下信用卡账单", "message_id": "m1"})
    assert r.status_code == 200
    body = r.json()
    assert body["intent"]["name"] == "card_bill" and body["category"] == "inquiry"
    assert body["message_id"] == "m1"
    assert {"intent_ranking", "entities", "categories", "language", "care"} <= set(body)


def test_model_parse_rejects_bad_requests_clearly(server: str) -> None:
    cases = [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b'{"txt": "hi"}', "'text' field"),
        (b'["hi"]', "'text' field"),
        (b'{"text": 42}', "must be a string"),
        (b'{"text": "   "}', "empty"),
        ('{"text": "%s"}' % ("长" * 100_000), "too large"),
        ('{"text": "%s"}' % ("长" * 2500), "too long"),
        (b"\xff\xfe\x00\x01", "not valid JSON"),
    ]
    for body, needle in cases:
        r = httpx.post(server + "/model/parse", content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (body[:30], r.status_code)
        assert needle in r.json()["message"], (body[:30], r.json())
    # the server is still fine afterwards
    assert httpx.post(server + "/model/parse", json={"text": "转人工"}).json()["intent"]["name"] == "request_human"
