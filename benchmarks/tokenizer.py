"""e5 tokenizer: HF ``tokenizers`` against bankbot's plain-Python Unigram (``bot/nlu/unigram.py``).

    python benchmarks/tokenizer.py [--models-dir models] [--long-chars 2000] [--repeat 3]

- ``ms``: time to tokenize one message (p50/p99 in milliseconds, one at a time, one thread) for the short
  messages of ``data/test`` and for long ones (``--long-chars`` characters cut from data/test and the
  care data joined, mixed Chinese and English); the text is normalised and prefixed as ``E5Text`` does.
  Each set runs ``--repeat`` times; HF keeps a cache of the words it has seen (so its repeats are cached),
  ours keeps none (no customer words held in memory).
- ``rss_mb``: resident memory in a fresh process after loading the tokenizer (``/proc``, VmRSS), minus
  the same process before (Python with numpy and bot's module imported); ours loads through its
  ``.npz`` cache, which is built first if missing. ``same_ids`` says whether both gave the same ids.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.nlu.encoder import E5Text  # noqa: E402
from bot.nlu.onnx_encoder import onnx_cache_dir  # noqa: E402
from bot.nlu.unigram import UnigramTokenizer  # noqa: E402

PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy
import bot.nlu.unigram
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before = rss()
if sys.argv[2] == "hf":
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[3])
    tok.encode("query: 怎么修改登录密码", add_special_tokens=False)
else:
    tok = bot.nlu.unigram.UnigramTokenizer.load(sys.argv[3])
    tok.encode("query: 怎么修改登录密码")
print(round(before, 1), round(rss(), 1))
"""


def _messages() -> list[str]:
    import yaml

    out: list[str] = []
    for path in sorted((ROOT / "data" / "test").rglob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            out += [ln.strip()[2:] for ln in str(block.get("examples", "")).splitlines() if ln.strip().startswith("- ")]
    return out


def _long_messages(messages: list[str], chars: int, count: int = 200) -> list[str]:
    care = [ln.strip()[2:] for p in sorted((ROOT / "data" / "care").glob("*.yml"))
            for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip().startswith("- ")]
    pool = " ".join(messages + care)
    step = max(1, (len(pool) - chars) // count)
    return [pool[i : i + chars] for i in range(0, step * count, step)]


def _time_ms(encode, texts: list[str], repeat: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        for t in texts:
            start = time.perf_counter_ns()
            encode(t)
            times.append((time.perf_counter_ns() - start) / 1e6)
    times.sort()
    return {"p50": round(statistics.median(times), 3), "p99": round(times[int(len(times) * 0.99)], 3)}


def _rss(kind: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), kind, str(path)], capture_output=True, text=True,
                         check=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    before, after = map(float, out.stdout.split())
    return {"process": after, "tokenizer": round(after - before, 1)}


def main() -> int:
    """Run the benchmark and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default=os.environ.get("BANKBOT_MODELS_DIR", "models"))
    ap.add_argument("--long-chars", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from tokenizers import Tokenizer

    cache = onnx_cache_dir(args.models_dir)
    path = cache / "tokenizer.json"
    hf, ours = Tokenizer.from_file(str(path)), UnigramTokenizer.load(path)

    class _Norm(E5Text):
        def __init__(self) -> None:
            norm = json.loads((cache / "normalization.json").read_text())
            self._table = str.maketrans({int(k): v for k, v in norm.items()})

    norm = _Norm().normalize
    short = [norm("query: " + m) for m in _messages()]
    long = [norm("query: " + m) for m in _long_messages(_messages(), args.long_chars)]
    texts = {"short": short, f"long_{args.long_chars}": long}
    report: dict[str, object] = {
        "messages": {k: len(v) for k, v in texts.items()},
        "same_ids": all(hf.encode(t, add_special_tokens=False).ids == ours.encode(t)
                        for v in texts.values() for t in v),
        "ms": {
            name: {
                "hf": _time_ms(lambda t: hf.encode(t, add_special_tokens=False).ids, v, args.repeat),
                "ours": _time_ms(ours.encode, v, args.repeat),
            }
            for name, v in texts.items()
        },
        "rss_mb": {"hf": _rss("hf", path), "ours": _rss("ours", path)},
    }
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
