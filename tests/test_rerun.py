"""A rerun with nothing to send keeps the stored statistics; a changed campaign file recomputes them."""

from __future__ import annotations

import yaml
from conftest import write_campaign

from slant import audit, open_db


def test_noop_rerun_reuses_and_a_changed_campaign_rescores(tmp_path, server):
    campaign = write_campaign(tmp_path, prefill="chatml")
    first = audit(campaign, base_url=server.base_url, progress=False)
    db = open_db(first.db_path)
    finished = db.table("runs").get(first.run_id)["finished"]
    again = audit(campaign, base_url=server.base_url, progress=False)
    assert again.run_id == first.run_id and again.engine.sent == 0 and again.status == "complete"
    assert db.table("runs").get(first.run_id)["finished"] == finished  # nothing was redone
    assert len(again.disparities) == len(first.disparities)

    spec = yaml.safe_load(campaign.read_text())
    spec["probes"][0]["margin"] = 0.001  # same probes, same run id; the equivalence margin changed
    campaign.write_text(yaml.safe_dump(spec))
    third = audit(campaign, base_url=server.base_url, progress=False)
    assert third.run_id == first.run_id and third.engine.sent == 0
    margins = {r["margin"] for r in db.query("select margin from disparities where metric = 'paired_gap'")}
    assert margins == {0.001}
