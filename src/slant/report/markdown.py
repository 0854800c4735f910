"""A run as Markdown (CI comments, terminals without colour): the same numbers as the other reports."""

from __future__ import annotations

from typing import Any

from slant.cost import token_lines
from slant.probes.family import metric_of
from slant.report.summary import (
    effect,
    fmt_ci,
    fmt_p,
    fmt_row_p,
    is_comparison,
    missing_note,
    nothing_to_test,
    outcome_columns,
)


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def markdown(s: dict[str, Any]) -> str:
    """Header, outcome counts per probe set, and one table of estimates per probe set."""
    run, target = s["run"], s["target"]
    lines = [
        f"# slant run `{run['id']}`",
        "",
        f"- campaign **{run['campaign']}** (hash `{run['campaign_hash']}`), status **{run['status']}**",
        f"- target **{target.get('name')}** (model `{target.get('model')}`), slant {run['slant_version']}",
        f"- probes {run['n_probes']}, requests {run['n_requests']}",
        *(f"- note: {note}" for note in s["notes"]),
        *(f"- {line.strip()}" for line in token_lines(s["tokens"])),
    ]
    if s["mass"]["mean"] is not None:
        m = s["mass"]
        lines.append(f"- answer-space mass: mean {m['mean']:.3f} (min {m['min']:.3f}, max {m['max']:.3f})")
    columns = outcome_columns(s["outcomes"])
    lines += ["", "## Outcomes", "", f"| probe set | family | n | {' | '.join(columns)} |"]
    lines.append("|---|---|" + "---:|" * (1 + len(columns)))
    for name, o in s["outcomes"].items():
        counts = " | ".join(str(o["by_outcome"].get(k, 0)) for k in columns)
        lines.append(f"| {_cell(name)} | {o['family']} | {o['n']} | {counts} |")
    by_set: dict[str, list[dict[str, Any]]] = {}
    for r in s["disparities"]:
        if metric_of(r["metric"]).shown and not nothing_to_test(r):
            by_set.setdefault(r["probe_set"], []).append(r)
    for name, rows in by_set.items():
        lines += [
            "",
            f"## {_cell(name)}",
            "",
            "| cue | metric | axis | group | vs | estimate [95% CI] | effect size | p | p (BH) | TOST | n |",
            "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            est = (
                "—"
                if r["estimate"] is None
                else f"{r['estimate']:+.3f} {fmt_ci(r['ci_low'], r['ci_high'], '{:+.3f}')}"
            )
            tost = "" if r["p_tost"] is None else f"{fmt_p(r['p_tost'])} (±{r['margin']:g})"
            vs = r["reference"] if is_comparison(r) else ""
            lines.append(
                f"| {_cell(r['cue'])} | {r['metric']} | {_cell(r['axis'])} | {_cell(r['grp'])} | "
                f"{_cell(vs)} | {est} | {effect(r)} | {fmt_row_p(r)} | {fmt_row_p(r, 'p_adj')} | "
                f"{tost} | {r['n_responses'] or ''} |"
            )
    if s["missing_groups"]:
        lines += ["", *(f"- {_cell(missing_note(m))}" for m in s["missing_groups"])]
    quiet = sum(nothing_to_test(r) for r in s["disparities"])
    if quiet:
        note = f"{quiet} paired refusal/unparsed comparisons had no matched set that differs (not shown)."
        lines += ["", note]
    lines += [
        "",
        "p (BH): Benjamini–Hochberg within the probe family. TOST: equivalence p at the margin. "
        "Effect size: Cohen's h; OR = paired odds ratio with its exact 95% CI.",
        "",
    ]
    return "\n".join(lines)
