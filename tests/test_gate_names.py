"""Gates name only what the campaign can produce: every family declares its metrics and axes (with their
groups), a typo in a gate is refused before any call, and the declarations match the rows written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import SCENARIOS, write_campaign
from family_server import FamilyServer, coverage_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.cli import main
from slant.probes import Outputs, family_of, outputs
from slant.spec import load_campaign


def declared(campaign: Path) -> dict[str, Outputs]:
    c = load_campaign(campaign)
    return {
        ps.name: outputs(ps, list(family_of(ps).expand(ps, campaign.parent, ps.name, c.seed)))
        for ps in c.probes
    }


@pytest.mark.parametrize("sampled", [False, True], ids=["logprobs", "sampled"])
def test_every_written_estimate_is_declared_by_its_family(tmp_path, sampled):
    campaign = coverage_campaign(tmp_path, sampled)
    with FamilyServer() as server:
        result = audit(campaign, base_url=server.base_url, progress=False, limit=40)
    assert result.status == "complete"
    rows = list(
        open_db(result.db_path).query(
            "select distinct probe_set, metric, axis, grp, cue from disparities where run_id = ?",
            [result.run_id],
        )
    )
    decl = declared(campaign)
    undeclared = [
        r
        for r in rows
        if not (
            (d := decl[r["probe_set"]]).metrics >= {r["metric"]}
            and r["grp"] in d.axes.get(r["axis"], set())
            and r["cue"] in d.cues
        )
    ]
    assert undeclared == []
    written = {name: {r["metric"] for r in rows if r["probe_set"] == name} for name in decl}
    assert written == {name: d.metrics for name, d in decl.items()}  # no declared metric is a fiction


def test_declared_metrics_follow_the_options(tmp_path):
    """Sampling mode, baselines, calibration and levels change what a family can write."""
    c = declared(coverage_campaign(tmp_path, sampled=False))
    (tmp_path / "s").mkdir()
    s = declared(coverage_campaign(tmp_path / "s", sampled=True))
    assert "agreement_p" in c["attack"].metrics and "agreement_p" not in s["attack"].metrics
    assert {"agreement_rate", "refuse_rate"} <= s["attack"].metrics
    assert "certainty_w" in c["persona"].metrics
    assert "abstention_rate" in s["persona"].metrics - c["persona"].metrics
    assert "position_consistency" in c["fill-in-orders"].metrics - c["fill-in"].metrics
    assert c["prior"].metrics == {"prior_p_yes"} and c["prior"].axes == {"none": {"content-free"}}
    assert "refusal_cochran_q" in c["decision"].metrics and "white,Black,Asian" in c["decision"].axes["race"]
    assert c["usage-paired"].metrics == {"usage_bias", "usage_bias_gap"}  # default paired: bui-2025


# --- a gate naming what the campaign cannot produce is refused before any call ---------------------

TWO_SETS = {
    "base_url": "http://127.0.0.1:9/v1",  # never called: these runs are dry
    "probes": [
        {
            "family": "decision",
            "name": "decisions",
            "scenarios": str(SCENARIOS / "decisions" / "lending.yaml"),
            "demographics": {"age": [30], "gender": ["male", "female"], "race": ["white", "Black"]},
        },
        {"family": "attack", "name": "attack", "statements": str(SCENARIOS / "attacks" / "stereotypes.yaml")},
    ],
}


@pytest.mark.parametrize(
    ("gate", "field", "problem"),
    [
        (
            {"metric": "paired-gap"},
            "metric",
            "'paired-gap' is not a metric this campaign produces; it produces: certainty_fairness, "
            "certainty_gap, certainty_w, confidence_right",
        ),
        ({"axis": "gendr"}, "axis", "'gendr' is not an axis of paired_gap in this campaign; its axes: age, "),
        (
            {"probe_set": "decision"},
            "probe_set",
            "'decision' is not a probe set of this campaign; its probe sets: decisions",
        ),
        ({"cue": "nme"}, "cue", "'nme' is not a cue of paired_gap in this campaign; its cues: explicit"),
        (
            {"axis": "race", "group": "black"},
            "group",
            "'black' is not a group on axis race of paired_gap in this campaign; its groups: Black, white",
        ),
    ],
    ids=["metric", "axis", "probe_set", "cue", "group"],
)
def test_a_typo_in_a_gate_is_refused_before_any_call(tmp_path, capsys, gate, field, problem):
    campaign = write_campaign(tmp_path, gates=[{"name": "g", "metric": "paired_gap", "max_abs": 0.1, **gate}])
    with FakeOpenAIServer() as server:
        for dry in ([], ["--dry-run"]):
            assert main(["run", str(campaign), "--base-url", server.base_url, *dry]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err
            assert err.startswith(f"slant: error: {campaign}: gates[0].{field}: {problem}")
        assert server.received == []
    assert not (tmp_path / "audit.db").exists()


def test_a_gate_is_checked_against_the_probe_sets_that_write_its_metric(tmp_path, capsys):
    def run(*gates: dict[str, Any]) -> int:
        named = [{"name": f"g{i}", "max_abs": 0.1} | g for i, g in enumerate(gates)]
        return main(["run", str(write_campaign(tmp_path, gates=named, **TWO_SETS)), "--dry-run"])

    # a metric alone matches it in every probe set that writes it; so do a cue, axis or group
    assert run({"metric": "attack_uplift"}, {"metric": "paired_gap", "axis": "race", "group": "Black"}) == 0
    capsys.readouterr()
    assert run({"metric": "attack_uplift", "probe_set": "decisions"}) == 2
    assert (
        "gates[0].metric: 'attack_uplift' is not a metric probe set 'decisions' produces"
        in capsys.readouterr().err
    )
    assert run({"metric": "attack_uplift", "axis": "race"}) == 2  # race is an axis of decisions only
    assert "gates[0].axis: 'race' is not an axis of attack_uplift in this campaign; its axes: attack" in (
        capsys.readouterr().err
    )
    assert run({"metric": "paired_gap", "axis": "age"}) == 2  # one age: age is not compared
    assert "its axes: gender, race" in capsys.readouterr().err
    assert run({"name": "errors", "max_error_rate": 0.0, "probe_set": "attack", "max_abs": None}) == 2
    assert (
        "gates[0].probe_set: max_error_rate is judged on the whole run; remove it" in capsys.readouterr().err
    )
