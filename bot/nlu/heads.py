"""Torch classification heads on top of the (frozen) e5 sentence embedding.

One network shape serves every model: the standardised e5 embedding is concatenated with a
fastText-style bag of hashed n-grams (:mod:`bot.nlu.features`), passed through one hidden layer,
and read out by one or more heads. A ``softmax`` head predicts one class (intent, category); a
``sigmoid`` head predicts independent labels (care: elderly / distressed / positive).
Confidences are calibrated by temperature scaling on a held-out slice of the training data.

Serving doesn't use this module: :func:`to_runtime` hands a trained net to :mod:`bot.nlu.head_runtime`,
which runs the same forward pass in numpy.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .features import N_BUCKETS
from .head_runtime import HeadRuntime, HeadSpec

# Adagrad rebuilds the bag's sparse gradient without torch's invariant checks and says so once; the
# gradient is torch's own, so the note is noise in the training log
warnings.filterwarnings("ignore", message="Sparse invariant checks", category=UserWarning)
_init_lock = threading.Lock()


@dataclass
class TrainConfig:
    """Hyper-parameters of head training (documented defaults)."""

    hidden: int = 384
    bag_dim: int = 96
    dropout: float = 0.25
    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    #: optimiser of the hashed n-gram table (row-sparse updates): ``sparse_adam`` or ``adagrad``
    bag_optimizer: str = "adagrad"
    #: learning rate of the n-gram table (``adagrad`` wants about 0.1)
    bag_lr: float = 0.1
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    seed: int = 42


class HeadNet(nn.Module):
    """Embedding + hashed n-gram bag -> hidden layer -> named heads."""

    emb_mean: torch.Tensor
    emb_std: torch.Tensor
    temperature: torch.Tensor
    bias_shift: torch.Tensor

    def __init__(self, emb_dim: int, specs: list[HeadSpec], cfg: TrainConfig) -> None:
        """Build the layers for ``specs``."""
        super().__init__()
        self.specs = specs
        self.bag = nn.EmbeddingBag(N_BUCKETS, cfg.bag_dim, mode="mean", sparse=True)
        nn.init.normal_(self.bag.weight, std=0.05)
        self.register_buffer("emb_mean", torch.zeros(emb_dim))
        self.register_buffer("emb_std", torch.ones(emb_dim))
        self.trunk = nn.Sequential(nn.Linear(emb_dim + cfg.bag_dim, cfg.hidden), nn.GELU())
        self.dropout = cfg.dropout
        #: the training run's own random generator for dropout (several heads may train at once in threads)
        self.generator: torch.Generator | None = None
        self.heads = nn.ModuleDict({s.name: nn.Linear(cfg.hidden, s.size) for s in specs})
        self.register_buffer("temperature", torch.ones(len(specs)))
        self.register_buffer("bias_shift", torch.zeros(sum(s.size for s in specs if s.kind == "sigmoid") or 1))

    def forward(self, emb: torch.Tensor, bag_ids: torch.Tensor, bag_offsets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw (uncalibrated) logits per head."""
        x = torch.cat([(emb - self.emb_mean) / self.emb_std, self.bag(bag_ids, bag_offsets)], dim=-1)
        h = self.trunk(x)
        if self.training and self.dropout > 0:
            keep = torch.empty_like(h).bernoulli_(1.0 - self.dropout, generator=self.generator)
            h = h * keep / (1.0 - self.dropout)
        return {name: head(h) for name, head in self.heads.items()}

    def calibrated(self, logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Probabilities after temperature scaling (softmax) or temperature + shift (sigmoid)."""
        out = {}
        for i, spec in enumerate(self.specs):
            z = logits[spec.name] / self.temperature[i]
            if spec.kind == "softmax":
                out[spec.name] = torch.softmax(z, dim=-1)
            else:
                out[spec.name] = torch.sigmoid(z + self.bias_shift[: spec.size])
        return out


def to_runtime(net: HeadNet) -> HeadRuntime:
    """The numpy form of a trained ``net`` (copies of its arrays, independent of the torch net)."""
    return HeadRuntime(net.specs, {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()})


class PackedBags:
    """All examples' bucket ids flattened once, so that a batch is cut out with array indexing."""

    def __init__(self, bags: list[list[int]]) -> None:
        """Flatten ``bags`` (one list of bucket ids per example)."""
        self.lengths = np.fromiter((len(b) for b in bags), dtype=np.int64, count=len(bags))
        self.starts = np.zeros(len(bags), dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=self.starts[1:])
        self.ids = np.fromiter((x for b in bags for x in b), dtype=np.int64, count=int(self.lengths.sum()))

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """EmbeddingBag's ``(ids, offsets)`` for the examples ``idx``."""
        lengths = self.lengths[idx]
        offsets = np.zeros(len(idx), dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        # position of every id of the batch in the flat array: its example's start + its rank inside it
        rank = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(offsets, lengths)
        flat = np.repeat(self.starts[idx], lengths) + rank
        return torch.from_numpy(self.ids[flat]), torch.from_numpy(offsets)


def pack_bags(bags: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten per-example bucket lists into EmbeddingBag's ``(ids, offsets)``."""
    return PackedBags(bags).batch(np.arange(len(bags)))


def _loss(spec: HeadSpec, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
          smoothing: float) -> torch.Tensor:
    if spec.kind == "softmax":
        valid = target >= 0
        if not valid.any():
            return logits.sum() * 0.0
        per = nn.functional.cross_entropy(logits[valid], target[valid], reduction="none",
                                          label_smoothing=smoothing)
        return (per * weight[valid]).sum() / weight[valid].sum()
    valid = ~torch.isnan(target).any(dim=-1)
    if not valid.any():
        return logits.sum() * 0.0
    per = nn.functional.binary_cross_entropy_with_logits(logits[valid], target[valid], reduction="none").mean(-1)
    return (per * weight[valid]).sum() / weight[valid].sum()


def train_heads(
    emb: np.ndarray,
    bags: list[list[int]],
    targets: dict[str, np.ndarray],
    weights: np.ndarray,
    specs: list[HeadSpec],
    cfg: TrainConfig,
    progress: Callable[[int, float], None] | None = None,
) -> HeadNet:
    """Train a :class:`HeadNet`. ``targets[name]``: int labels (-1 = unknown) or float matrix (NaN = unknown)."""
    with _init_lock:  # the initial weights come from torch's global generator
        torch.manual_seed(cfg.seed)
        net = HeadNet(emb.shape[1], specs, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    net.generator = gen
    net.emb_mean.copy_(torch.from_numpy(emb.mean(0)))
    net.emb_std.copy_(torch.from_numpy(emb.std(0) + 1e-4))
    emb_t = torch.from_numpy(emb)
    tgt = {k: torch.from_numpy(v) for k, v in targets.items()}
    w_t = torch.from_numpy(weights.astype(np.float32))
    dense = [p for n, p in net.named_parameters() if not n.startswith("bag.")]
    opt = torch.optim.AdamW(dense, lr=cfg.lr, weight_decay=cfg.weight_decay)
    bag_params = list(net.bag.parameters())
    opt_bag: torch.optim.Optimizer = (
        torch.optim.Adagrad(bag_params, lr=cfg.bag_lr) if cfg.bag_optimizer == "adagrad"
        else torch.optim.SparseAdam(bag_params, lr=cfg.bag_lr)
    )
    packed = PackedBags(bags)
    n = len(emb)
    steps = cfg.epochs * math.ceil(n / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 1), pct_start=0.1)
    net.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            ids, offs = packed.batch(idx.numpy())
            logits = net(emb_t[idx], ids, offs)
            loss = sum(
                _loss(s, logits[s.name], tgt[s.name][idx], w_t[idx], cfg.label_smoothing) for s in specs
            )
            opt.zero_grad()
            opt_bag.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            opt.step()
            opt_bag.step()
            sched.step()
            total += float(loss.detach()) * len(idx)  # type: ignore[union-attr]
        if progress:
            progress(epoch + 1, total / n)
    net.eval()
    net.generator = None
    return net


def train_heads_together(jobs: list[Callable[[], HeadNet]]) -> list[HeadNet]:
    """Run independent head trainings at the same time, one thread and one torch thread each.

    The heads are small, so one torch thread per training keeps the cores busier than two trainings one
    after the other with two threads each. Results don't depend on the order: each training seeds its own
    generator and draws its initial weights under a lock.
    """
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers < 2:
        return [job() for job in jobs]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heads") as pool:
            return [f.result() for f in [pool.submit(job) for job in jobs]]
    finally:
        torch.set_num_threads(before)


@torch.inference_mode()
def raw_logits(net: HeadNet, emb: np.ndarray, bags: list[list[int]], batch: int = 512) -> dict[str, np.ndarray]:
    """Uncalibrated logits for many examples."""
    parts: dict[str, list[np.ndarray]] = {s.name: [] for s in net.specs}
    packed = PackedBags(bags)
    for start in range(0, len(emb), batch):
        ids, offs = packed.batch(np.arange(start, min(start + batch, len(emb))))
        out = net(torch.from_numpy(emb[start : start + batch]), ids, offs)
        for k, v in out.items():
            parts[k].append(v.numpy())
    return {k: np.concatenate(v) if v else np.zeros((0, 0), np.float32) for k, v in parts.items()}


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising the NLL of softmax(logits / T) on a validation slice."""
    valid = labels >= 0
    if valid.sum() < 5:
        return 1.0
    z = torch.from_numpy(logits[valid]).double()
    y = torch.from_numpy(labels[valid]).long()
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(math.log(0.2), math.log(5.0), 80)):
        nll = float(nn.functional.cross_entropy(z / t, y))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def fit_sigmoid_calibration(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Shared temperature and per-label shift so that p = 0.5 is the best F1 decision point."""
    valid = ~np.isnan(labels).any(axis=1)
    z, y = logits[valid], labels[valid]
    if len(z) < 10:
        return 1.0, np.zeros(logits.shape[1], dtype=np.float32)
    shifts = np.zeros(z.shape[1], dtype=np.float32)
    for j in range(z.shape[1]):
        best, best_f1 = 0.0, -1.0
        for thr in np.linspace(-4, 4, 161):
            pred = z[:, j] > thr
            tp = float((pred & (y[:, j] > 0.5)).sum())
            fp = float((pred & (y[:, j] < 0.5)).sum())
            fn = float((~pred & (y[:, j] > 0.5)).sum())
            f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
            # prefer the threshold closest to 0 among equals, then fewer false positives
            if f1 > best_f1 + 1e-9:
                best, best_f1 = float(thr), f1
        shifts[j] = -best
    zt = torch.from_numpy(z + shifts).double()
    yt = torch.from_numpy(y).double()
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(math.log(0.2), math.log(5.0), 60)):
        nll = float(nn.functional.binary_cross_entropy_with_logits(zt / t, yt))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    # the shift is applied after dividing by T, so scale it accordingly
    return best_t, shifts / best_t


@dataclass
class Split:
    """Train/validation indices."""

    train: list[int] = field(default_factory=list)
    valid: list[int] = field(default_factory=list)


def stratified_split(keys: list[str], fraction: float, seed: int) -> Split:
    """Hold out ``fraction`` of each key's items (at least one where a key has 3+ items)."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    split = Split()
    for k in sorted(groups):
        idx = list(groups[k])
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fraction)) if len(idx) >= 3 else 0
        split.valid += idx[:n_val]
        split.train += idx[n_val:]
    return split
