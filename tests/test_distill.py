"""The distilled student encoder (``bankbot distill``): layer choice, training, export and serving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.nlu.distill import STUDENT_VARIANT, distill, pick_layers, student_available, student_dir
from bot.nlu.encoder import EncoderUnavailable, make_encoder
from bot.nlu.onnx_encoder import ensure_exported, onnx_cache_dir

from .conftest import teacher_only

TEXTS = ["查一下我的余额", "信用卡账单什么时候出", "我想挂失银行卡", "转账手续费多少", "how do I reset my password",
         "what is the fee for a wire abroad", "my card was declined", "帮我把额度调高点", "积分可以换什么",
         "理财产品收益怎么样", "我要转人工", "xiugai mima", "張咭用唔到", "完了完了钱没了", "你好", "谢谢"] * 4


def test_layers_are_evenly_spaced_and_keep_the_last() -> None:
    assert pick_layers(12, 6) == [1, 3, 5, 7, 9, 11]
    assert pick_layers(12, 4) == [2, 5, 8, 11]
    assert pick_layers(12, 12) == list(range(12))
    assert pick_layers(12, 1) == [11]
    with pytest.raises(ValueError):
        pick_layers(12, 0)


@pytest.fixture(scope="module")
def student_models(teacher_models: Path) -> Path:
    """A models folder sharing the session's teacher, for the student encoder of these tests."""
    return teacher_models


def test_missing_student_is_a_clear_error(tmp_path: Path, student_models: Path) -> None:
    empty = teacher_only(student_models, tmp_path / "m")
    with pytest.raises(EncoderUnavailable, match="bankbot distill"):
        make_encoder("onnx-student", empty)


def test_distilled_student_moves_towards_the_teacher_and_serves_on_onnx(student_models: Path) -> None:
    import torch
    from transformers import BertModel

    report = distill(student_models, TEXTS, layers=2, epochs=6, batch_size=16, lr=3e-4, seed=3, log=lambda _: None)
    assert report.layers == [5, 11]
    assert report.steps == 24 and not report.stopped_by_budget
    assert report.cosine_after > report.cosine_before + 0.01
    assert student_available(student_models)
    saved = json.loads((student_dir(student_models) / "distill.json").read_text())
    assert saved["steps"] == 24

    enc = make_encoder("onnx-student", student_models, num_threads=1)
    assert onnx_cache_dir(student_models, "student").is_dir()
    vec = enc.encode(TEXTS[:16])
    assert vec.shape == (16, 384)
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-4)

    # the int8 ONNX student agrees with the saved torch student, and differs from the 12-layer teacher
    bert = BertModel.from_pretrained(student_dir(student_models), add_pooling_layer=False).eval()
    assert bert.config.num_hidden_layers == 2
    ids = [enc.token_ids(t) for t in TEXTS[:16]]  # type: ignore[attr-defined]
    ref = []
    with torch.inference_mode():
        for seq in ids:
            hidden = bert(input_ids=torch.tensor([seq])).last_hidden_state.mean(1)
            ref.append(torch.nn.functional.normalize(hidden, dim=-1)[0].numpy())
    cos = (np.array(ref) * vec).sum(1)
    assert cos.min() > 0.95, cos
    teacher = make_encoder("onnx", student_models, num_threads=1).encode(TEXTS[:16])
    assert (teacher * vec).sum(1).mean() < 0.999


def test_heads_trained_on_a_student_refuse_a_newer_student(student_models: Path, tmp_path: Path) -> None:
    """A model records the student it was trained on; re-distilling makes it ask for retraining."""
    from bot.config import load_settings
    from bot.nlu.distill import student_identity
    from bot.nlu.pipeline import NLUPipeline
    from bot.nlu.training import train_model

    if not student_available(student_models):
        distill(student_models, TEXTS, layers=2, epochs=1, batch_size=16, log=lambda _: None)
    data = tmp_path / "nlu.yml"
    data.write_text("""version: "3.1"
nlu:
- intent: check_balance
  metadata:
    category: inquiry
  examples: |
    - 查一下我的余额
    - 我卡里还有多少钱
    - 余额多少
    - what's my balance
    - how much money do I have
    - show my account balance
- intent: report_lost_card
  metadata:
    category: operation
  examples: |
    - 我的卡丢了
    - 挂失银行卡
    - 卡被偷了怎么办
    - I lost my card
    - my card was stolen
    - freeze my lost card
- intent: greet
  examples: |
    - 你好
    - 您好
    - 在吗
    - hello
    - hi there
    - good morning
""", encoding="utf-8")
    settings = load_settings(models_dir=str(student_models), encoder_backend="onnx-student", encoder_threads=1)
    first = student_identity(student_models)
    model = train_model(settings, [str(data)], [], str(tmp_path / "m"), external=False, epochs=3, log=lambda _: None)
    config = json.loads((model / "model.json").read_text())
    assert config["encoder"]["backend"] == "onnx-student" and config["encoder"]["identity"] == first
    assert NLUPipeline.from_settings(settings, model).parse("查一下余额")["intent"]["name"] == "check_balance"

    distill(student_models, TEXTS[:32], layers=2, epochs=1, batch_size=16, seed=5, log=lambda _: None)
    assert student_identity(student_models) not in ("", first)
    with pytest.raises(EncoderUnavailable, match="retrain"):
        NLUPipeline.from_settings(settings, model)


def test_student_export_carries_the_students_fingerprint(student_models: Path) -> None:
    """An ONNX export made from an older student is stale even when it was left in place."""
    from bot.nlu.distill import student_identity

    if not student_available(student_models):
        distill(student_models, TEXTS, layers=2, epochs=1, batch_size=16, log=lambda _: None)
    out = ensure_exported(student_models, STUDENT_VARIANT)
    stamp = out / "bankbot-cache.json"
    assert json.loads(stamp.read_text())["identity"] == student_identity(student_models) != ""
    made = stamp.stat().st_mtime_ns
    assert ensure_exported(student_models, STUDENT_VARIANT) == out and stamp.stat().st_mtime_ns == made
    stale = json.loads(stamp.read_text())
    stale["identity"] = "0" * 12
    stamp.write_text(json.dumps(stale))
    ensure_exported(student_models, STUDENT_VARIANT)
    assert json.loads(stamp.read_text())["identity"] == student_identity(student_models)
