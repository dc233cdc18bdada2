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

        d = h.new()  # complaint; the customer writes during the agent chat and waits for the reply (hold)
        h.say(d, "我要投诉，你们的服务太差了")
        cid = h.chat_id(d)
        httpx.post(f"{srv.base}/agent/chats/{cid}/messages", json={"text": "您好，我是李娜，请您说说情况"},
                   headers=h.auth)
        h.say(d, "年费扣了两次")
        httpx.post(f"{srv.base}/agent/chats/{cid}/messages", json={"text": "我马上帮您核查"}, headers=h.auth)
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
    # Chinese by default, intent names from labels.yml, the stylesheet embedded (a standalone file)
    assert "机器人自助解决率" in page and "激活卡片" in page and page.count("data:image/png;base64,") == 4
    assert "<style>" in page and " style=" not in page
    proc = run_cli("report", "--since", dt.date.today().isoformat(), "--lang", "en", env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = proc.stdout.decode()
    assert "Containment" in text and "Activate card" in text and "李娜" in text


def test_report_per_agent_breakdown(history: History) -> None:
    """The per-agent lines agree with what the agent did in the history (chats, CSAT, hold, handle)."""
    sup = login(history.srv.base, "zhao.min")
    today = dt.date.today().isoformat()
    r = httpx.get(history.srv.base + "/supervisor/report", params={"from": today, "to": today, "format": "json"},
                  headers=sup)
    assert r.status_code == 200, r.text
    report = r.json()
    (line,) = [a for a in report["agents"] if a["agent"] == "李娜"]
    agent_surveys = [s for s, who in history.surveys.values() if who == "agent"]
    assert line["chats"] == 3
    assert line["csat_n"] == len(agent_surveys) and line["csat_mean"] == round(statistics.mean(agent_surveys), 3)
    assert line["handle_time_mean"] == report["handle_time_seconds"]["mean"]  # one agent served every chat
    assert line["peak_concurrency"] >= 1 and line["wait_mean"] is not None and line["wait_mean"] >= 0
    # hold: the customer's message in the agent chat until the agent's next reply (from the stored events)
    d = history.senders[3]
    events = httpx.get(f"{history.srv.base}/conversations/{d}/events",
                       headers={"authorization": f"Bearer {history.srv.token}"}).json()["events"]
    asked = next(e["ts"] for e in events if e["type"] == "user" and e.get("text") == "年费扣了两次")
    answered = next(e["ts"] for e in events if e["type"] == "agent" and e["ts"] > asked)
    assert abs(line["hold_mean"] - (answered - asked)) <= 0.1
    # a day without chats has no agent lines and zero counts
    r = httpx.get(history.srv.base + "/supervisor/report", headers=sup,
                  params={"from": "2020-01-01", "to": "2020-01-07", "format": "json"})
    assert r.status_code == 200 and r.json()["agents"] == [] and r.json()["conversations"] == 0


@pytest.mark.parametrize(("params", "needle"), [
    ({"from": "2026-13-01"}, "calendar date"),
    ({"from": "yesterday"}, "YYYY-MM-DD"),
    ({"to": "2026-02-30"}, "calendar date"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "must not be after"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "at most 366 days"),
    ({"lang": "fr"}, "'lang' must be one of zh, en"),
    ({"format": "pdf"}, "'format' must be html or json"),
    ({"from": "2026-01-01", "since": "2026-01-01"}, "not both"),
    ({"token": "abc"}, "Authorization header"),
])
def test_report_rejects_bad_parameters(history: History, params: dict[str, str], needle: str) -> None:
    r = httpx.get(history.srv.base + "/supervisor/report", params=params, headers=login(history.srv.base, "zhao.min"))
    assert r.status_code == 400, r.text
    assert needle in r.json()["message"]


def test_chart_count_axes_are_whole_numbers(history: History) -> None:
    """Counts are plotted on integer ticks from 0 that reach the largest count (never a 0-1 axis)."""
    from bot.analytics.report import COUNT_AXIS, figures

    report = report_json(history)
    largest = {"volume_per_day": max(sum(v.values()) for v in report["per_day"].values()),
               "csat": max(max(report["csat"][w]["distribution"].values()) for w in ("bot", "agent")),
               "handoff_reasons": max(report["handoff_reasons"].values()),
               "top_intents": report["top_intents"][0]["count"]}
    for lang in ("zh", "en"):
        for name, fig in figures(report, lang).items():
            fig.canvas.draw()
            ax = fig.axes[0]
            ticks = [t for t in (ax.get_yticks() if COUNT_AXIS[name] == "y" else ax.get_xticks())]
            low, high = ax.get_ylim() if COUNT_AXIS[name] == "y" else ax.get_xlim()
            shown = [t for t in ticks if low - 1e-9 <= t <= high + 1e-9]
            assert all(float(t).is_integer() for t in shown), (name, shown)
            assert low == 0 and high >= largest[name] >= 1, (name, low, high, largest[name])
            assert len(shown) >= 2, (name, shown)


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
    """The report in the console: Chinese, styled under the console's CSP, per-agent lines, a date range,
    and the token only ever in a header."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import expect, sync_playwright

    shots = ROOT / "test-output" / "analytics"
    shots.mkdir(parents=True, exist_ok=True)
    urls: list[str] = []
    report_headers: list[dict[str, str]] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(EVENT_TIMEOUT * 1000)
            page.on("request", lambda req: urls.append(req.url))
            page.on("request", lambda req: report_headers.append(req.headers)
                    if "/supervisor/report" in req.url else None)
            page.on("console", lambda msg: problems.append(msg.text)
                    if "Content Security Policy" in msg.text or msg.type == "error" else None)
            page.goto(history.srv.base + "/console")
            page.fill("#username", "zhao.min")
            page.fill("#password", PASSWORDS["zhao.min"])
            page.click("#login-submit")
            page.click("#supervisor-tab")
            frame = page.frame_locator("#sv-report")
            expect(frame.locator("h1")).to_have_text("服务报表")
            expect(frame.locator("#metrics")).to_contain_text("机器人自助解决率")
            expect(frame.locator("#metrics")).to_contain_text("激活卡片")  # intent names, not ids
            expect(frame.locator("#metrics")).not_to_contain_text("activate_card")
            expect(frame.locator("#charts figcaption").first).to_have_text("每日客户请求（按业务类别）")
            expect(frame.locator("#agents tbody tr")).to_have_count(1)
            expect(frame.locator("#agents tbody tr td").first).to_have_text("李娜")
            expect(frame.locator("#agents tbody tr td").nth(1)).to_have_text("3")
            expect(frame.locator("#charts img")).to_have_count(4)
            loaded = frame.locator("#charts img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
            assert all(w > 200 for w in loaded), loaded
            # report.css applied inside the frame (the console's CSP blocks inline styles)
            styled = frame.locator("#metrics").evaluate(
                "t => [getComputedStyle(t).borderCollapse, getComputedStyle(document.body).marginTop,"
                " getComputedStyle(document.querySelector('#charts')).display]")
            assert styled == ["collapse", "20px", "flex"], styled
            # the frame grows to the report's height; a tall viewport shows the whole tab in one picture
            page.wait_for_function("document.getElementById('sv-report').getBoundingClientRect().height > 1000")
            tall = page.evaluate("document.getElementById('sv-report').getBoundingClientRect().bottom + 40")
            page.set_viewport_size({"width": 1400, "height": int(tall)})
            page.screenshot(path=str(shots / "supervisor_report.png"))
            page.set_viewport_size({"width": 1400, "height": 1000})

            # a range with no chats, then a reversed one (a clear message, no frame change)
            page.fill("#sv-report-from", "2020-01-01")
            page.fill("#sv-report-to", "2020-01-07")
            page.click("#sv-report-go")
            expect(frame.locator(".range")).to_contain_text("2020-01-01 至 2020-01-07")
            expect(frame.locator("#agents td.empty")).to_have_text("这段时间没有人工会话")
            page.fill("#sv-report-from", "2020-02-01")
            page.click("#sv-report-go")
            expect(page.locator("#sv-report-status")).to_contain_text("must not be after")
            page.locator("#sv-report-form").screenshot(path=str(shots / "supervisor_report_bad_range.png"))
        finally:
            browser.close()
    assert (shots / "supervisor_report.png").stat().st_size > 20_000
    token = next(h["authorization"] for h in report_headers if "authorization" in h)
    assert token.startswith("Bearer ") and len(token) > 20
    assert not any(token[7:] in u for u in urls), "the agent token appeared in a URL"
    assert not any("token=" in u for u in urls if "/supervisor/report" in u)
    assert not [m for m in problems if "Content Security Policy" in m], problems
    # agents may not read it
    r = httpx.get(history.srv.base + "/supervisor/report", headers=login(history.srv.base, "li.na"))
    assert r.status_code == 403
    en = httpx.get(history.srv.base + "/supervisor/report", params={"lang": "en"},
                   headers=login(history.srv.base, "zhao.min"))
    assert en.status_code == 200 and "Containment" in en.text and "Activate card" in en.text
    assert "'unsafe-inline'" not in en.headers["content-security-policy"] and "<style" not in en.text


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
