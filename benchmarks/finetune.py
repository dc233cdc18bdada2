"""Fine-tuning experiment (issue 11, item 5): train the top layers of e5-small on CPU, then compare.

Unfreezes the top ``--layers`` transformer layers of the encoder and trains them, with a cosine
classifier (scale 20) on the L2-normalised mean-pooled embedding, on intent + category cross-entropy
over the same examples ``bankbot train`` uses (weights and label smoothing 0.05 as there). The result is
written as an encoder cache under ``OUT/encoder/``, so that the unchanged commands measure it:

    python benchmarks/finetune.py OUT --layers 4 --epochs 3
    BANKBOT_MODELS_DIR=OUT bankbot train --out OUT/nlu      # exports the tuned encoder to ONNX int8 first
    BANKBOT_MODELS_DIR=OUT bankbot test --model OUT/nlu     # data/test, care split, hard set

Measured on 2 shared cores (2026-12-02), against the frozen encoder with the same heads training:

| encoder            | tune time | data/test intent / category | hard category / OOS recall / complaint F1 |
|--------------------|-----------|-----------------------------|-------------------------------------------|
| frozen             | -         | 0.950 / 0.962               | 0.932 / 0.913 / 0.886                     |
| top 2 layers, 1 ep | 46 s      | 0.937 / 0.952               | 0.936 / 0.942 / 0.925                     |
| top 4 layers, 3 ep | 447 s     | 0.938 / 0.956               | 0.944 / 0.957 / 0.969                     |

So it helps the hard set and costs about a point on data/test; it is not the default (and the first run
of ``make run`` has no room for it).
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

import torch

from bot.config import load_settings
from bot.nlu.encoder import E5Encoder, default_cache_dir
from bot.nlu.model import CATEGORY_LABELS, NONE_CATEGORY
from bot.nlu.training import training_examples

CACHE_FILES = ("tokenizer.json", "tokenizer.unigram.npz", "normalization.json", "special_tokens.json",
               "bankbot-cache.json")


def main() -> None:
    """Fine-tune and write ``OUT/encoder/multilingual-e5-small``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="models folder to write the tuned encoder into")
    ap.add_argument("--layers", type=int, default=4, help="top transformer layers to train")
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=3e-5, help="learning rate of the encoder layers")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=96, help="truncate longer messages while training")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.manual_seed(0)
    random.seed(0)
    torch.set_num_threads(args.threads)
    settings = load_settings(None)
    examples = training_examples([settings.nlu_data], True, print)
    intents = sorted({e.intent for e in examples if e.intent})
    src = default_cache_dir(settings.models_dir)
    enc = E5Encoder(src)
    bert = enc.model
    for p in bert.parameters():
        p.requires_grad = False
    for layer in bert.encoder.layer[-args.layers:]:
        for p in layer.parameters():
            p.requires_grad = True

    y_int = torch.tensor([intents.index(e.intent) if e.intent else -1 for e in examples])
    y_cat = torch.tensor([CATEGORY_LABELS.index(e.category or NONE_CATEGORY) if (e.category or e.intent) else -1
                          for e in examples])
    weight = torch.tensor([e.weight for e in examples], dtype=torch.float32)
    head_int = torch.nn.Linear(384, len(intents), bias=False)
    head_cat = torch.nn.Linear(384, len(CATEGORY_LABELS), bias=False)
    heads = [*head_int.parameters(), *head_cat.parameters()]
    tuned = [p for p in bert.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": tuned, "lr": args.lr}, {"params": heads, "lr": 5e-3}], weight_decay=0.01)
    # batches of similar length (less padding), visited in random order
    lengths = [len(enc.token_ids(e.text)) for e in examples]
    order = sorted(range(len(examples)), key=lambda i: lengths[i])
    batches = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
    steps = max(1, int(len(batches) * args.epochs))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[args.lr, 5e-3], total_steps=steps, pct_start=0.1)
    ce = torch.nn.CrossEntropyLoss(reduction="none", ignore_index=-1, label_smoothing=0.05)

    bert.train()
    started, step = time.time(), 0
    while step < steps:
        random.shuffle(batches)
        for b in batches[: steps - step]:
            inputs = {k: v[:, : args.max_tokens] for k, v in enc.batch_inputs([examples[i].text for i in b]).items()}
            vec = torch.nn.functional.normalize(enc.pooled(inputs), dim=-1)
            w = weight[b]
            loss = ((ce(head_int(vec) * 20, y_int[b]) + ce(head_cat(vec) * 20, y_cat[b])) * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{steps} loss {loss.item():.3f} {time.time() - started:.0f} s", flush=True)
    bert.eval()
    print(f"fine-tuned {args.layers} layers for {args.epochs} epochs in {time.time() - started:.0f} s")

    dest = default_cache_dir(args.out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    bert.save_pretrained(dest)
    for name in CACHE_FILES:
        if (src / name).is_file():
            shutil.copy(src / name, dest / name)
    print(f"tuned encoder: {dest}")


if __name__ == "__main__":
    main()
