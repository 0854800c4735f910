"""Kendall's τ-c between two ordinal codings (fill-in: item polarity vs chosen polarity), with a
percentile cluster-bootstrap CI that resamples items within each polarity stratum.

τ-c and its p are scipy's (``kendalltau(variant="c", method="asymptotic")``; p treats responses as
independent); the bootstrap seed is fixed, so a rerun gives the same CI.
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
METHOD_TAU = (
    "Kendall tau-c of item polarity vs chosen polarity over usable responses (scipy, variant c; p treats "
    f"responses as independent); 95% CI: percentile bootstrap over items within polarity, {N_BOOTSTRAP} "
    "resamples"
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
    """The ``kendall_tau_c`` row fields of columns ``x`` (the ±1 stratum, e.g. polarity) and ``y`` over
    ``data``: τ-c, its p and the cluster-bootstrap CI; degenerate (no estimate) where τ is undefined."""
    row = untested("kendall_tau_c", test="Kendall tau-c (scipy)", method=METHOD_TAU)
    tau, p, why = kendall_tau_c(data[x], data[y])
    if why is not None:
        return degenerate.mark(row | {"test": None}, why)
    lo, hi, ci_why = bootstrap_ci(data, x, y, cluster)
    method = METHOD_TAU if ci_why is None else f"{METHOD_TAU}; no CI: {ci_why}"
    return row | {"estimate": tau, "p": p, "ci_low": lo, "ci_high": hi, "method": method}


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
