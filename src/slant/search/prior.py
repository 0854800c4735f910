"""What an earlier audit of the campaign says about where to look first: per scenario, axis and level,
the mean P(yes) gap to the reference level in the latest complete run on the same target.

The search's seeds are asked in the order of these gaps (largest first), so a budget that affords only
some seeds spends them where the audit saw the largest gaps. The prior run only orders the seeds: its
replies are not reused as estimates, and confirmation never sees them.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlite_utils

from slant.probes.base import USABLE_STATUSES

PriorGaps = dict[tuple[str, str, str], float]  # (scenario, axis, level) → |mean gap to the reference|


def prior_run(db_path: Path, campaign: str, target_id: str) -> str | None:
    """The latest complete run of this campaign on this target in the database, if any."""
    if not db_path.exists():
        return None
    db = sqlite_utils.Database(db_path)
    if "runs" not in db.table_names():
        return None
    sql = (
        "select id from runs where campaign = ? and target_id = ? and status = 'complete' "
        "order by coalesce(finished, started) desc, rowid desc limit 1"
    )
    row = next(iter(db.query(sql, [campaign, target_id])), None)
    return row["id"] if row else None


def prior_gaps(db_path: Path, run_id: str, probe_set: str, refs: dict[str, str]) -> PriorGaps:
    """|mean P(yes) at a level − at the reference| per scenario, axis and level, from the run's usable
    outcomes of the decision set (each matched set's mean by level, then the mean over matched sets)."""
    db = sqlite_utils.Database(db_path)
    marks = ",".join("?" * len(USABLE_STATUSES))
    sql = (
        "select scenario_id, matched_set_id, attributes, p_yes from outcomes_full where run_id = ? "
        f"and probe_set = ? and p_yes is not null and parse_status in ({marks})"
    )
    cells: dict[tuple[str, str, str, str], list[float]] = {}  # (scenario, axis, level, matched set)
    for r in db.query(sql, [run_id, probe_set, *USABLE_STATUSES]):
        attrs = json.loads(r["attributes"])
        for axis in refs:
            if axis in attrs:
                key = (r["scenario_id"], axis, str(attrs[axis]), r["matched_set_id"])
                cells.setdefault(key, []).append(r["p_yes"])
    means = {k: sum(v) / len(v) for k, v in cells.items()}
    gaps: dict[tuple[str, str, str], list[float]] = {}
    for (scenario, axis, level, matched), mean in means.items():
        ref = means.get((scenario, axis, refs[axis], matched))
        if level != refs[axis] and ref is not None:
            gaps.setdefault((scenario, axis, level), []).append(mean - ref)
    return {k: abs(sum(v) / len(v)) for k, v in gaps.items()}
