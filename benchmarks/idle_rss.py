"""Idle memory of the ONNX encoder alone: a fresh ``OnnxEncoder`` process.

    python benchmarks/idle_rss.py [--runs 2]

``encoder_rss_mb``: a Python process that loads ``OnnxEncoder`` (int8) and encodes one message, so that
the session and the tokenizer are both warm, then reports its own RSS (``/proc/<pid>/status`` VmRSS).
The whole server's memory, at ready and after parses, is ``benchmarks/server_memory.py``.

``BANKBOT_MODELS_DIR`` selects the models folder as usual. ``imports_tokenizers`` says whether the encoder
process has HF ``tokenizers`` loaded. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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


def main() -> int:
    """Measure and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="fresh processes per measurement")
    args = ap.parse_args()
    enc = [encoder_rss() for _ in range(args.runs)]
    out: dict[str, object] = {"encoder_rss_mb": [e["rss_mb"] for e in enc],
                              "imports_tokenizers": enc[0]["imports_tokenizers"]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
