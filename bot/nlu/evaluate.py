"""Evaluation: per-intent / per-category / per-care-label precision, recall, F1; confusion matrices;
misclassified examples; a Markdown report that tells a trainer what to fix first."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import CARE_LABELS, Example, HardExample
from .language import detect_language
from .normalize import normalize


def prf(gold: Sequence[str], pred: Sequence[str], labels: Iterable[str] | None = None) -> dict[str, Any]:
    """Per-label precision/recall/F1/support, plus accuracy, macro and weighted F1."""
    labs = sorted(set(labels) if labels is not None else set(gold) | set(pred))
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=False):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    per: dict[str, dict[str, float]] = {}
    for lab in labs:
        prec = tp[lab] / (tp[lab] + fp[lab]) if tp[lab] + fp[lab] else 0.0
        rec = tp[lab] / (tp[lab] + fn[lab]) if tp[lab] + fn[lab] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
                    "support": tp[lab] + fn[lab]}
    supported = [lab for lab in labs if per[lab]["support"] > 0]
    total = sum(per[lab]["support"] for lab in supported)
    return {
        "accuracy": round(sum(tp.values()) / len(gold), 4) if gold else 0.0,
        "macro_f1": round(float(np.mean([per[lab]["f1"] for lab in supported])), 4) if supported else 0.0,
        "weighted_f1": round(sum(per[lab]["f1"] * per[lab]["support"] for lab in supported) / total, 4)
        if total else 0.0,
        "n": len(gold),
        "per_label": per,
    }


def confusion(gold: Sequence[str], pred: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Labels and the confusion matrix (rows gold, columns predicted)."""
    labs = sorted(set(gold) | set(pred))
    index = {lab: i for i, lab in enumerate(labs)}
    mat = np.zeros((len(labs), len(labs)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=False):
        mat[index[g], index[p]] += 1
    return labs, mat


def plot_confusion(labels: list[str], mat: np.ndarray, path: str | Path, title: str) -> Path:
    """Save a confusion matrix as a PNG (row-normalised colours, counts written in cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    size = max(5.0, 0.32 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    norm = mat / np.maximum(mat.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=90, fontsize=7 if n > 20 else 9)
    ax.set_yticklabels(labels, fontsize=7 if n > 20 else 9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            if mat[i, j]:
                ax.text(j, i, str(mat[i, j]), ha="center", va="center", fontsize=6 if n > 20 else 8,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def evaluate_intents(examples: list[Example], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare parse results with gold intents/categories; split by language."""
    gold_i = [e.intent or "" for e in examples]
    pred_i = [r["intent"]["name"] for r in results]
    gold_c = [e.category or "none" for e in examples]
    pred_c = [r["category"] or "none" for r in results]
    langs = [detect_language(normalize(e.text).text) for e in examples]
    by_lang: dict[str, dict[str, Any]] = {}
    for lang in ("zh", "en", "mixed"):
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        if idx:
            by_lang[lang] = {
                "n": len(idx),
                "intent_accuracy": round(sum(gold_i[i] == pred_i[i] for i in idx) / len(idx), 4),
                "category_accuracy": round(sum(gold_c[i] == pred_c[i] for i in idx) / len(idx), 4),
            }
    errors = []
    for e, r, lang in zip(examples, results, langs, strict=False):
        if (e.intent or "") != r["intent"]["name"] or (e.category or "none") != (r["category"] or "none"):
            errors.append({
                "text": r["text"], "language": lang, "source": f"{e.source}:{e.line}",
                "expected_intent": e.intent, "predicted_intent": r["intent"]["name"],
                "confidence": r["intent"]["confidence"],
                "expected_category": e.category, "predicted_category": r["category"],
                "ranking": r["intent_ranking"][:3],
            })
    confident_wrong = sorted((x for x in errors if x["expected_intent"] != x["predicted_intent"]),
                             key=lambda x: -x["confidence"])
    pairs = Counter((x["expected_intent"], x["predicted_intent"]) for x in errors
                    if x["expected_intent"] != x["predicted_intent"])
    return {
        "intent": prf(gold_i, pred_i),
        "category": prf(gold_c, pred_c),
        "by_language": by_lang,
        "top_confusions": [{"expected": a, "predicted": b, "count": n} for (a, b), n in pairs.most_common(15)],
        "errors": errors,
        "confident_errors": confident_wrong[:20],
    }


def evaluate_care(examples: list[Example], results: list[dict[str, Any]], neutral_banking: list[dict[str, Any]]
                  | None = None) -> dict[str, Any]:
    """Per care label P/R/F1 at the 0.5 decision point, and false-positive rates."""
    out: dict[str, Any] = {"labels": {}, "errors": []}
    for j, lab in enumerate(CARE_LABELS):
        gold = [lab in e.labels for e in examples]
        pred = [_care_prob(r, lab) >= 0.5 for r in results]
        tp = sum(g and p for g, p in zip(gold, pred, strict=False))
        fp = sum((not g) and p for g, p in zip(gold, pred, strict=False))
        fn = sum(g and (not p) for g, p in zip(gold, pred, strict=False))
        neg = sum(not g for g in gold)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out["labels"][lab] = {
            "precision": round(prec, 4), "recall": round(rec, 4),
            "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0,
            "false_positive_rate": round(fp / neg, 4) if neg else 0.0, "support": tp + fn,
        }
        del j
    for e, r in zip(examples, results, strict=False):
        predicted = predicted_care(r)
        if set(predicted) != set(e.labels):
            out["errors"].append({"text": r["text"], "expected": list(e.labels), "predicted": list(predicted),
                                  "care": r["care"], "sentiment": r.get("sentiment"), "source": f"{e.source}:{e.line}"})
    if neutral_banking:
        for lab in ("elderly", "distressed"):
            fp = sum(r["care"][lab] >= 0.5 for r in neutral_banking)
            out.setdefault("neutral_banking_fpr", {})[lab] = round(fp / len(neutral_banking), 4)
        out["neutral_banking_n"] = len(neutral_banking)
    return out


def predicted_care(result: dict[str, Any], labels: Sequence[str] = CARE_LABELS) -> tuple[str, ...]:
    """The care labels among ``labels`` that ``result`` predicts (at the 0.5 decision point), in that order."""
    return tuple(lab for lab in labels if _care_prob(result, lab) >= 0.5)


def _care_prob(result: dict[str, Any], label: str) -> float:
    if label == "positive":
        return float(result.get("sentiment", {}).get("positive", 0.0))
    return float(result["care"][label])


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``errors.json``, confusion PNGs and ``report.md`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    nlu = report.get("nlu")
    if nlu:
        files["errors"] = out / "errors.json"
        files["errors"].write_text(json.dumps(nlu["errors"], ensure_ascii=False, indent=2))
        for what in ("intent", "category"):
            labs, mat = report["_confusion"][what]
            files[f"{what}_confusion"] = plot_confusion(labs, mat, out / f"{what}_confusion.png",
                                                        f"{what} confusion ({nlu[what]['n']} messages)")
    care = report.get("care")
    if care:
        files["care_errors"] = out / "care_errors.json"
        files["care_errors"].write_text(json.dumps(care["errors"], ensure_ascii=False, indent=2))
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    if nlu:
        public["nlu"] = {k: v for k, v in nlu.items() if k != "errors"}
    if care:
        public["care"] = {k: v for k, v in care.items() if k != "errors"}
    files["report"] = out / "report.json"
    files["report"].write_text(json.dumps(public, ensure_ascii=False, indent=2))
    files["markdown"] = out / "report.md"
    files["markdown"].write_text(render_markdown(report))
    return files


def render_markdown(report: dict[str, Any]) -> str:
    """A short, actionable summary for trainers."""
    lines = ["# NLU evaluation", ""]
    nlu = report.get("nlu")
    if nlu:
        lines += [f"- messages: {nlu['intent']['n']}",
                  f"- intent accuracy: {nlu['intent']['accuracy']:.2%} (macro F1 {nlu['intent']['macro_f1']:.3f})",
                  f"- category accuracy: {nlu['category']['accuracy']:.2%}"]
        for lang, m in nlu["by_language"].items():
            lines.append(f"- {lang}: intent {m['intent_accuracy']:.2%}, category {m['category_accuracy']:.2%} "
                         f"({m['n']} messages)")
        worst = sorted(((k, v) for k, v in nlu["intent"]["per_label"].items() if v["support"]),
                       key=lambda kv: kv[1]["f1"])[:10]
        lines += ["", "## Intents to fix first (lowest F1)", "", "| intent | precision | recall | F1 | support |",
                  "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1']:.2f} | {v['support']} |"
                  for k, v in worst]
        lines += ["", "## Most frequent confusions", "", "| expected | predicted | count |", "|---|---|---|"]
        lines += [f"| {c['expected']} | {c['predicted']} | {c['count']} |" for c in nlu["top_confusions"]]
        lines += ["", "## Confident mistakes (add or fix training examples like these)", ""]
        lines += [f"- `{e['text']}` — expected **{e['expected_intent']}**, got {e['predicted_intent']} "
                  f"({e['confidence']:.2f}) [{e['source']}]" for e in nlu["confident_errors"]]
    care = report.get("care")
    if care:
        lines += ["", "## Care model", "", "| label | precision | recall | F1 | FPR | support |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {k} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1']:.2f} | {v['false_positive_rate']:.3f} "
                  f"| {v['support']} |" for k, v in care["labels"].items()]
        if "neutral_banking_fpr" in care:
            lines.append(f"\nFalse-positive rate on {care['neutral_banking_n']} neutral banking questions: "
                         + ", ".join(f"{k} {v:.2%}" for k, v in care["neutral_banking_fpr"].items()))
    return "\n".join(lines) + "\n"


def _rate(hits: int, n: int) -> float:
    return round(hits / n, 4) if n else 0.0


def _f1(gold: Sequence[bool], pred: Sequence[bool]) -> dict[str, float]:
    tp = sum(g and p for g, p in zip(gold, pred, strict=True))
    fp = sum(p and not g for g, p in zip(gold, pred, strict=True))
    fn = sum(g and not p for g, p in zip(gold, pred, strict=True))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4),
            "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0, "support": tp + fn}


#: the care labels the hard set scores
_HARD_CARE = ("elderly", "distressed")


def evaluate_hard(examples: Sequence[HardExample], results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-class scores on the hard held-out set (``data/test/hard``).

    Per class: intent and category accuracy. Overall: category accuracy, out-of-scope recall with
    in-scope accuracy (intent right) and in-scope kept (not answered as out of scope), complaint and
    request_human P/R/F1, care F1 for elderly and distressed (examples without ``care`` count as
    neither), the share of two-request messages whose intents all appear in ``multi_intent``, and the
    share of other-institution messages that carry the ``other_institution`` signal.
    """
    gold_c = [e.category or "none" for e in examples]
    pred_c = [r["category"] or "none" for r in results]
    pred_i = [r["intent"]["name"] for r in results]
    per_class: dict[str, dict[str, Any]] = {}
    for cls in sorted({e.cls for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.cls == cls]
        per_class[cls] = {"n": len(idx),
                          "intent_accuracy": _rate(sum(pred_i[i] == examples[i].intent for i in idx), len(idx)),
                          "category_accuracy": _rate(sum(pred_c[i] == gold_c[i] for i in idx), len(idx))}
    oos = [i for i, e in enumerate(examples) if e.intent == "out_of_scope"]
    ins = [i for i, e in enumerate(examples) if e.intent != "out_of_scope"]
    multi = [i for i, e in enumerate(examples) if e.cls == "multi_intent" and e.intents]

    def multi_hit(i: int) -> bool:
        found = {m["name"] for m in results[i].get("multi_intent") or []} | {pred_i[i]}
        return set(examples[i].intents) <= found

    inst = [i for i, e in enumerate(examples) if e.cls == "other_institution"]
    out: dict[str, Any] = {
        "n": len(examples),
        "category_accuracy": _rate(sum(g == p for g, p in zip(gold_c, pred_c, strict=True)), len(examples)),
        "intent_accuracy": _rate(sum(pred_i[i] == e.intent for i, e in enumerate(examples)), len(examples)),
        "oos_recall": _rate(sum(pred_i[i] == "out_of_scope" for i in oos), len(oos)),
        "in_scope_accuracy": _rate(sum(pred_i[i] == examples[i].intent for i in ins), len(ins)),
        "in_scope_kept": _rate(sum(pred_i[i] != "out_of_scope" for i in ins), len(ins)),
        "complaint": _f1([e.intent == "complaint" for e in examples], [p == "complaint" for p in pred_i]),
        "request_human": _f1([e.intent == "request_human" for e in examples], [p == "request_human" for p in pred_i]),
        "care": {lab: _f1([lab in e.care for e in examples], [_care_prob(r, lab) >= 0.5 for r in results])
                 for lab in _HARD_CARE},
        "multi_intent_rate": _rate(sum(multi_hit(i) for i in multi), len(multi)),
        "multi_intent_n": len(multi),
        "false_multi_intent_rate": _rate(sum(bool(results[i].get("multi_intent")) for i in range(len(examples))
                                             if examples[i].cls != "multi_intent"),
                                         sum(e.cls != "multi_intent" for e in examples)),
        "other_institution_signal": _rate(sum(bool(results[i].get("other_institution")) for i in inst), len(inst)),
        "per_class": per_class,
    }
    out["errors"] = [
        {"class": e.cls, "text": r["text"], "source": f"{e.source}:{e.line}", "expected_intent": e.intent,
         "predicted_intent": r["intent"]["name"], "expected_category": e.category, "predicted_category": r["category"],
         "expected_care": list(e.care), "care": r["care"], "expected_intents": list(e.intents),
         "multi_intent": [m["name"] for m in r.get("multi_intent") or []]}
        for i, (e, r) in enumerate(zip(examples, results, strict=True))
        if r["intent"]["name"] != e.intent or (e.category or "none") != (r["category"] or "none")
        or (e.intents and not multi_hit(i)) or set(e.care) & set(_HARD_CARE) != set(predicted_care(r, _HARD_CARE))
    ]
    return out


HARD_HEADLINES = ("category_accuracy", "intent_accuracy", "oos_recall", "in_scope_accuracy", "in_scope_kept",
                  "multi_intent_rate", "false_multi_intent_rate", "other_institution_signal")


def hard_headlines(rep: dict[str, Any]) -> dict[str, float]:
    """Flat headline numbers of :func:`evaluate_hard` (for printing and ``--compare``)."""
    flat = {k: float(rep[k]) for k in HARD_HEADLINES}
    flat["complaint_f1"] = rep["complaint"]["f1"]
    flat["request_human_f1"] = rep["request_human"]["f1"]
    for lab, m in rep["care"].items():
        flat[f"care_{lab}_f1"] = m["f1"]
    for cls, m in rep["per_class"].items():
        flat[f"class {cls} category"] = m["category_accuracy"]
        flat[f"class {cls} intent"] = m["intent_accuracy"]
    return flat
