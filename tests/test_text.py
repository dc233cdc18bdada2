"""Normalisation, language detection and entity extraction/masking."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.nlu.entities import chinese_to_number, extract_entities, luhn_ok, mask_sensitive
from bot.nlu.language import detect_language
from bot.nlu.normalize import normalize

TODAY = dt.date(2026, 11, 23)


def test_normalize_keeps_original_and_simplifies() -> None:
    n = normalize("  餘額查詢　ｈｅｌｌｏ　１２３  ")
    assert n.original == "  餘額查詢　ｈｅｌｌｏ　１２３  "
    assert n.text == "余额查询 hello 123"


def test_normalize_banking_spelling_and_control_chars() -> None:
    assert normalize("我的帳單\x00\x07出了嗎").text == "我的账单出了吗"


@pytest.mark.parametrize("text,lang", [
    ("我想查一下余额", "zh"),
    ("how do I reset my password", "en"),
    ("我的credit card bill什么时候出", "mixed"),
    ("信用卡bill", "zh"),
    ("🙂🙂", "unknown"),
    ("12345", "unknown"),
])
def test_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def _ents(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in extract_entities(text, TODAY):
        out.setdefault(e.entity, []).append((e.value, e.extras.get("currency")))
    return out


def test_amounts_in_chinese_and_english() -> None:
    assert _ents("转5000元给我妈")["amount"] == [(5000, "CNY")]
    assert _ents("两万块")["amount"] == [(20000, "CNY")]
    assert _ents("帮我换1.5万美元")["amount"] == [(15000, "USD")]
    assert _ents("send $200.50 now")["amount"] == [(200.5, "USD")]
    assert _ents("charged 30 euros")["amount"] == [(30, "EUR")]
    assert chinese_to_number("三千五百") == 3500
    assert chinese_to_number("十二") == 12


def test_dates() -> None:
    assert _ents("3月5号之前")["date"] == [("2026-03-05", None)]
    assert _ents("昨天转的")["date"] == [("2026-11-22", None)]
    assert _ents("2026-01-02 的交易")["date"] == [("2026-01-02", None)]
    assert _ents("pay it on March 5th")["date"] == [("2026-03-05", None)]
    assert _ents("上个月的账单")["date"] == [("last_month", None)]


def test_card_types_and_currencies() -> None:
    e = _ents("我的白金卡和借记卡，想换日元")
    assert [v for v, _ in e["card_type"]] == ["platinum_card", "debit_card"]
    assert [v for v, _ in e["currency"]] == ["JPY"]


def test_sensitive_numbers_are_masked_with_offsets_kept() -> None:
    text = "卡号6222 0212 3456 7890，手机13812345678，身份证110101199001011234"
    masked = mask_sensitive(text)
    assert len(masked) == len(text)
    assert "0212 3456" not in masked and "1234567" not in masked and "19900101" not in masked
    kinds = {e.entity: e.value for e in extract_entities(text, TODAY)}
    assert kinds["card_number"] == "6222 **** **** 7890"
    assert kinds["phone_number"] == "138****5678"
    assert kinds["id_number"] == "110101********1234"
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_masked_numbers_are_recognised() -> None:
    kinds = {e.entity for e in extract_entities("尾号138****5678的手机，卡6222********7890", TODAY)}
    assert {"phone_number", "card_number"} <= kinds


def test_rule_questions_are_told_from_own_data_questions() -> None:
    """A question about how a rule works in general is consultation; one about the customer's own data is not."""
    from bot.nlu.pipeline import is_rule_question

    rule = ["账单日和还款日是怎么算的", "信用卡审批一般要多久", "固定额度跟临时额度有啥不一样",
            "What does a wire abroad cost in general?", "what's the difference between a debit and a credit card",
            "購匯一年有多少額度 規定是啥"]
    own = ["我这张卡今年的年费扣了没有", "我的退款一般几天能到", "how many installments are left on my laptop",
           "why was I charged 25 for my wire", "帮我查一下一般户的余额", "查一下账单"]
    assert all(is_rule_question(t) for t in rule), [t for t in rule if not is_rule_question(t)]
    assert not any(is_rule_question(t) for t in own), [t for t in own if is_rule_question(t)]


def test_status_questions_are_own_data() -> None:
    """Where the customer's own card, fee, setting or application stands is own data (inquiry); rules and
    requests to act are not."""
    from bot.nlu.pipeline import is_status_question

    status = ["我上个月申请的分期批下来了没", "我那笔电费自动扣了吗", "我的新卡寄出来没有", "我的房贷还剩多少期",
              "did my loan get approved", "has my salary come in", "is my new card on its way yet",
              "which card is linked to my auto pay"]
    other = ["分期手续费一般怎么收", "帮我把自动还款关掉", "信用卡审批一般要多久", "how do I set up auto pay",
             "raise my limit please", "what does a wire abroad cost in general", "我想办一张信用卡"]
    assert all(is_status_question(t) for t in status), [t for t in status if not is_status_question(t)]
    assert not any(is_status_question(t) for t in other), [t for t in other if is_status_question(t)]


def test_pinyin_table_is_what_pypinyin_gives_today() -> None:
    """The shipped table is generated from pypinyin and the lexicon: regenerate it when either changes."""
    from bot.nlu import pinyin_table

    shipped, fresh = pinyin_table.load(), pinyin_table.build()
    assert shipped.words == fresh.words, "run `python -m bot.nlu.pinyin_table` after changing BANK_WORDS"
    assert shipped.default == fresh.default
    assert shipped.readings == fresh.readings
    assert pinyin_table.parse(pinyin_table.dump(fresh)) == fresh
    assert shipped.words["密码"] == ("mi", "ma") and {"xing", "hang"} <= shipped.readings["行"]


def test_pinyin_and_homophone_normalisation_run_without_pypinyin() -> None:
    """Serving normalises pinyin and homophone slips from the table alone (pypinyin costs ~55 MB at import)."""
    import subprocess
    import sys

    code = ("import sys; from bot.nlu.normalize import normalize; "
            "print(normalize('xiugai mima').text, normalize('查余鹅').text, 'pypinyin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["修改密码", "查余额", "False"]


def test_elderly_needs_a_cue_or_a_very_confident_head() -> None:
    from bot.nlu.care_cues import UNCUED_ELDERLY_SCALE, elderly_probability, has_elderly_cue

    for older in ("我今年七十五了，这个怎么弄", "我老伴住院了，想查查卡里还有多少钱", "孙子不在家，我不会用这个",
                  "I'm retired and my grandson set this up for me", "the letters are too small, my eyes are bad"):
        assert has_elderly_cue(older), older
    for working_age in ("我刚换了工作，工资卡到账了没", "搬家了想改一下地址，原来的网点太远",
                        "We just had a baby and I want to raise my card limit for the hospital bills",
                        "I moved abroad for work last year and need to update my phone number"):
        assert not has_elderly_cue(working_age), working_age
    # a long story with no cue keeps care mode off unless the head is very sure
    assert elderly_probability(0.8, "搬家了想改一下地址") < 0.5 <= elderly_probability(0.9, "搬家了想改一下地址")
    assert elderly_probability(0.6, "我七十多了") == 0.6
    assert abs(elderly_probability(1.0, "") - UNCUED_ELDERLY_SCALE) < 1e-9


def test_impatience_is_distressed_even_when_the_head_reads_a_calm_request() -> None:
    from bot.nlu.care_cues import IMPATIENCE_FLOOR, distressed_probability, has_impatience_cue

    for impatient in ("说了好几遍了 我要查流水", "磨磨叽叽的 到底还要多久", "快啲幫我睇下",
                      "for the third time, where is my card", "I already told you twice, close the account",
                      "ugh, get to the point"):
        assert has_impatience_cue(impatient), impatient
    for calm in ("转账多久能到账", "怎么查最近的交易记录", "我要投诉网点", "how long does a transfer take",
                 "what happens if my card is stolen"):
        assert not has_impatience_cue(calm), calm
    assert distressed_probability(0.05, "别绕了 余额多少") == IMPATIENCE_FLOOR > 0.5
    assert distressed_probability(0.9, "别绕了 余额多少") == 0.9
    assert distressed_probability(0.05, "余额多少") == 0.05
