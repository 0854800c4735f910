"""Kill a run midway (SIGKILL), rerun it: nothing lost, nothing duplicated, same outcomes."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SCENARIOS, TOPK, write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db, store
from slant.targets.openai_compat import render_chatml

HERE = Path(__file__).parent

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
    overrides = {"scenarios": [ALL_PACKS], "scoring": TOPK}
    campaign = write_campaign(tmp_path, overrides, prefill="chatml", max_connections=2)
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


def stored_state(db_path) -> tuple[set[str], int, str]:
    """(keys with a successful response, outcome rows, integrity check) of a database after a kill."""
    if not db_path.exists():
        return set(), 0, "ok"
    with sqlite3.connect(db_path, timeout=10) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        check = conn.execute("pragma integrity_check").fetchone()[0]
        if "responses" not in tables:
            return set(), 0, check
        done = {r[0] for r in conn.execute("select key from responses where error_kind is null")}
        outcomes = conn.execute("select count(*) from outcomes").fetchone()[0]
    return done, outcomes, check


def prompts_of(db_path, keys: set[str]) -> set[str]:
    """The prompts (as the server saw them) of these stored requests."""
    db = open_db(db_path)
    out = set()
    for row in store.responses_by_key(db, keys).values():
        req = json.loads(row["request"])
        messages = tuple((m["role"], m["content"]) for m in req["messages"])
        out.add(render_chatml(messages, req["prefill"]))
    return out


@pytest.mark.slow
def test_sigkill_at_many_moments_loses_and_duplicates_nothing(tmp_path):
    """≥ 20 SIGKILLs of `slant run`, each followed by a rerun: half at random moments of the run, half from
    inside a database write (right after a row batch is written, before its transaction commits). After
    every kill: the file passes integrity_check, no committed response is lost, and no request whose
    response was stored is sent again. At the end: the outcomes of an uninterrupted run."""
    campaign = write_campaign(tmp_path, {"scenarios": [ALL_PACKS]}, prefill="chatml", max_connections=1)
    db_path, log = tmp_path / "audit.db", tmp_path / "kills.log"
    rng = random.Random(20)
    cli = ["run", str(campaign), "--no-progress"]
    kills: list[str] = []
    with FakeOpenAIServer(delay=0.1) as srv:  # 144 calls at 0.1 s: ~15 s of work to cut into pieces
        for round_ in range(40):
            if len(kills) >= 22:
                break
            before, _, _ = stored_state(db_path)
            seen_before = len(srv.received)
            if round_ % 2:
                n = rng.randint(1, 7)
                cmd = [sys.executable, str(HERE / "kill_in_write.py"), str(n), str(log), *cli]
                proc = subprocess.Popen([*cmd, "--base-url", srv.base_url], stderr=subprocess.PIPE, text=True)
                proc.wait(timeout=120)
                if proc.returncode == -signal.SIGKILL:
                    kills.append("write:" + log.read_text().splitlines()[-1])
            else:
                cmd = [sys.executable, "-m", "slant", *cli, "--base-url", srv.base_url]
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                time.sleep(rng.uniform(0.5, 4.0))  # from startup (imports, schema) to well into the calls
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills.append("timed")
                proc.wait(timeout=120)
            after, _, check = stored_state(db_path)
            assert check == "ok", f"kill {len(kills)}: integrity_check says {check}"
            assert before <= after, f"kill {len(kills)}: committed responses were lost"
            resent = {r["body"].get("prompt") for r in srv.received[seen_before:] if r["status"] == 200}
            assert not (resent & prompts_of(db_path, before)), "a stored response was requested again"
        srv.delay = 0
        assert audit(campaign, base_url=srv.base_url, progress=False).status == "complete"
        # a finished run rescored (every response cached): killed while replacing its outcomes, then its
        # disparities; the old rows stay until the new ones commit. (A rerun of an unchanged campaign file
        # reuses the stored statistics, so the file is edited to force a rescore.)
        for n, table in enumerate(["outcomes", "disparities"]):
            campaign.write_text(campaign.read_text() + f"# rescore {n}\n")
            cmd = [sys.executable, str(HERE / "kill_in_write.py"), table, str(log), *cli]
            assert subprocess.run([*cmd, "--base-url", srv.base_url]).returncode == -signal.SIGKILL
            kills.append("write:" + log.read_text().splitlines()[-1])
            assert kills[-1] == f"write:{table} 1"
            assert stored_state(db_path)[1:] == (144, "ok")
        resumed = audit(campaign, base_url=srv.base_url, progress=False)
        assert resumed.engine.sent == 0
        in_write = [k for k in kills if k.startswith("write")]
        assert len(kills) >= 20 and len(in_write) >= 8, kills
        assert sum(k.endswith(" 1") for k in in_write) >= 6, "most write kills should land mid-transaction"

        assert resumed.status == "complete"
        db = open_db(db_path)
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        keys = [r["key"] for r in db.query("select key from responses")]
        assert len(keys) == len(set(keys)) == resumed.n_requests == 144
        assert db.table("outcomes").count == 144
        assert [r["status"] for r in db.query("select status from runs")] == ["complete"]
        clean = audit(campaign, base_url=srv.base_url, db=tmp_path / "clean.db", progress=False)
    columns = ["probe_id", "sample", "parse_status", "answer", "p_yes", "mass", "refusal"]
    a = resumed.outcomes()[columns].sort_values(["probe_id", "sample"]).reset_index(drop=True)
    b = clean.outcomes()[columns].sort_values(["probe_id", "sample"]).reset_index(drop=True)
    assert a.equals(b)
    print(f"{len(kills)} kills: {sorted(kills)}")
