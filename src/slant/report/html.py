"""A run as one self-contained HTML page: provenance, outcome counts, and per probe set a forest plot
of every tested estimate, refusal and position charts, the full table, and the strongest findings with
the prompts and replies behind them. Inline CSS and SVG only: no script, no network asset. Every piece
of text from the database (model replies included) is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

import sqlite_utils

from slant.cost import token_lines
from slant.detect.refusal import FULL_REFUSALS
from slant.probes.base import USABLE_STATUSES, ParseStatus
from slant.probes.family import metric_of
from slant.report.examples import finding_example, unreadable
from slant.report.summary import (
    effect,
    fmt_ci,
    fmt_p,
    fmt_row_p,
    is_comparison,
    missing_note,
    outcome_columns,
    summary,
)
from slant.report.svg import Item, bars, forest
from slant.stats.degenerate import is_degenerate
from slant.stats.metric import Kind

ALPHA = 0.05
N_FINDINGS = 8

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#17202a;margin:24px auto;
max-width:1100px;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:36px;border-bottom:1px solid #d5d8dc}
h3{font-size:15px;margin:20px 0 4px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #e5e7e9;padding:3px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#566573}
.chart text{font:12px system-ui,sans-serif;fill:#17202a}.chart .tick{fill:#566573;font-size:11px}
.chart .axis{stroke:#abb2b9}.chart .zero{stroke:#7f8c8d;stroke-dasharray:4 3}
.legend span{margin-right:16px}.dot{display:inline-block;width:10px;height:10px;border-radius:50%;
margin-right:4px;vertical-align:middle}
.sig{color:#b03a2e;font-weight:600}.eq{color:#1e8449;font-weight:600}
pre{white-space:pre-wrap;background:#f4f6f7;padding:6px 8px;margin:2px 0;font-size:12px;max-height:220px;
overflow:auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}details{margin:8px 0}
"""


def status(r: dict[str, Any]) -> str:
    """degenerate (nothing to test), significant (BH-adjusted p < 0.05), equivalent (TOST p < 0.05), ns
    (tested), or untested."""
    if is_degenerate(r):
        return "degenerate"
    if r.get("p_adj") is not None and r["p_adj"] < ALPHA:
        return "significant"
    if r.get("p_tost") is not None and r["p_tost"] < ALPHA:
        return "equivalent"
    return "ns" if r.get("p") is not None else "untested"


def label(r: dict[str, Any], with_cue: bool = True) -> str:
    """cue · axis: group vs reference (the parts that apply)."""
    parts = [str(r["cue"])] if with_cue and r.get("cue") not in (None, "", "none") else []
    group = str(r["grp"]) + (f" vs {r['reference']}" if is_comparison(r) else "")
    parts.append(f"{r['axis']}: {group}" if r.get("axis") not in (None, "", "none") else group)
    return " · ".join(parts)


def _estimate(r: dict[str, Any]) -> str:
    if r["estimate"] is None:
        return "—"
    if metric_of(r["metric"]).kind is Kind.RATE:
        return f"{r['estimate']:.1%} {fmt_ci(r['ci_low'], r['ci_high'], '{:.1%}')}".strip()
    return f"{r['estimate']:+.3f} {fmt_ci(r['ci_low'], r['ci_high'], '{:+.3f}')}".strip()


def _item(r: dict[str, Any], with_cue: bool) -> Item:
    q = f" · p(BH) {fmt_p(r['p_adj'])}" if r.get("p_adj") is not None else ""
    return Item(
        label(r, with_cue),
        r["estimate"],
        r["ci_low"],
        r["ci_high"],
        status(r),
        note=f"{r['estimate']:+.3f}{q}",
        title=f"{label(r)} — {_estimate(r)}; p {fmt_row_p(r)}; p(BH) {fmt_row_p(r, 'p_adj')}; "
        f"n {r['n_responses']}",
    )


def _rate_item(r: dict[str, Any], with_cue: bool) -> Item:
    return Item(
        label(r, with_cue),
        r["estimate"],
        r["ci_low"],
        r["ci_high"],
        status(r),
        note=f"{r['estimate']:.1%} {fmt_ci(r['ci_low'], r['ci_high'], '{:.0%}')}  n {r['n_responses'] or ''}",
    )


def _table(head: list[str], cells: list[list[str]], numeric: set[int] | None = None) -> str:
    """An HTML table of escaped text; columns in ``numeric`` are right-aligned."""
    numeric = numeric or set()
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if j in numeric else ''}>{escape(c)}</td>" for j, c in enumerate(row))
        + "</tr>"
        for row in cells
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _provenance(s: dict[str, Any], n_errors: int) -> str:
    run, target = s["run"], s["target"]
    server = target.get("server") or {}
    facts = [
        ("run", run["id"]),
        ("campaign", f"{run['campaign']} (hash {run['campaign_hash']})"),
        ("status", run["status"]),
        ("started / finished", f"{run['started']} / {run.get('finished') or '—'}"),
        ("target", f"{target.get('name')} · model {target.get('model')} · {target.get('provider')}"),
        ("base URL", target.get("base_url") or "(embedded model)"),
        ("server", ", ".join(f"{k} {v}" for k, v in server.items()) or "not reported by the target"),
        ("prefill", str(target.get("prefill_mode"))),
        ("slant", f"{run['slant_version']} · client {target.get('client')}"),
        ("probes / requests", f"{run['n_probes']} / {run['n_requests']} · calls that failed: {n_errors}"),
    ]
    lines = token_lines(s["tokens"])
    facts += [("tokens" if i == 0 else "", t.strip().removeprefix("tokens: ")) for i, t in enumerate(lines)]
    m = s["mass"]
    if m.get("mean") is not None:
        facts.append(("answer-space mass", f"mean {m['mean']:.3f} (min {m['min']:.3f}, max {m['max']:.3f})"))
    return (
        "<table>"
        + "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
        + "</table>"
    )


def _outcomes(s: dict[str, Any]) -> str:
    """Outcome counts per probe set (each outcome in one column), then a note per group without any
    usable outcome."""
    columns = outcome_columns(s["outcomes"])
    cells = [
        [name, o["family"], str(o["n"]), *(str(o["by_outcome"].get(k, 0)) for k in columns)]
        for name, o in s["outcomes"].items()
    ]
    notes = "".join(f'<p class="muted">{escape(missing_note(m))}</p>' for m in s["missing_groups"])
    return _table(["probe set", "family", "n", *columns], cells, set(range(2, 3 + len(columns)))) + notes


def _outcome_text(e: dict[str, Any]) -> str:
    """What an example outcome was: its answer, else why it has none (refused, or its parse status)."""
    if e["answer"] is not None:
        return f"answer {e['answer']}"
    if e["parse_status"] == ParseStatus.ERROR:
        return "no reply (the call failed)"
    if e["refusal"] in FULL_REFUSALS:
        return "refused (no answer)"
    if e["parse_status"] in USABLE_STATUSES:  # scored without an answer word (a logprob read)
        return "scored"
    return f"no answer ({e['parse_status']})"


def _probe_set(
    db: sqlite_utils.Database, run_id: str, name: str, family: str, rows: list[dict[str, Any]]
) -> str:
    with_cue = len({r["cue"] for r in rows}) > 1
    parts = [
        f'<section class="probe-set"><h2>{escape(name)} <span class="muted">· {escape(family)}</span></h2>'
    ]
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if metric_of(r["metric"]).shown:  # else too fine-grained for a chart: in the table below
            by_metric.setdefault(r["metric"], []).append(r)
    for metric, mine in by_metric.items():
        m = metric_of(metric)
        if m.chart == "bars":
            usable = [r for r in mine if r["estimate"] is not None]
            if usable:
                parts.append(f"<h3>{escape(metric)}</h3>")
                parts.append(bars([_rate_item(r, with_cue) for r in usable], f"{name}: {metric}", m.null))
            continue
        tested = [
            r for r in mine if r["estimate"] is not None and r["ci_low"] is not None and r["p"] is not None
        ]
        if tested:
            ref = m.null if m.null is not None else 0.0
            parts.append(f"<h3>{escape(metric)}</h3>")
            parts.append(forest([_item(r, with_cue) for r in tested], f"{name}: {metric}", ref))
    head = [
        "cue",
        "metric",
        "group",
        "estimate [95% CI]",
        "effect size",
        "p",
        "p (BH)",
        "TOST",
        "n",
        "method",
    ]
    cells = [
        [
            str(r["cue"]),
            r["metric"],
            label(r, with_cue=False),
            _estimate(r),
            effect(r),
            fmt_row_p(r),
            fmt_row_p(r, "p_adj"),
            "" if r.get("p_tost") is None else f"{fmt_p(r['p_tost'])} (±{r['margin']:g})",
            str(r["n_responses"] or ""),
            r["method"] or "",
        ]
        for r in rows
    ]
    if rows:
        parts.append(f"<details><summary>all {len(rows)} estimates of {escape(name)}</summary>")
        parts.append(_table(head, cells, {3, 4, 5, 6, 7, 8}) + "</details>")
    else:
        parts.append("<p>No estimate: no outcome of this probe set could be used (see below).</p>")
    bad = unreadable(db, run_id, name)
    if bad:
        parts.append("<h3>Replies that could not be used (first few)</h3>")
        for b in bad:
            parts.append(
                f'<p class="muted">{escape(b["parse_status"])}</p><pre>{escape(b["prompt"])}</pre>'
                f"<pre>{escape(b['reply'])}</pre>"
            )
    return "".join(parts) + "</section>"


def _findings(db: sqlite_utils.Database, run_id: str, rows: list[dict[str, Any]]) -> str:
    """The estimates significant after BH (smallest p(BH) first), each comparison with its clearest
    matched pair; a level (a rate, a mean) is shown without a pair, as it compares no two groups."""
    found = [r for r in rows if status(r) == "significant" and r["estimate"] is not None]
    found.sort(key=lambda r: (r["p_adj"], -abs(r["estimate"])))
    if not found:
        n_tested = sum(status(r) == "ns" for r in rows)
        return (
            f"<p>No finding is significant after Benjamini–Hochberg (p(BH) &lt; {ALPHA}): "
            f"{n_tested} tested estimates, none below it.</p>"
        )
    parts, shown = [], set()
    more = f" (the {N_FINDINGS} strongest of {len(found)})" if len(found) > N_FINDINGS else ""
    parts.append(f"<p>{len(found)} estimates significant after Benjamini–Hochberg{more}.</p>")
    for r in found[:N_FINDINGS]:
        verdict = '<span class="sig">significant after BH</span>'
        parts.append(
            f"<h3>{escape(r['probe_set'])} · {escape(r['metric'])} · {escape(label(r))}</h3>"
            f"<p>{escape(_estimate(r))} · p {escape(fmt_p(r['p']))} · p(BH) {escape(fmt_p(r['p_adj']))} "
            f"{escape(effect(r))} · {verdict}</p>"
        )
        ex = finding_example(db, run_id, r) if is_comparison(r) else None
        if ex and ex["probes"] in shown:
            parts.append('<p class="muted">(the example above shows this one too)</p>')
        elif ex:
            shown.add(ex["probes"])
            side = []
            for key, who in (("group", r["grp"]), ("reference", r["reference"])):
                e = ex[key]
                value = "" if e["value"] is None else f" · value {e['value']:.3f}"
                side.append(
                    f"<div><b>{escape(str(who))}</b> · {escape(_outcome_text(e))}{escape(value)}"
                    f"<pre>{escape(e['prompt'])}</pre><pre>{escape(e['reply'])}</pre></div>"
                )
            parts.append(f'<div class="pair">{"".join(side)}</div>')
    return "".join(parts)


def html_report(db: sqlite_utils.Database, run_id: str | None = None) -> str:
    """The whole report as one HTML string."""
    s = summary(db, run_id)
    run_id = s["run"]["id"]
    rows = [r for r in s["disparities"] if metric_of(r["metric"]).shown]
    n_errors = sum(o["by_status"].get(ParseStatus.ERROR, 0) for o in s["outcomes"].values())
    by_set: dict[str, list[dict[str, Any]]] = {name: [] for name in s["outcomes"]}
    for r in s["disparities"]:
        by_set.setdefault(r["probe_set"], []).append(r)
    legend = (
        '<p class="legend"><span><i class="dot" style="background:#b03a2e"></i>significant after '
        'Benjamini–Hochberg (p(BH) &lt; 0.05)</span><span><i class="dot" style="background:#1e8449"></i>'
        'equivalent within the stated margin (TOST p &lt; 0.05)</span><span><i class="dot" '
        'style="border:2px solid #566573;width:7px;height:7px"></i>neither</span></p>'
    )
    body = [
        f"<h1>slant report · run {escape(run_id)}</h1>",
        f'<p class="muted">campaign {escape(s["run"]["campaign"])}: every number below is a row of the '
        f"<code>disparities</code> table (<code>select * from disparities where run_id = '{escape(run_id)}'"
        "</code>); whiskers are 95% CIs.</p>",
        "<h2>Provenance</h2>",
        _provenance(s, n_errors),
        "<h2>Outcomes</h2>",
        _outcomes(s),
        "<h2>Strongest findings</h2>",
        legend,
        _findings(db, run_id, rows),
        *(
            _probe_set(db, run_id, name, s["outcomes"].get(name, {}).get("family", ""), mine)
            for name, mine in by_set.items()
        ),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>slant report {escape(run_id)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
