"""Gates: the campaign's pass/fail rules, judged on a run's estimates and its diff against a baseline.

A bound is judged by the 95% CI, not the point estimate: **pass** when the whole CI lies within
±bound, **fail** when it lies wholly beyond it, **inconclusive** when it straddles the bound or there is
no CI (not enough data). The error-rate gate compares a count, so it only passes or fails. A gate that
matches several estimates takes the worst verdict among them (fail, then inconclusive, then pass).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from slant import store
from slant.probes.base import FAILED_STATUSES
from slant.spec import Gate

ORDER = {"pass": 0, "inconclusive": 1, "fail": 2}


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
