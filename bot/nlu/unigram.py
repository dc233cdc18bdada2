"""e5's SentencePiece Unigram tokenizer in plain Python, so that serving does not load HF ``tokenizers``.

It reads the ``tokenizer.json`` that :mod:`bot.nlu.e5_convert` writes and reproduces what HF
``tokenizers`` does with it, id for id:

- no normaliser (``E5Text.normalize`` applies the reference engine's table before this);
- ``Metaspace`` pre-tokenizer: every ``" "`` becomes ``"▁"``, a ``"▁"`` is prepended unless the text
  starts with one (``prepend_scheme`` ``always``/``first``; ``never`` prepends nothing), and with
  ``split`` the text is cut before every ``"▁"`` (each one starts a new word);
- ``Unigram`` model, per word: the Viterbi best path over the pieces (sum of log-probability scores;
  ties keep the path found first, pieces tried shortest first from each position). A character that no
  one-character piece covers may be taken as ``unk`` with score ``min(scores) - 10``; consecutive unknowns
  are fused into one ``unk`` id.

Parsing the 17 MB JSON costs hundreds of MB at peak, so the pieces and scores are cached once in a compact
``tokenizer.unigram.npz`` beside it (written atomically, rebuilt when the JSON's content changes) and later
loads read only that. Any other tokenizer.json configuration is refused (:class:`UnsupportedTokenizer`)
rather than tokenized differently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: layout of the ``.npz`` cache; bump to have every cache rebuilt
CACHE_FORMAT = 1
CACHE_NAME = "tokenizer.unigram.npz"
#: HF ``tokenizers`` (after SentencePiece) scores an unknown character this far below the worst piece
UNK_PENALTY = 10.0
_PREPEND_SCHEMES = ("always", "first", "never")
#: the cache joins the pieces with the first of these that no piece contains (a split then needs no offsets)
_SEPARATORS = ("\n", "\x00", "\x1f")


class UnsupportedTokenizer(ValueError):
    """The tokenizer.json uses something this implementation does not reproduce."""


def cache_path(tokenizer_json: str | Path) -> Path:
    """Where the compact cache of ``tokenizer_json`` lives (same folder)."""
    return Path(tokenizer_json).with_name(CACHE_NAME)


def _digest(path: Path) -> str:
    """SHA-256 of a file, read in chunks (the JSON is never held whole for this)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class UnigramTokenizer:
    """Token ids of a Metaspace + Unigram tokenizer, identical to HF ``tokenizers``' ``encode(...).ids``."""

    def __init__(self, pieces: list[str], scores: Sequence[float], unk_id: int | None, replacement: str = "\u2581",
                 prepend_scheme: str = "always", split: bool = True) -> None:
        """Build from the vocabulary (``pieces[i]`` has id ``i`` and log-probability ``scores[i]``)."""
        if len(pieces) != len(scores) or not pieces:
            raise UnsupportedTokenizer("the vocabulary is empty or its scores don't match its pieces")
        if unk_id is not None and not 0 <= unk_id < len(pieces):
            raise UnsupportedTokenizer(f"unk_id {unk_id} is outside the vocabulary")
        if prepend_scheme not in _PREPEND_SCHEMES or len(replacement) != 1:
            raise UnsupportedTokenizer(f"Metaspace replacement {replacement!r} / prepend_scheme {prepend_scheme!r}")
        self.pieces = pieces
        #: a flat array of doubles: 8 bytes a piece instead of a float object's 32
        self.scores = scores if isinstance(scores, array) else array("d", scores)
        self.unk_id = unk_id
        self.replacement = replacement
        self.prepend_scheme = prepend_scheme
        self.prepend = prepend_scheme != "never"
        self.split = split
        # a later duplicate of a piece wins, as in HF's piece -> id map
        self._ids: dict[str, int] = {p: i for i, p in enumerate(pieces) if p}
        lengths: dict[str, set[int]] = {}
        for p in self._ids:
            lengths.setdefault(p[0], set()).add(len(p))
        #: the lengths of the pieces that start with a character, shortest first (the trie's order); the
        #: 14k characters share a few hundred distinct tuples
        shared: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._lengths: dict[str, tuple[int, ...]] = {}
        for c, ls in lengths.items():
            key = tuple(sorted(ls))
            self._lengths[c] = shared.setdefault(key, key)
        self._unk_score = min(scores) - UNK_PENALTY

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_json(cls, path: str | Path) -> UnigramTokenizer:
        """Parse a HF ``tokenizer.json`` (refusing configurations this class does not reproduce)."""
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**_config(spec), **_vocab(spec["model"]))

    @classmethod
    def load(cls, path: str | Path) -> UnigramTokenizer:
        """The tokenizer of ``path`` (a tokenizer.json), through its ``.npz`` cache, built first if missing/stale.

        A folder that can't be written only costs the cache: the tokenizer is then built from the JSON.
        """
        src = Path(path)
        digest = _digest(src)
        cached = cls._read_cache(cache_path(src), digest)
        if cached is not None:
            return cached
        tok = cls.from_json(src)
        try:
            tok.save_cache(cache_path(src), digest)
        except OSError as exc:
            log.warning("can't write the tokenizer cache %s (%s); it is built again at each start",
                        cache_path(src), exc)
        return tok

    @classmethod
    def _read_cache(cls, path: Path, digest: str) -> UnigramTokenizer | None:
        """The cached tokenizer, or ``None`` if the cache is missing, unreadable or not for ``digest``."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes().decode("utf-8"))
                if meta.get("format") != CACHE_FORMAT or meta.get("source_sha256") != digest:
                    return None
                pieces = data["text"].tobytes().decode("utf-8").split(meta["separator"])
                scores = array("d", data["scores"].astype(np.float64).tobytes())
            cfg = meta["config"]
            return cls(pieces, scores, cfg["unk_id"], cfg["replacement"], cfg["prepend_scheme"], cfg["split"])
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            log.warning("tokenizer cache %s is unreadable (%s); rebuilding it", path, exc)
            return None

    def save_cache(self, path: str | Path, source_sha256: str) -> None:
        """Write the compact cache atomically (a temporary file in the same folder, then a rename)."""
        path = Path(path)
        sep = next((c for c in _SEPARATORS if not any(c in p for p in self.pieces)), None)
        if sep is None:
            raise UnsupportedTokenizer("every separator candidate occurs in some piece")
        meta = {"format": CACHE_FORMAT, "source_sha256": source_sha256, "separator": sep,
                "config": {"unk_id": self.unk_id, "replacement": self.replacement,
                           "prepend_scheme": self.prepend_scheme, "split": self.split}}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, text=np.frombuffer(sep.join(self.pieces).encode("utf-8"), dtype=np.uint8),
                         scores=np.asarray(self.scores, dtype="<f8"),
                         meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8))
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users of the models folder
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ tokenizing
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens), as HF ``Tokenizer.encode(text, add_special_tokens=False)``."""
        if not text:
            return []
        rep = self.replacement
        text = text.replace(" ", rep)
        if self.prepend and not text.startswith(rep):
            text = rep + text
        if not self.split:
            return self._word_ids(text)
        ids: list[int] = []
        n, start = len(text), 0
        while start < n:
            end = text.find(rep, start + 1)
            if end < 0:
                end = n
            ids += self._word_ids(text[start:end])
            start = end
        return ids

    def _word_ids(self, word: str) -> list[int]:
        """Viterbi segmentation of one pre-tokenized word into piece ids (unknowns fused)."""
        ids_of, scores, lengths, unk_id = self._ids, self.scores, self._lengths, self.unk_id
        n = len(word)
        best = [0.0] * (n + 1)  # best path score ending at each position
        start_of = [-1] * (n + 1)  # where the last piece of that path starts (-1: not reached yet)
        piece_of = [0] * (n + 1)  # its id
        for i in range(n):
            base = best[i]
            single = False
            for size in lengths.get(word[i], ()):
                j = i + size
                if j > n:
                    break
                pid = ids_of.get(word[i:j])
                if pid is None:
                    continue
                score = scores[pid] + base
                if start_of[j] < 0 or score > best[j]:
                    best[j], start_of[j], piece_of[j] = score, i, pid
                if size == 1:
                    single = True
            if not single:
                if unk_id is None:
                    raise ValueError(f"{word[i]!r} is not in the vocabulary and the tokenizer has no unk id")
                score = self._unk_score + base
                if start_of[i + 1] < 0 or score > best[i + 1]:
                    best[i + 1], start_of[i + 1], piece_of[i + 1] = score, i, unk_id
        out: list[int] = []
        j, unk_end = n, -1
        while j > 0:
            i, pid = start_of[j], piece_of[j]
            if pid == unk_id:
                if unk_end < 0:
                    unk_end = j
            else:
                if unk_end >= 0:
                    out.append(self._fused_unk(word[j:unk_end]))
                    unk_end = -1
                out.append(pid)
            j = i
        if unk_end >= 0:
            out.append(self._fused_unk(word[:unk_end]))
        out.reverse()
        return out

    def _fused_unk(self, span: str) -> int:
        """Id of a run of unknowns fused into one token: looked up like any token string, else ``unk``."""
        pid = self._ids.get(span)
        return pid if pid is not None else self.unk_id  # type: ignore[return-value]


def _config(spec: dict[str, Any]) -> dict[str, Any]:
    """The Metaspace settings of a tokenizer.json, refusing whatever this module does not reproduce."""
    if spec.get("normalizer") is not None:
        raise UnsupportedTokenizer(f"normalizer {spec['normalizer'].get('type')!r} is not supported")
    if spec.get("added_tokens"):
        raise UnsupportedTokenizer("added tokens are not supported")
    if spec.get("truncation") is not None or spec.get("padding") is not None:
        raise UnsupportedTokenizer("truncation/padding in tokenizer.json are not supported")
    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") != "Metaspace" or "prepend_scheme" not in pre:
        raise UnsupportedTokenizer(f"pre_tokenizer {pre.get('type')!r} is not supported (only Metaspace)")
    return {"replacement": pre.get("replacement", "\u2581"), "prepend_scheme": pre["prepend_scheme"],
            "split": bool(pre.get("split", True))}


def _vocab(model: dict[str, Any]) -> dict[str, Any]:
    """Pieces, scores and unk id of a tokenizer.json ``Unigram`` model."""
    if model.get("type") != "Unigram":
        raise UnsupportedTokenizer(f"model {model.get('type')!r} is not supported (only Unigram)")
    if model.get("byte_fallback"):
        raise UnsupportedTokenizer("Unigram byte_fallback is not supported")
    vocab = model["vocab"]
    return {"pieces": [str(p) for p, _ in vocab], "scores": [float(s) for _, s in vocab],
            "unk_id": model.get("unk_id")}
