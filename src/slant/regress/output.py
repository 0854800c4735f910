"""A regression check as Markdown (CI comments), JSON (machines) and JUnit XML (CI test reports)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from slant.regress.check import RegressionResult
from slant.report.jsontext import to_json
from slant.report.summary import estimate_name, fmt_ci, fmt_p

MARK = {"pass": "✅ pass", "fail": "❌ fail", "inconclusive": "❔ inconclusive"}
N_CHANGES = 15


def _cell(text: Any) -> str:
    return str("" if text is None else text).replace("|", "\\|").replace("\n", " ")


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:+.3f}"


def regression_markdown(res: RegressionResult) -> str:
    lines = [f"# slant regression check: run `{res.candidate}`"]
    lines.append("")
    if res.baseline is None:
        lines.append("No baseline to compare with: only absolute gates were judged.")
    else:
        lines.append(f"Baseline: run `{res.baseline}`. Candidate status: **{res.run_status}**.")
    d = res.diff
    if d and d.model_changes:
        lines += ["", "**The model changed since the baseline:**", ""]
        lines += [f"- {_cell(m)}" for m in d.model_changes]
    if res.pinned_now:
        lines += ["", f"Run `{res.candidate}` was pinned as the baseline (there was none)."]
    lines += ["", f"## Gates: {MARK[res.overall]}", "", "| gate | verdict | why |", "|---|---|---|"]
    lines += [f"| {_cell(g.name)} | {MARK[g.status]} | {_cell(g.reason)} |" for g in res.gates]
    if not res.gates:
        lines.append("| (none in the campaign) | | |")
    if d:
        lines += ["", "## Alignment", "", "| probe set | aligned probes | only baseline | only candidate |"]
        lines.append("|---|---:|---:|---:|")
        lines += [
            f"| {_cell(a['probe_set'])} | {a['common']} | {a['only_baseline']} | {a['only_candidate']} |"
            for a in d.alignment
        ]
        testable = [c for c in d.changes if c["p"] is not None]
        tested = sorted(testable, key=lambda c: c["p"])[:N_CHANGES]
        lines += [
            "",
            f"## Largest changes (of {len(testable)} tested; paired on aligned probes)",
            "",
            "| estimate | baseline | candidate | change [95% CI] | p | p (BH) | pairs |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        unchanged = sum(c["change"] == 0 for c in d.changes)
        if not testable and unchanged:
            lines.append(
                f"| every paired change is 0 ({unchanged} estimates): same answers on the aligned probes |"
            )
        for c in tested:
            lines.append(
                f"| {_cell(estimate_name(c))} | {_num(c['baseline_estimate'])} | "
                f"{_num(c['candidate_estimate'])} | "
                f"{_num(c['change'])} {fmt_ci(c['ci_low'], c['ci_high'], '{:+.3f}')} | {fmt_p(c['p'])} | "
                f"{fmt_p(c['p_adj'])} | {c['n_pairs']} |"
            )
        for title, rows in (("New findings", d.new_findings), ("Resolved findings", d.resolved_findings)):
            lines += ["", f"## {title} ({len(rows)})", ""]
            lines += [
                f"- {_cell(estimate_name(r))}: {_num(r['estimate'])} (p BH {fmt_p(r['p_adj'])})" for r in rows
            ]
        lines += [
            "",
            "## Refusal, unparsed and error rates",
            "",
            "| probe set | rate | baseline | candidate | p |",
        ]
        lines.append("|---|---|---:|---:|---:|")
        lines += [
            f"| {_cell(r['probe_set'])} | {r['rate']} | {_pct(r['baseline'])} | {_pct(r['candidate'])} | "
            f"{fmt_p(r['p'])} |"
            for r in d.drift
        ]
        lines += ["", f"## Flipped answers: {d.n_flips} aligned probes", ""]
        for f in d.flips:
            b, c = f["baseline"], f["candidate"]
            lines.append(
                f"- `{f['probe_id']}` ({_cell(f['probe_set'])}): {_cell(b['answer'])} → {_cell(c['answer'])}"
                f" ({_num(b['value'])} → {_num(c['value'])}); prompt: “{_cell(b['prompt'][:160])}…”"
            )
    lines += [
        "",
        "Gates are judged by 95% CIs: pass = the CI lies within the bound, fail = wholly beyond it. "
        "Changes: paired per twin pair or probe, cluster bootstrap CI over scenarios, BH across the diff.",
        "",
    ]
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.1%}"


def regression_json(res: RegressionResult) -> str:
    data = {
        "candidate": res.candidate,
        "baseline": res.baseline,
        "run_status": res.run_status,
        "overall": res.overall,
        "exit_code": res.exit_code,
        "pinned_now": res.pinned_now,
        "gates": [g.__dict__ for g in res.gates],
        "diff": res.diff.as_dict() if res.diff else None,
    }
    return to_json(data)


def regression_junit(res: RegressionResult) -> str:
    """One test case per gate: failure for fail; skipped for inconclusive (error when it fails the build)."""
    suite = ET.Element(
        "testsuite",
        name=f"slant gates {res.candidate}",
        tests=str(len(res.gates)),
        failures=str(sum(g.status == "fail" for g in res.gates)),
        errors=str(sum(g.status == "inconclusive" and g.fails_build for g in res.gates)),
        skipped=str(sum(g.status == "inconclusive" and not g.fails_build for g in res.gates)),
    )
    for g in res.gates:
        case = ET.SubElement(suite, "testcase", classname="slant.gates", name=g.name)
        if g.status == "fail":
            ET.SubElement(case, "failure", message=g.reason).text = json.dumps(g.detail, indent=1)
        elif g.status == "inconclusive":
            ET.SubElement(case, "error" if g.fails_build else "skipped", message=g.reason)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
