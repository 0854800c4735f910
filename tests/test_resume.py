"""Kill a run midway (SIGKILL), rerun it: nothing lost, nothing duplicated, same outcomes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

from conftest import SCENARIOS, write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db

ALL_PACKS = str(SCENARIOS / "decisions" / "*.yaml")


def count_responses(db_path) -> int:
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            return conn.execute("select count(*) from responses").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def start_run(campaign, base_url: str, db_path, until: int) -> subprocess.Popen[str]:
    """Start `slant run` as a subprocess and return once it has stored ``until`` responses."""
    cmd = [sys.executable, "-m", "slant", "run", str(campaign), "--base-url", base_url, "--no-progress"]
    # A shell's background job (`make test &`) starts with SIGINT ignored, and the child would inherit
    # that: restore the default so Ctrl-C reaches slant as it would in a terminal.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while count_responses(db_path) < until and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    return proc


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    campaign = write_campaign(tmp_path, {"scenarios": [ALL_PACKS]}, prefill="chatml", max_connections=2)
    db_path = tmp_path / "audit.db"
    total = 18 * 8
    with FakeOpenAIServer(delay=0.03) as srv:
        proc = start_run(campaign, srv.base_url, db_path, until=40)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stored = count_responses(db_path)
        assert 40 <= stored < total, "the run should have been killed midway"

        resumed = audit(campaign, base_url=srv.base_url, progress=False)
        sent_before_kill = srv.n_completions - resumed.engine.sent
        assert resumed.status == "complete"
        assert resumed.engine.cached == stored  # every stored response was reused, none sent twice
        assert (
            sent_before_kill - stored <= 2 + 60
        )  # only calls in flight or not yet flushed (0.5 s) were lost

        db = open_db(db_path)
        keys = [r["key"] for r in db.query("select key from responses")]
        assert len(keys) == len(set(keys)) == total
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert db.table("outcomes").count == total

        clean = audit(campaign, base_url=srv.base_url, db=tmp_path / "clean.db", progress=False)
        a = resumed.outcomes().set_index("probe_id")["p_yes"].sort_index()
        b = clean.outcomes().set_index("probe_id")["p_yes"].sort_index()
        assert a.to_dict() == b.to_dict()


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    campaign = write_campaign(tmp_path, {"scenarios": [ALL_PACKS]}, prefill="chatml", max_connections=2)
    db_path = tmp_path / "audit.db"
    with FakeOpenAIServer(delay=0.05) as srv:
        proc = start_run(campaign, srv.base_url, db_path, until=10)
        assert proc.poll() is None, "the run ended before Ctrl-C could be sent"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert "interrupted" in err and "rerun the same command to resume" in err and "Traceback" not in err
        db = open_db(db_path)
        assert [r["status"] for r in db.query("select status from runs")] == ["interrupted"]
        stored = count_responses(db_path)
        assert stored >= 10
        resumed = audit(campaign, base_url=srv.base_url, progress=False)
        assert resumed.status == "complete" and resumed.engine.cached == stored
