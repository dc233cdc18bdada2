"""Rendering of the service report in zh or en: text, JSON, HTML, and PNG charts (matplotlib).

Intent, category, reason and disposition names come from the console's one list of display names
(``data/handoff/labels.yml`` via ``handoff.labels``); the report's own wording is in ``TEXT``. The HTML uses
no inline style or script, so it renders under the console's CSP (``style-src 'self'``): served by the app
it links ``/console/static/report.css``; written to a file by ``bankbot report`` it carries the same CSS.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from pathlib import Path
from typing import Any

from handoff.labels import LANGS, Lang, display

CATEGORY_COLORS = {"consultation": "#3b82f6", "inquiry": "#10b981", "operation": "#f59e0b",
                   "value_added": "#8b5cf6", "none": "#9ca3af"}
#: the stylesheet of the HTML report (served by the console's static route)
REPORT_CSS = Path(__file__).resolve().parents[2] / "handoff" / "console" / "static" / "report.css"
REPORT_CSS_URL = "/console/static/report.css"
#: chart name -> the axis that carries counts ("y" for column charts, "x" for bar charts)
COUNT_AXIS = {"volume_per_day": "y", "csat": "y", "handoff_reasons": "x", "top_intents": "x"}

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "服务报表", "range": "{0} 至 {1}（UTC）", "overview": "总览", "agents": "坐席明细",
        "charts": "图表", "conversations": "会话数", "containment": "机器人自助解决率",
        "handoff_rate": "转人工率", "handoff_reasons": "转人工原因", "fcr": "首次解决率",
        "contacts": "{0}（共 {1} 次咨询）", "csat": "满意度", "csat_line": "全部 {0}（{1} 份）· 机器人 {2} · 人工 {3}",
        "dissatisfaction": "不满意原因", "care_share": "关怀模式占比", "queue_wait": "排队等待",
        "wait_line": "中位 {0} · 90分位 {1}（{2} 个会话）", "handle_time": "人工处理时长",
        "handle_line": "中位 {0} · 平均 {1}（{2} 个会话）", "dispositions": "结束方式", "top_intents": "热门意图",
        "growing": "增长最快的意图", "failing_guides": "最常未解决的指引", "per_week": "每周请求量",
        "agent": "坐席", "chats": "会话数", "avg_handle": "平均处理时长", "avg_wait": "平均排队等待",
        "avg_hold": "平均回复等待", "agent_csat": "满意度（份数）", "peak": "最高并发",
        "no_agents": "这段时间没有人工会话", "none": "无", "na": "—",
        "chart_volume": "每日客户请求（按业务类别）", "chart_csat": "满意度评分分布",
        "chart_reasons": "转人工原因（转人工率 {0}）", "chart_intents": "热门意图", "messages": "条数",
        "score": "评分", "surveys": "份数", "times": "次数", "bot": "机器人", "human": "人工", "mean": "均分",
        "seconds": "{0}秒", "minutes": "{0}分{1:02d}秒", "hours": "{0}小时{1:02d}分", "guide_line": "{0} 未解决/{1} 次",
        "no_reason": "未填写",
    },
    "en": {
        "title": "Service report", "range": "{0} to {1} (UTC)", "overview": "Overview", "agents": "Agents",
        "charts": "Charts", "conversations": "Conversations", "containment": "Containment (solved by the bot)",
        "handoff_rate": "Handoff rate", "handoff_reasons": "Handoff reasons", "fcr": "First-contact resolution",
        "contacts": "{0} ({1} contacts)", "csat": "CSAT", "csat_line": "all {0} (n={1}) · bot {2} · agent {3}",
        "dissatisfaction": "Dissatisfaction reasons", "care_share": "Care-mode share", "queue_wait": "Queue wait",
        "wait_line": "p50 {0} · p90 {1} ({2} chats)", "handle_time": "Agent handle time",
        "handle_line": "p50 {0} · mean {1} ({2} chats)", "dispositions": "Dispositions", "top_intents": "Top intents",
        "growing": "Fastest-growing intents", "failing_guides": "Guides that fail most",
        "per_week": "Requests per week",
        "agent": "Agent", "chats": "Chats", "avg_handle": "Avg handle time", "avg_wait": "Avg queue wait",
        "avg_hold": "Avg reply wait", "agent_csat": "CSAT (n)", "peak": "Peak concurrency",
        "no_agents": "No agent chats in this period", "none": "none", "na": "—",
        "chart_volume": "Customer requests per day by category", "chart_csat": "CSAT distribution",
        "chart_reasons": "Handoff reasons (rate {0})", "chart_intents": "Top intents", "messages": "messages",
        "score": "score", "surveys": "surveys", "times": "handoffs", "bot": "bot", "human": "agent", "mean": "mean",
        "seconds": "{0} s", "minutes": "{0} min {1:02d} s", "hours": "{0} h {1:02d} min",
        "guide_line": "{0} failed / {1}",
        "no_reason": "none given",
    },
}


def check_lang(value: str | None) -> Lang:
    """``value`` as a report language (default zh); ``ValueError`` with a message for anything else."""
    if value in (None, ""):
        return "zh"
    for lang in LANGS:
        if value == lang:
            return lang
    raise ValueError(f"'lang' must be one of {', '.join(LANGS)}, got {str(value)[:20]!r}")


class _Fmt:
    """Number, duration and name formatting in one language."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.t = TEXT[lang]

    def pct(self, v: float | None) -> str:
        return self.t["na"] if v is None else f"{v:.1%}"

    def num(self, v: float | None) -> str:
        return self.t["na"] if v is None else (str(int(v)) if float(v).is_integer() else f"{v:g}")

    def secs(self, v: float | None) -> str:
        if v is None:
            return self.t["na"]
        s = int(round(v))
        if s < 60:
            return self.t["seconds"].format(s)
        if s < 3600:
            return self.t["minutes"].format(s // 60, s % 60)
        return self.t["hours"].format(s // 3600, (s % 3600) // 60)

    def intent(self, name: str) -> str:
        return display("intents", name, self.lang)

    def category(self, name: str) -> str:
        return display("categories", name, self.lang)

    def reason(self, name: str) -> str:
        return display("reasons", name, self.lang)

    def guide(self, guide_id: str) -> str:
        """The guide's title in this language (from the guides file), else its id."""
        try:
            from actions.guides import guides, localized

            guide = guides().get(guide_id)
            return str(localized(guide, self.lang).get("title") or guide_id) if guide else guide_id
        except (OSError, ValueError, StopIteration):
            return guide_id

    def counts(self, items: dict[str, Any], name: Any = None) -> str:
        if not items:
            return self.t["none"]
        sep = "、" if self.lang == "zh" else ", "
        return sep.join(f"{name(k) if name else k} {v}" for k, v in items.items())


def _days(report: dict[str, Any]) -> list[str]:
    """Every day of the report's window (so quiet days show as zero), falling back to the days with data."""
    try:
        first = dt.date.fromisoformat(report["window"]["since"][:10])
        end = dt.datetime.fromisoformat(report["window"]["until"]) - dt.timedelta(milliseconds=1)
        out: list[str] = []
        day = first
        while day <= end.date() and len(out) < 400:
            out.append(day.isoformat())
            day += dt.timedelta(days=1)
        return out or list(report["per_day"])
    except (KeyError, ValueError):
        return list(report["per_day"])


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


def chart_captions(report: dict[str, Any], lang: Lang = "zh") -> dict[str, str]:
    """The localised title of each chart, by chart name."""
    f = _Fmt(lang)
    return {"volume_per_day": f.t["chart_volume"], "csat": f.t["chart_csat"],
            "handoff_reasons": f.t["chart_reasons"].format(f.pct(report.get("handoff_rate"))),
            "top_intents": f.t["chart_intents"]}


def figures(report: dict[str, Any], lang: Lang = "zh") -> dict[str, Any]:
    """The report's matplotlib figures by name; every count axis has whole-number ticks from 0."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    f = _Fmt(lang)
    caps = chart_captions(report, lang)
    out: dict[str, Any] = {}

    def counts_on(ax: Any, axis: str, top: float) -> None:
        which = ax.yaxis if axis == "y" else ax.xaxis
        which.set_major_locator(MaxNLocator(integer=True, min_n_ticks=2))
        (ax.set_ylim if axis == "y" else ax.set_xlim)(0, max(1.0, top * 1.1))

    days = _days(report)
    per_day = report.get("per_day", {})
    fig, ax = plt.subplots(figsize=(8, 3.5))
    xs = list(range(len(days)))
    bottom = [0] * len(days)
    for cat, color in CATEGORY_COLORS.items():
        vals = [per_day.get(d, {}).get(cat, 0) for d in days]
        if any(vals):
            ax.bar(xs, vals, bottom=bottom, color=color, label=f.category(cat))
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    step = max(1, len(days) // 14)
    ax.set_xticks(xs[::step], [d[5:] for d in days[::step]])
    ax.set_title(caps["volume_per_day"])
    ax.set_ylabel(f.t["messages"])
    counts_on(ax, "y", max(bottom, default=0))
    if any(bottom):
        ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    out["volume_per_day"] = fig

    fig, ax = plt.subplots(figsize=(5, 3.5))
    scores = list(range(1, 6))
    top = 0
    for offset, who, name, color in ((-0.2, "bot", f.t["bot"], "#3b82f6"), (0.2, "agent", f.t["human"], "#f59e0b")):
        dist = report["csat"][who]["distribution"]
        vals = [dist.get(str(x), 0) for x in scores]
        top = max(top, *vals)
        ax.bar([x + offset for x in scores], vals, width=0.4, color=color,
               label=f"{name}（{f.t['mean']} {f.num(report['csat'][who]['mean'])}）" if lang == "zh"
               else f"{name} ({f.t['mean']} {f.num(report['csat'][who]['mean'])})")
    ax.set_xticks(scores)
    ax.set_title(caps["csat"])
    ax.set_xlabel(f.t["score"])
    ax.set_ylabel(f.t["surveys"])
    counts_on(ax, "y", top)
    ax.legend(fontsize=8)
    out["csat"] = fig

    reasons = report["handoff_reasons"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.barh([f.reason(k) for k in reasons] or [f.t["none"]], list(reasons.values()) or [0], color="#ef4444")
    ax.set_title(caps["handoff_reasons"])
    ax.set_xlabel(f.t["times"])
    counts_on(ax, "x", max(reasons.values(), default=0))
    out["handoff_reasons"] = fig

    top_intents = report["top_intents"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.barh([f.intent(t["intent"]) for t in top_intents][::-1] or [f.t["none"]],
            [t["count"] for t in top_intents][::-1] or [0], color="#10b981")
    ax.set_title(caps["top_intents"])
    ax.set_xlabel(f.t["messages"])
    counts_on(ax, "x", max((t["count"] for t in top_intents), default=0))
    out["top_intents"] = fig
    for fig in out.values():
        fig.tight_layout()
    return out


def charts(report: dict[str, Any], lang: Lang = "zh") -> dict[str, bytes]:
    """PNG charts of the report, by name."""
    plt = _plt()
    out: dict[str, bytes] = {}
    for name, fig in figures(report, lang).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        out[name] = buf.getvalue()
    return out


def overview_rows(r: dict[str, Any], lang: Lang = "zh") -> list[tuple[str, str, str]]:
    """``(metric id, localised name, localised value)`` for the overview table and the text report."""
    f = _Fmt(lang)
    t = f.t
    c = r["csat"]
    rows = [
        ("conversations", t["conversations"], str(r["conversations"])),
        ("containment", t["containment"], f.pct(r["containment"])),
        ("handoff_rate", t["handoff_rate"], f.pct(r["handoff_rate"])),
        ("handoff_reasons", t["handoff_reasons"], f.counts(r["handoff_reasons"], f.reason)),
        ("first_contact_resolution", t["fcr"], t["contacts"].format(f.pct(r["first_contact_resolution"]),
                                                                     r["contacts"])),
        ("csat", t["csat"], t["csat_line"].format(f.num(c["all"]["mean"]), c["all"]["n"], f.num(c["bot"]["mean"]),
                                                  f.num(c["agent"]["mean"]))),
        ("dissatisfaction_reasons", t["dissatisfaction"],
         f.counts({(t["no_reason"] if k == "(none given)" else k): v
                   for k, v in r["dissatisfaction_reasons"].items()})),
        ("care_mode_share", t["care_share"], f.pct(r["care_mode_share"])),
    ]
    if "queue_wait_seconds" in r:
        q, h = r["queue_wait_seconds"], r["handle_time_seconds"]
        rows += [("queue_wait_seconds", t["queue_wait"], t["wait_line"].format(f.secs(q["p50"]), f.secs(q["p90"]),
                                                                                q["n"])),
                 ("handle_time_seconds", t["handle_time"], t["handle_line"].format(f.secs(h["p50"]),
                                                                                   f.secs(h["mean"]), h["n"])),
                 ("dispositions", t["dispositions"],
                  f.counts(r.get("dispositions", {}), lambda k: display("dispositions", k, lang)))]
    rows += [
        ("top_intents", t["top_intents"], f.counts({f.intent(x["intent"]): x["count"] for x in r["top_intents"]})),
        ("fastest_growing_intents", t["growing"],
         f.counts({f.intent(x["intent"]): f"+{x['growth']}" for x in r["fastest_growing_intents"]})),
        ("failing_guides", t["failing_guides"],
         ("、" if lang == "zh" else ", ").join(f"{f.guide(g['guide_id'])} " + t["guide_line"].format(g["failed"],
                                                                                                   g["shown"])
                                              for g in r["failing_guides"]) or t["none"]),
        ("per_week", t["per_week"], "; ".join(f"{w}: " + f.counts(v, f.category) for w, v in r["per_week"].items())
         or t["none"]),
    ]
    return rows


def agent_rows(r: dict[str, Any], lang: Lang = "zh") -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-agent breakdown."""
    f = _Fmt(lang)
    t = f.t
    head = [t["agent"], t["chats"], t["avg_handle"], t["avg_wait"], t["avg_hold"], t["agent_csat"], t["peak"]]
    rows = [[a["agent"], str(a["chats"]), f.secs(a["handle_time_mean"]), f.secs(a["wait_mean"]),
             f.secs(a["hold_mean"]), f"{f.num(a['csat_mean'])} ({a['csat_n']})", str(a["peak_concurrency"])]
            for a in r.get("agents", [])]
    return head, rows


def _range(r: dict[str, Any], lang: Lang) -> str:
    since = r["window"]["since"][:10]
    until = (dt.datetime.fromisoformat(r["window"]["until"]) - dt.timedelta(milliseconds=1)).date().isoformat()
    return TEXT[lang]["range"].format(since, until)


def render_text(r: dict[str, Any], lang: Lang = "zh") -> str:
    """A plain-text summary in ``lang``."""
    t = TEXT[lang]
    rows = overview_rows(r, lang)
    width = max(len(name) for _, name, _ in rows) + 2
    lines = [f"{t['title']} {_range(r, lang)}"] + [f"{name.ljust(width)}{value}" for _, name, value in rows]
    head, agents = agent_rows(r, lang)
    if agents:
        lines += ["", t["agents"], " | ".join(head)] + [" | ".join(row) for row in agents]
    return "\n".join(lines) + "\n"


def render_html(r: dict[str, Any], pngs: dict[str, bytes], lang: Lang = "zh", stylesheet: str | None = None) -> str:
    """The report page in ``lang``: no inline style or script (the console's CSP applies), every value escaped.

    ``stylesheet``: the URL of ``report.css`` to link; without it the CSS is embedded (a standalone file).
    """
    esc = html.escape
    t = TEXT[lang]
    style = (f'<link rel="stylesheet" href="{esc(stylesheet)}">' if stylesheet
             else f"<style>{REPORT_CSS.read_text(encoding='utf-8')}</style>")
    metrics = "".join(f'<tr data-metric="{esc(key)}"><th scope="row">{esc(name)}</th><td>{esc(value)}</td></tr>'
                      for key, name, value in overview_rows(r, lang))
    head, rows = agent_rows(r, lang)
    agents = ("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for h in head) + "</tr></thead><tbody>"
              + ("".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows)
                 or f'<tr><td class="empty" colspan="{len(head)}">{esc(t["no_agents"])}</td></tr>')
              + "</tbody>")
    caps = chart_captions(r, lang)
    imgs = "".join(f'<figure data-chart="{esc(name)}"><img alt="{esc(caps.get(name, name))}" '
                   f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                   f"<figcaption>{esc(caps.get(name, name))}</figcaption></figure>" for name, data in pngs.items())
    data = json.dumps(r, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (f"<!doctype html><html lang='{html_lang}'><head><meta charset='utf-8'>"
            f"<title>{esc(t['title'])}</title>{style}</head><body class='report'>"
            f"<header><h1>{esc(t['title'])}</h1><p class='range'>{esc(_range(r, lang))}</p></header>"
            f"<section><h2>{esc(t['overview'])}</h2><table id='metrics'><tbody>{metrics}</tbody></table></section>"
            f"<section><h2>{esc(t['agents'])}</h2><table id='agents'>{agents}</table></section>"
            f"<section><h2>{esc(t['charts'])}</h2><div id='charts'>{imgs}</div></section>"
            f"<script type='application/json' id='data'>{data}</script>"
            "</body></html>")
