"""Bad input, fuzzed (hypothesis) and by hand: every failure is one line naming the file, the field and the
reason (a traceback only with --debug), and no model call happens before validation passes."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SCENARIOS, write_campaign
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from openai_server import FakeOpenAIServer

from slant.agents.samples import read_samples
from slant.cli import main
from slant.errors import SpecError

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
LENDING = SCENARIOS / "decisions" / "lending.yaml"
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module", autouse=True)
def in_tmp_dir(tmp_path_factory):
    """A fuzzed campaign may drop its db field: the default slant.db then lands here, not in the repo."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def cli(*argv: str) -> tuple[int, str]:
    """Run the slant command in-process; (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's own usage errors
            code = e.code
    return code, err.getvalue()


def assert_one_line_error(err: str, *names: str) -> str:
    """A SlantError's message: one line, no traceback, naming each of ``names``."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slant: error: "), err
    for name in names:
        assert name in lines[0], (name, err)
    return lines[0]


def run_checked(server: FakeOpenAIServer, campaign: Path, *names: str) -> tuple[int, str]:
    """`slant run` on a campaign: it either runs, or fails with a one-line error before any model call."""
    before = len(server.received)
    code, err = cli("run", str(campaign), "--base-url", server.base_url, "--no-progress", "--limit", "2")
    if currently_in_test_context():  # --hypothesis-show-statistics: which errors the fuzzing reached
        event(f"exit {code}: {err.split(': ')[-1][:50] if code == 2 else ''}")
    if code == 2:
        assert_one_line_error(err, *names)
        assert len(server.received) == before, "a model call was made before validation passed"
    else:
        assert code in (0, 3) and "Traceback" not in err, err
    return code, err


# --- campaign files ---------------------------------------------------------------------------------

CAMPAIGN_KEYS = [
    "name",
    "target",
    "db",
    "seed",
    "max_connections",
    "timeout",
    "max_retries",
    "probes",
    "gates",
]
SET_KEYS = ["family", "name", "scenarios", "demographics", "cues", "conditions", "scoring"]


@FUZZ
@given(
    where=st.sampled_from(["campaign", "set"]),
    action=st.sampled_from(["replace", "delete", "add"]),
    key_index=st.integers(0, 100),
    value=junk,
)
def test_fuzzed_campaign_files(tmp_path_factory, server, where, action, key_index, value):
    tmp = tmp_path_factory.mktemp("campaign")
    path = write_campaign(tmp, prefill="chatml")
    data = yaml.safe_load(path.read_text())
    target = data if where == "campaign" else data["probes"][0]
    keys = CAMPAIGN_KEYS if where == "campaign" else SET_KEYS
    key = keys[key_index % len(keys)] if action != "add" else f"unknown_{key_index}"
    assume(not (key == "target" and (action == "delete" or value == "local")))  # the embedded model
    if action == "delete":
        target.pop(key, None)
    else:
        target[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    code, err = run_checked(server, path)
    if code == 2 and str(path) in err and action != "delete":
        assert key in err, err  # a problem in the campaign file names its field


# --- scenario packs ---------------------------------------------------------------------------------

PACK_KEYS = ["pack", "description", "source", "scenarios"]
SCENARIO_KEYS = ["id", "domain", "text", "favourable"]


@FUZZ
@given(
    where=st.sampled_from(["pack", "scenario"]),
    action=st.sampled_from(["replace", "delete", "add"]),
    key_index=st.integers(0, 100),
    value=junk | st.sampled_from(["{person", "{person} {age}", "{}", "{0}", "{person.__class__}", "no slot"]),
)
def test_fuzzed_scenario_packs(tmp_path_factory, server, where, action, key_index, value):
    tmp = tmp_path_factory.mktemp("pack")
    data = yaml.safe_load(LENDING.read_text())
    target = data if where == "pack" else data["scenarios"][1]
    keys = PACK_KEYS if where == "pack" else SCENARIO_KEYS
    key = keys[key_index % len(keys)] if action != "add" else f"unknown_{key_index}"
    if action == "delete":
        target.pop(key, None)
    else:
        target[key] = value
    pack = tmp / "pack.yaml"
    pack.write_text(yaml.safe_dump(data, allow_unicode=True))
    campaign = write_campaign(tmp, {"scenarios": [str(pack)]}, prefill="chatml")
    code, err = run_checked(server, campaign)
    if code == 2:
        assert str(pack) in err, err  # the pack file is named …
        if action != "delete" and key not in ("pack", "description", "source"):
            assert key in err or "scenarios" in err, err  # … and the field


# --- writing samples --------------------------------------------------------------------------------

line = st.one_of(
    st.text(max_size=30),
    st.builds(json.dumps, junk),
    st.builds(lambda t, i: json.dumps({"text": t, "id": i}), st.text(max_size=20), st.text(max_size=3)),
)


@FUZZ
@given(lines=st.lists(line, max_size=6), raw=st.binary(max_size=20))
def test_fuzzed_sample_files(tmp_path_factory, server, lines, raw):
    tmp = tmp_path_factory.mktemp("samples")
    path = tmp / "samples.jsonl"
    path.write_bytes("\n".join(lines).encode() + (b"\n" + raw if raw else b""))
    before = len(server.received)
    try:
        read_samples(path)
    except SpecError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        code, err = cli("infer", str(path), "--user", "u", "--target", "openai-compat/fake", "--base-url",
                        server.base_url, "--db", str(tmp / "p.db"), "--yes")  # fmt: skip
        assert code == 2 and len(server.received) == before
        assert_one_line_error(err, str(path))


# --- command-line arguments -------------------------------------------------------------------------

VALUES = st.sampled_from(["-1", "0", "1", "2.5", "1e309", "nan", "", "x", "-", "../nope.db", "\u00e9\u4e2d"])


@FUZZ
@given(
    command=st.sampled_from(["run", "report", "diff", "history", "baseline", "plan", "refusals"]),
    options=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "--limit",
                    "--max-connections",
                    "--db",
                    "--gap",
                    "--sd",
                    "--alpha",
                    "--power",
                    "--rate",
                    "--rate-gap",
                    "--json",
                    "--markdown",
                    "--prefill",
                    "--metric",
                    "--target",
                ]  # fmt: skip
            ),
            VALUES,
        ),
        max_size=3,
    ),
)
def test_fuzzed_command_lines(tmp_path_factory, server, command, options):
    tmp = tmp_path_factory.mktemp("argv")
    argv = [command]
    if command in ("run",):
        argv += [str(write_campaign(tmp, prefill="chatml")), "--base-url", server.base_url, "--no-progress"]
    elif command in ("history", "refusals"):
        argv.append(str(tmp / "missing"))
    elif command == "baseline":
        argv.append("show")
    for option, value in options:
        argv += [option, value]
    if command == "plan" and "--gap" not in argv:
        argv += ["--gap", "0.05"]
    before = len(server.received)
    code, err = cli(*argv)
    event(f"exit {code}")
    assert "Traceback" not in err
    assert code in (0, 1, 2, 3), (code, err)
    if code == 2:
        last = err.strip().splitlines()[-1]  # argparse prints its usage line first
        assert last.startswith(("slant: error: ", "usage: ", "slant ")), err
        assert len(server.received) == before


# --- by hand: files no one should write, but someone will ---------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "expected a YAML mapping"),
        (b"\x00\x01\x02\xff\xfe binary", "not UTF-8 text"),
        ("name: caf\u00e9\n".encode("utf-16"), "not UTF-8 text"),
        ("name: caf\u00e9\n".encode("latin-1"), "not UTF-8 text"),
        (b"name: [unclosed\n", "not valid YAML at line"),
        (b"- a list\n- not a mapping\n", "expected a YAML mapping"),
        (b"[" * 5000, "not valid YAML"),
    ],
)
def test_unreadable_campaign_files(tmp_path, server, content, problem):
    path = tmp_path / "campaign.yaml"
    path.write_bytes(content)
    code, err = run_checked(server, path, str(path), problem)
    assert code == 2


def test_empty_and_binary_scenario_packs(tmp_path, server):
    for content, problem in [(b"", "expected a YAML mapping"), (b"\xff\xd8\xff\xe0JFIF", "not UTF-8 text")]:
        pack = tmp_path / "pack.yaml"
        pack.write_bytes(content)
        campaign = write_campaign(tmp_path, {"scenarios": [str(pack)]})
        assert run_checked(server, campaign, str(pack), problem)[0] == 2


def test_unknown_family_missing_slot_and_duplicate_ids(tmp_path, server):
    campaign = write_campaign(tmp_path, {"family": "horoscope"})
    run_checked(server, campaign, str(campaign), "probes[0].family", "unknown family 'horoscope'")

    data = yaml.safe_load(LENDING.read_text())
    data["scenarios"][0]["text"] = "The applicant, {person}, aged {age}, wants a loan. Approve?"
    pack = tmp_path / "slots.yaml"
    pack.write_text(yaml.safe_dump(data))
    campaign = write_campaign(tmp_path, {"scenarios": [str(pack)]})
    run_checked(server, campaign, str(pack), "scenarios[0].text", "{person}")

    data = yaml.safe_load(LENDING.read_text())
    data["scenarios"][2]["id"] = data["scenarios"][0]["id"]
    pack = tmp_path / "dup.yaml"
    pack.write_text(yaml.safe_dump(data))
    campaign = write_campaign(tmp_path, {"scenarios": [str(pack)]})
    run_checked(server, campaign, str(pack), "scenarios[2].id", "duplicate id")

    shutil.copy(LENDING, tmp_path / "again.yaml")  # the same ids in two packs
    campaign = write_campaign(tmp_path, {"scenarios": [str(LENDING), str(tmp_path / "again.yaml")]})
    run_checked(server, campaign, "again.yaml", "duplicate id", str(LENDING))


def test_a_50_mb_sample_is_refused_quickly(tmp_path, server):
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "ok.txt").write_text("Hi all, the office is closed on Monday.")
    (folder / "huge.txt").write_text("All work and no play makes Jack a dull boy. " * 1_200_000)  # 50 MB
    start, before = time.monotonic(), len(server.received)
    code, err = cli("infer", str(folder), "--user", "u", "--target", "openai-compat/fake",
                    "--base-url", server.base_url, "--db", str(tmp_path / "p.db"), "--yes")  # fmt: skip
    assert code == 2 and not any(r["status"] == 200 for r in server.received[before:])
    assert_one_line_error(err, str(folder / "huge.txt"), "sample too long")
    assert time.monotonic() - start < 10


def test_a_50_mb_jsonl_of_many_samples_reads_in_seconds(tmp_path):
    path = tmp_path / "many.jsonl"
    one = json.dumps({"text": "Dear team, a short note to say the office is closed on Monday. " * 6})
    path.write_text("\n".join(one for _ in range(120_000)))  # ~50 MB, 120,000 samples
    assert path.stat().st_size > 45_000_000
    start = time.monotonic()
    samples: Any = read_samples(path)
    assert len(samples) == 120_000 and time.monotonic() - start < 30


@pytest.mark.parametrize("kind", ["missing folder", "a folder", "not a database", "NUL in the name"])
def test_a_database_path_that_cannot_be_opened(tmp_path, server, kind):
    db = {
        "missing folder": tmp_path / "no" / "such" / "audit.db",
        "a folder": tmp_path,
        "not a database": tmp_path / "notes.db",
        "NUL in the name": tmp_path / "a\x00b.db",
    }[kind]
    (tmp_path / "notes.db").write_text("meeting notes, not SQLite\n" * 200)
    campaign = write_campaign(tmp_path / "c", prefill="chatml", db=str(db))
    assert run_checked(server, campaign, "cannot open as an audit database")[0] == 2
    if kind == "not a database":
        code, err = cli("report", "--db", str(db))
        assert code == 2 and assert_one_line_error(err, str(db), "file is not a database")


@pytest.mark.parametrize(("option", "value"), [("--max-connections", "-1"), ("--max-connections", "0"),
                                               ("--limit", "0"), ("--limit", "x")])  # fmt: skip
def test_counts_on_the_command_line_must_be_positive(tmp_path, server, option, value):
    """--max-connections -1 used to end in a ValueError traceback from asyncio; 0 was silently ignored."""
    campaign = write_campaign(tmp_path, prefill="chatml")
    before = len(server.received)
    code, err = cli("run", str(campaign), "--base-url", server.base_url, option, value)
    assert code == 2 and len(server.received) == before and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"slant run: error: argument {option}: expected a whole number of at least 1, got {value!r}"
    )


def test_a_level_listed_twice_is_refused_before_any_call(tmp_path, server):
    demographics = {"age": [30], "gender": ["male", "female", "female"], "race": ["white"]}
    campaign = write_campaign(tmp_path, {"demographics": demographics})
    code, _ = run_checked(
        server, campaign, str(campaign), "probes[0].demographics.gender", "'female' is listed twice"
    )
    assert code == 2


def test_unwritable_outputs_are_one_line_errors_before_any_work(tmp_path, capsys):
    """report --html into a missing folder or onto a directory was a traceback after the work (issue 14)."""
    from slant.cli import main

    db = tmp_path / "none.db"
    for args, problem in (
        (["--html", str(tmp_path / "missing" / "x.html")], "does not exist"),
        (["--html", str(tmp_path)], "is a directory"),
        (["--json", "-", "--markdown", "-"], "both write to stdout"),
    ):
        assert main(["report", "--db", str(db), *args]) == 2
        err = capsys.readouterr().err
        assert problem in err and len(err.strip().splitlines()) == 1
    assert not db.exists()  # nothing was opened or created


def test_a_closed_pipe_is_not_a_traceback(tmp_path, server):
    """`slant report --json - | head` was a BrokenPipeError traceback (issue 14)."""
    import subprocess
    import sys
    from pathlib import Path

    from conftest import write_campaign

    from slant import audit

    result = audit(write_campaign(tmp_path), base_url=server.base_url, progress=False)
    slant = str(Path(sys.executable).parent / "slant")
    # `true` exits without reading: slant's first write finds the pipe closed; the terminal tables go
    # through rich, which would exit 1 (the "a gate failed" code) on its own
    for command in ("--json -", "", "--markdown -"):
        done = subprocess.run(
            f"set -o pipefail; {slant} report --db {result.db_path} {command} | true",
            shell=True,
            executable="/bin/bash",
            capture_output=True,
            timeout=120,
        )
        err = done.stderr.decode(errors="replace")
        assert "Traceback" not in err and "BrokenPipe" not in err and err.strip() == ""
        assert done.returncode == 0, command


def test_version(capsys):
    from slant.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("slant 0.")


def test_duplicate_yaml_keys_dates_and_ranges_are_refused(tmp_path, capsys):
    """Each was accepted before: the last duplicate key won, `--date yesterday` was a new run re-sending
    every call, `plan --power 1.5` printed "150% power" (issue 14, D11)."""
    from slant.cli import main

    campaign = tmp_path / "dup.yaml"
    campaign.write_text("name: a\ntarget: local\nname: b\nprobes: []\n")
    assert main(["run", str(campaign), "--dry-run"]) == 2
    assert "line 3: key 'name' appears twice" in capsys.readouterr().err
    for day in ("2026-13-45", "yesterday", "../../x"):  # checked before the campaign is even read
        assert main(["audit-scheduled", str(campaign), "--date", day]) == 2
        assert "expected YYYY-MM-DD" in capsys.readouterr().err
    for argv in (
        ["plan", "--gap", "0.02", "--power", "1.5"],
        ["plan", "--gap", "5"],
        ["plan", "--gap", "0.02", "--alpha", "0"],
        ["plan", "--gap", "0.02", "--sd", "-1"],
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2, argv
        assert "error: argument" in capsys.readouterr().err
