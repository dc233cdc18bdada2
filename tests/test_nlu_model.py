"""The trained NLU model: held-out quality, the parse contract, bad input, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.nlu.data import CATEGORIES, load_nlu
from bot.nlu.pipeline import ParseInputError

from .conftest import ROOT, parse_lines, run_cli


def test_heldout_category_accuracy(pipeline) -> None:  # type: ignore[no-untyped-def]
    """Category accuracy on data/test (never trained on), per language."""
    from bot.nlu.evaluate import evaluate_intents

    examples = load_nlu(ROOT / "data" / "test")
    report = evaluate_intents(examples, pipeline.parse_many([e.text for e in examples]))
    assert report["by_language"]["zh"]["category_accuracy"] >= 0.93, report["by_language"]
    assert report["by_language"]["en"]["category_accuracy"] >= 0.90, report["by_language"]
    assert report["intent"]["accuracy"] >= 0.85


def test_parse_contract(pipeline) -> None:  # type: ignore[no-untyped-def]
    r = pipeline.parse("我的卡6222 0212 3456 7890丢了，赶紧帮我挂失")
    assert set(r) >= {"text", "intent", "intent_ranking", "entities", "category", "categories", "language", "care"}
    assert r["intent"]["name"] == "report_lost_card"
    assert r["category"] == "operation"
    assert set(r["categories"]) == set(CATEGORIES)
    assert r["language"] == "zh"
    assert set(r["care"]) == {"elderly", "distressed"}
    assert all(0.0 <= v <= 1.0 for v in r["care"].values())
    assert "0212" not in json.dumps(r, ensure_ascii=False)
    assert r["text"] == "我的卡6222 **** **** 7890丢了，赶紧帮我挂失"
    ranking = [x["confidence"] for x in r["intent_ranking"]]
    assert ranking == sorted(ranking, reverse=True) and 0 < ranking[0] <= 1
    assert r["intent_ranking"][0]["name"] == r["intent"]["name"]


@pytest.mark.parametrize("text,intent,category", [
    ("怎么修改登录密码", "reset_password", "operation"),
    ("我信用卡这个月账单多少", "card_bill", "inquiry"),
    ("现在三年定期利率多少", "deposit_rates", "consultation"),
    ("积分能换什么东西", "redeem_points", "value_added"),
    ("how much money do I have left in my account", "check_balance", "inquiry"),
    ("I lost my credit card", "report_lost_card", "operation"),
    ("转人工", "request_human", None),
    ("今天天气怎么样", "out_of_scope", None),
])
def test_typical_messages(pipeline, text: str, intent: str, category: str | None) -> None:  # type: ignore[no-untyped-def]
    r = pipeline.parse(text)
    assert (r["intent"]["name"], r["category"]) == (intent, category), r["intent_ranking"][:3]


def test_perks_stay_value_added(pipeline) -> None:  # type: ignore[no-untyped-def]
    """Points, offers, wealth and VIP perks are value-added even when the customer asks about their own."""
    topics = pipeline.model.intent_category
    for text in ("我现在手上攒了多少积分", "帮我把积分兑换成话费", "我的白金卡现在能用哪些权益",
                 "how many reward points are on my card"):
        r = pipeline.parse(text)
        assert topics.get(r["intent"]["name"]) == "value_added", (text, r["intent"])
        assert r["category"] == "value_added", (text, r["categories"])


def test_meta_intents_have_no_category(pipeline) -> None:  # type: ignore[no-untyped-def]
    for text in ("你好", "谢谢", "转人工", "hello there"):
        r = pipeline.parse(text)
        assert r["intent"]["name"] in {"greet", "thanks", "request_human"}
        assert r["category"] is None


def test_multi_intent(pipeline) -> None:  # type: ignore[no-untyped-def]
    r = pipeline.parse("我的信用卡丢了要挂失，还有帮我查一下余额")
    names = [m["name"] for m in r["multi_intent"]]
    assert names == ["report_lost_card", "check_balance"]
    assert pipeline.parse("查一下余额")["multi_intent"] == []


@pytest.mark.parametrize("text,want", [
    ("check my balance send 200 to Tom", {"check_balance", "make_transfer"}),
    ("fixed deposit rates recommend a fund", {"deposit_rates", "wealth_products"}),
])
def test_two_requests_without_connector(pipeline, text: str, want: set[str]) -> None:  # type: ignore[no-untyped-def]
    """No punctuation, no connector: the split search finds both requests (a person counts as one)."""
    r = pipeline.parse(text)
    assert want <= {m["name"] for m in r["multi_intent"]} | {r["intent"]["name"]}, (r["intent"], r["multi_intent"])
    assert len(r["multi_intent"]) == 2 and all(m["text"] in text for m in r["multi_intent"])


def test_single_requests_stay_single(pipeline) -> None:  # type: ignore[no-untyped-def]
    """One request in several words is not split into two."""
    for text in ("how do I reset my online banking password", "what is the interest rate on a 3 year deposit",
                 "我想查一下我信用卡这个月的账单", "please block my card right now"):
        assert pipeline.parse(text)["multi_intent"] == [], text


def test_care_fields(pipeline) -> None:  # type: ignore[no-untyped-def]
    assert pipeline.parse("我年纪大了眼睛看不清，这个手机我不会弄")["care"]["elderly"] >= 0.5
    assert pipeline.parse("钱被骗走了急死了怎么办啊！！！")["care"]["distressed"] >= 0.5
    calm = pipeline.parse("信用卡年费怎么收")["care"]
    assert calm["elderly"] < 0.5 and calm["distressed"] < 0.5


def test_bad_input_in_process(pipeline) -> None:  # type: ignore[no-untyped-def]
    for bad, reason in [("", "empty"), ("   \n ", "empty"), ("x" * 100_000, "too long"), (None, "string"),
                        ("\x00\x01\x02", "binary")]:
        with pytest.raises(ParseInputError, match=reason):
            pipeline.parse(bad)
    for odd in ("🙂🙂🙂", "😡😡", "???", "asdkjh qwe", "こんにちは", "Привет", "我的card被lock了 help"):
        r = pipeline.parse(odd)
        assert r["intent"]["name"] and 0 <= r["intent"]["confidence"] <= 1


def test_cli_parse_stdin(trained_model: Path, model_env: dict[str, str]) -> None:
    lines = ["查一下余额", "", "how do i activate my new card", "🙂", "x" * 100_000, "转人工"]
    data = "\n".join(lines).encode() + b"\n\xff\xfe\x00junk\x00\n"
    proc = run_cli("parse", "--model", str(trained_model), input=data, env=model_env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = parse_lines(proc.stdout)
    assert len(out) == len(lines) + 1
    assert out[0]["intent"]["name"] == "check_balance"
    assert "error" in out[1] and "empty" in out[1]["error"]
    assert out[2]["intent"]["name"] == "activate_card"
    assert "intent" in out[3]
    assert "too long" in out[4]["error"]
    assert out[5]["intent"]["name"] == "request_human"
    assert "error" in out[6]


def test_cli_test_report(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> None:
    proc = run_cli("test", "--model", str(trained_model), "--out", str(tmp_path), env=model_env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["nlu"]["intent"]["per_label"]["check_balance"]["support"] > 0
    assert set(report["care"]["labels"]) == {"elderly", "distressed", "positive"}
    for png in ("intent_confusion.png", "category_confusion.png"):
        data = (tmp_path / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    errors = json.loads((tmp_path / "errors.json").read_text())
    assert all({"text", "expected_intent", "predicted_intent", "source"} <= set(e) for e in errors)
    assert "Intents to fix first" in (tmp_path / "report.md").read_text()


def test_training_is_deterministic(tmp_path: Path, model_env: dict[str, str]) -> None:
    """Same data + seed -> same model output (small data, no external material, for speed)."""
    small = tmp_path / "small.yml"
    blocks = [b for b in (ROOT / "data" / "nlu" / "value_added.yml").read_text(encoding="utf-8").split("\n- intent:")]
    small.write_text("\n- intent:".join(blocks[:4]), encoding="utf-8")
    outs = []
    for name in ("a", "b"):
        proc = run_cli("train", "--data", str(small), "--care", "--no-external", "--epochs", "8",
                       "--out", str(tmp_path / name), env=model_env)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        proc = run_cli("parse", "--model", str(tmp_path / name), input="我有多少积分\nVIP有什么权益\n".encode(),
                       env=model_env)
        outs.append(parse_lines(proc.stdout))
    assert outs[0] == outs[1]
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert meta["seed"] == 42 and len(meta["data_hash"]) == 16 and meta["versions"]["torch"].startswith("2.13")


def test_fallback_threshold_policies() -> None:
    """The benchmark policy trades a bounded bit of in-scope accuracy for out-of-scope recall."""
    import numpy as np

    from bot.nlu.model import choose_fallback_threshold

    rng = np.random.default_rng(0)
    n_in, n_oos, classes, oos = 400, 10, 5, 4
    labels = np.concatenate([rng.integers(0, 4, n_in), np.full(n_oos, oos)])
    logits = rng.normal(0, 1, (n_in + n_oos, classes))
    logits[np.arange(n_in), labels[:n_in]] += rng.uniform(0.5, 6.0, n_in)  # in-scope: mostly confident
    accuracy = choose_fallback_threshold(logits, labels, oos)
    floor = choose_fallback_threshold(logits, labels, oos, policy="in_scope_floor")
    assert 0.0 <= accuracy <= 0.5 and accuracy <= floor <= 0.9
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ins = labels != oos

    def in_scope_acc(t: float) -> float:
        pred = np.where(p[ins].max(1) < t, oos, p[ins].argmax(1))
        return float((pred == labels[ins]).mean())

    best = max(in_scope_acc(t) for t in np.arange(0, 0.91, 0.025))
    assert in_scope_acc(floor) >= best - 0.01 - 1e-9
    assert (p[~ins].max(1) < floor).sum() >= (p[~ins].max(1) < accuracy).sum()
