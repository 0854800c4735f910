"""Disparity v1 on hand-made outcomes: means, gaps, refusal rates and counts."""

import pandas as pd
import pytest
from conftest import pick

from slant.stats import group_disparities


def frame() -> pd.DataFrame:
    rows = []
    # 3 scenarios; group b is 0.10 above group a in every scenario.
    for s, base in (("s1", 0.5), ("s2", 0.6), ("s3", 0.7)):
        for grp, shift in (("a", 0.0), ("b", 0.1)):
            for k in range(2):
                rows.append(
                    {
                        "scenario_id": s,
                        "probe_id": f"{s}-{grp}-{k}",
                        "cue": "explicit",
                        "g": grp,
                        "parse_status": "ok",
                        "p_yes": base + shift + (0.02 if k else -0.02),
                        "refusal": "compliance",
                    }
                )
    rows.append(
        {
            "scenario_id": "s1",
            "probe_id": "s1-b-9",
            "cue": "explicit",
            "g": "b",
            "parse_status": "error",
            "p_yes": None,
            "refusal": None,
        }
    )
    rows.append(
        {
            "scenario_id": "s2",
            "probe_id": "s2-b-9",
            "cue": "explicit",
            "g": "b",
            "parse_status": "ok",
            "p_yes": 0.7,
            "refusal": "full_refusal",
        }
    )
    return pd.DataFrame(rows)


def test_means_gaps_and_counts():
    rows = group_disparities(frame(), {"g": (["a", "b"], "a")})
    a = pick(rows, "p_yes", "a")
    assert a["estimate"] == pytest.approx(0.6)  # mean of 0.48, 0.52, 0.58, 0.62, 0.68, 0.72
    assert a["ci_low"] < 0.6 < a["ci_high"]
    b = pick(rows, "p_yes", "b")
    assert b["estimate"] == pytest.approx((0.7 * 6 + 0.7) / 7)
    gap = pick(rows, "p_yes_gap", "b")
    assert gap["estimate"] == pytest.approx(b["estimate"] - 0.6)
    assert gap["reference"] == "a" and gap["n_clusters"] == 3
    # the errored outcome is counted as unparsed and kept out of P(yes) and of the refusal denominator
    assert (b["n_responses"], b["n_probes"], b["n_unparsed"], b["n_refused"]) == (8, 8, 1, 1)
    refusal = pick(rows, "refusal_rate", "b")
    assert refusal["estimate"] == pytest.approx(1 / 7)


def test_refusal_rate_has_wilson_interval():
    df = pd.DataFrame(
        [
            {
                "scenario_id": f"s{i % 2}",
                "probe_id": f"{g}{i}",
                "cue": "explicit",
                "g": g,
                "parse_status": "ok",
                "p_yes": 0.5,
                "refusal": "full_refusal" if g == "a" and i < 2 else "compliance",
            }
            for g in ("a", "b")
            for i in range(10)
        ]
    )
    r = pick(group_disparities(df, {"g": (["a", "b"], "a")}), "refusal_rate", "a")
    # Wilson 95% interval for 2/10, computed by hand: (0.0567, 0.5098)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.0567, 0.5098), abs=1e-4)


def test_an_axis_with_one_level_is_not_compared():
    df = frame()
    assert group_disparities(df[df["g"] == "a"], {"g": (["a", "b"], "a")}) == []


def test_single_cluster_gives_no_interval():
    df = frame()
    rows = group_disparities(df[df["scenario_id"] == "s1"], {"g": (["a", "b"], "a")})
    gap = pick(rows, "p_yes_gap", "b")
    assert gap["estimate"] == pytest.approx(0.1)
    assert gap["ci_low"] is None and gap["p"] is None


def test_numerical_notes_leave_out_resource_warnings():
    """The garbage collector raises ResourceWarning (an unclosed event loop) wherever it runs: that is not
    a note about the numbers, and it made a golden row's method depend on GC timing."""
    import warnings

    from slant.stats import numerics

    with numerics.captured() as notes:
        warnings.warn("unclosed event loop", ResourceWarning, stacklevel=1)
        warnings.warn("divide by zero", RuntimeWarning, stacklevel=1)
    assert notes == ["RuntimeWarning: divide by zero"]
