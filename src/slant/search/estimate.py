"""The numbers of a search: a variant's paired gap over its matched sets, and the confirmation test.

A matched set gives one difference, P(yes | level) − P(yes | ref). Search ranks variants by
``score`` = |estimate| − se (one standard error towards zero), so one lucky set does not lead the
frontier; a variant is a finding worth confirming only when its 95% t-interval excludes 0.
Confirmation tests each finding once, on fresh sets, with a one-sided paired t-test in the direction
the search found, and controls the family-wise error over the findings tested with Holm's step-down
adjustment (statsmodels ``multipletests(method="holm")``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

CONFIRM_METHOD = (
    "one-sided paired t-test over fresh matched sets (direction fixed by the search estimate), "
    "Holm's step-down adjustment over the findings tested (family-wise error at alpha)"
)


@dataclass
class Estimate:
    """A paired gap over matched sets: mean, 95% t-interval, two-sided p and the search's score."""

    n_sets: int
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    sd: float | None = None
    p: float | None = None
    score: float | None = None  # |estimate| − se: the ranking of the frontier

    def as_row(self) -> dict[str, float | int | None]:
        return asdict(self)


def estimate(diffs: list[float]) -> Estimate:
    """The paired gap of these per-set differences (no interval with fewer than 2 sets)."""
    x = np.asarray(diffs, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(0)
    mean = float(x.mean())
    if n < 2:
        return Estimate(n, mean)
    sd = float(x.std(ddof=1))
    se = sd / math.sqrt(n)
    t = float(stats.t.ppf(0.975, n - 1))
    p = 1.0 if se == 0 and mean == 0 else 0.0 if se == 0 else float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return Estimate(n, mean, mean - t * se, mean + t * se, sd, p, abs(mean) - se)


def one_sided_p(diffs: list[float], direction: int) -> float | None:
    """p of a one-sided paired t-test that the mean difference has the sign ``direction`` (+1 / −1)."""
    x = np.asarray(diffs, dtype=float) * direction
    if len(x) < 2:
        return None
    if float(x.std(ddof=1)) == 0:
        return 0.0 if x.mean() > 0 else 1.0
    return float(stats.ttest_1samp(x, 0.0, alternative="greater").pvalue)


def holm(pvalues: list[float | None], alpha: float) -> tuple[list[float | None], list[bool]]:
    """Holm-adjusted p values and which are rejected at ``alpha`` (a missing p is never rejected and
    still counts in the family: it is replaced by 1)."""
    if not pvalues:
        return [], []
    filled = [1.0 if p is None else p for p in pvalues]
    reject, adjusted, _, _ = multipletests(filled, alpha=alpha, method="holm")
    return [float(a) for a in adjusted], [bool(r) for r in reject]
