"""Gates: the campaign's pass/fail rules, judged on a run's estimates and its diff against a baseline.

A bound is judged by the 95% CI, not the point estimate: **pass** when the whole CI lies within
±bound, **fail** when it lies wholly beyond it, **inconclusive** when it straddles the bound or there is
no CI (not enough data). The error-rate gate compares a count, so it only passes or fails. A gate that
matches several estimates takes the worst verdict among them (fail, then inconclusive, then pass).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from slant import store
from slant.errors import SpecError
from slant.probes import Outputs
from slant.probes.base import FAILED_STATUSES
from slant.spec import Gate

ORDER = {"pass": 0, "inconclusive": 1, "fail": 2}
NARROWING = ("metric", "probe_set", "cue", "axis", "group")


@dataclass
class GateResult:
    name: str
    status: str  # pass | fail | inconclusive
    reason: str
    fails_build: bool  # fail, or inconclusive when the gate says on_inconclusive: fail
    detail: list[dict[str, Any]] = field(default_factory=list)


def judge_interval(low: float | None, high: float | None, bound: float) -> str:
    """pass / fail / inconclusive for a CI against ±bound."""
    if low is None or high is None:
        return "inconclusive"
    if -bound <= low and high <= bound:
        return "pass"
    if low > bound or high < -bound:
        return "fail"
    return "inconclusive"


def check_gates(gates: list[Gate], produced: dict[str, Outputs], where: str) -> None:
    """Refuse (SpecError) a gate naming what the campaign cannot produce, which could never match and
    would stay inconclusive forever: a probe set it lacks, a metric none of the gate's probe sets
    writes, or a cue, axis or group none of the probe sets writing that metric has (a group on the
    gate's axis, if it names one). ``produced``: probe set name → what it can write.
    """
    for i, g in enumerate(gates):
        field = f"gates[{i}]"
        if g.max_error_rate is not None:
            if named := next((k for k in NARROWING if getattr(g, k) is not None), None):
                problem = "max_error_rate is judged on the whole run; remove it"
                raise SpecError(where, f"{field}.{named}", problem)
            continue
        campaign = "a probe set of this campaign"
        _known(where, f"{field}.probe_set", g.probe_set, campaign, "its probe sets", produced)
        scope = "this campaign" if g.probe_set is None else f"probe set {g.probe_set!r}"
        sets = [o for name, o in produced.items() if g.probe_set in (None, name)]
        metrics = _union(o.metrics for o in sets)
        _known(where, f"{field}.metric", g.metric, f"a metric {scope} produces", "it produces", metrics)
        sets = [o for o in sets if g.metric in o.metrics]  # a cue, axis or group must come with the metric
        what = f"{g.metric} in {scope}"
        _known(where, f"{field}.cue", g.cue, f"a cue of {what}", "its cues", _union(o.cues for o in sets))
        _known(where, f"{field}.axis", g.axis, f"an axis of {what}", "its axes", _union(o.axes for o in sets))
        groups = _union(grps for o in sets for axis, grps in o.axes.items() if g.axis in (None, axis))
        on_axis = "" if g.axis is None else f" on axis {g.axis}"
        _known(where, f"{field}.group", g.group, f"a group{on_axis} of {what}", "its groups", groups)


def _union(collections: Iterable[Iterable[str]]) -> set[str]:
    return set().union(*collections)


def _known(where: str, field: str, value: str | None, what: str, label: str, known: Collection[str]) -> None:
    """Refuse ``value`` unless it is None or in ``known``, listing (at most 20 of) those."""
    if value is None or value in known:
        return
    listed = sorted(known)
    names = ", ".join(listed[:20]) + (f", … ({len(listed) - 20} more)" if len(listed) > 20 else "")
    raise SpecError(where, field, f"{value!r} is not {what}; {label}: {names or 'none'}")


def _matches(g: Gate, row: dict[str, Any]) -> bool:
    wanted = {"metric": g.metric, "probe_set": g.probe_set, "cue": g.cue, "axis": g.axis, "grp": g.group}
    return all(v is None or str(row.get(k)) == v for k, v in wanted.items())


def evaluate(
    gates: list[Gate],
    estimates: list[dict[str, Any]],
    changes: list[dict[str, Any]] | None,
    error_rate: float | None,
) -> list[GateResult]:
    """Judge every gate. ``estimates``: the candidate's disparity rows; ``changes``: its diff against the
    baseline (None without a baseline); ``error_rate``: share of the candidate's calls that failed."""
    return [_one(g, estimates, changes, error_rate) for g in gates]


def _one(
    g: Gate, estimates: list[dict[str, Any]], changes: list[dict[str, Any]] | None, error_rate: float | None
) -> GateResult:
    if g.max_error_rate is not None:
        if error_rate is None:
            return _result(g, "inconclusive", "no call was made", [])
        status = "pass" if error_rate <= g.max_error_rate else "fail"
        return _result(g, status, f"error rate {error_rate:.1%} (bound {g.max_error_rate:.1%})", [])
    if g.max_change is not None:
        if changes is None:
            return _result(g, "inconclusive", "no baseline to compare with", [])
        rows, field_, bound = [r for r in changes if _matches(g, r)], "change", g.max_change
    else:
        assert g.max_abs is not None, "a gate sets one bound (Gate's validator)"
        rows, field_, bound = [r for r in estimates if _matches(g, r)], "estimate", g.max_abs
    if not rows:
        return _result(g, "inconclusive", "no estimate matches this gate", [])
    detail = []
    for r in rows:
        verdict = judge_interval(r["ci_low"], r["ci_high"], bound)
        detail.append(
            {
                "probe_set": r["probe_set"],
                "cue": r["cue"],
                "axis": r["axis"],
                "grp": r["grp"],
                "reference": r["reference"],
                "value": r[field_],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "status": verdict,
            }
        )
    worst = max(detail, key=lambda d: ORDER[d["status"]])
    counts = {s: sum(d["status"] == s for d in detail) for s in ORDER}
    what = "change vs baseline" if g.max_change is not None else "estimate"
    reason = (
        f"{counts['fail']} fail, {counts['inconclusive']} inconclusive, {counts['pass']} pass of "
        f"{len(detail)} {g.metric} {what}(s) against ±{bound:g} (95% CI)"
    )
    return _result(g, worst["status"], reason, detail)


def _result(g: Gate, status: str, reason: str, detail: list[dict[str, Any]]) -> GateResult:
    fails = status == "fail" or (status == "inconclusive" and g.on_inconclusive == "fail")
    return GateResult(g.name, status, reason, fails, detail)


def error_rate(db: sqlite_utils.Database, run_id: str) -> float | None:
    """Share of a run's outcomes that failed: the call failed after all retries, or the reply lacked what
    scoring needs (no logprobs). A server that drops logprobs fails this gate, it does not pass it."""
    row = next(
        iter(
            db.query(
                f"select count(*) n, sum(parse_status in {FAILED_STATUSES}) e from outcomes where run_id = ?",
                [run_id],
            )
        )
    )
    return row["e"] / row["n"] if row["n"] else None


def store_results(
    db: sqlite_utils.Database, candidate: str, baseline: str | None, results: list[GateResult]
) -> None:
    rows = [
        {
            "candidate_run": candidate,
            "baseline_run": baseline,
            "gate": r.name,
            "status": r.status,
            "reason": r.reason,
            "detail": json.dumps(r.detail),
            "evaluated": store.now(),
        }
        for r in results
    ]
    with db.atomic():
        db.execute("delete from gate_results where candidate_run = ?", [candidate])
        store.upsert(db, "gate_results", rows)
