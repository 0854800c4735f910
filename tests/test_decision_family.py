"""Decision family extensions: conditions, calibration probes, and the mixed-effects discrimination score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import SCENARIOS
from scipy.special import expit, logit

from slant.probes import decision
from slant.stats import mixed
from slant.stats.mixed import FALLBACK, METHOD_INTERCEPT, METHOD_OLS, discrimination_scores


def spec(**kw):
    return decision.DecisionSet.model_validate(
        {
            "family": "decision",
            "scenarios": ["lending.yaml"],
            "demographics": {"age": [30, 60], "gender": ["male", "female"], "race": ["white", "Black"]},
            **kw,
        }
    )


def test_conditions_are_inserted_before_the_instruction_with_increasing_strength():
    ps = spec(conditions=["none", "dont-discriminate-1", "dont-discriminate-3"])
    probes = list(decision.expand(ps, SCENARIOS / "decisions", "test"))
    by_cond = {p.condition: p.messages[1][1] for p in probes}
    assert len(probes) == 3 * 3 * 8
    assert "do not let the person's age" in by_cond["dont-discriminate-1"]
    assert len(by_cond["dont-discriminate-3"]) > len(by_cond["dont-discriminate-1"]) > len(by_cond["none"])
    assert all(text.endswith('either "yes" or "no".') for text in by_cond.values())
    # a condition changes the matched set: sets compare people, not interventions
    assert len({p.matched_set_id for p in probes}) == 3 * 3


def test_calibration_probes_replace_the_person_with_neutral_filler():
    probes = list(decision.expand(spec(calibration=True), SCENARIOS / "decisions", "test"))
    calib = [p for p in probes if p.cue == "calibration"]
    assert len(calib) == 3 and all(p.attributes == {} for p in calib)
    assert calib[0].messages[1][1].startswith("The applicant, an adult, ")


def planted(seed: int = 0, gender_effect: float = 0.6) -> pd.DataFrame:
    """Logit P(yes) = scenario intercept + gender effect + noise; no race or age effect."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(12):
        intercept = rng.normal(1.5, 0.8)
        for age in (30, 60):
            for gender in ("male", "female"):
                for race in ("white", "Black"):
                    value = intercept + (gender_effect if gender == "female" else 0) + rng.normal(0, 0.2)
                    rows.append(
                        {
                            "scenario_id": f"s{s}",
                            "probe_id": f"{s}{age}{gender}{race}",
                            "age": age,
                            "gender": gender,
                            "race": race,
                            "p_yes": expit(value),
                        }
                    )
    return pd.DataFrame(rows)


def test_discrimination_score_falls_back_to_a_random_intercept_fit_and_finds_the_planted_effect():
    data = planted()
    rows = {
        (r["axis"], r["grp"]): r for r in discrimination_scores(data, {"race": "white", "gender": "male"})
    }
    assert set(rows) == {("age", "per SD"), ("gender", "female"), ("race", "Black")}
    d = data.assign(value=logit(data["p_yes"]), age_z=(data["age"] - 45) / data["age"].std())
    terms = "age_z + C(race, Treatment(reference='white')) + C(gender, Treatment(reference='male'))"
    direct = smf.mixedlm(f"value ~ {terms}", d, groups=d["scenario_id"]).fit()
    female = rows[("gender", "female")]
    # no effect varies by scenario here: the random slopes' variances sit on the boundary, so that fit
    # does not converge and the random intercept is fitted, as the method says
    assert (
        female["method"]
        == f"{METHOD_INTERCEPT} — {FALLBACK} random slopes did not converge with 12 scenarios"
    )
    assert female["estimate"] == pytest.approx(
        direct.params["C(gender, Treatment(reference='male'))[T.female]"]
    )
    assert female["ci_low"] > 0.4 and female["p"] < 1e-6  # planted +0.6 found
    black = rows[("race", "Black")]
    assert black["ci_low"] < 0 < black["ci_high"]  # no planted race effect
    assert black["n_clusters"] == 12 and black["n_responses"] == 96


def test_falls_back_to_cluster_robust_ols_when_no_mixed_model_fits_and_says_so(monkeypatch):
    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(mixed, "MixedLM", broken)
    rows = discrimination_scores(planted(), {"race": "white", "gender": "male"})
    female = next(r for r in rows if r["grp"] == "female")
    assert female["method"].startswith(METHOD_OLS) and female["test"] == "cluster-robust t"
    assert (
        "random slopes did not converge with 12 scenarios; random intercept did not converge"
        in female["method"]
    )
    assert female["ci_low"] > 0.4


def test_one_level_axes_and_empty_data_give_no_scores():
    data = planted()
    only_white = data[data["race"] == "white"]
    axes = {r["axis"] for r in discrimination_scores(only_white, {"race": "white", "gender": "male"})}
    assert axes == {"age", "gender"}
    assert discrimination_scores(data.assign(p_yes=None), {"race": "white", "gender": "male"}) == []


def test_run_stores_paired_gaps_tost_and_bh_adjusted_p(tmp_path, server):
    from conftest import write_campaign
    from statsmodels.stats.multitest import multipletests

    from slant import audit, open_db

    campaign = write_campaign(tmp_path, {"margin": 0.05}, prefill="chatml")
    result = audit(campaign, base_url=server.base_url, progress=False)
    db = open_db(result.db_path)
    rows = list(db.query("select * from disparities where run_id = ? order by rowid", [result.run_id]))
    paired = [r for r in rows if r["metric"] == "paired_gap"]
    assert {(r["axis"], r["grp"], r["reference"]) for r in paired} == {
        ("age", "70", "30"),
        ("gender", "female", "male"),
        ("race", "Black", "white"),
    }
    assert all(r["margin"] == 0.05 and r["p_tost"] is not None for r in paired)
    assert {r["metric"] for r in rows} >= {"paired_refused_gap", "paired_unparsed_gap"}
    # Benjamini-Hochberg over every p of the run's decision family, stored beside the raw p
    with_p = [r for r in rows if r["p"] is not None]
    expected = multipletests([r["p"] for r in with_p], method="fdr_bh")[1]
    assert [r["p_adj"] for r in with_p] == pytest.approx(list(expected))
    assert all(r["p_adj"] is None for r in rows if r["p"] is None)
