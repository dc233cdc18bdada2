"""The split search for two requests without a connector (bot.nlu.multi), on given distributions."""

from __future__ import annotations

import numpy as np

from bot.nlu.multi import MultiOptions, best_split, candidate_splits, is_request, looks_mixed

INTENTS = ["greet", "check_balance", "make_transfer", "complaint", "request_human", "out_of_scope"]
CATS = {"check_balance": "inquiry", "make_transfer": "operation"}


def dist(**p: float) -> np.ndarray:
    v = np.array([p.get(n, 0.0) for n in INTENTS], dtype=np.float32)
    return v / v.sum()


def test_requests_are_business_intents_complaints_and_a_person() -> None:
    assert [n for n in INTENTS if is_request(n, CATS)] == ["check_balance", "make_transfer", "complaint",
                                                           "request_human"]


def test_mixed_needs_a_second_request_with_some_mass() -> None:
    opts = MultiOptions()
    assert looks_mixed(dist(check_balance=0.9, make_transfer=0.1), INTENTS, CATS, opts)
    assert not looks_mixed(dist(check_balance=0.999, make_transfer=0.001), INTENTS, CATS, opts)
    assert not looks_mixed(dist(check_balance=0.5, greet=0.5), INTENTS, CATS, opts)


def test_candidates_at_word_boundaries_with_two_words_per_half() -> None:
    opts = MultiOptions(max_cuts=0)
    assert candidate_splits("check my balance send money", opts) == [
        ("check my", "balance send money"), ("check my balance", "send money")]
    assert candidate_splits("balance please", opts) == []
    assert candidate_splits(" ".join(["w"] * 30), opts) == []
    han = candidate_splits("查余额转账给妈妈", opts, ["查", "余额", "转账", "给", "妈妈"])
    assert ("查余额", "转账给妈妈") in han and all(len(a) >= 2 and len(b) >= 2 for a, b in han)
    assert candidate_splits("查余额", opts, None) == []
    central = candidate_splits("a1 b2 c3 d4 e5 f6 g7 h8 i9 j10", MultiOptions(max_cuts=2))
    assert central == [("a1 b2 c3 d4 e5", "f6 g7 h8 i9 j10"), ("a1 b2 c3 d4 e5 f6", "g7 h8 i9 j10")]


def test_best_split_takes_the_most_confident_weaker_half() -> None:
    opts = MultiOptions()
    halves = [("a b", "c d e"), ("a b c", "d e")]
    left = np.stack([dist(check_balance=0.85, greet=0.15), dist(check_balance=0.99, greet=0.01)])
    right = np.stack([dist(make_transfer=0.9, greet=0.1), dist(make_transfer=0.95, greet=0.05)])
    found = best_split(halves, left, right, INTENTS, CATS, opts)
    assert found is not None and found[:2] == (1, "check_balance") and found[3] == "make_transfer"


def test_best_split_refuses_same_intent_weak_halves_and_intents_foreign_to_the_whole() -> None:
    opts = MultiOptions()
    halves = [("a b", "c d")]
    same = best_split(halves, np.stack([dist(check_balance=1)]), np.stack([dist(check_balance=1)]), INTENTS,
                      CATS, opts)
    weak = best_split(halves, np.stack([dist(check_balance=0.6, greet=0.4)]), np.stack([dist(make_transfer=1)]),
                      INTENTS, CATS, opts)
    chat = best_split(halves, np.stack([dist(greet=1)]), np.stack([dist(make_transfer=1)]), INTENTS, CATS, opts)
    whole = dist(check_balance=0.6, complaint=0.3, request_human=0.1)
    opts2 = MultiOptions(whole_rank=2)
    foreign = best_split(halves, np.stack([dist(check_balance=1)]), np.stack([dist(make_transfer=1)]), INTENTS,
                         CATS, opts2, whole)
    assert same is None and weak is None and chat is None and foreign is None
