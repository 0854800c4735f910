"""Disparity v1: per-group mean P(yes) and gap to a reference group, clustered by scenario; refusal rates.

Samples cluster within probes and probes within scenarios, so every mean and gap is an OLS estimate
with cluster-robust standard errors by scenario (t-based CIs, since audits have few scenarios).
Refusal rates get Wilson intervals. Outcomes that errored, could not be parsed, or put too little
probability mass on the answer space are counted (``n_unparsed``) and excluded from P(yes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from slant.detect.refusal import DEFAULT_REFUSAL_POLICY, FULL_REFUSALS
from slant.detect.refusal_model import detector_error
from slant.stats import degenerate, numerics
from slant.stats.metric import Kind, Metric
from slant.stats.misclassification import rate_fields
from slant.stats.paired import cohens_h
from slant.stats.rates import rate_row
from slant.stats.text import as_text

METHOD_MEAN = "OLS mean, cluster-robust SE by scenario (t)"
METHOD_GAP = "OLS p_yes ~ C(group), cluster-robust SE by scenario (t)"
P_YES = Metric("p_yes", Kind.LEVEL, "mean P(yes) of a group", diff="value")
P_YES_GAP = Metric("p_yes_gap", Kind.GAP, "P(yes) of a group minus the reference's", null=0.0, diff="value")
REFUSAL_RATE = Metric(
    "refusal_rate", Kind.RATE, "share of answered calls fully refused", chart="bars", diff="refused"
)
METRICS = (P_YES, P_YES_GAP, REFUSAL_RATE)  # what group_disparities writes


class Clustered(NamedTuple):
    """A clustered OLS coefficient: estimate, 95% CI, p, why it is degenerate (None: tested), and the
    numerical warnings the fit raised."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    p: float | None
    degenerate: str | None = None
    warnings: tuple[str, ...] = ()

    def into(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with this fit's numbers and warnings; a degenerate fit is marked by the shared rule."""
        fields = {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "p": self.p}
        row = {**row, **fields, "method": numerics.note(row.get("method"), self.warnings)}
        return degenerate.mark(row, self.degenerate)


def clustered_fit(data: pd.DataFrame, column: str, indicator: Any = None) -> Clustered:
    """The OLS coefficient of the last regressor, clustered by scenario: with no ``indicator`` the mean
    of ``column`` (``column ~ 1``, its intercept); with a 0/1 ``indicator`` (True for the group, False
    for the reference) the group's mean minus the reference's (``column ~ C(grp,
    Treatment(reference=ref))``, the coefficient of ``grp[T.level]``). Degenerate (no p) with fewer
    than two clusters or a standard error below resolution (no variance); warnings recorded, not
    printed."""
    with numerics.captured() as notes:
        fit = _clustered(data, column, indicator)
    return fit._replace(warnings=tuple(notes))


def _design(data: pd.DataFrame, column: str, indicator: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, X, clusters) of the OLS :func:`clustered_fit` fits: the design matrix the formula would build
    (an intercept column, then the indicator as 0/1), rows with a missing ``column`` left out as a
    formula leaves them out."""
    y = data[column].to_numpy(dtype=float)
    columns = (
        [np.ones(len(y))] if indicator is None else [np.ones(len(y)), np.asarray(indicator, dtype=float)]
    )
    x, clusters = np.column_stack(columns), data["scenario_id"].to_numpy()
    keep = ~np.isnan(y)
    return (y, x, clusters) if keep.all() else (y[keep], x[keep], clusters[keep])


def _clustered(data: pd.DataFrame, column: str, indicator: Any = None) -> Clustered:
    y, x, clusters = _design(data, column, indicator)
    if len(np.unique(clusters)) < 2:
        est = float(OLS(y, x).fit().params[-1])
        return Clustered(est, None, None, None, degenerate.FEW_CLUSTERS)
    fit = OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
    est, p = float(fit.params[-1]), float(fit.pvalues[-1])
    why = degenerate.reason(se=float(fit.bse[-1]))
    if why is not None or not np.isfinite(p):
        why, est = why or degenerate.NO_VARIANCE, degenerate.snap(est)
        return Clustered(est, *degenerate.interval(est, None, None, why), None, why)
    lo, hi = (float(v) for v in fit.conf_int()[-1])
    return Clustered(est, lo, hi, p)


def outcome_counts(d: pd.DataFrame, unusable: Any = None) -> dict[str, int]:
    """The n's every estimate states: responses, probes, clusters (scenarios), refused (full refusals
    and persona abstentions among calls that got a reply) and unparsed (the ``unusable`` rows, a
    boolean mask; default: outcomes not parsed "ok")."""
    unusable = d["parse_status"] != "ok" if unusable is None else unusable
    answered = d[d["parse_status"] != "error"]
    return {
        "n_responses": len(d),
        "n_probes": int(d["probe_id"].nunique()),
        "n_clusters": int(d["scenario_id"].nunique()),
        "n_refused": int(answered["refusal"].isin(FULL_REFUSALS).sum()),
        "n_unparsed": int(np.asarray(unusable).sum()),
    }


def clustered_mean(
    data: pd.DataFrame, column: str = "p_yes"
) -> tuple[float, float | None, float | None, float | None]:
    """Mean of ``column`` with a CI clustered by scenario (and the p of a test against 0, None when
    degenerate). Numerical warnings propagate to the caller (use :func:`mean_row` to note them)."""
    fit = _clustered(data, column)
    return fit.estimate, fit.ci_low, fit.ci_high, fit.p


def mean_row(data: pd.DataFrame, column: str, method: str, propagate: bool = False) -> dict[str, Any]:
    """The estimate and CI of :func:`clustered_mean` as row fields, with its numerical warnings in the
    method; with ``propagate``, warnings are left to the caller instead (the families' ``disparities``
    are recorded as a whole, so they end up in the method of every row the family returns)."""
    fit = _clustered(data, column) if propagate else clustered_fit(data, column)
    method = numerics.note(method, fit.warnings) or method
    return {"estimate": fit.estimate, "ci_low": fit.ci_low, "ci_high": fit.ci_high, "method": method}


def by_cue(frame: pd.DataFrame) -> Iterator[tuple[Any, pd.DataFrame]]:
    """``frame.groupby("cue", sort=False)``'s groups; a frame of one cue is its own group (no copy)."""
    cues = frame["cue"].unique()
    if len(cues) == 1 and pd.notna(cues[0]):
        yield cues[0], frame
        return
    yield from frame.groupby("cue", sort=False)


def group_disparities(outcomes: pd.DataFrame, axes: dict[str, tuple[list[Any], Any]]) -> list[dict[str, Any]]:
    """Rows for the ``disparities`` table, per cue × axis × group.

    Args:
        outcomes: one row per outcome with columns scenario_id, probe_id, cue, parse_status, p_yes,
            refusal, and one column per axis.
        axes: axis → (levels in display order, reference level).
    """
    rows: list[dict[str, Any]] = []
    read = ["cue", "scenario_id", "probe_id", "parse_status", "p_yes", "refusal", *axes]
    outcomes = outcomes[list(dict.fromkeys(read))]  # the rest is not read: not copied per group
    for cue, of_cue in by_cue(outcomes):
        for axis, (levels, ref) in axes.items():
            known = of_cue[axis].notna()
            data = (of_cue if known.all() else of_cue[known]).assign(grp=lambda d, a=axis: as_text(d[a]))
            seen = set(data["grp"])
            present = [str(v) for v in levels if str(v) in seen]
            if len(present) < 2:
                continue  # a single level is not a comparison
            ok = data.loc[data["parse_status"] == "ok", ["scenario_id", "grp", "p_yes"]]  # what the fits read
            for level in present:
                rows += _level_rows(data, ok, str(cue), axis, level, str(ref))
    return rows


def _level_rows(
    data: pd.DataFrame, ok: pd.DataFrame, cue: str, axis: str, level: str, ref: str
) -> list[dict[str, Any]]:
    d, d_ok = data[data["grp"] == level], ok[ok["grp"] == level]
    answered = d[d["parse_status"] != "error"]
    counts = outcome_counts(d)
    refused = counts["n_refused"]
    base = {"cue": cue, "axis": axis, "grp": level, "reference": ref, **counts}
    out = []
    if len(d_ok):
        out.append({**base, "metric": P_YES.name, **mean_row(d_ok, "p_yes", METHOD_MEAN)})
    pair = ok[ok["grp"].isin([level, ref])]
    if level != ref and pair["grp"].nunique() == 2:
        fit = clustered_fit(pair, "p_yes", pair["grp"] == level)  # p_yes ~ C(grp, Treatment(ref))
        means = pair.groupby("grp")["p_yes"].mean()
        row = {
            **base,
            "metric": P_YES_GAP.name,
            "test": "cluster-robust t",
            "method": METHOD_GAP,
            "cohens_h": cohens_h(float(means[level]), float(means[ref])),
        }
        out.append(fit.into(row))
    if len(answered):
        corrected = rate_fields(refused, len(answered), detector_error(DEFAULT_REFUSAL_POLICY))
        out.append({**base, **rate_row(REFUSAL_RATE.name, refused, len(answered)), **corrected})
    return out
