"""Scoring a run: every stored reply into an outcome, then every probe set's outcomes into disparity
rows, with multiple-comparison control across each probe family."""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from slant import store
from slant.plan import Keyed, PlannedSet
from slant.probes import Probe, family_of
from slant.run import reply_from_row
from slant.stats import degenerate, numerics
from slant.stats.multiple import adjust_within_families
from slant.targets import Reply

DISPARITY_COLUMNS = set(store.columns("disparities"))
UNREAD = ("run_id", "probe_set", "request_key")  # outcome columns no family's statistics read
# probes scored at a time: a chunk's replies are read and parsed together, and what they leave behind in
# the allocator's free lists stays with the process
CHUNK = 500


def score_and_compare(
    db: sqlite_utils.Database, run_id: str, planned: list[PlannedSet], chunk: int = CHUNK
) -> pd.DataFrame:
    """Score every stored response into outcomes (``chunk`` probes at a time), then write the run's
    disparity rows; a family's statistics see the whole set's outcomes as one DataFrame (the columns
    they read: not the run, probe set or request key; only the family's ``columns`` where it names them)."""
    all_rows: list[dict[str, Any]] = []
    for ps in planned:
        frame = _Rows()
        store.write_outcomes(db, run_id, ps.spec.name, [])  # the set's outcomes of an earlier scoring go
        for items in ps.chunks(chunk):
            outcomes = _outcomes(db, run_id, ps, items, frame)
            store.write_outcomes(db, run_id, ps.spec.name, outcomes, replace=False)
        if not frame.rows:
            continue
        # a numerical warning no estimator noted itself goes into the rows' method, not onto stderr
        rows = numerics.recorded(family_of(ps.spec).disparities)(frame.frame(), ps.spec)
        keys = {"run_id": run_id, "family": ps.spec.family, "probe_set": ps.spec.name}
        all_rows += [_disparity_row(keys, degenerate.settle(r)) for r in rows]
    adjust_within_families(all_rows)
    store.write_disparities(db, run_id, all_rows)
    return pd.DataFrame(all_rows)


def _outcomes(
    db: sqlite_utils.Database, run_id: str, ps: PlannedSet, items: list[tuple[Probe, Keyed]], frame: _Rows
) -> list[dict[str, Any]]:
    """The outcome rows of some probes of a set (each also added to ``frame`` with its probe's columns)."""
    responses = store.responses_by_key(db, (key for _, keyed in items for key, _ in keyed))
    before = {nxt: key for key, nxt in ps.after.items()}
    family = family_of(ps.spec)
    outcomes = []
    for probe, keyed in items:
        for key, request in keyed:
            row = responses.get(key)
            if row is None or key in ps.after:
                continue  # never sent (interrupted): not an outcome yet; chained: its follow-up is
            o = {
                "run_id": run_id,
                "probe_set": ps.spec.name,
                "probe_id": probe.id,
                "sample": request.sample,
                "request_key": key,
                **family.score(probe, ps.spec, _with_earlier(row, key, before, responses)),
            }
            outcomes.append(o)
            held = {k: v for k, v in o.items() if k not in UNREAD} | _probe_columns(probe)
            frame.add(
                held if family.columns is None else {k: v for k, v in held.items() if k in family.columns}
            )
    return outcomes


class _Rows:
    """A probe set's outcome rows for its statistics, held by column: a column of floats (NaN where a
    row lacks it) or of integers in a C array, any other with repeated texts and details shared (a
    fraction of the memory of a row's own dict); ``frame()`` is ``pd.DataFrame`` of the same dicts
    (columns in order of first appearance, NaN where a row lacks one)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any] | array[Any]] = {}
        self.shared: dict[str, dict[Any, Any]] = {}
        self.rows = 0

    def add(self, row: dict[str, Any]) -> None:
        for name, value in row.items():
            values = self.columns.get(name)
            if values is None:
                values = self.columns[name] = _new_column(value, self.rows)
                self.shared[name] = {}
            if isinstance(values, array):
                if _fits(values, value):
                    values.append(value)
                    continue
                values = self.columns[name] = values.tolist()  # the same numbers, as Python objects
            values.append(_shared(self.shared[name], value))
        self.rows += 1
        for name, values in self.columns.items():
            if len(values) < self.rows:
                if isinstance(values, array) and values.typecode == "q":
                    values = self.columns[name] = values.tolist()  # an integer column with a gap
                values.append(np.nan)

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, each column inferred as ``pd.DataFrame`` of whole rows infers it (it
        infers column by column: a column of Python floats is float64, of Python ints int64); the rows
        are handed over: this empties the accumulator."""
        parts = []
        for name in list(self.columns):
            values = self.columns.pop(name)
            if isinstance(values, array):
                dtype = np.float64 if values.typecode == "d" else np.int64
                parts.append(pd.DataFrame({name: np.frombuffer(values, dtype=dtype)}))
            else:
                parts.append(pd.DataFrame([(v,) for v in values], columns=[name]))
            del values, self.shared[name]
        self.rows = 0
        return pd.concat(parts, axis=1)


def _new_column(first: Any, rows: int) -> list[Any] | array[Any]:
    """An empty column for a value first seen after ``rows`` rows (which lacked it: NaN)."""
    if isinstance(first, float):
        return array("d", [np.nan] * rows)
    if type(first) is int and not rows and _fits(array("q"), first):
        return array("q")
    return [np.nan] * rows


def _fits(values: array[Any], value: Any) -> bool:
    """Whether ``value`` goes into the C array of a typed column as itself: a float (or a float
    subclass) into doubles; an int (not a bool) within 64 bits into integers."""
    if values.typecode == "d":
        return isinstance(value, float)
    return type(value) is int and -(2**63) <= value < 2**63


def _shared(seen: dict[Any, Any], value: Any) -> Any:
    """``value``, or an equal one seen before in its column (texts, and dicts and lists by repr: the
    same type and the same repr, so 0.0 and -0.0 or 1 and 1.0 stay apart)."""
    if isinstance(value, str):
        key: Any = (type(value), value)
    elif isinstance(value, dict | list):
        key = (type(value), repr(value))
    else:
        return value
    return seen.setdefault(key, value)


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
