"""Fine-tuning the top layers of e5 on the project's intents and categories (``bankbot train --finetune``).

The bottom layers and the embedding tables stay frozen; the top ``top_layers`` transformer layers are trained
on the project's own labelled examples (never ``data/test``, never the public sets, so the BANKING77 and CLINC150
benchmarks stay unseen) with two cosine-softmax objectives on the mean-pooled, L2-normalised sentence embedding
(intent and category, as in SetFit's supervised variant but with a classification loss) plus an anchor term
``1 - cos(new, original)`` that keeps the embedding close to e5's, so what the heads learn from the public sets,
the care data and out-of-scope material still transfers.

The result is a transformers model under ``<models_dir>/encoder/multilingual-e5-small-finetuned/`` with a
``finetune.json`` report, served like the teacher and the student: exported to ONNX and quantised to int8
(backend ``onnx-finetuned``). The heads are trained on its own embeddings afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .encoder import ENCODER_NAME, default_cache_dir, ensure_converted
from .encoder_training import (
    DerivedEncoder,
    length_chunks,
    pad_batch,
    pooled_embedding,
    save_derived,
    truncate,
)

#: the defaults of ``bankbot train --finetune``: the best measured run (README)
FINETUNE_LAYERS = 4
FINETUNE_EPOCHS = 2
FINETUNE_ANCHOR = 4.0

FINETUNED_VARIANT = "finetuned"
FINETUNED_NAME = f"{ENCODER_NAME}-{FINETUNED_VARIANT}"


@dataclass
class FinetuneReport:
    """What a fine-tuning run did (written as ``finetune.json`` beside the model)."""

    top_layers: int
    texts: int
    intents: int
    categories: int
    epochs_done: float
    steps: int
    seconds: float
    stopped_by_budget: bool
    loss_first: float
    loss_last: float
    #: mean cosine of the fine-tuned embedding to the original one on the training texts
    anchor_cosine: float
    data_hash: str


FINETUNED = DerivedEncoder(FINETUNED_NAME, "finetune.json", "bankbot train --finetune")
#: where the tuned encoder is saved, whether it exists, and its fingerprint (see :class:`DerivedEncoder`)
finetuned_dir, finetuned_available, finetuned_identity = FINETUNED.dir, FINETUNED.available, FINETUNED.identity


def finetune(models_dir: str | Path, texts: Sequence[str], intents: Sequence[str], categories: Sequence[str],
             top_layers: int = FINETUNE_LAYERS, epochs: int = FINETUNE_EPOCHS, budget_s: float = 900.0,
             seed: int = 42, batch_size: int = 32, lr: float = 4e-5, anchor: float = FINETUNE_ANCHOR,
             scale: float = 20.0, max_tokens: int = 64,
             threads: int | None = None, data_hash: str = "",
             log: Callable[[str], None] = print) -> FinetuneReport:
    """Fine-tune the top ``top_layers`` layers on ``texts`` labelled with ``intents`` and ``categories``
    (``""`` for a meta intent's category) and save the encoder (see the module docstring).

    Training stops after ``epochs`` or when ``budget_s`` seconds have passed; the learning rate decays linearly.
    """
    import torch
    from transformers import BertModel

    from .onnx_encoder import OnnxEncoder, onnx_cache_dir

    if not len(texts) == len(intents) == len(categories):
        raise ValueError("texts, intents and categories must have the same length")
    start = time.monotonic()
    models_dir = Path(models_dir)
    if threads:
        torch.set_num_threads(threads)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    src = ensure_converted(default_cache_dir(models_dir))
    model = BertModel.from_pretrained(src, add_pooling_layer=False)
    n_layers = len(model.encoder.layer)
    if not 1 <= top_layers <= n_layers:  # before the minute of embedding work below
        raise ValueError(f"top_layers must be between 1 and {n_layers}")
    tok = OnnxEncoder(models_dir, precision="fp32")  # the original encoder; its tokenizer is the serving one
    log(f"fine-tuning: original embeddings of {len(texts)} texts ...")
    original = torch.from_numpy(tok.encode(list(texts), batch_size=64))
    seqs = truncate([tok.token_ids(t) for t in texts], max_tokens)
    intent_names = sorted(set(intents))
    cat_names = sorted(set(categories))
    y_int = torch.tensor([intent_names.index(i) for i in intents])
    y_cat = torch.tensor([cat_names.index(c) for c in categories])

    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.encoder.layer[n_layers - top_layers:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    # class prototypes start at the mean original embedding of each class
    def prototypes(y: torch.Tensor, n: int) -> torch.nn.Parameter:
        protos = torch.stack([original[y == k].mean(0) for k in range(n)])
        return torch.nn.Parameter(torch.nn.functional.normalize(protos, dim=-1))

    w_int, w_cat = prototypes(y_int, len(intent_names)), prototypes(y_cat, len(cat_names))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": params, "lr": lr}, {"params": [w_int, w_cat], "lr": lr * 50}],
                            weight_decay=0.01)
    steps_per_epoch = (len(seqs) + batch_size - 1) // batch_size
    planned = max(1, steps_per_epoch * epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.05, 1.0 - s / planned))

    def batch(idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch(seqs, idx, tok.pad)

    def pooled(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pooled_embedding(model, ids, mask)

    def cosine_logits(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return scale * z @ torch.nn.functional.normalize(w, dim=-1).T

    chunks = length_chunks(seqs, batch_size, rng)
    step, stopped, first, last = 0, False, float("nan"), float("nan")
    model.train()
    log(f"fine-tuning the top {top_layers} of {n_layers} layers on {len(intent_names)} intents and "
        f"{len(cat_names)} categories")
    for epoch in range(epochs):
        rng.shuffle(chunks)
        for n, idx in enumerate(chunks):
            if time.monotonic() - start > budget_s:
                stopped = True
                break
            z = pooled(*batch(idx))
            ce = torch.nn.functional.cross_entropy
            loss = (ce(cosine_logits(z, w_int), y_int[idx]) + 0.5 * ce(cosine_logits(z, w_cat), y_cat[idx])
                     + anchor * (1.0 - (z * original[idx]).sum(-1)).mean())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            last = float(loss.detach())
            if step == 1:
                first = last
            if step % 50 == 0:
                log(f"  epoch {epoch + 1} step {n + 1}/{len(chunks)} loss {last:.4f} "
                    f"({time.monotonic() - start:.0f} s)")
        if stopped:
            break
    model.eval()
    probe = rng.sample(range(len(seqs)), min(512, len(seqs)))
    with torch.inference_mode():
        cos = [float((pooled(*batch(probe[i : i + 64])) * original[probe[i : i + 64]]).sum(-1).sum())
               for i in range(0, len(probe), 64)]
    anchor_cos = sum(cos) / len(probe)
    out = finetuned_dir(models_dir)
    report = FinetuneReport(top_layers=top_layers, texts=len(seqs), intents=len(intent_names),
                            categories=len(cat_names), epochs_done=round(step / steps_per_epoch, 3), steps=step,
                            seconds=round(time.monotonic() - start, 1), stopped_by_budget=stopped,
                            loss_first=round(first, 4), loss_last=round(last, 4),
                            anchor_cosine=round(anchor_cos, 4), data_hash=data_hash)
    save_derived(model, src, out, "finetune.json", asdict(report), onnx_cache_dir(models_dir, FINETUNED_VARIANT))
    log(f"fine-tuned in {report.seconds:.0f} s ({report.epochs_done} epochs); cosine to the original "
        f"{anchor_cos:.4f}; saved to {out}")
    return report
