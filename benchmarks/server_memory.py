"""Resident memory of an idle ``bankbot run`` server, at ready and after some parses.

    python benchmarks/server_memory.py [--model NAME] [--parses 200]

Starts ``bankbot run --no-train --model M`` on a free loopback port with a throw-away data folder, reads
``VmRSS`` (and its anonymous / file-backed parts) from ``/proc/<pid>/status`` once ``/health`` answers,
sends ``--parses`` messages of ``data/test`` to ``POST /model/parse`` one at a time, reads it again, and
says how much of the memory-mapped n-gram tables (``*.bag.npy``) and of the encoder's memory-mapped
word-embedding table (``word_embeddings-uint8.npy``) is resident and whether torch was loaded
(``/proc/<pid>/smaps`` and ``maps``). Prints JSON (MB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.procfs import status_kb  # noqa: E402
from benchmarks.serving import free_port, wait_healthy  # noqa: E402


def _mapped_rss_kb(pid: int, suffix: str) -> int:
    """Resident kB of the mappings of files whose name ends with ``suffix`` (``/proc/<pid>/smaps``)."""
    total, inside = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) >= 6 and fields[-1].endswith(suffix)
        elif inside and fields[:1] == ["Rss:"]:
            total += int(fields[1])
    return total


def _memory(pid: int) -> dict[str, Any]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {**{f: round(status_kb(pid, f) / 1024, 1) for f in ("VmRSS", "RssAnon", "RssFile")},
            "ngram_tables_resident": round(_mapped_rss_kb(pid, ".bag.npy") / 1024, 1),
            "word_embeddings_resident": round(_mapped_rss_kb(pid, "word_embeddings-uint8.npy") / 1024, 1),
            "torch_loaded": "libtorch" in maps}


def main() -> int:
    """Run the measurement and print the result."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="latest")
    ap.add_argument("--parses", type=int, default=200)
    ap.add_argument("--data", default="data/test")
    args = ap.parse_args()
    import httpx

    from bot.nlu.data import load_nlu

    texts = [e.text for e in load_nlu(args.data)]
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "BANKBOT_DATA_DIR": data_dir, "BANKBOT_CLIENT_RATE": "100000",
               "BANKBOT_CLIENT_BURST": "100000"}
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-train", "--model", args.model,
                                 "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base + "/health", limit=300, proc=proc)
            time.sleep(2)
            report: dict[str, Any] = {"model": args.model, "ready": _memory(proc.pid)}
            with httpx.Client(base_url=base, timeout=60) as client:
                for i in range(args.parses):
                    client.post("/model/parse", json={"text": texts[i % len(texts)]}).raise_for_status()
            time.sleep(2)
            report[f"after_{args.parses}_parses"] = _memory(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
