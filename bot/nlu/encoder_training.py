"""Helpers shared by the two ways of training the encoder itself: ``bankbot distill`` and
``bankbot train --finetune``."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

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
