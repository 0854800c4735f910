"""Multiple-comparison control over a run's disparity rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from slant.stats.paired import bh_adjust


def adjust_within_families(rows: list[dict[str, Any]]) -> None:
    """Benjamini-Hochberg within each probe family of the run (the family of tests), beside raw p:
    sets ``p_adj`` on every row."""
    for family in {r["family"] for r in rows}:
        mine = [r for r in rows if r["family"] == family]
        for r, adj in zip(mine, bh_adjust([r.get("p") for r in mine]), strict=True):
            r["p_adj"] = adj


def by_category(
    frame: pd.DataFrame,
    column: str,
    rows_of: Callable[[str, pd.DataFrame], list[dict[str, Any]]],
    tested: str,
) -> list[dict[str, Any]]:
    """A benchmark's rows per category (each value of ``column``, in data order) and over all (``grp``
    "all"), from ``rows_of(grp, outcomes)``; ``p_bh``: Benjamini-Hochberg across the categories' tests of
    the metric ``tested`` (the overall test left out)."""
    parts = [(str(v), d) for v, d in frame.groupby(column, sort=False)] + [("all", frame)]
    rows = [row for grp, d in parts for row in rows_of(grp, d)]
    mine = [r for r in rows if r["metric"] == tested and r["grp"] != "all"]
    for r, q in zip(mine, bh_adjust([r.get("p") for r in mine]), strict=True):
        r["p_bh"] = q
    return rows
