"""Fine-tuning the encoder's top layers (``bankbot train --finetune``): training, export, serving, staleness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.nlu.encoder import EncoderUnavailable, make_encoder
from bot.nlu.finetune import finetune, finetuned_available, finetuned_dir, finetuned_identity
from bot.nlu.onnx_encoder import onnx_cache_dir

from .conftest import teacher_only

# two intents whose texts e5 puts close together (own balance vs balance rules), with categories
LABELLED = [("查一下我的余额", "check_balance", "inquiry"), ("我卡里还有多少钱", "check_balance", "inquiry"),
            ("what's my balance", "check_balance", "inquiry"), ("how much money do I have", "check_balance", "inquiry"),
            ("账户最低余额要求是多少", "account_rules", "consultation"),
            ("余额不足会收费吗", "account_rules", "consultation"),
            ("is there a minimum balance", "account_rules", "consultation"),
            ("do you charge if my balance is low", "account_rules", "consultation")] * 3


@pytest.fixture(scope="module")
def tuned_models(teacher_models: Path) -> Path:
    """A models folder sharing the session's teacher, for the finetuned encoder of these tests."""
    return teacher_models


def _margin(vec: np.ndarray, labels: list[str]) -> float:
    """Mean within-class cosine minus mean between-class cosine."""
    sims = vec @ vec.T
    same = np.array([[a == b for b in labels] for a in labels])
    np.fill_diagonal(same, False)
    other = np.array([[a != b for b in labels] for a in labels])
    return float(sims[same].mean() - sims[other].mean())


def test_missing_finetuned_encoder_is_a_clear_error(tmp_path: Path, tuned_models: Path) -> None:
    empty = teacher_only(tuned_models, tmp_path / "m")
    with pytest.raises(EncoderUnavailable, match="bankbot train --finetune"):
        make_encoder("onnx-finetuned", empty)


def test_finetuning_separates_the_intents_and_serves_on_onnx(tuned_models: Path) -> None:
    texts, intents, cats = (list(x) for x in zip(*LABELLED, strict=True))
    before = make_encoder("onnx", tuned_models, num_threads=1).encode(texts[:8])
    report = finetune(tuned_models, texts, intents, cats, top_layers=1, epochs=4, batch_size=8, lr=2e-4,
                      anchor=0.2, seed=5, log=lambda _: None)
    assert report.top_layers == 1 and report.steps == 12 and not report.stopped_by_budget
    assert report.intents == 2 and report.categories == 2
    assert report.loss_last < report.loss_first
    assert 0.5 < report.anchor_cosine < 1.0
    assert finetuned_available(tuned_models)
    assert json.loads((finetuned_dir(tuned_models) / "finetune.json").read_text())["steps"] == 12

    enc = make_encoder("onnx-finetuned", tuned_models, num_threads=1)
    assert onnx_cache_dir(tuned_models, "finetuned").is_dir()
    assert enc.identity == finetuned_identity(tuned_models) != ""  # type: ignore[attr-defined]
    after = enc.encode(texts[:8])
    assert np.allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-4)
    # the served (int8 ONNX) embeddings separate the two intents more than the original encoder did
    assert _margin(after, intents[:8]) > _margin(before, intents[:8]) + 0.02


def test_a_new_finetuning_makes_the_old_export_stale(tuned_models: Path) -> None:
    texts, intents, cats = (list(x) for x in zip(*LABELLED[:8], strict=True))
    finetune(tuned_models, texts, intents, cats, top_layers=1, epochs=1, batch_size=8, seed=1, log=lambda _: None)
    first = finetuned_identity(tuned_models)
    make_encoder("onnx-finetuned", tuned_models, num_threads=1)
    stamp = onnx_cache_dir(tuned_models, "finetuned") / "bankbot-cache.json"
    assert json.loads(stamp.read_text())["identity"] == first
    finetune(tuned_models, texts, intents, cats, top_layers=1, epochs=1, batch_size=8, seed=2, log=lambda _: None)
    assert finetuned_identity(tuned_models) != first
    enc = make_encoder("onnx-finetuned", tuned_models, num_threads=1)
    assert enc.identity == json.loads(stamp.read_text())["identity"] != first  # type: ignore[attr-defined]
