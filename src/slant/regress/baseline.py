"""Provenance of a run, baselines pinned per (campaign, target), and what changed in the model.

A run's provenance is captured when it finishes (the target row of the database is overwritten by later
runs of the same target, so it cannot be read back later): model name, base URL, what the server said
about itself (engine, model file hash, version), the system fingerprints and model names its replies
carried, the campaign hash and the sampling settings of every probe set.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from slant import store
from slant.errors import SlantError

SAMPLING_KEYS = ("scoring", "temperature", "seed", "samples")


def capture(db: sqlite_utils.Database, run_id: str) -> dict[str, Any]:
    """The provenance of a run as it stands now (called at the end of every run)."""
    run = _run(db, run_id)
    target = next(iter(db.query("select * from targets where id = ?", [run["target_id"]])), {})
    fingerprints = [
        r["fingerprint"]
        for r in db.query(
            "select distinct r.fingerprint from outcomes o join responses r on r.key = o.request_key "
            "where o.run_id = ? and r.fingerprint is not null order by 1",
            [run_id],
        )
    ]
    config = json.loads(run["config"] or "{}")
    return {
        "run": run_id,
        "campaign": run["campaign"],
        "campaign_hash": run["campaign_hash"],
        "target_id": run["target_id"],
        "model": target.get("model"),
        "base_url": target.get("base_url"),
        "server": json.loads(target.get("server") or "{}"),
        "fingerprints": fingerprints,
        "served_models": store.served_models(db, run_id),  # the model names the server reported
        "slant_version": run["slant_version"],
        "scope": run["scope"],
        "sampling": {p["name"]: {k: p[k] for k in SAMPLING_KEYS if k in p} for p in config.get("probes", [])},
    }


def provenance(db: sqlite_utils.Database, run_id: str) -> dict[str, Any]:
    """The provenance stored with a run when it finished (captured now for older runs)."""
    stored = _run(db, run_id).get("provenance")
    return json.loads(stored) if stored else capture(db, run_id)


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
    """Pin a finished run as the baseline of its (campaign, target); returns the stored row."""
    run = _run(db, run_id)
    if run["status"] != "complete":
        raise SlantError(f"run {run_id} is {run['status']}: only a complete run can be a baseline")
    row = {
        "campaign": run["campaign"],
        "target_id": run["target_id"],
        "run_id": run_id,
        "pinned": store.now(),
        "provenance": provenance(db, run_id),
    }
    store.upsert(db, "baselines", [row])
    return row


def pinned(db: sqlite_utils.Database, campaign: str, target_id: str) -> str | None:
    """The baseline run of (campaign, target), if one is pinned."""
    rows = list(
        db.query("select run_id from baselines where campaign = ? and target_id = ?", [campaign, target_id])
    )
    return rows[0]["run_id"] if rows else None


def baseline_of(db: sqlite_utils.Database, run_id: str) -> str:
    """The pinned baseline for a run's campaign and target, or a one-line error saying how to pin one."""
    run = _run(db, run_id)
    found = pinned(db, run["campaign"], run["target_id"])
    if not found:
        raise SlantError(
            f"no baseline pinned for campaign {run['campaign']!r} on {run['target_id']}: "
            "pin one with `slant baseline set RUN`"
        )
    return found


def _run(db: sqlite_utils.Database, run_id: str) -> dict[str, Any]:
    rows = list(db.query("select * from runs where id = ?", [run_id]))
    if not rows:
        raise SlantError(f"no run {run_id!r} in this database")
    return rows[0]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "…"
