"""Multiple-comparison control over a run's disparity rows."""

from __future__ import annotations

from typing import Any

from slant.stats.paired import bh_adjust


def adjust_within_families(rows: list[dict[str, Any]]) -> None:
    """Benjamini-Hochberg within each probe family of the run (the family of tests), beside raw p:
    sets ``p_adj`` on every row."""
    for family in {r["family"] for r in rows}:
        mine = [r for r in rows if r["family"] == family]
        for r, adj in zip(mine, bh_adjust([r.get("p") for r in mine]), strict=True):
            r["p_adj"] = adj
