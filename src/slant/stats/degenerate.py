"""The one rule for comparisons that cannot be tested: degenerate data gets no p-value.

A model that answers everyone identically leaves gaps of float noise (~1e-16) with zero variance; a
t-test, OLS or mixed model then divides noise by noise and can return any p, down to 1e-223. So every
estimator asks :func:`reason` before trusting its test and passes the answer to :func:`mark`:

- differences, values or a standard error below :data:`RESOLUTION` count as exactly equal (zero);
- a comparison is *degenerate* when its data have no variance (every paired difference equal, every
  value equal, or a standard error below resolution), when a paired binary table has no discordant
  pair, or when there are fewer than two clusters;
- paired differences that are all equal but not zero (every cluster differs by exactly the same amount)
  are not degenerate but *constant*: no t-test (its t is infinite), the exact two-sided sign test over
  the clusters instead (p = 2^(1-k) for k clusters: as small as the data can show, no smaller) and the
  point CI [d, d], so a perfectly consistent gap is a finding and fails a gate it exceeds;
- a degenerate row keeps its estimate (noise rounded to 0) but gets p, p_tost and p_wilcoxon None, so
  it is left out of Benjamini-Hochberg and can never be a finding; its ``degenerate`` key (stored in
  ``extra``) and its method say why. An exact zero gap with no variance has the point CI [0, 0]; a
  zero-width interval around any other estimate is dropped (it would claim certainty).

:func:`settle` applies the same rule to a finished row from its own numbers (a CI narrower than
resolution), so a row from any family is checked once more before p-values are adjusted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import stats

RESOLUTION = 1e-12  # differences smaller than this are float noise: treated as exactly equal
NO_VARIANCE = "no variance"
NO_DISCORDANT = "no discordant pairs"
FEW_CLUSTERS = "fewer than two clusters"
CONSTANT = "constant difference"  # not degenerate: tested by the sign test (see constant())
P_KEYS = ("p", "p_tost", "p_wilcoxon")


def snap(x: Any) -> Any:
    """``x`` with float noise (|x| < RESOLUTION) rounded to 0; None stays None."""
    if x is None:
        return None
    return 0.0 if abs(float(x)) < RESOLUTION else float(x)


def snap_all(values: Any) -> np.ndarray:
    """An array with every |value| < RESOLUTION set to 0."""
    a = np.asarray(values, dtype=float)
    return np.where(np.abs(a) < RESOLUTION, 0.0, a)


def _flat(values: Iterable[Any] | None) -> bool:
    """True when the values have no spread beyond float noise (or there are none)."""
    a = np.asarray(list(values) if values is not None else [], dtype=float)
    a = a[np.isfinite(a)]
    return len(a) == 0 or float(np.ptp(a)) < RESOLUTION


def reason(
    *,
    values: Iterable[Any] | None = None,
    differences: Iterable[Any] | None = None,
    se: float | None = None,
    discordant: int | None = None,
    clusters: int | None = None,
) -> str | None:
    """Why a comparison is degenerate, or None when it can be tested. Pass what the estimator has.

    Args:
        values: the outcomes compared (all equal: no variance).
        differences: paired differences (all equal, e.g. all 0: no variance).
        se: the standard error of the estimate (below resolution, or not finite: no variance).
        discordant: discordant pairs of a paired binary table (0: nothing to test).
        clusters: independent clusters (fewer than two: no replication). Needed, with
            ``differences``, to tell a constant non-zero difference (:data:`CONSTANT`) from no variance.
    """
    if clusters is not None and clusters < 2:
        return FEW_CLUSTERS
    if discordant is not None and discordant == 0:
        return NO_DISCORDANT
    if values is not None and _flat(values):
        return NO_VARIANCE
    if differences is not None:
        d = snap_all(list(differences))
        d = d[np.isfinite(d)]
        if _flat(d):  # all equal: zero (no variance) or one non-zero amount (constant)
            return CONSTANT if len(d) and d[0] != 0 and clusters is not None else NO_VARIANCE
    if se is not None and not (np.isfinite(se) and se >= RESOLUTION):
        return NO_VARIANCE
    return None


def mark(row: dict[str, Any], why: str | None) -> dict[str, Any]:
    """``row`` as a degenerate comparison when ``why`` is set (else unchanged): p values None, the
    estimate's noise rounded away, the CI from :func:`interval`, the reason in ``degenerate`` and in the
    method."""
    if why is None:
        return row
    if why == CONSTANT:
        return constant(row)
    out = {**row, **{k: None for k in P_KEYS if k in row}, "degenerate": why}
    out["estimate"] = est = snap(row.get("estimate"))
    if "equivalent" in row:
        out["equivalent"] = None
    if "ci_low" in row or why == NO_VARIANCE:
        out["ci_low"], out["ci_high"] = interval(est, row.get("ci_low"), row.get("ci_high"), why)
    note = f"degenerate: {why}, p not computed"
    out["method"] = f"{row['method']}; {note}" if row.get("method") else note
    return out


def constant(row: dict[str, Any]) -> dict[str, Any]:
    """A paired row whose differences are all the same non-zero amount, tested by the exact sign test
    over its ``n_clusters`` clusters (all of them differ in one direction) with the point CI."""
    k = int(row["n_clusters"])
    est = snap(row["estimate"])
    out = {**row, **{key: None for key in P_KEYS if key in row}, "constant_difference": True}
    out.update(p=float(stats.binomtest(k, k).pvalue), estimate=est, ci_low=est, ci_high=est, test="sign test")
    if "equivalent" in row:
        out["equivalent"] = None
    note = f"every cluster differs by exactly {est:+.3g}: exact sign test over {k} clusters, point CI"
    out["method"] = f"{row['method']}; {note}" if row.get("method") else note
    return out


def interval(est: float | None, lo: float | None, hi: float | None, why: str) -> tuple[Any, Any]:
    """The CI of a degenerate estimate: the point [0, 0] for an exact zero gap with no variance; no CI
    where an interval narrower than resolution would claim certainty about a non-zero estimate."""
    if why == NO_VARIANCE and est == 0:
        return 0.0, 0.0
    if lo is not None and hi is not None and hi - lo < RESOLUTION:
        return None, None
    return lo, hi


def settle(row: dict[str, Any]) -> dict[str, Any]:
    """The degenerate rule applied to a finished row: a tested row whose CI is narrower than resolution
    has no variance (the safety net under every family's estimators)."""
    if row.get("degenerate") or row.get("constant_difference") or row.get("p") is None:
        return row
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if lo is not None and hi is not None and hi - lo < RESOLUTION:
        return mark(row, NO_VARIANCE)
    return row


def is_degenerate(row: dict[str, Any]) -> bool:
    """Whether a row (as built, or read back with ``extra`` parsed) is a degenerate comparison."""
    extra = row.get("extra")
    return bool(row.get("degenerate") or (isinstance(extra, dict) and extra.get("degenerate")))
