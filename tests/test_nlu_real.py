"""Issue 11: how real customers write -- dialect, pinyin, typos, long stories, other institutions,
per-example categories, the hard held-out set and its per-class scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.nlu.augment import augment, initials_variant, pinyin_variants
from bot.nlu.data import DataError, care_training_files, intent_categories, load_hard, load_nlu
from bot.nlu.lint import check_nlu
from bot.nlu.normalize import decode_pinyin, fix_typos, mandarin_from_cantonese, normalize
from bot.nlu.pipeline import find_institution, split_clauses, split_segments

from .conftest import ROOT, run_cli


@pytest.mark.parametrize(("text", "expected"), [
    ("我想改密碼，點搞？", "我想改密码,怎么办?"),
    ("張咭用唔到", "张卡用不了"),
    ("幫我睇下個戶口", "帮我看一下个账户"),
    ("我系老人家，唔识用手机", "我是老人家,不会用手机"),
])
def test_cantonese_and_hk_wording_become_mandarin(text: str, expected: str) -> None:
    norm = normalize(text)
    assert norm.text == expected and norm.original == text and norm.dialect


def test_cantonese_xi_only_with_other_markers() -> None:
    assert mandarin_from_cantonese("系统登不上") == "系统登不上"
    assert mandarin_from_cantonese("我联系不上客服") == "我联系不上客服"
    assert mandarin_from_cantonese("你系唔系银行") == "你是不是银行"


@pytest.mark.parametrize(("text", "expected"), [
    ("激火新卡", "激活新卡"), ("查余鹅", "查余额"), ("信用卡张单", "信用卡账单"), ("我要挂时", "我要挂失"),
])
def test_typos_and_banking_homophones(text: str, expected: str) -> None:
    assert fix_typos(text) == expected


def test_homophone_fix_leaves_real_words_alone() -> None:
    for text in ("我想查一下余额", "上个月的账单", "这是什么意思", "激活成功了吗"):
        assert fix_typos(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("xiugai mima", "修改密码"), ("xinyongka zhangdan", "信用卡账单"), ("dongjie ka", "冻结卡"),
    ("xiūgǎi mìmǎ", "修改密码"), ("xiu1gai3 mi4ma3", "修改密码"), ("woyaoguashi", "我要挂失"),
    # heteronyms read the banking way (还款 huan kuan, 跨行 kua hang), tones on words of the lexicon
    ("wo xiang huan kuan", "我想还款"), ("kuahang huikuan", "跨行汇款"),
    ("zìdòng huánkuǎn zěnme shèzhì", "自动还款怎么设置"),
    # one syllable per token: "yue" is 月 unless a word needs it as 余额 (yu e)
    ("shang ge yue huan duo shao", "上个月还多少"), ("cha yue", "查余额"),
])
def test_pinyin_is_decoded(text: str, expected: str) -> None:
    assert decode_pinyin(text) == expected
    assert normalize(text).pinyin


@pytest.mark.parametrize("text", ["change pin", "check my balance", "hello", "ok", "Cancel my card", "hi there"])
def test_english_is_not_taken_for_pinyin(text: str) -> None:
    assert decode_pinyin(text) is None
    assert normalize(text).text == text


def test_long_messages_split_into_clauses_and_space_separated_requests() -> None:
    story = "我那个老手机去年摔坏了，号码也停了，现在换了个新号，可银行的短信还是发到老号上，这个要怎么弄"
    clauses = split_clauses(story)
    assert clauses[-1] == "这个要怎么弄" and len(clauses) == 5
    assert split_clauses("查余额") == []
    # a maximum-length message is scored on at most MAX_SEGMENTS pieces, and its last clause is among them
    from bot.nlu.pipeline import MAX_SEGMENTS

    long_story = ("我想问一下我的账单为什么多了一笔钱，还有上个月的还款有没有到账，" * 60)[:1990] + "，最后帮我查余额"
    assert 1 < len(split_clauses(long_story)) <= MAX_SEGMENTS and split_clauses(long_story)[-1] == "最后帮我查余额"
    assert 1 < len(split_segments(long_story)) <= MAX_SEGMENTS
    assert split_segments("查一下账单 分期手续费多少") == ["查一下账单", "分期手续费多少"]


def test_institution_gazetteer() -> None:
    m = find_institution("微信零钱怎么提现")
    assert m is not None and (m.name, m.text, m.start) == ("微信支付", "微信零钱", 0)
    m = find_institution("can you send money with venmo")
    assert m is not None and m.name == "Venmo"
    assert find_institution("我的信用卡账单") is None
    assert find_institution("wisely spent") is None  # ASCII aliases match whole words only
    m = find_institution("weixin零钱怎么转出来")  # a Chinese character is a word boundary
    assert m is not None and m.name == "微信支付"
    assert find_institution("我的养老金到账没") is None  # a pension paid into our account is ours


def test_questions_about_another_institutions_own_products() -> None:
    """"工行的理财收益" asks about the other bank's product; "往工行的卡转" moves money through us."""
    from bot.nlu.institutions import asks_about_provider

    own = ["工行的理财收益怎么样", "农行信用卡怎么提额", "Chase savings rate today", "what's the Citi mortgage rate",
           "微信的额度怎么提高"]
    ours = ["往工行的卡转五百", "转到农行要手续费吗", "send 200 to my Chase account", "工行的卡能绑你们的app吗",
            "公积金贷款利率多少", "顺丰快递到哪了"]
    for text, want in [(t, True) for t in own] + [(t, False) for t in ours]:
        match = find_institution(text)
        assert match is not None, text
        assert asks_about_provider(text, match) is want, text


def test_gazetteer_is_one_list_with_unique_names() -> None:
    """data/nlu/institutions.yml is the only list: every alias belongs to one entry."""
    from bot.nlu.institutions import load_gazetteer

    entries = load_gazetteer()
    owners: dict[str, str] = {}
    for e in entries:
        for a in e.aliases:
            assert owners.setdefault(a, e.name) == e.name, (a, owners[a], e.name)
    assert len({e.name for e in entries}) == len(entries) >= 60


def test_long_form_examples_with_example_category(tmp_path: Path) -> None:
    f = tmp_path / "pairs.yml"
    f.write_text(
        'version: "3.1"\nnlu:\n- intent: card_bill\n  metadata: {category: inquiry}\n  examples:\n'
        "  - text: 我这期账单什么时候到期\n  - text: 账单日和还款日有什么区别\n    metadata: {category: consultation}\n"
        "- intent: card_bill\n  examples: |\n    - 我的账单多少钱\n",
        encoding="utf-8")
    ex = load_nlu(f)
    assert [(e.text, e.category, e.line) for e in ex] == [
        ("我这期账单什么时候到期", "inquiry", 6), ("账单日和还款日有什么区别", "consultation", 7),
        ("我的账单多少钱", "inquiry", 11)]
    assert intent_categories(ex) == {"card_bill": "inquiry"}
    assert not [i for i in check_nlu([f], min_examples=1) if i.level == "error"]
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples:\n  - text: 你好\n'
                   "    metadata: {category: inquiry}\n", encoding="utf-8")
    assert [i.where for i in check_nlu([bad], min_examples=1) if i.level == "error"] == [f"{bad}:5"]


def test_care_training_files_hold_out_test_yml() -> None:
    files = care_training_files(ROOT / "data" / "care")
    assert files and all(f.name != "test.yml" for f in files)
    assert (ROOT / "data" / "care" / "care.yml") in files


def test_hard_loader(tmp_path: Path) -> None:
    f = tmp_path / "h.yml"
    f.write_text('version: "3.1"\nhard:\n- class: multi_intent\n  examples:\n  - text: 查一下账单 分期手续费多少\n'
                 "    intent: card_bill\n    category: inquiry\n    intents: [card_bill, installment_fee]\n"
                 "- class: other_institution\n  examples:\n  - text: 微信零钱怎么提现\n    intent: out_of_scope\n"
                 "    category: null\n    institution: 微信\n    care: [elderly]\n", encoding="utf-8")
    hard = load_hard(f)
    assert [(h.cls, h.intent, h.category, h.intents, h.care, h.institution) for h in hard] == [
        ("multi_intent", "card_bill", "inquiry", ("card_bill", "installment_fee"), (), None),
        ("other_institution", "out_of_scope", None, (), ("elderly",), "微信")]
    bad = tmp_path / "bad.yml"
    bad.write_text('hard:\n- class: plain\n  examples:\n  - text: hi\n    intent: greet\n    care: [sad]\n')
    with pytest.raises(DataError, match="bad.yml:4"):
        load_hard(bad)


def test_augmentation_variants() -> None:
    assert pinyin_variants("修改密码")[:2] == ["xiugai mima", "xiugaimima"]
    assert initials_variant("修改密码") == "xgmm"
    ex = load_nlu(ROOT / "data" / "nlu" / "value_added.yml")
    extra = augment(ex)
    assert extra and all("augmented" in e.tags and e.weight < 1 and e.intent for e in extra)
    assert {next(iter(e.tags - {"augmented"})) for e in extra} >= {"pinyin", "initials"}
    texts = {normalize(e.text).text for e in ex}
    assert not [e for e in extra if normalize(e.text).text in texts]


def test_real_messages_with_the_trained_model(pipeline) -> None:  # type: ignore[no-untyped-def]
    story = ("我那个老手机去年摔坏了，号码也停了，现在换了个新号，可银行的短信还是发到老号上，"
             "营业厅的小姑娘让我问问你们，这个手机号要怎么改")
    res = pipeline.parse_many([story, "xiugai mima", "我想改密碼，點搞？", "微信零钱怎么提现"])
    assert res[0]["intent"]["name"] != "out_of_scope" and not res[0]["fallback"]
    assert res[1]["intent"]["name"] == res[2]["intent"]["name"]
    assert res[1]["intent"]["name"] not in ("out_of_scope", "greet")
    inst = [e for e in res[3]["entities"] if e["entity"] == "institution"]
    assert inst and inst[0]["value"] == "微信支付"
    if res[3]["intent"]["name"] == "out_of_scope":
        assert res[3]["other_institution"] == {"name": "微信支付", "text": "微信零钱"}
    for r in res:
        assert r["topic_category"] is None or r["intent"]["name"] != "out_of_scope"


def test_cli_test_scores_the_hard_set_per_class(trained_model: Path, model_env: dict[str, str],
                                                tmp_path: Path) -> None:
    hard = tmp_path / "hard.yml"
    hard.write_text('version: "3.1"\nhard:\n- class: pinyin\n  examples:\n  - text: xiugai mima\n'
                    "    intent: reset_password\n    category: operation\n- class: out_of_scope\n  examples:\n"
                    "  - text: 明天会下雨吗\n    intent: out_of_scope\n    category: null\n", encoding="utf-8")
    proc = run_cli("test", "--model", str(trained_model), "--hard", str(hard), "--out", str(tmp_path / "r"),
                   env=model_env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert set(report["hard"]["per_class"]) == {"pinyin", "out_of_scope"}
    assert report["hard"]["n"] == 2 and 0.0 <= report["hard"]["oos_recall"] <= 1.0
    assert "hard set (n=2)" in proc.stdout.decode()
    proc = run_cli("test", "--compare", str(trained_model), str(trained_model), "--hard", str(hard),
                   "--out", str(tmp_path / "c"), env=model_env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rows = json.loads((tmp_path / "c" / "compare.json").read_text())["hard"]
    assert {"class pinyin category", "oos_recall"} <= {r["metric"] for r in rows}
    assert all(r["change"] == 0 for r in rows)
