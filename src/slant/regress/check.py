"""A regression check: diff a candidate run against its baseline and judge the campaign's gates; and the
scheduled audit that runs the campaign first. Exit codes: 0 every gate passes, 1 a gate failed,
3 the candidate run is incomplete (failed calls: rerun to resume) or unusable (nothing could be scored)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import date as date_type
from pathlib import Path

from slant import errors, store
from slant.errors import SlantError
from slant.pipeline import audit
from slant.regress.baseline import baseline_of, pin, pinned
from slant.regress.diff import Diff, diff_runs
from slant.regress.gates import GateResult, error_rate, evaluate, store_results
from slant.spec import Gate, load_campaign
from slant.store import find_run, open_db


@dataclass
class RegressionResult:
    candidate: str
    baseline: str | None
    run_status: str
    diff: Diff | None
    gates: list[GateResult]
    pinned_now: bool = False

    @property
    def overall(self) -> str:
        if any(g.status == "fail" for g in self.gates):
            return "fail"
        return "inconclusive" if any(g.status == "inconclusive" for g in self.gates) else "pass"

    @property
    def exit_code(self) -> int:
        if self.run_status != "complete":
            return errors.EXIT_INCOMPLETE
        return errors.EXIT_GATE_FAILED if any(g.fails_build for g in self.gates) else errors.EXIT_OK


def check(db_path: str | Path, candidate: str, baseline: str | None) -> RegressionResult:
    """Diff ``candidate`` against ``baseline`` (when given) and judge the gates stored with the candidate.
    Either run is an id or a unique prefix of one."""
    db = open_db(db_path)
    run = find_run(db, candidate)
    candidate, baseline = run["id"], find_run(db, baseline)["id"] if baseline else None
    gates = [Gate.model_validate(g) for g in json.loads(run["config"] or "{}").get("gates", [])]
    diff = diff_runs(db, baseline, candidate) if baseline and baseline != candidate else None
    estimates = store.disparities_of(db, candidate)
    results = evaluate(gates, estimates, diff.changes if diff else None, error_rate(db, candidate))
    store_results(db, candidate, baseline, results)
    return RegressionResult(candidate, baseline if diff else None, run["status"], diff, results)


def diff(db_path: str | Path, baseline: str | None = None, candidate: str | None = None) -> RegressionResult:
    """Compare ``candidate`` (default: the latest run) with ``baseline`` (default: the baseline pinned
    for its campaign and target) and judge the candidate's gates: :func:`check` with defaults, on a
    database that must exist."""
    db = store.open_existing(db_path)
    candidate = candidate or store.latest_run(db)
    return check(db_path, candidate, baseline or baseline_of(db, candidate))


def audit_scheduled(
    campaign: str | Path,
    *,
    date: str | None = None,
    target: str | None = None,
    base_url: str | None = None,
    db: str | Path | None = None,
    progress: bool = True,
    limit: int | None = None,
    max_connections: int | None = None,
    prefill: str | None = None,
) -> RegressionResult:
    """Run the campaign for ``date`` (default today, UTC), diff it against the pinned baseline, judge the
    gates. The cache scope is the campaign and the date, so a second call on the same day resumes the
    same run instead of starting another. Without a baseline, this run is pinned as the baseline if it is
    complete and passes its gates (a failing or unusable run is never pinned by itself). ``limit``,
    ``max_connections`` and ``prefill`` are as in ``audit()``."""
    day = date or datetime.now(UTC).date().isoformat()
    try:
        written_right = date_type.fromisoformat(day).isoformat() == day  # not 20261123 nor 2026-W48-1
    except ValueError:
        written_right = False
    if not written_right:
        raise SlantError(f"date {day!r}: expected YYYY-MM-DD (it names the audit's cache scope)")
    c = load_campaign(campaign)
    result = audit(
        c,
        target=target,
        base_url=base_url,
        db=db,
        scope=f"{c.name}@{day}",
        progress=progress,
        limit=limit,
        max_connections=max_connections,
        prefill=prefill,
    )
    sdb = open_db(result.db_path)
    target_id = find_run(sdb, result.run_id)["target_id"]
    baseline = pinned(sdb, c.name, target_id)
    out = check(result.db_path, result.run_id, baseline)
    if baseline is None and out.exit_code == errors.EXIT_OK:
        pin(sdb, result.run_id)
        out.pinned_now = True
    return out
