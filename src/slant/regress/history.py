"""A campaign's estimates over time: one row per run, for the metrics its gates watch (or those asked)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

import pandas as pd
import sqlite_utils

from slant.errors import SlantError
from slant.report.html import CSS
from slant.report.summary import estimate_name
from slant.report.svg import Item, forest
from slant.store import find_run, provenance


def _watched(db: sqlite_utils.Database, run_id: str) -> list[str]:
    config = json.loads(find_run(db, run_id)["config"] or "{}")
    return sorted({g["metric"] for g in config.get("gates", []) if g.get("metric")})


def _check_metrics(db: sqlite_utils.Database, campaign: str, metrics: list[str]) -> None:
    """Each metric asked for is one the campaign's runs have (a typo would give an empty history)."""
    have = [
        r["metric"]
        for r in db.query(
            "select distinct d.metric from disparities d join runs r on r.id = d.run_id "
            "where r.campaign = ? order by 1",
            [campaign],
        )
    ]
    for m in metrics:
        if m not in have:
            known = ", ".join(have) or "none"
            raise SlantError(f"metric {m!r}: no run of campaign {campaign!r} has it (its metrics: {known})")


def history(db: sqlite_utils.Database, campaign: str, metrics: list[str] | None = None) -> pd.DataFrame:
    """Long table: run, started, status, fingerprints, gates verdicts and one row per watched estimate."""
    runs = list(
        db.query(
            "select id, scope, started, status from runs where campaign = ? order by started, rowid",
            [campaign],
        )
    )
    if not runs:
        raise SlantError(f"no run of campaign {campaign!r} in this database")
    if metrics:
        _check_metrics(db, campaign, metrics)
    metrics = metrics or _watched(db, runs[-1]["id"]) or ["paired_gap"]
    marks = ",".join("?" * len(metrics))
    rows = []
    for run in runs:
        fps = ",".join(provenance(db, run["id"]).get("fingerprints") or []) or "—"
        gates = {
            g["status"]: g["n"]
            for g in db.query(
                "select status, count(*) n from gate_results where candidate_run = ? group by status",
                [run["id"]],
            )
        }
        verdict = ", ".join(f"{n} {s}" for s, n in sorted(gates.items())) or "—"
        for r in db.query(
            f"select * from disparities where run_id = ? and metric in ({marks}) order by rowid",
            [run["id"], *metrics],
        ):
            rows.append(
                {
                    "run": run["id"],
                    "scope": run["scope"],
                    "started": run["started"],
                    "status": run["status"],
                    "fingerprints": fps,
                    "gates": verdict,
                    "estimate_of": estimate_name(r),
                    "estimate": r["estimate"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "p_adj": r["p_adj"],
                }
            )
    return pd.DataFrame(rows)


def history_html(frame: pd.DataFrame, campaign: str) -> str:
    """One forest plot per estimate, one row per run (oldest first): the estimate over time."""
    parts = [f"<h1>slant history · campaign {escape(campaign)}</h1>"]
    for key, d in frame.groupby("estimate_of", sort=False):
        items = [
            Item(
                f"{r.started[:16].replace('T', ' ')} · {r.run}",
                r.estimate,
                None if pd.isna(r.ci_low) else r.ci_low,
                None if pd.isna(r.ci_high) else r.ci_high,
                "significant" if r.p_adj is not None and not pd.isna(r.p_adj) and r.p_adj < 0.05 else "ns",
                note=f"{r.estimate:+.3f} · gates {r.gates}",
            )
            for r in d.itertuples()
            if r.estimate is not None and not pd.isna(r.estimate)
        ]
        if items:
            parts.append(f"<h2>{escape(str(key))}</h2>{forest(items, str(key))}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>slant history {escape(campaign)}'
        f"</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    )


def history_runs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per run: date, status, gates, fingerprints (for the terminal table)."""
    cols = ["run", "scope", "started", "status", "gates", "fingerprints"]
    return frame[cols].drop_duplicates("run").to_dict("records") if len(frame) else []


def estimates_by_run(frame: pd.DataFrame) -> pd.DataFrame:
    """The history's estimates as a table: one row per estimate, one column per run (oldest first)."""
    wide = frame.pivot_table(index="estimate_of", columns="run", values="estimate", sort=False)
    return wide[[c for c in dict.fromkeys(frame["run"]) if c in wide.columns]]
