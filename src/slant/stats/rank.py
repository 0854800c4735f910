"""Kendall's τ-c between two ordinal codings (fill-in: item polarity vs chosen polarity), with a
percentile cluster-bootstrap CI that resamples items within each polarity stratum.

τ-c is scipy's (``kendalltau(variant="c", method="asymptotic")``, the authors' call). Its p is scipy's
when each item gave one response (the published design: responses are independent); when items gave
several (every option order, or several samples), p comes from a permutation test over items instead:
the items' polarities are shuffled among the items, each item keeping all its responses, and τ-c is
recomputed (:func:`item_permutation_p`). The bootstrap and permutation seeds are fixed, so a rerun
gives the same CI and p.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import bootstrap, kendalltau

from slant.stats import degenerate
from slant.stats.rows import untested

N_BOOTSTRAP = 999
BOOTSTRAP_SEED = 20240  # fixed, so a rerun gives the same CI
N_PERMUTATIONS = 9999
PERMUTATION_SEED = 20241  # fixed, so a rerun gives the same p
METHOD_TAU = (
    "Kendall tau-c of item polarity vs chosen polarity over usable responses (scipy, variant c); p: {p}; "
    f"95% CI: percentile bootstrap over items within polarity, {N_BOOTSTRAP} resamples"
)
P_SCIPY = "scipy's asymptotic p (one response per item, responses independent)"
P_ITEMS = (
    f"two-sided permutation test over items ({N_PERMUTATIONS} shuffles of the items' polarities, each item "
    "keeping its responses)"
)


def kendall_tau_c(x: Any, y: Any) -> tuple[float | None, float | None, str | None]:
    """τ-c of ``x`` and ``y`` and its p (scipy), or (None, None, why) when τ is undefined."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2:
        return None, None, "fewer than two usable responses"
    if len(np.unique(x)) < 2:
        return None, None, "constant item polarity"
    if len(np.unique(y)) < 2:
        return None, None, "constant chosen polarity"
    res = kendalltau(x, y, method="asymptotic", variant="c")
    tau, p = float(res.statistic), float(res.pvalue)
    return (tau if np.isfinite(tau) else None), (p if np.isfinite(p) else None), None


def tau_c_row(data: pd.DataFrame, x: str, y: str, cluster: str = "scenario_id") -> dict[str, Any]:
    """The ``kendall_tau_c`` row fields of columns ``x`` (the ±1 stratum, e.g. polarity, constant within
    a cluster) and ``y`` over ``data``: τ-c, its p (scipy's with one response per cluster, else
    :func:`item_permutation_p`) and the cluster-bootstrap CI; degenerate (no estimate) where τ is
    undefined."""
    clustered = bool(data[cluster].duplicated().any())
    test = "permutation over items" if clustered else "Kendall tau-c (scipy)"
    method = METHOD_TAU.format(p=P_ITEMS if clustered else P_SCIPY)
    row = untested("kendall_tau_c", test=test, method=method)
    tau, p, why = kendall_tau_c(data[x], data[y])
    if why is not None:
        return degenerate.mark(row | {"test": None}, why)
    if clustered:
        p = item_permutation_p(data, x, y, cluster)
    lo, hi, ci_why = bootstrap_ci(data, x, y, cluster)
    method = method if ci_why is None else f"{method}; no CI: {ci_why}"
    return row | {"estimate": tau, "p": p, "ci_low": lo, "ci_high": hi, "method": method}


def item_permutation_p(data: pd.DataFrame, x: str, y: str, cluster: str = "scenario_id") -> float:
    """Two-sided p of τ-c by permuting the clusters' ``x`` values among the clusters, each cluster
    keeping all its ``y`` values: (1 + #{|S*| >= |S|}) / (1 + N_PERMUTATIONS), with S the concordant
    minus discordant pairs (τ-c is S times a constant that no shuffle changes)."""
    ys = np.unique(data[y].to_numpy(float))
    counts = pd.crosstab(data[cluster], pd.Categorical(data[y].astype(float), categories=ys))
    xs = data.groupby(cluster)[x].agg(["first", "nunique"]).loc[counts.index]
    if (xs["nunique"] > 1).any():
        raise ValueError(f"{x} varies within a {cluster}")
    c, total = counts.to_numpy(float), counts.to_numpy(float).sum(axis=0)
    high = xs["first"].to_numpy(float) == max(data[x])
    rng = np.random.default_rng(PERMUTATION_SEED)
    shuffled = rng.permuted(np.tile(high, (N_PERMUTATIONS, 1)), axis=1).astype(float)
    observed = _s(high.astype(float) @ c, total)
    extreme = np.abs(_s(shuffled @ c, total)) >= np.abs(observed) - 1e-9
    return float((1 + extreme.sum()) / (1 + N_PERMUTATIONS))


def _s(high: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Concordant minus discordant pairs of a 2 × k table, per row of ``high`` (the counts of the high
    ``x`` value over the k ordered ``y`` values; ``total`` the column totals)."""
    low = total - high
    below = np.cumsum(low, axis=-1) - low  # low-x responses with a smaller y
    above = low.sum(axis=-1, keepdims=True) - np.cumsum(low, axis=-1)  # … with a larger y
    return (high * (below - above)).sum(axis=-1)


def bootstrap_ci(
    data: pd.DataFrame, x: str, y: str, cluster: str = "scenario_id"
) -> tuple[float | None, float | None, str | None]:
    """Percentile CI of τ-c resampling clusters (items) with replacement within each stratum of ``x``
    (+1 and -1); (None, None, why) with fewer than two clusters in a stratum or τ undefined in resamples."""
    per_item = {
        sid: (g[x].to_numpy(float), g[y].to_numpy(float)) for sid, g in data.groupby(cluster, sort=True)
    }
    items = list(per_item.values())
    strata = [np.array([i for i, (xs, _) in enumerate(items) if xs[0] == v]) for v in (1.0, -1.0)]
    if any(len(s) < 2 for s in strata):
        return None, None, "fewer than two items of each polarity"

    def tau(pos: np.ndarray, neg: np.ndarray) -> float:
        chosen = [items[i] for i in (*pos, *neg)]
        t, _, _ = kendall_tau_c(
            np.concatenate([xy[0] for xy in chosen]), np.concatenate([xy[1] for xy in chosen])
        )
        return np.nan if t is None else t

    res = bootstrap(
        tuple(strata),
        tau,
        n_resamples=N_BOOTSTRAP,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None, None, "tau-c undefined in some resamples (constant chosen polarity)"
    return lo, hi, None
