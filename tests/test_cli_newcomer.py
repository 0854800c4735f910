"""The command line as a newcomer meets it (issue 14, D11 and F): runs listed and found by a prefix of
their id, files written said so, dry runs per probe set, incomplete runs saying why, baselines unpinned,
and bad values refused in one line (exit 2) before any model call."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml
from conftest import SCENARIOS, write_campaign
from openai_server import FakeOpenAIServer

import slant
from slant import store
from slant.cli import main
from slant.errors import SlantError


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, server):
    """A database with two complete runs of campaign "test" (the second is newer)."""
    tmp = tmp_path_factory.mktemp("runs")
    campaign = write_campaign(tmp)
    first = slant.audit(campaign, base_url=server.base_url, progress=False, limit=8, scope="a")
    second = slant.audit(campaign, base_url=server.base_url, progress=False, limit=8, scope="b")
    return str(first.db_path), first.run_id, second.run_id


def one_line_error(capsys, *names: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slant: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def test_sample_n_0_names_the_field_and_the_problem(tmp_path, server, capsys):
    """Was "probes[0].scoring.literal['logprobs']: Input should be 'logprobs'"."""
    campaign = write_campaign(tmp_path, {"scoring": {"sample": {"n": 0}}})
    assert main(["run", str(campaign), "--base-url", server.base_url, "--dry-run"]) == 2
    line = one_line_error(capsys, str(campaign), "probes[0].scoring.sample.n", "greater than 0")
    assert "literal" not in line and "Sampled" not in line
    campaign = write_campaign(tmp_path, {"scoring": "logprob"})  # a typo of the string keeps its message
    assert main(["run", str(campaign), "--dry-run"]) == 2
    one_line_error(capsys, "probes[0].scoring: Input should be 'logprobs'")


def test_spec_values_are_checked_and_axes_crossed(tmp_path, capsys):
    out = tmp_path / "ids.yaml"
    for spec, problem in (
        ("age=abc", "--spec: age: 'abc' is not a whole number from 18 to 100"),
        ("age=30.5", "'30.5' is not a whole number"),
        ("gender=123", "--spec: gender: '123' is not words"),
        ("gender=man,man", "'man' is listed twice"),
    ):
        assert main(["generate", "personas", "--spec", spec, "--out", str(out)]) == 2
        assert problem in one_line_error(capsys)
    assert main(["generate", "personas", "--spec", "age=30", "--spec", "age=40", "--out", str(out)]) == 2
    one_line_error(capsys, "age: given twice")
    assert not out.exists()

    argv = ["generate", "personas", "--spec", "gender=female,male", "--spec", "age=30,60", "--out", str(out)]
    assert main(argv) == 0
    people = yaml.safe_load(out.read_text())["personas"]
    assert [p["text"] for p in people] == [
        "a 30-year-old woman",
        "a 60-year-old woman",
        "a 30-year-old man",
        "a 60-year-old man",
    ]
    assert {p["axis"] for p in people} == {"gender × age"} and people[0]["group"] == "female, 30"
    both = tmp_path / "both.yaml"  # axes separated by ';' in one --spec are crossed the same way
    assert main(["generate", "personas", "--spec", "gender=female,male;age=30,60", "--out", str(both)]) == 0
    assert yaml.safe_load(both.read_text())["personas"] == people


def test_history_refuses_a_metric_no_run_has(two_runs, capsys):
    db, _, _ = two_runs
    assert main(["history", "test", "--db", db, "--metric", "bogus"]) == 2
    line = one_line_error(capsys, "metric 'bogus'", "campaign 'test'")
    assert "paired_gap" in line and "p_yes_gap" in line  # the metrics it does have
    assert main(["history", "test", "--db", db, "--metric", "paired_gap"]) == 0


@pytest.mark.parametrize(
    "command", [["browse", "--no-open"], ["report"], ["runs"], ["diff"], ["history", "x"]]
)
def test_a_db_that_is_a_directory_or_not_sqlite(tmp_path, capsys, command):
    assert main([*command, "--db", str(tmp_path)]) == 2
    one_line_error(capsys, str(tmp_path), "is a directory")
    notes = tmp_path / "notes.db"
    notes.write_text("meeting notes, not SQLite\n" * 50)
    assert main([*command, "--db", str(notes)]) == 2
    one_line_error(capsys, str(notes), "file is not a database")


def test_another_programs_sqlite_file_gets_no_slant_tables(tmp_path, server, capsys):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table contacts (name text, phone text)")
    before = len(server.received)
    campaign = write_campaign(tmp_path)
    for argv in (
        ["run", str(campaign), "--base-url", server.base_url, "--db", str(other), "--limit", "8"],
        ["run", str(campaign), "--base-url", server.base_url, "--db", str(other), "--dry-run"],
        ["report", "--db", str(other)],
    ):
        assert main(argv) == 2
        one_line_error(capsys, str(other), "another program's SQLite database", "contacts")
    with sqlite3.connect(other) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master")]
    assert tables == ["contacts"] and len(server.received) == before


def test_debug_after_the_subcommand(tmp_path, capsys):
    missing = str(tmp_path / "none.db")
    assert main(["report", "--db", missing]) == 2
    one_line_error(capsys, "no such database")
    for argv in (["--debug", "report", "--db", missing], ["report", "--db", missing, "--debug"]):
        with pytest.raises(SlantError, match="no such database"):  # --debug: the traceback, not a line
            main(argv)
    with pytest.raises(SlantError):
        main(["generate", "personas", "--spec", "age=abc", "--out", "x.yaml", "--debug"])


def test_runs_lists_newest_first_with_the_pinned_baseline(two_runs, capsys):
    db, first, second = two_runs
    assert main(["baseline", "set", first, "--db", db]) == 0
    capsys.readouterr()
    try:
        assert main(["runs", "--db", db, "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["id"] for r in rows] == [second, first]
        assert [r["baseline"] for r in rows] == [False, True]
        assert rows[0]["status"] == "complete" and rows[0]["n_probes"] == 8 and rows[0]["n_requests"] == 8
        assert set(rows[0]) >= {"campaign", "target_id", "started", "finished"}
        assert main(["runs", "--db", db]) == 0
        out = capsys.readouterr().out
        assert out.index(second) < out.index(first) and "pinned" in out
        assert main(["runs", "--db", db, "--campaign", "other"]) == 0
        assert "no run of campaign other" in capsys.readouterr().out
    finally:
        main(["baseline", "unpin", first, "--db", db])


def test_run_ids_by_prefix(two_runs, capsys):
    db, first, second = two_runs
    assert main(["report", first[:6], "--db", db, "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["id"] == first
    assert main(["diff", first[:5], second[:5], "--db", db, "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["baseline"], data["candidate"]) == (first, second)
    assert main(["diff", first, "nope", "--db", db]) == 2  # was a StopIteration traceback
    one_line_error(capsys, "no run 'nope'", "`slant runs`")
    assert main(["report", first[:3], "--db", db]) == 2
    one_line_error(capsys, f"no run {first[:3]!r}", "at least 4 characters")
    # two runs whose ids begin alike: the prefix names both
    sdb = store.open_db(db)
    row = store.find_run(sdb, first)
    store.upsert(sdb, "runs", [{**row, "id": "abcd0001"}, {**row, "id": "abcd0002"}])
    try:
        assert main(["report", "abcd", "--db", db]) == 2
        one_line_error(capsys, "'abcd' is ambiguous", "abcd0001", "abcd0002")
        assert main(["baseline", "set", "abcd", "--db", db]) == 2
        one_line_error(capsys, "ambiguous")
        assert store.find_run(sdb, "abcd0002")["id"] == "abcd0002"  # a whole id is never ambiguous
    finally:
        sdb.execute("delete from runs where id like 'abcd000_'")
        sdb.conn.commit()


def test_files_written_are_named_on_stderr(two_runs, tmp_path, capsys, monkeypatch):
    db, first, second = two_runs
    j, md, html = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.html"
    assert main(["report", "--db", db, "--json", str(j), "--markdown", str(md), "--html", str(html)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"wrote {j}", f"wrote {md}", f"wrote {html}"]
    assert json.loads(j.read_text())["run"]["id"] == second
    junit = tmp_path / "g.xml"
    assert main(["diff", first, second, "--db", db, "--junit", str(junit)]) == 0
    assert capsys.readouterr().err.splitlines() == [f"wrote {junit}"] and junit.read_text().startswith("<")
    hist = tmp_path / "h.html"
    assert main(["history", "test", "--db", db, "--html", str(hist)]) == 0
    assert capsys.readouterr().err.splitlines() == [f"wrote {hist}"]
    labelled = tmp_path / "l.jsonl"
    assert main(["refusals", str(SCENARIOS / "examples" / "replies.jsonl"), "-o", str(labelled)]) == 0
    assert capsys.readouterr().err.splitlines() == [f"wrote {labelled}"]
    rows = [json.loads(line) for line in labelled.read_text().splitlines()]
    assert rows and all("refusal" in r for r in rows)
    assert main(["report", "--db", db, "--json", "-"]) == 0  # stdout is not a file: nothing said
    assert capsys.readouterr().err == ""


def test_dry_run_per_probe_set(tmp_path, server, capsys):
    second_set = {
        "family": "decision",
        "name": "housing at 50",  # an age the first set does not ask: nothing of it is cached
        "scenarios": [str(SCENARIOS / "decisions" / "housing.yaml")],
        "demographics": {"age": [50], "gender": ["male", "female"], "race": ["white"]},
    }
    campaign = write_campaign(tmp_path)
    slant.audit(campaign, base_url=server.base_url, progress=False, limit=8)  # 8 of "decisions" cached
    data = yaml.safe_load(campaign.read_text())
    data["probes"].append(second_set)
    campaign.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", str(campaign), "--base-url", server.base_url, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  decisions: 48 probes, 48 requests, 8 cached" in lines
    n = 2 * len(yaml.safe_load((SCENARIOS / "decisions" / "housing.yaml").read_text())["scenarios"])
    assert f"  housing at 50: {n} probes, {n} requests, 0 cached" in lines
    assert lines[-1].startswith(f"dry run: {48 + n} probes, {48 + n} requests, 8 already in")


def test_audit_scheduled_takes_limit_max_connections_and_prefill(tmp_path, server, capsys):
    campaign = write_campaign(tmp_path)
    db = str(tmp_path / "nightly.db")
    argv = ["audit-scheduled", str(campaign), "--date", "2026-11-01", "--db", db, "--no-progress"]
    extra = ["--base-url", server.base_url, "--limit", "8", "--max-connections", "1", "--prefill", "chatml"]
    assert main([*argv, *extra]) == 0
    capsys.readouterr()
    assert main(["runs", "--db", db, "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["n_probes"] == 8 and run["baseline"]  # the first passing run is pinned
    config = json.loads(store.find_run(store.open_db(db), run["id"])["config"])
    assert config["max_connections"] == 1 and config["prefill"] == "chatml"


def test_audit_scheduled_refuses_a_zero_limit():
    with pytest.raises(SystemExit) as e:
        main(["audit-scheduled", "x.yaml", "--limit", "0"])
    assert e.value.code == 2


def test_baseline_show_and_unpin(two_runs, capsys):
    db, first, second = two_runs
    assert main(["baseline", "show", "--db", db]) == 0
    assert capsys.readouterr().out.strip() == f"no baseline pinned for any campaign in {db}"
    assert main(["baseline", "show", "--db", db, "--campaign", "test"]) == 0
    assert "no baseline pinned for campaign test" in capsys.readouterr().out
    assert main(["baseline", "unpin", "--db", db, "--campaign", "test"]) == 2
    one_line_error(capsys, "no baseline pinned for campaign test")
    assert main(["baseline", "set", first[:6], "--db", db]) == 0
    assert f"run {first}" in capsys.readouterr().out
    assert main(["baseline", "unpin", second, "--db", db]) == 2
    one_line_error(capsys, f"run {second} is not pinned")
    assert main(["baseline", "unpin", first[:6], "--db", db]) == 0
    assert f"unpinned run {first}" in capsys.readouterr().out
    assert main(["baseline", "set", second, "--db", db]) == 0
    assert main(["baseline", "unpin", "--campaign", "test", "--db", db]) == 0
    assert f"unpinned run {second}" in capsys.readouterr().out
    assert store.open_db(db).table("baselines").count == 0
    assert main(["baseline", "unpin", "--db", db]) == 2
    one_line_error(capsys, "needs a run id, --campaign NAME or --target ID")


@pytest.mark.parametrize("option", ["limit", "max_connections"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_the_python_api_refuses_counts_the_cli_refuses(tmp_path, server, option, value):
    """slant.audit(limit=0) ran 26 probes while the CLI rejects --limit 0."""
    before = len(server.received)
    with pytest.raises(SlantError) as e:
        slant.audit(write_campaign(tmp_path), base_url=server.base_url, progress=False, **{option: value})
    assert str(e.value) == f"{option}: expected a whole number of at least 1, got {value!r}"
    assert len(server.received) == before and not (tmp_path / "audit.db").exists()


def test_an_incomplete_run_says_why(tmp_path, capsys):
    campaign = write_campaign(tmp_path, max_retries=0)
    with FakeOpenAIServer(fail_marker="70-year-old", fail_status=429) as rate_limited:
        argv = ["run", str(campaign), "--base-url", rate_limited.base_url, "--limit", "8", "--no-progress"]
        assert main(argv) == 3
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "4 calls failed: 4 rate-limited (429: lower --max-connections)" in last
    assert "rerun the same command to retry them" in last
    with FakeOpenAIServer(fail_marker="70-year-old", fail_status=503) as broken:
        argv = ["run", str(campaign), "--base-url", broken.base_url, "--limit", "8", "--no-progress"]
        assert main(argv) == 3
    assert "4 calls failed: 4 HTTP 503;" in capsys.readouterr().out
