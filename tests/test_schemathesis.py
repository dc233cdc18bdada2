"""Schemathesis against a live server (issue 12): every operation of /openapi.json, >= 2,000 generated
requests, no 5xx, no response slower than 5 s (schemathesis' own max_response_time check; the figures go to
test-output/schemathesis/)."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from .conftest import ROOT, BotServer

OUT = ROOT / "test-output" / "schemathesis"
#: starts a training job (minutes of CPU): covered by its own tests, not fuzzed
EXCLUDE = ["/trainer/jobs"]


def _run(base: str, token: str, name: str, examples: int) -> dict:
    har = OUT / f"{name}.har"
    proc = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", base + "/openapi.json", "--url", base,
         "-c", "not_a_server_error", "--max-response-time", "5", "--phases", "examples,fuzzing,stateful",
         "-n", str(examples), "--seed", "12", "--no-shrink", "--workers", "2", "--request-timeout", "30",
         "-H", f"Authorization: Bearer {token}", "--report", "har", "--report-har-path", str(har),
         "--suppress-health-check", "all",
         *[a for p in EXCLUDE for a in ("--exclude-path", p)]],
        cwd=ROOT, capture_output=True, text=True, timeout=1500, env={**os.environ, "NO_COLOR": "1"})
    (OUT / f"{name}.log").write_text(proc.stdout + proc.stderr)
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = collections.Counter(e["response"]["status"] for e in entries)
    slowest = max(e["time"] for e in entries) / 1000
    ops = {(e["request"]["method"], e["request"]["url"].split("?")[0]) for e in entries}
    import re

    cases = re.search(r"(\d+) generated, (\d+) passed(.*)", proc.stdout)
    return {"rc": proc.returncode, "cases": cases.group(0) if cases else None,
            "all_passed": bool(cases and cases.group(1) == cases.group(2) and "failed" not in cases.group(3)),
            "requests": len(entries), "statuses": dict(sorted(statuses.items())),
            "slowest_s": round(slowest, 3), "distinct_urls": len(ops), "tail": proc.stdout[-3000:]}


def test_fuzz_every_operation(trained_model: Path, model_env: dict[str, str], tmp_path: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    srv = BotServer(trained_model, {**model_env, "BANKBOT_MESSAGE_BURST": "100000", "BANKBOT_CLIENT_BURST": "100000"},
                    tmp_path).start()
    try:
        spec = httpx.get(srv.base + "/openapi.json").json()
        n_ops = sum(len(v) for v in spec["paths"].values())
        assert n_ops >= 40 and "/webhooks/rest/webhook" in spec["paths"]
        assert httpx.get(srv.base + "/docs").status_code == 200
        sup = httpx.post(srv.base + "/agent/login", json={"username": "zhao.min", "password": "demo-super-1"})
        runs = {"api_token": _run(srv.base, srv.token, "api_token", 30),
                "supervisor": _run(srv.base, sup.json()["token"], "supervisor", 30)}
    finally:
        srv.stop()
    total = sum(r["requests"] for r in runs.values())
    statuses: collections.Counter[int] = collections.Counter()
    for r in runs.values():
        statuses.update({int(k): v for k, v in r["statuses"].items()})
    summary = {"operations": n_ops, "requests": total, "statuses": dict(sorted(statuses.items())),
               "server_errors": sum(v for k, v in statuses.items() if k >= 500),
               "slowest_s": max(r["slowest_s"] for r in runs.values()),
               "runs": {k: {kk: vv for kk, vv in v.items() if kk != "tail"} for k, v in runs.items()}}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    for name, r in runs.items():
        # every generated case passed the checks; a "Runtime Error" of schemathesis' own generator (a
        # hypothesis/AST recursion bug on some body schemas) makes rc 1 without any failed case
        assert r["all_passed"], (name, r["tail"])
    assert total >= 2000, summary
    assert summary["server_errors"] == 0, summary
    assert summary["slowest_s"] <= 5, summary
