"""Runs of the same campaign at once pay for each call once (claims per request key); a run killed with
its claims held does not block the next; every attempt is its own row."""

from __future__ import annotations

import signal
import sqlite3
import time

from conftest import TOPK, write_campaign
from openai_server import FakeOpenAIServer
from test_resume import ALL_PACKS, count_responses, start_run

from slant import audit, claims, open_db
from slant.api import plan
from slant.spec import load_campaign
from slant.targets import resolve_target


def campaign_keys(campaign, base_url: str) -> list[str]:
    c = load_campaign(campaign)
    planned = plan(c, resolve_target(c.target, base_url))
    return [k for ps in planned for reqs in ps.requests.values() for k, _ in reqs]


def test_two_runs_of_one_campaign_share_the_calls(tmp_path):
    overrides = {"scenarios": [ALL_PACKS], "scoring": TOPK}
    campaign = write_campaign(tmp_path, overrides, prefill="chatml", max_connections=2)
    db_path = tmp_path / "audit.db"
    with FakeOpenAIServer(delay=0.15) as srv:  # ~10 s of calls for one run alone: the two overlap
        first = start_run(campaign, srv.base_url, db_path, until=0)
        second = start_run(campaign, srv.base_url, db_path, until=0)
        outs = [p.communicate(timeout=120) for p in (first, second)]
        bodies = list(srv.attempts.values())
        n_calls = len(srv.received)
    for p, (out, err) in zip((first, second), outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, out + err
    db = open_db(db_path)
    n_keys = db.table("responses").count
    assert n_keys == 18 * 8 and bodies == [1] * n_keys  # every request answered by the server once
    assert db.table("attempts").count == n_calls == n_keys  # one attempt row per call
    assert db.table("claims").count == 0
    assert [r["status"] for r in db.query("select status from runs")] == ["complete"]
    # both sent calls, and one at least says which other process answered the rest
    sent = [int(out.split("model calls: ")[1].split(" sent")[0]) for out, _ in outs]
    assert all(sent) and sum(sent) == n_keys, sent
    said = [
        f"answered by another run (pid {other.pid})" in out
        for (out, _), other in zip(outs, (second, first), strict=True)
    ]
    assert any(said), outs
    owners = {r[0].split(":")[1] for r in db.execute("select owner from attempts").fetchall()}
    assert owners == {str(first.pid), str(second.pid)}


def test_a_killed_runs_claims_do_not_block_the_next_run(tmp_path):
    campaign = write_campaign(tmp_path, {"scenarios": [ALL_PACKS]}, prefill="chatml", max_connections=2)
    db_path = tmp_path / "audit.db"
    with FakeOpenAIServer(delay=0.03) as srv:
        proc = start_run(campaign, srv.base_url, db_path, until=20)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert count_responses(db_path) < 18 * 8, "the run should have been killed midway"
        with sqlite3.connect(db_path) as conn:  # it died holding claims
            held = conn.execute("select count(*) from claims").fetchone()[0]
        assert held > 0
        started = time.monotonic()
        result = audit(campaign, base_url=srv.base_url, progress=False)
        took = time.monotonic() - started
    assert result.status == "complete" and took < claims.TIMEOUT / 2
    assert result.engine.shared == 0  # the dead process's keys were taken over, not waited for
    db = open_db(db_path)
    assert db.table("claims").count == 0
    # one stored call per key: what the killed run stored was not sent again (what it had in flight or
    # not yet written when it died was)
    assert db.table("responses").count == db.table("attempts").count == 18 * 8


def test_a_claim_on_another_host_is_waited_for_until_its_heartbeat_stops(tmp_path, monkeypatch):
    """A live claim of another machine's process is not sent; once its heartbeat is TIMEOUT old, it is."""
    monkeypatch.setattr(claims, "TIMEOUT", 2.0)
    campaign = write_campaign(tmp_path, {"scoring": TOPK}, prefill="chatml")
    with FakeOpenAIServer() as srv:
        keys = campaign_keys(campaign, srv.base_url)
        db = open_db(tmp_path / "audit.db")
        held = keys[:5]
        db.table("claims").insert_all(
            {"key": k, "owner": "elsewhere:4242:abcd1234", "heartbeat": time.time()} for k in held
        )
        started = time.monotonic()
        result = audit(campaign, base_url=srv.base_url, progress=False)
        took = time.monotonic() - started
        assert list(srv.attempts.values()) == [1] * len(keys)
    assert result.status == "complete" and took >= 1.5  # it waited for the claims to go stale
    assert result.engine.sent == len(keys) and "pid 4242 on elsewhere" in result.engine.shared_with
    assert db.table("claims").count == 0


def test_attempts_are_never_overwritten(tmp_path):
    """A call refused twice (400: not retried), by two runs within a second, then answered: every attempt is
    a row of its own (the old key, (key, attempt, at) with one-second times, kept one of the first two)."""
    campaign = write_campaign(tmp_path, {"scoring": TOPK}, prefill="chatml", max_retries=0)
    with FakeOpenAIServer(fail_first=2, fail_status=400) as srv:
        statuses = [audit(campaign, base_url=srv.base_url, limit=1, progress=False).status for _ in range(3)]
        calls = len(srv.received)
    assert statuses == ["incomplete", "incomplete", "complete"]
    db = open_db(tmp_path / "audit.db")
    assert calls == 3 * 8 and db.table("attempts").count == calls
    assert [r[0] for r in db.execute("select attempt from attempts group by attempt")] == [0]


def test_an_old_attempts_table_is_rekeyed_keeping_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a database made by an older slant (runs is slant's mark)
        conn.execute("create table runs (id text primary key)")
        conn.execute(
            "create table attempts (key text, attempt integer, ok integer, error_kind text, status integer, "
            "error text, latency_ms float, at text, primary key (key, attempt, at))"
        )
        conn.execute("create index idx_attempts_key on attempts (key)")
        conn.executemany(
            "insert into attempts (key, attempt, ok, at) values (?, ?, ?, ?)",
            [("k1", 0, 0, "2025-01-01T00:00:00+00:00"), ("k1", 1, 1, "2025-01-01T00:00:01+00:00")],
        )
    db = open_db(path)
    assert db.table("attempts").pks == ["id"]
    assert [(r["key"], r["attempt"], r["ok"]) for r in db.query("select * from attempts order by id")] == [
        ("k1", 0, 0),
        ("k1", 1, 1),
    ]
    db.table("attempts").insert({"key": "k1", "attempt": 1, "ok": 1, "at": "2025-01-01T00:00:01+00:00"})
    assert db.table("attempts").count == 3
    assert open_db(path).table("attempts").count == 3  # opened again: nothing to do
    assert "idx_attempts_key" in {i.name for i in db.table("attempts").indexes}
