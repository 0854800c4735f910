"""Paired comparisons on matched sets: probes identical but for the manipulated attributes.

A matched set holds the same scenario with only the group attribute(s) changed, so comparing groups
*within* a set removes everything else the probes share. The unit of analysis is the matched set
(sets are keyed by ``scenario_id`` and ``matched_set_id``); sets are clustered in scenarios, so the
confidence interval of a paired gap comes from a cluster bootstrap that resamples whole scenarios.

- :func:`paired_gap`: numeric outcomes (P(yes), a D score): mean per-set difference level - ref, a
  cluster-bootstrap CI, a paired t-test, a Wilcoxon signed-rank test and TOST equivalence.
- :func:`paired_binary`: binary outcomes (refused, a yes decision): McNemar on the paired 2x2 table.
- :func:`cochran_q`: three or more groups of binary outcomes: Cochran's Q.
- :func:`cohens_h`, :func:`odds_ratio`: effect sizes; :func:`bh_adjust`: Benjamini-Hochberg.

Every estimator returns one row dict with the keys of the ``disparities`` table (``cue`` is left to
the caller) and always returns a row: when no set is usable, ``estimate``, the CI and the p values are
None and the counts say why; a numerical warning is noted in its ``method``, not printed. Keys listed
in :data:`EXTRA_KEYS` are not columns of the ``disparities`` table; drop them (or add the columns)
before storing a row there. Everything is statsmodels or scipy.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2, cochrans_q, mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize
from statsmodels.stats.weightstats import ttost_paired

from slant.stats import degenerate, numerics
from slant.stats.metric import Kind, Metric
from slant.stats.numerics import finite
from slant.stats.rows import untested
from slant.stats.text import as_text

SET_KEYS = ["scenario_id", "matched_set_id"]
N_RESAMPLES = 1999
MIN_CLUSTERS_FOR_CI = 3
PAIRED_GAP = Metric(
    "paired_gap", Kind.GAP, "mean difference within matched sets, group minus reference", 0.0, diff="value"
)
EXACT_BELOW = 25  # McNemar is exact (binomial) when there are fewer discordant pairs than this
EXTRA_KEYS = (
    "n_sets",
    "n_discordant",
    "p_wilcoxon",
    "p_tost",
    "equivalent",
    "margin",
    "cohens_h",
    "odds_ratio",
    "or_low",
    "or_high",
    "degenerate",
)


def _usable(frame: pd.DataFrame, axis: str, groups: list[str], value: str) -> pd.DataFrame:
    """Rows with a value and one of ``groups`` (compared as strings) in a ``grp`` column; only the
    columns the estimators read (the sets, probes, ``axis`` and ``value``)."""
    grp = as_text(frame[axis])
    keep = (frame[value].notna() & frame[axis].notna() & grp.isin(groups)).to_numpy()
    columns = list(dict.fromkeys([*SET_KEYS, "probe_id", axis, value]))
    return frame.loc[keep, columns].assign(grp=grp.to_numpy()[keep])


def _per_set(d: pd.DataFrame, groups: list[str], value: str) -> pd.DataFrame:
    """Sets × groups table of the mean ``value`` (NaN where a set lacks a group)."""
    means = d.groupby([*SET_KEYS, "grp"])[value].mean().unstack("grp")
    return means.reindex(columns=groups).astype(float)


def _counts(d: pd.DataFrame, sets: pd.Index) -> dict[str, int]:
    """Counts over the rows of the sets actually used."""
    used = pd.MultiIndex.from_frame(d[SET_KEYS]).isin(sets)
    u = d[used]
    return {
        "n_sets": len(sets),
        "n_responses": len(u),
        "n_probes": int(u["probe_id"].nunique()),
        "n_clusters": int(u["scenario_id"].nunique()),
    }


def cluster_bootstrap(diffs: pd.Series, rng_seed: int) -> tuple[float | None, float | None, str]:
    """95% CI of the mean per-set difference (or of any values indexed by ``scenario_id``), resampling
    scenarios with all their sets.

    Each scenario contributes (sum of its set differences, number of its sets); scipy's paired
    bootstrap resamples scenarios and the statistic is sum of sums / sum of counts, i.e. the mean
    per-set difference of the resampled scenarios. With equal set counts per scenario this is exactly
    the bootstrap of the mean of per-scenario mean differences. BCa first; percentile if BCa fails.
    """
    per = diffs.groupby(level="scenario_id").agg(["sum", "count"])
    if len(per) < MIN_CLUSTERS_FOR_CI:
        return None, None, f"no CI (fewer than {MIN_CLUSTERS_FOR_CI} scenarios)"

    def ratio(s: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
        return s.sum(axis=axis) / c.sum(axis=axis)

    data = (per["sum"].to_numpy(float), per["count"].to_numpy(float))
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ci = stats.bootstrap(
                    data,
                    ratio,
                    paired=True,
                    vectorized=True,
                    method=method,
                    n_resamples=N_RESAMPLES,
                    rng=np.random.default_rng(rng_seed),
                ).confidence_interval
            except (ValueError, FloatingPointError):
                continue
        lo, hi = finite(ci.low), finite(ci.high)
        if lo is not None and hi is not None:
            note = "" if method == "BCa" else " (BCa failed on degenerate data)"
            return lo, hi, f"95% CI cluster bootstrap over scenarios, {method}, {N_RESAMPLES} resamples{note}"
    return None, None, "no CI (bootstrap failed)"


@numerics.recorded
def paired_gap(
    frame: pd.DataFrame,
    axis: str,
    level: Any,
    ref: Any,
    value: str = "value",
    margin: float = 0.02,
    rng_seed: int = 0,
) -> dict[str, Any]:
    """Mean within-set gap ``level - ref`` of a numeric outcome over matched sets.

    Within each matched set ``value`` is averaged per group (a set may hold several probes per
    group); sets missing either group are dropped.

    Args:
        frame: one row per usable outcome with columns scenario_id, matched_set_id, probe_id,
            ``axis`` and ``value``.
        axis: the group column; ``level`` and ``ref`` are compared as strings.
        margin: the TOST equivalence margin: equivalent means the gap lies within ±margin.
        rng_seed: seed of the bootstrap generator.

    Returns:
        A ``paired_gap`` row: estimate = mean per-set difference; ci_low/ci_high from a cluster
        bootstrap over scenarios (None with fewer than 3 scenarios); p of a paired t-test over sets;
        p_wilcoxon (signed-rank, None when every difference is 0); p_tost and equivalent
        (p_tost < 0.05); counts n_sets, n_responses, n_probes, n_clusters.
    """
    level, ref = str(level), str(ref)
    d = _usable(frame, axis, [level, ref], value)
    means = _per_set(d, [level, ref], value).dropna()
    row = untested(PAIRED_GAP.name, axis=axis, grp=level, reference=ref, test="paired t over matched sets")
    row |= {
        "p_wilcoxon": None,
        "p_tost": None,
        "equivalent": None,
        "margin": margin,
        **_counts(d, means.index),
    }
    unit = f"unit = matched set (mean {value} per group per set, {level} - {ref})"
    if means.empty:
        return {**row, "method": f"{unit}; no set holds both groups"}
    x, y = means[level].to_numpy(), means[ref].to_numpy()
    diffs = pd.Series(degenerate.snap_all(means[level] - means[ref]), index=means.index)
    lo, hi, ci_note = cluster_bootstrap(diffs, rng_seed)
    row.update(estimate=float(diffs.mean()), ci_low=lo, ci_high=hi)
    method = (
        f"{unit}; {ci_note}; paired t over sets (p), Wilcoxon signed-rank (p_wilcoxon), "
        f"TOST paired within ±{margin:g} (p_tost)"
    )
    why = degenerate.reason(differences=diffs, clusters=row["n_clusters"])
    if why is not None:
        return degenerate.mark({**row, "method": method}, why)
    if len(diffs) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zero variance: t is NaN (p None) and TOST's t is ±inf
            row["p"] = finite(stats.ttest_rel(x, y).pvalue)
            row["p_tost"] = finite(ttost_paired(x, y, -margin, margin)[0])
    if np.any(diffs.to_numpy() != 0):
        with contextlib.suppress(ValueError):  # e.g. too few non-zero differences
            row["p_wilcoxon"] = finite(stats.wilcoxon(x, y, zero_method="wilcox").pvalue)
    row["equivalent"] = None if row["p_tost"] is None else bool(row["p_tost"] < 0.05)
    return {**row, "method": method}


def _majority(d: pd.DataFrame, groups: list[str], value: str) -> pd.DataFrame:
    """Sets × groups 0/1 outcomes: the majority per group within a set (NaN for a tie or no probe)."""
    share = _per_set(d.assign(**{value: d[value].astype(float)}), groups, value)
    v = share.to_numpy()
    majority = np.where(np.isnan(v) | (v == 0.5), np.nan, (v > 0.5).astype(float))
    return pd.DataFrame(majority, index=share.index, columns=share.columns)


@numerics.recorded
def paired_binary(
    frame: pd.DataFrame, axis: str, level: Any, ref: Any, value: str = "value"
) -> dict[str, Any]:
    """Paired gap in a binary outcome (0/1) between two groups over matched sets, tested by McNemar.

    Per matched set each group gets one outcome, the majority of its probes; ties and sets missing a
    group are dropped. McNemar is exact (binomial) with fewer than 25 discordant sets, otherwise
    chi-square with continuity correction.

    Returns:
        A ``paired_rate_gap`` row: estimate = share of sets with outcome 1 for ``level`` minus that
        for ``ref``; ci_low/ci_high = the paired-t 95% CI of the mean 0/1 difference
        (``scipy.stats.ttest_rel(...).confidence_interval()``, a normal-approximation interval; when
        no set differs, ± the exact upper bound of the discordant share; when every set differs the
        same way, Newcombe's paired hybrid score interval, :func:`newcombe_paired`); p = McNemar;
        n_discordant; effect sizes ``cohens_h`` (of the two shares) and the paired (conditional) odds
        ratio b/c with its exact CI (see :func:`paired_odds_ratio`); counts as in :func:`paired_gap`.
    """
    level, ref = str(level), str(ref)
    d = _usable(frame, axis, [level, ref], value)
    sets = _majority(d, [level, ref], value).dropna()
    x, y = sets[level].to_numpy(), sets[ref].to_numpy()
    b, c = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    row = untested("paired_rate_gap", axis=axis, grp=level, reference=ref, n_discordant=b + c)
    row |= _counts(d, sets.index)
    unit = f"unit = matched set (majority {value} per group per set, ties dropped)"
    if sets.empty:
        return {**row, "method": f"{unit}; no set holds both groups"}
    table = paired_table(x, y)
    test, p = mcnemar_test(table)
    row.update(estimate=float(x.mean() - y.mean()), test=test, cohens_h=cohens_h(x.mean(), y.mean()))
    row["odds_ratio"], row["or_low"], row["or_high"] = paired_odds_ratio(b, c)
    row["p"] = p
    why = degenerate.reason(discordant=b + c)
    if len(sets) < 2:
        ci_note = "no CI (fewer than 2 sets)"
    elif b + c == 0:
        # No set differs: a t interval would have zero width. The gap is at most the share of discordant
        # sets, whose exact (Clopper-Pearson) upper bound with 0 of n observed bounds it on both sides.
        upper = float(proportion_confint(0, len(sets), method="beta")[1])
        row["ci_low"], row["ci_high"] = -upper, upper
        ci_note = "95% CI ± the Clopper-Pearson upper bound of the discordant share (no set differs)"
    elif np.ptp(x - y) == 0:
        # Every set differs the same way (one group always refused, the other never): a t interval has
        # zero width, and no interval at all left a gate on this gap unable to fail. Newcombe's hybrid
        # score interval for paired proportions stays valid at the boundary.
        row["ci_low"], row["ci_high"] = newcombe_paired(table)
        ci_note = "95% CI Newcombe hybrid score, paired (every set differs the same way)"
    else:
        row["ci_low"], row["ci_high"] = paired_t_interval(x, y)
        ci_note = "95% CI paired t on the 0/1 differences"
    return degenerate.mark({**row, "method": f"{unit}; difference in proportions; {ci_note}; p {test}"}, why)


def paired_table(x: np.ndarray, y: np.ndarray) -> list[list[int]]:
    """The paired 2x2 table of 0/1 outcomes: [[both 1, x 1 and y 0], [x 0 and y 1, both 0]]."""
    return [[int(((x == i) & (y == j)).sum()) for j in (1, 0)] for i in (1, 0)]


def mcnemar_test(
    table: list[list[int]], exact_label: str = "McNemar exact", exact: bool | None = None
) -> tuple[str, float | None]:
    """(test name, p) of McNemar's test on a paired 2x2 table (statsmodels): exact (binomial) when
    ``exact``, by default with fewer than :data:`EXACT_BELOW` discordant pairs, else chi-square with
    continuity correction."""
    exact = table[0][1] + table[1][0] < EXACT_BELOW if exact is None else exact
    test = exact_label if exact else "McNemar chi-square, continuity-corrected"
    return test, finite(mcnemar(table, exact=exact, correction=True).pvalue)


def paired_t_interval(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """The 95% paired-t CI of the mean difference x − y (scipy ``ttest_rel``); None where not finite."""
    ci = stats.ttest_rel(x, y).confidence_interval()
    return finite(ci.low), finite(ci.high)


def newcombe_paired(table: list[list[int]], alpha: float = 0.05) -> tuple[float, float]:
    """CI of p1 − p2 for paired binary data, table [[both 1, 1 then 0], [0 then 1, both 0]]: Newcombe
    (1998, Statistics in Medicine 17:2635) method 10, from the Wilson intervals of the two margins."""
    (a, b), (c, d) = table
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_confint(a + b, n, alpha=alpha, method="wilson")
    l2, u2 = proportion_confint(a + c, n, alpha=alpha, method="wilson")
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / np.sqrt(margins) if margins else 0.0
    delta = np.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    eps = np.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return float(p1 - p2 - delta), float(p1 - p2 + eps)


@numerics.recorded
def cochran_q(frame: pd.DataFrame, axis: str, levels: list[Any], value: str = "value") -> dict[str, Any]:
    """Cochran's Q across three or more groups of binary outcomes over complete matched sets.

    Per matched set each group gets the majority outcome of its probes; sets with a tie or a missing
    group are dropped.

    Returns:
        A ``cochran_q`` row: estimate = the Q statistic, p its chi-square p (both None when no
        complete set or when every set is all 0 or all 1); grp = the levels joined by ",";
        reference = "" (Q has none); counts as in :func:`paired_gap`.

    Raises:
        ValueError: with fewer than three levels (use :func:`paired_binary` for two).
    """
    groups = [str(v) for v in levels]
    if len(groups) < 3:
        raise ValueError("cochran_q needs at least three levels; use paired_binary for two")
    d = _usable(frame, axis, groups, value)
    sets = _majority(d, groups, value).dropna()
    row = untested("cochran_q", axis=axis, grp=",".join(groups), reference="", test="Cochran's Q")
    row |= _counts(d, sets.index)
    unit = f"unit = complete matched set (majority {value} per group per set, ties dropped)"
    if sets.empty:
        return {**row, "method": f"{unit}; no complete set"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every set all 0 or all 1: Q is 0/0
        res = cochrans_q(sets.to_numpy())
    row.update(estimate=finite(res.statistic), p=finite(res.pvalue))
    note = "" if row["estimate"] is not None else " (undefined: every set is all 0 or all 1)"
    discordant = int((sets.nunique(axis=1) > 1).sum())  # sets whose groups differ
    method = f"{unit}; Cochran's Q, chi-square with {int(res.df)} df{note}"
    return degenerate.mark({**row, "method": method}, degenerate.reason(discordant=discordant))


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's h = 2·asin(√p1) − 2·asin(√p2), via statsmodels ``proportion_effectsize``."""
    return float(proportion_effectsize(p1, p2))


def odds_ratio(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """Odds ratio of k1/n1 against k2/n2 with its 95% (log-normal) CI, via statsmodels ``Table2x2``.

    When any cell of the 2x2 table [[k1, n1 - k1], [k2, n2 - k2]] is 0, 0.5 is added to every cell
    (Haldane-Anscombe correction) so the ratio and its interval stay finite.

    Returns:
        (odds ratio, CI low, CI high).
    """
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError("need 0 <= k <= n for both groups")
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], dtype=float)
    if (table == 0).any():
        table += 0.5
    t = Table2x2(table, shift_zeros=False)
    lo, hi = t.oddsratio_confint()
    return float(t.oddsratio), float(lo), float(hi)


def paired_odds_ratio(b: int, c: int) -> tuple[float | None, float | None, float | None]:
    """Conditional odds ratio of matched pairs, b/c (b: level 1 and ref 0; c: level 0 and ref 1), with
    the exact 95% CI: the Clopper-Pearson interval of b/(b+c) mapped through q/(1-q).

    Returns (None, None, None) without discordant pairs; an infinite value (c = 0) is None.
    """
    if b + c == 0:
        return None, None, None
    lo, hi = proportion_confint(b, b + c, method="beta")
    bounds = [finite(q / (1 - q)) if q < 1 else None for q in (float(lo), float(hi))]
    return (b / c if c else None), bounds[0], bounds[1]


def bh_adjust(p_values: list[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p values (statsmodels ``fdr_bh``), in order; None stays None."""
    idx = [i for i, p in enumerate(p_values) if p is not None and np.isfinite(p)]
    out: list[float | None] = [None] * len(p_values)
    if idx:
        adjusted = multipletests([p_values[i] for i in idx], method="fdr_bh")[1]
        for i, q in zip(idx, adjusted, strict=True):
            out[i] = float(q)
    return out
