"""Idle memory of the ONNX serve path: an ``OnnxEncoder`` process and a full ``bankbot run`` server.

    python benchmarks/idle_rss.py [--model NAME] [--runs 2] [--no-server]

Both are measured in fresh processes from ``/proc/<pid>/status`` (VmRSS):

- ``encoder_rss_mb``: a Python process that loads ``OnnxEncoder`` (int8) and encodes one message, so that
  the session and the tokenizer are both warm, then reports its own RSS;
- ``server_rss_mb``: ``bankbot run --no-train --model NAME`` on a private data folder, read once ``/health``
  answers (the warm-up runs before that) and the process has been idle for a second.

``BANKBOT_MODELS_DIR`` selects the models folder as usual. ``imports_tokenizers`` says whether the encoder
process has HF ``tokenizers`` loaded. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procfs import rss_mb  # benchmarks/procfs.py (the scripts run from this folder)

ROOT = Path(__file__).resolve().parents[1]

ENCODER_PROBE = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bot.config import load_settings
from bot.nlu.onnx_encoder import OnnxEncoder
enc = OnnxEncoder(load_settings().models_dir)
enc.encode(["怎么修改登录密码"])
print(json.dumps({"pid": os.getpid(), "imports_tokenizers": "tokenizers" in sys.modules}), flush=True)
sys.stdin.readline()
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def encoder_rss() -> dict[str, object]:
    """RSS (MB) of a fresh process holding a warm ``OnnxEncoder``."""
    proc = subprocess.Popen([sys.executable, "-c", ENCODER_PROBE, str(ROOT)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        info = json.loads(proc.stdout.readline())
        time.sleep(1.0)
        info["rss_mb"] = round(rss_mb(proc.pid), 1)
        proc.stdin.write("\n")
        proc.stdin.flush()
    finally:
        proc.wait(timeout=30)
    return info


def server_rss(model: str) -> float:
    """RSS (MB) of an idle, warmed-up ``bankbot run`` server."""
    import httpx

    port = _port()
    env = {**os.environ, "BANKBOT_DATA_DIR": tempfile.mkdtemp(prefix="bankbot-rss-")}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-train", "--model", model, "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.time()
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() - started > 180:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        time.sleep(1.0)
        return round(rss_mb(proc.pid), 1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    """Measure and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="latest")
    ap.add_argument("--runs", type=int, default=2, help="fresh processes per measurement")
    ap.add_argument("--no-server", action="store_true", help="only the encoder process")
    args = ap.parse_args()
    enc = [encoder_rss() for _ in range(args.runs)]
    out: dict[str, object] = {"encoder_rss_mb": [e["rss_mb"] for e in enc],
                              "imports_tokenizers": enc[0]["imports_tokenizers"]}
    if not args.no_server:
        out["server_rss_mb"] = [server_rss(args.model) for _ in range(args.runs)]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
