"""Shared fixtures: one real model trained once per test session, and a real server process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Debian's chromium, driven by Playwright (``playwright install`` can't download here)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def run_cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[bytes]:
    """Run ``bankbot`` (as ``python -m bot``) in the repository root."""
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          input=input, capture_output=True, timeout=timeout)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder private to this test session (encoder cache + trained models).

    ``BANKBOT_TEST_MODELS_DIR`` names a persistent folder instead (a developer's shortcut: the encoder cache
    and, with ``BANKBOT_TEST_MODEL``, a trained model are reused across sessions; CI never sets it).
    """
    shared = os.environ.get("BANKBOT_TEST_MODELS_DIR")
    if shared:
        Path(shared).mkdir(parents=True, exist_ok=True)
        return Path(shared)
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def teacher_models(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder of this test module's own that shares the session's converted and exported teacher (for
    tests that derive encoders from it: the distilled student, the fine-tuned encoder)."""
    from bot.nlu.encoder import ENCODER_NAME, default_cache_dir, ensure_converted
    from bot.nlu.onnx_encoder import ensure_exported

    ensure_converted(default_cache_dir(models_dir))
    ensure_exported(models_dir)
    own = tmp_path_factory.mktemp("derived-models")
    (own / "encoder").mkdir()
    for name in (ENCODER_NAME, f"{ENCODER_NAME}-onnx"):
        (own / "encoder" / name).symlink_to((models_dir / "encoder" / name).resolve())
    return own


def teacher_only(teacher_models: Path, dest: Path) -> Path:
    """A models folder at ``dest`` holding only the converted teacher (no export, no derived encoder)."""
    from bot.nlu.encoder import ENCODER_NAME

    (dest / "encoder").mkdir(parents=True)
    (dest / "encoder" / ENCODER_NAME).symlink_to((teacher_models / "encoder" / ENCODER_NAME).resolve())
    return dest


@pytest.fixture(scope="session")
def model_env(models_dir: Path) -> dict[str, str]:
    """Environment that points bankbot at the session's models folder."""
    return {"BANKBOT_MODELS_DIR": str(models_dir), "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="session")
def trained_model(models_dir: Path, model_env: dict[str, str]) -> Path:
    """The full model (project data + public data + care data), trained through the CLI.

    ``BANKBOT_TEST_MODEL`` names an already trained model to use instead (only valid while data/ and the NLU
    code are unchanged since it was trained; CI never sets it).
    """
    reuse = os.environ.get("BANKBOT_TEST_MODEL")
    if reuse and (Path(reuse) / "model.json").is_file():
        return Path(reuse)
    out = models_dir / "session-model"
    proc = run_cli("train", "--out", str(out), env=model_env)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert (out / "model.json").is_file()
    return out


@pytest.fixture(scope="session")
def pipeline(trained_model: Path, models_dir: Path):  # type: ignore[no-untyped-def]
    """The NLU pipeline loaded in-process from the session model."""
    from bot.config import load_settings
    from bot.nlu.pipeline import NLUPipeline

    return NLUPipeline.from_settings(load_settings(models_dir=str(models_dir)), trained_model)


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: how long a test waits for something that must happen (generous: a slow or loaded machine still passes;
#: a test never asserts how fast it happened — timings live in benchmarks/)
EVENT_TIMEOUT = 60.0


def wait_until(predicate, timeout: float = EVENT_TIMEOUT, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate()`` until it returns something truthy and return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(interval)


def wait_http(url: str, timeout: float = 120) -> None:
    """Wait until ``url`` answers 200."""
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not come up in {timeout}s")


class BotServer:
    """A real ``bankbot run`` process (restartable on the same data folder)."""

    def __init__(self, model: Path, env: dict[str, str], data_dir: Path, demo: bool = True) -> None:
        self.model, self.env, self.data_dir, self.demo = model, env, data_dir, demo
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "BotServer":
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--no-train", "--model", str(self.model), "--port", str(self.port),
             *(["--demo"] if self.demo else [])],
            cwd=ROOT, env={**os.environ, **self.env, "BANKBOT_DATA_DIR": str(self.data_dir)},
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_http(self.base + "/health")
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc:
            self.proc.kill()
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @property
    def token(self) -> str:
        return (self.data_dir / "api_token").read_text().strip()

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://")


@pytest.fixture(scope="session")
def bot_server(trained_model: Path, model_env: dict[str, str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    """One server for the session's read-mostly tests."""
    srv = BotServer(trained_model, model_env, tmp_path_factory.mktemp("var")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def server(bot_server: BotServer) -> str:
    """Base URL of the session server."""
    return bot_server.base


def parse_lines(stdout: bytes) -> list[dict]:
    """JSON objects, one per output line."""
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


#: conversation tokens the test clients got, by sender id (a real client keeps its own the same way)
CONVERSATION_TOKENS: dict[str, str] = {}


def post_message(base: str, sender: str, text: object, timeout: float = 60, **extra: object):  # type: ignore[no-untyped-def]
    """``POST /webhooks/rest/webhook`` as a real client does: keeps the conversation token and sends it back."""
    import httpx

    headers = {"X-Conversation-Token": CONVERSATION_TOKENS[sender]} if sender in CONVERSATION_TOKENS else {}
    r = httpx.post(base + "/webhooks/rest/webhook", json={"sender": sender, "message": text, **extra},
                   headers=headers, timeout=timeout)
    if r.headers.get("x-conversation-token"):
        CONVERSATION_TOKENS[sender] = r.headers["x-conversation-token"]
    return r
