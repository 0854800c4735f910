"""t-tests on per-unit values: a mean against 0 (one-sample t) and the mean within-cluster difference of
two conditions (paired t over clusters), both under the degenerate rule of :mod:`slant.stats.degenerate`.

Both take a row already holding its estimate (families compute it as they define it) and fill in the
test, p and the t CI, or mark the row degenerate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from slant.stats import degenerate


def one_sample_t(row: dict[str, Any], values: np.ndarray, why: str | None = None) -> dict[str, Any]:
    """``row`` tested against 0 by scipy's ``ttest_1samp`` over ``values`` (the units), with its 95% t CI;
    degenerate (no p) for ``why`` or for values without variance or fewer than two of them."""
    why = why or degenerate.reason(values=values, clusters=len(values))
    if why is None:
        row = _tested(row, "one-sample t", stats.ttest_1samp(values, 0.0))
    return degenerate.mark(row, why)


def cluster_means(
    d: pd.DataFrame, column: str, by: str, first: str, second: str, cluster: str = "scenario_id"
) -> pd.DataFrame:
    """One row per cluster holding both conditions: the mean ``column`` where ``by`` is ``first`` and
    where it is ``second`` (the two columns, in that order)."""
    means = d.groupby([cluster, by])[column].mean().unstack(by)
    if first not in means or second not in means:
        return pd.DataFrame(columns=[first, second])
    return means[[first, second]].dropna()


def paired_differences(paired: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """The per-cluster differences first column − second (float noise snapped to 0) and why they cannot
    be tested (None: they can); ``paired`` has one row per cluster."""
    diffs = degenerate.snap_all(paired.iloc[:, 0] - paired.iloc[:, 1])
    return diffs, degenerate.reason(differences=diffs, clusters=len(paired))


def paired_t(row: dict[str, Any], paired: pd.DataFrame, why: str | None) -> dict[str, Any]:
    """``row`` (holding the mean difference as its estimate and ``n_clusters``) with scipy's ``ttest_rel``
    over the clusters (first column against the second) and its 95% t CI, unless ``why`` (from
    :func:`paired_differences`) marks it degenerate."""
    if why is None:
        row = _tested(
            row, "paired t", stats.ttest_rel(paired.iloc[:, 0].to_numpy(), paired.iloc[:, 1].to_numpy())
        )
    return degenerate.mark(row, why)


def _tested(row: dict[str, Any], test: str, res: Any) -> dict[str, Any]:
    """``row`` with a scipy t-test result: its name, p and 95% CI."""
    ci = res.confidence_interval(0.95)
    return row | {"test": test, "p": float(res.pvalue), "ci_low": float(ci.low), "ci_high": float(ci.high)}
