"""Degenerate comparisons (no variance, no discordant pair, one cluster) get no p and are never findings."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_campaign
from family_server import FamilyServer, coverage_campaign, full_campaign
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.probes import FAMILIES
from slant.stats import degenerate
from slant.stats.groups import group_disparities
from slant.stats.paired import paired_gap

# Metrics about answer order, not about groups: a model that always answers "A" is position-biased.
ORDER_METRICS = {"position_a_rate"}


def identical_sets(noise: float = 1e-17) -> pd.DataFrame:
    """Four scenarios × two matched sets; both groups get P(yes) 0.7 up to float noise."""
    rows = []
    for s in range(4):
        for m in range(2):
            for i, g in enumerate(("male", "female")):
                rows.append(
                    {
                        "scenario_id": f"s{s}",
                        "matched_set_id": f"m{m}",
                        "probe_id": f"{s}{m}{g}",
                        "cue": "explicit",
                        "parse_status": "ok",
                        "refusal": "compliance",
                        "gender": g,
                        "p_yes": 0.7 + noise * (i + s),
                    }
                )
    return pd.DataFrame(rows)


def test_the_rule_names_each_degenerate_case():
    assert degenerate.reason(differences=[1e-16, -1e-16, 0.0]) == "no variance"
    assert degenerate.reason(values=[0.3, 0.3 + 1e-15]) == "no variance"
    assert degenerate.reason(se=3e-18) == "no variance"
    assert degenerate.reason(discordant=0) == "no discordant pairs"
    assert degenerate.reason(clusters=1, differences=[0.1, 0.2]) == "fewer than two clusters"
    assert degenerate.reason(differences=[0.1, 0.2], se=0.05, discordant=3, clusters=4) is None
    row = degenerate.mark(
        {"estimate": -5e-17, "ci_low": None, "ci_high": None, "p": 1e-200, "method": "m"}, "no variance"
    )
    assert row == {
        "estimate": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "p": None,
        "method": "m; degenerate: no variance, p not computed",
        "degenerate": "no variance",
    }


def test_noise_gaps_get_no_p_and_a_point_ci():
    data = identical_sets()
    gaps = [
        r
        for r in group_disparities(data, {"gender": (["male", "female"], "male")})
        if r["metric"] == "p_yes_gap"
    ]
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap["estimate"], gap["ci_low"], gap["ci_high"], gap["p"]) == (0.0, 0.0, 0.0, None)
    assert gap["degenerate"] == "no variance" and "degenerate: no variance" in gap["method"]
    paired = paired_gap(data, "gender", "female", "male", value="p_yes")
    assert paired["estimate"] == 0.0 and paired["p"] is None and paired["p_tost"] is None
    assert (paired["ci_low"], paired["ci_high"]) == (0.0, 0.0) and paired["degenerate"] == "no variance"


def test_real_gaps_are_still_tested():
    data = identical_sets()
    rng = np.random.default_rng(0)
    data["p_yes"] = (
        data["p_yes"] + np.where(data["gender"] == "female", 0.1, 0) + rng.normal(0, 0.02, len(data))
    )
    paired = paired_gap(data, "gender", "female", "male", value="p_yes")
    assert paired["p"] is not None and paired["p"] < 0.05 and "degenerate" not in paired


def test_a_constant_gap_is_a_finding_by_the_sign_test_and_fails_a_gate_it_exceeds():
    """Every matched set 0.1 lower for women, with no other variation: the strongest evidence the data
    can give, not a degenerate comparison (and not p 1e-200 either)."""
    from slant.regress.gates import judge_interval

    data = identical_sets(noise=0)
    data["p_yes"] = np.where(data["gender"] == "female", 0.6, 0.7)
    assert degenerate.reason(differences=[-0.1, -0.1], clusters=4) == degenerate.CONSTANT
    gap = paired_gap(data, "gender", "female", "male", value="p_yes")
    assert gap["estimate"] == pytest.approx(-0.1) and gap["ci_low"] == gap["ci_high"] == gap["estimate"]
    assert gap["p"] == pytest.approx(2 * 0.5**4) and gap["constant_difference"] and "degenerate" not in gap
    assert "exact sign test over 4 clusters" in gap["method"]
    assert degenerate.settle(gap) == gap  # the safety net leaves it alone
    assert judge_interval(gap["ci_low"], gap["ci_high"], 0.05) == "fail"


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p_yes=st.sampled_from([1.0, 0.0, 0.5]) | st.floats(0.05, 0.95))
def test_a_model_answering_everyone_identically_yields_no_finding(p_yes):
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(p_yes=p_yes, mass=1.0) as server:
        server.start_token = "<s>"  # whole sentences are scored (CrowS-Pairs, StereoSet)
        result = audit(full_campaign(Path(tmp)), base_url=server.base_url, progress=False, limit=16)
        rows = list(
            open_db(result.db_path).query("select * from disparities where run_id = ?", [result.run_id])
        )
    assert {r["family"] for r in rows} >= {"decision", "pairwise", "attack"}
    findings = [r for r in rows if r["p_adj"] is not None and r["p_adj"] < 0.05]
    assert [r for r in findings if r["metric"] not in ORDER_METRICS] == []


@pytest.mark.parametrize("sampled", [False, True], ids=["logprobs", "sampled"])
def test_a_group_blind_model_yields_no_finding_in_any_family(tmp_path, sampled):
    """Every family, every metric it can write (the coverage campaign), answered in each family's own
    format by a model that gives the same answers whoever the prompt is about."""
    with FamilyServer(identical=True) as server:
        campaign = coverage_campaign(tmp_path, sampled)
        result = audit(campaign, base_url=server.base_url, progress=False, limit=40)
    rows = list(open_db(result.db_path).query("select * from disparities where run_id = ?", [result.run_id]))
    assert {r["family"] for r in rows} == set(FAMILIES)
    findings = [r for r in rows if r["p_adj"] is not None and r["p_adj"] < 0.05]
    assert [(r["metric"], r["axis"], r["grp"]) for r in findings if r["metric"] not in ORDER_METRICS] == []


def test_identical_answers_campaign_reports_degenerate_and_no_finding(tmp_path):
    from slant.browse import QUERIES
    from slant.report.html import html_report
    from slant.report.markdown import markdown
    from slant.report.summary import summary

    campaign = write_campaign(tmp_path, prefill="chatml")
    with FakeOpenAIServer(p_yes=1.0, mass=1.0) as server:
        result = audit(campaign, base_url=server.base_url, progress=False)
    db = open_db(result.db_path)
    rows = list(db.query("select * from disparities where run_id = ?", [result.run_id]))
    gaps = [r for r in rows if r["metric"] in ("p_yes_gap", "paired_gap", "discrimination_score")]
    assert gaps and all(r["p"] is None and r["p_adj"] is None and "degenerate" in r["method"] for r in gaps)
    assert all(r["estimate"] == 0 for r in gaps)
    assert list(db.query(QUERIES["findings"]["sql"])) == []
    md = markdown(summary(db, result.run_id))
    assert "degenerate" in md
    html = html_report(db, result.run_id)
    assert "significant after BH" not in html.replace("not significant after BH", "")
