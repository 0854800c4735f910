"""Scoring a run: every stored reply into an outcome, then every probe set's outcomes into disparity
rows, with multiple-comparison control across each probe family."""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlite_utils

from slant import store
from slant.plan import PlannedSet
from slant.probes import Probe, family_of
from slant.run import reply_from_row
from slant.stats import degenerate, numerics
from slant.stats.multiple import adjust_within_families
from slant.targets import Reply

DISPARITY_COLUMNS = set(store.columns("disparities"))


def score_and_compare(db: sqlite_utils.Database, run_id: str, planned: list[PlannedSet]) -> pd.DataFrame:
    """Score every stored response into outcomes, then write the run's disparity rows."""
    all_rows: list[dict[str, Any]] = []
    for ps in planned:
        responses = store.responses_by_key(db, ps.keys())
        outcomes, frame = [], []
        before = {nxt: key for key, nxt in ps.after.items()}
        for probe in ps.probes:
            for key, request in ps.requests[probe.id]:
                row = responses.get(key)
                if row is None or key in ps.after:
                    continue  # never sent (interrupted): not an outcome yet; chained: its follow-up is
                o = {
                    "run_id": run_id,
                    "probe_set": ps.spec.name,
                    "probe_id": probe.id,
                    "sample": request.sample,
                    "request_key": key,
                    **family_of(ps.spec).score(probe, ps.spec, _with_earlier(row, key, before, responses)),
                }
                outcomes.append(o)
                frame.append({**o, **_probe_columns(probe)})
        store.write_outcomes(db, run_id, ps.spec.name, outcomes)
        if not frame:
            continue
        # a numerical warning no estimator noted itself goes into the rows' method, not onto stderr
        rows = numerics.recorded(family_of(ps.spec).disparities)(pd.DataFrame(frame), ps.spec)
        keys = {"run_id": run_id, "family": ps.spec.family, "probe_set": ps.spec.name}
        all_rows += [_disparity_row(keys, degenerate.settle(r)) for r in rows]
    adjust_within_families(all_rows)
    store.write_disparities(db, run_id, all_rows)
    return pd.DataFrame(all_rows)


def _with_earlier(
    row: dict[str, Any], key: str, before: dict[str, str], responses: dict[str, dict[str, Any]]
) -> Reply | None:
    """The reply of a stored response; the last call of a chain carries the texts of the replies
    before it, first to last, in ``extra["earlier"]``."""
    reply = reply_from_row(row)
    earlier: list[str] = []
    while reply is not None and (key := before.get(key, "")) in responses:
        earlier.insert(0, responses[key]["text"])
    if earlier and reply is not None:
        reply.extra["earlier"] = earlier
    return reply


def _disparity_row(keys: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A row of the disparities table: estimator-specific keys go to ``extra``; ``reference`` is part of
    the key, so it is "" where a metric has none (a group may be compared with several references)."""
    out = {**keys, "reference": row.get("reference") or ""}
    extra = {}
    for k, v in row.items():
        if k == "reference":
            continue
        if k in DISPARITY_COLUMNS:
            out[k] = v
        else:
            extra[k] = v
    out["extra"] = extra or None
    return out


def _probe_columns(probe: Probe) -> dict[str, Any]:
    """What a family's ``disparities`` sees of a probe beside its outcome."""
    return {
        "scenario_id": probe.scenario_id,
        "cue": probe.cue,
        "condition": probe.condition,
        "matched_set_id": probe.matched_set_id,
        "swap_set_id": probe.swap_set_id,
        **probe.attributes,
    }
