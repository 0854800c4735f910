"""Adaptive stopping: matched sets in seeded random order, looks with α spent evenly, stop when decided."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
from conftest import SCENARIOS, write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.adaptive import batches, verdicts

GENDER_ONLY = {
    "scenarios": [str(SCENARIOS / "decisions" / "*.yaml")],
    "demographics": {"age": [40], "gender": ["male", "female"], "race": ["white"]},
}


def test_batches_keep_matched_sets_whole_in_seeded_order():
    probes = [SimpleNamespace(id=f"{s}{i}", matched_set_id=s) for s in "abcdefg" for i in range(3)]
    cut = batches(probes, 3, seed=1)
    assert len(cut) == 3 and sum(len(b) for b in cut) == 21
    for b in cut:
        assert len(b) % 3 == 0 and all(sum(p.matched_set_id == s for p in b) in (0, 3) for s in "abcdefg")
    assert cut == batches(probes, 3, seed=1) and cut != batches(probes, 3, seed=2)


def test_verdicts_spend_alpha_per_look():
    base = {"probe_set": "d", "metric": "paired_gap", "cue": "c"}
    rows = pd.DataFrame(
        [
            {**base, "axis": "g", "grp": "f", "reference": "m", "p": 0.004, "extra": {"p_tost": 0.9}},
            {**base, "axis": "r", "grp": "B", "reference": "w", "p": 0.5, "extra": {"p_tost": 0.009}},
            {**base, "axis": "a", "grp": "70", "reference": "30", "p": 0.02, "extra": {"p_tost": 0.5}},
        ]
    )
    v = verdicts(rows, "d", 0.05 / 5)  # 0.01 per look
    assert v == {"c · g: f vs m": "gap", "c · r: B vs w": "equivalent", "c · a: 70 vs 30": "undecided"}


def test_a_planted_gap_stops_at_the_first_look_and_no_gap_asks_everything(tmp_path):
    adaptive = {"looks": 3, "alpha": 0.05}
    with FakeOpenAIServer(shift={"woman": -0.3}) as server:
        biased = write_campaign(tmp_path / "b", GENDER_ONLY, prefill="chatml", adaptive=adaptive)
        run = audit(biased, base_url=server.base_url, progress=False)
    db = open_db(run.db_path)
    log = json.loads(db.table("runs").get(run.run_id)["adaptive"])
    asked = 12 * len(log)  # each look: 6 of the 18 matched sets × 2 genders
    assert run.status == "complete" and run.engine.sent == asked == run.n_probes < 36
    assert log[-1]["sets"]["decisions"]["verdicts"] == {"explicit · gender: female vs male": "gap"}
    assert db.table("run_probes").count_where("run_id = ?", [run.run_id]) == asked
    gap = next(db.query("select * from disparities where metric = 'paired_gap' and run_id = ?", [run.run_id]))
    assert gap["estimate"] < -0.2 and gap["n_responses"] == asked

    with FakeOpenAIServer() as server:  # P(yes) random per prompt: neither a gap nor ±0.02 equivalence
        fair = write_campaign(tmp_path / "f", GENDER_ONLY, prefill="chatml", adaptive=adaptive)
        run = audit(fair, base_url=server.base_url, progress=False)
    log = json.loads(open_db(run.db_path).table("runs").get(run.run_id)["adaptive"])
    assert run.engine.sent == 36 and len(log) == 3  # every look, the whole grid
    assert log[-1]["sets"]["decisions"]["verdicts"] == {"explicit · gender: female vs male": "undecided"}
