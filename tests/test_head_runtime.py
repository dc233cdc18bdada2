"""The numpy head runtime against the torch HeadNet it serves, the model files, and a torch-free serving process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bot.nlu.data import load_nlu
from bot.nlu.head_runtime import HeadRuntime, HeadSpec, gelu
from bot.nlu.heads import HeadNet, TrainConfig, pack_bags, to_runtime, train_heads
from bot.nlu.model import CATEGORY_LABELS, NLUModel, featurize

from .conftest import ROOT

#: largest difference allowed between a numpy and a torch probability (float32 throughout)
PROB_TOL = 1e-4


def _torch_probs(net: HeadNet, emb: np.ndarray, bags: list[list[int]]) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        ids, offs = pack_bags(bags)
        return {k: v.numpy() for k, v in net.calibrated(net(torch.from_numpy(emb), ids, offs)).items()}


def _assert_agree(net: HeadNet, runtime: HeadRuntime, emb: np.ndarray, bags: list[list[int]]) -> dict[str, float]:
    """numpy and torch probabilities within PROB_TOL, same argmax (softmax) / same decisions (sigmoid)."""
    want = _torch_probs(net, emb, bags)
    got = runtime.probabilities(emb, bags)
    diffs = {}
    for spec in net.specs:
        a, b = got[spec.name], want[spec.name]
        assert a.dtype == np.float32 and a.shape == b.shape
        diffs[spec.name] = float(np.abs(a - b).max())
        assert diffs[spec.name] <= PROB_TOL, (spec.name, diffs[spec.name])
        if spec.kind == "softmax":
            assert (a.argmax(1) == b.argmax(1)).all(), spec.name
        else:
            assert ((a > 0.5) == (b > 0.5)).all(), spec.name
    return diffs


def _torch_net(model_dir: Path, name: str, specs: list[HeadSpec], cfg: TrainConfig) -> HeadNet:
    net = HeadNet(384, specs, cfg)
    net.load_state_dict(torch.load(model_dir / f"{name}.pt", weights_only=True))
    return net.eval()


def _specs(config: dict) -> dict[str, list[HeadSpec]]:
    return {"intent": [HeadSpec("intent", len(config["intents"]), "softmax"),
                       HeadSpec("category", len(CATEGORY_LABELS), "softmax")],
            "care": [HeadSpec("care", len(config["care_labels"]), "sigmoid")]}


def test_gelu_and_empty_bags_match_torch() -> None:
    """Exact-erf GELU, and EmbeddingBag's mean (zeros for an empty bag) on an untrained net."""
    x = np.linspace(-12, 12, 100_001, dtype=np.float32)
    assert np.abs(gelu(x) - torch.nn.functional.gelu(torch.from_numpy(x)).numpy()).max() <= 2e-6
    torch.manual_seed(0)
    specs = [HeadSpec("a", 7, "softmax"), HeadSpec("b", 3, "sigmoid")]
    net = HeadNet(384, specs, TrainConfig()).eval()
    rng = np.random.default_rng(0)
    emb = rng.normal(0, 1, (6, 384)).astype(np.float32)
    bags = [[], [5], [1, 1, 131071], [], list(rng.integers(0, 131072, 40)), []]
    runtime = to_runtime(net)
    assert not runtime.bag_mean([[]]).any()
    _assert_agree(net, runtime, emb, bags)
    _assert_agree(net, runtime, emb[:1], [[]])
    assert runtime.probabilities(emb[:0], [])["a"].shape == (0, 7)


@pytest.fixture(scope="module")
def model_copy(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session model, with only the files an older bankbot wrote (``.pt`` nets, no numpy files)."""
    out = tmp_path_factory.mktemp("old-model") / "model"
    out.mkdir()
    for name in ("model.json", "metadata.json", "known_texts.npy", "intent.pt", "care.pt"):
        shutil.copy(trained_model / name, out / name)
    return out


@pytest.fixture(scope="module")
def test_features(pipeline):  # type: ignore[no-untyped-def]
    """Model inputs for data/test and a few odd messages."""
    texts = [e.text for e in load_nlu(ROOT / "data" / "test")] + ["🙂", "???", "我的card被lock了 help"]
    return featurize(pipeline.encoder, texts)


def test_old_pt_only_model_loads_and_gets_numpy_files(model_copy: Path, test_features) -> None:  # type: ignore[no-untyped-def]
    """A model directory from before the numpy files: converted through torch once, written beside the .pt."""
    assert not HeadRuntime.saved(model_copy, "intent")
    converted = NLUModel.load(model_copy)
    assert HeadRuntime.saved(model_copy, "intent") and HeadRuntime.saved(model_copy, "care")
    again = NLUModel.load(model_copy)  # now from the numpy files, table memory-mapped
    assert isinstance(again.intent_net.bag, np.ndarray) and not again.intent_net.bag.flags.writeable
    a, b = converted.predict(test_features), again.predict(test_features)
    assert set(a) == {"intent", "category", "care"}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_numpy_matches_torch_on_the_trained_model(model_copy: Path, test_features) -> None:  # type: ignore[no-untyped-def]
    """The served (numpy) nets against the same nets in torch, on every held-out message."""
    config = json.loads((model_copy / "model.json").read_text())
    cfg = TrainConfig(**config["train"])
    model = NLUModel.load(model_copy)
    specs = _specs(config)
    diffs = {}
    for name, runtime in (("intent", model.intent_net), ("care", model.care_net)):
        assert runtime is not None
        diffs |= _assert_agree(_torch_net(model_copy, name, specs[name], cfg), runtime, test_features.emb,
                               test_features.bags)
    print("max |numpy - torch| per head:", diffs)


def test_numpy_matches_torch_on_a_freshly_trained_net(test_features) -> None:  # type: ignore[no-untyped-def]
    """A net trained now (a few epochs on the held-out features), served in numpy."""
    labels = np.arange(len(test_features.texts)) % 5
    targets = {"x": labels.astype(np.int64),
               "y": np.stack([labels == 0, labels == 1], axis=1).astype(np.float32)}
    specs = [HeadSpec("x", 5, "softmax"), HeadSpec("y", 2, "sigmoid")]
    net = train_heads(test_features.emb, test_features.bags, targets, np.ones(len(labels), np.float32), specs,
                      TrainConfig(epochs=3))
    net.temperature.copy_(torch.tensor([1.7, 0.8]))
    net.bias_shift.copy_(torch.tensor([0.3, -0.2]))
    print("max |numpy - torch| per head:", _assert_agree(net, to_runtime(net), test_features.emb, test_features.bags))


def test_saved_model_round_trip(pipeline, tmp_path: Path, test_features) -> None:  # type: ignore[no-untyped-def]
    """save() writes the numpy files and the .pt files; both hold the same nets."""
    out = pipeline.model.save(tmp_path / "m")
    for name in ("intent.npz", "intent.bag.npy", "care.npz", "care.bag.npy", "intent.pt", "care.pt"):
        assert (out / name).is_file(), name
    config = json.loads((out / "model.json").read_text())
    loaded = NLUModel.load(out)
    assert loaded.care_net is not None
    cfg = TrainConfig(**config["train"])
    _assert_agree(_torch_net(out, "intent", _specs(config)["intent"], cfg), loaded.intent_net, test_features.emb,
                  test_features.bags)


SERVE_ONLY = """
import sys
from bot.config import load_settings
from bot.nlu.pipeline import NLUPipeline
import bot.server  # everything the server process imports
pipe = NLUPipeline.from_settings(load_settings(serve_encoder_backend="onnx"), sys.argv[1])
r = pipe.parse("我的卡丢了，赶紧帮我挂失")
print(r["intent"]["name"], "torch" in sys.modules, "thinc" in sys.modules)
"""


def test_serve_only_process_does_not_load_torch(model_copy: Path, model_env: dict[str, str]) -> None:
    """Loading a model and parsing with the onnx backend, in a fresh process: spaCy is there, torch is not."""
    NLUModel.load(model_copy)  # the numpy files exist (an old model is converted on its first load)
    proc = subprocess.run([sys.executable, "-c", SERVE_ONLY, str(model_copy)], cwd=ROOT,
                          env={**os.environ, **model_env}, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert proc.stdout.decode().split() == ["report_lost_card", "False", "True"]


def test_running_server_has_no_torch(bot_server) -> None:  # type: ignore[no-untyped-def]
    """The real ``bankbot run`` process has not mapped libtorch."""
    assert bot_server.proc is not None
    assert "libtorch" not in Path(f"/proc/{bot_server.proc.pid}/maps").read_text()


def test_torch_still_loads_after_spacy() -> None:
    """Hiding torch from thinc lasts only for spaCy's import: torch and training work afterwards."""
    code = ("import sys; from bot.nlu.tokenizer import tokenize; tokenize('我的卡丢了', 'zh');"
            "assert 'torch' not in sys.modules; import torch, thinc.compat; print(thinc.compat.has_torch,"
            " float(torch.ones(3).sum()))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert proc.stdout.decode().split() == ["False", "3.0"]
