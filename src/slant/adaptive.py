"""Adaptive stopping: ask matched sets in random order and stop a probe set once its gaps are decided.

With ``adaptive:`` in a campaign, each probe set's matched sets are shuffled (seeded) and split into
``looks`` equal batches. After each batch the set is scored and every paired gap (``paired_gap``:
within-set P(yes) difference, paired t-test and TOST at the set's margin) gets a verdict:

- **gap** when its paired-t p ≤ α / looks,
- **equivalent** when its TOST p ≤ α / looks,
- **undecided** otherwise.

A probe set stops when every paired gap has a verdict; the others go on to the next batch. Each look
may claim a gap or an equivalence, so α is spent evenly over the planned looks (Bonferroni): whatever
look a verdict comes at, the chance that any look wrongly claims it is at most α. That is more
conservative than O'Brien–Fleming or Pocock boundaries, but it needs no assumption about how the looks
are correlated. Probe sets of families without paired gaps are asked in full.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

METRIC = "paired_gap"


class Adaptive(BaseModel):
    """The ``adaptive:`` block of a campaign."""

    model_config = ConfigDict(extra="forbid")
    looks: int = Field(6, ge=2, le=50, description="batches of matched sets (planned looks)")
    alpha: float = Field(0.05, gt=0, lt=1, description="error rate spent over all looks")
    seed: int = 0


def batches(probes: list[Any], looks: int, seed: int) -> list[list[Any]]:
    """Probes cut into ``looks`` batches of whole matched sets, the sets in seeded random order."""
    sets: dict[str, list[Any]] = {}
    for p in probes:
        sets.setdefault(p.matched_set_id, []).append(p)
    order = sorted(sets)
    random.Random(seed).shuffle(order)
    size = -(-len(order) // looks)
    return [[p for s in order[i : i + size] for p in sets[s]] for i in range(0, len(order), size)]


def verdicts(rows: pd.DataFrame, probe_set: str, alpha_look: float) -> dict[str, str]:
    """gap / equivalent / undecided for every paired gap of a probe set."""
    if rows.empty:
        return {}
    mine = rows[(rows["probe_set"] == probe_set) & (rows["metric"] == METRIC)]
    out = {}
    for r in mine.to_dict("records"):
        p, p_tost = r.get("p"), (r.get("extra") or {}).get("p_tost", r.get("p_tost"))
        label = f"{r['cue']} · {r['axis']}: {r['grp']} vs {r['reference']}"
        if p is not None and not pd.isna(p) and p <= alpha_look:
            out[label] = "gap"
        elif p_tost is not None and not pd.isna(p_tost) and p_tost <= alpha_look:
            out[label] = "equivalent"
        else:
            out[label] = "undecided"
    return out


async def run_looks(
    planned: list[Any],
    settings: Adaptive,
    send: Callable[[dict[str, Any]], Any],
    score: Callable[[list[Any]], pd.DataFrame],
    restrict: Callable[[Any, list[Any]], Any],
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Ask batch after batch until every probe set is decided or asked in full.

    Args:
        planned: the campaign's planned probe sets.
        send: awaits the engine on {key: request}.
        score: scores planned probe sets (restricted) and returns their disparity rows.
        restrict: a planned probe set cut down to the given probes.

    Returns:
        The planned sets as far as they were asked, and one log entry per look.
    """
    cuts = {ps.spec.name: batches(ps.probes, settings.looks, settings.seed) for ps in planned}
    taken = {ps.spec.name: 0 for ps in planned}
    done: set[str] = set()
    log: list[dict[str, Any]] = []
    alpha_look = settings.alpha / settings.looks
    current = [restrict(ps, []) for ps in planned]
    for look in range(1, settings.looks + 1):
        for ps in planned:
            name = ps.spec.name
            if name not in done and taken[name] < len(cuts[name]):
                taken[name] += 1
        current = [
            restrict(ps, [p for b in cuts[ps.spec.name][: taken[ps.spec.name]] for p in b]) for ps in planned
        ]
        await send({k: r for ps in current for _, keyed in ps.items() for k, r in keyed})
        rows = score(current)
        entry: dict[str, Any] = {"look": look, "alpha_per_look": alpha_look, "sets": {}}
        for ps in current:
            name = ps.spec.name
            v = verdicts(rows, name, alpha_look)
            finished = taken[name] >= len(cuts[name])
            if v and all(x != "undecided" for x in v.values()):
                done.add(name)
            entry["sets"][name] = {
                "probes": ps.n_probes,
                "verdicts": v,
                "stopped": name in done or finished,
            }
        log.append(entry)
        if all(s["stopped"] for s in entry["sets"].values()):
            break
    return current, log
