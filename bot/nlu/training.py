"""End-to-end training used by ``bankbot train`` and by ``bankbot run`` on first start."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from .data import Example, care_training_files, data_hash, iter_files, load_care, load_nlu
from .encoder import CachedEncoder, make_encoder
from .external import banking77_examples, cap_per_intent, clinc150_examples, datasets_dir
from .finetune import FINETUNE_ANCHOR, FINETUNE_EPOCHS, FINETUNE_LAYERS
from .model import NLUModel
from .registry import new_model_dir


def training_examples(nlu_paths: list[str], external: bool = True,
                      log: Callable[[str], None] = print, augmented: bool = False) -> list[Example]:
    """The project's own examples, their pinyin / HK-TW / typo variants, plus (optionally) mapped public
    English data. Nothing under ``data/test`` is ever read here."""
    own = load_nlu(nlu_paths)
    if any("data/test" in e.source.replace("\\", "/") for e in own):
        raise ValueError("training data must not include data/test (the held-out sets)")
    if augmented:
        from .augment import augment

        extra = augment(own)
        log(f"augmentation: {len(extra)} pinyin / initials / HK-TW / typo variants")
        own = own + extra
    if not external:
        return own
    ext = cap_per_intent(banking77_examples() + clinc150_examples())
    if not ext:
        log(f"note: public datasets not found under {datasets_dir()}; training on project data only")
    return own + ext


def finetune_encoder(settings: Settings, nlu_paths: list[str] | None = None, top_layers: int = FINETUNE_LAYERS,
                     epochs: int = FINETUNE_EPOCHS, minutes: float = 15.0, anchor: float = FINETUNE_ANCHOR,
                     log: Callable[[str], None] = print) -> str:
    """Fine-tune the encoder's top layers on the project's own labelled examples (:mod:`bot.nlu.finetune`);
    returns the backend to train the heads with (``onnx-finetuned``)."""
    from .finetune import finetune
    from .normalize import normalize

    nlu_paths = nlu_paths or [settings.nlu_data]
    own = [e for e in training_examples(nlu_paths, external=False, log=log) if e.intent]
    texts = [normalize(e.text).text for e in own]
    finetune(settings.models_dir, texts, [e.intent or "" for e in own], [e.category or "" for e in own],
             top_layers=top_layers, epochs=epochs, budget_s=minutes * 60, seed=settings.seed, anchor=anchor,
             threads=settings.encoder_threads or None, data_hash=data_hash(nlu_paths), log=log)
    return "onnx-finetuned"


#: meta intents whose examples are calm, usable as "no care label" examples
_CALM_META = {"greet", "goodbye", "affirm", "deny", "out_of_scope"}


def care_negatives_from_nlu(examples: list[Example], weight: float = 0.3) -> list[Example]:
    """Everyday banking questions as low-weight negatives for the care head.

    The care data has its own neutral and hard-negative examples; these add breadth so that plain
    banking questions don't trigger care mode. A few of them are impatient, hence the low weight.
    """
    out = []
    for e in examples:
        if "external" in e.tags or not (e.category or e.intent in _CALM_META):
            continue
        out.append(Example(e.text, labels=(), source=e.source, line=e.line, weight=weight, tags={"nlu-negative"}))
    return out


def train_model(
    settings: Settings,
    nlu_paths: list[str] | None = None,
    care_paths: list[str] | None = None,
    out: str | Path | None = None,
    external: bool = True,
    epochs: int | None = None,
    log: Callable[[str], None] = print,
    augmented: bool = False,
) -> Path:
    """Train on the given data and save a model directory; returns its path."""
    from .heads import TrainConfig  # torch: only a process that trains loads it

    nlu_paths = nlu_paths or [settings.nlu_data]
    if care_paths is None:
        care_paths = [str(f) for f in care_training_files(settings.care_data)]
    examples = training_examples(nlu_paths, external, log, augmented=augmented)
    care_paths = [str(f) for p in care_paths for f in care_training_files(p)]
    care = load_care(care_paths) if care_paths else []
    cfg = TrainConfig(seed=settings.seed)
    if epochs:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    log(f"encoder: multilingual-e5-small via {settings.encoder_backend}")
    base = make_encoder(settings.encoder_backend, settings.models_dir, settings.encoder_threads or None)
    identity = str(getattr(base, "identity", ""))
    cache_name = f"embeddings-{settings.encoder_backend}{'-' + identity if identity else ''}.npz"
    encoder = CachedEncoder(base, Path(settings.models_dir) / "cache" / cache_name)
    care += care_negatives_from_nlu(examples)
    model = NLUModel.train(examples, care, encoder, settings.encoder_backend, cfg, log=log,
                           encoder_identity=identity)
    encoder.save()
    path = Path(out) if out else new_model_dir(settings.models_dir)
    files = [str(p) for p in iter_files(nlu_paths + care_paths)]
    model.save(path, {"data_hash": data_hash(nlu_paths + care_paths), "data_files": files,
                      "external_data": external, "seed": settings.seed})
    return path
