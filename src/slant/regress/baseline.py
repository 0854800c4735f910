"""Baselines pinned per (campaign, target), and what changed in the model between two runs' provenance
(captured when a run finishes: :func:`slant.store.capture_provenance`)."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from slant import store
from slant.errors import SlantError


def model_changes(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """What differs between two runs' provenance that could change the model's behaviour."""
    out = []
    for key, what in (
        ("model", "model name"),
        ("base_url", "base URL"),
        ("fingerprints", "system fingerprint"),
        ("served_models", "model the server reported"),
        ("campaign_hash", "campaign file"),
        ("sampling", "sampling settings"),
    ):
        if key == "served_models" and key not in baseline:  # captured by an older slant
            continue
        if baseline.get(key) != candidate.get(key):
            out.append(f"{what} changed: {_short(baseline.get(key))} → {_short(candidate.get(key))}")
    b, c = baseline.get("server") or {}, candidate.get("server") or {}
    for key in sorted(set(b) | set(c)):
        if b.get(key) != c.get(key):
            out.append(f"server {key} changed: {_short(b.get(key))} → {_short(c.get(key))}")
    return out


def pin(db: sqlite_utils.Database, run_id: str) -> dict[str, Any]:
    """Pin a finished run (an id or a unique prefix) as the baseline of its (campaign, target); returns
    the stored row."""
    run = store.find_run(db, run_id)
    if run["status"] != "complete":
        raise SlantError(f"run {run['id']} is {run['status']}: only a complete run can be a baseline")
    row = {
        "campaign": run["campaign"],
        "target_id": run["target_id"],
        "run_id": run["id"],
        "pinned": store.now(),
        "provenance": store.provenance(db, run["id"]),
    }
    store.upsert(db, "baselines", [row])
    return row


def pinned(db: sqlite_utils.Database, campaign: str, target_id: str) -> str | None:
    """The baseline run of (campaign, target), if one is pinned."""
    rows = list(
        db.query("select run_id from baselines where campaign = ? and target_id = ?", [campaign, target_id])
    )
    return rows[0]["run_id"] if rows else None


def pins(
    db: sqlite_utils.Database, campaign: str | None = None, target_id: str | None = None
) -> list[dict[str, Any]]:
    """The pinned baselines (of one campaign and/or target, when given), by campaign."""
    sql = "select * from baselines where (? is null or campaign = ?) and (? is null or target_id = ?)"
    return list(db.query(f"{sql} order by campaign, target_id", [campaign, campaign, target_id, target_id]))


def unpin(
    db: sqlite_utils.Database,
    run_id: str | None = None,
    campaign: str | None = None,
    target_id: str | None = None,
) -> list[dict[str, Any]]:
    """Remove the pin of a run (an id or a unique prefix), or the pins of a campaign and/or target;
    returns the removed rows. Nothing to remove is a SlantError saying what was looked for."""
    if run_id:
        run = store.find_run(db, run_id)["id"]
        rows = [r for r in pins(db, campaign, target_id) if r["run_id"] == run]
        what = f"run {run} is not pinned as a baseline"
    elif campaign or target_id:
        rows = pins(db, campaign, target_id)
        what = "no baseline pinned" + (f" for campaign {campaign}" if campaign else "")
        what += f" on {target_id}" if target_id else ""
    else:
        raise SlantError("baseline unpin needs a run id, --campaign NAME or --target ID")
    if not rows:
        raise SlantError(what)
    with db.atomic():
        for r in rows:
            db.execute(
                "delete from baselines where campaign = ? and target_id = ?", [r["campaign"], r["target_id"]]
            )
    return rows


def baseline_of(db: sqlite_utils.Database, run_id: str) -> str:
    """The pinned baseline for a run's campaign and target, or a one-line error saying how to pin one."""
    run = store.find_run(db, run_id)
    found = pinned(db, run["campaign"], run["target_id"])
    if not found:
        raise SlantError(
            f"no baseline pinned for campaign {run['campaign']!r} on {run['target_id']}: "
            "pin one with `slant baseline set RUN`"
        )
    return found


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "…"
