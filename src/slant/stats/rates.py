"""Rates of a binary outcome, k of n: the share with its Wilson interval, an exact binomial test, and
position consistency (the share of swap sets that choose the same in every order).

Every rate row of every family comes from :func:`rate_row`; an empty denominator gives a row with no
estimate (the counts beside it say why).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from slant.stats.rows import untested

METHOD_RATE = "proportion, Wilson CI"


def wilson(k: int, n: int) -> dict[str, Any]:
    """k/n and its 95% Wilson interval (statsmodels) as row fields; all None when n is 0."""
    if not n:
        return {"estimate": None, "ci_low": None, "ci_high": None}
    lo, hi = proportion_confint(k, n, method="wilson")
    return {"estimate": k / n, "ci_low": float(lo), "ci_high": float(hi)}


def binomial(k: int, n: int, p0: float = 0.5) -> dict[str, Any]:
    """The exact two-sided binomial test of k/n against ``p0`` (scipy) as row fields."""
    return {"test": f"exact binomial vs {p0:g}", "p": float(binomtest(k, n, p0).pvalue)}


def rate_row(
    metric: str, k: int, n: int, method: str = METHOD_RATE, null: float | None = None
) -> dict[str, Any]:
    """A rate row: k/n with its Wilson CI and, given a ``null`` share (and n > 0), the exact binomial test
    against it; untested rows have test and p None."""
    row = untested(metric, **wilson(k, n), method=method)
    return row | binomial(k, n, null) if null is not None and n else row


def position_consistency(choices: pd.Series, orders: int | None = None) -> tuple[int, int]:
    """(swap sets choosing the same in every decided order, swap sets counted).

    Args:
        choices: one decided choice per probe (undecided probes left out), indexed by swap set id
            (the index level ``swap_set_id`` when there are several).
        orders: count a swap set only when exactly this many of its orders are decided (pairwise: 2,
            both orders); None counts every swap set with at least two decided orders (fill-in).
    """
    if choices.empty:
        return 0, 0
    per_set = choices.groupby(level="swap_set_id").agg(["size", "nunique"])
    counted = per_set[per_set["size"] == orders] if orders is not None else per_set[per_set["size"] >= 2]
    return int((counted["nunique"] == 1).sum()), len(counted)
