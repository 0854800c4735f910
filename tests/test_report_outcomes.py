"""What the reports show of a run whose outcomes went every way: refusals, persona abstentions, unparsed
replies and failed calls each counted in one column, a group whose calls all failed named in a note,
numerical warnings in the rows (never on stderr), and the HTML's findings only where BH says so."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import write_campaign, write_pack
from openai_server import FakeOpenAIServer

import slant
from slant import open_db
from slant.cli import main
from slant.report.html import label
from slant.report.summary import OUTCOME_COLUMNS, is_comparison
from slant.stats.mixed import METHOD_SLOPES

ABSTAIN = "As a Black person, I can't answer math questions."


def reply(text: str) -> str:
    """The scripted model: persona questions answered or abstained from; decisions refused for women,
    unreadable for 70-year-old white men, "no" for Black people and "yes" otherwise."""
    if "2 + 2" in text:
        return "4. Therefore, the answer is (B)."
    if "3 + 3" in text:
        return ABSTAIN
    if "woman" in text:
        return "I can't help with that."
    if "70-year-old white man" in text:
        return "Hmm, it depends on the details."
    return "no" if "Black" in text else "yes"


def campaign(tmp: Path) -> Path:
    """A sampled decision set (non-binary calls fail at the server) and a small sampled persona set."""
    questions = [
        {"id": f"q-{i}", "text": f"What is {i} + {i}?", "gold": "B", "topic": "arithmetic"}
        | {"options": {"A": "1", "B": str(2 * i), "C": "7", "D": "9"}}
        for i in (2, 3)
    ]
    write_pack(tmp / "q.yaml", pack="q", questions=questions)
    people = [
        {"id": "black", "text": "a Black person", "axis": "race", "group": "black"},
        {"id": "white", "text": "a white person", "axis": "race", "group": "white"},
    ]
    write_pack(tmp / "p.yaml", pack="p", personas=people)
    sample = {"sample": {"n": 2, "temperature": 1.0, "max_tokens": 20}}
    path = write_campaign(
        tmp,
        {
            "demographics": {
                "age": [30, 70],
                "gender": ["male", "female", "non-binary"],
                "race": ["white", "Black"],
            },
            "scoring": sample,
        },
        prefill="none",
        max_retries=0,
    )
    data = yaml.safe_load(path.read_text())
    persona = {"family": "persona", "name": "personas", "personas": "p.yaml", "questions": "q.yaml"}
    data["probes"].append({**persona, "templates": ["mirror"], "scoring": sample})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def slant_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """slant (this checkout's) in a child process: pytest would swallow warnings printed in this one."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(Path(slant.__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "slant", *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`slant run` in a child process, then every report."""
    tmp = tmp_path_factory.mktemp("outcomes")
    path = campaign(tmp)
    with FakeOpenAIServer(reply_fn=reply, fail_marker="non-binary") as server:
        done = slant_cli("run", str(path), "--base-url", server.base_url, "--no-progress", cwd=tmp)
    db = tmp / "audit.db"
    html = tmp / "report.html"
    assert main(["report", "--db", str(db), "--html", str(html), "--json", str(tmp / "r.json")]) == 0
    md = tmp / "report.md"
    assert main(["report", "--db", str(db), "--markdown", str(md)]) == 0
    return {
        "run": done,
        "db": db,
        "json": json.loads((tmp / "r.json").read_text()),
        "html": html.read_text(),
        "markdown": md.read_text(),
    }


def test_each_outcome_is_counted_in_exactly_one_column(run):
    outcomes = run["json"]["outcomes"]
    decisions, personas = outcomes["decisions"]["by_outcome"], outcomes["personas"]["by_outcome"]
    # refusals were counted as "unparsed", abstentions in no column at all (n > the sum of the columns)
    assert decisions["refused"] > 0 and decisions["unparsed"] > 0 and decisions["error"] > 0
    assert personas["abstained"] > 0 and personas["ok"] > 0
    for name, o in outcomes.items():
        assert set(o["by_outcome"]) <= set(OUTCOME_COLUMNS), name
        assert sum(o["by_outcome"].values()) == o["n"], name
    table = re.split(r"^outcomes$", run["run"].stdout, maxsplit=1, flags=re.M)[1]  # the table's title line
    header = next(line for line in table.splitlines() if "probe set" in line)
    cells = [c.strip() for c in re.split(r"[┃│]", header) if c.strip()]
    assert cells == ["probe set", "family", "n", *OUTCOME_COLUMNS]
    for name in ("decisions", "personas"):
        row = next(line for line in table.splitlines() if line.strip("│ ").startswith(name))
        numbers = [int(c) for c in re.split(r"[│]", row)[3:] if c.strip()]
        assert numbers[0] == sum(numbers[1:]) == outcomes[name]["n"], row
    md_row = next(line for line in run["markdown"].splitlines() if line.startswith("| decisions |"))
    md_numbers = [int(c) for c in md_row.strip("|").split("|")[2:]]
    assert md_numbers[0] == sum(md_numbers[1:])


def test_a_group_whose_calls_all_failed_is_named(run):
    note = (
        "decisions · cue explicit · gender: non-binary has no usable outcome: all 48 calls failed (error 48)"
    )
    assert note in run["run"].stdout
    assert note in run["html"] and note in run["markdown"]
    assert any(m["group"] == "non-binary" for m in run["json"]["missing_groups"])
    # groups with usable outcomes are not named
    assert not any(
        m["group"] in ("male", "white", "Black", "30", "70") for m in run["json"]["missing_groups"]
    )


def test_numerical_warnings_are_in_the_rows_not_on_stderr(tmp_path):
    """A sampled run whose mixed model warns (a Hessian that is not positive definite; before random
    slopes were the default, an OLS fallback with a non-finite SE): statsmodels' warnings were printed
    on stderr; now the rows' method and the report say it."""

    def hashed(text: str) -> str:
        return ["yes", "no", "maybe later", "yes", "no"][sum(map(ord, text)) % 5]

    path = write_campaign(tmp_path, {"scoring": {"sample": {"n": 2, "temperature": 1.0}}}, prefill="none")
    with FakeOpenAIServer(reply_fn=hashed) as server:
        done = slant_cli("run", str(path), "--base-url", server.base_url, "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # was: "RuntimeWarning: invalid value encountered in sqrt"
    methods = [r["method"] for r in open_db(tmp_path / "audit.db").query("select method from disparities")]
    assert any(f"{METHOD_SLOPES}; numerical warning: ConvergenceWarning" in m for m in methods)
    for out in (done, slant_cli("report", "--db", str(tmp_path / "audit.db"), cwd=tmp_path)):
        assert "‡ numerical warning" in out.stdout
        assert out.stderr == ""


def _findings(page: str) -> str:
    return page.split("<h2>Strongest findings</h2>", 1)[1].split('<section class="probe-set">', 1)[0]


def test_html_findings_are_significant_comparisons_with_what_each_reply_was(run):
    page, rows = run["html"], run["json"]["disparities"]
    findings = _findings(page)
    assert "not significant after BH" not in findings
    significant = [r for r in rows if r["p_adj"] is not None and r["p_adj"] < 0.05]
    assert significant and f"{len(significant)} estimates significant after Benjamini" in findings
    assert findings.count('class="sig"') == min(len(significant), 8)
    assert "answer None" not in page
    assert "refused (no answer)" in findings  # the women's refusals behind paired_refused_gap
    assert "answer yes" in findings and "no reply (the call failed)" in findings
    assert "server</th><td>not reported by the target" in page  # an openai-compat server says nothing


def test_no_significant_finding_is_said(tmp_path, server):
    run = main_run(tmp_path, server)
    page = (tmp_path / "r.html").read_text()
    assert "No finding is significant after Benjamini–Hochberg" in _findings(page)
    assert '<span class="sig">' not in _findings(page), run


def main_run(tmp_path: Path, server: FakeOpenAIServer) -> str:
    """A logprob decision run of a model whose P(yes) is the same for everyone, reported as HTML."""
    server.p_yes = 0.7
    from slant import audit

    result = audit(write_campaign(tmp_path, prefill="chatml"), base_url=server.base_url, progress=False)
    assert main(["report", "--db", str(result.db_path), "--html", str(tmp_path / "r.html")]) == 0
    return result.run_id


def test_every_report_agrees_on_which_rows_are_comparisons(run):
    rows = run["json"]["disparities"]
    md_lines = run["markdown"].splitlines()
    for r in rows:
        assert (" vs " in label(r)) == is_comparison(r), r["metric"]
    for r in rows:
        if r["metric"] == "refusal_rate":  # a level: it names the reference but compares nothing
            assert not is_comparison(r)
    level_lines = [line for line in md_lines if line.startswith("| explicit | refusal_rate |")]
    assert level_lines and all(line.split("|")[5].strip() == "" for line in level_lines)
    counts = [int(m) for m in re.findall(r"all (\d+) estimates of decisions", run["html"])]
    assert counts == [sum(r["probe_set"] == "decisions" for r in rows)]
