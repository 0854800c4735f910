"""Certainty-weighted correctness (slant's score after UCerF; the paper's formula was not verified) on
hand-computed cases."""

import pandas as pd
import pytest

from slant.stats.uncertainty import certainty_margin, uncertainty_rows


def test_w_is_continuous_at_the_decision_boundary():
    # before: w = ±confidence jumped from -0.51 to +0.51 between P(yes) 0.49 and 0.51
    assert certainty_margin(0.49, 0.51) == pytest.approx(-0.02)
    assert certainty_margin(0.51, 0.49) == pytest.approx(0.02)
    assert certainty_margin(1.0, 0.0) == 1.0 and certainty_margin(0.0, 1.0) == -1.0
    # four letters: P(gold) 0.4, the best other 0.3 → 0.1; a uniform guess scores 0
    assert certainty_margin(0.4, 0.3) == pytest.approx(0.1) and certainty_margin(0.25, 0.25) == 0.0


def frame(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    """(group, scenario, P(correct answer)) with two answers: margin 2p - 1, correct p >= 0.5."""
    return pd.DataFrame(
        {
            "scenario_id": f"s{s}",
            "probe_id": f"{g}{s}",
            "g": g,
            "correct": p >= 0.5,
            "confidence": max(p, 1 - p),
            "margin": 2 * p - 1,
        }
        for g, s, p in rows
    )


def test_same_accuracy_different_certainty_is_a_gap():
    # Both groups are right 2 of 3 times; group b is confidently wrong, group a barely wrong.
    data = frame([("a", 0, 0.9), ("a", 1, 0.8), ("a", 2, 0.45), ("b", 0, 0.9), ("b", 1, 0.8), ("b", 2, 0.05)])
    out = {(r["metric"], r["grp"]): r for r in uncertainty_rows(data, "g", ["a", "b"], "a")}
    assert out[("accuracy", "a")]["estimate"] == out[("accuracy", "b")]["estimate"] == pytest.approx(2 / 3)
    w_a, w_b = (0.8 + 0.6 - 0.1) / 3, (0.8 + 0.6 - 0.9) / 3  # hand-computed mean w: 0.4333, 0.1667
    assert out[("certainty_w", "a")]["estimate"] == pytest.approx(w_a)
    assert out[("certainty_gap", "b")]["estimate"] == pytest.approx(w_b - w_a)  # -0.2667
    assert out[("certainty_fairness", "b")]["estimate"] == pytest.approx(1 - abs(w_b - w_a) / 2)  # 0.8667
    assert out[("confidence_wrong", "b")]["estimate"] == pytest.approx(0.95)
    assert out[("confidence_right", "a")]["estimate"] == pytest.approx(0.85)


def test_guessing_on_either_side_of_the_boundary_is_no_gap():
    # a: P(correct) 0.51 everywhere, b: 0.49 everywhere; ±confidence gave a gap of -1.02 (fairness 0.49)
    data = frame([(g, s, p) for s in range(4) for g, p in (("a", 0.51), ("b", 0.49))])
    out = {(r["metric"], r["grp"]): r for r in uncertainty_rows(data, "g", ["a", "b"], "a")}
    assert out[("certainty_gap", "b")]["estimate"] == pytest.approx(-0.04)
    assert out[("certainty_fairness", "b")]["estimate"] == pytest.approx(0.98)
    assert out[("accuracy", "a")]["estimate"] == 1.0 and out[("accuracy", "b")]["estimate"] == 0.0


def test_no_usable_rows():
    empty = pd.DataFrame(
        {"scenario_id": [], "probe_id": [], "g": [], "correct": [], "confidence": [], "margin": []}
    )
    assert uncertainty_rows(empty, "g", ["a"], "a") == []


def test_the_share_correct_can_be_named():
    data = frame([(g, 0, 0.9) for g in "ab"])
    out = uncertainty_rows(data, "g", ["a", "b"], "a", correct_name="favourable_rate")
    assert {r["metric"] for r in out} >= {"favourable_rate"} and "accuracy" not in {r["metric"] for r in out}
