"""Where trained models live and which one to load."""

from __future__ import annotations

import time
from pathlib import Path

from ..config import Settings
from .model import ModelNotFound, has_intent_net


def list_models(models_dir: str | Path) -> list[Path]:
    """Model directories under ``models_dir``, oldest first (by training time)."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / "model.json").is_file() and has_intent_net(p)]
    return sorted(found, key=lambda p: (_trained_at(p), p.name))


def _trained_at(model: Path) -> float:
    """Modification time of the model's intent net (``intent.pt`` where there is one: converting an older
    model writes its numpy files later, which must not make it look newer)."""
    pt = model / "intent.pt"
    return (pt if pt.is_file() else model / "intent.npz").stat().st_mtime


def resolve_model(settings: Settings) -> Path:
    """The model directory named by ``settings.model`` (a path, a name, or ``latest``)."""
    name = settings.model
    if name and name != "latest":
        for cand in (Path(name), Path(settings.models_dir) / name):
            if (cand / "model.json").is_file():
                return cand
        raise ModelNotFound(f"Model {name!r} not found (looked in {name} and {Path(settings.models_dir) / name}).")
    models = list_models(settings.models_dir)
    if not models:
        raise ModelNotFound(f"No trained model in {settings.models_dir}/. Train one with `bankbot train`.")
    return models[-1]


def new_model_dir(models_dir: str | Path, prefix: str = "nlu") -> Path:
    """A fresh, timestamped model directory path (not created)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(models_dir) / f"{prefix}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(models_dir) / f"{prefix}-{stamp}-{n}"
    return path
