"""A bounded cache of encoder outputs for serving, keyed by the normalised text.

Customers send the same short texts again and again ("你好", "转人工", "查余额", "thanks"). Only texts
the model was trained on are admitted (their hashes are saved with the model as ``known_texts.npy``),
so the cache never holds what a customer wrote about themselves: a message with a name, a number or a
story is simply encoded every time. Least recently used entries go first once ``size`` is reached.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def text_key(text: str) -> int:
    """64-bit key of a normalised text (BLAKE2b)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def known_keys(texts: Iterable[str]) -> np.ndarray:
    """Sorted unique keys of ``texts`` (what a model saves as ``known_texts.npy``)."""
    return np.unique(np.array([text_key(t) for t in texts], dtype=np.uint64))


class ServeCache:
    """Wraps an encoder; embeddings of admitted texts are kept (LRU, at most ``size``)."""

    def __init__(self, encoder: Any, known: np.ndarray, size: int = 4096) -> None:
        """Cache ``encoder``'s outputs for texts whose key is in ``known``."""
        self.encoder = encoder
        self.dim = encoder.dim
        self.size = size
        self._known = frozenset(int(k) for k in known)
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        # the wrapped encoder's other attributes (tokenizer, token_ids, precision, ...)
        if name == "encoder":
            raise AttributeError(name)
        return getattr(self.encoder, name)

    def admits(self, text: str) -> bool:
        """Whether ``text`` may be cached (the model was trained on it)."""
        return text_key(text) in self._known

    def __len__(self) -> int:
        """Entries held."""
        return len(self._entries)

    def encode(self, texts: Sequence[str], batch_size: int = 32, prefix: str = "query: ") -> np.ndarray:
        """Embeddings of ``texts``; cached rows are reused, the rest are encoded in one batch."""
        if prefix != "query: ":
            return self.encoder.encode(texts, batch_size=batch_size, prefix=prefix)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo: list[int] = []
        with self._lock:
            for i, t in enumerate(texts):
                vec = self._entries.get(t)
                if vec is None:
                    todo.append(i)
                else:
                    self._entries.move_to_end(t)
                    out[i] = vec
            self.hits += len(texts) - len(todo)
            self.misses += len(todo)
        if todo:
            vecs = self.encoder.encode([texts[i] for i in todo], batch_size=batch_size)
            with self._lock:
                for i, vec in zip(todo, vecs, strict=True):
                    out[i] = vec
                    if self.size > 0 and self.admits(texts[i]):
                        self._entries[texts[i]] = np.array(vec, dtype=np.float32)
                        self._entries.move_to_end(texts[i])
                        while len(self._entries) > self.size:
                            self._entries.popitem(last=False)
        return out
