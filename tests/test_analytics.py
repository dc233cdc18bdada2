"""Service analytics and the retraining loop, on a history made through the real server.

The figures the report prints are checked against values this test computes itself from what it sent
and what the server answered.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import statistics
import uuid
from pathlib import Path

import httpx
import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS, EVENT_TIMEOUT, ROOT, BotServer, post_message, run_cli, wait_until

PASSWORDS = {"li.na": "demo-agent-1", "zhao.min": "demo-super-1"}


def login(base: str, user: str) -> dict[str, str]:
    r = httpx.post(base + "/agent/login", json={"username": user, "password": PASSWORDS[user]})
    return {"authorization": f"Bearer {r.json()['token']}"}


class History:
    """Conversations driven through the REST channel and the agent API, with what we observed."""

    def __init__(self, srv: BotServer) -> None:
        self.srv = srv
        self.handed: dict[str, str] = {}
        self.surveys: dict[str, tuple[int, str]] = {}
        self.care: set[str] = set()
        self.senders: list[str] = []
        self.guides_failed: dict[str, int] = {}
        self.auth = login(srv.base, "li.na")
        httpx.post(srv.base + "/agent/status", json={"status": "online"}, headers=self.auth)

    def new(self) -> str:
        s = "h-" + uuid.uuid4().hex[:8]
        self.senders.append(s)
        return s

    def say(self, sender: str, text: str) -> list[dict]:
        r = post_message(self.srv.base, sender, text)
        assert r.status_code == 200, r.text
        out = r.json()
        for m in out:
            c = m.get("custom") or {}
            if c.get("type") == "handoff":
                self.handed.setdefault(sender, c["reason"])
            if c.get("type") == "care_mode":
                self.care.add(sender)
        return out

    def chat_id(self, sender: str) -> int:
        return int(wait_until(lambda: next((c["id"] for c in httpx.get(
            self.srv.base + "/agent/chats", headers=self.auth).json() if c["sender_id"] == sender), None),
            what=f"{sender} reaching the agent"))

    def survey(self, sender: str, score: int, reason: str = "", who: str = "bot") -> None:
        payload = {"score": score, "reason": reason} if reason else {"score": score}
        self.say(sender, "/survey" + json.dumps(payload, ensure_ascii=False))
        self.surveys[sender] = (score, who)


@pytest.fixture(scope="module")
def history(trained_model: Path, model_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("analytics")
    srv = BotServer(trained_model, model_env, data_dir).start()
    h = History(srv)
    try:
        a = h.new()  # solved by the bot
        h.say(a, "怎么修改登录密码")
        h.say(a, "/affirm")
        h.say(a, "再见")
        h.survey(a, 5)

        b = h.new()  # two guides that didn't help -> handoff -> agent closes
        h.say(b, "新卡怎么激活")
        h.say(b, "还是不行")
        h.say(b, "/activate_card")
        for _ in range(4):
            if b in h.handed:
                break
            h.say(b, "还是不行")
        assert h.handed.get(b) == "repeated_failure"
        cid = h.chat_id(b)
        httpx.post(f"{srv.base}/agent/chats/{cid}/messages", json={"text": "您好，我来帮您激活"}, headers=h.auth)
        httpx.post(f"{srv.base}/agent/chats/{cid}/close", json={"disposition": "resolved"}, headers=h.auth)
        h.survey(b, 2, "等待时间太长", who="agent")

        c = h.new()  # asks for a person; the agent corrects a label and returns the chat to the bot
        h.say(c, "积分可以换成飞机里程吗")
        h.say(c, "转人工")
        cid = h.chat_id(c)
        chat = next(x for x in httpx.get(srv.base + "/agent/chats", headers=h.auth).json() if x["id"] == cid)
        first = next(m for m in chat["messages"] if m["from"] == "customer")
        r = httpx.post(f"{srv.base}/agent/messages/{first['event_id']}/label?sender={c}",
                       json={"intent": "redeem_points"}, headers=h.auth)
        assert r.status_code == 200
        httpx.post(f"{srv.base}/agent/chats/{cid}/return", headers=h.auth)
        h.survey(c, 4, who="agent")

        d = h.new()  # complaint
        h.say(d, "我要投诉，你们的服务太差了")
        cid = h.chat_id(d)
        httpx.post(f"{srv.base}/agent/chats/{cid}/close", json={"disposition": "other"}, headers=h.auth)
        h.survey(d, 1, "服务态度", who="agent")

        e = h.new()  # elderly customer, care mode, no survey
        h.say(e, "我七十多岁了，眼睛不好看不清")
        h.say(e, "信用卡账单怎么看")

        f = h.new()  # a plain question
        h.say(f, "现在美元汇率多少")
        yield h
    finally:
        srv.stop()


def report_json(h: History) -> dict:
    env = {"BANKBOT_DATA_DIR": str(h.srv.data_dir)}
    proc = run_cli("report", "--since", dt.date.today().isoformat(), "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout)


def test_report_figures_match_the_history(history: History) -> None:
    r = report_json(history)
    n = len(history.senders)
    assert r["conversations"] == n
    assert r["containment"] == round((n - len(history.handed)) / n, 4)
    assert r["handoff_rate"] == round(len(history.handed) / n, 4)
    expected_reasons: dict[str, int] = {}
    for reason in history.handed.values():
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert r["handoff_reasons"] == expected_reasons
    scores = [s for s, _ in history.surveys.values()]
    assert r["csat"]["all"]["n"] == len(scores) and r["csat"]["all"]["mean"] == round(statistics.mean(scores), 3)
    agent_scores = [s for s, who in history.surveys.values() if who == "agent"]
    assert r["csat"]["agent"]["mean"] == round(statistics.mean(agent_scores), 3)
    assert r["csat"]["bot"]["distribution"]["5"] == 1
    assert r["dissatisfaction_reasons"] == {"等待时间太长": 1, "服务态度": 1}
    assert r["care_mode_share"] == round(len(history.care) / n, 4)
    assert r["failing_guides"][0]["guide_id"] == "activate_card"
    assert r["failing_guides"][0]["failed"] >= 2
    assert r["first_contact_resolution"] == 1.0  # nobody came back within 7 days in this history
    assert r["queue_wait_seconds"]["n"] == 3 and r["handle_time_seconds"]["n"] == 3
    assert r["agent_concurrency"]["李娜"]["max"] >= 1
    today = dt.date.today().isoformat()
    assert r["per_day"][today].get("operation", 0) >= 1 and r["per_day"][today].get("inquiry", 0) >= 1


def test_html_report_and_charts(history: History, tmp_path: Path) -> None:
    env = {"BANKBOT_DATA_DIR": str(history.srv.data_dir)}
    proc = run_cli("report", "--since", dt.date.today().isoformat(), "--format", "html", "--out", str(tmp_path),
                   env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    for name in ("volume_per_day", "csat", "handoff_reasons", "top_intents"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 8000, name
    page = (tmp_path / "report.html").read_text()
    assert "containment" in page and page.count("data:image/png;base64,") == 4


def test_weekly_review(history: History) -> None:
    week = "{}-W{:02d}".format(*dt.date.today().isocalendar()[:2])
    proc = run_cli("review", "--week", week, "--format", "json", env={"BANKBOT_DATA_DIR": str(history.srv.data_dir)})
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    review = json.loads(proc.stdout)
    expected = {s for s, (score, _) in history.surveys.items() if score <= 3}
    found = {c["sender_id"] for intents in review["groups"].values() for convs in intents.values() for c in convs}
    assert found == expected
    assert "complaint" in review["groups"] and "low_csat_after_repeated_failure" in review["groups"]
    assert any(t["text"] == "新卡怎么激活" for c in review["groups"]["low_csat_after_repeated_failure"]
               ["activate_card"] for t in c["transcript"])


def test_supervisor_page_in_browser(history: History) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import expect, sync_playwright

    shots = ROOT / "test-output" / "analytics"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(EVENT_TIMEOUT * 1000)
            page.goto(history.srv.base + "/console")
            page.fill("#username", "zhao.min")
            page.fill("#password", PASSWORDS["zhao.min"])
            page.click("#login-submit")
            page.click("#supervisor-tab")
            frame = page.frame_locator("#sv-report")
            expect(frame.locator("#metrics")).to_contain_text("containment")
            expect(frame.locator("#charts img")).to_have_count(4)
            loaded = frame.locator("#charts img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
            assert all(w > 200 for w in loaded), loaded
            page.screenshot(path=str(shots / "supervisor_report.png"), full_page=True)
        finally:
            browser.close()
    assert (shots / "supervisor_report.png").stat().st_size > 20_000
    # agents may not read it
    r = httpx.get(history.srv.base + "/supervisor/report", headers=login(history.srv.base, "li.na"))
    assert r.status_code == 403


def test_correction_export_merge_retrain_compare(history: History, tmp_path: Path, model_env: dict[str, str]) -> None:
    env = {**model_env, "BANKBOT_DATA_DIR": str(history.srv.data_dir)}
    review = tmp_path / "review"
    proc = run_cli("data", "export-corrections", "--out", str(review), env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    corrections = (review / "corrections.yml").read_text(encoding="utf-8")
    assert "redeem_points" in corrections and "积分可以换成飞机里程吗" in corrections
    summary = json.loads((review / "summary.json").read_text())
    assert summary["corrections"] == {"redeem_points": 1}

    # a small training set (value-added + meta intents), a model before and after the merge
    nlu = tmp_path / "nlu"
    nlu.mkdir()
    for name in ("value_added.yml", "meta.yml"):
        shutil.copy(ROOT / "data" / "nlu" / name, nlu / name)
    small_env = {**env, "BANKBOT_NLU_DATA": str(nlu)}
    args = ["--data", str(nlu), "--care", "--no-external", "--epochs", "8"]
    assert run_cli("train", *args, "--out", str(tmp_path / "A"), env=small_env).returncode == 0
    proc = run_cli("data", "merge", str(review / "corrections.yml"), "--into", str(nlu / "reviewed.yml"), env=small_env)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert "redeem_points" in proc.stdout.decode()
    assert "积分可以换成飞机里程吗" in (nlu / "reviewed.yml").read_text(encoding="utf-8")
    again = run_cli("data", "merge", str(review / "corrections.yml"), "--into", str(nlu / "reviewed.yml"),
                    env=small_env)
    assert "duplicates skipped: 1" in again.stdout.decode()
    assert run_cli("train", *args, "--out", str(tmp_path / "B"), env=small_env).returncode == 0
    proc = run_cli("test", "--compare", str(tmp_path / "A"), str(tmp_path / "B"), "--data",
                   str(ROOT / "data" / "test" / "value_added.yml"), "--out", str(tmp_path / "cmp"), env=small_env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    cmp = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert {r["intent"] for r in cmp["per_intent"]} >= {"redeem_points", "points_balance"}
    assert all(abs(r["change"] - (r["f1_b"] - r["f1_a"])) < 1e-3 for r in cmp["per_intent"])
    meta_b = json.loads((tmp_path / "B" / "metadata.json").read_text())
    meta_a = json.loads((tmp_path / "A" / "metadata.json").read_text())
    assert meta_a["data_hash"] != meta_b["data_hash"]
