"""One run's numbers, read back from the database: the single source for every report format."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from slant.detect.refusal import FULL_REFUSALS
from slant.probes.base import FAILED_STATUSES, USABLE_STATUSES, ParseStatus
from slant.probes.family import metric_of
from slant.stats.degenerate import is_degenerate
from slant.store import find_run, latest_run

# The columns of every outcome table; each outcome is counted in exactly one. "refused": a reply the
# refusal detector read as a full refusal and that gave the family nothing to use (by parse status it is
# unparsed); every other column is a parse status.
REFUSED = "refused"
OUTCOME_COLUMNS = (*USABLE_STATUSES, REFUSED, *(s.value for s in ParseStatus if not s.usable))


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
        "select probe_set, family, parse_status, refusal, count(*) n from outcomes_full where run_id = ? "
        "group by probe_set, family, parse_status, refusal order by probe_set",
        [run_id],
    ):
        entry = outcomes.setdefault(
            r["probe_set"], {"family": r["family"], "n": 0, "by_status": {}, "by_outcome": {}}
        )
        entry["n"] += r["n"]
        for counts, key in (
            (entry["by_status"], r["parse_status"]),
            (entry["by_outcome"], outcome_column(r["parse_status"], r["refusal"])),
        ):
            counts[key] = counts.get(key, 0) + r["n"]
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
        "tokens": json.loads(run.get("tokens") or "{}"),  # slant.cost.run_tokens
        "outcomes": outcomes,
        "mass": mass,
        "disparities": rows,
        "missing_groups": missing_groups(db, run_id, rows),
    }


def outcome_column(parse_status: str, refusal: str | None) -> str:
    """The one column of :data:`OUTCOME_COLUMNS` an outcome is counted in (an unknown status is its own)."""
    if refusal in FULL_REFUSALS and parse_status in ("unparsed", "low_mass"):
        return REFUSED
    return parse_status


def outcome_columns(outcomes: dict[str, dict[str, Any]]) -> list[str]:
    """:data:`OUTCOME_COLUMNS`, then any status a family wrote that is not listed there, so that the
    columns of a row always add up to its n."""
    seen = {k for o in outcomes.values() for k in o["by_outcome"]}
    return [*OUTCOME_COLUMNS, *sorted(seen - set(OUTCOME_COLUMNS))]


def missing_groups(
    db: sqlite_utils.Database, run_id: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Groups asked about that have no usable outcome, each with how its outcomes ended.

    Such a group is absent from every estimate that needs answers (a mean, a gap), so a table would
    simply lack it; reports name it in a note instead. Groups are the values of an axis the probe set
    reports per group (some row of that cue and axis names one of its values).
    """
    named = {(r["probe_set"], r["cue"], r["axis"], str(r["grp"])) for r in rows}
    sql = """
        select o.probe_set, p.cue, j.key axis, j.value grp, o.parse_status, o.refusal, count(*) n
        from outcomes o join probes p on p.id = o.probe_id, json_each(p.attributes) j
        where o.run_id = ? and j.type in ('text', 'integer', 'real')
        group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4"""
    groups: dict[tuple[str, str, str, str], dict[str, int]] = {}
    for r in db.query(sql, [run_id]):
        counts = groups.setdefault((r["probe_set"], r["cue"], r["axis"], str(r["grp"])), {})
        column = outcome_column(r["parse_status"], r["refusal"])
        counts[column] = counts.get(column, 0) + r["n"]
    per_group_axes = {key[:3] for key in groups if key in named}
    return [
        {"probe_set": k[0], "cue": k[1], "axis": k[2], "group": k[3], "n": sum(c.values()), "by_outcome": c}
        for k, c in groups.items()
        if k[:3] in per_group_axes and not any(s in c for s in USABLE_STATUSES)
    ]


def missing_note(m: dict[str, Any]) -> str:
    """One line naming a group without usable outcomes and why."""
    counts = ", ".join(f"{k} {v}" for k, v in m["by_outcome"].items())
    failed = set(m["by_outcome"]) <= set(FAILED_STATUSES)
    why = f"all {m['n']} calls failed" if failed else f"none of its {m['n']} outcomes could be used"
    where = f"{m['probe_set']} · cue {m['cue']} · {m['axis']}: {m['group']}"
    return f"{where} has no usable outcome: {why} ({counts})"


def fmt_ci(lo: float | None, hi: float | None, fmt: str = "{:.3f}") -> str:
    return "" if lo is None or hi is None else f"[{fmt.format(lo)}, {fmt.format(hi)}]"


def fmt_p(p: float | None) -> str:
    return "" if p is None else f"{p:.3g}"


def fmt_row_p(r: dict[str, Any], key: str = "p") -> str:
    """A row's p (or p_adj) as text; "degenerate" where the data gave nothing to test."""
    return "degenerate" if is_degenerate(r) else fmt_p(r.get(key))


def corrected(r: dict[str, Any]) -> str:
    """A refusal rate or gap corrected for the refusal detector's measured error, with its interval
    (Rogan-Gladen, :mod:`slant.stats.misclassification`), as text; "" where the row has none."""
    extra = r.get("extra") or {}
    if extra.get("corrected") is None:
        return ""
    fmt = "{:+.1%}" if is_comparison(r) else "{:.1%}"
    ci = fmt_ci(extra.get("corrected_ci_low"), extra.get("corrected_ci_high"), fmt)
    return f"corrected {fmt.format(extra['corrected'])} {ci}".strip()


def effect(r: dict[str, Any]) -> str:
    """Effect sizes stored with the row (Cohen's h, odds ratio with its CI) and a refusal rate corrected
    for the detector's error, as text."""
    extra = r.get("extra") or {}
    out = [corrected(r)] if extra.get("corrected") is not None else []
    if extra.get("cohens_h") is not None:
        out.append(f"h {extra['cohens_h']:+.2f}")
    if extra.get("odds_ratio") is not None:
        ci = fmt_ci(extra.get("or_low"), extra.get("or_high"), "{:.2g}")
        out.append(f"OR {extra['odds_ratio']:.2g} {ci}".strip())
    return ", ".join(out)


def is_comparison(r: dict[str, Any]) -> bool:
    """Whether a row compares its group with a reference group (every report shows "vs" for these only).
    A level or rate describes one group, though its row may name the axis's reference group."""
    return bool(r.get("reference")) and r["reference"] != r["grp"] and not metric_of(r["metric"]).is_level


def estimate_name(r: dict[str, Any]) -> str:
    """probe set · cue · metric · axis: group [vs reference] — one estimate's name across runs."""
    vs = f" vs {r['reference']}" if is_comparison(r) else ""
    return f"{r['probe_set']} · {r['cue']} · {r['metric']} · {r['axis']}: {r['grp']}{vs}"


def nothing_to_test(r: dict[str, Any]) -> bool:
    """A paired refusal/unparsed comparison where no matched set differs: shown as a count only."""
    if r["metric"] == "refusal_cochran_q":
        return r["estimate"] is None
    no_test = r["p"] == 1 or is_degenerate(r)
    return r["metric"] in ("paired_refused_gap", "paired_unparsed_gap") and r["estimate"] == 0 and no_test
