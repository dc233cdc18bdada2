"""Serving the trained head networks with numpy: the forward pass of :class:`~bot.nlu.heads.HeadNet`, no torch.

Training builds torch ``HeadNet`` s (:mod:`bot.nlu.heads`); a server only runs them forward, which needs
five arrays and a few lines of numpy, so a serve-only process does not load torch (about 220 MB). The
arrays are the net's state dict under its own key names (``bag.weight``, ``emb_mean``, ``emb_std``,
``trunk.0.weight``, ``trunk.0.bias``, ``heads.<name>.weight`` / ``.bias``, ``temperature``, ``bias_shift``).

On disk a net is two files: ``<name>.npz`` (uncompressed; every array but the n-gram table) and
``<name>.bag.npy`` (the 131072 x 96 float32 n-gram table, 50 MB), which is memory-mapped read-only: no copy
is made at load time, only the pages of n-grams that messages contain become resident, and they are
file-backed (the kernel can drop them, processes serving the same model share them). Hashed n-grams are
spread over the whole table, so traffic makes most of it resident soon (measured: 14 MB of the two tables
at ready, 68 MB after 200 parses; ``benchmarks/server_memory.py``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .mapped import map_npy

BAG_KEY = "bag.weight"
_SQRT1_2 = float(np.sqrt(0.5))


@dataclass
class HeadSpec:
    """One output of the network."""

    name: str
    size: int
    kind: str  # "softmax" | "sigmoid"


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, ``x * Phi(x)`` with the error function (torch's ``nn.GELU()`` default, not the tanh form).

    numpy has no ``erf``; ``Phi(x) = erfc(-x / sqrt 2) / 2`` uses the Chebyshev fit of ``erfc`` from
    Numerical Recipes (``erfcc``, relative error below 1.2e-7 everywhere), evaluated in float64, so the
    result is as close to the true GELU as float32 can hold.
    """
    z = -x.astype(np.float64) * _SQRT1_2
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc_a = t * np.exp(-a * a + poly)
    erfc_z = np.where(z >= 0, erfc_a, 2.0 - erfc_a)
    return (0.5 * x * erfc_z).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for large negative ``z``."""
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z)))
                    ).astype(np.float32)


class HeadRuntime:
    """A trained head network's forward pass and calibration in numpy (float32)."""

    def __init__(self, specs: Sequence[HeadSpec], state: Mapping[str, np.ndarray]) -> None:
        """Take the arrays of ``state`` (a HeadNet state dict as numpy arrays; the bag table may be memory-mapped)."""
        self.specs = list(specs)
        self.bag = state[BAG_KEY]
        self.emb_mean = np.asarray(state["emb_mean"], dtype=np.float32)
        self.emb_std = np.asarray(state["emb_std"], dtype=np.float32)
        self.trunk_w = np.asarray(state["trunk.0.weight"], dtype=np.float32)
        self.trunk_b = np.asarray(state["trunk.0.bias"], dtype=np.float32)
        self.heads = {s.name: (np.asarray(state[f"heads.{s.name}.weight"], dtype=np.float32),
                               np.asarray(state[f"heads.{s.name}.bias"], dtype=np.float32)) for s in self.specs}
        self.temperature = np.asarray(state["temperature"], dtype=np.float32)
        self.bias_shift = np.asarray(state["bias_shift"], dtype=np.float32)
        for s in self.specs:
            if self.heads[s.name][0].shape != (s.size, self.trunk_w.shape[0]):
                raise ValueError(f"head {s.name!r} has shape {self.heads[s.name][0].shape}, expected "
                                 f"({s.size}, {self.trunk_w.shape[0]})")

    def state(self) -> dict[str, np.ndarray]:
        """The arrays under HeadNet's state dict keys (what :meth:`save` writes)."""
        out = {BAG_KEY: self.bag, "emb_mean": self.emb_mean, "emb_std": self.emb_std,
               "trunk.0.weight": self.trunk_w, "trunk.0.bias": self.trunk_b}
        for name, (w, b) in self.heads.items():
            out[f"heads.{name}.weight"], out[f"heads.{name}.bias"] = w, b
        out["temperature"], out["bias_shift"] = self.temperature, self.bias_shift
        return out

    def bag_mean(self, bags: Sequence[Sequence[int]]) -> np.ndarray:
        """Mean n-gram vector per message, like ``nn.EmbeddingBag(mode="mean")``: an empty bag gives zeros."""
        lengths = np.fromiter((len(b) for b in bags), dtype=np.int64, count=len(bags))
        out = np.zeros((len(bags), self.bag.shape[1]), dtype=np.float32)
        full = lengths > 0
        if not full.any():
            return out
        ids = np.fromiter((i for b in bags for i in b), dtype=np.int64, count=int(lengths.sum()))
        rows = np.asarray(self.bag[ids], dtype=np.float32)
        starts = np.zeros(len(bags), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        # reduceat over the non-empty bags only: their starts are strictly increasing and inside ``rows``
        out[full] = np.add.reduceat(rows, starts[full], axis=0) / lengths[full, None].astype(np.float32)
        return out

    def logits(self, emb: np.ndarray, bags: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Raw (uncalibrated) logits per head for ``emb`` (N, dim) and one bucket-id list per message."""
        x = np.concatenate([(emb.astype(np.float32) - self.emb_mean) / self.emb_std, self.bag_mean(bags)], axis=1)
        h = gelu(x @ self.trunk_w.T + self.trunk_b)
        return {name: h @ w.T + b for name, (w, b) in self.heads.items()}

    def calibrated(self, logits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Probabilities after temperature scaling (softmax) or temperature + shift (sigmoid)."""
        out = {}
        for i, spec in enumerate(self.specs):
            z = logits[spec.name] / self.temperature[i]
            out[spec.name] = softmax(z) if spec.kind == "softmax" else sigmoid(z + self.bias_shift[: spec.size])
        return out

    def probabilities(self, emb: np.ndarray, bags: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Calibrated probabilities per head."""
        return self.calibrated(self.logits(emb, bags))

    # ------------------------------------------------------------------ files
    @staticmethod
    def files(directory: str | Path, name: str) -> tuple[Path, Path]:
        """The two files of net ``name`` in ``directory``: the dense arrays and the n-gram table."""
        d = Path(directory)
        return d / f"{name}.npz", d / f"{name}.bag.npy"

    @staticmethod
    def saved(directory: str | Path, name: str) -> bool:
        """Whether ``directory`` holds both files of net ``name``."""
        return all(p.is_file() for p in HeadRuntime.files(directory, name))

    def save(self, directory: str | Path, name: str) -> None:
        """Write ``<name>.npz`` and ``<name>.bag.npy`` into ``directory``.

        Each file is written beside its final name and renamed over it, so a process that has the old table
        memory-mapped keeps reading the old file instead of seeing it truncated.
        """
        dense_path, bag_path = self.files(directory, name)
        dense: dict[str, Any] = {k: v for k, v in self.state().items() if k != BAG_KEY}
        _replace(dense_path, lambda f: np.savez(f, **dense))
        _replace(bag_path, lambda f: np.save(f, np.asarray(self.bag, dtype=np.float32)))

    @classmethod
    def load(cls, directory: str | Path, name: str, specs: Sequence[HeadSpec]) -> "HeadRuntime":
        """Read net ``name`` from ``directory``; the n-gram table is memory-mapped, not read."""
        dense_path, bag_path = cls.files(directory, name)
        with np.load(dense_path, allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}
        state[BAG_KEY] = map_npy(bag_path)
        return cls(specs, state)


def _replace(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file beside it (created with the usual mode) and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
