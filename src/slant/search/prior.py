"""What an earlier audit of the campaign says about where to look first: per scenario, axis and level,
the mean P(yes) gap to the reference level in the latest complete run on the same target.

The search's seeds are asked in the order of these gaps (largest first), so a budget that affords only
some seeds spends them where the audit saw the largest gaps. The prior run only orders the seeds: its
replies are not reused as estimates, and confirmation never sees them.
"""

from __future__ import annotations

import json
from pathlib import Path

from slant import store
from slant.probes.base import USABLE_STATUSES

PriorGaps = dict[tuple[str, str, str], float]  # (scenario, axis, level) → |mean gap to the reference|


def prior_run(db_path: Path, campaign: str, target_id: str) -> str | None:
    """The latest complete run of this campaign on this target in the database, if any."""
    if not db_path.exists():
        return None
    runs = store.list_runs(store.open_db(db_path), campaign)  # newest first
    return next((r["id"] for r in runs if r["target_id"] == target_id and r["status"] == "complete"), None)


def prior_gaps(db_path: Path, run_id: str, probe_set: str, refs: dict[str, str]) -> PriorGaps:
    """|mean P(yes) at a level − at the reference| per scenario, axis and level, from the run's usable
    outcomes of the decision set (each matched set's mean by level, then the mean over matched sets)."""
    cells: dict[tuple[str, str, str, str], list[float]] = {}  # (scenario, axis, level, matched set)
    for r in store.outcomes_of(store.open_db(db_path), run_id):
        if r["probe_set"] != probe_set or r["p_yes"] is None or r["parse_status"] not in USABLE_STATUSES:
            continue
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
