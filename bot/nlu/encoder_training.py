"""Helpers shared by the two ways of training the encoder itself: ``bankbot distill`` and
``bankbot train --finetune``."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def pad_batch(seqs: Sequence[Sequence[int]], idx: Sequence[int], pad: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Token ids and attention mask of ``seqs[i] for i in idx``, padded with ``pad`` to the longest."""
    import torch

    width = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), width), pad, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        ids[row, : len(seqs[i])] = torch.tensor(seqs[i])
        mask[row, : len(seqs[i])] = 1
    return ids, mask


def pooled_embedding(model: "torch.nn.Module", ids: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    """The masked mean of ``model``'s last hidden state, L2-normalised: what the served ONNX graph computes."""
    import torch

    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1.0), dim=-1)


def length_chunks(seqs: Sequence[Sequence[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding); the caller shuffles their order every epoch."""
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), rng.random()))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def truncate(seqs: Sequence[Sequence[int]], max_tokens: int) -> list[list[int]]:
    """Sequences cut to ``max_tokens``, keeping the closing special token."""
    return [list(s) if len(s) <= max_tokens else [*s[: max_tokens - 1], s[-1]] for s in seqs]


#: files of the converted teacher a derived encoder (student, fine-tuned) shares with it
SHARED_FILES = ("tokenizer.json", "tokenizer.unigram.npz", "normalization.json", "special_tokens.json")


@dataclass(frozen=True)
class DerivedEncoder:
    """An encoder made from the teacher by one of our commands, saved as a transformers model with a report."""

    #: folder name under ``<models_dir>/encoder/``
    name: str
    #: the JSON report written beside the model (its hash is the encoder's fingerprint)
    report_file: str
    #: the command that makes it (named in errors)
    command: str

    def dir(self, models_dir: str | Path) -> Path:
        """Where it is saved under ``models_dir``."""
        return Path(models_dir) / "encoder" / self.name

    def identity(self, models_dir: str | Path) -> str:
        """A short fingerprint (of the report); ``""`` when there is none. Models trained on the encoder record
        it, so heads are never served on an encoder re-made after them."""
        path = self.dir(models_dir) / self.report_file
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else ""

    def available(self, models_dir: str | Path) -> bool:
        """Whether the command has produced it under ``models_dir``."""
        return bool(self.identity(models_dir))


def save_derived(model: Any, teacher_src: Path, out: Path, report_file: str, report: dict[str, Any],
                 stale_export: Path) -> None:
    """Save ``model`` with the teacher's tokenizer files and ``report`` as ``out`` (atomically, through a
    temporary folder), and drop ``stale_export``: an ONNX export of the previous encoder."""
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    for name in SHARED_FILES:
        if (teacher_src / name).is_file():
            shutil.copy(teacher_src / name, tmp / name)
    (tmp / report_file).write_text(json.dumps(report, indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    shutil.rmtree(stale_export, ignore_errors=True)
