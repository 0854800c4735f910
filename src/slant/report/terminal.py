"""The per-group disparity table of one run, read back from the database, for the terminal."""

from __future__ import annotations

from typing import Any

import sqlite_utils
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slant.cost import token_lines
from slant.probes.family import metric_of
from slant.report.summary import fmt_ci as _ci
from slant.report.summary import fmt_p as _p
from slant.report.summary import (
    fmt_row_p,
    is_comparison,
    missing_note,
    nothing_to_test,
    outcome_columns,
    summary,
)
from slant.stats.groups import METRICS as GROUP_DISPARITIES
from slant.stats.mixed import FALLBACK
from slant.stats.numerics import NOTE as WARNED

GROUP_METRICS = tuple(m.name for m in GROUP_DISPARITIES)  # drawn together, one table per cue and axis


def print_report(
    db: sqlite_utils.Database, run_id: str | None = None, console: Console | None = None
) -> None:
    """Print the run header and, per probe set and cue, mean P(yes), gap and refusal rate per group."""
    console = console or Console()
    s = summary(db, run_id)
    run, target = s["run"], s["target"]
    server = target.get("server") or {}
    console.print(
        f"[bold]run {run['id']}[/] · campaign [bold]{run['campaign']}[/] "
        f"· target [bold]{target.get('name')}[/] "
        f"({target.get('model')}{', ' + server['gguf'] if 'gguf' in server else ''}) · status {run['status']}"
    )
    for note in s["notes"]:
        console.print(f"[yellow]note: {escape(note)}[/]", highlight=False)
    if "build" in server:  # the embedded model's llama.cpp build: another build may give other numbers
        console.print(f"build {server['build']}", highlight=False)
    m = s["mass"]
    mass = (
        f" · answer-space mass mean {m['mean']:.3f} (min {m['min']:.3f}, max {m['max']:.3f})"
        if m["mean"]
        else ""
    )
    console.print(f"probes {run['n_probes']} · requests {run['n_requests']}{mass}")
    for line in token_lines(s["tokens"]):
        console.print(line, markup=False, highlight=False)
    console.print(_outcomes_table(s["outcomes"]))
    rows = s["disparities"]
    if not rows:
        console.print("no disparity rows (no scored outcome yet)")
        return
    by_key: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    others: dict[str, list[dict[str, Any]]] = {}
    quiet = 0
    for r in rows:
        if not metric_of(r["metric"]).shown:
            continue  # in the database, too fine-grained for the terminal
        if r["metric"] in GROUP_METRICS:
            by_key.setdefault((r["probe_set"], r["cue"], r["axis"]), {}).setdefault(r["grp"], {})[
                r["metric"]
            ] = r
        elif nothing_to_test(r):
            quiet += 1
        else:
            others.setdefault(r["probe_set"], []).append(r)
    for (probe_set, cue, axis), groups in by_key.items():
        console.print(_group_table(f"{probe_set} · cue: {cue} · axis: {axis}", groups))
    for probe_set, estimates in others.items():
        console.print(_estimates_table(probe_set, estimates))
    for m in s["missing_groups"]:
        console.print(missing_note(m), markup=False, highlight=False)
    if quiet:
        console.print(
            f"{quiet} paired refusal/unparsed comparisons had no matched set that differs (not shown)"
        )
    console.print(
        "p (BH): Benjamini-Hochberg within the probe family; TOST: equivalence p at the stated margin"
    )
    if any(FALLBACK in (r["method"] or "") for r in rows):
        console.print(
            "† the reference model (random slopes by scenario) could not be fitted: the method column names "
            "the simpler model fitted instead, and why"
        )
    if any(WARNED in (r["method"] or "") for r in rows):
        console.print(
            f"‡ {WARNED} while fitting: see the row's method (slant report --html, or the database)",
            highlight=False,
        )


def _outcomes_table(outcomes: dict[str, dict[str, Any]]) -> Table:
    """Per probe set: how many outcomes were usable, and why the others were not (each counted once)."""
    columns = outcome_columns(outcomes)
    table = Table(title="outcomes", title_justify="left")
    table.add_column("probe set")
    table.add_column("family")
    for col in ("n", *columns):
        table.add_column(col, justify="right")
    for name, o in outcomes.items():
        counts = (str(o["by_outcome"].get(k, 0)) for k in columns)
        table.add_row(name, o["family"], str(o["n"]), *counts)
    return table


def _group_table(title: str, groups: dict[str, dict[str, Any]]) -> Table:
    """One row per group: P(yes), gap to the reference, refusal rate."""
    table = Table(title=title, title_justify="left")
    for col in ("group", "n", "P(yes) [95% CI]", "gap vs ref [95% CI]", "p", "p (BH)", "refused", "unparsed"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for grp, metrics in groups.items():
        p, gap, ref = metrics.get("p_yes"), metrics.get("p_yes_gap"), metrics.get("refusal_rate")
        any_row = p or gap or ref or {}
        table.add_row(
            f"{grp} (ref)" if grp == any_row.get("reference") else grp,
            str(any_row.get("n_responses", "")),
            f"{p['estimate']:.3f} {_ci(p['ci_low'], p['ci_high'])}" if p else "",
            f"{gap['estimate']:+.3f} {_ci(gap['ci_low'], gap['ci_high'], '{:+.3f}')}" if gap else "",
            fmt_row_p(gap) if gap else "",
            fmt_row_p(gap, "p_adj") if gap else "",
            _refused(ref) if ref else "",
            str(any_row.get("n_unparsed", "")),
        )
    return table


def _refused(row: dict[str, Any]) -> str:
    """The raw refusal rate, and beside it the rate corrected for the detector's error where measured and
    different (a 0% rate stays 0%)."""
    extra = row.get("extra") or {}
    if extra.get("corrected") is None or round(extra["corrected"], 3) == round(row["estimate"], 3):
        return f"{row['estimate']:.1%}"
    return f"{row['estimate']:.1%} (corr. {extra['corrected']:.1%})"


def _estimates_table(probe_set: str, rows: list[dict[str, Any]]) -> Table:
    """Every other estimate of a probe set (discrimination scores, paired gaps, family metrics)."""
    table = Table(title=f"{probe_set} · other estimates", title_justify="left")
    for col in ("cue", "metric", "axis", "group", "vs", "estimate [95% CI]", "p", "p (BH)", "TOST", "n"):
        table.add_column(col, justify="left" if col in ("cue", "metric", "axis", "group", "vs") else "right")
    for r in rows:
        method = r["method"] or ""
        fallback = (" †" if FALLBACK in method else "") + (" ‡" if WARNED in method else "")
        table.add_row(
            r["cue"],
            r["metric"] + fallback,
            r["axis"],
            r["grp"],
            r["reference"] if is_comparison(r) else "",
            "—"
            if r["estimate"] is None
            else f"{r['estimate']:+.3f} {_ci(r['ci_low'], r['ci_high'], '{:+.3f}')}",
            fmt_row_p(r),
            fmt_row_p(r, "p_adj"),
            "" if r["p_tost"] is None else f"{_p(r['p_tost'])} (±{r['margin']:g})",
            str(r["n_responses"] or ""),
        )
    return table
