"""Replicas of one model behind several base URLs: load balanced, a failing replica routed around."""

from __future__ import annotations

from conftest import write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.targets import ReplicaTarget, resolve_target


def outcomes(db_path, run_id):
    rows = open_db(db_path).query("select probe_id, p_yes from outcomes where run_id = ?", [run_id])
    return {r["probe_id"]: r["p_yes"] for r in rows}


def test_a_url_list_is_one_target_balanced_across_replicas(tmp_path):
    with FakeOpenAIServer(delay=0.02) as a, FakeOpenAIServer(delay=0.02) as b:
        target = resolve_target("openai-compat/fake", f"{a.base_url}, {b.base_url}", "chatml")
        assert isinstance(target, ReplicaTarget)
        assert target.id == resolve_target("openai-compat/fake", f"{b.base_url},{a.base_url}").id  # any order
        campaign = write_campaign(tmp_path, prefill="chatml", base_url=[a.base_url, b.base_url])
        run = audit(campaign, progress=False)
        assert run.status == "complete" and run.engine.sent == 48
        # each request is a read and its four answer continuations, all on one replica
        assert a.n_completions + b.n_completions == 48 * 5 and min(a.n_completions, b.n_completions) >= 12 * 5
    with FakeOpenAIServer() as single:  # same model (same answers): same outcomes as one server
        one = audit(campaign, base_url=single.base_url, db=tmp_path / "one.db", progress=False)
    assert outcomes(run.db_path, run.run_id) == outcomes(one.db_path, one.run_id)


def test_a_failing_replica_is_taken_out(tmp_path):
    with FakeOpenAIServer(fail_first=10**6) as down, FakeOpenAIServer() as up:
        campaign = write_campaign(tmp_path, prefill="chatml", base_url=f"{down.base_url},{up.base_url}")
        run = audit(campaign, progress=False)
        assert run.status == "complete" and up.n_completions == 48 * 5  # a read and four continuations
        tried = len(down.received)
    # the failing replica rests after each failure, so it saw few requests; each failure was retried
    assert 1 <= tried <= 8
    db = open_db(run.db_path)
    failed = list(db.query("select error_kind, error from attempts where ok = 0"))
    assert len(failed) == tried and all(down.base_url in f["error"] for f in failed)
