"""Shared fixtures: one real model trained once per test session, and a real server process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[bytes]:
    """Run ``bankbot`` (as ``python -m bot``) in the repository root."""
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          input=input, capture_output=True, timeout=timeout)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder private to this test session (encoder cache + trained models)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def model_env(models_dir: Path) -> dict[str, str]:
    """Environment that points bankbot at the session's models folder."""
    return {"BANKBOT_MODELS_DIR": str(models_dir), "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="session")
def trained_model(models_dir: Path, model_env: dict[str, str]) -> Path:
    """The full model (project data + public data + care data), trained through the CLI."""
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


@pytest.fixture(scope="session")
def server(trained_model: Path, model_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``bankbot run`` process on a free port; yields its base URL."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("var")
    env = {**os.environ, **model_env, "BANKBOT_DATA_DIR": str(data_dir)}
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-train", "--model", str(trained_model),
                             "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def parse_lines(stdout: bytes) -> list[dict]:
    """JSON objects, one per output line."""
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
