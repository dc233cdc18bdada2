"""``bankbot test``: evaluate a model on held-out data, or cross-validate on the training data.

Writes ``report.json``, ``report.md``, ``errors.json``, ``care_errors.json`` and confusion-matrix
PNGs into ``--out`` (default ``reports/<model name>/``) and prints the headline numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..config import load_settings
from ..nlu.data import load_care, load_hard, load_nlu
from ..nlu.evaluate import confusion, evaluate_care, evaluate_hard, evaluate_intents, hard_headlines, write_report
from ..nlu.pipeline import NLUPipeline


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bankbot test``."""
    p.add_argument("--model", help="model directory or name (default: latest)")
    p.add_argument("--data", nargs="+", default=None, help="NLU test files/folders (default: data/test)")
    p.add_argument("--care-data", nargs="*", default=None, help="care test files (default: data/care/test.yml)")
    p.add_argument("--cross-validation", type=int, metavar="N", help="N-fold cross-validation on --data "
                   "(default data/nlu) instead of testing a saved model")
    p.add_argument("--compare", nargs=2, metavar=("MODEL_A", "MODEL_B"),
                   help="evaluate two models on --data and show per-intent F1 changes (B minus A)")
    p.add_argument("--hard", nargs="*", default=None,
                   help="hard held-out set, scored per class (default: data/test/hard if present; none to skip)")
    p.add_argument("--out", help="report folder (default: reports/<model>)")


def _hard_paths(args: argparse.Namespace) -> list[str]:
    if args.hard is not None:
        return list(args.hard)
    return ["data/test/hard"] if Path("data/test/hard").is_dir() else []


def _hard_report(pipe: NLUPipeline, paths: list[str]) -> dict[str, Any] | None:
    examples = load_hard(paths) if paths else []
    if not examples:
        return None
    return evaluate_hard(examples, pipe.parse_many([e.text for e in examples]))


def _print_hard(rep: dict[str, Any]) -> None:
    print(f"hard set (n={rep['n']}): category {rep['category_accuracy']:.4f}  intent {rep['intent_accuracy']:.4f}  "
          f"OOS recall {rep['oos_recall']:.4f}  in-scope accuracy {rep['in_scope_accuracy']:.4f} "
          f"(kept {rep['in_scope_kept']:.4f})")
    print(f"  complaint F1 {rep['complaint']['f1']:.4f} (R {rep['complaint']['recall']:.4f})  request_human F1 "
          f"{rep['request_human']['f1']:.4f} (R {rep['request_human']['recall']:.4f})  care F1 elderly "
          f"{rep['care']['elderly']['f1']:.4f} distressed {rep['care']['distressed']['f1']:.4f}")
    print(f"  multi-intent {rep['multi_intent_rate']:.4f} of {rep['multi_intent_n']} (false multi "
          f"{rep['false_multi_intent_rate']:.4f})  other-institution signal {rep['other_institution_signal']:.4f}")
    for cls, m in rep["per_class"].items():
        print(f"  {cls:18s} n={m['n']:4d}  category {m['category_accuracy']:.4f}  intent {m['intent_accuracy']:.4f}")


def _intent_report(pipe: NLUPipeline, examples: list[Any]) -> tuple[dict[str, Any], Any, list[dict[str, Any]]]:
    results = pipe.parse_many([e.text for e in examples])
    rep = evaluate_intents(examples, results)
    gold_i = [e.intent or "" for e in examples]
    pred_i = [r["intent"]["name"] for r in results]
    gold_c = [e.category or "none" for e in examples]
    pred_c = [r["category"] or "none" for r in results]
    return rep, {"intent": confusion(gold_i, pred_i), "category": confusion(gold_c, pred_c)}, results


def _print_summary(report: dict[str, Any], files: dict[str, Path]) -> None:
    nlu = report.get("nlu")
    if nlu:
        print(f"intent accuracy   {nlu['intent']['accuracy']:.4f}  macro F1 {nlu['intent']['macro_f1']:.4f}  "
              f"(n={nlu['intent']['n']})")
        print(f"category accuracy {nlu['category']['accuracy']:.4f}")
        for lang, m in nlu["by_language"].items():
            print(f"  {lang:5s} intent {m['intent_accuracy']:.4f}  category {m['category_accuracy']:.4f}  n={m['n']}")
    care = report.get("care")
    if care:
        for lab, m in care["labels"].items():
            print(f"care {lab:10s} P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f} "
                  f"FPR {m['false_positive_rate']:.3f} n={m['support']}")
        for lab, v in care.get("neutral_banking_fpr", {}).items():
            print(f"care {lab:10s} false positives on neutral banking questions {v:.4f} "
                  f"(n={care['neutral_banking_n']})")
    print(f"report: {files['markdown']}")


def run(args: argparse.Namespace) -> int:
    """Evaluate and write the report."""
    settings = load_settings(args.config, model=args.model)
    if args.cross_validation:
        return _cross_validate(settings, args)
    if args.compare:
        return _compare(settings, args)
    pipe = NLUPipeline.from_settings(settings)
    data = args.data or ["data/test"]
    report: dict[str, Any] = {"model": pipe.model_path, "data": data}
    examples = load_nlu(data)
    report["nlu"], report["_confusion"], results = _intent_report(pipe, examples)
    care_paths = args.care_data if args.care_data is not None else (
        ["data/care/test.yml"] if Path("data/care/test.yml").exists() else [])
    if care_paths and pipe.model.care_net is not None:
        care_ex = load_care(care_paths)
        care_res = pipe.parse_many([e.text for e in care_ex])
        # business questions from the NLU test set: calm by construction, except a few impatient ones
        neutral = [r for e, r in zip(examples, results, strict=False) if e.category is not None]
        report["care"] = evaluate_care(care_ex, care_res, neutral)
    hard = _hard_report(pipe, _hard_paths(args))
    out = Path(args.out or Path("reports") / Path(pipe.model_path).name)
    if hard:
        import json

        out.mkdir(parents=True, exist_ok=True)
        (out / "hard_errors.json").write_text(json.dumps(hard["errors"], ensure_ascii=False, indent=2))
        report["hard"] = {k: v for k, v in hard.items() if k != "errors"}
    files = write_report(report, out)
    _print_summary(report, files)
    if hard:
        _print_hard(hard)
    return 0


def _cross_validate(settings: Any, args: argparse.Namespace) -> int:
    from ..nlu.encoder import make_encoder
    from ..nlu.heads import TrainConfig
    from ..nlu.model import NLUModel, featurize
    from ..nlu.pipeline import ParseOptions

    folds = args.cross_validation
    if folds < 2:
        raise ValueError("--cross-validation needs at least 2 folds")
    examples = load_nlu(args.data or [settings.nlu_data])
    encoder = make_encoder(settings.encoder_backend, settings.models_dir, settings.encoder_threads or None)
    allfeat = featurize(encoder, [e.text for e in examples])
    index = {t: i for i, t in enumerate(e.text for e in examples)}

    def cached(texts: list[str]) -> Any:
        rows = [index[t] for t in texts]
        return dataclasses.replace(allfeat, texts=[allfeat.texts[i] for i in rows], emb=allfeat.emb[rows],
                                   bags=[allfeat.bags[i] for i in rows])

    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(examples))
    results: list[dict[str, Any] | None] = [None] * len(examples)
    for k in range(folds):
        test_idx = set(order[k::folds].tolist())
        train = [e for i, e in enumerate(examples) if i not in test_idx]
        model = NLUModel.train(train, [], encoder, settings.encoder_backend, TrainConfig(seed=settings.seed),
                               log=lambda s: None, featurize_fn=cached)
        pipe = NLUPipeline(model, encoder, ParseOptions(model.config["fallback_threshold"]))
        test_list = sorted(test_idx)
        for i, r in zip(test_list, pipe.parse_many([examples[i].text for i in test_list]), strict=False):
            results[i] = r
        print(f"fold {k + 1}/{folds} done")
    done = [r for r in results if r is not None]
    rep = evaluate_intents(examples, done)
    report: dict[str, Any] = {"model": f"{folds}-fold cross-validation", "data": args.data or [settings.nlu_data],
                              "nlu": rep,
                              "_confusion": {
                                  "intent": confusion([e.intent or "" for e in examples],
                                                      [r["intent"]["name"] for r in done]),
                                  "category": confusion([e.category or "none" for e in examples],
                                                        [r["category"] or "none" for r in done])}}
    files = write_report(report, Path(args.out or "reports/cross-validation"))
    _print_summary(report, files)
    return 0


def _compare(settings: Any, args: argparse.Namespace) -> int:
    """Per-intent F1 of model B minus model A on the same test data, worst changes first."""
    import json

    data = args.data or ["data/test"]
    examples = load_nlu(data)
    reports = []
    for name in args.compare:
        pipe = NLUPipeline.from_settings(load_settings(args.config, model=name))
        reports.append(evaluate_intents(examples, pipe.parse_many([e.text for e in examples])))
    hard_paths = _hard_paths(args)
    hard = []
    for name in args.compare if hard_paths else []:
        pipe = NLUPipeline.from_settings(load_settings(args.config, model=name))
        rep = _hard_report(pipe, hard_paths)
        if rep:
            hard.append(hard_headlines(rep))
    a, b = reports
    rows = []
    for intent in sorted(set(a["intent"]["per_label"]) | set(b["intent"]["per_label"])):
        fa = a["intent"]["per_label"].get(intent, {}).get("f1", 0.0)
        fb = b["intent"]["per_label"].get(intent, {}).get("f1", 0.0)
        rows.append({"intent": intent, "f1_a": fa, "f1_b": fb, "change": round(fb - fa, 4)})
    rows.sort(key=lambda r: (r["change"], r["intent"]))
    hard_rows = [{"metric": k, "a": hard[0][k], "b": hard[1].get(k, 0.0), "change": round(hard[1].get(k, 0.0) - v, 4)}
                 for k, v in hard[0].items()] if len(hard) == 2 else []
    summary = {"model_a": args.compare[0], "model_b": args.compare[1], "data": data,
               "intent_accuracy": [a["intent"]["accuracy"], b["intent"]["accuracy"]],
               "category_accuracy": [a["category"]["accuracy"], b["category"]["accuracy"]],
               "macro_f1": [a["intent"]["macro_f1"], b["intent"]["macro_f1"]], "per_intent": rows, "hard": hard_rows,
               "better": b["intent"]["macro_f1"] >= a["intent"]["macro_f1"]}
    lines = [f"# {args.compare[1]} vs {args.compare[0]} on {', '.join(data)}", "",
             f"- intent accuracy {summary['intent_accuracy'][0]:.4f} -> {summary['intent_accuracy'][1]:.4f}",
             f"- category accuracy {summary['category_accuracy'][0]:.4f} -> {summary['category_accuracy'][1]:.4f}",
             f"- macro F1 {summary['macro_f1'][0]:.4f} -> {summary['macro_f1'][1]:.4f}", "",
             "| intent | F1 A | F1 B | change |", "|---|---|---|---|"]
    lines += [f"| {r['intent']} | {r['f1_a']:.3f} | {r['f1_b']:.3f} | {r['change']:+.3f} |" for r in rows
              if r["change"]]
    if hard_rows:
        lines += ["", f"## Hard set ({', '.join(hard_paths)}), per class", "", "| metric | A | B | change |",
                  "|---|---|---|---|"]
        lines += [f"| {r['metric']} | {r['a']:.4f} | {r['b']:.4f} | {r['change']:+.4f} |" for r in hard_rows]
    out = Path(args.out or "reports/compare")
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))
    changed = [r for r in rows if r["change"]]
    for r in changed[:10] + (changed[-10:] if len(changed) > 10 else []):
        print(f"  {r['intent']:24s} {r['f1_a']:.3f} -> {r['f1_b']:.3f} ({r['change']:+.3f})")
    for r in hard_rows:
        print(f"  hard {r['metric']:32s} {r['a']:.4f} -> {r['b']:.4f} ({r['change']:+.4f})")
    print(f"report: {out / 'compare.md'}")
    return 0
