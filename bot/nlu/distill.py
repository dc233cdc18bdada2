"""A smaller e5 student distilled from the 12-layer encoder, for faster parses (``bankbot distill``).

The student keeps every other transformer layer of multilingual-e5-small (layers 1, 3, ..., 11 for six
layers: the last one stays, so the student starts in the teacher's output space) and the teacher's
embedding tables, which stay frozen. It is trained to reproduce the teacher's mean-pooled, L2-normalised
sentence embedding (loss ``1 - cos``) on the training texts and the public sets, with the teacher's
embeddings (fp32 ONNX graph) computed once and cached.

The student is saved as a transformers model under ``<models_dir>/encoder/multilingual-e5-small-student/``
and served like the teacher: exported to ONNX, quantised to dynamic int8, backend ``onnx-student``. Heads
are trained on the student's own embeddings (``bankbot train --encoder-backend onnx-student``), so the
distillation error is not a train/serve mismatch either.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .encoder import ENCODER_NAME, default_cache_dir, ensure_converted
from .encoder_training import (
    DerivedEncoder,
    length_chunks,
    pad_batch,
    pooled_embedding,
    save_derived,
    truncate,
)

if TYPE_CHECKING:
    from .onnx_encoder import OnnxEncoder

STUDENT_VARIANT = "student"
STUDENT_NAME = f"{ENCODER_NAME}-{STUDENT_VARIANT}"


@dataclass
class DistillReport:
    """What a distillation run did (written as ``distill.json`` beside the student)."""

    layers: list[int]
    texts: int
    epochs_done: float
    steps: int
    seconds: float
    teacher_seconds: float
    stopped_by_budget: bool
    cosine_before: float
    cosine_after: float


STUDENT = DerivedEncoder(STUDENT_NAME, "distill.json", "bankbot distill")
#: where the student is saved, whether it exists, and its fingerprint (see :class:`DerivedEncoder`)
student_dir, student_available, student_identity = STUDENT.dir, STUDENT.available, STUDENT.identity


def pick_layers(total: int, keep: int) -> list[int]:
    """Evenly spaced layer indices ending with the last one: ``pick_layers(12, 6) == [1, 3, 5, 7, 9, 11]``."""
    if not 1 <= keep <= total:
        raise ValueError(f"keep must be between 1 and {total}")
    step = total / keep
    return sorted({total - 1 - int(i * step) for i in range(keep)})


def distill_texts(nlu_paths: Iterable[str | Path], care_paths: Iterable[str | Path] = (),
                  external: bool = True) -> list[str]:
    """Normalised, de-duplicated texts to distil on: the project's examples, care data, public sets."""
    from .data import load_care, load_nlu
    from .normalize import normalize

    raw = [e.text for e in load_nlu(list(nlu_paths))]
    care = list(care_paths)
    if care:
        raw += [e.text for e in load_care(care)]
    if external:
        from .external import datasets_dir, load_banking77_rows, load_clinc150

        if (datasets_dir() / "banking77" / "train.csv").is_file():
            raw += [t for t, _ in load_banking77_rows()]
        if (datasets_dir() / "clinc150" / "data_full_train_val.json").is_file():
            raw += [t for rows in load_clinc150().values() for t, _ in rows]
    seen: dict[str, None] = {}
    for t in raw:
        seen.setdefault(normalize(t).text, None)
    return list(seen)


def _teacher_embeddings(models_dir: Path, teacher: "OnnxEncoder", texts: Sequence[str],
                        log: Callable[[str], None]) -> np.ndarray:
    """The fp32 ``teacher``'s embeddings of ``texts``, cached under ``models/cache/`` by a hash of the texts."""
    key = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    path = Path(models_dir) / "cache" / f"distill-teacher-{key}.npy"
    if path.is_file():
        return np.load(path)
    log(f"teacher embeddings for {len(texts)} texts (fp32, cached in {path}) ...")
    emb = teacher.encode(list(texts), batch_size=64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


def distill(models_dir: str | Path, texts: Sequence[str], layers: int = 6, epochs: int = 3,
            budget_s: float = 1500.0, seed: int = 42, batch_size: int = 32, lr: float = 1e-4,
            max_tokens: int = 64, threads: int | None = None,
            log: Callable[[str], None] = print) -> DistillReport:
    """Train a ``layers``-layer student on ``texts`` and save it (see the module docstring).

    Training stops after ``epochs`` or when ``budget_s`` seconds (teacher embeddings included) have passed,
    whichever comes first; the learning rate decays linearly over the planned steps.
    """
    import torch
    from transformers import BertModel

    from .onnx_encoder import OnnxEncoder, onnx_cache_dir

    start = time.monotonic()
    models_dir = Path(models_dir)
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    torch.manual_seed(seed)
    teacher_src = ensure_converted(default_cache_dir(models_dir))
    texts = list(texts)
    tok = OnnxEncoder(models_dir, precision="fp32")  # the teacher; its tokenizer is exactly the one serving uses
    target = torch.from_numpy(_teacher_embeddings(models_dir, tok, texts, log))
    teacher_s = time.monotonic() - start
    seqs = truncate([tok.token_ids(t) for t in texts], max_tokens)

    model = BertModel.from_pretrained(teacher_src, add_pooling_layer=False)
    keep = pick_layers(len(model.encoder.layer), layers)
    model.encoder.layer = torch.nn.ModuleList([model.encoder.layer[i] for i in keep])
    model.config.num_hidden_layers = len(keep)
    for p in model.embeddings.parameters():
        p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps_per_epoch = (len(seqs) + batch_size - 1) // batch_size
    planned = max(1, steps_per_epoch * epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.05, 1.0 - s / planned))

    def batch(idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch(seqs, idx, tok.pad)

    def pooled(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pooled_embedding(model, ids, mask)

    probe = random.Random(seed).sample(range(len(seqs)), min(256, len(seqs)))

    def probe_cosine() -> float:
        model.eval()
        with torch.inference_mode():
            sims = [float((pooled(*batch(probe[i : i + 64])) * target[probe[i : i + 64]]).sum(-1).mean())
                    * len(probe[i : i + 64]) for i in range(0, len(probe), 64)]
        model.train()
        return sum(sims) / len(probe)

    before = probe_cosine()
    log(f"student: layers {keep} of the teacher; {len(seqs)} texts; cosine to the teacher before: {before:.4f}")
    # batches of similar length waste less on padding; their order is shuffled every epoch
    chunks = length_chunks(seqs, batch_size, random.Random(seed))
    step, stopped = 0, False
    model.train()
    for epoch in range(epochs):
        random.shuffle(chunks)
        for n, idx in enumerate(chunks):
            if time.monotonic() - start > budget_s:
                stopped = True
                break
            loss = (1.0 - (pooled(*batch(idx)) * target[idx]).sum(-1)).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 200 == 0:
                log(f"  epoch {epoch + 1} step {n + 1}/{len(chunks)} loss {float(loss):.4f} "
                    f"({time.monotonic() - start:.0f} s)")
        if stopped:
            break
    after = probe_cosine()
    out = student_dir(models_dir)
    report = DistillReport(layers=keep, texts=len(seqs), epochs_done=round(step / steps_per_epoch, 3), steps=step,
                           seconds=round(time.monotonic() - start, 1), teacher_seconds=round(teacher_s, 1),
                           stopped_by_budget=stopped, cosine_before=round(before, 4), cosine_after=round(after, 4))
    save_derived(model, teacher_src, out, "distill.json", asdict(report), onnx_cache_dir(models_dir, STUDENT_VARIANT))
    log(f"cosine to the teacher after: {after:.4f}; saved to {out}")
    return report
