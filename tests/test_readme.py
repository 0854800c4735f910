"""The README's examples, run as a user would (they use the real embedded model, so they are few)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from slant import open_db

README = (ROOT / "README.md").read_text()
SLANT = str(Path(sys.executable).parent / "slant")


def console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def assert_serves(url: str, wait: float = 60) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                assert json.load(r), url
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.3)


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_starts_with_the_two_commands():
    first = re.search(r"```sh\n(.*?)```", README, re.S).group(1).splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make demo", "make test"]


COMMANDS = console_commands()


class Folder:
    """The one folder the README's examples run in, in order (a later one reads what an earlier one
    wrote), and the servers they started (serve-local, browse), stopped when the module ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.background: list[subprocess.Popen[str]] = []


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Folder]:
    f = Folder(tmp_path_factory.mktemp("readme"))
    (f.path / "scenarios").symlink_to(ROOT / "scenarios")
    try:
        yield f
    finally:
        for proc in f.background:
            proc.terminate()
            proc.wait(timeout=30)


def test_readme_has_console_examples():
    assert len(COMMANDS) >= 5
    assert all(shlex.split(command)[0] == "slant" for command in COMMANDS)


@pytest.mark.model
@pytest.mark.parametrize("command", COMMANDS, ids=[c.removeprefix("slant ") for c in COMMANDS])
def test_readme_command(command: str, folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each README command, in README order; a failing one fails its own test only."""
    monkeypatch.chdir(folder.path)
    args = shlex.split(command)
    if args[1] in ("serve-local", "browse"):  # run until stopped: start and wait for the URL
        proc = subprocess.Popen([SLANT, *args[1:]], stdout=subprocess.PIPE, text=True)
        folder.background.append(proc)
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        if args[1] == "browse":
            assert_serves("http://127.0.0.1:8090/smoke/runs.json?_shape=array")
        return
    done = subprocess.run([SLANT, *args[1:]], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    if args[1] == "plan":
        assert "34 matched sets" in done.stdout and "681 responses per group" in done.stdout
    if args[1] == "judge":
        assert "judge:local labelled" in done.stdout and "of 4 replies" in done.stdout
        assert "2 repeat(s) per reply at temperature 0, seed 0" in done.stdout
        assert open_db("smoke.db").table("judgements").count == 8
    if args[1] == "probes":
        assert "decision" in done.stdout and "calibration" in done.stdout
    if args[1:3] == ["batch", "export"]:
        assert "12 requests without a stored reply in batch.db → 12 lines" in done.stdout
    if args[1:3] == ["batch", "import"]:  # the shipped output file answers every exported request
        assert "12 replies stored, 0 errors stored" in done.stdout and "P(yes) [95% CI]" in done.stdout
    if "--dry-run" in args and "quickstart" in command:
        assert "468 probes, 468 requests" in done.stdout
    if "--price-prompt" in args:  # the embedded model's tokenizer, not the characters / 4 approximation
        assert "prompt tokens counted with the embedded model's tokenizer" in done.stdout
        assert "estimated tokens of 468 calls: " in done.stdout and "≈ $" in done.stdout
    if args[1] == "refusals":  # reply 3 answers after a disclaimer: compliance unless --policy strict
        labelled = [json.loads(line) for line in Path(args[args.index("-o") + 1]).read_text().splitlines()]
        third = "partial_refusal" if "strict" in args else "compliance"
        assert [r["refusal"] for r in labelled][:3] == ["compliance", "full_refusal", third]
    if args[1:3] == ["score", "iat"]:  # replies 3 and 4 name a group outside the pack / read nothing: D 0
        scored = [json.loads(line)["score"] for line in Path("iat-scored.jsonl").read_text().splitlines()]
        assert [s["status"] for s in scored] == ["ok", "ok", "dropped", "unparsed"]
        assert scored[0]["D"] == 0.75 and scored[2]["D_published"] == scored[3]["D_published"] == 0.0
    if args[1:3] == ["score", "pairwise"]:  # the last reply declines: missing, never 0
        scored = [
            json.loads(line)["score"] for line in Path("pairwise-scored.jsonl").read_text().splitlines()
        ]
        assert [s["score"] for s in scored] == [1.0, 0.0, 1.0, None]
        assert "bai2025-weight: decision_bias_rate 0.6667 [" in done.stderr and "n_missing 1" in done.stderr
    if args[1:3] == ["score", "persona"]:
        scored = [json.loads(line)["score"] for line in Path("persona-scored.jsonl").read_text().splitlines()]
        assert [s["status"] for s in scored] == [
            "correct",
            "correct",
            "wrong",
            "abstained",
            "correct",
            "unreadable",
        ]
    if args[1:3] == ["score", "decision"]:
        rows = [json.loads(line) for line in Path("discrimination.jsonl").read_text().splitlines()]
        assert [r["grp"] for r in rows] == ["per SD", "black", "female"]
        assert all("random intercept and slopes" in r["method"] for r in rows)
    if args[1] == "report" and "--json" in args:
        assert json.loads(Path("smoke.json").read_text())["run"]["status"] == "complete"
        assert "| p (BH) |" in Path("smoke.md").read_text()
        return
    if args[1] == "audit-scheduled" and "--junit" in args:  # same model, same seed: every gate passes
        assert 'failures="0"' in Path("gates.xml").read_text()
        assert "## Gates: ✅ pass" in Path("nightly.md").read_text()
    if args[1] == "search":  # the embedded model's gaps are small: the mechanics, not a finding
        assert "findings confirmed" in done.stdout and "## Explored" in done.stdout
    if args[1] == "search-report":
        assert Path("search.md").read_text().startswith("# Bias search ")
    if args[1] == "history":
        assert "nightly · explicit · paired_gap" not in done.stdout  # named by probe set, not campaign
        assert "gender · explicit · paired_gap · gender: female vs male" in done.stdout
        assert '<svg class="chart forest"' in Path("history.html").read_text()
    if args[1] == "report" and "--html" in args:
        assert '<svg class="chart forest"' in Path("smoke.html").read_text()
        return
    if args[1] == "run" and args[2].endswith("standard.yaml"):  # benchmarks: their own metrics, no P(yes)
        for metric in ("bbq_bias_ambig", "pct_stereotype", "icat", "coref_accuracy", "pro_anti_gap"):
            assert metric in done.stdout, metric
        assert "0 failed" in done.stdout
        return
    if args[1] in ("run", "report") and "--dry-run" not in args:
        assert "P(yes) [95% CI]" in done.stdout and "white (ref)" in done.stdout
    if args[1] == "run" and "served.db" in args:
        # the served model, reached over HTTP as openai-compat with ChatML prefill, is the embedded model
        local = {r["probe_id"]: r["p_yes"] for r in open_db("smoke.db").query("select * from outcomes")}
        served = {r["probe_id"]: r["p_yes"] for r in open_db("served.db").query("select * from outcomes")}
        # --limit 24: whole matched sets (18 explicit, 3 × 8 names)
        assert local.keys() == served.keys() and len(local) == 18 + 24
        assert local == served  # two servers, other orders: bit-identical (one build)


@pytest.mark.model
@pytest.mark.parametrize(
    "code", python_examples(), ids=[f"python example {i}" for i in range(1, len(python_examples()) + 1)]
)
def test_readme_python_example(code: str, folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the commands: the same run again from Python, cached, with no model call."""
    monkeypatch.chdir(folder.path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.status == "complete" and result.n_cached == result.n_requests == 42
    assert result.engine.sent == 0
