"""How a candidate run differs from a baseline run of the same campaign: aligned probe by probe.

Runs are aligned by probe id within each probe set (a probe id is a hash of the probe's content, so
the same id is the same prompt). For each disparity estimate, the change is tested on the aligned
probes, paired:

- a gap between a group and a reference (``p_yes_gap``, ``paired_gap``, ``paired_refused_gap`` …):
  per twin pair (two probes that differ only in the compared attribute) the gap in the baseline and in
  the candidate; the change is the mean of (candidate gap − baseline gap);
- a level of one group (``p_yes``, ``refusal_rate`` …): per probe, candidate value − baseline value.

Both go through :func:`slant.stats.paired.paired_gap` with the run as the "group" and the twin pair or
probe as the matched set: a cluster bootstrap CI over scenarios and a paired t-test. All p values of a
diff are adjusted together (Benjamini–Hochberg). Estimates that are not means of per-probe values
(mixed-model coefficients, IAT D scores, Kendall's tau …) are compared as numbers only, untested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlite_utils

from slant import store
from slant.detect.refusal import FULL_REFUSALS
from slant.errors import SlantError
from slant.probes.base import USABLE_STATUSES, ParseStatus, in_group, twin_key
from slant.probes.family import metric_of
from slant.regress.baseline import model_changes
from slant.report.examples import outcome_example
from slant.stats.metric import Kind
from slant.stats.paired import bh_adjust, paired_binary, paired_gap

ALPHA = 0.05
KEY = ("probe_set", "cue", "metric", "axis", "grp", "reference")
N_FLIPS_SHOWN = 5


@dataclass
class Diff:
    baseline: str
    candidate: str
    model_changes: list[str]
    alignment: list[dict[str, Any]]  # per probe set: common, only in baseline, only in candidate
    changes: list[dict[str, Any]]  # rows of the ``changes`` table
    new_findings: list[dict[str, Any]] = field(default_factory=list)
    resolved_findings: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)  # refusal / unparsed / error rates
    flips: list[dict[str, Any]] = field(default_factory=list)  # probes whose answer changed
    n_flips: int = 0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__


def probe_table(db: sqlite_utils.Database, run_id: str) -> pd.DataFrame:
    """One row per (probe set, probe) of a run: mean value, refused, unparsed and error shares, answer."""
    rows = list(
        db.query(
            "select o.probe_set, o.probe_id, o.parse_status, o.answer, coalesce(o.p_yes, o.score) value, "
            "o.refusal, p.scenario_id, p.matched_set_id, p.cue, p.attributes "
            "from outcomes o join probes p on p.id = o.probe_id where o.run_id = ?",
            [run_id],
        )
    )
    if not rows:
        return pd.DataFrame(columns=["probe_set", "probe_id"])
    d = pd.DataFrame(rows)
    usable = d["parse_status"].isin(USABLE_STATUSES)
    answered = d["parse_status"] != ParseStatus.ERROR
    d["value"] = d["value"].where(usable)
    d["refused"] = d["refusal"].isin(FULL_REFUSALS).astype(float).where(answered)
    d["unparsed"] = (~usable).astype(float)
    d["error"] = (~answered).astype(float)
    return d.groupby(["probe_set", "probe_id"], as_index=False).agg(
        value=("value", "mean"),
        refused=("refused", "mean"),
        unparsed=("unparsed", "mean"),
        error=("error", "mean"),
        answer=("answer", _mode),
        scenario_id=("scenario_id", "first"),
        matched_set_id=("matched_set_id", "first"),
        cue=("cue", "first"),
        attributes=("attributes", "first"),
    )


def diff_runs(db: sqlite_utils.Database, baseline: str, candidate: str, margin: float = 0.02) -> Diff:
    """Compare two runs; store the changes in the ``changes`` table and return everything."""
    base_p, cand_p = store.provenance(db, baseline), store.provenance(db, candidate)
    if base_p["campaign"] != cand_p["campaign"]:
        raise SlantError(
            f"the runs belong to different campaigns ({base_p['campaign']!r} and {cand_p['campaign']!r})"
        )
    b, c = probe_table(db, baseline), probe_table(db, candidate)
    aligned = b.merge(c, on=["probe_set", "probe_id"], suffixes=("_b", "_c"))
    for col in ("scenario_id", "matched_set_id", "cue", "attributes"):
        aligned[col] = aligned[f"{col}_b"]
    aligned["attrs"] = aligned["attributes"].map(lambda a: json.loads(a or "{}"))
    base_rows, cand_rows = _estimates(db, baseline), _estimates(db, candidate)
    changes = []
    for key in list(dict.fromkeys([*base_rows, *cand_rows])):
        changes.append(_change(key, base_rows.get(key), cand_rows.get(key), aligned, margin))
    for row, q in zip(changes, bh_adjust([r["p"] for r in changes]), strict=True):
        row["p_adj"] = q
    rows = [{"baseline_run": baseline, "candidate_run": candidate, **r} for r in changes]
    with db.atomic():
        db.execute("delete from changes where baseline_run = ? and candidate_run = ?", [baseline, candidate])
        store.upsert(db, "changes", rows)
    out = Diff(baseline, candidate, model_changes(base_p, cand_p), _alignment(b, c), rows)
    out.new_findings = [cand_rows[k] for k in cand_rows if _sig(cand_rows[k]) and not _sig(base_rows.get(k))]
    out.resolved_findings = [
        base_rows[k] for k in base_rows if _sig(base_rows[k]) and not _sig(cand_rows.get(k))
    ]
    out.drift = _drift(b, c, aligned)
    flips = aligned[
        aligned["answer_b"].notna()
        & aligned["answer_c"].notna()
        & (aligned["answer_b"] != aligned["answer_c"])
    ]
    out.n_flips = len(flips)
    flips = flips.assign(size=(flips["value_c"] - flips["value_b"]).abs()).sort_values(
        "size", ascending=False
    )
    for r in flips.head(N_FLIPS_SHOWN).itertuples():
        out.flips.append(
            {
                "probe_set": r.probe_set,
                "probe_id": r.probe_id,
                "baseline": outcome_example(db, baseline, r.probe_set, r.probe_id),
                "candidate": outcome_example(db, candidate, r.probe_set, r.probe_id),
            }
        )
    return out


def _estimates(db: sqlite_utils.Database, run_id: str) -> dict[tuple[str, ...], dict[str, Any]]:
    rows = db.query("select * from disparities where run_id = ?", [run_id])
    return {tuple(str(r[k]) for k in KEY): r for r in rows}


def _change(
    key: tuple[str, ...],
    base: dict[str, Any] | None,
    cand: dict[str, Any] | None,
    aligned: pd.DataFrame,
    margin: float,
) -> dict[str, Any]:
    probe_set, cue, metric, axis, grp, ref = key
    row: dict[str, Any] = {
        **dict(zip(KEY, key, strict=True)),
        "baseline_estimate": base["estimate"] if base else None,
        "candidate_estimate": cand["estimate"] if cand else None,
        "change": None,
        "ci_low": None,
        "ci_high": None,
        "p": None,
        "n_pairs": 0,
        "n_clusters": 0,
        "test": None,
    }
    if base is None or cand is None:
        return {**row, "method": "only in the " + ("candidate" if base is None else "baseline")}
    d = aligned[(aligned["probe_set"] == probe_set) & (aligned["cue"].astype(str) == cue)]
    m = metric_of(metric)  # its ``diff``: the per-probe variable it is a mean or a between-group gap of
    if m.diff and m.kind is Kind.GAP and ref and ref != grp:
        frame = _pair_frame(d, m.diff, axis, grp, ref)
        unit = f"twin pair ({grp} and {ref} probes that differ only in {axis}): candidate gap − baseline gap"
    elif m.diff and m.kind is not Kind.GAP:
        frame = _probe_frame(d[d["attrs"].map(lambda a: in_group(a, axis, grp))], m.diff)
        unit = "probe: candidate value − baseline value"
    else:
        return {**row, "method": "not a mean of per-probe values: compared as estimates only, untested"}
    if frame.empty:
        return {**row, "method": f"unit = {unit}; no aligned unit"}
    t = paired_gap(frame, "run", "candidate", "baseline", value="v", margin=margin)
    return {
        **row,
        "change": t["estimate"],
        "ci_low": t["ci_low"],
        "ci_high": t["ci_high"],
        "p": t["p"],
        "n_pairs": t["n_sets"],
        "n_clusters": t["n_clusters"],
        "test": t["test"],
        "method": f"unit = {unit}; {t['method'].split('; ', 1)[-1]}",
    }


def _pair_frame(d: pd.DataFrame, var: str, axis: str, grp: str, ref: str) -> pd.DataFrame:
    """Per twin pair and run, the gap grp − ref of ``var`` (long format for paired_gap)."""
    mine: dict[tuple[Any, ...], pd.Series] = {}
    theirs: dict[tuple[Any, ...], pd.Series] = {}
    for _, r in d.iterrows():
        is_grp, is_ref = in_group(r["attrs"], axis, grp), in_group(r["attrs"], axis, ref)
        if is_grp != is_ref:  # a probe naming both groups is not one side of a pair
            (mine if is_grp else theirs).setdefault(twin_key(r["matched_set_id"], r["attrs"], axis), r)
    rows = []
    for i, twin in enumerate(k for k in mine if k in theirs):
        m, t = mine[twin], theirs[twin]
        for run, s in (("baseline", "_b"), ("candidate", "_c")):
            rows.append(_long(m, f"pair{i}", run, m[var + s] - t[var + s]))
    return pd.DataFrame(rows).dropna(subset=["v"]) if rows else pd.DataFrame()


def _probe_frame(d: pd.DataFrame, var: str) -> pd.DataFrame:
    rows = [
        _long(r, r["probe_id"], run, r[var + s])
        for _, r in d.iterrows()
        for run, s in (("baseline", "_b"), ("candidate", "_c"))
    ]
    return pd.DataFrame(rows).dropna(subset=["v"]) if rows else pd.DataFrame()


def _long(r: pd.Series, unit: str, run: str, v: float) -> dict[str, Any]:
    return {
        "scenario_id": r["scenario_id"],
        "matched_set_id": unit,
        "probe_id": f"{unit}:{run}",
        "run": run,
        "v": v,
    }


def _alignment(b: pd.DataFrame, c: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for ps in sorted(set(b["probe_set"]) | set(c["probe_set"])):
        ib = set(b.loc[b["probe_set"] == ps, "probe_id"])
        ic = set(c.loc[c["probe_set"] == ps, "probe_id"])
        out.append(
            {
                "probe_set": ps,
                "common": len(ib & ic),
                "only_baseline": len(ib - ic),
                "only_candidate": len(ic - ib),
            }
        )
    return out


def _drift(b: pd.DataFrame, c: pd.DataFrame, aligned: pd.DataFrame) -> list[dict[str, Any]]:
    """Refusal, unparsed and error rates per probe set in both runs; the change tested by McNemar on
    aligned probes (each probe's majority outcome over its samples)."""
    out = []
    for ps in sorted(set(b["probe_set"]) | set(c["probe_set"])):
        a = aligned[aligned["probe_set"] == ps]
        for var in ("refused", "unparsed", "error"):
            frame = _probe_frame(a, var)
            test = paired_binary(frame, "run", "candidate", "baseline", value="v") if len(frame) else {}
            out.append(
                {
                    "probe_set": ps,
                    "rate": var,
                    "baseline": _mean(b.loc[b["probe_set"] == ps, var]),
                    "candidate": _mean(c.loc[c["probe_set"] == ps, var]),
                    "change": test.get("estimate"),
                    "p": test.get("p"),
                    "n_probes": len(a),
                }
            )
    return out


def _sig(row: dict[str, Any] | None) -> bool:
    return row is not None and row.get("p_adj") is not None and row["p_adj"] < ALPHA


def _mean(s: pd.Series) -> float | None:
    s = s.dropna()
    return float(s.mean()) if len(s) else None


def _mode(s: pd.Series) -> Any:
    m = s.dropna().mode()
    return m.iloc[0] if len(m) == 1 else None
