"""The campaign with every family runs end to end over HTTP and stores outcomes for each probe set."""

from __future__ import annotations

import io

from conftest import SCENARIOS
from rich.console import Console

from slant import audit, open_db
from slant.probes import FAMILIES
from slant.report import print_report


def test_full_campaign_writes_outcomes_for_every_family(tmp_path, server):
    campaign = SCENARIOS / "campaigns" / "full.yaml"
    db_path = tmp_path / "full.db"
    server.start_token = "<s>"  # as vLLM lists it: sentences with an empty context are scored (CrowS-Pairs)
    result = audit(
        campaign, target="openai-compat/fake", base_url=server.base_url, db=db_path, limit=20, progress=False
    )
    assert result.status == "complete"
    db = open_db(db_path)
    rows = db.query(
        "select probe_set, family, count(*) n, group_concat(distinct parse_status) s "
        "from outcomes_full group by probe_set"
    )
    sets = {r["probe_set"]: r for r in rows}
    assert {r["family"] for r in sets.values()} == set(FAMILIES)
    assert all(r["n"] > 0 for r in sets.values())
    # The scripted server only ever answers "yes"/"no": decisions are usable, IAT lines cannot be parsed,
    # pairwise letters get no probability mass; both say so instead of counting as answers.
    assert sets["decision"]["s"] == "ok"
    assert sets["iat"]["s"] == "unparsed" and sets["pairwise"]["s"] == "low_mass"
    metrics = {r["metric"] for r in db.query("select distinct metric from disparities")}
    assert {"p_yes", "p_yes_gap", "discrimination_score"} <= metrics

    # the terminal report renders every family, including estimates that could not be made
    console = Console(file=io.StringIO(), width=140)
    print_report(db, result.run_id, console)
    text = console.file.getvalue()
    for name in sets:
        assert name in text
    # the attack family samples by default (as BUMBLE does): both readings' agreement rates are shown
    assert "attack · other estimates" in text and "agreement_rate_strict" in text
    assert "agreement_p" not in text
