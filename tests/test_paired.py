"""Paired comparisons on matched sets, checked against direct scipy/statsmodels calls and by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2, cochrans_q
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ttost_paired

from slant.regress.gates import judge_interval
from slant.stats.paired import (
    bh_adjust,
    cochran_q,
    cohens_h,
    odds_ratio,
    paired_binary,
    paired_gap,
    paired_odds_ratio,
)


def numeric(gap: float, noise: float, n_scenarios: int = 12, n_sets: int = 2, seed: int = 1) -> pd.DataFrame:
    """Sets with two probes per group (another attribute crossed); level b = a + gap + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_scenarios):
        base = 0.3 + 0.04 * s
        for m in range(n_sets):
            set_gap = gap + rng.normal(0, noise)
            for grp, shift in (("a", 0.0), ("b", set_gap)):
                for k, other in enumerate((-0.01, 0.01)):
                    rows.append(
                        {
                            "scenario_id": f"s{s}",
                            "matched_set_id": f"s{s}-m{m}",
                            "probe_id": f"s{s}-m{m}-{grp}-{k}",
                            "g": grp,
                            "value": base + shift + other,
                        }
                    )
    return pd.DataFrame(rows)


def set_means(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby(["scenario_id", "matched_set_id", "g"])["value"].mean().unstack("g")


def test_planted_gap_is_detected_and_not_equivalent():
    df = numeric(gap=0.05, noise=0.01)
    row = paired_gap(df, "g", "b", "a", margin=0.02)
    m = set_means(df)
    assert row["estimate"] == pytest.approx((m["b"] - m["a"]).mean())
    assert row["estimate"] == pytest.approx(0.05, abs=0.01)
    assert row["ci_low"] > 0 and row["ci_high"] > row["estimate"] > row["ci_low"]
    assert row["p"] < 0.01 and row["p_wilcoxon"] < 0.01
    assert row["p_tost"] >= 0.05 and row["equivalent"] is False
    assert (row["n_sets"], row["n_clusters"], row["n_probes"], row["n_responses"]) == (24, 12, 96, 96)
    assert (row["metric"], row["grp"], row["reference"], row["test"]) == (
        "paired_gap",
        "b",
        "a",
        "paired t over matched sets",
    )
    assert "matched set" in row["method"] and "scenarios" in row["method"] and "0.02" in row["method"]
    assert "BCa" in row["method"]


def test_paired_gap_matches_direct_scipy_and_statsmodels_calls():
    df = numeric(gap=0.05, noise=0.01)
    row = paired_gap(df, "g", "b", "a", margin=0.02, rng_seed=7)
    m = set_means(df)
    x, y = m["b"].to_numpy(), m["a"].to_numpy()
    assert row["p"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(x, y, zero_method="wilcox").pvalue)
    assert row["p_tost"] == pytest.approx(ttost_paired(x, y, -0.02, 0.02)[0])
    # equal set counts per scenario: the cluster bootstrap is the bootstrap of per-scenario mean gaps
    per_scenario = (m["b"] - m["a"]).groupby(level="scenario_id").mean().to_numpy()
    ci = stats.bootstrap(
        (per_scenario,), np.mean, method="BCa", rng=np.random.default_rng(7), n_resamples=1999
    ).confidence_interval
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_no_gap_passes_tost_but_not_the_t_test():
    df = numeric(gap=0.0, noise=0.003, seed=3)
    row = paired_gap(df, "g", "b", "a", margin=0.02)
    assert abs(row["estimate"]) < 0.003
    assert row["p"] > 0.05
    assert row["p_tost"] < 0.05 and row["equivalent"] is True
    assert row["ci_low"] < 0 < row["ci_high"]


def test_paired_gap_hand_computed_and_dropped_sets():
    rows = [
        # set m1: a probes 0.2, 0.4 (mean 0.3), b probe 0.5 -> +0.2; set m2: +0.1; set m3 has no b
        ("s1", "m1", "a", 0.2),
        ("s1", "m1", "a", 0.4),
        ("s1", "m1", "b", 0.5),
        ("s2", "m2", "a", 0.5),
        ("s2", "m2", "b", 0.6),
        ("s2", "m3", "a", 0.9),
        ("s2", "m2", "c", 0.0),  # a third group is ignored
    ]
    df = pd.DataFrame(
        [
            {"scenario_id": s, "matched_set_id": m, "probe_id": f"p{i}", "g": g, "value": v}
            for i, (s, m, g, v) in enumerate(rows)
        ]
    )
    row = paired_gap(df, "g", "b", "a")
    assert row["estimate"] == pytest.approx(0.15)
    assert (row["n_sets"], row["n_clusters"], row["n_probes"]) == (2, 2, 5)
    # fewer than 3 scenarios: no CI, and the method says why
    assert row["ci_low"] is None and row["ci_high"] is None
    assert "fewer than 3 scenarios" in row["method"]
    assert row["p"] == pytest.approx(stats.ttest_rel([0.5, 0.6], [0.3, 0.5]).pvalue)


def test_no_complete_set_gives_a_row_without_estimate():
    df = numeric(gap=0.05, noise=0.01, n_scenarios=3)
    only_a = df[df["g"] == "a"]
    row = paired_gap(only_a, "g", "b", "a")
    assert row["estimate"] is None and row["p"] is None and row["ci_low"] is None
    assert (row["n_sets"], row["n_clusters"], row["n_probes"]) == (0, 0, 0)
    assert "no set holds both groups" in row["method"]
    binary = only_a.assign(value=1)
    assert paired_binary(binary, "g", "b", "a")["estimate"] is None
    three = binary.assign(g=np.where(binary.index % 2, "a", "c"))
    assert cochran_q(three, "g", ["a", "b", "c"])["estimate"] is None


def test_degenerate_gap_falls_back_to_percentile_and_drops_wilcoxon():
    df = numeric(gap=0.0, noise=0.0, n_scenarios=4)  # every difference exactly 0
    row = paired_gap(df, "g", "b", "a")
    assert row["estimate"] == pytest.approx(0.0, abs=1e-12)
    assert row["p_wilcoxon"] is None
    assert "percentile" in row["method"] and "BCa failed" in row["method"]
    assert row["ci_low"] == pytest.approx(0.0, abs=1e-12) and row["ci_high"] == pytest.approx(0.0, abs=1e-12)


def binary_sets(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    """One matched set per (level b outcome, reference a outcome), one scenario per set."""
    rows = []
    for i, (b, a) in enumerate(pairs):
        for grp, v in (("b", b), ("a", a)):
            rows.append(
                {
                    "scenario_id": f"s{i}",
                    "matched_set_id": f"m{i}",
                    "probe_id": f"m{i}-{grp}",
                    "g": grp,
                    "value": v,
                }
            )
    return pd.DataFrame(rows)


def test_mcnemar_exact_by_hand():
    # b=6 sets where only b is 1, c=1 where only a is 1, 3 both 1, 4 both 0
    pairs = [(1, 0)] * 6 + [(0, 1)] + [(1, 1)] * 3 + [(0, 0)] * 4
    row = paired_binary(binary_sets(pairs), "g", "b", "a")
    assert row["p"] == pytest.approx(2 * 8 / 128)  # 2 * P(X <= 1 | n=7, p=0.5)
    assert row["test"] == "McNemar exact" and row["n_discordant"] == 7
    assert row["estimate"] == pytest.approx((9 - 4) / 14)
    x = np.array([b for b, _ in pairs], dtype=float)
    y = np.array([a for _, a in pairs], dtype=float)
    ci = stats.ttest_rel(x, y).confidence_interval()
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert row["metric"] == "paired_rate_gap" and row["n_sets"] == 14
    # effect sizes: h of the two shares (9/14 vs 4/14); paired odds ratio b/c = 6 with the exact CI
    assert row["cohens_h"] == pytest.approx(
        2 * math.asin(math.sqrt(9 / 14)) - 2 * math.asin(math.sqrt(4 / 14))
    )
    exact = stats.binomtest(6, 7).proportion_ci(method="exact")
    assert row["odds_ratio"] == 6
    assert row["or_low"] == pytest.approx(exact.low / (1 - exact.low))
    assert row["or_high"] == pytest.approx(exact.high / (1 - exact.high))


def test_paired_odds_ratio_edges():
    assert paired_odds_ratio(0, 0) == (None, None, None)
    orr, lo, hi = paired_odds_ratio(4, 0)  # no pair against: infinite ratio and upper bound
    assert orr is None and hi is None and lo == pytest.approx(0.025 ** (1 / 4) / (1 - 0.025 ** (1 / 4)))
    assert paired_odds_ratio(0, 3)[0] == 0


def test_mcnemar_majority_ties_and_chi_square():
    # many discordant sets -> chi-square with continuity correction: (|b - c| - 1)^2 / (b + c)
    pairs = [(1, 0)] * 20 + [(0, 1)] * 10 + [(1, 1)] * 5
    row = paired_binary(binary_sets(pairs), "g", "b", "a")
    assert row["test"].startswith("McNemar chi-square")
    assert row["p"] == pytest.approx(stats.chi2.sf((20 - 10 - 1) ** 2 / 30, 1))
    # majority within a set: b has 1, 1, 0 -> 1; a set with a tie (1, 0) for b is dropped
    extra = pd.DataFrame(
        [
            {"scenario_id": "x", "matched_set_id": "mx", "probe_id": f"x{i}", "g": g, "value": v}
            for i, (g, v) in enumerate([("b", 1), ("b", 1), ("b", 0), ("a", 0)])
        ]
        + [
            {"scenario_id": "y", "matched_set_id": "my", "probe_id": f"y{i}", "g": g, "value": v}
            for i, (g, v) in enumerate([("b", 1), ("b", 0), ("a", 0)])
        ]
    )
    row2 = paired_binary(pd.concat([binary_sets(pairs), extra]), "g", "b", "a")
    assert row2["n_sets"] == 36 and row2["n_discordant"] == 31


def test_binary_without_discordant_sets_has_no_ci():
    row = paired_binary(binary_sets([(1, 1)] * 3 + [(0, 0)] * 2), "g", "b", "a")
    # no discordant pair: degenerate, McNemar is not run (no p, so never in BH or a finding)
    assert row["estimate"] == 0 and row["p"] is None and row["degenerate"] == "no discordant pairs"
    upper = 1 - 0.025 ** (1 / 5)  # Clopper-Pearson upper bound of 0 discordant of 5 sets
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-upper, upper)) and "no set differs" in row[
        "method"
    ]
    ones = paired_binary(binary_sets([(1, 0)] * 4), "g", "b", "a")  # every set differs the same way
    assert 0 < ones["ci_low"] < 1 == ones["ci_high"] and "Newcombe" in ones["method"]
    ones = binary_sets([(1, 1)] * 3)
    three = pd.concat([ones, ones[ones["g"] == "a"].assign(g="c", probe_id=lambda d: d["probe_id"] + "c")])
    q = cochran_q(three, "g", ["a", "b", "c"])
    assert q["n_sets"] == 3 and q["estimate"] is None and "undefined" in q["method"]
    assert q["p"] is None and q["degenerate"] == "no discordant pairs"


def test_cochran_q_equals_statsmodels():
    rng = np.random.default_rng(5)
    outcomes = (rng.random((30, 3)) < [0.3, 0.5, 0.7]).astype(int)
    rows = [
        {"scenario_id": f"s{i % 10}", "matched_set_id": f"m{i}", "probe_id": f"m{i}-{g}", "g": g, "value": v}
        for i, out in enumerate(outcomes)
        for g, v in zip("abc", out, strict=True)
    ]
    df = pd.DataFrame(rows[:-1])  # the last set misses c: incomplete, dropped
    row = cochran_q(df, "g", ["a", "b", "c"])
    direct = cochrans_q(outcomes[:-1])
    assert row["estimate"] == pytest.approx(direct.statistic)
    assert row["p"] == pytest.approx(direct.pvalue)
    assert (row["metric"], row["grp"], row["n_sets"], row["n_clusters"]) == ("cochran_q", "a,b,c", 29, 10)
    with pytest.raises(ValueError):
        cochran_q(df, "g", ["a", "b"])


def test_cohens_h_by_hand():
    assert cohens_h(0.6, 0.4) == pytest.approx(2 * math.asin(math.sqrt(0.6)) - 2 * math.asin(math.sqrt(0.4)))
    assert cohens_h(0.5, 0.5) == 0


def test_odds_ratio_plain_and_with_zero_cell():
    orr, lo, hi = odds_ratio(10, 20, 5, 20)
    assert orr == pytest.approx((10 * 15) / (10 * 5))
    t = Table2x2(np.array([[10, 10], [5, 15]]))
    assert (lo, hi) == pytest.approx(tuple(t.oddsratio_confint()))
    # a zero cell: 0.5 added to every cell (Haldane-Anscombe), not only to the zero
    orr, lo, hi = odds_ratio(0, 10, 5, 10)
    assert orr == pytest.approx((0.5 * 5.5) / (10.5 * 5.5))
    se = math.sqrt(1 / 0.5 + 1 / 10.5 + 1 / 5.5 + 1 / 5.5)
    assert lo == pytest.approx(orr * math.exp(-stats.norm.ppf(0.975) * se))
    assert hi == pytest.approx(orr * math.exp(stats.norm.ppf(0.975) * se))
    with pytest.raises(ValueError):
        odds_ratio(11, 10, 1, 2)


def test_bh_adjust_keeps_none_and_order():
    out = bh_adjust([0.01, 0.04, None, 0.03])
    direct = multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]
    assert out[2] is None
    assert [out[0], out[1], out[3]] == pytest.approx(list(direct))
    assert out == pytest.approx([0.03, 0.04, None, 0.04])  # by hand: min over ranks of p * m / rank
    assert bh_adjust([None, None]) == [None, None] and bh_adjust([]) == []


def test_one_group_always_refused_gets_an_interval_a_gate_can_fail_on():
    """Every set differs the same way (100% vs 0%): before, no CI, so a refusal gate stayed inconclusive."""
    row = paired_binary(binary_sets([(1, 0)] * 108), "g", "b", "a")
    assert row["estimate"] == 1 and row["p"] == pytest.approx(2 * 0.5**108)
    # Newcombe's method 10 by hand: margins 1 and 0 (phi 0), Wilson bounds of 108/108 and 0/108
    wilson_low = proportion_confint(108, 108, method="wilson")[0]
    wilson_up = proportion_confint(0, 108, method="wilson")[1]
    assert row["ci_low"] == pytest.approx(1 - math.hypot(1 - wilson_low, wilson_up)) and row["ci_high"] == 1
    assert judge_interval(row["ci_low"], row["ci_high"], 0.05) == "fail"
    few = paired_binary(binary_sets([(0, 1)] * 6), "g", "b", "a")
    assert few["ci_high"] < 0 and few["ci_low"] == -1  # 6 of 6 sets: the gap still excludes 0
