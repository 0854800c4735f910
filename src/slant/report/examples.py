"""Example prompts and replies behind a finding, and replies the parser could not read, for reports.

A finding compares a group with a reference; its example is the matched set (same scenario, only the
group changed) where the two differ most in the direction of the finding, so a reader sees the
clearest case rather than a random one. Model text is returned as stored: escaping is the caller's job.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from slant.probes.base import in_group, twin_key

TEXT_LIMIT = 1500
# An outcome with its probe and reply: what the functions below show (each adds its own where clause).
_SELECT = """
    select o.probe_id, o.parse_status, o.answer, o.refusal, coalesce(o.p_yes, o.score) value,
           p.matched_set_id, p.attributes, p.messages, r.text, r.error
    from outcomes o join probes p on p.id = o.probe_id left join responses r on r.key = o.request_key"""


def _last_user(messages: str | None) -> str:
    users = [m["content"] for m in json.loads(messages or "[]") if m.get("role") == "user"]
    return (users[-1] if users else "")[:TEXT_LIMIT]


def _outcomes(db: sqlite_utils.Database, run_id: str, probe_set: str, cue: str) -> list[dict[str, Any]]:
    sql = f"""{_SELECT}
        where o.run_id = ? and o.probe_set = ? and p.cue = ? order by o.probe_id, o.sample"""
    return [
        {**r, "attributes": json.loads(r["attributes"] or "{}")}
        for r in db.query(sql, [run_id, probe_set, cue])
    ]


def _shown(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt": _last_user(r["messages"]),
        "reply": (r["text"] if r["text"] is not None else f"(error) {r['error'] or ''}")[:TEXT_LIMIT],
        "answer": r["answer"],
        "value": r["value"],
        "refusal": r["refusal"],
        "parse_status": r["parse_status"],
    }


def finding_example(db: sqlite_utils.Database, run_id: str, row: dict[str, Any]) -> dict[str, Any] | None:
    """The matched set that shows a disparity row best: {"group": shown, "reference": shown}, or None."""
    if not row.get("reference") or not row.get("grp"):
        return None
    axis, grp, ref = row["axis"], str(row["grp"]), str(row["reference"])
    rows = _outcomes(db, run_id, row["probe_set"], row["cue"])
    # A probe naming both groups (two candidates in one prompt) is no example of one versus the other.
    rows = [
        r for r in rows if not (in_group(r["attributes"], axis, grp) and in_group(r["attributes"], axis, ref))
    ]
    mine = [r for r in rows if in_group(r["attributes"], axis, grp)]
    theirs = {
        twin_key(r["matched_set_id"], r["attributes"], axis): r
        for r in rows
        if in_group(r["attributes"], axis, ref)
    }
    sign = -1.0 if (row.get("estimate") or 0) < 0 else 1.0
    pairs = [
        (r, theirs[twin_key(r["matched_set_id"], r["attributes"], axis)])
        for r in mine
        if twin_key(r["matched_set_id"], r["attributes"], axis) in theirs
    ]
    if not pairs:
        return None

    def strength(pair: tuple[dict[str, Any], dict[str, Any]]) -> float:
        a, b = pair[0]["value"], pair[1]["value"]
        return sign * (a - b) if a is not None and b is not None else float("-inf")

    a, b = max(pairs, key=strength)
    return {"group": _shown(a), "reference": _shown(b), "probes": (a["probe_id"], b["probe_id"])}


def unreadable(
    db: sqlite_utils.Database, run_id: str, probe_set: str, limit: int = 3
) -> list[dict[str, Any]]:
    """Up to ``limit`` outcomes of a probe set that were not parsed (or failed), with what came back."""
    sql = f"""{_SELECT}
        where o.run_id = ? and o.probe_set = ? and o.parse_status not in ('ok', 'partial')
        order by o.parse_status, o.probe_id limit ?"""
    return [_shown(r) for r in db.query(sql, [run_id, probe_set, limit])]


def outcome_example(db: sqlite_utils.Database, run_id: str, probe_set: str, probe_id: str) -> dict[str, Any]:
    """What one probe asked and got in a run (its first sample)."""
    sql = f"""{_SELECT}
        where o.run_id = ? and o.probe_set = ? and o.probe_id = ? order by o.sample limit 1"""
    return _shown(next(iter(db.query(sql, [run_id, probe_set, probe_id]))))
