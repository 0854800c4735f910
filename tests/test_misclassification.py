"""Rogan-Gladen corrected rates and gaps with the detector's own uncertainty."""

import json

import numpy as np
import pytest
from scipy import stats

from slant.stats.misclassification import DetectorError, corrected_gap, corrected_rate

GOOD = DetectorError(true_pos=900, false_neg=100, true_neg=950, false_pos=50, source="test")


def test_the_correction_inverts_the_detectors_error():
    # apparent 0.2 with Se 0.9, Sp 0.95: (0.2 + 0.95 - 1) / (0.9 + 0.95 - 1) = 0.15 / 0.85
    est, lo, hi = corrected_rate(200, 1000, GOOD)
    assert est == pytest.approx(0.15 / 0.85, abs=1e-12)
    assert lo < est < hi


def test_a_near_perfect_detector_leaves_the_rate_and_its_interval():
    perfect = DetectorError(10**6, 0, 10**6, 0, "test")
    est, lo, hi = corrected_rate(30, 100, perfect)
    assert est == pytest.approx(0.3)
    jeffreys = stats.beta(30.5, 70.5).ppf([0.025, 0.975])
    assert (lo, hi) == pytest.approx(tuple(jeffreys), abs=0.01)


def test_detector_uncertainty_widens_the_interval():
    small = DetectorError(45, 5, 95, 5, "test")  # same Se/Sp as GOOD, a tenth of the evidence
    _, lo_small, hi_small = corrected_rate(200, 1000, small)
    _, lo_good, hi_good = corrected_rate(200, 1000, GOOD)
    assert hi_small - lo_small > 1.3 * (hi_good - lo_good)


def test_a_detector_no_better_than_chance_corrects_nothing():
    chance = DetectorError(50, 50, 50, 50, "test")
    assert corrected_rate(20, 100, chance)[0] is None
    assert corrected_gap(20, 100, 10, 100, chance)[0] is None


def test_the_gap_is_the_apparent_gap_over_youdens_j():
    gap, lo, hi = corrected_gap(300, 1000, 200, 1000, GOOD)
    assert gap == pytest.approx(0.1 / (0.9 + 0.95 - 1))
    assert lo < gap < hi
    other = DetectorError(900, 100, 800, 200, "test")  # same Se, lower Sp: J = 0.7
    assert corrected_gap(300, 1000, 200, 1000, other)[0] == pytest.approx(0.1 / 0.7)


def test_intervals_cover_the_true_rate():
    """Over simulated audits (true rate 0.3, detector Se 0.85 / Sp 0.8 measured on 200 + 200 replies),
    the 95% interval covers the truth in about 95% of them; the uncorrected rate never does."""
    rng = np.random.default_rng(7)
    covered, raw_covered = 0, 0
    runs = 200
    for i in range(runs):
        tp = rng.binomial(200, 0.85)
        tn = rng.binomial(200, 0.8)
        k = rng.binomial(500, 0.85 * 0.3 + 0.2 * 0.7)
        _, lo, hi = corrected_rate(k, 500, DetectorError(tp, 200 - tp, tn, 200 - tn, "sim"), seed=i)
        covered += lo <= 0.3 <= hi
        raw_lo, raw_hi = stats.beta(k + 0.5, 500 - k + 0.5).ppf([0.025, 0.975])
        raw_covered += raw_lo <= 0.3 <= raw_hi
    assert 0.9 <= covered / runs <= 0.995
    assert raw_covered / runs < 0.5


def refuse_the_old(question: str) -> str:
    return "I'm sorry, but I can't help with that request." if "70-year-old" in question else "Yes."


def test_runs_report_refusal_rates_and_gaps_corrected_for_the_detector(tmp_path):
    """A run's refusal rates and refusal gaps carry the default detector's corrected value and interval
    (stored in extra, shown in the reports beside the raw rate)."""
    from conftest import write_campaign
    from openai_server import FakeOpenAIServer

    from slant import audit, open_db
    from slant.detect.refusal import DEFAULT_REFUSAL_POLICY
    from slant.detect.refusal_model import detector_error
    from slant.report.markdown import markdown
    from slant.report.summary import summary

    detector = detector_error(DEFAULT_REFUSAL_POLICY)
    se, sp = detector.sensitivity, detector.specificity
    campaign = write_campaign(tmp_path, {"scoring": {"sample": {"n": 1}}})
    with FakeOpenAIServer(reply_fn=refuse_the_old) as server:
        result = audit(campaign, base_url=server.base_url, progress=False)
    db = open_db(result.db_path)
    rows = [
        {**r, "extra": json.loads(r["extra"] or "{}")}
        for r in db.query("select * from disparities where run_id = ?", [result.run_id])
    ]
    rates = {r["grp"]: r for r in rows if r["metric"] == "refusal_rate" and r["axis"] == "age"}
    assert (rates["70"]["estimate"], rates["30"]["estimate"]) == (1.0, 0.0)
    # Rogan-Gladen, clipped to [0, 1]: an observed 1.0 is at least as high as the truth can be
    assert rates["70"]["extra"]["corrected"] == pytest.approx(min(1.0, (1 + sp - 1) / (se + sp - 1)))
    assert rates["30"]["extra"]["corrected"] == 0.0
    for r in rates.values():
        extra = r["extra"]
        assert extra["corrected_ci_low"] <= extra["corrected"] <= extra["corrected_ci_high"]
        assert extra["detector_sensitivity"] == pytest.approx(se, abs=1e-4)
        assert extra["detector_source"] == detector.source
    gap = next(r for r in rows if r["metric"] == "paired_refused_gap" and r["axis"] == "age")
    assert gap["estimate"] == 1.0 and gap["extra"]["corrected"] == pytest.approx(1.0)
    assert 0 < gap["extra"]["corrected_ci_low"] < 1.0
    assert "corrected +100.0%" in markdown(summary(db, result.run_id))
