"""One audit database, several users at once: readers during a run (WAL), and two writers that take turns
instead of failing with "database is locked" or corrupting the file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

from conftest import SCENARIOS, write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.browse import QUERIES, metadata
from slant.cli import main

ALL_PACKS = str(SCENARIOS / "decisions" / "*.yaml")


def start(campaign, base_url: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "slant", "run", str(campaign), "--base-url", base_url, "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_writers_on_separate_connections_take_turns(tmp_path):
    """The engine's batch (read, then write, in one transaction) from three connections at once. With a
    deferred BEGIN, a batch whose snapshot another connection's commit made stale failed at once with
    "database is locked" (busy_timeout does not apply to that case)."""
    path = tmp_path / "audit.db"
    open_db(path)
    problems: list[str] = []

    def writer(tag: str) -> None:
        db = open_db(path)
        for i in range(60):
            keys = [f"{tag}-{i}-{j}" for j in range(20)]
            try:
                with db.atomic():
                    db.execute("select count(*) from responses").fetchone()  # reads first, like upsert
                    db.table("attempts").insert_all(
                        {"key": k, "attempt": 0, "ok": 1, "at": "t"} for k in keys
                    )
                    db.table("responses").insert_all({"key": k, "text": "yes"} for k in keys)
            except Exception as e:  # any failure is the finding
                problems.append(f"{tag} batch {i}: {e!r}")

    threads = [threading.Thread(target=writer, args=(t,)) for t in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    db = open_db(path)
    assert db.table("responses").count == db.table("attempts").count == 3 * 60 * 20
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_two_runs_write_one_database_at_once(tmp_path):
    db_path = tmp_path / "audit.db"
    a = write_campaign(tmp_path / "a", prefill="chatml", db=str(db_path), name="a")
    b = write_campaign(tmp_path / "b", prefill="chatml", db=str(db_path), name="b")
    with FakeOpenAIServer(delay=0.002) as srv:
        procs = [start(c, srv.base_url) for c in (a, b, a)]  # campaign a twice: the same rows, same keys
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        for code, err in results:
            assert code == 0 and "Traceback" not in err, err
        clean = audit(a, base_url=srv.base_url, db=tmp_path / "clean.db", progress=False)
    db = open_db(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert {r["campaign"]: r["status"] for r in db.query("select * from runs")} == {
        "a": "complete",
        "b": "complete",
    }
    assert db.table("responses").count == 2 * clean.n_requests  # campaign a's rows once, b's once
    for campaign, n in db.execute(
        "select campaign, count(*) from outcomes o join runs r on r.id = o.run_id group by campaign"
    ).fetchall():
        assert n == clean.n_requests, campaign
    run_a = next(db.query("select id from runs where campaign = 'a'"))["id"]
    mine = {r["probe_id"]: r["p_yes"] for r in db.query("select * from outcomes where run_id = ?", [run_a])}
    assert mine == clean.outcomes().set_index("probe_id")["p_yes"].to_dict()


def test_report_and_browse_read_while_a_run_writes(tmp_path):
    """`slant report` (every format) and datasette's canned queries, over and over during a run."""
    from datasette.app import Datasette

    campaign = write_campaign(tmp_path, {"scenarios": [ALL_PACKS]}, prefill="chatml", max_connections=2)
    db_path = tmp_path / "audit.db"
    reads = 0
    with FakeOpenAIServer(delay=0.02) as srv:
        proc = start(campaign, srv.base_url)
        deadline = time.monotonic() + 60
        while not (db_path.exists() and open_db(db_path).table("runs").count) and time.monotonic() < deadline:
            time.sleep(0.05)
        ds = Datasette([str(db_path)], metadata=metadata(db_path))

        async def canned() -> None:
            for name in QUERIES:
                r = await ds.client.get(f"/{db_path.stem}/{name}.json?_shape=array")
                assert r.status_code == 200, (name, r.text)
                json.loads(r.text)

        while proc.poll() is None:
            assert main(["report", "--db", str(db_path), "--json", str(tmp_path / "r.json")]) == 0
            assert main(["report", "--db", str(db_path), "--html", str(tmp_path / "r.html")]) == 0
            asyncio.run(canned())
            reads += 1
        _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert reads >= 2, "the run ended before the readers got going"
    db = open_db(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert [r["status"] for r in db.query("select status from runs")] == ["complete"]
    assert main(["report", "--db", str(db_path), "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["run"]["status"] == "complete"
