"""Rendering of the service report: text, JSON, HTML, and PNG charts (matplotlib)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

CATEGORY_COLORS = {"consultation": "#3b82f6", "inquiry": "#10b981", "operation": "#f59e0b",
                   "value_added": "#8b5cf6", "none": "#9ca3af"}


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    for path in ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",):
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
            plt.rcParams["font.sans-serif"] = ["Noto Sans CJK JP", "DejaVu Sans"]
    return plt


def charts(report: dict[str, Any]) -> dict[str, bytes]:
    """PNG charts of the report, by name."""
    plt = _plt()
    out: dict[str, bytes] = {}

    def save(fig: Any, name: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        out[name] = buf.getvalue()

    days = list(report["per_day"])
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bottom = [0] * len(days)
    for cat, color in CATEGORY_COLORS.items():
        vals = [report["per_day"][d].get(cat, 0) for d in days]
        if any(vals):
            ax.bar(days, vals, bottom=bottom, color=color, label=cat)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_title("Customer requests per day by category")
    ax.set_ylabel("messages")
    if days:
        ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    save(fig, "volume_per_day")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = list(range(1, 6))
    for offset, who, color in ((-0.2, "bot", "#3b82f6"), (0.2, "agent", "#f59e0b")):
        dist = report["csat"][who]["distribution"]
        ax.bar([x + offset for x in xs], [dist[str(x)] for x in xs], width=0.4, color=color,
               label=f"{who} (mean {report['csat'][who]['mean']})")
    ax.set_xticks(xs)
    ax.set_title("CSAT distribution")
    ax.set_xlabel("score")
    ax.legend(fontsize=8)
    save(fig, "csat")

    reasons = report["handoff_reasons"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.barh(list(reasons) or ["(none)"], list(reasons.values()) or [0], color="#ef4444")
    ax.set_title(f"Handoff reasons (rate {report['handoff_rate']})")
    save(fig, "handoff_reasons")

    top = report["top_intents"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.barh([t["intent"] for t in top][::-1] or ["(none)"], [t["count"] for t in top][::-1] or [0], color="#10b981")
    ax.set_title("Top intents")
    save(fig, "top_intents")
    return out


def render_text(r: dict[str, Any]) -> str:
    """A plain-text summary."""
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    lines = [
        f"Service report {r['window']['since'][:10]} .. {r['window']['until'][:10]}",
        f"conversations            {r['conversations']}",
        f"containment              {pct(r['containment'])}",
        f"handoff rate             {pct(r['handoff_rate'])}  reasons: "
        + ", ".join(f"{k} {v}" for k, v in r["handoff_reasons"].items()),
        f"first-contact resolution {pct(r['first_contact_resolution'])} ({r['contacts']} contacts)",
        f"CSAT                     all {r['csat']['all']['mean']} (n={r['csat']['all']['n']}), "
        f"bot {r['csat']['bot']['mean']}, agent {r['csat']['agent']['mean']}",
        "dissatisfaction reasons  " + (", ".join(f"{k} {v}" for k, v in r["dissatisfaction_reasons"].items()) or "-"),
        f"care-mode share          {pct(r['care_mode_share'])}",
    ]
    if "queue_wait_seconds" in r:
        q, h = r["queue_wait_seconds"], r["handle_time_seconds"]
        lines += [f"queue wait               p50 {q['p50']} s, p90 {q['p90']} s (n={q['n']})",
                  f"agent handle time        p50 {h['p50']} s, mean {h['mean']} s (n={h['n']})",
                  "agent concurrency        " + (", ".join(f"{a} max {c['max']} mean {c['mean']}"
                                                            for a, c in r["agent_concurrency"].items()) or "-")]
    lines.append("top intents              " + ", ".join(f"{t['intent']} {t['count']}" for t in r["top_intents"]))
    lines.append("fastest growing          " + (", ".join(f"{t['intent']} +{t['growth']}"
                                                          for t in r["fastest_growing_intents"]) or "-"))
    lines.append("guides that fail most    " + (", ".join(f"{g['guide_id']} {g['failed']}/{g['shown']}"
                                                          for g in r["failing_guides"]) or "-"))
    lines.append("per week                 " + "; ".join(f"{w}: " + ", ".join(f"{c} {n}" for c, n in v.items())
                                                         for w, v in r["per_week"].items()))
    return "\n".join(lines) + "\n"


def render_html(r: dict[str, Any], pngs: dict[str, bytes]) -> str:
    """A self-contained HTML page (charts inlined as data URIs, every value escaped)."""
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(line.split('  ')[0].strip())}</th><td>{esc(line[25:].strip())}</td></tr>"
                   for line in render_text(r).splitlines()[1:])
    imgs = "".join(f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                   f"<figcaption>{esc(name)}</figcaption></figure>" for name, data in pngs.items())
    return ("<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>bankbot service report</title>"
            "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:24px;color:#111}"
            "table{border-collapse:collapse}th,td{border-bottom:1px solid #ddd;padding:6px 10px;text-align:left}"
            "figure{display:inline-block;margin:12px}img{max-width:640px}</style></head><body>"
            f"<h1>Service report</h1><p>{esc(r['window']['since'][:10])} – {esc(r['window']['until'][:10])}</p>"
            f"<table id='metrics'>{rows}</table><div id='charts'>{imgs}</div>"
            f"<script type='application/json' id='data'>{esc(json.dumps(r, ensure_ascii=False))}</script>"
            "</body></html>")
