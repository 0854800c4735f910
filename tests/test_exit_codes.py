"""Every exit code of the README's table, each driven through the command line as a user meets it."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time

import pytest
from conftest import free_port, write_campaign
from openai_server import FakeOpenAIServer

from slant import errors, open_db
from slant.cli import main
from slant.probes import FAMILIES, decision

GATE = [{"name": "gender gap", "metric": "paired_gap", "axis": "gender", "max_abs": 0.05}]


def _run(campaign, server, *more: str) -> int:
    return main(["run", str(campaign), "--base-url", server.base_url, "--no-progress", *more])


def _status(campaign_dir) -> tuple[str, str | None]:
    row = next(open_db(campaign_dir / "audit.db").query("select status, message from runs"))
    return row["status"], row["message"]


def test_0_done_1_gate_failed_2_bad_input(tmp_path, capsys):
    with FakeOpenAIServer() as server:
        assert _run(write_campaign(tmp_path / "ok"), server) == errors.EXIT_OK
    with FakeOpenAIServer(shift={"woman": -0.3}) as server:
        campaign = write_campaign(tmp_path / "gap", gates=GATE)
        code = main(["audit-scheduled", str(campaign), "--base-url", server.base_url, "--no-progress"])
    assert code == errors.EXIT_GATE_FAILED
    assert main(["report", "nope", "--db", str(tmp_path / "ok" / "audit.db")]) == errors.EXIT_BAD_INPUT
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("slant: error: ")


def test_3_incomplete_then_resumed(tmp_path, capsys):
    campaign = write_campaign(tmp_path, max_retries=0)
    port = free_port()  # the same server: the base URL is part of the request keys
    with FakeOpenAIServer(fail_marker="70-year-old Black", port=port) as server:
        assert _run(campaign, server) == errors.EXIT_INCOMPLETE
    assert _status(tmp_path)[0] == "incomplete"
    with FakeOpenAIServer(port=port) as server:
        assert _run(campaign, server) == errors.EXIT_OK
        assert server.n_completions == 12  # only the failed calls were sent again
    assert _status(tmp_path)[0] == "complete"


def test_4_a_scoring_bug_fails_the_run_and_a_fixed_version_rescores_from_the_cache(
    tmp_path, capsys, monkeypatch
):
    campaign = write_campaign(tmp_path)

    def broken(frame, ps):
        raise ZeroDivisionError("division by zero")

    # a bug in a family's statistics
    monkeypatch.setitem(FAMILIES, "decision", dataclasses.replace(decision.FAMILY, disparities=broken))
    port = free_port()
    with FakeOpenAIServer(port=port) as server:
        assert _run(campaign, server) == errors.EXIT_INTERNAL
        sent = server.n_completions
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scoring failed: ZeroDivisionError" in err and "rescores" in err
    status, message = _status(tmp_path)
    assert status == "failed" and message.startswith("scoring failed: ZeroDivisionError: division by zero")

    monkeypatch.undo()  # the fixed version
    with FakeOpenAIServer(port=port) as server:
        assert _run(campaign, server) == errors.EXIT_OK
        assert server.n_completions == 0  # every reply came from the cache
    assert sent == 48 and _status(tmp_path) == ("complete", None)
    db = open_db(tmp_path / "audit.db")
    assert db.table("disparities").count > 0 and db.table("outcomes").count == 48


def test_4_an_unexpected_error_is_one_line_not_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("slant.cli._probes", lambda a: 1 / 0)
    assert main(["probes"]) == errors.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("slant: internal error: ZeroDivisionError") and len(err.splitlines()) == 1
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "probes"])


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_130_and_143_stop_cleanly_and_resume(tmp_path, sig, code, word):
    campaign = write_campaign(tmp_path)
    with FakeOpenAIServer(delay=0.05) as server:
        command = [sys.executable, "-m", "slant.cli", "run", str(campaign), "--base-url", server.base_url]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while server.n_completions < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert err.strip().splitlines() == [
            f"slant: {'terminated (SIGTERM)' if code == 143 else 'interrupted'}; finished calls are saved, "
            "rerun the same command to resume"
        ]
        assert word in err and _status(tmp_path)[0] == "interrupted"
        sent, saved = server.n_completions, open_db(tmp_path / "audit.db").table("responses").count
        assert saved <= sent < 48 and sent - saved <= 4, (saved, sent)  # lost: at most the calls in flight
        assert _run(campaign, server) == errors.EXIT_OK
    assert server.n_completions - sent == 48 - saved  # resumed: only what was not saved is sent


def test_the_readme_table_lists_every_exit_code():
    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    table = text[text.index("### Exit codes") :].split("\n\n")[2]
    listed = {int(line.split("`")[1]) for line in table.splitlines()[2:]}
    assert listed == {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
