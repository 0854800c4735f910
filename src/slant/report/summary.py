"""One run's numbers, read back from the database: the single source for every report format."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from slant.errors import SlantError
from slant.stats.degenerate import is_degenerate
from slant.store import find_run


def latest_run(db: sqlite_utils.Database) -> str:
    rows = list(db.query("select id from runs order by coalesce(finished, started) desc, rowid desc limit 1"))
    if not rows:
        raise SlantError("the database holds no run yet")
    return rows[0]["id"]


def _parsed(row: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: (json.loads(v) if k in fields and isinstance(v, str) else v) for k, v in row.items()}


def summary(db: sqlite_utils.Database, run_id: str | None = None) -> dict[str, Any]:
    """Run and target provenance (with the run's notes), outcome counts per probe set, mass, and every
    disparity row."""
    run = _parsed(find_run(db, run_id or latest_run(db)), "config")
    run_id = run["id"]
    target = _parsed(
        next(iter(db.query("select * from targets where id = ?", [run["target_id"]])), {}), "server"
    )
    outcomes: dict[str, dict[str, Any]] = {}
    for r in db.query(
        "select probe_set, family, parse_status, count(*) n from outcomes_full where run_id = ? "
        "group by probe_set, family, parse_status order by probe_set",
        [run_id],
    ):
        entry = outcomes.setdefault(r["probe_set"], {"family": r["family"], "n": 0, "by_status": {}})
        entry["n"] += r["n"]
        entry["by_status"][r["parse_status"]] = r["n"]
    mass = next(
        iter(
            db.query(
                "select avg(mass) mean, min(mass) min, max(mass) max from outcomes "
                "where run_id = ? and mass is not null",
                [run_id],
            )
        )
    )
    rows = [
        _parsed(r, "extra")
        for r in db.query("select * from disparities where run_id = ? order by rowid", [run_id])
    ]
    notes = json.loads(run.get("provenance") or "{}").get("notes", [])  # where the calls really went
    return {
        "run": run,
        "target": target,
        "notes": notes,
        "outcomes": outcomes,
        "mass": mass,
        "disparities": rows,
    }


def fmt_ci(lo: float | None, hi: float | None, fmt: str = "{:.3f}") -> str:
    return "" if lo is None or hi is None else f"[{fmt.format(lo)}, {fmt.format(hi)}]"


def fmt_p(p: float | None) -> str:
    return "" if p is None else f"{p:.3g}"


def fmt_row_p(r: dict[str, Any], key: str = "p") -> str:
    """A row's p (or p_adj) as text; "degenerate" where the data gave nothing to test."""
    return "degenerate" if is_degenerate(r) else fmt_p(r.get(key))


def effect(r: dict[str, Any]) -> str:
    """Effect sizes stored with the row (Cohen's h, odds ratio with its CI), as text."""
    extra = r.get("extra") or {}
    out = []
    if extra.get("cohens_h") is not None:
        out.append(f"h {extra['cohens_h']:+.2f}")
    if extra.get("odds_ratio") is not None:
        ci = fmt_ci(extra.get("or_low"), extra.get("or_high"), "{:.2g}")
        out.append(f"OR {extra['odds_ratio']:.2g} {ci}".strip())
    return ", ".join(out)


# Estimates of one group's level (not a comparison), though their rows name the axis's reference group.
LEVEL_METRICS = ("p_yes", "accuracy", "agreement_p", "refusal_rate", "refuse_rate", "abstention_rate")


def estimate_name(r: dict[str, Any]) -> str:
    """probe set · cue · metric · axis: group [vs reference] — one estimate's name across runs."""
    compared = r.get("reference") and r["reference"] != r["grp"] and r["metric"] not in LEVEL_METRICS
    vs = f" vs {r['reference']}" if compared else ""
    return f"{r['probe_set']} · {r['cue']} · {r['metric']} · {r['axis']}: {r['grp']}{vs}"


def nothing_to_test(r: dict[str, Any]) -> bool:
    """A paired refusal/unparsed comparison where no matched set differs: shown as a count only."""
    if r["metric"] == "refusal_cochran_q":
        return r["estimate"] is None
    no_test = r["p"] == 1 or is_degenerate(r)
    return r["metric"] in ("paired_refused_gap", "paired_unparsed_gap") and r["estimate"] == 0 and no_test
